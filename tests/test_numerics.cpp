// Numerics: NaN and +-inf propagate as in PyTorch through Conv2d (every algorithm, fused ReLU
// or not), ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Linear, Softmax and BatchNorm2d.
// Two kinds of checks:
//   - small cases whose expected outputs were computed with torch 1.13 (CPU) and are written
//     here (the comment above each gives the PyTorch call);
//   - sweeps with NaN / +inf / -inf scattered through random inputs, against the CPU references
//     (NaN must match NaN, inf must match the same inf, finite values within the fp32 bound).
// GLSL's max()/min() leave NaN undefined; the shaders use explicit comparisons (layers_common.glsl,
// activation.glsl through conv2d_epilogue.glsl), which these tests pin down.
//
// Not covered on purpose: an infinite *weight* under zero padding. PyTorch itself disagrees
// between its kernels there (dense conv2d multiplies the padded zeros: 0 * inf = NaN at the
// border; depthwise skips them: inf), and vkconv follows the padding-skipping definition of every
// reference; the weight sweeps below use padding 0 or non-zero padding modes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class Numerics : public test::VulkanTest {};

// Equal as PyTorch prints them: NaN matches NaN, infinities and zeros (with sign) match exactly,
// finite values within `tol`.
::testing::AssertionResult same(std::span<const float> got, std::span<const float> want, float tol = 1e-5f) {
    return test::each_element(got, want, [&](size_t, float g, float w) {
        if (std::isnan(w)) return std::isnan(g);
        if (std::isinf(w)) return g == w;
        if (w == 0.0f) return g == 0.0f && std::signbit(g) == std::signbit(w);
        return std::isfinite(g) && std::fabs(g - w) <= tol * std::max(1.0f, std::fabs(w));
    });
}

std::vector<float> run(Layer& layer, const Shape& shape, const std::vector<float>& x) {
    return layer.forward(Tensor::from_host(test::context(), shape, x)).to_host();
}

// x = [[1, nan, 3, 4], [inf, -inf, 2, 1], [-inf, -inf, nan, 5], [0, 1, 2, 3]] as [1, 1, 4, 4].
const std::vector<float> kX = {1, kNaN, 3, 4, kInf, -kInf, 2, 1, -kInf, -kInf, kNaN, 5, 0, 1, 2, 3};

// ---- cases computed with torch 1.13 ---------------------------------------------------------

TEST_F(Numerics, ReluKeepsNanAndNegativeZero) {
    // torch.relu(tensor([nan, inf, -inf, -0.0, -1., 1.])) -> [nan, inf, 0., -0., 0., 1.]
    ReLU relu(test::context());
    EXPECT_TRUE(same(run(relu, {6}, {kNaN, kInf, -kInf, -0.0f, -1, 1}), std::vector<float>{kNaN, kInf, 0, -0.0f, 0, 1}));
}

TEST_F(Numerics, MaxPoolNanWins) {
    // F.max_pool2d(x, 2) -> [[nan, 4], [1, nan]]; F.max_pool2d(full((1,1,2,2), -inf), 2) -> [[-inf]]
    MaxPool2d pool(test::context(), 2);
    EXPECT_TRUE(same(run(pool, {1, 1, 4, 4}, kX), std::vector<float>{kNaN, 4, 1, kNaN}));
    EXPECT_TRUE(same(run(pool, {1, 1, 2, 2}, {-kInf, -kInf, -kInf, -kInf}), std::vector<float>{-kInf}));
    // A NaN anywhere in the window wins, whatever its position: first, last, or after a larger value.
    for (int pos = 0; pos < 9; ++pos) {
        std::vector<float> x = {1, 2, 3, 4, 9, 6, 7, 8, 5};
        x[static_cast<size_t>(pos)] = kNaN;
        MaxPool2d p3(test::context(), 3);
        EXPECT_TRUE(same(run(p3, {1, 1, 3, 3}, x), std::vector<float>{kNaN})) << "NaN at " << pos;
    }
}

TEST_F(Numerics, AvgPoolPropagates) {
    // F.avg_pool2d(x, 2) -> [[nan, 2.5], [-inf, nan]]; F.adaptive_avg_pool2d(x, 1) -> [[nan]]
    AvgPool2d pool(test::context(), 2);
    EXPECT_TRUE(same(run(pool, {1, 1, 4, 4}, kX), std::vector<float>{kNaN, 2.5f, -kInf, kNaN}));
    AdaptiveAvgPool2d adaptive(test::context(), 1);
    EXPECT_TRUE(same(run(adaptive, {1, 1, 4, 4}, kX), std::vector<float>{kNaN}));
}

