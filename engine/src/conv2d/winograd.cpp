// conv2d/winograd.cpp: Winograd F(4x4, 3x3) or F(2x2, 3x3) for 3x3 kernels, stride 1,
// dilation 1, groups 1 (any padding and padding mode, batch, bias, fused ReLU), as four passes:
//   pack_nc4hw4.comp                NCHW -> NC4HW4 with the padding materialised (shared with packed_texel)
//   conv2d_winograd_input.comp      V = B^T d B per (m + 2) x (m + 2) patch
// (on CPU devices, for F(4x4) where zeros padding and rows a multiple of 4 wide allow, the input
// transform reads the NCHW input itself and there is no pack pass: on lavapipe a store costs
// several times a texel fetch, and the pack pass's stores were most of its time)
//   conv2d_winograd_gemm.comp       (m + 2)^2 batched GEMMs M = U V over the input channels
//   conv2d_winograd_output.comp     Y = A^T M A + bias (+ ReLU), NCHW
// F(4x4, 3x3) by default, F(2x2, 3x3) with TileOverrides::winograd_tile = 2 (the input and output
// passes take m as a specialization constant). The weights U = G g G^T are computed once per
// weight version (on the CPU, in double). Tiles (TileOverrides): winograd_tile (2, 4),
// winograd_oct (GEMM output channels per invocation, 4..32), winograd_tt (tiles per invocation,
// 1..16), winograd_wg (workgroup size).
#include <algorithm>
#include <array>
#include <vector>

#include "conv2d/kernel.h"
#include "vkconv/internal.h"
#include "layers_common.h"
#include "vkconv/error.h"

