// Conv2d with a fused activation (shaders/conv2d_epilogue.glsl): every algorithm of the registry
// x every vkconv::ActivationKind (with non-default alpha / beta where the kind has them), with and
// without bias, against the CPU reference: the convolution (double accumulation, rounded to fp32)
// followed by activation_reference. Also: the layer API (can_fuse_activation,
// record_with_activation) and the ReLU fusion staying the same as set_fused_relu.
//
// Tolerance, per output: L * t_conv + 1e-5 * max(1, |want|), where t_conv is the fp32
// summation bound of the convolution (test::fp32_sum_tolerance), L = 1.5 bounds the slope of
// every kind here (the largest: hardswish's 1.5 at x = 3; ELU's alpha and LeakyReLU's slope are
// at most 1.5), and the second term covers the activation's own fp32 evaluation on the device
// (exp within 3 + 2|x| ulp as Vulkan allows, tanh and erf from exp, erf's 1.5e-7 approximation).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <sstream>

#include "support/test_support.h"

namespace vkconv {
namespace {

const Activation kActivations[] = {
    Activation::none(),
    Activation::relu(),
    Activation::hardtanh(-0.5f, 0.75f),
    Activation::relu6(),
    Activation::leaky_relu(0.1f),
    Activation::elu(1.5f),
    Activation::of(ActivationKind::Sigmoid),
    Activation::of(ActivationKind::Tanh),
    Activation::of(ActivationKind::SiLU),
    Activation::of(ActivationKind::Hardswish),
    Activation::of(ActivationKind::Hardsigmoid),
    Activation::of(ActivationKind::GELU),
    Activation::of(ActivationKind::GELUTanh),
    Activation::of(ActivationKind::Erf),
};

struct ActivationCase {
    Conv2dAlgorithm algorithm;
    Activation act;
    bool bias;
    std::string str() const {
        std::ostringstream s;
        s << "algorithm=" << to_string(algorithm) << " activation=" << to_string(act.kind) << "(alpha=" << act.alpha
          << ", beta=" << act.beta << ") bias=" << bias;
        return s.str();
    }
};
void PrintTo(const ActivationCase& c, std::ostream* os) { *os << c.str(); }

class Conv2dActivation : public test::VulkanTest, public ::testing::WithParamInterface<ActivationCase> {};

// The first of these convolutions (5 -> 8 channels, 2 x 5 x 7 input, a non-square output) that
// `a` can run on this device: 3x3 dense, 3x3 depthwise (5 -> 10), 1x1 dense; null when none.
std::unique_ptr<Conv2d> convolution_for(Conv2dAlgorithm a, bool bias, Shape& shape) {
    struct Try {
        int out, kernel, groups;
    };
    for (const Try t : {Try{8, 3, 1}, Try{10, 3, 5}, Try{8, 1, 1}}) {
        auto conv = std::make_unique<Conv2d>(test::context(), 5, t.out, t.kernel,
                                             Conv2dOptions{.padding = t.kernel / 2, .groups = t.groups, .bias = bias});
        shape = {2, 5, 9, 11};
        if (conv->supports(a, shape)) return conv;
    }
    return nullptr;
}

TEST_P(Conv2dActivation, MatchesReference) {
    const auto& c = GetParam();
    Shape shape;
    auto conv = convolution_for(c.algorithm, c.bias, shape);
    if (!conv) GTEST_SKIP() << to_string(c.algorithm) << " runs none of the test's convolutions on this device";
    const auto& p = conv->params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    // Inputs in [-2, 2): the activations' interesting ranges (hardswish's knees at +-3 are reached by the sums).
    auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), seed);
    for (auto& v : x) v *= 2.0f;
    conv->set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.bias) conv->set_bias(test::random_values(static_cast<size_t>(p.out_channels), seed + 2));
    conv->set_algorithm(c.algorithm);
    conv->set_fused_activation(c.act);
    ASSERT_TRUE(conv->can_fuse_activation(c.act));

    const auto got = conv->forward(Tensor::from_host(test::context(), shape, x)).to_host();
    const auto want = conv2d_reference(p, shape, x, conv->weight(), conv->bias(), c.act);
    auto abs_of = [](std::vector<float> v) { for (auto& e : v) e = std::fabs(e); return v; };
    const auto abs_sums = conv2d_reference(p, shape, abs_of(x), abs_of(conv->weight()), abs_of(conv->bias()));
    auto tol = test::fp32_sum_tolerance(abs_sums, int64_t(p.in_channels / p.options.groups) * p.kernel.h * p.kernel.w);
    for (size_t i = 0; i < tol.size(); ++i) tol[i] = 1.5f * tol[i] + 1e-5f * std::max(1.0f, std::fabs(want[i]));
    EXPECT_TRUE(test::all_close(got, want, tol)) << c.str() << " " << p.str();
    // The layer's reference applies the fused activation too.
    const auto layer_ref = conv->reference(shape, x);
    EXPECT_EQ(layer_ref, want) << c.str();
}

std::vector<ActivationCase> cases() {
    std::vector<ActivationCase> out;
    for (auto a : conv2d_algorithms())
        for (const auto& act : kActivations)
            for (bool bias : {true, false})
                if (bias || act.kind == ActivationKind::ReLU || act.kind == ActivationKind::GELU) out.push_back({a, act, bias});
    return out;
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithmAndKind, Conv2dActivation, ::testing::ValuesIn(cases()));

class Conv2dActivationApi : public test::VulkanTest {};

// record_with_activation (what a model calls when it fuses) gives what forward() with the
// activation set gives, and ReLU through set_fused_relu is the ReLU activation.
TEST_F(Conv2dActivationApi, RecordWithActivationMatchesForward) {
    Context& ctx = test::context();
    Conv2d conv(ctx, 3, 4, 3, {.padding = 1});
    conv.reset_parameters(7);
    const Shape shape{1, 3, 6, 5};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 8);
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    for (const auto& act : kActivations) {
        Tensor y(ctx, conv.output_shape(shape));
        {
            CommandRecorder rec(ctx);
            conv.record_with_activation(rec, std::span(&xt, 1), y, act);
            rec.submit_and_wait();
        }
        conv.set_fused_activation(act);
        EXPECT_EQ(y.to_host(), conv.forward(xt).to_host()) << to_string(act.kind);
    }
    conv.set_fused_relu(true);
    EXPECT_EQ(conv.fused_activation(), Activation::relu());
    EXPECT_TRUE(conv.fused_relu());
    conv.set_fused_activation(Activation::elu());
    EXPECT_FALSE(conv.fused_relu());
}

}  // namespace
}  // namespace vkconv
