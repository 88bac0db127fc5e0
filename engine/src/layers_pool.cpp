// MaxPool2d, AvgPool2d (shaders/pool2d.comp) and AdaptiveAvgPool2d
// (shaders/adaptive_avg_pool2d.comp).
#include <cmath>
#include <limits>
#include <sstream>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/reduce.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors Pool2dPushConstants in shaders/pool2d.comp.
struct Pool2dPushConstants {
    int32_t H, W, OH, OW;
    int32_t divisor;
    int32_t x_base, y_base, z_base;
};

// Mirrors AdaptivePoolPushConstants in shaders/adaptive_avg_pool2d.comp.
struct AdaptivePoolPushConstants {
    int32_t H, W, OH, OW;
    int32_t x_base, y_base, z_base;
};

constexpr int kTile = 8;  // the shaders' 8 x 8 workgroups

// An image input to a 2-D pooling: [C, H, W] or [N, C, H, W].
struct Planes {
    int64_t planes = 0, h = 0, w = 0;
    bool batched = false;
};

// PyTorch's pool2d input check: 3-D with every dim non-zero, or 4-D where only N may be 0.
Planes pool_input(const std::string& who, const Shape& in) {
    const bool ok_rank = in.size() == 3 || in.size() == 4;
    bool ok = ok_rank;
    if (ok_rank) {
        shape_numel(in);
        for (size_t d = in.size() == 4 ? 1 : 0; d < in.size(); ++d) ok = ok && in[d] > 0;
    }
    if (!ok)
        throw Error(who + ": Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: " +
                    shape_str(in));
    Planes p;
    p.batched = in.size() == 4;
    p.planes = p.batched ? in[0] * in[1] : in[0];
    p.h = in[in.size() - 2];
    p.w = in[in.size() - 1];
    return p;
}

