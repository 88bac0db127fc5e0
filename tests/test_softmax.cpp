// Softmax and LogSoftmax (shaders/softmax.comp, LOG) on the GPU against the CPU reference: every dim of 1-d to
// 4-d tensors, negative dims, 0-d; both shader modes (a workgroup per row: last dim or few
// rows; an invocation per row: a strided dim with many rows); long rows; inputs of large
// magnitude where an unstabilized exp() would overflow or underflow; split dispatches;
// refusals.
//
// Tolerance, per element j of a row with maximum m and d_j = x_j - m <= 0 (exact in double):
//   - fp32 x_j - m is off by at most 2^-24 |d_j|, which exp() turns into a relative error
//     of 2^-24 |d_j|;
//   - Vulkan allows exp() an error of 3 + 2|x| ulp, i.e. a relative (3 + 2|d_j|) * 2^-23;
//   so each exp term has relative error e_j <= (6 + 5|d_j|) * 2^-24 (|d_j| capped at 104:
//   further out exp underflows to 0 both ways and adds at most 2^-149 per term to a sum >= 1);
//   - the fp32 sum of D positive terms has relative error <= (D - 1) * 2^-24 + max_k e_k;
//   - the division is allowed 2.5 ulp (5 * 2^-24) and the reference's rounding to fp32 2^-24.
//   tol_j = y_j * (e_j + max_k e_k + (D + 6) * 2^-24) + 1e-35 (denormal results may flush).
//
// LogSoftmax's tolerance, per element j of a row of D elements with maximum m, d_j = x_j - m <= 0, and
// s = sum_k exp(d_k) >= 1 (the max's term is 1), u = 2^-24:
//   - each exp term has relative error <= (6 + 5|d_k|) u (the derivation above), and
//     |d_k| e^{d_k} <= 1/e, so the terms' absolute errors sum to <= (6 + 2) u s; the fp32 sum
//     adds (D - 1) u s: s has relative error <= (D + 7) u;
//   - log(s) is then off by that much absolutely, plus Vulkan's log error: 2^-21 absolute for
//     s in [0.5, 2], 3 ulp (6u log s) outside;
//   - d_j - log(s) rounds once (u |y|), d_j itself once (u |d_j| <= u |y|, as log s >= 0), and
//     the reference's rounding to fp32 u |y|.
//   tol = (D + 7) u + 2^-21 + 6u log(s) + 3u |y|.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::expect_error;

// Calls row(at, d) for every row along `dim`, with at(j) the flat index of the row's j-th element.
void for_each_row(const Shape& shape, int dim, const std::function<void(const std::function<size_t(int64_t)>&, int64_t)>& row) {
    if (dim < 0) dim += static_cast<int>(std::max<size_t>(shape.size(), 1));
    int64_t outer = 1, d = 1, inner = 1;
    if (!shape.empty()) {
        for (int i = 0; i < dim; ++i) outer *= shape[static_cast<size_t>(i)];
        d = shape[static_cast<size_t>(dim)];
        for (size_t i = static_cast<size_t>(dim) + 1; i < shape.size(); ++i) inner *= shape[i];
    }
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) row([&](int64_t j) { return static_cast<size_t>((o * d + j) * inner + i); }, d);
}

// The tolerances derived above, for every element.
std::vector<float> softmax_tolerance(const Shape& shape, int dim, const std::vector<float>& x, const std::vector<float>& y) {
    const double u = std::ldexp(1.0, -24);
    std::vector<float> tol(x.size());
    for_each_row(shape, dim, [&](const auto& at, int64_t d) {
        double m = -INFINITY;
        for (int64_t j = 0; j < d; ++j) m = std::max(m, double(x[at(j)]));
        auto e = [&](int64_t j) { return (6 + 5 * std::min(m - x[at(j)], 104.0)) * u; };
        double e_max = 0;
        for (int64_t j = 0; j < d; ++j) e_max = std::max(e_max, e(j));
        for (int64_t j = 0; j < d; ++j) tol[at(j)] = static_cast<float>(y[at(j)] * (e(j) + e_max + double(d + 6) * u) + 1e-35);
    });
    return tol;
}

