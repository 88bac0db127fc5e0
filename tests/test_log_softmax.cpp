// LogSoftmax (shaders/softmax.comp with LOG) on the GPU against the CPU reference: every dim of
// 1-d to 4-d tensors, both shader modes (a workgroup per row; an invocation per row for a
// strided dim with many rows), long rows, large magnitudes, NaN, 0-d and empty tensors.
//
// Tolerance, per element j of a row of D elements with maximum m, d_j = x_j - m <= 0, and
// s = sum_k exp(d_k) >= 1 (the max's term is 1), u = 2^-24:
//   - each exp term has relative error <= (6 + 5|d_k|) u (test_softmax.cpp's derivation), and
//     |d_k| e^{d_k} <= 1/e, so the terms' absolute errors sum to <= (6 + 2) u s; the fp32 sum
//     adds (D - 1) u s: s has relative error <= (D + 7) u;
//   - log(s) is then off by that much absolutely, plus Vulkan's log error: 2^-21 absolute for
//     s in [0.5, 2], 3 ulp (6u log s) outside;
//   - d_j - log(s) rounds once (u |y|), d_j itself once (u |d_j| <= u |y|, as log s >= 0), and
//     the reference's rounding to fp32 u |y|.
//   tol = (D + 7) u + 2^-21 + 6u log(s) + 3u |y|.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

std::vector<float> log_softmax_tolerance(const Shape& shape, int dim, const std::vector<float>& x, const std::vector<float>& y) {
    if (dim < 0) dim += static_cast<int>(std::max<size_t>(shape.size(), 1));
    int64_t outer = 1, d = 1, inner = 1;
    if (!shape.empty()) {
        for (int i = 0; i < dim; ++i) outer *= shape[static_cast<size_t>(i)];
        d = shape[static_cast<size_t>(dim)];
        for (size_t i = static_cast<size_t>(dim) + 1; i < shape.size(); ++i) inner *= shape[i];
    }
    const double u = std::ldexp(1.0, -24);
    std::vector<float> tol(x.size());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            auto at = [&](int64_t j) { return static_cast<size_t>((o * d + j) * inner + i); };
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < d; ++j) m = std::max(m, double(x[at(j)]));
            for (int64_t j = 0; j < d; ++j) s += std::exp(double(x[at(j)]) - m);
            for (int64_t j = 0; j < d; ++j)
                tol[at(j)] = static_cast<float>(double(d + 7) * u + std::ldexp(1.0, -21) + 6 * u * std::log(s) + 3 * u * std::fabs(y[at(j)]));
        }
    return tol;
}

struct Case {
    Shape input;
    int dim;
    float scale = 1;  // inputs are scale * U[-1, 1) + offset
    float offset = 0;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << "LogSoftmax(dim=" << dim << ") input=" << shape_str(input) << " values=" << scale << "*U[-1,1)+" << offset
          << (staging ? " staging" : "");
        return s.str();
    }
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.str(); }

class LogSoftmaxSweep : public test::VulkanTest, public ::testing::WithParamInterface<Case> {};

TEST_P(LogSoftmaxSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    LogSoftmax sm(ctx, c.dim);
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), std::hash<std::string>{}(c.str()));
    for (auto& v : x) v = v * c.scale + c.offset;
    const Tensor y = sm.forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), c.input);
    const auto got = y.to_host();
    const auto want = sm.reference(c.input, x);
    for (float v : want) ASSERT_TRUE(v <= 0) << c.str();  // log of a probability
    EXPECT_TRUE(test::all_close(got, want, log_softmax_tolerance(c.input, c.dim, x, want))) << c.str();
}

std::vector<Case> cases() {
    std::vector<Case> v;
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
    return v;
}

INSTANTIATE_TEST_SUITE_P(Dims, LogSoftmaxSweep, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

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
