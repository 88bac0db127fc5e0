// conv2d/depthwise_texel.cpp: conv2d_depthwise_texel.comp: groups == in_channels (any channel
// multiplier), reading the input and the weights straight from their buffers through R32F texel
// views; one channel x 4 rows x 8 columns per invocation, the taps in registers; kernel extents,
// (k - 1) * dilation + 1, at most 16 along each axis.
#include "conv2d/packed.h"

namespace vkconv::detail {
namespace {

class DepthwiseTexel final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::DepthwiseTexel; }
    const char* name() const override { return "depthwise_texel"; }
    std::string params_refusal(const Conv2dParams& params) const override {
        if (params.options.groups == params.in_channels) return "";
        return "needs groups == in_channels, but got groups=" + std::to_string(params.options.groups) +
               ", in_channels=" + std::to_string(params.in_channels);
    }
    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        return packed_unsupported_reason(ctx, params, input_shape, algorithm());
    }
    bool auto_candidate(Context&, const Conv2dParams& params, const Shape*) const override {
        return params.options.groups == params.in_channels && params.in_channels > 1;
    }
    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override { return prepare_window(ctx, p, *this); }
    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        record_window(static_cast<const PackedPrepared&>(plan), io, nullptr);  // the weights as they are
    }
};

}  // namespace

const Conv2dKernel& depthwise_texel_kernel() {
    static const DepthwiseTexel k;
    return k;
}

}  // namespace vkconv::detail
