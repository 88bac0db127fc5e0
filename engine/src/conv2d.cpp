#include "vkconv/conv2d.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"

// Device state of the fast paths; defined before the anonymous namespace so Conv2d can own it.
namespace vkconv {
struct Conv2d::FastPath {
    // direct_texel: weights as RGBA32F texels, [groups][blocks][taps][cin_g][oct/4] vec4.
    std::shared_ptr<host::TexelBuffer> texel_weights;
    uint64_t texel_weights_version = ~uint64_t(0);
    uint32_t texel_weights_oct = 0;
    // A texel-readable copy of the input (tensors' buffers are storage-only; see record_impl).
    std::shared_ptr<host::TexelBuffer> input_copy;
    // Replaced copies stay alive: a recorded, unsubmitted command buffer may still read them.
};
}  // namespace vkconv

namespace vkconv {
namespace {

// Through a stream: GCC 12 warns (-Wrestrict, a false positive) on the equivalent string sums.
std::string pair_str(Pair p) {
    std::ostringstream s;
    s << "(" << p.h << ", " << p.w << ")";
    return s.str();
}

// Mirrors shaders/conv2d_params.glsl.
struct Conv2dPushConstants {
    int32_t N, C, H, W;
    int32_t K, OH, OW;
    int32_t groups, cin_g, cout_g;
    int32_t kh, kw, sh, sw, pad_top, pad_left, dh, dw;
    int32_t z_base;
    int32_t x_base, y_base;
};

// Every conv2d dispatch goes through here: the (gx, gy, gz) grid is split so that no dispatch
// exceeds maxComputeWorkGroupCount along any axis; each piece gets its first workgroup in
// x_base / y_base / z_base (the shaders add them to gl_WorkGroupID, see conv2d_params.glsl).
void dispatch_conv(Context& ctx, CommandRecorder& rec, const host::ComputePipeline& pipeline,
                   std::span<const host::BufferBinding> bindings, Conv2dPushConstants pc, int64_t gx, int64_t gy, int64_t gz) {
    detail::split_dispatch({gx, gy, gz}, detail::workgroup_count_limit(ctx), [&](auto base, auto count) {
        pc.x_base = base[0];
        pc.y_base = base[1];
        pc.z_base = base[2];
        rec.dispatch(pipeline, bindings, pc, count[0], count[1], count[2]);
    });
}

uint32_t pow2_at_least(int64_t v, uint32_t cap) {
    uint32_t p = 1;
    while (p < v && p < cap) p *= 2;
    return p;
}

// Index of the padded coordinate i in an axis of n elements under F.pad's rule; -1 for zero.
// Written from F.pad's definition (one reflection / one wrap, as PyTorch allows), independently
// of the shaders' general formula in padding.glsl.
int64_t reference_pad_index(int64_t i, int64_t n, PaddingMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case PaddingMode::Zeros: return -1;
        case PaddingMode::Reflect: return i < 0 ? -i : 2 * (n - 1) - i;
        case PaddingMode::Replicate: return i < 0 ? 0 : n - 1;
        case PaddingMode::Circular: return i < 0 ? i + n : i - n;
    }
    return -1;
}

}  // namespace

PaddingMode parse_padding_mode(const std::string& s) {
    if (s == "zeros") return PaddingMode::Zeros;
    if (s == "reflect") return PaddingMode::Reflect;
    if (s == "replicate") return PaddingMode::Replicate;
    if (s == "circular") return PaddingMode::Circular;
    throw Error("padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='" + s + "'");
}

std::string to_string(PaddingMode m) {
    switch (m) {
        case PaddingMode::Zeros: return "zeros";
        case PaddingMode::Reflect: return "reflect";
        case PaddingMode::Replicate: return "replicate";
        case PaddingMode::Circular: return "circular";
    }
    return "?";
}

