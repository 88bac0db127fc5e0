#include "vkconv/conv2d.h"
#include "vkconv/tuning.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>

#include "conv2d_winograd.h"
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
    // A texel-readable copy of the input, for buffers made without texel usage (see record_impl).
    std::shared_ptr<host::TexelBuffer> input_copy;
    // packed_texel / gemm_1x1 / depthwise_texel: weights as RGBA32F texels in the layout of the
    // algorithm's shader (packed_weights_key names the algorithm and block size), and the NC4HW4
    // input the pack pass writes.
    std::shared_ptr<host::TexelBuffer> packed_weights;
    uint64_t packed_weights_version = ~uint64_t(0);
    std::string packed_weights_key;
    std::shared_ptr<host::TexelBuffer> packed_input;
    // winograd: U = G g G^T and its scratch buffers (conv2d_winograd.cpp).
    detail::WinogradState winograd;
    // Replaced copies stay alive: a recorded, unsubmitted command buffer may still read them.
};

namespace {
// An R32F uniform-texel view of `input`: its own buffer's view where it was made with texel
// usage, else (an application's borrowed buffer, or a device without R32F texel reads for
// tensors) a copy into the layer's texel-readable scratch buffer, recorded with a barrier.
host::BufferBinding input_texel_view(CommandRecorder& rec, std::shared_ptr<host::TexelBuffer>& input_copy, const Tensor& input) {
    const uint64_t texels = static_cast<uint64_t>(input.numel());
    if (input.buffer().texel_views()) return host::BufferBinding(input.buffer().view(vk::Format::eR32Sfloat, texels));
    Context& ctx = rec.context();
    if (!input_copy || input_copy->size() < input.bytes()) input_copy = std::make_shared<host::TexelBuffer>(ctx, input.bytes());
    rec.keep_alive(input_copy);
    rec.copy(input.buffer().handle(), input.buffer().offset(), input_copy->handle(), 0, input.bytes());
    rec.barrier();
    return host::BufferBinding(input_copy->view(vk::Format::eR32Sfloat, texels));
}
}  // namespace
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

// Mirror shaders/pack_nc4hw4.comp and shaders/conv2d_packed_params.glsl.
struct PackPushConstants {
    int32_t C, H, W, G, cin_g, CP, M, Q4, plane, RS, XW, RH, CW, sy, sx, pad_top, pad_left, z_base;
};
struct PackedPushConstants {
    int32_t G, Q4, PH, PW, K, OH, OW, cout_g, kh, sh, dh, z_base;
};

// Tuning knobs (tests and experiments) from the environment; `def` when unset or out of range.
int env_int(const char* name, int lo, int hi, int def) {
    const char* e = std::getenv(name);
    if (!e || !*e) return def;
    const int v = std::atoi(e);
    return v >= lo && v <= hi ? v : def;
}

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
        case Conv2dAlgorithm::PackedTexel: return "packed_texel";
        case Conv2dAlgorithm::Gemm1x1: return "gemm_1x1";
        case Conv2dAlgorithm::DepthwiseTexel: return "depthwise_texel";
        case Conv2dAlgorithm::GroupedTexel: return "grouped_texel";
        case Conv2dAlgorithm::Winograd: return "winograd";
    }
    return "?";
}

namespace {
constexpr Conv2dAlgorithm kAlgorithms[] = {Conv2dAlgorithm::Auto,        Conv2dAlgorithm::DirectTiled,
                                           Conv2dAlgorithm::Depthwise,   Conv2dAlgorithm::DirectTexel,
                                           Conv2dAlgorithm::PackedTexel, Conv2dAlgorithm::Gemm1x1,
                                           Conv2dAlgorithm::DepthwiseTexel, Conv2dAlgorithm::GroupedTexel,
                                           Conv2dAlgorithm::Winograd};
}  // namespace

Conv2dAlgorithm parse_conv2d_algorithm(const std::string& s) {
    std::string names;
    for (auto a : kAlgorithms) {
        if (to_string(a) == s) return a;
        names += (names.empty() ? "" : ", ") + to_string(a);
    }
    throw Error("algorithm must be one of " + names + ", but got '" + s + "'");
}

std::vector<Conv2dAlgorithm> conv2d_algorithms() {
    std::vector<Conv2dAlgorithm> out;
    for (auto a : kAlgorithms)
        if (a != Conv2dAlgorithm::Auto) out.push_back(a);
    return out;
}

std::string to_string(StoragePrecision p) { return p == StoragePrecision::Float16 ? "fp16" : "fp32"; }

StoragePrecision parse_storage_precision(const std::string& s) {
    if (s == "fp32") return StoragePrecision::Float32;
    if (s == "fp16") return StoragePrecision::Float16;
    throw Error("storage precision must be one of fp32, fp16, but got '" + s + "'");
}

bool stores_fp16(Conv2dAlgorithm a) { return a == Conv2dAlgorithm::PackedTexel || a == Conv2dAlgorithm::Gemm1x1; }

