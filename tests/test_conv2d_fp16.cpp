// fp16 storage (Conv2d::set_storage_precision(StoragePrecision::Float16)) against the CPU
// reference (conv2d_reference, double accumulation of the unrounded fp32 inputs and weights):
// packed_texel (dense, grouped, depthwise) and gemm_1x1, forced and chosen by Auto, over every
// padding mode, explicit / same / valid padding, strides, dilations, groups, batch 1-3 and
// unbatched input, bias on and off, fused ReLU, inputs of magnitude 1 and 100, the staging memory
// path. Also: fp16 really rounds (an fp32-only run would fail), the choice rules (Auto, forced
// fp32-only algorithms, a device without R16G16B16A16_SFLOAT texel buffers, hidden through
// ContextOptions::limit_overrides.hidden_texel_formats), and a Conv+BatchNorm+ReLU model.
//
// Tolerance, per output y = b + sum_i x_i w_i over the L = (cin/groups)*kh*kw taps:
//   The device stores x~ = fp16(x) (the pack pass's imageStore to RGBA16F; Vulkan leaves the
//   rounding mode of that conversion undefined, so either neighbour: |x~ - x| <= u_x |x| + eta_x
//   with u_x = 2^-10 and eta_x = 2^-14, which also covers a flush of fp16 subnormals to zero) and
//   w~ = fp16(w) (rounded to nearest even on the host: u_w = 2^-11, eta_w = 2^-25, half the
//   smallest subnormal). Then
//     |x~ w~ - x w| <= (u_x + u_w + u_x u_w) |x w| + eta_x (1 + u_w) |w| + eta_w (1 + u_x) |x| + eta_x eta_w.
//   x~ w~ is exact in fp32 (11-bit significands, a 22-bit product), so the only other error is the
//   fp32 summation of the L products and the bias: fp32_sum_tolerance (2 (L + 1) 2^-24 per unit
//   of sum|products| + |b|, + 1e-6) applied to (1 + 2^-9) (sum|x w| + |b|) >= sum|x~ w~| + |b|.
//   The bias stays fp32. ReLU is 1-Lipschitz, so the bound holds after it. Summed over the taps:
//     tol = (u_x + u_w + u_x u_w) S_xw + eta_x (1 + u_w) S_w + eta_w (1 + u_x) S_x + L eta_x eta_w
//           + fp32_sum_tolerance((1 + 2^-9) (S_xw + |b|), L)
//   with S_xw = sum |x||w|, S_w = sum |w|, S_x = sum |x| over the taps that read the input
//   (computed by the reference from |x|, |w| and ones; zero padding contributes nothing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

constexpr double kUx = 1.0 / 1024, kEtaX = 1.0 / 16384;            // device rounding of the activations
constexpr double kUw = 1.0 / 2048, kEtaW = 1.0 / (1 << 25);         // host rounding of the weights

std::vector<float> abs_of(std::vector<float> v) {
    for (auto& e : v) e = std::fabs(e);
    return v;
}

// The bound above, per output, for inputs x and weights w (bias b, possibly empty).
std::vector<float> fp16_tolerance(const Conv2dParams& p, const Shape& shape, const std::vector<float>& x, const std::vector<float>& w,
                                  const std::vector<float>& b, double u_w = kUw) {
    const auto ax = abs_of(x), aw = abs_of(w);
    const std::vector<float> ones_x(ax.size(), 1.0f), ones_w(aw.size(), 1.0f), none;
    const auto s_xw = conv2d_reference(p, shape, ax, aw, none);
    const auto s_w = conv2d_reference(p, shape, ones_x, aw, none);
    const auto s_x = conv2d_reference(p, shape, ax, ones_w, none);
    const int64_t L = int64_t(p.in_channels / p.options.groups) * p.kernel.h * p.kernel.w;
    const int64_t per_channel = static_cast<int64_t>(s_xw.size()) / (shape.size() == 4 ? shape[0] : 1) / p.out_channels;
    std::vector<float> sums(s_xw.size());
    for (size_t i = 0; i < sums.size(); ++i) {
        const double bias = b.empty() ? 0.0 : std::fabs(b[(i / static_cast<size_t>(per_channel)) % static_cast<size_t>(p.out_channels)]);
        sums[i] = static_cast<float>((1.0 + 1.0 / 512) * (double(s_xw[i]) + bias));
    }
    auto tol = test::fp32_sum_tolerance(sums, L);
    for (size_t i = 0; i < tol.size(); ++i)
        tol[i] += static_cast<float>((kUx + u_w + kUx * u_w) * s_xw[i] + kEtaX * (1 + u_w) * s_w[i] + kEtaW * (1 + kUx) * s_x[i] +
                                     double(L) * kEtaX * kEtaW);
    return tol;
}