Padding Padding::parse(const std::string& s) {
    if (s == "same") return same();
    if (s == "valid") return valid();
    auto parse_int = [&](const std::string& t) {
        size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(t, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (t.empty() || used != t.size())
            throw Error("Invalid padding string '" + s + "', should be one of {'valid', 'same'}, an int or 'h,w'");
        return v;
    };
    const auto comma = s.find(',');
    if (comma == std::string::npos) return Padding(parse_int(s));
    return Padding(parse_int(s.substr(0, comma)), parse_int(s.substr(comma + 1)));
}

std::string to_string(Conv2dAlgorithm a) {
    switch (a) {
        case Conv2dAlgorithm::Auto: return "auto";
        case Conv2dAlgorithm::DirectTiled: return "direct_tiled";
        case Conv2dAlgorithm::Depthwise: return "depthwise";
        case Conv2dAlgorithm::DirectTexel: return "direct_texel";
    }
    return "?";
}

namespace {
constexpr Conv2dAlgorithm kAlgorithms[] = {Conv2dAlgorithm::Auto, Conv2dAlgorithm::DirectTiled, Conv2dAlgorithm::Depthwise,
                                           Conv2dAlgorithm::DirectTexel};
}  // namespace

Conv2dAlgorithm parse_conv2d_algorithm(const std::string& s) {
    std::string names;
    for (auto a : kAlgorithms) {
        if (to_string(a) == s) return a;
        names += (names.empty() ? "" : ", ") + to_string(a);
    }
    throw Error("algorithm must be one of " + names + ", but got '" + s + "'");
}

void Conv2dParams::validate() const {
    const auto& o = options;
    if (in_channels <= 0) throw Error("Conv2d: in_channels must be positive, but got in_channels=" + std::to_string(in_channels));
    if (out_channels <= 0) throw Error("Conv2d: out_channels must be positive, but got out_channels=" + std::to_string(out_channels));
    if (o.groups <= 0) throw Error("Conv2d: groups must be a positive integer, but got groups=" + std::to_string(o.groups));
    if (in_channels % o.groups != 0)
        throw Error("Conv2d: in_channels must be divisible by groups, but got in_channels=" + std::to_string(in_channels) +
                    ", groups=" + std::to_string(o.groups));
    if (out_channels % o.groups != 0)
        throw Error("Conv2d: out_channels must be divisible by groups, but got out_channels=" + std::to_string(out_channels) +
                    ", groups=" + std::to_string(o.groups));
    if (kernel.h <= 0 || kernel.w <= 0) throw Error("Conv2d: kernel_size must be positive, but got kernel_size=" + pair_str(kernel));
    if (o.stride.h <= 0 || o.stride.w <= 0) throw Error("Conv2d: stride must be positive, but got stride=" + pair_str(o.stride));
    if (o.dilation.h <= 0 || o.dilation.w <= 0)
        throw Error("Conv2d: dilation must be positive, but got dilation=" + pair_str(o.dilation));
    if (o.padding.kind == Padding::Kind::Explicit && (o.padding.size.h < 0 || o.padding.size.w < 0))
        throw Error("Conv2d: padding must be non-negative, but got padding=" + pair_str(o.padding.size));
    if (o.padding.kind == Padding::Kind::Same && (o.stride.h != 1 || o.stride.w != 1))
        throw Error("Conv2d: padding='same' is not supported for strided convolutions, but got stride=" + pair_str(o.stride));
    // Kernel extents must fit the shaders' 32-bit index arithmetic.
    if (int64_t(o.dilation.h) * (kernel.h - 1) > (1 << 24) || int64_t(o.dilation.w) * (kernel.w - 1) > (1 << 24))
        throw Error("Conv2d: dilation * (kernel_size - 1) must be at most 2^24, but got kernel_size=" + pair_str(kernel) +
                    ", dilation=" + pair_str(o.dilation));
    // In double: the int64 product of four ints can overflow.
    if (double(out_channels) * (in_channels / o.groups) * kernel.h * kernel.w > double(INT32_MAX))
        throw Error("Conv2d: the weight " + shape_str(weight_shape()) + " has more than 2^31-1 elements");
}

std::string Conv2dParams::str() const {
    const auto& o = options;
    std::ostringstream s;
    s << "Conv2d(" << in_channels << ", " << out_channels << ", kernel_size=" << pair_str(kernel)
      << ", stride=" << pair_str(o.stride);
    if (o.padding.kind == Padding::Kind::Same) s << ", padding=same";
    else if (o.padding.kind == Padding::Kind::Valid) s << ", padding=valid";
    else if (o.padding.size != Pair(0)) s << ", padding=" << pair_str(o.padding.size);
    if (o.dilation != Pair(1)) s << ", dilation=" << pair_str(o.dilation);
    if (o.groups != 1) s << ", groups=" << o.groups;
    if (!o.bias) s << ", bias=False";
    if (o.padding_mode != PaddingMode::Zeros) s << ", padding_mode=" << to_string(o.padding_mode);
    s << ")";
    return s.str();
}

Conv2dGeometry conv2d_geometry(const Conv2dParams& params, const Shape& in) {
    params.validate();
    if (in.size() != 3 && in.size() != 4)
        throw Error("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: " + shape_str(in));
    shape_numel(in);  // rejects negative sizes
    const bool batched = in.size() == 4;
    Conv2dGeometry g;
    g.n = batched ? in[0] : 1;
    const int64_t c = in[batched ? 1 : 0];
    g.h = in[batched ? 2 : 1];
    g.w = in[batched ? 3 : 2];
    const auto& o = params.options;
    if (c != params.in_channels)
        throw Error("Given groups=" + std::to_string(o.groups) + ", weight of size " + shape_str(params.weight_shape()) +
                    ", expected input" + shape_str(in) + " to have " + std::to_string(params.in_channels / o.groups * o.groups) +
                    " channels, but got " + std::to_string(c) + " channels instead");
    if (g.h == 0 || g.w == 0)
        throw Error("Expected input with non-zero height and width to conv2d, but got input of size: " + shape_str(in));
    switch (o.padding.kind) {
        case Padding::Kind::Explicit:
            g.pad_top = g.pad_bottom = o.padding.size.h;
            g.pad_left = g.pad_right = o.padding.size.w;
            break;
        case Padding::Kind::Valid: break;
        case Padding::Kind::Same: {
            // As nn.Conv2d: total = dilation * (kernel - 1); an odd total puts the extra row and
            // column at the bottom and right.
            const int th = o.dilation.h * (params.kernel.h - 1), tw = o.dilation.w * (params.kernel.w - 1);
            g.pad_top = th / 2;
            g.pad_bottom = th - g.pad_top;
            g.pad_left = tw / 2;
            g.pad_right = tw - g.pad_left;
            break;
        }
    }
    const int dim_h = batched ? 2 : 1, dim_w = batched ? 3 : 2;
    auto check_pad = [&](int before, int after, int64_t size, int dim) {
        if (o.padding_mode == PaddingMode::Reflect && (before >= size || after >= size))
            throw Error("Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (" +
                        std::to_string(before) + ", " + std::to_string(after) + ") at dimension " + std::to_string(dim) +
                        " of input " + shape_str(in) + " (padding_mode='reflect')");
        if (o.padding_mode == PaddingMode::Circular && (before > size || after > size))
            throw Error("Padding value causes wrapping around more than once: padding (" + std::to_string(before) + ", " +
                        std::to_string(after) + ") at dimension " + std::to_string(dim) + " of input " + shape_str(in) +
                        " (padding_mode='circular' needs padding <= input size)");
    };
    check_pad(g.pad_left, g.pad_right, g.w, dim_w);
    check_pad(g.pad_top, g.pad_bottom, g.h, dim_h);
    const int64_t span_h = g.h + g.pad_top + g.pad_bottom - int64_t(o.dilation.h) * (params.kernel.h - 1) - 1;
    const int64_t span_w = g.w + g.pad_left + g.pad_right - int64_t(o.dilation.w) * (params.kernel.w - 1) - 1;
    g.out_h = span_h < 0 ? 0 : span_h / o.stride.h + 1;
    g.out_w = span_w < 0 ? 0 : span_w / o.stride.w + 1;
    if (g.out_h <= 0 || g.out_w <= 0)
        throw Error("Given input size: (" + std::to_string(c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) +
                    "). Calculated output size: (" + std::to_string(params.out_channels) + "x" + std::to_string(g.out_h) + "x" +
                    std::to_string(g.out_w) + "). Output size is too small");
    return g;
}

Shape conv2d_output_shape(const Conv2dParams& params, const Shape& in) {
    const auto g = conv2d_geometry(params, in);
    if (in.size() == 3) return {params.out_channels, g.out_h, g.out_w};
    return {g.n, params.out_channels, g.out_h, g.out_w};
}

std::vector<float> conv2d_reference(const Conv2dParams& params, const Shape& in, std::span<const float> input,
                                    std::span<const float> weight, std::span<const float> bias, bool relu) {
    const auto g = conv2d_geometry(params, in);
    const auto& o = params.options;
    if (static_cast<int64_t>(input.size()) != shape_numel(in))
        throw Error("conv2d_reference: input has " + std::to_string(input.size()) + " values, shape " + shape_str(in) + " needs " +
                    std::to_string(shape_numel(in)));
    if (static_cast<int64_t>(weight.size()) != params.weight_numel())
        throw Error("conv2d_reference: weight has " + std::to_string(weight.size()) + " values, shape " +
                    shape_str(params.weight_shape()) + " needs " + std::to_string(params.weight_numel()));
    if (!bias.empty() && static_cast<int64_t>(bias.size()) != params.out_channels)
        throw Error("conv2d_reference: bias has " + std::to_string(bias.size()) + " values, expected " +
                    std::to_string(params.out_channels));
    const int64_t C = params.in_channels, K = params.out_channels, G = o.groups;
    const int64_t cin_g = C / G, cout_g = K / G, kh = params.kernel.h, kw = params.kernel.w;
    std::vector<float> out(static_cast<size_t>(g.n * K * g.out_h * g.out_w));
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t k = 0; k < K; ++k) {
            const int64_t grp = k / cout_g;
            for (int64_t oy = 0; oy < g.out_h; ++oy)
                for (int64_t ox = 0; ox < g.out_w; ++ox) {
                    double acc = bias.empty() ? 0.0 : bias[k];
                    for (int64_t ci = 0; ci < cin_g; ++ci) {
                        const int64_t c = grp * cin_g + ci;
                        for (int64_t ky = 0; ky < kh; ++ky) {
                            const int64_t iy = reference_pad_index(oy * o.stride.h - g.pad_top + ky * o.dilation.h, g.h, o.padding_mode);
                            if (iy < 0) continue;
                            for (int64_t kx = 0; kx < kw; ++kx) {
                                const int64_t ix =
                                    reference_pad_index(ox * o.stride.w - g.pad_left + kx * o.dilation.w, g.w, o.padding_mode);
                                if (ix < 0) continue;
                                acc += double(input[((n * C + c) * g.h + iy) * g.w + ix]) *
                                       double(weight[((k * cin_g + ci) * kh + ky) * kw + kx]);
                            }
                        }
                    }
                    if (relu && acc < 0) acc = 0;
                    out[((n * K + k) * g.out_h + oy) * g.out_w + ox] = static_cast<float>(acc);
                }
        }
    return out;
}