TEST_F(Numerics, ConvEveryAlgorithm) {
    // F.conv2d(x, ones(1, 1, 2, 2)) -> [[nan, nan, 10], [nan, nan, nan], [-inf, nan, nan]]
    // and with fused ReLU the same (relu keeps NaN and inf, -inf becomes 0). Every algorithm that
    // computes a 2x2 kernel (winograd computes 3x3 and gemm_1x1 1x1 kernels: the sweep below).
    const std::vector<float> want = {kNaN, kNaN, 10, kNaN, kNaN, kNaN, -kInf, kNaN, kNaN};
    const std::vector<float> want_relu = {kNaN, kNaN, 10, kNaN, kNaN, kNaN, 0, kNaN, kNaN};
    int ran = 0;
    for (auto a : conv2d_algorithms())
        for (bool relu : {false, true}) {
            Conv2d conv(test::context(), 1, 1, 2, Conv2dOptions{.bias = false});
            if (!conv.supports(a, {1, 1, 4, 4})) continue;
            ++ran;
            conv.set_weight(std::vector<float>{1, 1, 1, 1});
            conv.set_algorithm(a);
            conv.set_fused_relu(relu);
            EXPECT_TRUE(same(run(conv, {1, 1, 4, 4}, kX), relu ? want_relu : want)) << to_string(a) << " relu=" << relu;
        }
    EXPECT_GE(ran, 2 * 3);
    // F.conv2d(ones(1,1,2,2), [[inf, 1], [1, 1]]) -> inf; with input [[0, 1], [1, 1]] -> nan (0 * inf)
    for (auto a : conv2d_algorithms()) {
        Conv2d conv(test::context(), 1, 1, 2, Conv2dOptions{.bias = false});
        if (!conv.supports(a, {1, 1, 2, 2})) continue;
        conv.set_weight(std::vector<float>{kInf, 1, 1, 1});
        conv.set_algorithm(a);
        EXPECT_TRUE(same(run(conv, {1, 1, 2, 2}, {1, 1, 1, 1}), std::vector<float>{kInf})) << to_string(a);
        EXPECT_TRUE(same(run(conv, {1, 1, 2, 2}, {0, 1, 1, 1}), std::vector<float>{kNaN})) << to_string(a);
    }
}

TEST_F(Numerics, LinearPropagates) {
    // F.linear([[1, nan], [inf, 1], [inf, -inf]], ones(1, 2)) -> [[nan], [inf], [nan]]
    for (int rows : {3, 40}) {  // the matrix-vector and the tiled variants
        Linear fc(test::context(), 2, 1, false);
        fc.set_weight(std::vector<float>{1, 1});
        std::vector<float> x, want;
        for (int r = 0; r < rows; ++r) {
            const float in[3][2] = {{1, kNaN}, {kInf, 1}, {kInf, -kInf}};
            const float out[3] = {kNaN, kInf, kNaN};
            x.push_back(in[r % 3][0]);
            x.push_back(in[r % 3][1]);
            want.push_back(out[r % 3]);
        }
        EXPECT_TRUE(same(run(fc, {rows, 2}, x), want)) << rows << " rows";
    }
}

TEST_F(Numerics, SoftmaxRows) {
    // torch.softmax([[nan, 1], [inf, 1], [-inf, 1], [-inf, -inf], [inf, inf]], 1)
    //   -> [[nan, nan], [nan, nan], [0, 1], [nan, nan], [nan, nan]]
    const float in[5][2] = {{kNaN, 1}, {kInf, 1}, {-kInf, 1}, {-kInf, -kInf}, {kInf, kInf}};
    const float out[5][2] = {{kNaN, kNaN}, {kNaN, kNaN}, {0, 1}, {kNaN, kNaN}, {kNaN, kNaN}};
    std::vector<float> x, want;
    for (int r = 0; r < 5; ++r)
        for (int j = 0; j < 2; ++j) {
            x.push_back(in[r][j]);
            want.push_back(out[r][j]);
        }
    Softmax rows(test::context(), 1);
    EXPECT_TRUE(same(run(rows, {5, 2}, x), want));
    // The same along dim 0 of a [2, 2000] tensor: the strided variant (one invocation per row).
    std::vector<float> xt(4000), wt(4000);
    for (int c = 0; c < 2000; ++c)
        for (int j = 0; j < 2; ++j) {
            xt[static_cast<size_t>(j * 2000 + c)] = in[c % 5][j];
            wt[static_cast<size_t>(j * 2000 + c)] = out[c % 5][j];
        }
    Softmax cols(test::context(), 0);
    EXPECT_TRUE(same(run(cols, {2, 2000}, xt), wt));
}