int64_t div_floor(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// PyTorch's pooling_output_shape_pad_lr (pad_l = pad_r = pad).
int64_t pooling_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
    int64_t out = div_floor(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
    // ceil_mode: the last window must start inside the input or the left padding.
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

// Checks shared by MaxPool2d and AvgPool2d, in PyTorch's words.
void validate_pool(const std::string& who, Pair k, Pair s, Pair pad, Pair d) {
    if (k.h <= 0 || k.w <= 0)
        throw Error(who + ": kernel_size should be greater than zero, but got kernel_size=" + detail::pair_tuple(k));
    if (s.h <= 0 || s.w <= 0) throw Error(who + ": stride should be greater than zero, but got stride=" + detail::pair_tuple(s));
    if (d.h <= 0 || d.w <= 0)
        throw Error(who + ": dilation should be greater than zero, but got dilation=" + detail::pair_tuple(d));
    if (pad.h < 0 || pad.w < 0) throw Error(who + ": pad must be non-negative, but got padding=" + detail::pair_tuple(pad));
    for (auto [p, kk] : {std::pair{pad.h, k.h}, std::pair{pad.w, k.w}})
        if (p > kk / 2)
            throw Error(who + ": pad should be at most half of kernel size, but got pad=" + std::to_string(p) +
                        " and kernel_size=" + std::to_string(kk));
    if (int64_t(d.h) * (k.h - 1) > (1 << 24) || int64_t(d.w) * (k.w - 1) > (1 << 24))
        throw Error(who + ": dilation * (kernel_size - 1) must be at most 2^24, but got kernel_size=" + detail::pair_tuple(k) +
                    ", dilation=" + detail::pair_tuple(d));
}

struct PoolGeometry {
    Planes in;
    int64_t oh = 0, ow = 0;
    Shape out_shape;
};

PoolGeometry pool_geometry(const std::string& who, const Shape& shape, Pair k, Pair s, Pair pad, Pair d, bool ceil_mode) {
    PoolGeometry g;
    g.in = pool_input(who, shape);
    g.oh = pooling_output_size(g.in.h, k.h, pad.h, s.h, d.h, ceil_mode);
    g.ow = pooling_output_size(g.in.w, k.w, pad.w, s.w, d.w, ceil_mode);
    const int64_t c = shape[shape.size() - 3];
    if (g.oh < 1 || g.ow < 1)
        throw Error(who + ": Given input size: (" + std::to_string(c) + "x" + std::to_string(g.in.h) + "x" +
                    std::to_string(g.in.w) + "). Calculated output size: (" + std::to_string(c) + "x" + std::to_string(g.oh) +
                    "x" + std::to_string(g.ow) + "). Output size is too small");
    // The shaders' 32-bit index arithmetic reaches the padded extent plus one window and stride.
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    if (g.in.h + 2 * pad.h + int64_t(d.h) * (k.h - 1) + 1 + s.h > kMax ||
        g.in.w + 2 * pad.w + int64_t(d.w) * (k.w - 1) + 1 + s.w > kMax)
        throw Error(who + ": input " + shape_str(shape) + " with this kernel, stride and padding exceeds 32-bit indexing");
    g.out_shape = shape;
    g.out_shape[shape.size() - 2] = g.oh;
    g.out_shape[shape.size() - 1] = g.ow;
    return g;
}

void record_pool(Context& ctx, CommandRecorder& rec, const std::string& who, const PoolGeometry& g, const Tensor& in, const Tensor& out,
                 uint32_t mode, bool count_include_pad, std::optional<int> divisor, Pair k, Pair s, Pair pad, Pair d) {
    if (out.numel() == 0) return;
    Pool2dPushConstants pc{.H = static_cast<int32_t>(g.in.h), .W = static_cast<int32_t>(g.in.w),
                           .OH = static_cast<int32_t>(g.oh), .OW = static_cast<int32_t>(g.ow), .divisor = divisor.value_or(1)};
    const uint64_t in_plane = static_cast<uint64_t>(g.in.h * g.in.w) * sizeof(float);
    const uint64_t out_plane = static_cast<uint64_t>(g.oh * g.ow) * sizeof(float);
    const std::array<int64_t, 3> tiles{(g.ow + kTile - 1) / kTile, (g.oh + kTile - 1) / kTile, 0};
    // The window's geometry is specialized (its loops unroll).
    const std::vector<uint32_t> spec{mode,
                                     count_include_pad ? 1u : 0u,
                                     divisor ? 1u : 0u,
                                     static_cast<uint32_t>(k.h),
                                     static_cast<uint32_t>(k.w),
                                     static_cast<uint32_t>(s.h),
                                     static_cast<uint32_t>(s.w),
                                     static_cast<uint32_t>(pad.h),
                                     static_cast<uint32_t>(pad.w),
                                     static_cast<uint32_t>(d.h),
                                     static_cast<uint32_t>(d.w)};
    // Input through a texel view where the policy prefers it and the output binds whole.
    const auto texel = detail::texel_input(ctx, in);
    if (texel && detail::storage_chunk_units(ctx, who, "plane", g.in.planes, {out_plane}) == g.in.planes) {
        // Rows a multiple of 4 wide: 4 columns a fetch, 4 outputs an invocation (the R32F reads
        // are gathers on lavapipe: 3x3 stride-2 pooling of 64 x 112 x 112 went 3.7 -> 1.6 ms).
        const int64_t shift = (4 - pad.w % 4) % 4, span = 3 * int64_t(s.w) + int64_t(k.w - 1) * d.w + 1;
        const bool vec4 = g.in.w % 4 == 0 && shift + span <= 64 && host::of(ctx).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat);
        auto vspec = spec;
        vspec.push_back(vec4 ? static_cast<uint32_t>(1 + shift) : 0u);
        const std::array<int64_t, 3> grid{vec4 ? (g.ow + 4 * kTile - 1) / (4 * kTile) : tiles[0], tiles[1], g.in.planes};
        const host::BufferBinding input =
            vec4 ? host::BufferBinding(detail::buffer_of(in).view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(in.numel()) / 4)) : *texel;
        const host::BufferBinding bindings[] = {input, host::BufferBinding(detail::buffer_of(out))};
        detail::dispatch_xyz(ctx, rec, *host::of(ctx).pipeline("pool2d_texel", vspec), bindings, pc, grid);
    } else {
        // Tensors larger than maxStorageBufferRange: chunks of whole planes bound as sub-ranges.
        const auto pipeline = host::of(ctx).pipeline("pool2d", spec);
        detail::for_each_plane_chunk(ctx, who, in, out, g.in.planes, in_plane, out_plane, [&](auto bindings, int64_t np) {
            detail::dispatch_xyz(ctx, rec, *pipeline, bindings, pc, {tiles[0], tiles[1], np});
        });
    }
    host::of(rec).barrier();
}

}  // namespace