std::vector<float> log_softmax_tolerance(const Shape& shape, int dim, const std::vector<float>& x, const std::vector<float>& y) {
    const double u = std::ldexp(1.0, -24);
    std::vector<float> tol(x.size());
    for_each_row(shape, dim, [&](const auto& at, int64_t d) {
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < d; ++j) m = std::max(m, double(x[at(j)]));
        for (int64_t j = 0; j < d; ++j) s += std::exp(double(x[at(j)]) - m);
        for (int64_t j = 0; j < d; ++j)
            tol[at(j)] = static_cast<float>(double(d + 7) * u + std::ldexp(1.0, -21) + 6 * u * std::log(s) + 3 * u * std::fabs(y[at(j)]));
    });
    return tol;
}

struct SoftmaxCase {
    Shape input;
    int dim;
    float scale = 1;   // inputs are scale * U[-1, 1) + offset
    float offset = 0;
    bool staging = false;
    bool log = false;  // LogSoftmax
    std::string str() const {
        std::ostringstream s;
        s << (log ? "LogSoftmax(dim=" : "Softmax(dim=") << dim << ") input=" << shape_str(input) << " values=" << scale << "*U[-1,1)+" << offset
          << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const SoftmaxCase& c, std::ostream* os) { *os << c.str(); }

class SoftmaxSweep : public test::VulkanTest, public ::testing::WithParamInterface<SoftmaxCase> {};

TEST_P(SoftmaxSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    std::unique_ptr<Layer> sm = c.log ? std::unique_ptr<Layer>(new LogSoftmax(ctx, c.dim)) : std::unique_ptr<Layer>(new Softmax(ctx, c.dim));
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), std::hash<std::string>{}(c.str()));
    for (auto& v : x) v = v * c.scale + c.offset;
    const Tensor y = sm->forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), c.input);
    const auto got = y.to_host();
    const auto want = c.log ? LogSoftmax(ctx, c.dim).reference(c.input, x) : Softmax(ctx, c.dim).reference(c.input, x);
    if (c.log) {
        for (float v : want) ASSERT_TRUE(v <= 0) << c.str();  // log of a probability
        EXPECT_TRUE(test::all_close(got, want, log_softmax_tolerance(c.input, c.dim, x, want))) << c.str();
    } else {
        for (float v : got) ASSERT_TRUE(std::isfinite(v)) << c.str();
        EXPECT_TRUE(test::all_close(got, want, softmax_tolerance(c.input, c.dim, x, want))) << c.str();
    }
}

std::vector<SoftmaxCase> cases() {
    std::vector<SoftmaxCase> v;
    // Every dim, positive and negative, of 1-d to 4-d tensors.
    const Shape shapes[] = {{7}, {3, 5}, {2, 3, 4}, {2, 3, 4, 5}};
    for (const auto& s : shapes) {
        const int n = static_cast<int>(s.size());
        for (int d = -n; d < n; ++d) v.push_back({s, d});
    }
    v.push_back({{}, 0});
    v.push_back({{}, -1});
    // Last dim: long rows, odd lengths, rows longer than the workgroup.
    v.push_back({{3, 1000}, -1});
    v.push_back({{2, 4097}, 1});
    v.push_back({{2000, 10}, 1});
    v.push_back({{1, 1}, 1});
    // Strided dim with many rows (an invocation per row) and with few (a workgroup per row).
    v.push_back({{4, 10, 32, 32}, 1});
    v.push_back({{2, 50, 3}, 1});
    v.push_back({{300, 70, 5}, 1});
    v.push_back({{1500, 2}, 0});
    // Large magnitudes: exp(x) alone would overflow (x ~ 1e4) or underflow (x ~ -1e4); spreads
    // of 200 push most terms to underflow after subtracting the max.
    v.push_back({{4, 100}, 1, 100, 10000});
    v.push_back({{4, 100}, 1, 100, -10000});
    v.push_back({{2, 30, 64, 40}, 1, 50, 1e4f});
    v.push_back({{8, 333}, -1, 1e4f, 0});
    v.push_back({{3, 5, 7}, 0, 1e30f, 0});
    v.push_back({{5, 64}, 1, 1, 1e7f});
    v.push_back({{3, 200}, 1, 20, 0, true});
    return v;
}