struct Fp16Case {
    Shape input;
    int out_channels;
    Pair kernel;
    Conv2dOptions opt;
    Conv2dAlgorithm algorithm;  // Auto: the test checks that Auto picks an fp16-storing one
    bool relu = false;
    float scale = 1.0f;  // inputs uniform in [-scale, scale)
    bool staging = false;

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt};
        std::ostringstream s;
        s << p.str() << " bias=" << (opt.bias ? "True" : "False") << " padding_mode=" << to_string(opt.padding_mode)
          << " input=" << shape_str(input) << " algorithm=" << to_string(algorithm) << " precision=fp16" << (relu ? " +relu" : "")
          << " scale=" << scale << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const Fp16Case& c, std::ostream* os) { *os << c.str(); }

class Conv2dFp16 : public test::VulkanTest, public ::testing::WithParamInterface<Fp16Case> {};

TEST_P(Conv2dFp16, MatchesReferenceWithinFp16Bound) {
    const Fp16Case& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    if (auto why = fp16_storage_unsupported_reason(ctx); !why.empty()) GTEST_SKIP() << why;
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_algorithm(c.algorithm);
    conv.set_fused_relu(c.relu);
    conv.set_storage_precision(StoragePrecision::Float16);
    if (c.algorithm != Conv2dAlgorithm::Auto && !conv.supports(c.algorithm, c.input))
        GTEST_SKIP() << to_string(c.algorithm) << " is not available: " << conv.unsupported_reason(c.algorithm, c.input);
    const auto used = conv.algorithm_for(c.input);
    ASSERT_TRUE(stores_fp16(used)) << c.str() << " ran " << to_string(used);
    ASSERT_EQ(conv.storage_precision_for(c.input), StoragePrecision::Float16) << c.str();
    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    for (auto& v : x) v *= c.scale;
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) conv.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));

    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    auto check = [&](const std::vector<float>& got, const char* when) {
        const auto want = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
        EXPECT_TRUE(test::all_close(got, want, fp16_tolerance(p, c.input, x, conv.weight(), conv.bias())))
            << c.str() << " ran " << to_string(used) << when;
    };
    const Tensor yt = conv.forward(xt);
    ASSERT_EQ(yt.shape(), conv.output_shape(c.input)) << c.str();
    check(yt.to_host(), "");
    // New weights after a forward: the fp16 copy must follow.
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 3));
    check(conv.forward(xt).to_host(), " (after set_weight)");
}

std::string case_name(const ::testing::TestParamInfo<Fp16Case>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};