// ---- MaxPool2d ----------------------------------------------------------------------------

MaxPool2d::MaxPool2d(Context& ctx, Pair kernel_size, const MaxPool2dOptions& o)
    : Layer(ctx), kernel_(kernel_size), stride_(o.stride.value_or(kernel_size)), padding_(o.padding), dilation_(o.dilation),
      ceil_mode_(o.ceil_mode) {
    validate_pool("MaxPool2d", kernel_, stride_, padding_, dilation_);
}

std::string MaxPool2d::repr() const {
    using detail::pair_repr;
    return "MaxPool2d(kernel_size=" + pair_repr(kernel_) + ", stride=" + pair_repr(stride_) + ", padding=" +
           pair_repr(padding_) + ", dilation=" + pair_repr(dilation_) + ", ceil_mode=" + detail::py_bool(ceil_mode_) + ")";
}

Shape MaxPool2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return pool_geometry(type(), inputs[0], kernel_, stride_, padding_, dilation_, ceil_mode_).out_shape;
}

void MaxPool2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const auto g = pool_geometry(type(), inputs[0].shape(), kernel_, stride_, padding_, dilation_, ceil_mode_);
    detail::check_output_shape(*this, output, g.out_shape);
    record_pool(*ctx_, rec, type(), g, inputs[0], output, 0, false, {}, kernel_, stride_, padding_, dilation_);
}

std::vector<float> MaxPool2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const auto g = pool_geometry(type(), shapes[0], kernel_, stride_, padding_, dilation_, ceil_mode_);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    std::vector<float> out(static_cast<size_t>(shape_numel(g.out_shape)));
    // PyTorch's max_pool2d: the window's taps at (oy * stride - pad + ky * dilation, ...) that
    // lie inside the input (padding never wins: it is -inf), visited row by row; a NaN wins.
    for (int64_t pl = 0; pl < g.in.planes; ++pl)
        for (int64_t oy = 0; oy < g.oh; ++oy)
            for (int64_t ox = 0; ox < g.ow; ++ox) {
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t ky = 0; ky < kernel_.h; ++ky) {
                    const int64_t iy = oy * stride_.h - padding_.h + ky * dilation_.h;
                    if (iy < 0 || iy >= g.in.h) continue;
                    for (int64_t kx = 0; kx < kernel_.w; ++kx) {
                        const int64_t ix = ox * stride_.w - padding_.w + kx * dilation_.w;
                        if (ix < 0 || ix >= g.in.w) continue;
                        const float v = x[static_cast<size_t>((pl * g.in.h + iy) * g.in.w + ix)];
                        if (v > m || std::isnan(v)) m = v;
                    }
                }
                out[static_cast<size_t>((pl * g.oh + oy) * g.ow + ox)] = m;
            }
    return out;
}

// ---- AvgPool2d ----------------------------------------------------------------------------

AvgPool2d::AvgPool2d(Context& ctx, Pair kernel_size, const AvgPool2dOptions& o)
    : Layer(ctx), kernel_(kernel_size), stride_(o.stride.value_or(kernel_size)), padding_(o.padding), ceil_mode_(o.ceil_mode),
      count_include_pad_(o.count_include_pad), divisor_override_(o.divisor_override) {
    validate_pool("AvgPool2d", kernel_, stride_, padding_, 1);
    if (divisor_override_ && *divisor_override_ == 0)
        throw Error("AvgPool2d: divisor must be not zero, but got divisor_override=0");
}

