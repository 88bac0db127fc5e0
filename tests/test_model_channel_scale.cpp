// Model: a channel scaling x * s (s [N, C, 1, 1] or [1, C, 1, 1], the gate of a
// squeeze-and-excitation block) folded into the pack pass of the convolution that reads it, over
// every algorithm with a pack pass (gemm_1x1, packed_texel, winograd; fp16 storage too) and one
// without (grouped_texel: no folding), batch 1 and 2, a per-image and a batch-shared gate, both
// operand orders, with BatchNorm folded after the convolution or not.
//
// Tolerance: none against the same model with the Mul kept as a layer of its own (captured, so
// that it is not folded): the pack pass multiplies each value once in fp32, as binary.comp does,
// and everything else runs the same kernels, so outputs are bit-identical (NaN as NaN). Against
// the CPU reference: 1e-4 of the output's scale, the bar of test_model.cpp (fp16 storage: 4e-3,
// 2^-11 relative per stored activation and weight over sums of 64 terms).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/internal.h"
#include "vkconv/vkconv.h"

namespace vkconv {
namespace {

struct ScaleCase {
    Conv2dAlgorithm algorithm;  // of the convolution reading x * s
    int kernel;
    int channels;
    int batch;
    bool shared_gate;  // s [1, C, 1, 1] for every image
    bool gate_first;   // Mul(s, x)
    bool batch_norm;   // folded into the convolution after the scaling
    bool fp16;
    bool folds;        // whether the algorithm folds the scaling
};

std::ostream& operator<<(std::ostream& os, const ScaleCase& c) {
    return os << "algorithm=" << to_string(c.algorithm) << " kernel=" << c.kernel << " channels=" << c.channels << " batch=" << c.batch
              << " shared_gate=" << c.shared_gate << " gate_first=" << c.gate_first << " batch_norm=" << c.batch_norm
              << " fp16=" << c.fp16;
}

// input x [N, C, 9, 11] -> expand (1x1, SiLU) -> squeeze: AdaptiveAvgPool2d(1), 1x1 conv, Sigmoid
// (per image; or of the input's first image, a [1, C, 1, 1] gate shared by the batch) -> Mul -> conv (the case's
// algorithm) [-> BatchNorm2d].
std::unique_ptr<Model> gated(Context& ctx, const ScaleCase& c) {
    const int C = c.channels;
    auto m = std::make_unique<Model>(ctx, "Gated");
    m->add("expand", std::make_unique<Conv2d>(ctx, C, C, 1));
    m->add("expand_act", std::make_unique<SiLU>(ctx));
    if (c.shared_gate) {
        // One [1, C, 1, 1] gate for the batch: the squeeze of the first image of the input.
        m->add("first", std::make_unique<Split>(ctx, int64_t{1}, 0, 0), {"input"});
        m->add("pool", std::make_unique<AdaptiveAvgPool2d>(ctx, Pair(1)));
    } else {
        m->add("pool", std::make_unique<AdaptiveAvgPool2d>(ctx, Pair(1)), {"expand_act"});
    }
    m->add("fc", std::make_unique<Conv2d>(ctx, C, C, 1));
    m->add("gate", std::make_unique<Sigmoid>(ctx));
    m->add("mul", std::make_unique<Binary>(ctx, BinaryOp::Mul), c.gate_first ? std::vector<std::string>{"gate", "expand_act"}
                                                                           : std::vector<std::string>{"expand_act", "gate"});
    auto conv = std::make_unique<Conv2d>(ctx, C, C + 3, c.kernel, Conv2dOptions{.padding = c.kernel / 2, .bias = !c.batch_norm});
    conv->set_algorithm(c.algorithm);
    m->add("project", std::move(conv));
    if (c.batch_norm) m->add("bn", std::make_unique<BatchNorm2d>(ctx, C + 3));
    m->reset_parameters(17);
    if (c.batch_norm) {
        auto& bn = m->layer("bn");
        bn.set_parameter("running_mean", test::random_values(static_cast<size_t>(C + 3), 1));
        auto var = test::random_values(static_cast<size_t>(C + 3), 2);
        for (auto& v : var) v = 0.5f + std::fabs(v);
        bn.set_parameter("running_var", var);
    }
    if (c.fp16) m->set_conv2d_storage_precision(StoragePrecision::Float16);
    return m;
}

class ChannelScale : public test::VulkanTest, public ::testing::WithParamInterface<ScaleCase> {};

TEST_P(ChannelScale, FoldedIntoThePackPassBitForBit) {
    const auto& c = GetParam();
    Context& ctx = test::context();
    if (c.fp16 && !fp16_storage_unsupported_reason(ctx).empty()) GTEST_SKIP() << fp16_storage_unsupported_reason(ctx);
    auto m = gated(ctx, c);
    const Shape shape{c.batch, c.channels, 9, 11};
    if (!static_cast<Conv2d&>(m->layer("project")).supports(c.algorithm, shape)) GTEST_SKIP() << to_string(c.algorithm) << " cannot run here";
    if (c.algorithm == Conv2dAlgorithm::Auto)
        ASSERT_EQ(static_cast<Conv2d&>(m->layer("project")).algorithm_for(shape), Conv2dAlgorithm::Gemm1x1);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 5);
    const Tensor xt = Tensor::from_host(ctx, shape, x);

