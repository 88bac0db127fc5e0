// conv2d/packed.cpp: the plan and recording shared by packed_texel, gemm_1x1, depthwise_texel
// and grouped_texel (see packed.h).
#include "conv2d/packed.h"

#include <algorithm>
#include <optional>

#include "vkconv/error.h"
#include "vkconv/internal.h"

namespace vkconv::detail {

PackedPlan plan_packed(const Conv2dParams& params, const Conv2dGeometry* g, const host::DeviceInfo& info, const host::DevicePolicy& policy,
                       Conv2dAlgorithm a) {
    PackedPlan pl;
    const auto& o = params.options;
    const auto& tiles = policy.tiles;
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
    const uint32_t wg = static_cast<uint32_t>(host::tile_or(tiles.packed_wg, 1, 1024, static_cast<int>(policy.kernel_workgroup)));
    pl.wg = std::clamp<uint32_t>(wg, 1, cap);
    // Pack pass: the same workgroup and the class's pixels per invocation.
    pl.pack_wg = pl.wg;
    pl.pack_px = static_cast<uint32_t>(host::tile_or(tiles.pack_px, 1, 32, static_cast<int>(policy.pack_pixels)));
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
        // The register tile: the device class's for grouped_texel (4 channels per output); 8 x 4
        // for depthwise_texel (1 channel: within every class's budget).
        const bool grouped_tile = a == Conv2dAlgorithm::GroupedTexel;
        pl.px = even_chunk(OW, static_cast<uint32_t>(host::tile_or(tiles.packed_px, 1, 16, grouped_tile ? int(policy.grouped_px) : 8)));
        pl.py = even_chunk(OH, static_cast<uint32_t>(host::tile_or(tiles.packed_py, 1, 8, grouped_tile ? int(policy.grouped_py) : 4)));
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
    }
    Q4 = (cin_g + 3) / 4;
    const bool gemm = a == Conv2dAlgorithm::Gemm1x1;
    const uint32_t oct_max = gemm ? policy.gemm_oct : policy.packed_oct;
    uint32_t oct = cout_g <= 4 ? 4 : cout_g <= 8 ? std::min(8u, oct_max) : oct_max;
    oct = static_cast<uint32_t>(host::tile_or(tiles.packed_oct, 4, 32, static_cast<int>(oct))) / 4 * 4;
    pl.oct = oct;
    const uint32_t px_max = static_cast<uint32_t>(host::tile_or(tiles.packed_px, 1, 16, static_cast<int>(policy.packed_px)));
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
    pc.C = C;
    pc.cout_g = cout_g;
    pl.packed_texels = N * pk.G * Q4 * PH * PW;
    pk.Q4 = static_cast<int32_t>(Q4);
    pk.plane = static_cast<int32_t>(PH * PW);
    pl.pack_planes = N * pk.G * Q4;
    pc.Q4 = static_cast<int32_t>(Q4);
    pc.PH = static_cast<int32_t>(PH);
    pc.PW = static_cast<int32_t>(PW);
    pc.K = K;
    pc.OH = gemm ? 1 : static_cast<int32_t>(OH);
    pc.OW = static_cast<int32_t>(gemm ? OH * OW : OW);
    pc.kh = kh;
    pc.sh = gemm ? 1 : o.stride.h;
    pc.dh = gemm ? 1 : o.dilation.h;

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

std::string packed_unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape, Conv2dAlgorithm a) {
    if (auto why = texel_formats_refusal(ctx); !why.empty()) return why;
    if (!input_shape || input_shape->empty()) return plan_packed(params, nullptr, ctx.info(), host::of(ctx).policy(), a).reason;
    const auto g = conv2d_geometry(params, *input_shape);
    // These bind the output, weights and bias whole (no sub-range splitting, unlike
    // direct_tiled and direct_texel): each must fit maxStorageBufferRange.
    const uint64_t range = ctx.info().max_storage_buffer_range;
    const uint64_t out_bytes = uint64_t(g.n) * params.out_channels * uint64_t(g.out_h) * uint64_t(g.out_w) * sizeof(float);
    if (out_bytes > range || uint64_t(params.weight_numel()) * sizeof(float) > range)
        return "the output or the weights are larger than maxStorageBufferRange (" + std::to_string(range) + " bytes)";
    // The pack pass reads the input through an R32F texel view of its buffer.
    if (shape_numel(*input_shape) >= (int64_t(1) << 31) ||
        static_cast<uint64_t>(shape_numel(*input_shape)) > ctx.info().max_texel_buffer_elements)
        return "the input has more elements than maxTexelBufferElements (or 2^31)";
    return plan_packed(params, &g, ctx.info(), host::of(ctx).policy(), a).reason;
}