// packed_texel: every padding mode x 3 paddings x 3 stride/dilation pairs on a 5-channel input
// (a partial quad), 6 output channels, rectangular and square kernels, batch 2, bias alternating.
std::vector<Fp16Case> packed_cases() {
    std::vector<Fp16Case> cases;
    const Padding paddings[] = {Padding(1), Padding::same(), Padding(2, 1)};
    struct SD { Pair stride, dilation; };
    const SD sds[] = {{Pair(1), Pair(1)}, {Pair(2, 1), Pair(1, 2)}, {Pair(3), Pair(2, 1)}};
    int i = 0;
    for (auto mode : kModes)
        for (const auto& pad : paddings)
            for (const auto& sd : sds) {
                // PyTorch refuses padding='same' with stride > 1.
                if (pad.kind == Padding::Kind::Same && !(sd.stride == Pair(1))) continue;
                Fp16Case c;
                c.input = {2, 5, 9, 11};
                c.out_channels = 6;
                c.kernel = i % 2 ? Pair(3) : Pair(2, 3);
                c.opt = opts(sd.stride, pad, sd.dilation, 1, i % 3 != 2, mode);
                c.algorithm = Conv2dAlgorithm::PackedTexel;
                c.relu = i % 4 == 1;
                cases.push_back(c);
                ++i;
            }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedTexel, Conv2dFp16, ::testing::ValuesIn(packed_cases()), case_name);

// packed_texel groups and shapes: grouped (cin_g 4 and 3), depthwise (multiplier 1 and 2),
// unbatched input, batch 3, many channels, valid padding, no bias, ReLU, inputs of magnitude 100,
// the staging path.
std::vector<Fp16Case> packed_group_cases() {
    const auto P = Conv2dAlgorithm::PackedTexel;
    return {
        {{1, 8, 10, 10}, 6, 3, opts(1, 1, 1, 2, true, PaddingMode::Zeros), P},
        {{2, 9, 7, 8}, 12, 3, opts(2, 1, 1, 3, true, PaddingMode::Reflect), P, true},
        {{1, 6, 9, 9}, 6, 3, opts(1, 1, 1, 6, true, PaddingMode::Replicate), P},
        {{2, 6, 8, 7}, 12, {3, 5}, opts(1, Padding::same(), 1, 6, false, PaddingMode::Circular), P, true},
        {{5, 7, 12}, 8, 3, opts(1, Padding::valid(), 1, 1, true, PaddingMode::Zeros), P},
        {{3, 4, 6, 6}, 4, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P},
        {{1, 40, 8, 9}, 20, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P, true},
        {{1, 16, 7, 7}, 16, 3, opts(1, 1, 1, 1, true, PaddingMode::Reflect), P, false, 100.0f},
        {{2, 5, 9, 11}, 6, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P, false, 1.0f, true},
    };
}
INSTANTIATE_TEST_SUITE_P(PackedGroups, Conv2dFp16, ::testing::ValuesIn(packed_group_cases()), case_name);

// gemm_1x1: strides, padding (every mode), groups, odd channel counts, batch, bias, ReLU, staging.
std::vector<Fp16Case> gemm_cases() {
    const auto G = Conv2dAlgorithm::Gemm1x1;
    return {
        {{1, 16, 8, 8}, 32, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G},
        {{2, 37, 7, 9}, 20, 1, opts(1, 0, 1, 1, false, PaddingMode::Zeros), G, true},
        {{1, 8, 9, 10}, 12, 1, opts(2, 0, 1, 1, true, PaddingMode::Zeros), G},
        {{1, 8, 6, 7}, 4, 1, opts({2, 3}, 1, 1, 1, true, PaddingMode::Reflect), G},
        {{1, 8, 6, 7}, 6, 1, opts(1, {1, 2}, 1, 2, true, PaddingMode::Circular), G, true},
        {{2, 12, 5, 5}, 9, 1, opts(1, 1, 1, 3, true, PaddingMode::Replicate), G},
        {{6, 11, 13}, 5, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G, false, 100.0f},
        {{1, 16, 8, 8}, 32, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G, false, 1.0f, true},
    };
}
INSTANTIATE_TEST_SUITE_P(Gemm1x1, Conv2dFp16, ::testing::ValuesIn(gemm_cases()), case_name);