    const auto folded = m->forward(xt).to_host();
    const auto folded_dispatches = m->last_forward_stats().dispatches;
    std::map<std::string, HostArray> captured;
    const auto separate = m->forward(xt, {"mul"}, &captured).to_host();  // the Mul captured: a step of its own
    const auto separate_dispatches = m->last_forward_stats().dispatches;
    EXPECT_TRUE(test::bit_equal(folded, separate)) << c;
    EXPECT_EQ(folded_dispatches + (c.folds ? 1 : 0), separate_dispatches) << c;

    // The planned steps say so, and the convolution's prepared pipelines differ (the pack pass's
    // SCALE specialization): what compile reports create.
    bool planned = false, seen = false;
    m->for_each_step(shape, [&](const Model::PlannedStep& s) {
        if (s.name != "project") return;
        seen = true;
        planned = s.scaled_input;
        if (c.folds) {
            auto& conv = static_cast<Conv2d&>(s.layer);
            EXPECT_NE(detail::Conv2dAccess::prepare(conv, s.inputs[0], s.activation, true), detail::Conv2dAccess::prepare(conv, s.inputs[0], s.activation, false)) << c;
        }
    });
    EXPECT_TRUE(seen);
    EXPECT_EQ(planned, c.folds) << c;

    const auto want = m->reference_forward(shape, x);
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(test::all_close(folded, want, (c.fp16 ? 4e-3f : 1e-4f) * scale)) << c;
}

std::vector<ScaleCase> cases() {
    std::vector<ScaleCase> v;
    using A = Conv2dAlgorithm;
    for (int batch : {1, 2})
        for (bool shared : {false, true})
            for (bool first : {false, true}) {
                v.push_back({A::Gemm1x1, 1, 12, batch, shared, first, false, false, true});
                v.push_back({A::PackedTexel, 3, 6, batch, shared, first, !first, false, true});
            }
    v.push_back({A::Gemm1x1, 1, 40, 2, false, false, true, false, true});
    v.push_back({A::Gemm1x1, 1, 12, 2, false, false, false, true, true});  // fp16 storage
    v.push_back({A::Winograd, 3, 32, 1, false, false, false, false, true});
    v.push_back({A::Winograd, 3, 32, 2, true, true, true, false, true});
    v.push_back({A::Auto, 1, 24, 2, false, false, true, false, true});  // Auto takes gemm_1x1 for 1x1
    v.push_back({A::GroupedTexel, 3, 6, 2, false, false, false, false, false});
    v.push_back({A::DirectTiled, 1, 6, 1, false, true, false, false, false});
    return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, ChannelScale, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<ScaleCase>& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace vkconv