Conv2d::Conv2d(Context& ctx, int in_channels, int out_channels, Pair kernel_size, Conv2dOptions options)
    : Conv2d(ctx, Conv2dParams{in_channels, out_channels, kernel_size, options}) {}

Conv2d::Conv2d(Context& ctx, Conv2dParams params) : Layer(ctx), fast_(std::make_unique<FastPath>()), params_(std::move(params)) {
    params_.validate();
    reset_parameters(0);
}

Conv2d::~Conv2d() = default;

void Conv2d::reset_parameters(uint64_t seed) {
    // kaiming_uniform_(a=sqrt(5)) gives bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)),
    // i.e. 1 / sqrt(fan_in); the bias uses the same bound.
    const int64_t fan_in = int64_t(params_.in_channels / params_.options.groups) * params_.kernel.h * params_.kernel.w;
    const float bound = static_cast<float>(1.0 / std::sqrt(double(fan_in)));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<size_t>(params_.weight_numel()));
    for (auto& v : w) v = u(rng);
    add_parameter("weight", params_.weight_shape(), std::move(w));
    if (params_.options.bias) {
        std::vector<float> b(static_cast<size_t>(params_.out_channels));
        for (auto& v : b) v = u(rng);
        add_parameter("bias", {params_.out_channels}, std::move(b));
    }
}

