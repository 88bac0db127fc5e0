// conv2d/direct_texel.cpp: conv2d_direct_texel.comp: register-tiled direct convolution reading
// the input and the weights (transformed once per weight version into [groups][blocks][taps]
// [cin_g][oct] vec4 texels) through uniform texel buffers; any convolution, where the device
// reads R32F/RGBA32F uniform texel buffers and the tensors fit maxTexelBufferElements.
// Tiles (TileOverrides): texel_oct (4..32, a multiple of 4), texel_px (1..16), texel_ly (rows
// per workgroup), texel_sg (0/1: weights shared through subgroup shuffles).
#include "conv2d/kernel.h"
#include "vkconv/internal.h"

#include <vector>

namespace vkconv::detail {
namespace {

// Output channels per invocation (a multiple of 4: the weights are vec4 texels).
uint32_t default_oct(int cout_g) { return cout_g <= 4 ? 4 : 8; }

struct DirectTexelPlan : Conv2dPlan {
    std::shared_ptr<const host::ComputePipeline> pipeline;
    std::vector<std::shared_ptr<const host::ComputePipeline>> pipelines() const override { return {pipeline}; }
    Conv2dPushConstants pc{};
    uint32_t oct = 4;
    int64_t blocks = 0, gx = 0, gy = 0, n = 0, chunk = 0;
    uint64_t in_image = 0, out_image = 0;
};

class DirectTexel final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::DirectTexel; }
    const char* name() const override { return "direct_texel"; }
    bool auto_candidate(Context&, const Conv2dParams&, const Shape*) const override { return true; }

    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        const auto& o = params.options;
        const auto& info = ctx.info();
        if (!host::of(ctx).uniform_texel_format(vk::Format::eR32Sfloat) || !host::of(ctx).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat))
            return "the device cannot read R32F and RGBA32F uniform texel buffers";
        const int cout_g = params.out_channels / o.groups;
        const uint64_t oct = default_oct(cout_g);
        const uint64_t blocks = (cout_g + oct - 1) / oct;
        const uint64_t weight_texels =
            uint64_t(o.groups) * blocks * params.kernel.h * params.kernel.w * (params.in_channels / o.groups) * (oct / 4);
        const uint64_t input_texels = !input_shape || input_shape->empty() ? 0 : static_cast<uint64_t>(shape_numel(*input_shape));
        // The shader indexes with 32-bit ints.
        if (weight_texels <= info.max_texel_buffer_elements && input_texels <= info.max_texel_buffer_elements &&
            input_texels < (uint64_t(1) << 31) && weight_texels * 4 < (uint64_t(1) << 31))
            return "";
        return "the input or the transformed weights exceed maxTexelBufferElements";
    }

    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override {
        const auto& o = p.params.options;
        const auto& info = ctx.info();
        const auto& policy = host::of(ctx).policy();
        const int cout_g = p.params.out_channels / o.groups;
        auto pl = std::make_unique<DirectTexelPlan>();
        pl->pc = conv2d_push_constants(p.params, p.g);
        pl->n = p.g.n;
        pl->chunk = p.chunk;
        pl->in_image = uint64_t(p.params.in_channels) * uint64_t(p.g.h) * uint64_t(p.g.w) * sizeof(float);
        pl->out_image = uint64_t(p.params.out_channels) * uint64_t(p.g.out_h) * uint64_t(p.g.out_w) * sizeof(float);
        pl->oct = static_cast<uint32_t>(host::tile_or(policy.tiles.texel_oct, 4, 32, static_cast<int>(default_oct(cout_g)))) / 4 * 4;
        pl->blocks = (cout_g + pl->oct - 1) / pl->oct;
        const uint32_t lx = std::min<uint32_t>(8, info.max_workgroup_size[0]);
        const uint32_t ly_max = std::min<uint32_t>(info.max_workgroup_size[1], info.max_workgroup_invocations / lx);
        const uint32_t ly = static_cast<uint32_t>(
            host::tile_or(policy.tiles.texel_ly, 1, static_cast<int>(ly_max), static_cast<int>(std::min(policy.texel_rows, ly_max))));
        // Pixels per invocation: 4 x 8 channels measured best on lavapipe (fetch-bound; see tools/bench.cpp).
        const uint32_t px = static_cast<uint32_t>(host::tile_or(policy.tiles.texel_px, 1, 16, 4));
        // Weights shared through subgroup shuffles where subgroups hold whole 8-lane rows.
        // Off by default: on lavapipe the shuffles cost more than the fetches they save (measured
        // 82 vs 72 ms on S4); kept for GPUs, where it is worth tuning. Devices without shuffles
        // get the module built without the shuffle code (they refuse one that declares it).
        const bool sg_ok = policy.subgroup_shuffle && lx == 8;
        const bool sg = sg_ok && host::tile_or(policy.tiles.texel_sg, 0, 1, 0) == 1;
        pl->pipeline = host::of(ctx).pipeline(policy.subgroup_shuffle ? "conv2d_direct_texel" : "conv2d_direct_texel_nosg",
                                              conv2d_spec(lx, ly, o.padding_mode, o.bias, p.act, {pl->oct, px, sg ? 1u : 0u}));
        pl->gx = (p.g.out_w + lx * px - 1) / (lx * px);
        pl->gy = (p.g.out_h + ly - 1) / ly;
        return pl;
    }

    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        const auto& pl = static_cast<const DirectTexelPlan&>(plan);
        const auto& params = io.params;
        const auto& o = params.options;
        auto& st = io.state;
        const int cin_g = params.in_channels / o.groups, cout_g = params.out_channels / o.groups;
        const uint64_t key = (uint64_t(algorithm()) << 32) | pl.oct;
        if (!st.weights_current(io.weight_version, key)) {
            // [groups][blocks][taps][cin_g][oct] (vec4 texels along oct).
            const uint32_t oct = pl.oct;
            const int64_t blocks = pl.blocks;
            const int taps = params.kernel.h * params.kernel.w;
            const auto& w = io.weight;
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
            st.weights = upload_texels(io.ctx, t, false);
            st.weights_version = io.weight_version;
            st.weights_key = key;
        }
        // Input: tensors' buffers are created for storage use only, so the input is copied into a
        // texel-readable buffer first (one vkCmdCopyBuffer per chunk of images).
        const uint64_t copy_bytes = static_cast<uint64_t>(pl.chunk) * pl.in_image;
        if (!st.input_copy || st.input_copy->size() < copy_bytes) st.input_copy = std::make_shared<host::TexelBuffer>(io.ctx, copy_bytes);
        auto& rec = io.rec;
        host::of(rec).keep_alive(st.weights);
        host::of(rec).keep_alive(st.input_copy);
        Conv2dPushConstants pc = pl.pc;
        for (int64_t n0 = 0; n0 < pl.n; n0 += pl.chunk) {
            const int64_t nc = std::min(pl.chunk, pl.n - n0);
            host::of(rec).copy(detail::buffer_of(io.input).handle(), detail::buffer_of(io.input).offset() + static_cast<uint64_t>(n0) * pl.in_image, st.input_copy->handle(), 0,
                     static_cast<uint64_t>(nc) * pl.in_image);
            host::of(rec).barrier();
            const host::BufferBinding bindings[] = {
                host::BufferBinding(st.input_copy->view(vk::Format::eR32Sfloat, static_cast<uint64_t>(nc) * pl.in_image / sizeof(float))),
                host::BufferBinding(st.weights->view(vk::Format::eR32G32B32A32Sfloat)), detail::buffer_of(io.bias_dev),
                host::BufferBinding(detail::buffer_of(io.output).handle(), detail::buffer_of(io.output).offset() + static_cast<uint64_t>(n0) * pl.out_image,
                                    static_cast<uint64_t>(nc) * pl.out_image)};
            pc.N = static_cast<int32_t>(nc);
            dispatch_conv(io.ctx, rec, *pl.pipeline, bindings, pc, pl.gx, pl.gy, nc * o.groups * pl.blocks);
            host::of(rec).barrier();  // also orders this chunk's reads of input_copy before the next chunk's copy
        }
    }
};

}  // namespace

const Conv2dKernel& direct_texel_kernel() {
    static const DirectTexel k;
    return k;
}

}  // namespace vkconv::detail
