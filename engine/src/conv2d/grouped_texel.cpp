// conv2d/grouped_texel.cpp: conv2d_grouped_texel.comp: any groups, meant for few input channels
// per group: the NCHW input read through an R32F view of its buffer (no pack pass), 4 output
// channels x 4 rows x 8 columns per invocation; kernel extents at most 16 as depthwise_texel.
#include "conv2d/packed.h"

namespace vkconv::detail {
namespace {

// [groups][blocks][cin_g][kh][kw] vec4: 4 consecutive output channels of the block.
std::vector<float> grouped_weight_layout(const Conv2dParams& params, std::span<const float> w, const PackedPlan& pl) {
    const auto& o = params.options;
    const int cin_g = params.in_channels / o.groups, cout_g = params.out_channels / o.groups, taps = params.kernel.h * params.kernel.w;
    const int blocks = (cout_g + 3) / 4;
    std::vector<float> t(static_cast<size_t>(pl.weight_texels * 4), 0.0f);
    for (int gi = 0; gi < o.groups; ++gi)
        for (int oc = 0; oc < cout_g; ++oc)
            for (int ci = 0; ci < cin_g; ++ci)
                for (int tap = 0; tap < taps; ++tap)
                    t[static_cast<size_t>((((int64_t(gi) * blocks + oc / 4) * cin_g + ci) * taps + tap) * 4 + oc % 4)] =
                        w[static_cast<size_t>((int64_t(gi * cout_g + oc) * cin_g + ci) * taps + tap)];
    return t;
}

class GroupedTexel final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::GroupedTexel; }
    const char* name() const override { return "grouped_texel"; }
    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        return packed_unsupported_reason(ctx, params, input_shape, algorithm());
    }
    // Few input channels per group: the pack pass costs more than the packed fetches save
    // (measured on lavapipe: S1, S2, S3, S8 1.2-5x faster than packed_texel).
    bool auto_candidate(Context&, const Conv2dParams& params, const Shape*) const override {
        return params.in_channels / params.options.groups <= 16;
    }
    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override { return prepare_window(ctx, p, *this); }
    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        record_window(static_cast<const PackedPrepared&>(plan), io, grouped_weight_layout);
    }
};

}  // namespace

const Conv2dKernel& grouped_texel_kernel() {
    static const GroupedTexel k;
    return k;
}

}  // namespace vkconv::detail
