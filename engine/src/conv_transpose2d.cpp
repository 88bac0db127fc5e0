// ConvTranspose2d: shaders/conv_transpose2d.comp.
#include "vkconv/conv_transpose2d.h"
#include "vkconv/internal.h"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "host/context.h"
#include "conv2d/kernel.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"

namespace vkconv {
namespace {

constexpr int kOct = 4;   // output channels per invocation (OCT)
constexpr int kTile = 8;  // 8 x 8 pixels per workgroup

using detail::pair_tuple;

// The output extent along one axis before output_padding.
int64_t min_output_size(int64_t in, int k, int s, int p, int d) { return (in - 1) * s - 2 * int64_t(p) + int64_t(d) * (k - 1) + 1; }

struct Geometry {
    int64_t n = 0, h = 0, w = 0, oh = 0, ow = 0;
    bool batched = false;
};

void check_output_padding(const ConvTranspose2dParams& params, Pair op) {
    const auto& o = params.options;
    if (op.h < 0 || op.w < 0)
        throw Error("ConvTranspose2d: output_padding must be non-negative, but got output_padding=" + pair_tuple(op));
    // ATen's slow_conv_transpose2d_shape_check: output_padding < stride or < dilation, per axis.
    if (!((op.w < o.stride.w || op.w < o.dilation.w) && (op.h < o.stride.h || op.h < o.dilation.h)))
        throw Error("ConvTranspose2d: output padding must be smaller than either stride or dilation, but got output_padding_height: " +
                    std::to_string(op.h) + " output_padding_width: " + std::to_string(op.w) + " stride_height: " +
                    std::to_string(o.stride.h) + " stride_width: " + std::to_string(o.stride.w) + " dilation_height: " +
                    std::to_string(o.dilation.h) + " dilation_width: " + std::to_string(o.dilation.w));
}

Geometry geometry(const ConvTranspose2dParams& params, const Shape& in, Pair op) {
    params.validate();
    check_output_padding(params, op);
    if (in.size() != 3 && in.size() != 4)
        throw Error("ConvTranspose2d: Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: " +
                    shape_str(in));
    shape_numel(in);
    Geometry g;
    g.batched = in.size() == 4;
    g.n = g.batched ? in[0] : 1;
    const int64_t c = in[g.batched ? 1 : 0];
    g.h = in[in.size() - 2];
    g.w = in[in.size() - 1];
    const auto& o = params.options;
    if (c != params.in_channels)
        throw Error("ConvTranspose2d: Given transposed=1, weight of size " + shape_str(params.weight_shape()) + ", expected input" +
                    shape_str(in) + " to have " + std::to_string(params.in_channels) + " channels, but got " + std::to_string(c) +
                    " channels instead");
    if (g.h == 0 || g.w == 0)
        throw Error("ConvTranspose2d: Only zero batch or zero channel inputs are supported, but got input shape: " + shape_str(in));
    g.oh = min_output_size(g.h, params.kernel.h, o.stride.h, o.padding.h, o.dilation.h) + op.h;
    g.ow = min_output_size(g.w, params.kernel.w, o.stride.w, o.padding.w, o.dilation.w) + op.w;
    if (g.oh < 1 || g.ow < 1)
        throw Error("ConvTranspose2d: Given input size per channel: (" + std::to_string(g.h) + " x " + std::to_string(g.w) +
                    "). Calculated output size per channel: (" + std::to_string(g.oh) + " x " + std::to_string(g.ow) +
                    "). Output size is too small");
    // The shader's index arithmetic is 32-bit: the padded extents and one image of each tensor.
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    if (g.oh + o.padding.h + 1 > kMax || g.ow + o.padding.w + 1 > kMax || c * g.h * g.w > kMax ||
        int64_t(params.out_channels) * g.oh * g.ow > kMax)
        throw Error("ConvTranspose2d: input " + shape_str(in) + " gives an image of more than 2^31-1 elements");
    return g;
}

Shape output_shape_of(const ConvTranspose2dParams& params, const Geometry& g) {
    if (!g.batched) return {params.out_channels, g.oh, g.ow};
    return {g.n, params.out_channels, g.oh, g.ow};
}

}  // namespace

void ConvTranspose2dParams::validate() const {
    const auto& o = options;
    if (o.padding_mode != "zeros") throw Error("ConvTranspose2d: Only \"zeros\" padding mode is supported for ConvTranspose2d");
    if (in_channels <= 0)
        throw Error("ConvTranspose2d: in_channels must be positive, but got in_channels=" + std::to_string(in_channels));
    if (out_channels <= 0)
        throw Error("ConvTranspose2d: out_channels must be positive, but got out_channels=" + std::to_string(out_channels));
    if (o.groups <= 0) throw Error("ConvTranspose2d: groups must be a positive integer, but got groups=" + std::to_string(o.groups));
    if (in_channels % o.groups != 0)
        throw Error("ConvTranspose2d: in_channels must be divisible by groups, but got in_channels=" + std::to_string(in_channels) +
                    ", groups=" + std::to_string(o.groups));
    if (out_channels % o.groups != 0)
        throw Error("ConvTranspose2d: out_channels must be divisible by groups, but got out_channels=" +
                    std::to_string(out_channels) + ", groups=" + std::to_string(o.groups));
    if (kernel.h <= 0 || kernel.w <= 0)
        throw Error("ConvTranspose2d: kernel size should be greater than zero, but got kernel_height: " + std::to_string(kernel.h) +
                    " kernel_width: " + std::to_string(kernel.w));
    if (o.stride.h <= 0 || o.stride.w <= 0)
        throw Error("ConvTranspose2d: non-positive stride is not supported, but got stride=" + pair_tuple(o.stride));
    if (o.dilation.h <= 0 || o.dilation.w <= 0)
        throw Error("ConvTranspose2d: dilation should be greater than zero, but got dilation_height: " + std::to_string(o.dilation.h) +
                    ", dilation_width: " + std::to_string(o.dilation.w));
    if (o.padding.h < 0 || o.padding.w < 0)
        throw Error("ConvTranspose2d: negative padding is not supported, but got padding=" + pair_tuple(o.padding));
    if (int64_t(o.dilation.h) * (kernel.h - 1) > (1 << 24) || int64_t(o.dilation.w) * (kernel.w - 1) > (1 << 24) ||
        o.stride.h > (1 << 24) || o.stride.w > (1 << 24) || o.padding.h > (1 << 24) || o.padding.w > (1 << 24))
        throw Error("ConvTranspose2d: stride, padding and dilation * (kernel_size - 1) must be at most 2^24, but got kernel_size=" +
                    pair_tuple(kernel) + ", stride=" + pair_tuple(o.stride) + ", padding=" + pair_tuple(o.padding) +
                    ", dilation=" + pair_tuple(o.dilation));
    if (double(in_channels) * (out_channels / o.groups) * kernel.h * kernel.w > double(INT32_MAX))
        throw Error("ConvTranspose2d: the weight " + shape_str(weight_shape()) + " has more than 2^31-1 elements");
    check_output_padding(*this, o.output_padding);
}

std::string ConvTranspose2dParams::str() const {
    // _ConvNd.extra_repr: the non-default arguments, as tuples.
    const auto& o = options;
    std::ostringstream s;
    s << "ConvTranspose2d(" << in_channels << ", " << out_channels << ", kernel_size=" << pair_tuple(kernel)
      << ", stride=" << pair_tuple(o.stride);
    if (o.padding != Pair(0)) s << ", padding=" << pair_tuple(o.padding);
    if (o.dilation != Pair(1)) s << ", dilation=" << pair_tuple(o.dilation);
    if (o.output_padding != Pair(0)) s << ", output_padding=" << pair_tuple(o.output_padding);
    if (o.groups != 1) s << ", groups=" << o.groups;
    if (!o.bias) s << ", bias=False";
    s << ")";
    return s.str();
}

Shape conv_transpose2d_output_shape(const ConvTranspose2dParams& params, const Shape& in, Pair output_padding) {
    return output_shape_of(params, geometry(params, in, output_padding));
}

Pair conv_transpose2d_output_padding(const ConvTranspose2dParams& params, const Shape& in, std::span<const int64_t> output_size) {
    params.validate();
    if (in.size() != 3 && in.size() != 4)
        throw Error("ConvTranspose2d: Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: " +
                    shape_str(in));
    const size_t non_spatial = in.size() == 4 ? 2 : 1;
    std::vector<int64_t> size(output_size.begin(), output_size.end());
    if (size.size() == non_spatial + 2) size.erase(size.begin(), size.begin() + static_cast<std::ptrdiff_t>(non_spatial));
    if (size.size() != 2)
        throw Error("ConvTranspose2d: ConvTranspose2D: for " + std::to_string(in.size()) + "D input, output_size must have 2 or " +
                    std::to_string(non_spatial + 2) + " elements (got " + std::to_string(output_size.size()) + ")");
    const auto& o = params.options;
    const int64_t h = in[in.size() - 2], w = in[in.size() - 1];
    const int64_t min_h = min_output_size(h, params.kernel.h, o.stride.h, o.padding.h, o.dilation.h);
    const int64_t min_w = min_output_size(w, params.kernel.w, o.stride.w, o.padding.w, o.dilation.w);
    const int64_t max_h = min_h + o.stride.h - 1, max_w = min_w + o.stride.w - 1;
    if (size[0] < min_h || size[0] > max_h || size[1] < min_w || size[1] > max_w)
        throw Error("ConvTranspose2d: requested an output size of (" + std::to_string(size[0]) + ", " + std::to_string(size[1]) +
                    "), but valid sizes range from [" + std::to_string(min_h) + ", " + std::to_string(min_w) + "] to [" +
                    std::to_string(max_h) + ", " + std::to_string(max_w) + "] (for an input of torch.Size([" +
                    std::to_string(h) + ", " + std::to_string(w) + "]))");
    return Pair(static_cast<int>(size[0] - min_h), static_cast<int>(size[1] - min_w));
}

std::vector<float> conv_transpose2d_reference(const ConvTranspose2dParams& params, const Shape& in, std::span<const float> input,
                                              std::span<const float> weight, std::span<const float> bias, Pair output_padding) {
    const auto g = geometry(params, in, output_padding);
    if (static_cast<int64_t>(input.size()) != shape_numel(in))
        throw Error("conv_transpose2d_reference: input has " + std::to_string(input.size()) + " values, shape " + shape_str(in) +
                    " needs " + std::to_string(shape_numel(in)));
    if (static_cast<int64_t>(weight.size()) != params.weight_numel())
        throw Error("conv_transpose2d_reference: weight has " + std::to_string(weight.size()) + " values, shape " +
                    shape_str(params.weight_shape()) + " needs " + std::to_string(params.weight_numel()));
    if (!bias.empty() && static_cast<int64_t>(bias.size()) != params.out_channels)
        throw Error("conv_transpose2d_reference: bias has " + std::to_string(bias.size()) + " values, expected " +
                    std::to_string(params.out_channels));
    const auto& o = params.options;
    const int64_t C = params.in_channels, K = params.out_channels, G = o.groups, cin_g = C / G, cout_g = K / G;
    const int64_t kh = params.kernel.h, kw = params.kernel.w;
    // The definition, scattered: every input element adds x * w to the outputs its taps reach
    // (PyTorch computes the same sums as the gradient of conv2d).
    std::vector<double> acc(static_cast<size_t>(g.n * K * g.oh * g.ow), 0.0);
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t grp = c / cin_g;
            for (int64_t iy = 0; iy < g.h; ++iy)
                for (int64_t ix = 0; ix < g.w; ++ix) {
                    const double v = input[static_cast<size_t>(((n * C + c) * g.h + iy) * g.w + ix)];
                    for (int64_t ol = 0; ol < cout_g; ++ol) {
                        const int64_t k = grp * cout_g + ol;
                        for (int64_t ky = 0; ky < kh; ++ky) {
                            const int64_t oy = iy * o.stride.h - o.padding.h + ky * o.dilation.h;
                            if (oy < 0 || oy >= g.oh) continue;
                            for (int64_t kx = 0; kx < kw; ++kx) {
                                const int64_t ox = ix * o.stride.w - o.padding.w + kx * o.dilation.w;
                                if (ox < 0 || ox >= g.ow) continue;
                                acc[static_cast<size_t>(((n * K + k) * g.oh + oy) * g.ow + ox)] +=
                                    v * double(weight[static_cast<size_t>(((c * cout_g + ol) * kh + ky) * kw + kx)]);
                            }
                        }
                    }
                }
        }
    std::vector<float> out(acc.size());
    const int64_t plane = g.oh * g.ow;
    for (size_t i = 0; i < acc.size(); ++i) {
        const int64_t k = (static_cast<int64_t>(i) / plane) % K;
        out[i] = static_cast<float>(acc[i] + (bias.empty() ? 0.0 : double(bias[static_cast<size_t>(k)])));
    }
    return out;
}

