// conv2d/implicit_gemm.cpp: conv2d_implicit_gemm.comp, a shared-memory tiled implicit GEMM for
// GPUs: per image and group, output pixels x output channels over the reduction (cin/groups) *
// kh * kw, the im2col matrix gathered while loading (every padding mode, stride, dilation,
// groups), slices double-buffered through shared memory, a TM x TN register tile per invocation.
// Storage buffers only (the tensors and weights as they are: no pack pass, no weight copy), fp32
// storage (fp16 storage requests are refused by Conv2d, as for every fp32-only kernel).
#include <algorithm>

#include "conv2d/kernel.h"

namespace vkconv::detail {
namespace {

// Its Conv2dAlgorithm value: the registry names it (to_string, parsing, the CLI and the tests
// go through the name), so it needs no enumerator in the public header; far above the named
// values so that a value added there cannot collide.
constexpr auto kImplicitGemm = static_cast<Conv2dAlgorithm>(0x100);

// The workgroup tile: BM pixels x BN channels, BK reduction elements per step, TM x TN outputs
// per invocation.
struct GemmTiles {
    uint32_t bm, bn, bk, tm, tn;
    uint32_t invocations() const { return (bm / tm) * (bn / tn); }
    uint32_t shared_bytes() const { return 2 * bk * (bm + bn) * static_cast<uint32_t>(sizeof(float)); }
};

// Whether the shader's index maps hold for `t` (see its header) and the device can run it.
bool fits(const GemmTiles& t, const host::DeviceInfo& info) {
    if (t.tm == 0 || t.tn == 0 || t.bm % t.tm || t.bn % t.tn || t.bk % 4) return false;
    const uint32_t wg = t.invocations();
    // One A pixel per invocation (WG a multiple of BM, BK a multiple of WG / BM) and whole B quads.
    if (wg % t.bm || t.bk % (wg / t.bm) || (t.bk * t.bn) % (4 * wg)) return false;
    return wg <= info.max_workgroup_invocations && wg <= info.max_workgroup_size[0] && t.shared_bytes() <= info.max_shared_memory;
}

// The device class's tile (host/device_policy.h: VKCONV_TILE_CLASS / TileOverrides::tile_class
// picks another class's), narrowed to the output channels and pixels (`pixels` 0: unknown),
// within the device's limits: the tile every Vulkan device can run (64 invocations, 8 KiB of
// shared memory) where the class's does not fit.
GemmTiles choose_tiles(const host::DevicePolicy& policy, const host::DeviceInfo& info, int cout_g, int64_t pixels) {
    GemmTiles t{policy.gemm_bm, policy.gemm_bn, policy.gemm_bk, policy.gemm_tm, policy.gemm_tn};
    if (!fits(t, info)) return GemmTiles{32, 32, 16, 4, 4};
    // Few output channels or pixels: a narrower tile wastes fewer invocations, where the maps
    // still hold and the workgroup stays whole subgroups.
    const uint32_t sg = std::max<uint32_t>(info.subgroup_size, 1);
    auto narrow = [&](uint32_t GemmTiles::*extent, int64_t need) {
        while (t.*extent > 16 && int64_t(t.*extent / 2) >= need) {
            GemmTiles h = t;
            h.*extent /= 2;
            if (!fits(h, info) || h.invocations() % sg) break;
            t = h;
        }
    };
    narrow(&GemmTiles::bn, cout_g);
    if (pixels > 0) narrow(&GemmTiles::bm, pixels);
    return t;
}

class ImplicitGemm final : public StorageKernel {
public:
    Conv2dAlgorithm algorithm() const override { return kImplicitGemm; }
    const char* name() const override { return "implicit_gemm"; }
    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape*) const override {
        const auto t = choose_tiles(host::of(ctx).policy(), ctx.info(), params.out_channels / params.options.groups, 0);
        if (!fits(t, ctx.info()))
            return "its smallest tile needs " + std::to_string(t.invocations()) + " invocations and " +
                   std::to_string(t.shared_bytes()) + " bytes of shared memory per workgroup, more than the device allows";
        return "";
    }
    // GPU classes (DevicePolicy::implicit_gemm_auto), dense convolutions with a reduction of 64
    // or more and 32 or more output channels, where Auto would not take winograd (kept where it
    // is picked today). 1x1 kernels stay with gemm_1x1 (earlier in the table), depthwise and
    // grouped ones with their kernels.
    bool auto_candidate(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        if (!host::of(ctx).policy().implicit_gemm_auto || params.options.groups != 1) return false;
        if (int64_t(params.in_channels) * params.kernel.h * params.kernel.w < 64 || params.out_channels < 32) return false;
        const auto& winograd = conv2d_kernel(Conv2dAlgorithm::Winograd);
        return !(winograd.auto_candidate(ctx, params, input_shape) && winograd.unsupported_reason(ctx, params, input_shape).empty());
    }

protected:
    void plan_storage(Context& ctx, const Conv2dProblem& p, StoragePlan& pl) const override {
        if (auto why = unsupported_reason(ctx, p.params, &p.input_shape); !why.empty()) throw_cannot_run(*this, p.params, why);
        const auto& o = p.params.options;
        const int cout_g = p.params.out_channels / o.groups;
        const int64_t red = int64_t(p.params.in_channels / o.groups) * p.params.kernel.h * p.params.kernel.w;
        const auto t = choose_tiles(host::of(ctx).policy(), ctx.info(), cout_g, p.g.out_h * p.g.out_w);
        pl.pipeline = host::of(ctx).pipeline("conv2d_implicit_gemm",
                                   conv2d_spec(t.invocations(), 1, o.padding_mode, o.bias, p.act,
                                               {t.bm, t.bn, t.bk, t.tm, t.tn, static_cast<uint32_t>(p.params.kernel.h),
                                                static_cast<uint32_t>(p.params.kernel.w), red % 4 == 0 ? 1u : 0u}));
        pl.gx = (p.g.out_h * p.g.out_w + t.bm - 1) / t.bm;
        pl.gy = (cout_g + t.bn - 1) / t.bn;
        pl.z_per_image = o.groups;
    }
};

}  // namespace

const Conv2dKernel& implicit_gemm_kernel() {
    static const ImplicitGemm k;
    return k;
}

}  // namespace vkconv::detail