// Auto with fp16 requested: an fp16-storing algorithm for dense, few-channel, grouped and 1x1
// convolutions (where the fp32 choice for the few-channel and grouped ones is grouped_texel).
// Depthwise keeps fp32 under Auto (ChoiceAndRefusals); forced packed_texel covers it above.
std::vector<Fp16Case> auto_cases() {
    const auto A = Conv2dAlgorithm::Auto;
    return {
        {{1, 3, 16, 16}, 8, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), A},
        {{1, 20, 9, 9}, 16, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), A, true},
        {{1, 16, 9, 9}, 16, 3, opts(1, 1, 1, 4, true, PaddingMode::Reflect), A},
        {{2, 8, 10, 10}, 16, 3, opts(2, 1, 1, 2, true, PaddingMode::Zeros), A, true},
        {{1, 16, 7, 7}, 24, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), A},
    };
}
INSTANTIATE_TEST_SUITE_P(Auto, Conv2dFp16, ::testing::ValuesIn(auto_cases()), case_name);

class Conv2dFp16Rules : public test::VulkanTest {};

// fp16 really rounds: activations and weights of 1 + 2^-12, which fp16 cannot hold (its spacing
// at 1 is 2^-10). An fp32 run gives exactly 1 + 2^-12 (one tap times 1); fp16 gives the input
// rounded to a neighbour, 1 or 1 + 2^-10 (the device's conversion may round either way), and the
// weight rounded to nearest even on the host, exactly 1. This fails if fp16 silently ran in fp32.
TEST_F(Conv2dFp16Rules, Fp16RoundsWhereFp32DoesNot) {
    Context& ctx = test::context();
    if (auto why = fp16_storage_unsupported_reason(ctx); !why.empty()) GTEST_SKIP() << why;
    const float odd = 1.0f + std::ldexp(1.0f, -12);
    for (auto a : {Conv2dAlgorithm::Gemm1x1, Conv2dAlgorithm::PackedTexel}) {
        const int k = a == Conv2dAlgorithm::Gemm1x1 ? 1 : 3;
        Conv2d conv(ctx, 1, 1, k, {.padding = k / 2, .bias = false});
        std::vector<float> w(static_cast<size_t>(k * k), 0.0f);
        w[w.size() / 2] = 1.0f;  // the centre tap only
        conv.set_weight(w);
        conv.set_algorithm(a);
        const Shape shape{1, 1, 4, 5};
        const Tensor x_odd = Tensor::from_host(ctx, shape, std::vector<float>(20, odd));
        const Tensor x_one = Tensor::from_host(ctx, shape, std::vector<float>(20, 1.0f));
        const auto fp32 = conv.forward(x_odd).to_host();
        for (float v : fp32) ASSERT_EQ(v, odd) << to_string(a) << " fp32";
        conv.set_storage_precision(StoragePrecision::Float16);
        ASSERT_EQ(conv.storage_precision_for(shape), StoragePrecision::Float16);
        ASSERT_EQ(conv.algorithm_for(shape), a);
        for (float v : conv.forward(x_odd).to_host())
            ASSERT_TRUE(v == 1.0f || v == 1.0f + std::ldexp(1.0f, -10)) << to_string(a) << " fp16 input rounding gave " << v;
        w[w.size() / 2] = odd;
        conv.set_weight(w);
        for (float v : conv.forward(x_one).to_host()) ASSERT_EQ(v, 1.0f) << to_string(a) << " fp16 weight rounding";
        // Back to fp32: the weights are transformed again, exactly.
        conv.set_storage_precision(StoragePrecision::Float32);
        for (float v : conv.forward(x_one).to_host()) ASSERT_EQ(v, odd) << to_string(a) << " fp32 again";
    }
}