ConvTranspose2d::ConvTranspose2d(Context& ctx, int in_channels, int out_channels, Pair kernel_size, ConvTranspose2dOptions options)
    : ConvTranspose2d(ctx, ConvTranspose2dParams{in_channels, out_channels, kernel_size, std::move(options)}) {}

ConvTranspose2d::ConvTranspose2d(Context& ctx, ConvTranspose2dParams params) : Layer(ctx), params_(std::move(params)) {
    params_.validate();
    reset_parameters(0);
}

void ConvTranspose2d::reset_parameters(uint64_t seed) {
    const int64_t fan_in = int64_t(params_.out_channels / params_.options.groups) * params_.kernel.h * params_.kernel.w;
    auto [w, b] = detail::kaiming_uniform(params_.weight_numel(), params_.options.bias ? params_.out_channels : 0, fan_in, seed);
    add_parameter("weight", params_.weight_shape(), std::move(w));
    if (params_.options.bias) add_parameter("bias", {params_.out_channels}, std::move(b));
}

const std::vector<float>& ConvTranspose2d::bias() const { return detail::bias_or_none(*this, params_.options.bias); }

void ConvTranspose2d::set_bias(std::span<const float> b) { detail::set_bias(*this, params_.options.bias, b); }

Shape ConvTranspose2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return conv_transpose2d_output_shape(params_, inputs[0], params_.options.output_padding);
}

