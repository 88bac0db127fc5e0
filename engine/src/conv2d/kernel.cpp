// conv2d/kernel.cpp: helpers shared by the convolution kernels (see kernel.h).
#include "conv2d/kernel.h"
#include "vkconv/internal.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <sstream>
#include <vector>

#include "layers_common.h"
#include "vkconv/error.h"

namespace vkconv::detail {

// Through a stream: GCC 12 warns (-Wrestrict, a false positive) on the equivalent string sums.
std::string pair_str(Pair p) {
    std::ostringstream s;
    s << "(" << p.h << ", " << p.w << ")";
    return s.str();
}

void throw_cannot_run(const Conv2dKernel& k, const Conv2dParams& params, const std::string& reason) {
    throw Error("Conv2d: algorithm '" + std::string(k.name()) + "' cannot run " + params.str() + ": " + reason);
}

std::vector<uint32_t> conv2d_spec(uint32_t wg_x, uint32_t wg_y, PaddingMode pad, bool bias, const Activation& act,
                                  std::initializer_list<uint32_t> tiles) {
    std::vector<uint32_t> s = {wg_x, wg_y, static_cast<uint32_t>(pad), bias ? 1u : 0u, static_cast<uint32_t>(act.kind),
                               std::bit_cast<uint32_t>(act.alpha), std::bit_cast<uint32_t>(act.beta)};
    s.insert(s.end(), tiles);
    return s;
}

Conv2dPushConstants conv2d_push_constants(const Conv2dParams& params, const Conv2dGeometry& g) {
    const auto& o = params.options;
    Conv2dPushConstants pc{};
    pc.N = static_cast<int32_t>(g.n);
    pc.C = params.in_channels;
    pc.H = static_cast<int32_t>(g.h);
    pc.W = static_cast<int32_t>(g.w);
    pc.K = params.out_channels;
    pc.OH = static_cast<int32_t>(g.out_h);
    pc.OW = static_cast<int32_t>(g.out_w);
    pc.groups = o.groups;
    pc.cin_g = params.in_channels / o.groups;
    pc.cout_g = params.out_channels / o.groups;
    pc.kh = params.kernel.h;
    pc.kw = params.kernel.w;
    pc.sh = o.stride.h;
    pc.sw = o.stride.w;
    pc.pad_top = g.pad_top;
    pc.pad_left = g.pad_left;
    pc.dh = o.dilation.h;
    pc.dw = o.dilation.w;
    return pc;
}

void dispatch_conv(Context& ctx, CommandRecorder& rec, const host::ComputePipeline& pipeline, std::span<const host::BufferBinding> bindings,
                   Conv2dPushConstants pc, int64_t gx, int64_t gy, int64_t gz) {
    split_dispatch({gx, gy, gz}, workgroup_count_limit(ctx), [&](auto base, auto count) {
        pc.x_base = base[0];
        pc.y_base = base[1];
        pc.z_base = base[2];
        host::of(rec).dispatch(pipeline, bindings, pc, count[0], count[1], count[2]);
    });
}

void init_storage_plan(StoragePlan& pl, const Conv2dProblem& p) {
    pl.pc = conv2d_push_constants(p.params, p.g);
    pl.n = p.g.n;
    pl.chunk = p.chunk;
    pl.in_image = uint64_t(p.params.in_channels) * uint64_t(p.g.h) * uint64_t(p.g.w) * sizeof(float);
    pl.out_image = uint64_t(p.params.out_channels) * uint64_t(p.g.out_h) * uint64_t(p.g.out_w) * sizeof(float);
}

void record_storage(const StoragePlan& pl, Conv2dIo& io) {
    const Tensor& input = io.input;
    const Tensor& output = io.output;
    Conv2dPushConstants pc = pl.pc;
    for (int64_t n0 = 0; n0 < pl.n; n0 += pl.chunk) {
        const int64_t nc = std::min(pl.chunk, pl.n - n0);
        const host::BufferBinding bindings[] = {
            host::BufferBinding(detail::buffer_of(input).handle(), detail::buffer_of(input).offset() + static_cast<uint64_t>(n0) * pl.in_image, static_cast<uint64_t>(nc) * pl.in_image),
            detail::buffer_of(io.weight_dev), detail::buffer_of(io.bias_dev),
            host::BufferBinding(detail::buffer_of(output).handle(), detail::buffer_of(output).offset() + static_cast<uint64_t>(n0) * pl.out_image, static_cast<uint64_t>(nc) * pl.out_image)};
        pc.N = static_cast<int32_t>(nc);
        dispatch_conv(io.ctx, io.rec, *pl.pipeline, bindings, pc, pl.gx, pl.gy, nc * pl.z_per_image);
    }
    host::of(io.rec).barrier();
}

uint32_t pow2_at_least(int64_t v, uint32_t cap) {
    uint32_t p = 1;
    while (p < v && p < cap) p *= 2;
    return p;
}

uint32_t even_chunk(int64_t extent, uint32_t max) {
    const int64_t n = (extent + max - 1) / max;
    return static_cast<uint32_t>((extent + n - 1) / n);
}

bool split_xy(int64_t groups, const host::DeviceInfo& info, uint32_t& gx, uint32_t& gy) {
    const int64_t x = std::min<int64_t>(std::max<int64_t>(groups, 1), info.max_workgroup_count[0]);
    const int64_t y = (groups + x - 1) / x;
    gx = static_cast<uint32_t>(x);
    gy = static_cast<uint32_t>(std::max<int64_t>(y, 1));
    return y <= info.max_workgroup_count[1];
}

std::shared_ptr<const host::ComputePipeline> pack_pipeline(Context& ctx, uint32_t wg, uint32_t px, PaddingMode mode, bool fp16,
                                                           bool scaled, uint32_t vec4) {
    return host::of(ctx).pipeline(fp16 ? "pack_nc4hw4_f16" : "pack_nc4hw4",
                                  conv2d_spec(wg, 1, mode, false, Activation{}, {px, scaled ? 1u : 0u, vec4}));
}

uint32_t pack_vec4(Context& ctx, const PackPushConstants& pk, uint32_t px, PaddingMode mode) {
    // Several pixels per invocation (CPU devices' pack_pixels): on lavapipe the R32F reads are
    // AVX2 gathers, the pack's largest cost where gathers are slow (AMD Zen).
    (void)ctx;
    if (mode != PaddingMode::Zeros || pk.sx != 1 || pk.W % 4 != 0 || px % 4 != 0) return 0;
    return 1 + static_cast<uint32_t>(((4 - pk.pad_left % 4) % 4));
}

uint32_t vec_store(Context& ctx, int64_t row, uint32_t px) {
    return host::of(ctx).policy().device_class == host::DeviceClass::Cpu && row % 4 == 0 && px % 4 == 0 ? 1u : 0u;
}

void record_pack(Conv2dIo& io, const host::ComputePipeline& pipeline, const host::BufferBinding& input_view,
                 const host::BufferBinding& packed, PackPushConstants pc, uint32_t gx, uint32_t gy, int64_t planes, int64_t max_z) {
    // Unscaled, the factors' binding is unused: the input's buffer stands in.
    const Tensor* s = io.input_scale;
    pc.scale_n = s && s->shape()[0] != 1 ? static_cast<int32_t>(io.params.in_channels) : 0;
    if (s) host::of(io.rec).keep_alive(detail::storage_of(*s));
    const host::BufferBinding b[] = {input_view, packed, s ? host::BufferBinding(detail::buffer_of(*s)) : host::BufferBinding(detail::buffer_of(io.input))};
    dispatch_z(io.rec, pipeline, b, pc, gx, gy, planes, max_z);
    host::of(io.rec).barrier();
}

host::BufferBinding input_texel_view(CommandRecorder& rec, std::shared_ptr<host::TexelBuffer>& input_copy, const Tensor& input,
                                     bool rgba) {
    const auto format = rgba ? vk::Format::eR32G32B32A32Sfloat : vk::Format::eR32Sfloat;
    const uint64_t texels = static_cast<uint64_t>(input.numel()) / (rgba ? 4 : 1);
    if (detail::buffer_of(input).texel_views()) return host::BufferBinding(detail::buffer_of(input).view(format, texels));
    Context& ctx = host::of(rec).context().facade();
    if (!input_copy || input_copy->size() < input.bytes()) input_copy = std::make_shared<host::TexelBuffer>(ctx, input.bytes());
    host::of(rec).keep_alive(input_copy);
    host::of(rec).copy(detail::buffer_of(input).handle(), detail::buffer_of(input).offset(), input_copy->handle(), 0, input.bytes());
    host::of(rec).barrier();
    return host::BufferBinding(input_copy->view(format, texels));
}

host::TexelBuffer& scratch(CommandRecorder& rec, Context& ctx, std::shared_ptr<host::TexelBuffer>& b, uint64_t bytes) {
    if (!b || b->size() < bytes) b = std::make_shared<host::TexelBuffer>(ctx, bytes);
    host::of(rec).keep_alive(b);
    return *b;
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
}  // namespace

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

std::string texel_formats_refusal(Context& ctx) {
    if (!host::of(ctx).uniform_texel_format(vk::Format::eR32Sfloat) || !host::of(ctx).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat) ||
        !host::of(ctx).storage_texel_format(vk::Format::eR32G32B32A32Sfloat))
        return "the device cannot read R32F and RGBA32F uniform texel buffers and write RGBA32F storage texel buffers";
    return "";
}

}  // namespace vkconv::detail