// Auto picks an fp16-storing algorithm; a forced fp32-only one refuses the request by name.
TEST_F(Conv2dFp16Rules, ChoiceAndRefusals) {
    Context& ctx = test::context();
    if (auto why = fp16_storage_unsupported_reason(ctx); !why.empty()) GTEST_SKIP() << why;
    EXPECT_TRUE(stores_fp16(Conv2dAlgorithm::PackedTexel));
    EXPECT_TRUE(stores_fp16(Conv2dAlgorithm::Gemm1x1));
    for (auto a : {Conv2dAlgorithm::Auto, Conv2dAlgorithm::DirectTiled, Conv2dAlgorithm::Depthwise, Conv2dAlgorithm::DirectTexel,
                   Conv2dAlgorithm::DepthwiseTexel, Conv2dAlgorithm::GroupedTexel})
        EXPECT_FALSE(stores_fp16(a)) << to_string(a);
    EXPECT_EQ(parse_storage_precision("fp16"), StoragePrecision::Float16);
    EXPECT_EQ(to_string(StoragePrecision::Float32), "fp32");
    test::expect_error([] { (void)parse_storage_precision("half"); }, {"fp32, fp16", "half"});

    Conv2d dw(ctx, 8, 8, 3, {.padding = 1, .groups = 8});
    const Shape x{1, 8, 10, 10};
    EXPECT_EQ(dw.storage_precision(), StoragePrecision::Float32);
    EXPECT_EQ(dw.algorithm_for(x), Conv2dAlgorithm::DepthwiseTexel);
    EXPECT_EQ(dw.storage_precision_for(x), StoragePrecision::Float32);
    // Depthwise under Auto keeps its fp32 algorithm (fp16 would save no traffic there) and says so;
    // forced packed_texel stores fp16.
    dw.set_storage_precision(StoragePrecision::Float16);
    EXPECT_EQ(dw.algorithm_for(x), Conv2dAlgorithm::DepthwiseTexel);
    EXPECT_EQ(dw.storage_precision_for(x), StoragePrecision::Float32);
    dw.set_algorithm(Conv2dAlgorithm::PackedTexel);
    EXPECT_EQ(dw.storage_precision_for(x), StoragePrecision::Float16);
    dw.set_algorithm(Conv2dAlgorithm::DepthwiseTexel);
    // supports() speaks of the convolution; the precision is refused when the algorithm is used.
    EXPECT_TRUE(dw.supports(Conv2dAlgorithm::DepthwiseTexel, x));
    test::expect_error([&] { (void)dw.forward(Tensor::from_host(ctx, x, std::vector<float>(800, 1.0f))); },
                       {"depthwise_texel", "fp32 only", "fp16 storage was requested"});
    Conv2d dense(ctx, 4, 4, 3);
    dense.set_storage_precision(StoragePrecision::Float16);
    dense.set_algorithm(Conv2dAlgorithm::DirectTiled);
    test::expect_error([&] { (void)dense.algorithm_for({1, 4, 5, 5}); }, {"direct_tiled", "fp32 only"});
    // Where no fp16-storing algorithm fits the convolution (a kernel too wide for packed_texel's
    // register window), Auto falls back to the fp32 choice and says so.
    Conv2d wide(ctx, 4, 4, {1, 5}, {.dilation = {1, 9}});
    wide.set_storage_precision(StoragePrecision::Float16);
    const Shape xw{1, 4, 3, 50};
    EXPECT_EQ(wide.algorithm_for(xw), Conv2dAlgorithm::DirectTexel);
    EXPECT_EQ(wide.storage_precision_for(xw), StoragePrecision::Float32);
}

