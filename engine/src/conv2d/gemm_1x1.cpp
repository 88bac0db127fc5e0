// conv2d/gemm_1x1.cpp: 1x1 kernels (any stride, padding, padding mode, groups) as a GEMM: the
// pack pass writes the strided output grid as one flat NC4HW4 row, and conv2d_gemm_1x1 (conv2d_packed_texel.comp) runs
// it as a register-tiled GEMM (16 output channels x 8 pixels per invocation). Stores fp16 on
// request, as packed_texel.
#include "conv2d/packed.h"

namespace vkconv::detail {

std::vector<float> packed_weight_layout(const Conv2dParams& params, std::span<const float> w, const PackedPlan& pl);

namespace {

class Gemm1x1 final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::Gemm1x1; }
    const char* name() const override { return "gemm_1x1"; }
    bool stores_fp16() const override { return true; }
    bool scales_input() const override { return true; }
    std::string params_refusal(const Conv2dParams& params) const override {
        return params.kernel == Pair(1) ? "" : "needs a 1x1 kernel, but got kernel_size=" + pair_str(params.kernel);
    }
    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        return packed_unsupported_reason(ctx, params, input_shape, algorithm());
    }
    bool auto_candidate(Context&, const Conv2dParams& params, const Shape*) const override { return params.kernel == Pair(1); }
    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override { return prepare_packed(ctx, p, *this); }
    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        record_packed(static_cast<const PackedPrepared&>(plan), io, packed_weight_layout);
    }
};

}  // namespace

const Conv2dKernel& gemm_1x1_kernel() {
    static const Gemm1x1 k;
    return k;
}

}  // namespace vkconv::detail
