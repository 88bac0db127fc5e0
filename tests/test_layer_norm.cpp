// LayerNorm (vkconv/layer_norm.h, shaders/layer_norm.comp) against the CPU reference: rows of
// 1 to 1000 elements (below, at and above the workgroup's 64), one to three normalized dims,
// with and without affine parameters, several eps, NaN/inf rows, empty inputs, split dispatches,
// the staging path, reprs and PyTorch's shape message.
//
// Tolerance, per element, with u = 2^-23, d the row length, m and rstd the row's mean and
// 1/sqrt(var + eps) in double: any-order fp32 summation of d terms errs by at most d u sum|.|,
// so the mean is within (d + 1) u mean|x|; the sum of squared deviations within (d + 3) u of
// itself (plus the mean's error, which enters squared); rstd within half that plus 2 ulp
// (inversesqrt). y = (x - m) rstd w + b then errs by at most
//   |w| rstd ((d + 8) u (|x - m| + mean|x|)) + 2u (|y| + |b|).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layer_norm.h"
#include "vkconv/layers.h"
#include "vkconv/model_json.h"

namespace vkconv {
namespace {

using test::expect_error;
constexpr double kU = 1.0 / (1 << 23);

struct LnCase {
    Shape input;
    size_t norm_dims;
    bool affine;
    double eps;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << "input=" << shape_str(input) << " norm_dims=" << norm_dims << " affine=" << affine << " eps=" << eps
          << (staging ? " staging" : "");
        return s.str();
    }
};
void PrintTo(const LnCase& c, std::ostream* os) { *os << c.str(); }

class LayerNormSweep : public test::VulkanTest, public ::testing::WithParamInterface<LnCase> {};

// Checks y against the reference with the tolerance above; rows holding NaN/inf must be NaN.
::testing::AssertionResult check_rows(const LayerNorm& ln, const Shape& shape, const std::vector<float>& x,
                                      const std::vector<float>& y) {
    const auto ref = ln.reference(shape, x);
    const size_t d = static_cast<size_t>(shape_numel(ln.normalized_shape()));
    if (y.size() != ref.size()) return ::testing::AssertionFailure() << "size " << y.size() << " != " << ref.size();
    std::ostringstream msg;
    size_t bad = 0;
    for (size_t r = 0; d && r < x.size() / d; ++r) {
        double mean = 0, mean_abs = 0, var = 0;
        for (size_t i = 0; i < d; ++i) mean += x[r * d + i], mean_abs += std::fabs(x[r * d + i]);
        mean /= double(d);
        mean_abs /= double(d);
        for (size_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
        const double rstd = 1.0 / std::sqrt(var / double(d) + ln.eps());
        for (size_t i = 0; i < d; ++i) {
            const size_t k = r * d + i;
            const double w = ln.elementwise_affine() ? std::fabs(ln.parameter("weight")[i]) : 1.0;
            const double b = ln.elementwise_affine() ? std::fabs(ln.parameter("bias")[i]) : 0.0;
            const double tol = w * rstd * (double(d) + 8) * kU * (std::fabs(x[k] - mean) + mean_abs) + 2 * kU * (std::fabs(ref[k]) + b);
            const bool ok = std::isnan(ref[k]) ? std::isnan(y[k]) : std::fabs(double(y[k]) - ref[k]) <= tol;
            if (!ok && bad++ < 8) msg << "\n  row " << r << " [" << i << "] got " << y[k] << ", want " << ref[k] << " (tol " << tol << ")";
        }
    }
    if (bad) return ::testing::AssertionFailure() << bad << " elements differ:" << msg.str();
    return ::testing::AssertionSuccess();
}

TEST_P(LayerNormSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const Shape norm(c.input.end() - static_cast<std::ptrdiff_t>(c.norm_dims), c.input.end());
    LayerNorm ln(ctx, norm, c.eps, c.affine);
    const size_t d = static_cast<size_t>(shape_numel(norm));
    if (c.affine) {
        auto w = test::random_values(d, 3), b = test::random_values(d, 4);
        for (auto& v : w) v *= 2.0f;
        ln.set_parameter("weight", w);
        ln.set_parameter("bias", b);
    }
    const size_t n = static_cast<size_t>(shape_numel(c.input));
    auto x = test::random_values(n, std::hash<std::string>{}(c.str()));
    for (size_t i = 0; i < n; ++i) x[i] = x[i] * 3.0f + 5.0f;  // an offset: the two-pass variance matters
    const Tensor y = ln.forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), c.input);
    EXPECT_TRUE(check_rows(ln, c.input, x, y.to_host())) << c.str();
}