std::string fp16_storage_unsupported_reason(const Context& ctx) {
    // The packed input is written through an RGBA16F storage texel buffer (imageStore) and read,
    // with the weights, through RGBA16F uniform texel buffers.
    const bool u = ctx.uniform_texel_format(vk::Format::eR16G16B16A16Sfloat), st = ctx.storage_texel_format(vk::Format::eR16G16B16A16Sfloat);
    if (u && st) return "";
    return std::string("fp16 storage needs R16G16B16A16_SFLOAT ") + (!u && !st ? "uniform and storage" : !u ? "uniform" : "storage") +
           " texel buffers (VK_FORMAT_FEATURE_" + (!u && !st ? "UNIFORM_TEXEL_BUFFER_BIT and _STORAGE_TEXEL_BUFFER_BIT"
                                                   : !u      ? "UNIFORM_TEXEL_BUFFER_BIT"
                                                             : "STORAGE_TEXEL_BUFFER_BIT") +
           "), which '" + ctx.info().name + "' lacks";
}

namespace {
// IEEE binary16 from binary32, rounded to nearest even (overflow to infinity, NaN kept quiet),
// with subnormals: the host-side rounding of the fp16 weights.
uint16_t half_from_float(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: infinity
    if (abs < 0x38800000u) {
        // Below 2^-14: a subnormal (or zero), in units of 2^-24, rounded to nearest even.
        if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // at most 2^-25: rounds to zero
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - static_cast<int>(abs >> 23);  // value / 2^-24 = mant * 2^(e - 126)
        const uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        return static_cast<uint16_t>(sign | (q + (rem > half || (rem == half && (q & 1u)))));
    }
    const uint32_t r = abs - 0x38000000u;  // rebias the exponent 127 -> 15 (in place, above 13 mantissa bits)
    const uint32_t q = r >> 13, rem = r & 0x1fffu;
    return static_cast<uint16_t>(sign | (q + (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))));
}

// Uploads `t` into a new texel buffer: fp32 as is, or each value rounded to fp16.
std::shared_ptr<host::TexelBuffer> upload_texels(Context& ctx, const std::vector<float>& t, bool fp16) {
    if (!fp16) {
        auto b = std::make_shared<host::TexelBuffer>(ctx, t.size() * sizeof(float));
        b->upload(t.data(), t.size() * sizeof(float));
        return b;
    }
    std::vector<uint16_t> h(t.size());
    for (size_t i = 0; i < t.size(); ++i) h[i] = half_from_float(t[i]);
    auto b = std::make_shared<host::TexelBuffer>(ctx, h.size() * sizeof(uint16_t));
    b->upload(h.data(), h.size() * sizeof(uint16_t));
    return b;
}
}  // namespace

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
    if ((a == Conv2dAlgorithm::Depthwise || a == Conv2dAlgorithm::DepthwiseTexel) && params_.options.groups != params_.in_channels)
        throw Error("Conv2d: algorithm '" + to_string(a) + "' needs groups == in_channels, but got groups=" +
                    std::to_string(params_.options.groups) + ", in_channels=" + std::to_string(params_.in_channels));
    if (a == Conv2dAlgorithm::Gemm1x1 && params_.kernel != Pair(1))
        throw Error("Conv2d: algorithm 'gemm_1x1' needs a 1x1 kernel, but got kernel_size=" + pair_str(params_.kernel));
    algorithm_ = a;
}

namespace {
// Output channels per invocation of conv2d_texel (a multiple of 4: the weights are vec4 texels).
uint32_t texel_oct(int cout_g) { return cout_g <= 4 ? 4 : 8; }
}  // namespace