namespace vkconv::detail {
namespace {

// Mirrors shaders/winograd_params.glsl.
struct WinogradPushConstants {
    int32_t Q4, KQ, K, blocks, TH, TW, T, TP, PH, PW, OH, OW, z_base;
    int32_t C, H, W, pad_top, pad_left;
    int32_t part, tx_lo, tx_hi;
};

struct Grid {
    uint32_t gx = 1, gy = 1;
};

// `invocations` along a linear index, `wg` per workgroup, split over x and y within `limit`;
// false when they do not fit.
bool linear_grid(int64_t invocations, uint32_t wg, const std::array<uint32_t, 3>& limit, Grid& grid) {
    const int64_t groups = std::max<int64_t>((invocations + wg - 1) / wg, 1);
    const int64_t x = std::min<int64_t>(groups, limit[0]);
    const int64_t y = (groups + x - 1) / x;
    grid.gx = static_cast<uint32_t>(x);
    grid.gy = static_cast<uint32_t>(y);
    return y <= limit[1];
}

struct WinogradPlan : Conv2dPlan {
    std::string reason;  // empty: it can run
    PackPushConstants pack{};
    WinogradPushConstants pc{};
    uint32_t m = 2;  // output tile: F(m x m, 3x3), m = 2 or 4
    uint32_t wg = 1, oct = 8, tt = 8, pack_wg = 1, pack_px = 1, pack_gx = 1, pack_gy = 1, pack_vec4 = 0;
    bool subgroup_weights = false;  // conv2d_winograd_gemm_sg (see plan_winograd)
    uint32_t direct = 0;            // conv2d_winograd_input's DIRECT (0: after the pack pass)
    int64_t pack_planes = 0, packed_texels = 0, v_texels = 0, m_texels = 0, u_texels = 0;
    int64_t in_z = 0, gemm_z = 0, out_z = 0;
    Grid in_grid, gemm_grid, out_grid;
    // DIRECT with a padding mode other than zeros: the input transform's two parts (interior and
    // border tile columns, see conv2d_winograd_input.comp).
    bool split = false;
    Grid interior_grid, border_grid;
    std::shared_ptr<const host::ComputePipeline> pack_pipe, in_pipe, gemm_pipe, out_pipe;
    std::vector<std::shared_ptr<const host::ComputePipeline>> pipelines() const override {
        if (!pack_pipe) return {in_pipe, gemm_pipe, out_pipe};
        return {pack_pipe, in_pipe, gemm_pipe, out_pipe};
    }
    std::array<uint32_t, 3> limit{};
};

void plan_winograd(WinogradPlan& pl, Context& ctx, const Conv2dParams& params, const Conv2dGeometry* g) {
    const auto& o = params.options;
    const auto& info = ctx.info();
    if (params.kernel != Pair(3) || o.stride != Pair(1) || o.dilation != Pair(1) || o.groups != 1) {
        std::string s = "it computes 3x3 kernels with stride 1, dilation 1 and groups 1 (Winograd F(2x2 or 4x4, 3x3)), but got kernel_size=(" +
                        std::to_string(params.kernel.h) + ", " + std::to_string(params.kernel.w) + "), stride=(" +
                        std::to_string(o.stride.h) + ", " + std::to_string(o.stride.w) + "), dilation=(" +
                        std::to_string(o.dilation.h) + ", " + std::to_string(o.dilation.w) + "), groups=" + std::to_string(o.groups);
        pl.reason = s;
        return;
    }
    if (auto why = texel_formats_refusal(ctx); !why.empty()) {
        pl.reason = why;
        return;
    }
    // Workgroup: the device class's (one SIMD vector on CPU devices, 64 elsewhere) or the override.
    const auto& policy = host::of(ctx).policy();
    const auto& tiles = policy.tiles;
    const uint32_t cap = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
    const uint32_t wg = static_cast<uint32_t>(host::tile_or(tiles.winograd_wg, 1, 1024, static_cast<int>(policy.kernel_workgroup)));
    pl.wg = std::clamp<uint32_t>(wg, 1, cap);
    const int C = params.in_channels, K = params.out_channels;
    uint32_t oct = K <= 4 ? 4 : K <= 8 ? std::min(8u, policy.winograd_oct) : policy.winograd_oct;
    oct = static_cast<uint32_t>(host::tile_or(tiles.winograd_oct, 4, 32, static_cast<int>(oct))) / 4 * 4;
    pl.oct = oct;
    pl.tt = static_cast<uint32_t>(host::tile_or(tiles.winograd_tt, 1, 16, static_cast<int>(policy.winograd_tt)));
    pl.m = host::tile_or(tiles.winograd_tile, 2, 4, static_cast<int>(policy.winograd_tile)) >= 4 ? 4 : 2;
    // Fewer tiles than one invocation's tile block (a 7 x 7 output at batch 1: 4 F(4x4) tiles for
    // a block of 8) would leave the block's other FMAs on padding: the block shrinks to the tiles
    // there are, unless the count is forced (measured on lavapipe, 512->512 at 7 x 7: 1.2x faster
    // than the block of 8, and than F(2x2) with its 16 tiles).
    if (g && !tiles.winograd_tt) {
        const int64_t tiles_here = g->n * ((g->out_h + pl.m - 1) / pl.m) * ((g->out_w + pl.m - 1) / pl.m);
        if (tiles_here > 0 && tiles_here < static_cast<int64_t>(pl.tt)) pl.tt = static_cast<uint32_t>(tiles_here);
    }
    const int64_t P = int64_t(pl.m + 2) * (pl.m + 2);  // Winograd positions
    pl.pack_wg = pl.wg;
    pl.pack_px = static_cast<uint32_t>(host::tile_or(tiles.pack_px, 1, 32, static_cast<int>(policy.pack_pixels)));
    const int64_t Q4 = (C + 3) / 4, blocks = (K + oct - 1) / oct, KQ = blocks * oct / 4;
    pl.u_texels = P * blocks * Q4 * 4 * (oct / 4);
    if (pl.u_texels * 4 >= (int64_t(1) << 31) || static_cast<uint64_t>(pl.u_texels) > info.max_texel_buffer_elements) {
        pl.reason = "the transformed weights (" + std::to_string(pl.u_texels) + " RGBA32F texels) exceed maxTexelBufferElements";
        return;
    }
    if (!g) return;

    const int64_t N = g->n, OH = g->out_h, OW = g->out_w;
    const int64_t TH = (OH + pl.m - 1) / pl.m, TW = (OW + pl.m - 1) / pl.m, T = N * TH * TW;
    int64_t TP = (T + pl.tt - 1) / pl.tt * pl.tt;
    // Where the policy asks for it (CPU devices), the GEMM's lanes share their weight fetches
    // through subgroup shuffles (conv2d_winograd_gemm_sg). Its workgroup is one subgroup, and the
    // tile blocks per channel block are a multiple of it, so that a subgroup's lanes share one
    // block: the most tiles per invocation (from the class's, or the forced count) that pads T
    // by at most 1/8.
    const uint32_t S = info.subgroup_size;
    if (shares_weights(ctx, pl.wg)) {
        const uint32_t hi = pl.tt, lo = tiles.winograd_tt ? pl.tt : 2;
        for (uint32_t tt = hi; tt >= lo && !pl.subgroup_weights; --tt) {
            const int64_t span = int64_t(tt) * S, tp = (T + span - 1) / span * span;
            if (tp * 8 <= T * 9) {
                pl.subgroup_weights = true;
                pl.tt = tt;
                TP = tp;
            }
        }
    }
    // The packed plane covers every tile's (m + 2) x (m + 2) patch: rows / columns past the padded image are zero.
    const int64_t PHr = g->h + g->pad_top + g->pad_bottom, PWr = g->w + g->pad_left + g->pad_right;
    const int64_t PH = pl.m * TH + 2, PW = pl.m * TW + 2;
    pl.packed_texels = N * Q4 * PH * PW;
    pl.v_texels = P * Q4 * TP;
    pl.m_texels = P * KQ * TP;
    // The output and bias are bound whole as storage buffers; the shaders index with 32-bit ints.
    const uint64_t out_elems = uint64_t(N) * K * uint64_t(OH) * uint64_t(OW);
    if (out_elems * sizeof(float) > info.max_storage_buffer_range || out_elems >= (uint64_t(1) << 31)) {
        pl.reason = "the output is larger than maxStorageBufferRange (" + std::to_string(info.max_storage_buffer_range) + " bytes)";
        return;
    }
    const uint64_t in_elems = uint64_t(N) * C * uint64_t(g->h) * uint64_t(g->w);
    if (in_elems >= (uint64_t(1) << 31) || in_elems > info.max_texel_buffer_elements) {
        pl.reason = "the input has more elements than maxTexelBufferElements (or 2^31)";
        return;
    }
    for (const auto& [what, texels] : {std::pair<const char*, int64_t>{"packed input", pl.packed_texels},
                                       {"transformed input", pl.v_texels}, {"transformed output", pl.m_texels}}) {
        const uint64_t bytes = static_cast<uint64_t>(texels) * 16;
        if (texels >= (int64_t(1) << 31) || static_cast<uint64_t>(texels) > info.max_texel_buffer_elements ||
            bytes > info.max_storage_buffer_range || bytes > info.max_memory_allocation_size) {
            pl.reason = std::string("the ") + what + " (" + std::to_string(texels) +
                        " RGBA32F texels) exceeds the device's texel buffer or storage buffer limits";
            return;
        }
    }
    auto& pk = pl.pack;
    pk.C = C;
    pk.H = static_cast<int32_t>(g->h);
    pk.W = static_cast<int32_t>(g->w);
    pk.G = 1;
    pk.cin_g = C;
    pk.CP = C;
    pk.M = 1;
    pk.Q4 = static_cast<int32_t>(Q4);
    pk.plane = static_cast<int32_t>(PH * PW);
    pk.RS = pk.XW = static_cast<int32_t>(PW);
    pk.RH = static_cast<int32_t>(PHr);
    pk.CW = static_cast<int32_t>(PWr);
    pk.sy = pk.sx = 1;
    pk.pad_top = g->pad_top;
    pk.pad_left = g->pad_left;
    pl.pack_vec4 = pack_vec4(ctx, pk, pl.pack_px, o.padding_mode);
    // The input transform reading the input itself (CPU devices, whose pack pass takes several
    // pixels a multiple of 4 an invocation; F(4x4); rows of whole vec4s): DIRECT = 1 + the first
    // column's offset in its texel. Zeros padding masks the border taps in one dispatch; the
    // other modes split the tiles into interior and border columns (two dispatches).
    if (pl.m == 4 && pl.pack_px % 4 == 0 && g->w % 4 == 0) pl.direct = 1 + static_cast<uint32_t>((4 - g->pad_left % 4) % 4);
    pl.split = pl.direct && o.padding_mode != PaddingMode::Zeros;
    pl.pack_planes = N * Q4;
    pl.pack_gx = static_cast<uint32_t>((PW + pl.pack_wg * pl.pack_px - 1) / (pl.pack_wg * pl.pack_px));
    pl.pack_gy = static_cast<uint32_t>(PH);
    auto& pc = pl.pc;
    pc.Q4 = static_cast<int32_t>(Q4);
    pc.KQ = static_cast<int32_t>(KQ);
    pc.K = K;
    pc.blocks = static_cast<int32_t>(blocks);
    pc.TH = static_cast<int32_t>(TH);
    pc.TW = static_cast<int32_t>(TW);
    pc.T = static_cast<int32_t>(T);
    pc.TP = static_cast<int32_t>(TP);
    pc.PH = static_cast<int32_t>(PH);
    pc.PW = static_cast<int32_t>(PW);
    pc.OH = static_cast<int32_t>(OH);
    pc.OW = static_cast<int32_t>(OW);
    pc.C = C;
    pc.H = static_cast<int32_t>(g->h);
    pc.W = static_cast<int32_t>(g->w);
    pc.pad_top = g->pad_top;
    pc.pad_left = g->pad_left;
    pl.in_z = Q4;
    // Interior tile columns: the patch's columns 4 tx - pad_left .. + 5 inside [0, W).
    pc.tx_lo = (g->pad_left + 3) / 4;
    pc.tx_hi = static_cast<int32_t>(std::min<int64_t>(TW - 1, g->w - 6 + g->pad_left >= 0 ? (g->w - 6 + g->pad_left) / 4 : -1));
    const int64_t interior = std::max<int64_t>(pc.tx_hi - pc.tx_lo + 1, 0);

    pl.gemm_z = P;
    pl.out_z = (K + 3) / 4;
    const auto limit = workgroup_count_limit(ctx);
    if (pl.pack_gx > limit[0] || pl.pack_gy > limit[1] || !linear_grid(TP, pl.wg, limit, pl.in_grid) ||
        !linear_grid(N * TH * interior, pl.wg, limit, pl.interior_grid) ||
        !linear_grid(N * TH * (TW - interior) + (TP - T), pl.wg, limit, pl.border_grid) ||
        !linear_grid(TP / pl.tt * blocks, pl.wg, limit, pl.gemm_grid) || !linear_grid(T, pl.wg, limit, pl.out_grid)) {
        pl.reason = "the output needs more workgroups than maxComputeWorkGroupCount allows";
        return;
    }
    return;
}

// U = G g G^T per (output channel, input channel), in double, into the GEMM's texel layout
// [P][blocks][Q4][4][oct/4] vec4 (see conv2d_winograd_gemm.comp); P = (m + 2)^2.
std::vector<float> transform_weights(const Conv2dParams& params, std::span<const float> w, uint32_t m, uint32_t oct, int64_t texels) {
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double G4[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    const int a = static_cast<int>(m) + 2;
    auto G = [&](int i, int j) { return m == 4 ? G4[i][j] : G2[i][j]; };
    const int C = params.in_channels, K = params.out_channels, Q = static_cast<int>(oct / 4);
    const int64_t Q4 = (C + 3) / 4, blocks = (K + oct - 1) / oct;
    std::vector<float> u(static_cast<size_t>(texels * 4), 0.0f);
    for (int k = 0; k < K; ++k)
        for (int c = 0; c < C; ++c) {
            const float* g = &w[(static_cast<size_t>(k) * C + c) * 9];
            double gg[6][3];  // G g
            for (int i = 0; i < a; ++i)
                for (int j = 0; j < 3; ++j) gg[i][j] = G(i, 0) * g[j] + G(i, 1) * g[3 + j] + G(i, 2) * g[6 + j];
            const int64_t b = k / oct, j4 = (k % oct) / 4, e = k % 4;
            for (int i = 0; i < a; ++i)
                for (int j = 0; j < a; ++j) {
                    const double v = gg[i][0] * G(j, 0) + gg[i][1] * G(j, 1) + gg[i][2] * G(j, 2);
                    const int64_t pos = i * a + j;
                    const int64_t texel = (((pos * blocks + b) * Q4 + c / 4) * 4 + c % 4) * Q + j4;
                    u[static_cast<size_t>(texel * 4 + e)] = static_cast<float>(v);
                }
        }
    return u;
}


class Winograd final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::Winograd; }
    const char* name() const override { return "winograd"; }
    bool scales_input() const override { return true; }

    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        WinogradPlan pl;
        if (!input_shape || input_shape->empty()) {
            plan_winograd(pl, ctx, params, nullptr);
        } else {
            const auto g = conv2d_geometry(params, *input_shape);
            plan_winograd(pl, ctx, params, &g);
        }
        return pl.reason;
    }