TEST_F(Numerics, BatchNormPropagates) {
    // nn.BatchNorm2d(1).eval()(x): x / sqrt(1 + 1e-5); nan and +-inf stay where they are.
    BatchNorm2d bn(test::context(), 1);
    std::vector<float> want(kX.size());
    for (size_t i = 0; i < kX.size(); ++i) want[i] = static_cast<float>(double(kX[i]) / std::sqrt(1.0 + 1e-5));
    EXPECT_TRUE(same(run(bn, {1, 1, 4, 4}, kX), want));
}

// ---- sweeps against the references -----------------------------------------------------------

// Random values with NaN, +inf and -inf at a few scattered positions.
std::vector<float> with_specials(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    const float specials[] = {kNaN, kInf, -kInf};
    for (size_t k = 0; k < 3; ++k) v[(seed * 7919 + k * (n / 3) + 5) % n] = specials[k];
    return v;
}

struct ConvCase {
    PaddingMode mode;
    int padding;
    bool relu;
    Conv2dAlgorithm algorithm;
    bool special_weights;  // NaN / inf in the weight instead of the input
};
std::ostream& operator<<(std::ostream& o, const ConvCase& c) {
    return o << "mode=" << to_string(c.mode) << " padding=" << c.padding << " relu=" << c.relu << " algorithm=" << to_string(c.algorithm)
             << " special_weights=" << c.special_weights;
}

// Winograd computes each output tile from the whole (m + 2) x (m + 2) input patch through its
// transforms, so a special value reaches every output of its tile, and inf - inf becomes NaN:
// as in any Winograd convolution, specials never vanish but may spread within a tile. Checked:
// every non-finite reference output is non-finite (NaN stays NaN), every finite one is finite
// and close, or non-finite (a special in its tile).
::testing::AssertionResult specials_kept(std::span<const float> got, std::span<const float> want, float tol) {
    return test::each_element(got, want, [&](size_t, float g, float w) {
        if (std::isnan(w)) return std::isnan(g);
        if (std::isinf(w)) return !std::isfinite(g);
        return !std::isfinite(g) || std::fabs(g - w) <= tol * std::max(1.0f, std::fabs(w));
    });
}

class ConvNumerics : public test::VulkanTest, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(ConvNumerics, MatchesReference) {
    const auto& c = GetParam();
    // The first of these convolutions (4 -> 8 channels) the algorithm can run: 3x3 dense, 3x3
    // depthwise, 1x1 dense.
    const Shape shape{2, 4, 11, 13};
    std::unique_ptr<Conv2d> made;
    for (auto [kernel, groups] : {std::pair{3, 1}, std::pair{3, 4}, std::pair{1, 1}}) {
        made = std::make_unique<Conv2d>(test::context(), 4, 8, kernel,
                                        Conv2dOptions{.padding = c.padding, .groups = groups, .padding_mode = c.mode});
        if (made->supports(c.algorithm, shape)) break;
        made.reset();
    }
    if (!made) GTEST_SKIP() << to_string(c.algorithm) << " can run none of the sweep's convolutions on this device";
    Conv2d& conv = *made;
    conv.reset_parameters(3);
    if (c.special_weights) conv.set_weight(with_specials(static_cast<size_t>(conv.params().weight_numel()), 4));
    conv.set_algorithm(c.algorithm);
    conv.set_fused_relu(c.relu);
    const auto x = c.special_weights ? test::random_values(static_cast<size_t>(shape_numel(shape)), 5)
                                     : with_specials(static_cast<size_t>(shape_numel(shape)), 6);
    const auto got = run(conv, shape, x);
    const auto want = conv.reference(shape, x);
    size_t non_finite = 0;
    for (float w : want) non_finite += !std::isfinite(w);
    EXPECT_GT(non_finite, 0u) << c << ": the case propagates no special value";
    SCOPED_TRACE(conv.repr());
    if (c.algorithm == Conv2dAlgorithm::Winograd) EXPECT_TRUE(specials_kept(got, want, 1e-4f)) << c;
    else EXPECT_TRUE(same(got, want, 1e-4f)) << c;
}