namespace {

// How packed_texel, gemm_1x1 and depthwise_texel run one convolution on one input size: the pack
// pass, the convolution's tile and workgroup, the dispatch; or why they cannot.
struct PackedPlan {
    std::string reason;  // empty: it can run
    PackPushConstants pack{};
    PackedPushConstants conv{};
    int64_t packed_texels = 0, weight_texels = 0;
    uint32_t wg = 1, oct = 4, px = 1, py = 1;
    uint32_t pack_wg = 1, pack_px = 1, pack_gx = 1, pack_gy = 1;  // pack workgroups along x (logical row) and y (rows)
    int64_t pack_planes = 0;            // pack workgroups along z: images x groups x quads
    uint32_t gx = 1, gy = 1;  // workgroups over the output chunks (x + y * gx)
    int64_t total_z = 0;      // workgroups along z: images x groups x channel blocks
};

// Pixels per chunk: at most `max`, as even as possible (14 columns: 2 chunks of 7, not 8 + 6).
uint32_t even_chunk(int64_t extent, uint32_t max) {
    const int64_t n = (extent + max - 1) / max;
    return static_cast<uint32_t>((extent + n - 1) / n);
}

// Splits `groups` workgroups over x and y within maxComputeWorkGroupCount; false when they do not fit.
bool split_xy(int64_t groups, const host::DeviceInfo& info, uint32_t& gx, uint32_t& gy) {
    const int64_t x = std::min<int64_t>(std::max<int64_t>(groups, 1), info.max_workgroup_count[0]);
    const int64_t y = (groups + x - 1) / x;
    gx = static_cast<uint32_t>(x);
    gy = static_cast<uint32_t>(std::max<int64_t>(y, 1));
    return y <= info.max_workgroup_count[1];
}

// `g` may be null: only the shape-independent conditions are checked.
PackedPlan plan_packed(const Conv2dParams& params, const Conv2dGeometry* g, const host::DeviceInfo& info, Conv2dAlgorithm a) {
    PackedPlan pl;
    const auto& o = params.options;
    const int C = params.in_channels, K = params.out_channels, G = o.groups;
    const int cin_g = C / G, cout_g = K / G, kh = params.kernel.h, kw = params.kernel.w;
    const int64_t ext_h = int64_t(kh - 1) * o.dilation.h + 1, ext_w = int64_t(kw - 1) * o.dilation.w + 1;
    if (a == Conv2dAlgorithm::Gemm1x1 && params.kernel != Pair(1)) {
        pl.reason = "it needs a 1x1 kernel, but got kernel_size=" + pair_str(params.kernel);
        return pl;
    }
    if (a == Conv2dAlgorithm::DepthwiseTexel) {
        if (G != C) {
            pl.reason = "it needs groups == in_channels, but got groups=" + std::to_string(G) + ", in_channels=" + std::to_string(C);
            return pl;
        }
        if (ext_h > 16 || ext_w > 16) {
            pl.reason = "its taps live in registers: the kernel's extent ((kernel_size - 1) * dilation + 1) must be at most 16 "
                        "along each axis, but got " + pair_str(Pair(int(ext_h), int(ext_w)));
            return pl;
        }
    }
    if (a == Conv2dAlgorithm::GroupedTexel && (ext_h > 16 || ext_w > 16)) {
        pl.reason = "its input windows live in registers: the kernel's extent ((kernel_size - 1) * dilation + 1) must be at most "
                    "16 along each axis, but got " + pair_str(Pair(int(ext_h), int(ext_w)));
        return pl;
    }
    if (a == Conv2dAlgorithm::PackedTexel && ext_w > 32) {
        pl.reason = "its input window lives in registers: the kernel's extent along width ((kernel_w - 1) * dilation_w + 1) "
                    "must be at most 32, but got " + std::to_string(ext_w);
        return pl;
    }
    const uint32_t cap = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
    // CPU devices run a workgroup on one thread, its invocations in SIMD vectors of the subgroup
    // size: one vector per workgroup balances best across threads. GPUs: 64 invocations.
    uint32_t wg = info.type == "cpu" ? std::max<uint32_t>(info.subgroup_size, 1) : 64;
    wg = static_cast<uint32_t>(env_int("VKCONV_PACKED_WG", 1, 1024, static_cast<int>(wg)));
    pl.wg = std::clamp<uint32_t>(wg, 1, cap);
    // Pack pass: the same workgroup; on CPU devices 8 pixels per invocation (invocations are
    // costly there: one texel each made the pack slower than the convolution on small layers).
    pl.pack_wg = pl.wg;
    pl.pack_px = static_cast<uint32_t>(env_int("VKCONV_PACK_PX", 1, 32, info.type == "cpu" ? 8 : 1));
    if (!g) return pl;

    const int64_t N = g->n, OH = g->out_h, OW = g->out_w;
    const int64_t PHr = g->h + g->pad_top + g->pad_bottom, PWr = g->w + g->pad_left + g->pad_right;
    auto& pk = pl.pack;
    auto& pc = pl.conv;
    int64_t PH = 0, PW = 0, Q4 = 0, chunks = 0;
    pk.C = C;
    pk.H = static_cast<int32_t>(g->h);
    pk.W = static_cast<int32_t>(g->w);
    pk.pad_top = g->pad_top;
    pk.pad_left = g->pad_left;
    if (a == Conv2dAlgorithm::DepthwiseTexel || a == Conv2dAlgorithm::GroupedTexel) {
        // No pack pass: the input and weights are read through R32F views of their buffers.
        pl.px = even_chunk(OW, static_cast<uint32_t>(env_int("VKCONV_PACKED_PX", 1, 16, 8)));
        pl.py = even_chunk(OH, static_cast<uint32_t>(env_int("VKCONV_PACKED_PY", 1, 8, 4)));
        // The window and the rows it walks are resolved at specialization time: at most 64 each.
        while (pl.px > 1 && (int64_t(pl.px) - 1) * o.stride.w + ext_w > 64) --pl.px;
        while (pl.py > 1 && (int64_t(pl.py) - 1) * o.stride.h + ext_h > 64) --pl.py;
        chunks = ((OH + pl.py - 1) / pl.py) * ((OW + pl.px - 1) / pl.px);
        const bool grouped = a == Conv2dAlgorithm::GroupedTexel;
        const int64_t blocks = (cout_g + 3) / 4;
        pl.total_z = grouped ? N * G * blocks : N * K;
        pl.weight_texels = grouped ? G * blocks * cin_g * kh * kw : int64_t(K) * kh * kw;
        if (static_cast<uint64_t>(pl.weight_texels) > info.max_texel_buffer_elements || pl.weight_texels * 4 >= (int64_t(1) << 31)) {
            pl.reason = "the weights exceed maxTexelBufferElements";
            return pl;
        }
        if (!split_xy((chunks + pl.wg - 1) / pl.wg, info, pl.gx, pl.gy))
            pl.reason = "the output needs more workgroups than maxComputeWorkGroupCount allows";
        return pl;
    } else {
        Q4 = (cin_g + 3) / 4;
        const bool gemm = a == Conv2dAlgorithm::Gemm1x1;
        uint32_t oct = gemm ? (cout_g <= 4 ? 4 : cout_g <= 8 ? 8 : 16) : (cout_g <= 4 ? 4 : 8);
        oct = static_cast<uint32_t>(env_int("VKCONV_PACKED_OCT", 4, 32, static_cast<int>(oct))) / 4 * 4;
        pl.oct = oct;
        const uint32_t px_max = static_cast<uint32_t>(env_int("VKCONV_PACKED_PX", 1, 16, 8));
        if (gemm) {
            // The strided output grid, packed as one flat row: a GEMM over OH * OW pixels.
            const int64_t P = OH * OW;
            pl.px = even_chunk(P, px_max);
            chunks = (P + pl.px - 1) / pl.px;
            PH = 1;
            PW = chunks * pl.px;
            pk.RH = static_cast<int32_t>(OH);
            pk.CW = pk.XW = pk.RS = static_cast<int32_t>(OW);
            pk.sy = o.stride.h;
            pk.sx = o.stride.w;
        } else {
            pl.px = even_chunk(OW, px_max);
            // The window, (PX - 1) * SW + extent, lives in registers: at most 64 texels.
            while (pl.px > 1 && (int64_t(pl.px) - 1) * o.stride.w + ext_w > 64) --pl.px;
            const int64_t cpr = (OW + pl.px - 1) / pl.px;
            chunks = OH * cpr;
            PH = PHr;
            PW = std::max<int64_t>(PWr, (cpr * pl.px - 1) * o.stride.w + ext_w);
            pk.RH = static_cast<int32_t>(PHr);
            pk.CW = static_cast<int32_t>(PWr);
            pk.XW = pk.RS = static_cast<int32_t>(PW);
            pk.sy = pk.sx = 1;
        }
        pk.G = G;
        pk.cin_g = cin_g;
        pk.CP = cin_g;
        pk.M = 1;
        const int64_t blocks = (cout_g + oct - 1) / oct;
        pl.total_z = N * G * blocks;
        pl.weight_texels = G * blocks * kh * Q4 * kw * oct;
        pc.G = G;
        pc.cout_g = cout_g;
    }
    pl.packed_texels = N * pk.G * Q4 * PH * PW;
    pk.Q4 = static_cast<int32_t>(Q4);
    pk.plane = static_cast<int32_t>(PH * PW);
    pl.pack_planes = N * pk.G * Q4;
    pc.Q4 = static_cast<int32_t>(Q4);
    pc.PH = static_cast<int32_t>(PH);
    pc.PW = static_cast<int32_t>(PW);
    pc.K = K;
    const bool flat = a == Conv2dAlgorithm::Gemm1x1;
    pc.OH = flat ? 1 : static_cast<int32_t>(OH);
    pc.OW = static_cast<int32_t>(flat ? OH * OW : OW);
    pc.kh = kh;
    pc.sh = flat ? 1 : o.stride.h;
    pc.dh = flat ? 1 : o.dilation.h;

    // The shaders index with 32-bit ints; the packed input is written as a storage buffer and
    // read as a texel buffer.
    const uint64_t packed_bytes = static_cast<uint64_t>(pl.packed_texels) * 16;
    if (pl.packed_texels >= (int64_t(1) << 31) || static_cast<uint64_t>(pl.packed_texels) > info.max_texel_buffer_elements ||
        packed_bytes > info.max_storage_buffer_range || packed_bytes > info.max_memory_allocation_size) {
        pl.reason = "the packed input (" + std::to_string(pl.packed_texels) +
                    " RGBA32F texels) exceeds the device's texel buffer or storage buffer limits";
        return pl;
    }
    if (pl.weight_texels * 4 >= (int64_t(1) << 31) || static_cast<uint64_t>(pl.weight_texels) > info.max_texel_buffer_elements) {
        pl.reason = "the transformed weights (" + std::to_string(pl.weight_texels) + " RGBA32F texels) exceed maxTexelBufferElements";
        return pl;
    }
    // Pack: x along the logical row, y over the rows (a flat row wraps at the output width).
    const int64_t pack_rows = (PH * PW + pk.RS - 1) / pk.RS;
    pl.pack_gx = static_cast<uint32_t>((pk.XW + pl.pack_wg * pl.pack_px - 1) / (pl.pack_wg * pl.pack_px));
    pl.pack_gy = static_cast<uint32_t>(pack_rows);
    if (pl.pack_gx > info.max_workgroup_count[0] || pack_rows > info.max_workgroup_count[1] ||
        !split_xy((chunks + pl.wg - 1) / pl.wg, info, pl.gx, pl.gy)) {
        pl.reason = "the output needs more workgroups than maxComputeWorkGroupCount allows";
        return pl;
    }
    return pl;
}

}  // namespace

