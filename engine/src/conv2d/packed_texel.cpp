// conv2d/packed_texel.cpp: pack_nc4hw4.comp + conv2d_packed_texel.comp: the input packed 4 channels
// per RGBA32F texel with its padding (every mode) materialised, then a register-tiled direct
// convolution (8 output channels, 4 for cout/groups <= 4, up to 8 pixels per invocation, a
// sliding input window along width); any groups, stride, dilation where the kernel's extent along
// width is at most 32. Stores fp16 on request (RGBA16F weights and packed input).
#include "conv2d/packed.h"

namespace vkconv::detail {

// [G][blocks][kh][Q4][kw][4][oct/4] vec4: element (c, q, e) is output channel block * oct + q * 4
// + e, input channel q4 * 4 + c. Shared with gemm_1x1 (a 1x1 kernel).
std::vector<float> packed_weight_layout(const Conv2dParams& params, std::span<const float> w, const PackedPlan& pl) {
    const auto& o = params.options;
    const int cin_g = params.in_channels / o.groups, cout_g = params.out_channels / o.groups;
    const int kh = params.kernel.h, kw = params.kernel.w, taps = kh * kw;
    std::vector<float> t(static_cast<size_t>(pl.weight_texels * 4), 0.0f);
    const int oct = static_cast<int>(pl.oct), Q = oct / 4, Q4 = (cin_g + 3) / 4, blocks = (cout_g + oct - 1) / oct;
    for (int gi = 0; gi < o.groups; ++gi)
        for (int oc = 0; oc < cout_g; ++oc) {
            const int bl = oc / oct, q = (oc % oct) / 4, e = oc % 4;
            for (int ci = 0; ci < cin_g; ++ci)
                for (int ky = 0; ky < kh; ++ky)
                    for (int kx = 0; kx < kw; ++kx) {
                        const int64_t idx = ((((((int64_t(gi) * blocks + bl) * kh + ky) * Q4 + ci / 4) * kw + kx) * 4 + ci % 4) * Q + q) * 4 + e;
                        t[static_cast<size_t>(idx)] = w[static_cast<size_t>((int64_t(gi * cout_g + oc) * cin_g + ci) * taps + ky * kw + kx)];
                    }
        }
    return t;
}

namespace {

class PackedTexel final : public Conv2dKernel {
public:
    Conv2dAlgorithm algorithm() const override { return Conv2dAlgorithm::PackedTexel; }
    const char* name() const override { return "packed_texel"; }
    bool stores_fp16() const override { return true; }
    bool scales_input() const override { return true; }
    std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const override {
        return packed_unsupported_reason(ctx, params, input_shape, algorithm());
    }
    bool auto_candidate(Context&, const Conv2dParams&, const Shape*) const override { return true; }
    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const override { return prepare_packed(ctx, p, *this); }
    void record(const Conv2dPlan& plan, Conv2dIo& io) const override {
        record_packed(static_cast<const PackedPrepared&>(plan), io, packed_weight_layout);
    }
};

}  // namespace

const Conv2dKernel& packed_texel_kernel() {
    static const PackedTexel k;
    return k;
}

}  // namespace vkconv::detail