std::vector<float> ConvTranspose2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    return conv_transpose2d_reference(params_, shapes[0], inputs[0], weight(), bias(), params_.options.output_padding);
}

Tensor ConvTranspose2d::forward(const Tensor& input, std::span<const int64_t> output_size) {
    const Pair op = conv_transpose2d_output_padding(params_, input.shape(), output_size);
    Tensor out(*ctx_, conv_transpose2d_output_shape(params_, input.shape(), op));
    CommandRecorder rec(*ctx_);
    record(rec, input, out, op);
    rec.submit_and_wait();
    return out;
}

void ConvTranspose2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    record(rec, inputs[0], output, params_.options.output_padding);
}

void ConvTranspose2d::record(CommandRecorder& rec, const Tensor& input, const Tensor& output, Pair output_padding) {
    const auto g = geometry(params_, input.shape(), output_padding);
    detail::check_output_shape(*this, output, output_shape_of(params_, g));
    host::of(rec).keep_alive(detail::storage_of(input));
    host::of(rec).keep_alive(detail::storage_of(output));
    const Tensor& weight_dev = device_parameter("weight");
    const Tensor& bias_dev = params_.options.bias ? device_parameter("bias") : weight_dev;  // unused binding without bias
    host::of(rec).keep_alive(detail::storage_of(weight_dev));
    host::of(rec).keep_alive(detail::storage_of(bias_dev));
    detail::check_buffer_range(*this, weight_dev);
    if (g.n == 0) return;
    // maxStorageBufferRange: input and output bound in chunks of whole images.
    const uint64_t in_image = input.bytes() / static_cast<uint64_t>(g.n);
    const uint64_t out_image = output.bytes() / static_cast<uint64_t>(g.n);
    const int64_t chunk = detail::storage_chunk_units(*ctx_, type(), "image", g.n, {in_image, out_image});
    const auto& o = params_.options;
    // The shader takes the convolution's push constants, with the transposed geometry.
    Conv2dOptions co;
    co.stride = o.stride;
    co.dilation = o.dilation;
    co.groups = o.groups;
    Conv2dGeometry cg;
    cg.h = g.h;
    cg.w = g.w;
    cg.out_h = g.oh;
    cg.out_w = g.ow;
    cg.pad_top = o.padding.h;
    cg.pad_left = o.padding.w;
    auto pc = detail::conv2d_push_constants({params_.in_channels, params_.out_channels, params_.kernel, co}, cg);
    const auto pipeline = host::of(*ctx_).pipeline("conv_transpose2d", {uint32_t(kOct), o.bias ? 1u : 0u});
    const int64_t blocks = (pc.cout_g + kOct - 1) / kOct;
    for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const int64_t nc = std::min(chunk, g.n - n0);
        pc.N = static_cast<int32_t>(nc);
        const host::BufferBinding bindings[] = {detail::sub_range(input, n0, nc, in_image), detail::buffer_of(weight_dev), detail::buffer_of(bias_dev),
                                                detail::sub_range(output, n0, nc, out_image)};
        const std::array<int64_t, 3> groups{(g.ow + kTile - 1) / kTile, (g.oh + kTile - 1) / kTile, nc * o.groups * blocks};
        detail::dispatch_xyz(*ctx_, rec, *pipeline, bindings, pc, groups);
    }
    host::of(rec).barrier();
}

}  // namespace vkconv