std::vector<LnCase> ln_cases() {
    std::vector<LnCase> out;
    for (bool affine : {true, false}) {
        for (const Shape& s : std::vector<Shape>{{5}, {3, 1}, {4, 7}, {2, 3, 64}, {2, 5, 65}, {3, 1000}, {2, 3, 4, 96}, {0, 8}, {4, 0}})
            out.push_back({s, 1, affine, 1e-5});
        out.push_back({{2, 3, 4, 5}, 2, affine, 1e-6});
        out.push_back({{2, 3, 4, 5}, 3, affine, 1e-3});
        out.push_back({{2, 3, 7}, 1, affine, 0.0});
        out.push_back({{2, 3, 7}, 1, affine, 1e-5, true});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormSweep, ::testing::ValuesIn(ln_cases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

class LayerNormTest : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// A NaN or infinity makes its row NaN (PyTorch's mean and variance do); other rows are unaffected.
TEST_F(LayerNormTest, NaNAndInfPropagateToTheirRow) {
    auto& ctx = test::context();
    LayerNorm ln(ctx, {6});
    auto x = test::random_values(24, 1);
    x[2] = std::numeric_limits<float>::quiet_NaN();
    x[13] = std::numeric_limits<float>::infinity();
    const auto y = ln.forward(Tensor::from_host(ctx, {4, 6}, x)).to_host();
    for (size_t i = 0; i < 24; ++i) EXPECT_EQ(std::isnan(y[i]), i < 6 || (i >= 12 && i < 18)) << i;
    EXPECT_TRUE(check_rows(ln, {4, 6}, x, y));
    // A constant row: var = 0, y = bias exactly ((x - mean) is 0).
    const std::vector<float> c(6, 3.25f);
    EXPECT_EQ(ln.forward(Tensor::from_host(ctx, {1, 6}, c)).to_host(), std::vector<float>(6, 0.0f));
}

TEST_F(LayerNormTest, SplitDispatches) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(3);
    LayerNorm ln(ctx, {10});
    const auto x = test::random_values(200, 2);
    const Tensor xt = Tensor::from_host(ctx, {20, 10}, x), y(ctx, {20, 10});
    CommandRecorder rec(ctx);
    ln.record(rec, std::span(&xt, 1), y);
    EXPECT_EQ(rec.dispatch_count(), 7u);
    rec.submit_and_wait();
    EXPECT_TRUE(check_rows(ln, {20, 10}, x, y.to_host()));
}

TEST_F(LayerNormTest, ReprParametersAndErrors) {
    auto& ctx = test::context();
    EXPECT_EQ(LayerNorm(ctx, {4}).repr(), "LayerNorm((4,), eps=1e-05, elementwise_affine=True)");
    EXPECT_EQ(LayerNorm(ctx, {3, 4}, 1e-6, false).repr(), "LayerNorm((3, 4), eps=1e-06, elementwise_affine=False)");
    LayerNorm ln(ctx, {3, 4});
    EXPECT_EQ(ln.parameters().at("weight").shape, (Shape{3, 4}));
    EXPECT_EQ(ln.parameters().at("bias").shape, (Shape{3, 4}));
    EXPECT_EQ(ln.parameter_count(), 24);
    EXPECT_EQ(LayerNorm(ctx, {4}, 1e-5, false).parameters().size(), 0u);
    expect_error([&] { LayerNorm(ctx, {4}).output_shape(Shape{2, 3}); },
                 {"Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[2, 3]"});
    expect_error([&] { ln.output_shape(Shape{4}); }, {"expected input with shape [*, 3, 4]"});
    expect_error([&] { LayerNorm(ctx, {}); }, {"normalized_shape must have at least one dimension"});
    expect_error([&] { LayerNorm(ctx, {-2}); }, {"negative size"});
    expect_error([&] { LayerNorm(ctx, {4}, -1.0); }, {"eps must be a finite non-negative number"});
    const auto d = model_from_json(
        ctx, R"({"layers": [{"name": "ln", "type": "LayerNorm", "normalized_shape": [4], "eps": 1e-6}]})", "t");
    EXPECT_EQ(d.model->layer("ln").repr(), "LayerNorm((4,), eps=1e-06, elementwise_affine=True)");
    expect_error([&] { model_from_json(ctx, R"({"layers": [{"name": "ln", "type": "LayerNorm", "normalized_shape": "x"}]})", "t"); },
                 {"normalized_shape", "must be an integer or a list"});
}

}  // namespace
}  // namespace vkconv
