// fp16 storage (Conv2d::set_storage_precision(StoragePrecision::Float16)): fp16 really rounds
// (an fp32-only run would fail), the choice rules (Auto, forced fp32-only algorithms, a device
// without R16G16B16A16_SFLOAT texel buffers, hidden through
// ContextOptions::limit_overrides.hidden_texel_formats), a Conv+BatchNorm+ReLU model with the
// bound propagated through it, and `vkconv bench` with both precisions. The sweeps of the
// fp16-storing algorithms against the reference, and the derivation of the bound
// (test::fp16_tolerance): tests/test_conv2d_algorithms.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

using test::abs_of;
using test::fp16_tolerance;
constexpr double kUw = test::kFp16Uw;

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
    testing::ContextOptions o;
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