namespace {

std::unique_ptr<PackedPrepared> plan_or_throw(Context& ctx, const Conv2dProblem& p, const Conv2dKernel& k) {
    auto pr = std::make_unique<PackedPrepared>();
    pr->pl = plan_packed(p.params, &p.g, ctx.info(), host::of(ctx).policy(), k.algorithm());
    if (!pr->pl.reason.empty()) throw_cannot_run(k, p.params, pr->pl.reason);
    pr->max_z = ctx.info().max_workgroup_count[2];
    return pr;
}
}  // namespace

bool shares_weights(Context& ctx, uint32_t wg) {
    const auto& policy = host::of(ctx).policy();
    return policy.subgroup_weights && policy.subgroup_shuffle && wg > 1 && wg == ctx.info().subgroup_size;
}

std::unique_ptr<Conv2dPlan> prepare_packed(Context& ctx, const Conv2dProblem& p, const Conv2dKernel& k) {
    auto pr = plan_or_throw(ctx, p, k);
    const auto& o = p.params.options;
    const auto& pl = pr->pl;
    pr->f16 = p.fp16;
    pr->weights_key = (uint64_t(k.algorithm()) << 32) | (uint64_t(pl.oct) << 1) | (p.fp16 ? 1 : 0);
    pr->pack_vec4 = pack_vec4(ctx, pl.pack, pl.pack_px, o.padding_mode);
    // gemm_1x1 on CPU devices reads the NCHW input itself, 4 pixels of a channel a fetch, where
    // its grid is the input's (stride 1, no padding, one group), whole vec4s per channel and per
    // invocation, fp32 and no input factors: no pack pass (on lavapipe the pack's stores were a
    // large part of a 1x1 convolution with few input channels).
    const auto& g = p.g;
    pr->direct_1x1 = k.algorithm() == Conv2dAlgorithm::Gemm1x1 && host::of(ctx).policy().device_class == host::DeviceClass::Cpu &&
                     o.groups == 1 && o.stride == Pair(1) && g.pad_top == 0 && g.pad_bottom == 0 && g.pad_left == 0 && g.pad_right == 0 &&
                     (g.out_h * g.out_w) % 4 == 0 && pl.px % 4 == 0 && !p.fp16 && !p.scaled_input;
    if (!pr->direct_1x1) pr->pack = pack_pipeline(ctx, pl.pack_wg, pl.pack_px, o.padding_mode, p.fp16, p.scaled_input, pr->pack_vec4);
    const bool flat = k.algorithm() == Conv2dAlgorithm::Gemm1x1;
    const uint32_t kw_s = flat ? 1 : p.params.kernel.w, sw = flat ? 1 : o.stride.w, dws = flat ? 1 : o.dilation.w;
    // The padding is materialised by the pack pass: the kernel's PAD_MODE is unused (zeros).
    // Where the policy asks for it (CPU devices) and the workgroup is one subgroup, its lanes,
    // which share the block, share their weight fetches through shuffles.
    const std::string name = std::string(flat ? "conv2d_gemm_1x1" : "conv2d_packed_texel") + (shares_weights(ctx, pl.wg) ? "_sg" : "");
    pr->conv = host::of(ctx).pipeline(name, conv2d_spec(pl.wg, 1, PaddingMode::Zeros, o.bias, p.act,
                                                             {pl.oct, pl.px, kw_s, sw, dws, pl.wg, vec_store(ctx, pl.conv.OW, pl.px), pr->direct_1x1 ? 1u : 0u}));
    return pr;
}

void record_packed(const PackedPrepared& pr, Conv2dIo& io, WeightLayout layout) {
    const auto& pl = pr.pl;
    auto& st = io.state;
    auto& rec = io.rec;
    // fp16 storage: RGBA16F weights and packed input.
    const vk::Format texel_format = pr.f16 ? vk::Format::eR16G16B16A16Sfloat : vk::Format::eR32G32B32A32Sfloat;
    // Weights, transformed once per parameter version (and precision) into the shader's texel layout.
    if (!st.weights_current(io.weight_version, pr.weights_key)) {
        st.weights = upload_texels(io.ctx, layout(io.params, io.weight, pl), pr.f16);
        st.weights_version = io.weight_version;
        st.weights_key = pr.weights_key;
    }
    host::of(rec).keep_alive(st.weights);
    // Pack pass: NCHW -> NC4HW4 with the padding materialised (direct_1x1: an RGBA32F view of
    // the input instead).
    std::optional<host::BufferBinding> input;
    if (pr.direct_1x1) {
        input = input_texel_view(rec, st.input_copy, io.input, true);
    } else {
        const uint64_t packed_bytes = static_cast<uint64_t>(pl.packed_texels) * (pr.f16 ? 8 : 16);
        auto& packed = st.scratch[0];
        if (!packed || packed->size() < packed_bytes) packed = std::make_shared<host::TexelBuffer>(io.ctx, packed_bytes);
        host::of(rec).keep_alive(packed);
        input = host::BufferBinding(packed->view(texel_format, static_cast<uint64_t>(pl.packed_texels)));
        record_pack(io, *pr.pack, input_texel_view(rec, st.input_copy, io.input, pr.pack_vec4 != 0), *input, pl.pack, pl.pack_gx,
                    pl.pack_gy, pl.pack_planes, pr.max_z);
    }

    const host::BufferBinding bindings[] = {*input,
                                            host::BufferBinding(st.weights->view(texel_format)), detail::buffer_of(io.bias_dev), detail::buffer_of(io.output)};
    dispatch_z(rec, *pr.conv, bindings, pl.conv, pl.gx, pl.gy, pl.total_z, pr.max_z);
    host::of(rec).barrier();
}