// LogSoftmax: every dim of 1-d to 5-d tensors, long rows, both shader modes, large magnitudes.
std::vector<SoftmaxCase> log_cases() {
    std::vector<SoftmaxCase> v;
    const Shape shapes[] = {{7}, {3, 5}, {2, 3, 4}, {2, 3, 4, 5}, {2, 3, 2, 3, 4}};
    for (const auto& s : shapes) {
        const int n = static_cast<int>(s.size());
        for (int d = -n; d < n; ++d) v.push_back({s, d});
    }
    v.push_back({{}, 0});
    v.push_back({{3, 1000}, -1});
    v.push_back({{2, 4097}, 1});
    v.push_back({{4, 10, 32, 32}, 1});  // strided, many rows: an invocation per row
    v.push_back({{300, 70, 5}, 1});
    v.push_back({{4, 100}, 1, 100, 10000});
    v.push_back({{4, 100}, 1, 100, -10000});
    v.push_back({{8, 333}, -1, 1e4f, 0});  // most terms underflow: y = d - log(~1)
    v.push_back({{3, 200}, 1, 20, 0, true});
    for (auto& c : v) c.log = true;
    return v;
}

std::string case_name(const ::testing::TestParamInfo<SoftmaxCase>& info) { return "case" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Dims, SoftmaxSweep, ::testing::ValuesIn(cases()), case_name);
INSTANTIATE_TEST_SUITE_P(LogDims, SoftmaxSweep, ::testing::ValuesIn(log_cases()), case_name);

class SoftmaxLayer : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// softmax([1e4, 1e4, 1e4 - ln 2 ... ]) computed without overflow: e^0 : e^0 : e^{-ln 2}
// = 1 : 1 : 0.5, so 0.4, 0.4, 0.2. And a row where every term but the max underflows.
TEST_F(SoftmaxLayer, HandComputedStability) {
    auto& ctx = test::context();
    Softmax sm(ctx, -1);
    const float big = 10000.0f;
    const float third = big - static_cast<float>(std::log(2.0));  // big - ln 2, rounded: exp gives ~0.5
    const std::vector<float> x{big, big, third, -big, 0.0f, big};
    const auto y = sm.forward(Tensor::from_host(ctx, {2, 3}, x)).to_host();
    const double r = std::exp(double(third) - big);  // ~0.5, with third's rounding
    EXPECT_NEAR(y[0], 1 / (2 + r), 1e-6);
    EXPECT_NEAR(y[1], 1 / (2 + r), 1e-6);
    EXPECT_NEAR(y[2], r / (2 + r), 1e-6);
    EXPECT_NEAR(y[3], 0.0f, 1e-30);
    EXPECT_NEAR(y[4], 0.0f, 1e-30);
    EXPECT_NEAR(y[5], 1.0f, 1e-6);
    // A 0-d tensor is a row of one: 1.
    const auto one = sm.forward(Tensor::from_host(ctx, {}, std::vector<float>{-3e38f})).to_host();
    ASSERT_EQ(one.size(), 1u);
    EXPECT_NEAR(one[0], 1.0f, 1e-6);
}

TEST_F(SoftmaxLayer, EmptyTensors) {
    auto& ctx = test::context();
    Softmax sm(ctx, 1);
    EXPECT_EQ(sm.forward(Tensor(ctx, {2, 0, 3})).shape(), (Shape{2, 0, 3}));
    EXPECT_EQ(sm.forward(Tensor(ctx, {0, 4})).shape(), (Shape{0, 4}));
}