// A device without R16G16B16A16_SFLOAT texel buffers (hidden by the test-only override): Auto
// falls back to fp32 (storage_precision_for says so, results are fp32-exact up to summation
// order), a forced packed algorithm names the missing format feature.
TEST(Conv2dFp16NoFormat, FallsBackUnderAutoAndRefusesWhenForced) {
    ContextOptions o;
    o.limit_overrides.hidden_texel_formats = {vk::Format::eR16G16B16A16Sfloat};
    test::OwnedContext ctx(o);
    EXPECT_THAT(fp16_storage_unsupported_reason(*ctx),
                ::testing::AllOf(::testing::HasSubstr("R16G16B16A16_SFLOAT"), ::testing::HasSubstr("UNIFORM_TEXEL_BUFFER_BIT")));
    Conv2d conv(*ctx, 8, 8, 3, {.padding = 1});
    conv.set_storage_precision(StoragePrecision::Float16);
    const Shape shape{1, 8, 9, 9};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 5);
    EXPECT_FALSE(stores_fp16(conv.algorithm_for(shape))) << to_string(conv.algorithm_for(shape));
    EXPECT_EQ(conv.storage_precision_for(shape), StoragePrecision::Float32);
    const auto got = conv.forward(Tensor::from_host(*ctx, shape, x)).to_host();
    const auto& p = conv.params();
    const auto abs_sums = conv2d_reference(p, shape, abs_of(x), abs_of(conv.weight()), abs_of(conv.bias()));
    EXPECT_TRUE(test::all_close(got, conv2d_reference(p, shape, x, conv.weight(), conv.bias()), test::fp32_sum_tolerance(abs_sums, 72)));
    for (auto a : {Conv2dAlgorithm::PackedTexel, Conv2dAlgorithm::Gemm1x1}) {
        Conv2d c(*ctx, 8, 8, a == Conv2dAlgorithm::Gemm1x1 ? 1 : 3);
        c.set_storage_precision(StoragePrecision::Float16);
        c.set_algorithm(a);
        test::expect_error([&] { (void)c.algorithm_for(shape); }, {to_string(a).c_str(), "R16G16B16A16_SFLOAT", "lacks"});
    }
}

// A model with Conv2d+BatchNorm2d (folded into one Conv2d) + ReLU, then a 1x1 Conv2d + ReLU, in
// fp16 through Model::set_conv2d_storage_precision, against a CPU reference with the error
// propagated layer by layer:
//   layer 1 (folded weights w' = w * scale, rounded to fp32 by the fold: u_w = 2^-11 + 2^-24 + 2^-35):
//     e1 = tol(x, w'); ReLU keeps |e| <= e1.
//   layer 2 reads h~ = h + d with |d| <= e1:  |conv_dev(h~) - conv(h)| <= tol(|h| + e1, w2) + conv(e1, |w2|).
class Conv2dFp16Model : public test::VulkanTest {};