const std::vector<float>& Conv2d::bias() const {
    static const std::vector<float> none;
    return params_.options.bias ? parameter("bias") : none;
}

void Conv2d::set_bias(std::span<const float> b) {
    if (!params_.options.bias) throw Error("Conv2d.set_bias: this Conv2d was made with bias=False");
    set_parameter("bias", b);
}

void Conv2d::set_algorithm(Conv2dAlgorithm a) {
    if (a == Conv2dAlgorithm::Depthwise && params_.options.groups != params_.in_channels)
        throw Error("Conv2d: algorithm 'depthwise' needs groups == in_channels, but got groups=" +
                    std::to_string(params_.options.groups) + ", in_channels=" + std::to_string(params_.in_channels));
    algorithm_ = a;
}

namespace {
// Output channels per invocation of conv2d_texel (a multiple of 4: the weights are vec4 texels).
uint32_t texel_oct(int cout_g) { return cout_g <= 4 ? 4 : 8; }
}  // namespace

bool Conv2d::supports(Conv2dAlgorithm a, const Shape& input_shape) const {
    const auto& o = params_.options;
    switch (a) {
        case Conv2dAlgorithm::Auto:
        case Conv2dAlgorithm::DirectTiled: return true;
        case Conv2dAlgorithm::Depthwise: return o.groups == params_.in_channels;
        case Conv2dAlgorithm::DirectTexel: {
            const auto& info = ctx_->info();
            if (!ctx_->uniform_texel_format(vk::Format::eR32Sfloat) || !ctx_->uniform_texel_format(vk::Format::eR32G32B32A32Sfloat))
                return false;
            const int cout_g = params_.out_channels / o.groups;
            const uint64_t oct = texel_oct(cout_g);
            const uint64_t blocks = (cout_g + oct - 1) / oct;
            const uint64_t weight_texels = uint64_t(o.groups) * blocks * params_.kernel.h * params_.kernel.w *
                                           (params_.in_channels / o.groups) * (oct / 4);
            const uint64_t input_texels = input_shape.empty() ? 0 : static_cast<uint64_t>(shape_numel(input_shape));
            // The shader indexes with 32-bit ints.
            return weight_texels <= info.max_texel_buffer_elements && input_texels <= info.max_texel_buffer_elements &&
                   input_texels < (uint64_t(1) << 31) && weight_texels * 4 < (uint64_t(1) << 31);
        }
    }
    return false;
}

