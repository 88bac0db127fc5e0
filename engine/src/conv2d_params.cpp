// conv2d_params.cpp: nn.Conv2d's parameters (checks, repr, padding), the geometry of a
// convolution on an input size, the CPU reference, and the names of the algorithms and
// precisions (the algorithms' from the registry in conv2d/registry.cpp).
#include <cmath>
#include <sstream>

#include "conv2d/kernel.h"
#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/testing.h"

namespace vkconv {
namespace {

using detail::pair_str;

}  // namespace

// Written from F.pad's definition (one reflection / one wrap, as PyTorch allows), independently
// of the shaders' general formula in padding.glsl.
int64_t testing::reference_pad_index(int64_t i, int64_t n, PaddingMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case PaddingMode::Zeros: return -1;
        case PaddingMode::Reflect: return i < 0 ? -i : 2 * (n - 1) - i;
        case PaddingMode::Replicate: return i < 0 ? 0 : n - 1;
        case PaddingMode::Circular: return i < 0 ? i + n : i - n;
    }
    return -1;
}

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
    if (a == Conv2dAlgorithm::Auto) return "auto";
    for (const auto* k : detail::conv2d_kernels())
        if (k->algorithm() == a) return k->name();
    return "?";
}

Conv2dAlgorithm parse_conv2d_algorithm(const std::string& s) {
    if (s == "auto") return Conv2dAlgorithm::Auto;
    std::string names = "auto";
    for (const auto* k : detail::conv2d_kernels()) {
        if (s == k->name()) return k->algorithm();
        names += std::string(", ") + k->name();
    }
    throw Error("algorithm must be one of " + names + ", but got '" + s + "'");
}

std::vector<Conv2dAlgorithm> conv2d_algorithms() {
    std::vector<Conv2dAlgorithm> out;
    for (const auto* k : detail::conv2d_kernels()) out.push_back(k->algorithm());
    return out;
}

std::string conv2d_algorithm_names(const char* separator) {
    std::string names = "auto";
    for (const auto* k : detail::conv2d_kernels()) names += separator + std::string(k->name());
    return names;
}

std::string to_string(StoragePrecision p) { return p == StoragePrecision::Float16 ? "fp16" : "fp32"; }

StoragePrecision parse_storage_precision(const std::string& s) {
    if (s == "fp32") return StoragePrecision::Float32;
    if (s == "fp16") return StoragePrecision::Float16;
    throw Error("storage precision must be one of fp32, fp16, but got '" + s + "'");
}

bool stores_fp16(Conv2dAlgorithm a) { return a != Conv2dAlgorithm::Auto && detail::conv2d_kernel(a).stores_fp16(); }

std::string fp16_storage_unsupported_reason(const Context& ctx) {
    // The packed input is written through an RGBA16F storage texel buffer (imageStore) and read,
    // with the weights, through RGBA16F uniform texel buffers.
    const bool u = host::of(ctx).uniform_texel_format(vk::Format::eR16G16B16A16Sfloat), st = host::of(ctx).storage_texel_format(vk::Format::eR16G16B16A16Sfloat);
    if (u && st) return "";
    return std::string("fp16 storage needs R16G16B16A16_SFLOAT ") + (!u && !st ? "uniform and storage" : !u ? "uniform" : "storage") +
           " texel buffers (VK_FORMAT_FEATURE_" + (!u && !st ? "UNIFORM_TEXEL_BUFFER_BIT and _STORAGE_TEXEL_BUFFER_BIT"
                                                   : !u      ? "UNIFORM_TEXEL_BUFFER_BIT"
                                                             : "STORAGE_TEXEL_BUFFER_BIT") +
           "), which '" + ctx.info().name + "' lacks";
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
                            const int64_t iy = testing::reference_pad_index(oy * o.stride.h - g.pad_top + ky * o.dilation.h, g.h, o.padding_mode);
                            if (iy < 0) continue;
                            for (int64_t kx = 0; kx < kw; ++kx) {
                                const int64_t ix =
                                    testing::reference_pad_index(ox * o.stride.w - g.pad_left + kx * o.dilation.w, g.w, o.padding_mode);
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

std::vector<float> conv2d_reference(const Conv2dParams& params, const Shape& in, std::span<const float> input,
                                    std::span<const float> weight, std::span<const float> bias, const Activation& activation) {
    // ReLU (and none) through the loop nest's own clamp: the results tests have always compared.
    if (activation.is_none() || activation.kind == ActivationKind::ReLU)
        return conv2d_reference(params, in, input, weight, bias, activation.kind == ActivationKind::ReLU);
    auto out = conv2d_reference(params, in, input, weight, bias, false);
    for (auto& v : out) v = static_cast<float>(activation_reference(activation, double(v)));
    return out;
}

}  // namespace vkconv