std::string Conv2d::unsupported_reason(Conv2dAlgorithm a, const Shape& input_shape) const {
    const auto& o = params_.options;
    switch (a) {
        case Conv2dAlgorithm::Auto:
        case Conv2dAlgorithm::DirectTiled: return "";
        case Conv2dAlgorithm::Depthwise:
            return o.groups == params_.in_channels ? "" : "it needs groups == in_channels, but got groups=" + std::to_string(o.groups) +
                                                              ", in_channels=" + std::to_string(params_.in_channels);
        case Conv2dAlgorithm::DirectTexel: {
            const auto& info = ctx_->info();
            if (!ctx_->uniform_texel_format(vk::Format::eR32Sfloat) || !ctx_->uniform_texel_format(vk::Format::eR32G32B32A32Sfloat))
                return "the device cannot read R32F and RGBA32F uniform texel buffers";
            const int cout_g = params_.out_channels / o.groups;
            const uint64_t oct = texel_oct(cout_g);
            const uint64_t blocks = (cout_g + oct - 1) / oct;
            const uint64_t weight_texels = uint64_t(o.groups) * blocks * params_.kernel.h * params_.kernel.w *
                                           (params_.in_channels / o.groups) * (oct / 4);
            const uint64_t input_texels = input_shape.empty() ? 0 : static_cast<uint64_t>(shape_numel(input_shape));
            // The shader indexes with 32-bit ints.
            if (weight_texels <= info.max_texel_buffer_elements && input_texels <= info.max_texel_buffer_elements &&
                input_texels < (uint64_t(1) << 31) && weight_texels * 4 < (uint64_t(1) << 31))
                return "";
            return "the input or the transformed weights exceed maxTexelBufferElements";
        }
        case Conv2dAlgorithm::PackedTexel:
        case Conv2dAlgorithm::Gemm1x1:
        case Conv2dAlgorithm::DepthwiseTexel:
        case Conv2dAlgorithm::GroupedTexel: {
            if (!ctx_->uniform_texel_format(vk::Format::eR32Sfloat) || !ctx_->uniform_texel_format(vk::Format::eR32G32B32A32Sfloat) ||
                !ctx_->storage_texel_format(vk::Format::eR32G32B32A32Sfloat))
                return "the device cannot read R32F and RGBA32F uniform texel buffers and write RGBA32F storage texel buffers";
            if (input_shape.empty()) return plan_packed(params_, nullptr, ctx_->info(), a).reason;
            const auto g = conv2d_geometry(params_, input_shape);
            // These bind the output, weights and bias whole (no sub-range splitting, unlike
            // direct_tiled and direct_texel): each must fit maxStorageBufferRange.
            const uint64_t range = ctx_->info().max_storage_buffer_range;
            const uint64_t out_bytes = uint64_t(g.n) * params_.out_channels * uint64_t(g.out_h) * uint64_t(g.out_w) * sizeof(float);
            if (out_bytes > range || uint64_t(params_.weight_numel()) * sizeof(float) > range)
                return "the output or the weights are larger than maxStorageBufferRange (" + std::to_string(range) + " bytes)";
            // The pack pass reads the input through an R32F texel view of its buffer.
            if (shape_numel(input_shape) >= (int64_t(1) << 31) ||
                static_cast<uint64_t>(shape_numel(input_shape)) > ctx_->info().max_texel_buffer_elements)
                return "the input has more elements than maxTexelBufferElements (or 2^31)";
            return plan_packed(params_, &g, ctx_->info(), a).reason;
        }
        case Conv2dAlgorithm::Winograd: {
            if (input_shape.empty()) return detail::winograd_unsupported_reason(*ctx_, params_, nullptr);
            const auto g = conv2d_geometry(params_, input_shape);
            return detail::winograd_unsupported_reason(*ctx_, params_, &g);
        }
    }
    return "unknown algorithm";
}