std::string AvgPool2d::repr() const {
    using detail::pair_repr;
    return "AvgPool2d(kernel_size=" + pair_repr(kernel_) + ", stride=" + pair_repr(stride_) + ", padding=" +
           pair_repr(padding_) + ")";
}

Shape AvgPool2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return pool_geometry(type(), inputs[0], kernel_, stride_, padding_, 1, ceil_mode_).out_shape;
}

void AvgPool2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const auto g = pool_geometry(type(), inputs[0].shape(), kernel_, stride_, padding_, 1, ceil_mode_);
    detail::check_output_shape(*this, output, g.out_shape);
    record_pool(*ctx_, rec, type(), g, inputs[0], output, 1, count_include_pad_, divisor_override_, kernel_, stride_, padding_, 1);
}

std::vector<float> AvgPool2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const auto g = pool_geometry(type(), shapes[0], kernel_, stride_, padding_, 1, ceil_mode_);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    std::vector<float> out(static_cast<size_t>(shape_numel(g.out_shape)));
    // PyTorch's avg_pool2d (aten/src/ATen/native/cpu/AvgPoolKernel.cpp): the window
    // [hstart, hend) is first clipped to the padded input, which gives pool_size, then to
    // the input, which gives the elements summed.
    for (int64_t pl = 0; pl < g.in.planes; ++pl)
        for (int64_t oy = 0; oy < g.oh; ++oy)
            for (int64_t ox = 0; ox < g.ow; ++ox) {
                int64_t hstart = oy * stride_.h - padding_.h, wstart = ox * stride_.w - padding_.w;
                int64_t hend = std::min(hstart + kernel_.h, g.in.h + padding_.h);
                int64_t wend = std::min(wstart + kernel_.w, g.in.w + padding_.w);
                const int64_t pool_size = (hend - hstart) * (wend - wstart);
                hstart = std::max<int64_t>(hstart, 0);
                wstart = std::max<int64_t>(wstart, 0);
                hend = std::min(hend, g.in.h);
                wend = std::min(wend, g.in.w);
                double sum = 0;
                for (int64_t iy = hstart; iy < hend; ++iy)
                    for (int64_t ix = wstart; ix < wend; ++ix) sum += x[static_cast<size_t>((pl * g.in.h + iy) * g.in.w + ix)];
                int64_t divide_factor;
                if (divisor_override_) divide_factor = *divisor_override_;
                else if (count_include_pad_) divide_factor = pool_size;
                else divide_factor = (hend - hstart) * (wend - wstart);
                out[static_cast<size_t>((pl * g.oh + oy) * g.ow + ox)] = static_cast<float>(sum / double(divide_factor));
            }
    return out;
}

// ---- AdaptiveAvgPool2d ----------------------------------------------------------------------

namespace {

struct AdaptiveGeometry {
    int64_t planes = 0, h = 0, w = 0;
    Shape out_shape;
};

AdaptiveGeometry adaptive_geometry(const Shape& in, Pair out) {
    if (in.size() != 3 && in.size() != 4)
        throw Error("AdaptiveAvgPool2d: adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got " + shape_str(in));
    shape_numel(in);
    for (size_t d = in.size() - 2; d < in.size(); ++d)
        if (in[d] == 0)
            throw Error("AdaptiveAvgPool2d: adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                        "dimensions, but input has sizes " + shape_str(in) + " with dimension " + std::to_string(d) +
                        " being empty");
    AdaptiveGeometry g;
    g.planes = in.size() == 4 ? in[0] * in[1] : in[0];
    g.h = in[in.size() - 2];
    g.w = in[in.size() - 1];
    // The shader's window arithmetic (see adaptive_avg_pool2d.comp) needs Out <= 65535 unless
    // Out divides In.
    for (auto [i, o] : {std::pair{g.h, int64_t(out.h)}, std::pair{g.w, int64_t(out.w)}})
        if (o > 65535 && i % o != 0)
            throw Error("AdaptiveAvgPool2d: an output size above 65535 must divide the input size, but got output_size=" +
                        detail::pair_tuple(out) + " for input " + shape_str(in));
    g.out_shape = in;
    g.out_shape[in.size() - 2] = out.h;
    g.out_shape[in.size() - 1] = out.w;
    shape_numel(g.out_shape);
    return g;
}

}  // namespace

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Context& ctx, Pair output_size) : Layer(ctx), output_size_(output_size) {
    if (output_size.h < 0 || output_size.w < 0)
        throw Error("AdaptiveAvgPool2d: adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
                    "received {" + std::to_string(output_size.h) + ", " + std::to_string(output_size.w) + "}");
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Context& ctx, std::optional<int> output_h, std::optional<int> output_w)
    : AdaptiveAvgPool2d(ctx, Pair(output_h.value_or(0), output_w.value_or(0))) {
    keep_h_ = !output_h;
    keep_w_ = !output_w;
}

