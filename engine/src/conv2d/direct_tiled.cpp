// conv2d/direct_tiled.cpp: conv2d_direct_tiled.comp, the portable fallback: storage buffers
// only, any convolution (dense and grouped); 8 x 8 output pixels per workgroup, the weights of a
// block of output channels staged in shared memory.
#include "conv2d/kernel.h"

namespace vkconv::detail {
namespace {

class DirectTiled final : public StorageKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::DirectTiled; }
    const char* name() const override { return "direct_tiled"; }
    std::string unsupported_reason(Context&, const Conv2dParams&, const Shape*) const override { return ""; }
    bool auto_candidate(Context&, const Conv2dParams&, const Shape*) const override { return true; }

protected:
    void plan_storage(Context& ctx, const Conv2dProblem& p, StoragePlan& pl) const override {
        const auto& o = p.params.options;
        const int cout_g = p.params.out_channels / o.groups;
        // Tile: 8 x 8 pixels fits every device (Vulkan guarantees 128 invocations and 128 along x/y).
        constexpr uint32_t TW = 8, TH = 8;
        const uint32_t oct = pow2_at_least(cout_g, 8);
        // Weight chunk in shared memory: at most 16 KiB (the smallest maxComputeSharedMemorySize Vulkan allows).
        const uint32_t shared_budget = std::min<uint32_t>(ctx.info().max_shared_memory, 16384);
        const uint32_t kchunk = std::min<uint32_t>(64, shared_budget / (oct * sizeof(float)));
        pl.pipeline = host::of(ctx).pipeline("conv2d_direct_tiled", conv2d_spec(TW, TH, o.padding_mode, o.bias, p.act, {oct, kchunk}));
        pl.gx = (p.g.out_w + TW - 1) / TW;
        pl.gy = (p.g.out_h + TH - 1) / TH;
        pl.z_per_image = int64_t(o.groups) * ((cout_g + oct - 1) / oct);
    }
};

}  // namespace

const Conv2dKernel& direct_tiled_kernel() {
    static const DirectTiled k;
    return k;
}

}  // namespace vkconv::detail