std::unique_ptr<Conv2dPlan> prepare_window(Context& ctx, const Conv2dProblem& p, const Conv2dKernel& k) {
    auto pr = plan_or_throw(ctx, p, k);
    const auto& o = p.params.options;
    const auto& pl = pr->pl;
    const bool grouped = k.algorithm() == Conv2dAlgorithm::GroupedTexel;
    pr->window = conv2d_push_constants(p.params, p.g);
    pr->weights_key = uint64_t(k.algorithm()) << 32;
    const uint32_t kw = p.params.kernel.w, kh = p.params.kernel.h;
    auto spec = conv2d_spec(pl.wg, 1, o.padding_mode, o.bias, p.act,
                            {pl.py, pl.px, kw, static_cast<uint32_t>(o.stride.w), static_cast<uint32_t>(o.dilation.w), kh,
                             static_cast<uint32_t>(o.stride.h), static_cast<uint32_t>(o.dilation.h)});
    const auto& policy = host::of(ctx).policy();
    // The weight texels shared through shuffles as packed_texel's (see prepare_packed), with the
    // taps in registers.
    const bool sg = grouped && policy.taps_in_registers && shares_weights(ctx, pl.wg);
    if (grouped) {
        spec.push_back(policy.taps_in_registers ? 1u : 0u);  // TAPS_IN_REGISTERS
        spec.push_back(pl.wg);                               // SG
    }
    spec.push_back(vec_store(ctx, pr->window.OW, pl.px));  // VEC_STORE
    // VEC4 (conv2d_window.glsl): CPU devices read the input's rows 4 columns a fetch where zeros
    // padding, W % 4 == 0 and PX * SW % 4 == 0 keep every invocation's window at one offset in
    // its texels (an R32F fetch is a gather on lavapipe).
    if (policy.device_class == host::DeviceClass::Cpu && o.padding_mode == PaddingMode::Zeros && p.g.w % 4 == 0 &&
        (int64_t(pl.px) * o.stride.w) % 4 == 0 && host::of(ctx).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat))
        pr->window_vec4 = 1 + static_cast<uint32_t>((4 - p.g.pad_left % 4) % 4);
    spec.push_back(pr->window_vec4);
    pr->conv = host::of(ctx).pipeline(grouped ? (sg ? "conv2d_grouped_texel_sg" : "conv2d_grouped_texel") : "conv2d_depthwise_texel", spec);
    return pr;
}

void record_window(const PackedPrepared& pr, Conv2dIo& io, WeightLayout layout) {
    const auto& pl = pr.pl;
    auto& st = io.state;
    auto& rec = io.rec;
    if (layout && !st.weights_current(io.weight_version, pr.weights_key)) {
        st.weights = upload_texels(io.ctx, layout(io.params, io.weight, pl), false);
        st.weights_version = io.weight_version;
        st.weights_key = pr.weights_key;
    }
    // Straight from the input tensor's buffer (an R32F view): no pack pass.
    if (layout) host::of(rec).keep_alive(st.weights);
    const host::BufferBinding bindings[] = {
        input_texel_view(rec, st.input_copy, io.input, pr.window_vec4 != 0),
        layout ? host::BufferBinding(st.weights->view(vk::Format::eR32G32B32A32Sfloat))
               : host::BufferBinding(detail::buffer_of(io.weight_dev).view(vk::Format::eR32Sfloat, static_cast<uint64_t>(io.weight_dev.numel()))),
        detail::buffer_of(io.bias_dev), detail::buffer_of(io.output)};
    dispatch_z(rec, *pr.conv, bindings, pr.window, pl.gx, pl.gy, pl.total_z, pr.max_z);
    host::of(rec).barrier();
}

}  // namespace vkconv::detail