std::string AdaptiveAvgPool2d::repr() const {
    return "AdaptiveAvgPool2d(output_size=" + detail::optional_pair_repr(output_h(), output_w()) + ")";
}

Shape AdaptiveAvgPool2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return adaptive_geometry(inputs[0], detail::resolve_output_size(output_h(), output_w(), inputs[0])).out_shape;
}

void AdaptiveAvgPool2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const Pair output_size = detail::resolve_output_size(output_h(), output_w(), inputs[0].shape());
    const auto g = adaptive_geometry(inputs[0].shape(), output_size);
    detail::check_output(*this, output, g.out_shape);
    detail::check_buffer_range(*this, inputs[0]);
    if (output.numel() == 0) return;
    // Global average pooling is a mean over (H, W) (reduce_hw.comp: a workgroup per large plane,
    // an invocation per small one) rather than a workgroup of 8 x 8 cells with one cell.
    if (output_size.h == 1 && output_size.w == 1) {
        Mean(*ctx_, {-2, -1}, true).record(rec, inputs, output);
        return;
    }
    const auto pipeline = host::of(*ctx_).pipeline("adaptive_avg_pool2d", {});
    AdaptivePoolPushConstants pc{};
    pc.H = static_cast<int32_t>(g.h);
    pc.W = static_cast<int32_t>(g.w);
    pc.OH = output_size.h;
    pc.OW = output_size.w;
    const host::BufferBinding bindings[] = {detail::buffer_of(inputs[0]), detail::buffer_of(output)};
    const std::array<int64_t, 3> groups{(output_size.w + kTile - 1) / kTile, (output_size.h + kTile - 1) / kTile, g.planes};
    detail::dispatch_xyz(*ctx_, rec, *pipeline, bindings, pc, groups);
    host::of(rec).barrier();
}

std::vector<float> AdaptiveAvgPool2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Pair output_size = detail::resolve_output_size(output_h(), output_w(), shapes[0]);
    const auto g = adaptive_geometry(shapes[0], output_size);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const int64_t OH = output_size.h, OW = output_size.w;
    std::vector<float> out(static_cast<size_t>(shape_numel(g.out_shape)));
    // PyTorch's adaptive_avg_pool2d: cell i of Out covers [floor(i * In / Out), ceil((i+1) * In / Out)).
    auto start = [](int64_t i, int64_t out_size, int64_t in_size) { return (i * in_size) / out_size; };
    auto end = [](int64_t i, int64_t out_size, int64_t in_size) { return ((i + 1) * in_size + out_size - 1) / out_size; };
    for (int64_t pl = 0; pl < g.planes; ++pl)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                const int64_t h0 = start(oy, OH, g.h), h1 = end(oy, OH, g.h);
                const int64_t w0 = start(ox, OW, g.w), w1 = end(ox, OW, g.w);
                double sum = 0;
                for (int64_t iy = h0; iy < h1; ++iy)
                    for (int64_t ix = w0; ix < w1; ++ix) sum += x[static_cast<size_t>((pl * g.h + iy) * g.w + ix)];
                out[static_cast<size_t>((pl * OH + oy) * OW + ox)] = static_cast<float>(sum / double((h1 - h0) * (w1 - w0)));
            }
    return out;
}

}  // namespace vkconv