Conv2dAlgorithm Conv2d::algorithm_for(const Shape& input_shape) const {
    if (algorithm_ != Conv2dAlgorithm::Auto) {
        std::string why = unsupported_reason(algorithm_, input_shape);
        if (why.empty()) why = fp16_refusal(algorithm_);
        if (!why.empty())
            throw Error("Conv2d: algorithm '" + to_string(algorithm_) + "' cannot run " + params_.str() + " on input " +
                        shape_str(input_shape) + " on '" + ctx_->info().name + "': " + why);
        return algorithm_;
    }
    // fp16 storage requested: the algorithms that store fp16 where one can run, else the fp32
    // choice below (storage_precision_for then says Float32). Depthwise keeps the fp32 choice
    // (depthwise_texel): it reads the fp32 tensor directly, with no staging copy for fp16 to
    // shrink, and packed_texel would pad each channel to a quad (4x the traffic and work; S7 on
    // lavapipe: 13x slower).
    if (storage_precision_ == StoragePrecision::Float16 && !(params_.options.groups == params_.in_channels && params_.in_channels > 1)) {
        auto fp16_ok = [&](Conv2dAlgorithm a) { return fp16_refusal(a).empty() && supports(a, input_shape); };
        if (const auto tuned = tuned_conv2d_algorithm(*ctx_, params_, input_shape); tuned && fp16_ok(*tuned)) return *tuned;
        if (params_.kernel == Pair(1) && fp16_ok(Conv2dAlgorithm::Gemm1x1)) return Conv2dAlgorithm::Gemm1x1;
        if (fp16_ok(Conv2dAlgorithm::PackedTexel)) return Conv2dAlgorithm::PackedTexel;
    }
    // A choice measured on this device by `vkconv tune` wins over the heuristics below.
    if (const auto tuned = tuned_conv2d_algorithm(*ctx_, params_, input_shape); tuned && supports(*tuned, input_shape)) return *tuned;
    if (params_.options.groups == params_.in_channels && params_.in_channels > 1)
        return supports(Conv2dAlgorithm::DepthwiseTexel, input_shape) ? Conv2dAlgorithm::DepthwiseTexel : Conv2dAlgorithm::Depthwise;
    if (params_.kernel == Pair(1) && supports(Conv2dAlgorithm::Gemm1x1, input_shape)) return Conv2dAlgorithm::Gemm1x1;
    // Few input channels per group: the pack pass costs more than the packed fetches save
    // (measured on lavapipe: S1, S2, S3, S8 1.2-5x faster than packed_texel).
    if (params_.in_channels / params_.options.groups <= 16 && supports(Conv2dAlgorithm::GroupedTexel, input_shape))
        return Conv2dAlgorithm::GroupedTexel;
    // Winograd where the measured rule says it beats packed_texel (conv2d_winograd.cpp).
    if (!input_shape.empty() && detail::winograd_preferred(params_, conv2d_geometry(params_, input_shape)) &&
        supports(Conv2dAlgorithm::Winograd, input_shape))
        return Conv2dAlgorithm::Winograd;
    if (supports(Conv2dAlgorithm::PackedTexel, input_shape)) return Conv2dAlgorithm::PackedTexel;
    if (supports(Conv2dAlgorithm::DirectTexel, input_shape)) return Conv2dAlgorithm::DirectTexel;
    return Conv2dAlgorithm::DirectTiled;
}