TEST_F(Conv2dFp16Model, ConvBatchNormReluMatchesReferenceWithPropagatedBound) {
    Context& ctx = test::context();
    if (auto why = fp16_storage_unsupported_reason(ctx); !why.empty()) GTEST_SKIP() << why;
    Model m(ctx, "fp16");
    m.add("conv1", std::make_unique<Conv2d>(ctx, 6, 12, 3, Conv2dOptions{.padding = 1}));
    m.add("bn1", std::make_unique<BatchNorm2d>(ctx, 12));
    m.add("relu1", std::make_unique<ReLU>(ctx));
    m.add("conv2", std::make_unique<Conv2d>(ctx, 12, 8, 1));
    m.add("relu2", std::make_unique<ReLU>(ctx));
    m.reset_parameters(3);
    // Non-trivial running statistics and affine parameters.
    auto rv = [](size_t n, uint64_t seed, float lo, float hi) {
        auto v = test::random_values(n, seed);
        for (auto& e : v) e = lo + (e + 1.0f) * 0.5f * (hi - lo);
        return v;
    };
    auto& bn = dynamic_cast<BatchNorm2d&>(m.layer("bn1"));
    bn.set_parameter("weight", rv(12, 21, 0.5f, 2.0f));
    bn.set_parameter("bias", rv(12, 22, -0.5f, 0.5f));
    bn.set_parameter("running_mean", rv(12, 23, -0.3f, 0.3f));
    bn.set_parameter("running_var", rv(12, 24, 0.25f, 4.0f));
    const Shape shape{2, 6, 11, 13};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 8);
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    const auto y32 = m.forward(xt).to_host();
    m.set_conv2d_storage_precision(StoragePrecision::Float16);
    const auto y16 = m.forward(xt).to_host();

    // Reference: the fold in double (exact w * scale), each layer with conv2d_reference.
    auto& c1 = dynamic_cast<Conv2d&>(m.layer("conv1"));
    auto& c2 = dynamic_cast<Conv2d&>(m.layer("conv2"));
    EXPECT_EQ(c1.storage_precision(), StoragePrecision::Float16);
    const auto [scale, shift] = bn.scale_shift();
    std::vector<float> w1 = c1.weight(), b1(12);
    const size_t per_oc = w1.size() / 12;
    for (size_t oc = 0; oc < 12; ++oc) {
        for (size_t j = 0; j < per_oc; ++j) w1[oc * per_oc + j] = static_cast<float>(double(w1[oc * per_oc + j]) * scale[oc]);
        b1[oc] = static_cast<float>(double(c1.bias()[oc]) * scale[oc] + shift[oc]);
    }
    const auto& p1 = c1.params();
    const auto h = conv2d_reference(p1, shape, x, w1, b1, true);
    // The fold rounds w * scale to fp32 before fp16: u_w grows by 2^-24 (1 + 2^-11). The folded
    // bias's fp32 rounding (2^-24 |b'|) is inside fp32_sum_tolerance's bias allowance.
    const auto e1 = fp16_tolerance(p1, shape, x, w1, b1, kUw + std::ldexp(1.0, -24) * (1 + kUw));
    const Shape hshape = conv2d_output_shape(p1, shape);
    const auto& p2 = c2.params();
    const auto want = conv2d_reference(p2, hshape, h, c2.weight(), c2.bias(), true);
    std::vector<float> h_hi(h.size());
    for (size_t i = 0; i < h.size(); ++i) h_hi[i] = std::fabs(h[i]) + e1[i];
    auto tol = fp16_tolerance(p2, hshape, h_hi, c2.weight(), c2.bias());
    const auto carried = conv2d_reference(p2, hshape, e1, abs_of(c2.weight()), {});
    for (size_t i = 0; i < tol.size(); ++i) tol[i] += carried[i];
    EXPECT_TRUE(test::all_close(y16, want, tol)) << "Conv2d(6,12,3,padding=1)+BatchNorm2d(12)+ReLU, Conv2d(12,8,1)+ReLU input="
                                                 << shape_str(shape) << " precision=fp16";
    // And fp16 was really used: the fp16 run differs from the fp32 one.
    double diff = 0;
    for (size_t i = 0; i < y16.size(); ++i) diff = std::max(diff, double(std::fabs(y16[i] - y32[i])));
    EXPECT_GT(diff, 0.0);
    // Back to fp32: identical to the first fp32 run.
    m.set_conv2d_storage_precision(StoragePrecision::Float32);
    EXPECT_EQ(m.forward(xt).to_host(), y32);
}

// `vkconv bench --precision fp32,fp16`: each row at both precisions, back to back; the fp16 row
// says "+fp16" where fp16 storage is in use; a bad precision is one error line.
TEST(Conv2dFp16Cli, BenchRunsBothPrecisions) {
    if (auto why = fp16_storage_unsupported_reason(test::context()); !why.empty()) GTEST_SKIP() << why;
    const std::string tool = VKCONV_TOOL_PATH;
    const auto r = test::run_command(tool + " bench --shape 1,8,12,12 --out-channels 16 --kernel 3 --padding 1 --algorithm packed_texel"
                                            " --precision fp32,fp16 --reps 1 --min-time 0 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("rows").size(), 2u) << r.out;
    EXPECT_EQ(j["rows"][0]["precision"], "fp32");
    EXPECT_EQ(j["rows"][0]["algorithm"], "packed_texel");
    EXPECT_EQ(j["rows"][1]["precision"], "fp16");
    EXPECT_EQ(j["rows"][1]["algorithm"], "packed_texel+fp16");
    const auto bad = test::run_command(tool + " bench --shape 1,8,12,12 --out-channels 16 --precision fp8");
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, ::testing::HasSubstr("fp32, fp16"));
}

}  // namespace
}  // namespace vkconv