    bool auto_candidate(Context&, const Conv2dParams& params, const Shape* input_shape) const override {
        // Measured on lavapipe (tools/bench.cpp rows and custom shapes, against packed_texel, on a
        // loaded machine): 1.3-3x faster for 64->64 56x56 (S4, S10), 256->256 14x14 (S5), 128->128
        // 28x28, 8x 64->64 14x14, 2x 32->64 16x16; about even for 32->32 28x28, 24->24 112x112,
        // 512->512 7x7 with F(4x4); slower with few channels (64->8 56x56, 32->32 14x14) or small
        // outputs (32->64 8x8), where the pack and transform passes dominate. Outputs down to 7 x 7
        // where both channel counts are large (C * K >= 256 * 256; F(2x2) there, see
        // plan_winograd): 256->256 and 512->512 at 7 x 7 1.3x and 1.8x faster than packed_texel
        // (ResNet's last stage). Only for a given input shape.
        if (!input_shape || input_shape->empty()) return false;
        const auto g = conv2d_geometry(params, *input_shape);
        const int64_t C = params.in_channels, K = params.out_channels, outputs = g.n * g.out_h * g.out_w;
        return C >= 32 && K >= 32 && C * K >= 2048 && (outputs >= 196 || (outputs >= 49 && C * K >= 256 * 256));
    }

    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override {
        auto pl = std::make_unique<WinogradPlan>();
        plan_winograd(*pl, ctx, p.params, &p.g);
        if (!pl->reason.empty()) throw_cannot_run(*this, p.params, pl->reason);
        const auto& o = p.params.options;
        pl->limit = workgroup_count_limit(ctx);
        const Activation none;
        // Where the pack could read 4 columns a fetch (CPU devices), the input transform of
        // F(4x4) reads the input itself, unless the input is scaled first (the pack pass's
        // factors). (F(2x2)'s tiles start 2 columns apart: their offset in a texel alternates.)
        if (p.scaled_input) pl->direct = 0, pl->split = false;
        if (!pl->direct) pl->pack_pipe = pack_pipeline(ctx, pl->pack_wg, pl->pack_px, o.padding_mode, false, p.scaled_input, pl->pack_vec4);
        pl->in_pipe = host::of(ctx).pipeline("conv2d_winograd_input", conv2d_spec(pl->wg, 1, pl->direct ? o.padding_mode : PaddingMode::Zeros,
                                                                                  false, none, {pl->m, pl->direct}));
        pl->gemm_pipe = host::of(ctx).pipeline(pl->subgroup_weights ? "conv2d_winograd_gemm_sg" : "conv2d_winograd_gemm",
                                               conv2d_spec(pl->wg, 1, PaddingMode::Zeros, false, none, {pl->oct, pl->tt, pl->wg}));
        pl->out_pipe = host::of(ctx).pipeline("conv2d_winograd_output", conv2d_spec(pl->wg, 1, PaddingMode::Zeros, o.bias, p.act,
                                                                                     {pl->m, pl->m == 4 ? vec_store(ctx, p.g.out_w, 4) : 0u}));
        return pl;
    }

    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        const auto& pl = static_cast<const WinogradPlan&>(plan);
        auto& st = io.state;
        auto& rec = io.rec;
        Context& ctx = io.ctx;
        const auto input_view = input_texel_view(rec, st.input_copy, io.input, pl.direct ? true : pl.pack_vec4 != 0);
        const uint64_t key = (uint64_t(algorithm()) << 32) | (uint64_t(pl.oct) << 8) | pl.m;
        if (!st.weights_current(io.weight_version, key)) {
            st.weights = upload_texels(ctx, transform_weights(io.params, io.weight, pl.m, pl.oct, pl.u_texels), false);
            st.weights_version = io.weight_version;
            st.weights_key = key;
        }
        auto buffer = [&](std::shared_ptr<host::TexelBuffer>& b, int64_t texels) -> host::TexelBuffer& {
            return scratch(rec, ctx, b, static_cast<uint64_t>(texels) * 16);
        };
        host::of(rec).keep_alive(st.weights);
        auto& v_buf = buffer(st.scratch[1], pl.v_texels);
        auto& m_buf = buffer(st.scratch[2], pl.m_texels);
        const host::BufferBinding v(v_buf.view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(pl.v_texels)));
        const host::BufferBinding m(m_buf.view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(pl.m_texels)));
        const host::BufferBinding u(st.weights->view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(pl.u_texels)));
        const auto& limit = pl.limit;

        // 1. Pack: NCHW -> NC4HW4, the padding (every mode) materialised, zero past the padded image
        // (DIRECT: the input transform reads the input).
        host::BufferBinding packed = input_view;
        if (!pl.direct) {
            packed = host::BufferBinding(buffer(st.scratch[0], pl.packed_texels).view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(pl.packed_texels)));
            record_pack(io, *pl.pack_pipe, input_view, packed, pl.pack, pl.pack_gx, pl.pack_gy, pl.pack_planes, limit[2]);
        }
        auto run = [&](const host::ComputePipeline& pipe, std::span<const host::BufferBinding> b, const Grid& grid, int64_t z_total) {
            dispatch_z(rec, pipe, b, pl.pc, grid.gx, grid.gy, z_total, limit[2]);
            host::of(rec).barrier();
        };
        // 2. V = B^T d B.
        {
            const host::BufferBinding b[] = {packed, host::BufferBinding(v_buf.handle(), 0, static_cast<uint64_t>(pl.v_texels) * 16)};
            if (pl.split) {
                // The interior tile columns, then the border ones (and the tiles past T).
                auto pc = pl.pc;
                pc.part = 1;
                dispatch_z(rec, *pl.in_pipe, b, pc, pl.interior_grid.gx, pl.interior_grid.gy, pl.in_z, limit[2]);
                pc.part = 2;
                dispatch_z(rec, *pl.in_pipe, b, pc, pl.border_grid.gx, pl.border_grid.gy, pl.in_z, limit[2]);
                host::of(rec).barrier();
            } else {
                run(*pl.in_pipe, b, pl.in_grid, pl.in_z);
            }
        }
        // 3. M = U V.
        {
            const host::BufferBinding b[] = {v, u, host::BufferBinding(m_buf.handle(), 0, static_cast<uint64_t>(pl.m_texels) * 16)};
            run(*pl.gemm_pipe, b, pl.gemm_grid, pl.gemm_z);
        }
        // 4. Y = A^T M A + bias (+ ReLU).
        {
            const host::BufferBinding b[] = {m, detail::buffer_of(io.bias_dev), detail::buffer_of(io.output)};
            run(*pl.out_pipe, b, pl.out_grid, pl.out_z);
        }
    }
};

}  // namespace

const Conv2dKernel& winograd_kernel() {
    static const Winograd k;
    return k;
}

}  // namespace vkconv::detail