// +inf in the first and last input columns, beside zero padding of 1 and 2, with positive
// weights: the outputs whose windows hold it are +inf as in PyTorch (a padding tap adds 0; it is
// not the clamped column's inf times 0, NaN), for every algorithm that runs the 3x3 dense or
// depthwise convolution.
TEST_F(Numerics, InfBesideZeroPadding) {
    Context& ctx = test::context();
    const Shape shape{1, 4, 6, 8};
    auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 9);
    for (int c = 0; c < 4; ++c) {
        x[static_cast<size_t>((c * 6 + 2) * 8)] = kInf;
        x[static_cast<size_t>((c * 6 + 4) * 8 + 7)] = kInf;
    }
    int ran = 0;
    for (auto a : conv2d_algorithms())
        for (int groups : {1, 4})
            for (int padding : {1, 2}) {
                Conv2d conv(ctx, 4, 4, 3, {.padding = padding, .groups = groups});
                if (!conv.supports(a, shape)) continue;
                conv.set_weight(std::vector<float>(static_cast<size_t>(conv.params().weight_numel()), 0.25f));
                conv.set_algorithm(a);
                const auto got = run(conv, shape, x);
                const auto want = conv.reference(shape, x);
                SCOPED_TRACE(conv.repr() + " algorithm=" + to_string(a));
                if (a == Conv2dAlgorithm::Winograd) EXPECT_TRUE(specials_kept(got, want, 1e-4f));
                else EXPECT_TRUE(same(got, want, 1e-4f));
                ++ran;
            }
    EXPECT_GT(ran, 8);
}

// Every algorithm of the registry.
std::vector<ConvCase> conv_cases() {
    std::vector<ConvCase> out;
    for (auto a : conv2d_algorithms())
        for (bool relu : {false, true})
            for (bool sw : {false, true}) {
                // Special weights: padding 0 or a non-zero padding mode (see the file comment).
                out.push_back({PaddingMode::Zeros, sw ? 0 : 1, relu, a, sw});
                out.push_back({PaddingMode::Reflect, 1, relu, a, sw});
            }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Sweep, ConvNumerics, ::testing::ValuesIn(conv_cases()));

struct LayerSweep {
    std::string name;
    std::function<std::unique_ptr<Layer>(Context&)> make;
    Shape shape;
};
std::ostream& operator<<(std::ostream& o, const LayerSweep& c) { return o << c.name; }

class LayerNumerics : public test::VulkanTest, public ::testing::WithParamInterface<LayerSweep> {};

TEST_P(LayerNumerics, MatchesReference) {
    const auto& c = GetParam();
    auto layer = c.make(test::context());
    const auto x = with_specials(static_cast<size_t>(shape_numel(c.shape)), 9);
    const auto got = run(*layer, c.shape, x);
    const auto want = layer->reference(c.shape, x);
    size_t non_finite = 0;
    for (float w : want) non_finite += !std::isfinite(w);
    EXPECT_GT(non_finite, 0u) << c.name << ": the case propagates no special value";
    EXPECT_TRUE(same(got, want, 1e-5f)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Sweep, LayerNumerics,
                         ::testing::Values(
                             LayerSweep{"relu", [](Context& c) { return std::make_unique<ReLU>(c); }, {3, 100}},
                             LayerSweep{"relu_4d", [](Context& c) { return std::make_unique<ReLU>(c); }, {2, 3, 7, 9}},
                             LayerSweep{"maxpool", [](Context& c) { return std::make_unique<MaxPool2d>(c, 3, MaxPool2dOptions{.stride = Pair(2), .padding = 1}); }, {2, 3, 13, 11}},
                             LayerSweep{"maxpool_dilated", [](Context& c) { return std::make_unique<MaxPool2d>(c, 3, MaxPool2dOptions{.stride = Pair(1), .padding = 1, .dilation = 2}); }, {1, 3, 9, 9}},
                             LayerSweep{"avgpool", [](Context& c) { return std::make_unique<AvgPool2d>(c, 3, AvgPool2dOptions{.stride = Pair(2), .padding = 1}); }, {2, 3, 13, 11}},
                             LayerSweep{"adaptive_avgpool", [](Context& c) { return std::make_unique<AdaptiveAvgPool2d>(c, Pair(4, 3)); }, {2, 3, 13, 11}},
                             LayerSweep{"linear", [](Context& c) {
                                            auto l = std::make_unique<Linear>(c, 30, 7);
                                            l->reset_parameters(2);
                                            return l;
                                        }, {20, 30}},
                             LayerSweep{"softmax", [](Context& c) { return std::make_unique<Softmax>(c, 1); }, {6, 50}},
                             LayerSweep{"softmax_strided", [](Context& c) { return std::make_unique<Softmax>(c, 0); }, {3, 1500}},
                             LayerSweep{"batchnorm", [](Context& c) {
                                            auto bn = std::make_unique<BatchNorm2d>(c, 3);
                                            bn->set_parameter("running_var", std::vector<float>{0.5f, 1.0f, 2.0f});
                                            bn->set_parameter("weight", std::vector<float>{-1.0f, 2.0f, 0.5f});
                                            return bn;
                                        }, {2, 3, 5, 7}}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace vkconv