// Both shader modes under a cap of 3 workgroups per dispatch.
TEST_F(SoftmaxLayer, SplitDispatchesCoverEveryRow) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(3);
    struct S { Shape shape; int dim; uint32_t dispatches; };
    const S table[] = {
        {{20, 9}, 1, 7},           // 20 rows, a workgroup each: ceil(20 / 3)
        {{3, 5, 30, 40}, 1, 19},   // 3600 rows > 1024, 64 per workgroup: ceil(ceil(3600 / 64) / 3)
    };
    for (const auto& t : table) {
        Softmax sm(ctx, t.dim);
        const auto x = test::random_values(static_cast<size_t>(shape_numel(t.shape)), 5);
        const Tensor xt = Tensor::from_host(ctx, t.shape, x);
        const Tensor y(ctx, t.shape);
        CommandRecorder rec(ctx);
        sm.record(rec, std::span(&xt, 1), y);
        EXPECT_EQ(rec.dispatch_count(), t.dispatches) << shape_str(t.shape);
        rec.submit_and_wait();
        const auto want = sm.reference(t.shape, x);
        EXPECT_TRUE(test::all_close(y.to_host(), want, softmax_tolerance(t.shape, t.dim, x, want))) << shape_str(t.shape);
    }
}

TEST_F(SoftmaxLayer, PrintsLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(Softmax(ctx, 1).repr(), "Softmax(dim=1)");
    EXPECT_EQ(Softmax(ctx, -1).repr(), "Softmax(dim=-1)");
    EXPECT_EQ(Softmax(ctx, 1).type(), "Softmax");
}

TEST_F(SoftmaxLayer, RefusesDimOutOfRange) {
    auto& ctx = test::context();
    expect_error([&] { Softmax(ctx, 2).output_shape({3, 4}); }, {"Dimension out of range (expected to be in range of [-2, 1], but got 2)"});
    expect_error([&] { Softmax(ctx, -3).output_shape({3, 4}); }, {"Dimension out of range (expected to be in range of [-2, 1], but got -3)"});
    expect_error([&] { Softmax(ctx, 1).output_shape(Shape{}); }, {"Dimension out of range (expected to be in range of [-1, 0], but got 1)"});
    CommandRecorder rec(ctx);
    const Tensor x(ctx, {2, 3}), wrong(ctx, {3, 2});
    expect_error([&] { Softmax(ctx, 1).record(rec, std::span(&x, 1), wrong); }, {"output tensor has shape [3, 2], expected [2, 3]"});
}

class LogSoftmaxLayer : public test::VulkanTest {};

// log_softmax([0, ln 3 - ln 2 ... ]) by hand, NaN rows stay NaN, empty tensors, repr.
TEST_F(LogSoftmaxLayer, HandComputedNaNAndRepr) {
    auto& ctx = test::context();
    LogSoftmax sm(ctx, -1);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x{0.0f, 0.0f, 1.0f, nan, 1e4f, 1e4f};
    const auto y = sm.forward(Tensor::from_host(ctx, {3, 2}, x)).to_host();
    EXPECT_NEAR(y[0], -std::log(2.0), 1e-6);
    EXPECT_NEAR(y[1], -std::log(2.0), 1e-6);
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_TRUE(std::isnan(y[3]));
    EXPECT_NEAR(y[4], -std::log(2.0), 1e-6);
    EXPECT_NEAR(y[5], -std::log(2.0), 1e-6);
    EXPECT_EQ(sm.forward(Tensor(ctx, {2, 0, 3})).shape(), (Shape{2, 0, 3}));
    EXPECT_EQ(LogSoftmax(ctx, 1).repr(), "LogSoftmax(dim=1)");
    EXPECT_EQ(LogSoftmax(ctx, 1).type(), "LogSoftmax");
    test::expect_error([&] { LogSoftmax(ctx, 2).output_shape({3, 4}); }, {"Dimension out of range"});
}

}  // namespace
}  // namespace vkconv