Conv2dAlgorithm Conv2d::algorithm_for(const Shape& input_shape) const {
    if (algorithm_ != Conv2dAlgorithm::Auto) {
        if (!supports(algorithm_, input_shape))
            throw Error("Conv2d: algorithm '" + to_string(algorithm_) + "' cannot run " + params_.str() + " on input " +
                        shape_str(input_shape) + " on '" + ctx_->info().name + "'");
        return algorithm_;
    }
    if (params_.options.groups == params_.in_channels && params_.in_channels > 1) return Conv2dAlgorithm::Depthwise;
    if (supports(Conv2dAlgorithm::DirectTexel, input_shape)) return Conv2dAlgorithm::DirectTexel;
    return Conv2dAlgorithm::DirectTiled;
}

Shape Conv2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return conv2d_output_shape(params_, inputs[0]);
}

std::vector<float> Conv2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    return conv2d_reference(params_, shapes[0], inputs[0], weight(), bias(), fused_relu_);
}

void Conv2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_impl(rec, inputs, output, fused_relu_);
}

void Conv2d::record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, bool fuse_relu) {
    check_input_count(inputs.size());
    const Tensor& input = inputs[0];
    const auto g = conv2d_geometry(params_, input.shape());
    const Shape expected = conv2d_output_shape(params_, input.shape());
    if (output.shape() != expected)
        throw Error("Conv2d: output tensor has shape " + shape_str(output.shape()) + ", expected " + shape_str(expected));
    const Tensor& weight_dev = device_parameter("weight");
    const Tensor& bias_dev = params_.options.bias ? device_parameter("bias") : weight_dev;  // unused binding when bias=False
    rec.keep_alive(weight_dev.storage());
    rec.keep_alive(bias_dev.storage());
    const auto& info = ctx_->info();
    if (weight_dev.bytes() > info.max_storage_buffer_range)
        throw Error("Conv2d: the weight " + shape_str(weight_dev.shape()) + " (" + std::to_string(weight_dev.bytes()) +
                    " bytes) exceeds the device's maxStorageBufferRange (" + std::to_string(info.max_storage_buffer_range) +
                    " bytes)");
    if (g.n == 0) return;
    // maxStorageBufferRange: input and output are bound as sub-ranges of whole images, as many
    // images per chunk as fit (all of them when the tensors fit); each chunk is its own dispatch.
    const uint64_t in_image = input.bytes() / static_cast<uint64_t>(g.n);
    const uint64_t out_image = output.bytes() / static_cast<uint64_t>(g.n);
    const int64_t chunk = detail::storage_chunk_units(*ctx_, "Conv2d", "image", g.n, {in_image, out_image});
    auto input_range = [&](int64_t n0, int64_t nc) {
        return host::BufferBinding(input.buffer().handle(), static_cast<uint64_t>(n0) * in_image, static_cast<uint64_t>(nc) * in_image);
    };
    auto output_range = [&](int64_t n0, int64_t nc) {
        return host::BufferBinding(output.buffer().handle(), static_cast<uint64_t>(n0) * out_image,
                                   static_cast<uint64_t>(nc) * out_image);
    };
    const auto& o = params_.options;
    const int cin_g = params_.in_channels / o.groups, cout_g = params_.out_channels / o.groups;
    Conv2dPushConstants pc{};
    pc.N = static_cast<int32_t>(g.n);
    pc.C = params_.in_channels;
    pc.H = static_cast<int32_t>(g.h);
    pc.W = static_cast<int32_t>(g.w);
    pc.K = params_.out_channels;
    pc.OH = static_cast<int32_t>(g.out_h);
    pc.OW = static_cast<int32_t>(g.out_w);
    pc.groups = o.groups;
    pc.cin_g = cin_g;
    pc.cout_g = cout_g;
    pc.kh = params_.kernel.h;
    pc.kw = params_.kernel.w;
    pc.sh = o.stride.h;
    pc.sw = o.stride.w;
    pc.pad_top = g.pad_top;
    pc.pad_left = g.pad_left;
    pc.dh = o.dilation.h;
    pc.dw = o.dilation.w;

    const auto algorithm = algorithm_for(input.shape());
    if (algorithm == Conv2dAlgorithm::DirectTexel) {
        // Weights: transformed into [groups][blocks][taps][cin_g][oct] (vec4 texels along oct)
        // once per parameter version.
        // Tuning knobs (tests and experiments): VKCONV_TEXEL_OCT (4..32, multiple of 4),
        // VKCONV_TEXEL_PX (1..16), VKCONV_TEXEL_LY (rows per workgroup), VKCONV_TEXEL_SG (0/1).
        auto env_int = [](const char* name, int lo, int hi, int def) {
            const char* e = std::getenv(name);
            if (!e || !*e) return def;
            const int v = std::atoi(e);
            return v >= lo && v <= hi ? v : def;
        };
        uint32_t oct = texel_oct(cout_g);
        oct = static_cast<uint32_t>(env_int("VKCONV_TEXEL_OCT", 4, 32, static_cast<int>(oct))) / 4 * 4;
        const int64_t blocks = (cout_g + oct - 1) / oct;
        auto& f = *fast_;
        if (!f.texel_weights || f.texel_weights_version != version() || f.texel_weights_oct != oct) {
            const int taps = params_.kernel.h * params_.kernel.w;
            const auto& w = weight();
            // 8 spare texels: the subgroup variant's last fetch may run past the last block.
            std::vector<float> t(static_cast<size_t>(o.groups * blocks * taps * cin_g * oct + 32), 0.0f);
            for (int gi = 0; gi < o.groups; ++gi)
                for (int64_t bl = 0; bl < blocks; ++bl)
                    for (int oc = 0; oc < static_cast<int>(oct); ++oc) {
                        const int64_t k = bl * oct + oc;
                        if (k >= cout_g) break;
                        const int64_t K = gi * cout_g + k;
                        for (int ci = 0; ci < cin_g; ++ci)
                            for (int tap = 0; tap < taps; ++tap)
                                t[static_cast<size_t>((((gi * blocks + bl) * taps + tap) * cin_g + ci) * oct + oc)] =
                                    w[static_cast<size_t>((K * cin_g + ci) * taps + tap)];
                    }
            // A pending recording that used the old buffer holds it (CommandRecorder::keep_alive).
            f.texel_weights = std::make_shared<host::TexelBuffer>(*ctx_, t.size() * sizeof(float));
            f.texel_weights->upload(t.data(), t.size() * sizeof(float));
            f.texel_weights_version = version();
            f.texel_weights_oct = oct;
        }
        // Input: tensors' buffers are created for storage use only, so the input is copied into a
        // texel-readable buffer first (one vkCmdCopyBuffer per chunk of images).
        const uint64_t copy_bytes = static_cast<uint64_t>(chunk) * in_image;
        if (!f.input_copy || f.input_copy->size() < copy_bytes) {
            f.input_copy = std::make_shared<host::TexelBuffer>(*ctx_, copy_bytes);
        }
        rec.keep_alive(f.texel_weights);
        rec.keep_alive(f.input_copy);
        const uint32_t lx = std::min<uint32_t>(8, info.max_workgroup_size[0]);
        // One row per workgroup on CPU devices (a workgroup runs on one thread: more workgroups
        // balance better); 8 x 8 invocations elsewhere.
        const uint32_t ly_max = std::min<uint32_t>(info.max_workgroup_size[1], info.max_workgroup_invocations / lx);
        uint32_t ly = info.type == "cpu" ? 1 : std::min<uint32_t>(8, ly_max);
        ly = static_cast<uint32_t>(env_int("VKCONV_TEXEL_LY", 1, static_cast<int>(ly_max), static_cast<int>(ly)));
        // Pixels per invocation: 4 x 8 channels measured best on lavapipe (fetch-bound; see tools/bench.cpp).
        const uint32_t px = static_cast<uint32_t>(env_int("VKCONV_TEXEL_PX", 1, 16, 4));
        // Weights shared through subgroup shuffles where subgroups hold whole 8-lane rows.
        // Off by default: on lavapipe the shuffles cost more than the fetches they save (measured
        // 82 vs 72 ms on S4); kept for GPUs, where it is worth tuning.
        const bool sg_ok = info.subgroup_shuffle && info.subgroup_size >= 8 && lx == 8;
        const bool sg = sg_ok && env_int("VKCONV_TEXEL_SG", 0, 1, 0) == 1;
        using host::BindingType;
        static const std::vector<BindingType> kTypes = {BindingType::UniformTexelBuffer, BindingType::UniformTexelBuffer,
                                                         BindingType::StorageBuffer, BindingType::StorageBuffer};
        const uint32_t pad_mode = static_cast<uint32_t>(o.padding_mode);
        auto pipeline = ctx_->pipeline("conv2d_texel", {lx, ly, oct, px, pad_mode, o.bias ? 1u : 0u, fuse_relu ? 1u : 0u, sg ? 1u : 0u}, kTypes,
                                       sizeof pc);
        const int64_t gx = (g.out_w + lx * px - 1) / (lx * px), gy = (g.out_h + ly - 1) / ly;
        for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
            const int64_t nc = std::min(chunk, g.n - n0);
            rec.copy(input.buffer().handle(), static_cast<uint64_t>(n0) * in_image, f.input_copy->handle(), 0,
                     static_cast<uint64_t>(nc) * in_image);
            rec.barrier();
            const host::BufferBinding bindings[] = {
                host::BufferBinding(f.input_copy->view(vk::Format::eR32Sfloat, static_cast<uint64_t>(nc) * in_image / sizeof(float))),
                host::BufferBinding(f.texel_weights->view(vk::Format::eR32G32B32A32Sfloat)), bias_dev.buffer(),
                output_range(n0, nc)};
            pc.N = static_cast<int32_t>(nc);
            dispatch_conv(*ctx_, rec, *pipeline, bindings, pc, gx, gy, nc * o.groups * blocks);
            rec.barrier();  // also orders this chunk's reads of input_copy before the next chunk's copy
        }
        return;
    }

    // Tile: 8 x 8 pixels fits every device (Vulkan guarantees 128 invocations and 128 along x/y).
    constexpr uint32_t TW = 8, TH = 8;
    std::shared_ptr<const host::ComputePipeline> pipeline;
    int64_t blocks = 0;
    const uint32_t pad_mode = static_cast<uint32_t>(o.padding_mode);
    const uint32_t has_bias = o.bias ? 1 : 0, relu = fuse_relu ? 1 : 0;
    if (algorithm == Conv2dAlgorithm::Depthwise) {
        const uint32_t mt = pow2_at_least(cout_g, 4);
        pipeline = ctx_->pipeline("conv2d_depthwise", {TW, TH, mt, 0, pad_mode, has_bias, relu}, 4, sizeof pc);
        blocks = (cout_g + mt - 1) / mt;
    } else {
        const uint32_t oct = pow2_at_least(cout_g, 8);
        // Weight chunk in shared memory: at most 16 KiB (the smallest maxComputeSharedMemorySize Vulkan allows).
        const uint32_t shared_budget = std::min<uint32_t>(info.max_shared_memory, 16384);
        const uint32_t kchunk = std::min<uint32_t>(64, shared_budget / (oct * sizeof(float)));
        pipeline = ctx_->pipeline("conv2d_direct_tiled", {TW, TH, oct, kchunk, pad_mode, has_bias, relu}, 4, sizeof pc);
        blocks = (cout_g + oct - 1) / oct;
    }
    const int64_t groups_per_image = algorithm == Conv2dAlgorithm::Depthwise ? params_.in_channels : o.groups;
    const int64_t gx = (g.out_w + TW - 1) / TW, gy = (g.out_h + TH - 1) / TH;
    for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const int64_t nc = std::min(chunk, g.n - n0);
        const host::BufferBinding bindings[] = {input_range(n0, nc), weight_dev.buffer(), bias_dev.buffer(), output_range(n0, nc)};
        pc.N = static_cast<int32_t>(nc);
        dispatch_conv(*ctx_, rec, *pipeline, bindings, pc, gx, gy, nc * groups_per_image * blocks);
    }
    rec.barrier();
}

}  // namespace vkconv