std::string Conv2d::fp16_refusal(Conv2dAlgorithm a) const {
    if (storage_precision_ != StoragePrecision::Float16 || a == Conv2dAlgorithm::Auto) return "";
    if (!stores_fp16(a))
        return "it stores weights and activations in fp32 only, but fp16 storage was requested (set_storage_precision; "
               "fp16 storage is honoured by packed_texel and gemm_1x1)";
    return fp16_storage_unsupported_reason(*ctx_);
}

StoragePrecision Conv2d::storage_precision_for(const Shape& input_shape) const {
    if (storage_precision_ != StoragePrecision::Float16) return StoragePrecision::Float32;
    const auto a = algorithm_for(input_shape);
    return stores_fp16(a) && fp16_storage_unsupported_reason(*ctx_).empty() ? StoragePrecision::Float16 : StoragePrecision::Float32;
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
    // The recording holds the tensors it reads and writes (and their texel views): work that is
    // abandoned (device loss, fence timeout) or pending in an application's command buffer must
    // not see them destroyed under it.
    rec.keep_alive(input.storage());
    rec.keep_alive(output.storage());
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
        return host::BufferBinding(input.buffer().handle(), input.buffer().offset() + static_cast<uint64_t>(n0) * in_image, static_cast<uint64_t>(nc) * in_image);
    };
    auto output_range = [&](int64_t n0, int64_t nc) {
        return host::BufferBinding(output.buffer().handle(), output.buffer().offset() + static_cast<uint64_t>(n0) * out_image,
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
    if (algorithm == Conv2dAlgorithm::Winograd) {
        detail::record_winograd(rec, *ctx_, params_, fast_->winograd, version(), weight(), bias_dev, o.bias, input.shape(),
                                input_texel_view(rec, fast_->input_copy, input), output, fuse_relu);
        return;
    }
    if (algorithm == Conv2dAlgorithm::PackedTexel || algorithm == Conv2dAlgorithm::Gemm1x1 ||
        algorithm == Conv2dAlgorithm::DepthwiseTexel || algorithm == Conv2dAlgorithm::GroupedTexel) {
        record_packed(rec, algorithm, input, output, fuse_relu);
        return;
    }
    if (algorithm == Conv2dAlgorithm::DirectTexel) {
        // Weights: transformed into [groups][blocks][taps][cin_g][oct] (vec4 texels along oct)
        // once per parameter version.
        // Tuning knobs (tests and experiments): VKCONV_TEXEL_OCT (4..32, multiple of 4),
        // VKCONV_TEXEL_PX (1..16), VKCONV_TEXEL_LY (rows per workgroup), VKCONV_TEXEL_SG (0/1).
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
            rec.copy(input.buffer().handle(), input.buffer().offset() + static_cast<uint64_t>(n0) * in_image, f.input_copy->handle(), 0,
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

void Conv2d::record_packed(CommandRecorder& rec, Conv2dAlgorithm algorithm, const Tensor& input, const Tensor& output, bool fuse_relu) {
    const auto g = conv2d_geometry(params_, input.shape());
    const auto& info = ctx_->info();
    const auto pl = plan_packed(params_, &g, info, algorithm);
    if (!pl.reason.empty()) throw Error("Conv2d: algorithm '" + to_string(algorithm) + "' cannot run " + params_.str() + ": " + pl.reason);
    const auto& o = params_.options;
    const int C = params_.in_channels, K = params_.out_channels;
    const int cin_g = C / o.groups, cout_g = K / o.groups, kh = params_.kernel.h, kw = params_.kernel.w, taps = kh * kw;
    const bool dw = algorithm == Conv2dAlgorithm::DepthwiseTexel || algorithm == Conv2dAlgorithm::GroupedTexel;
    const bool grouped = algorithm == Conv2dAlgorithm::GroupedTexel;
    auto& f = *fast_;
    const uint32_t has_bias = o.bias ? 1 : 0, relu = fuse_relu ? 1 : 0;
    const uint32_t pad_mode = static_cast<uint32_t>(o.padding_mode);
    const Tensor& weight_dev = device_parameter("weight");
    const Tensor& bias_dev = o.bias ? device_parameter("bias") : weight_dev;  // unused binding when bias=False
    using host::BindingType;
    static const std::vector<BindingType> kTypes = {BindingType::UniformTexelBuffer, BindingType::UniformTexelBuffer,
                                                     BindingType::StorageBuffer, BindingType::StorageBuffer};
    const int64_t max_z = info.max_workgroup_count[2];
    if (grouped && (!f.packed_weights || f.packed_weights_version != version() || f.packed_weights_key != "grouped_texel")) {
        // [groups][blocks][cin_g][kh][kw] vec4: 4 consecutive output channels of the block.
        const auto& w = weight();
        const int blocks = (cout_g + 3) / 4;
        std::vector<float> t(static_cast<size_t>(pl.weight_texels * 4), 0.0f);
        for (int gi = 0; gi < o.groups; ++gi)
            for (int oc = 0; oc < cout_g; ++oc)
                for (int ci = 0; ci < cin_g; ++ci)
                    for (int tap = 0; tap < taps; ++tap)
                        t[static_cast<size_t>((((int64_t(gi) * blocks + oc / 4) * cin_g + ci) * taps + tap) * 4 + oc % 4)] =
                            w[static_cast<size_t>((int64_t(gi * cout_g + oc) * cin_g + ci) * taps + tap)];
        f.packed_weights = std::make_shared<host::TexelBuffer>(*ctx_, t.size() * sizeof(float));
        f.packed_weights->upload(t.data(), t.size() * sizeof(float));
        f.packed_weights_version = version();
        f.packed_weights_key = "grouped_texel";
    }
    if (dw) {
        // Straight from the input tensor's buffer (an R32F view): no pack pass. depthwise_texel
        // reads the weights' buffer too; grouped_texel its transformed copy.
        Conv2dPushConstants pc{};
        pc.N = static_cast<int32_t>(g.n);
        pc.C = C;
        pc.H = static_cast<int32_t>(g.h);
        pc.W = static_cast<int32_t>(g.w);
        pc.K = K;
        pc.OH = static_cast<int32_t>(g.out_h);
        pc.OW = static_cast<int32_t>(g.out_w);
        pc.groups = o.groups;
        pc.cin_g = cin_g;
        pc.cout_g = cout_g;
        pc.kh = kh;
        pc.kw = kw;
        pc.sh = o.stride.h;
        pc.sw = o.stride.w;
        pc.pad_top = g.pad_top;
        pc.pad_left = g.pad_left;
        pc.dh = o.dilation.h;
        pc.dw = o.dilation.w;
        if (grouped) rec.keep_alive(f.packed_weights);
        auto pipeline = ctx_->pipeline(grouped ? "conv2d_grouped_texel" : "conv2d_depthwise_texel",
                                       {pl.wg, pl.py, pl.px, static_cast<uint32_t>(kw), static_cast<uint32_t>(o.stride.w),
                                        static_cast<uint32_t>(o.dilation.w), has_bias, relu, static_cast<uint32_t>(kh),
                                        static_cast<uint32_t>(o.stride.h), static_cast<uint32_t>(o.dilation.h), pad_mode},
                                       kTypes, sizeof pc);
        const host::BufferBinding bindings[] = {
            input_texel_view(rec, fast_->input_copy, input),
            grouped ? host::BufferBinding(f.packed_weights->view(vk::Format::eR32G32B32A32Sfloat))
                    : host::BufferBinding(weight_dev.buffer().view(vk::Format::eR32Sfloat, static_cast<uint64_t>(weight_dev.numel()))),
            bias_dev.buffer(), output.buffer()};
        for (int64_t z0 = 0; z0 < pl.total_z; z0 += max_z) {
            pc.z_base = static_cast<int32_t>(z0);
            rec.dispatch(*pipeline, bindings, pc, pl.gx, pl.gy, static_cast<uint32_t>(std::min(max_z, pl.total_z - z0)));
        }
        rec.barrier();
        return;
    }

    // fp16 storage: RGBA16F weights and packed input (algorithm_for refused fp16 on a device
    // without the format for a forced algorithm, and Auto chose an fp16-storing one or fell back).
    const bool f16 = storage_precision_ == StoragePrecision::Float16 && stores_fp16(algorithm) &&
                     fp16_storage_unsupported_reason(*ctx_).empty();
    const vk::Format texel_format = f16 ? vk::Format::eR16G16B16A16Sfloat : vk::Format::eR32G32B32A32Sfloat;
    // Weights, transformed once per parameter version (and precision) into the shader's texel layout.
    const std::string key = to_string(algorithm) + "/" + std::to_string(pl.oct) + (f16 ? "/fp16" : "");
    if (!f.packed_weights || f.packed_weights_version != version() || f.packed_weights_key != key) {
        const auto& w = weight();
        std::vector<float> t(static_cast<size_t>(pl.weight_texels * 4), 0.0f);
        {
            // [G][blocks][kh][Q4][kw][4][oct/4] vec4: element (c, q, e) is output channel
            // block * oct + q * 4 + e, input channel q4 * 4 + c.
            const int oct = static_cast<int>(pl.oct), Q = oct / 4, Q4 = (cin_g + 3) / 4, blocks = (cout_g + oct - 1) / oct;
            for (int gi = 0; gi < o.groups; ++gi)
                for (int oc = 0; oc < cout_g; ++oc) {
                    const int bl = oc / oct, q = (oc % oct) / 4, e = oc % 4;
                    for (int ci = 0; ci < cin_g; ++ci)
                        for (int ky = 0; ky < kh; ++ky)
                            for (int kx = 0; kx < kw; ++kx) {
                                const int64_t idx =
                                    ((((((int64_t(gi) * blocks + bl) * kh + ky) * Q4 + ci / 4) * kw + kx) * 4 + ci % 4) * Q + q) * 4 + e;
                                t[static_cast<size_t>(idx)] =
                                    w[static_cast<size_t>((int64_t(gi * cout_g + oc) * cin_g + ci) * taps + ky * kw + kx)];
                            }
                }
        }
        // A pending recording that used the old buffer holds it (CommandRecorder::keep_alive).
        f.packed_weights = upload_texels(*ctx_, t, f16);
        f.packed_weights_version = version();
        f.packed_weights_key = key;
    }
    const uint64_t packed_bytes = static_cast<uint64_t>(pl.packed_texels) * (f16 ? 8 : 16);
    if (!f.packed_input || f.packed_input->size() < packed_bytes)
        f.packed_input = std::make_shared<host::TexelBuffer>(*ctx_, packed_bytes);
    rec.keep_alive(f.packed_weights);
    rec.keep_alive(f.packed_input);

    // Pack pass: NCHW -> NC4HW4 with the padding materialised.
    static const std::vector<BindingType> kPackTypes = {BindingType::UniformTexelBuffer, BindingType::StorageTexelBuffer};
    auto pack = ctx_->pipeline(f16 ? "pack_nc4hw4_f16" : "pack_nc4hw4", {pl.pack_wg, pad_mode, pl.pack_px}, kPackTypes,
                               sizeof(PackPushConstants));
    const host::BufferBinding pack_bindings[] = {
        input_texel_view(rec, f.input_copy, input),
        host::BufferBinding(f.packed_input->view(texel_format, static_cast<uint64_t>(pl.packed_texels)))};
    auto pk = pl.pack;
    for (int64_t z0 = 0; z0 < pl.pack_planes; z0 += max_z) {
        pk.z_base = static_cast<int32_t>(z0);
        rec.dispatch(*pack, pack_bindings, pk, pl.pack_gx, pl.pack_gy, static_cast<uint32_t>(std::min(max_z, pl.pack_planes - z0)));
    }
    rec.barrier();

    const bool flat = algorithm == Conv2dAlgorithm::Gemm1x1;
    const uint32_t kw_s = flat ? 1 : kw, sw = flat ? 1 : o.stride.w, dws = flat ? 1 : o.dilation.w;
    auto pipeline = ctx_->pipeline("conv2d_packed", {pl.wg, pl.oct, pl.px, kw_s, sw, dws, has_bias, relu}, kTypes,
                                   sizeof(PackedPushConstants));
    const host::BufferBinding bindings[] = {
        host::BufferBinding(f.packed_input->view(texel_format, static_cast<uint64_t>(pl.packed_texels))),
        host::BufferBinding(f.packed_weights->view(texel_format)), bias_dev.buffer(), output.buffer()};
    auto pc = pl.conv;
    for (int64_t z0 = 0; z0 < pl.total_z; z0 += max_z) {
        pc.z_base = static_cast<int32_t>(z0);
        rec.dispatch(*pipeline, bindings, pc, pl.gx, pl.gy, static_cast<uint32_t>(std::min(max_z, pl.total_z - z0)));
    }
    rec.barrier();
}

}  // namespace vkconv
