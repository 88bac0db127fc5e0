// conv2d/depthwise.cpp: conv2d_depthwise.comp: groups == in_channels (any channel multiplier)
// through storage buffers; 8 x 8 output pixels per workgroup.
#include "conv2d/kernel.h"

namespace vkconv::detail {
namespace {

class Depthwise final : public StorageKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::Depthwise; }
    const char* name() const override { return "depthwise"; }
    std::string params_refusal(const Conv2dParams& params) const override {
        if (params.options.groups == params.in_channels) return "";
        return "needs groups == in_channels, but got groups=" + std::to_string(params.options.groups) +
               ", in_channels=" + std::to_string(params.in_channels);
    }
    std::string unsupported_reason(Context&, const Conv2dParams& params, const Shape*) const override {
        const auto& o = params.options;
        return o.groups == params.in_channels ? "" : "it needs groups == in_channels, but got groups=" + std::to_string(o.groups) +
                                                         ", in_channels=" + std::to_string(params.in_channels);
    }
    bool auto_candidate(Context&, const Conv2dParams& params, const Shape*) const override {
        return params.options.groups == params.in_channels && params.in_channels > 1;
    }

protected:
    void plan_storage(Context& ctx, const Conv2dProblem& p, StoragePlan& pl) const override {
        const auto& o = p.params.options;
        const int cout_g = p.params.out_channels / o.groups;
        constexpr uint32_t TW = 8, TH = 8;
        const uint32_t mt = pow2_at_least(cout_g, 4);
        pl.pipeline = host::of(ctx).pipeline("conv2d_depthwise", conv2d_spec(TW, TH, o.padding_mode, o.bias, p.act, {mt}));
        pl.gx = (p.g.out_w + TW - 1) / TW;
        pl.gy = (p.g.out_h + TH - 1) / TH;
        pl.z_per_image = int64_t(p.params.in_channels) * ((cout_g + mt - 1) / mt);
    }
};

}  // namespace

const Conv2dKernel& depthwise_kernel() {
    static const Depthwise k;
    return k;
}

}  // namespace vkconv::detail
