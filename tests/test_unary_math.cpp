// Erf, Sqrt and Pow (vkconv/unary_math.h; activation.glsl's act_erf, act_sqrt, act_pow) against
// the CPU reference (C's erf, sqrt, pow in double) on 0-d to 5-d shapes with special values
// (NaN, +-inf, +-0, negatives, tiny and huge), every exponent branch of Pow, inside a Model
// (fused into a Conv2d's epilogue), reprs.
//
// Tolerances, u = 2^-23 (one ulp is at most u |v|), from the Vulkan precision rules (OpFMul and
// OpFAdd correctly rounded, division 2.5 ulp, inversesqrt 2 ulp, sqrt inherited from
// 1 / inversesqrt, exp2 3 + 2|x| ulp, log2 3 ulp outside [0.5, 2] and 2^-21 absolute inside):
//   Erf                1.5e-7 + 26u absolute (test_activations.cpp's derivation of act_erf).
//   Sqrt, Pow 0.5      2 + 2.5 ulp: 5u |y|.
//   Pow 2, 3           one and two roundings: u |y|, 2u |y|.  Pow 0, 1: exact.  Pow -1: 2.5u |y|.
//   Pow e (general)    exp2(t), t = e log2|x| rounded: log2 is off by
//                      delta = max(3u |log2 x|, 2^-21) absolute, t by |e| delta + u |t|, and exp2
//                      turns an absolute error of t into a relative one times ln 2, plus its own
//                      (3 + 2|t|) ulp: |y| (ln 2 (|e| delta + u |t|) + (3 + 2|t|) u).
// Every kind also gets the double reference's rounding (u |y|) and 2^-120 absolute (a device
// may flush denormal results).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/conv2d.h"
#include "vkconv/model.h"
#include "vkconv/unary_math.h"

namespace vkconv {
namespace {

constexpr double kU = 1.0 / (1 << 23);

double tolerance(const Activation& a, double x, double y) {
    const double ay = std::isfinite(y) ? std::fabs(y) : 0.0;
    double tol = 0;
    if (a.kind == ActivationKind::Erf) {
        tol = 1.5e-7 + 26 * kU;
    } else if (a.kind == ActivationKind::Sqrt || (a.kind == ActivationKind::Pow && a.alpha == 0.5f)) {
        tol = 5 * kU * ay;
    } else {
        const double e = a.alpha;
        if (e == 0 || e == 1) tol = 0;
        else if (e == 2) tol = kU * ay;
        else if (e == 3) tol = 2 * kU * ay;
        else if (e == -1) tol = 2.5 * kU * ay;
        else if (std::isfinite(x) && x != 0) {
            const double l = std::log2(std::fabs(x)), t = e * l;
            const double delta = std::max(3 * kU * std::fabs(l), std::ldexp(1.0, -21));
            tol = ay * (std::log(2.0) * (std::fabs(e) * delta + kU * std::fabs(t)) + (3 + 2 * std::fabs(t)) * kU);
        }
    }
    return tol + kU * ay + std::ldexp(1.0, -120);
}

std::vector<float> inputs(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    for (auto& e : v) e *= 8.0f;
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, 0.0f, -0.0f, 100.0f, -100.0f,
                              1e-30f, -1e-30f, 1.0f, -1.0f, 2.0f, 0.5f, 1e-3f, 1e3f, 1e10f, -2.0f};
    constexpr size_t k = sizeof(specials) / sizeof(specials[0]);
    for (size_t i = 2; i < n; i += 5) v[i] = specials[(i / 5) % k];
    return v;
}

struct Kind {
    std::string name;
    std::function<std::unique_ptr<ActivationLayer>(Context&)> make;
};

std::vector<Kind> kinds() {
    std::vector<Kind> k{{"Erf", [](Context& c) { return std::make_unique<Erf>(c); }},
                        {"Sqrt", [](Context& c) { return std::make_unique<Sqrt>(c); }}};
    for (float e : {0.0f, 1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 2.5f, -1.5f, 4.0f, -2.0f, 1.0f / 3.0f, 7.0f})
        k.push_back({"Pow(" + std::to_string(e) + ")", [e](Context& c) { return std::make_unique<Pow>(c, e); }});
    return k;
}

struct Case {
    size_t kind;
    Shape shape;
    std::string str() const { return kinds()[kind].name + " shape=" + shape_str(shape); }
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.str(); }

class UnaryMathSweep : public test::VulkanTest, public ::testing::WithParamInterface<Case> {};

::testing::AssertionResult close_to(std::span<const float> got, std::span<const float> want, std::span<const float> x, const Activation& a) {
    std::ostringstream msg;
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const float g = got[i], w = want[i];
        bool ok;
        if (std::isnan(w)) ok = std::isnan(g);
        else if (std::isinf(w)) ok = g == w;
        else ok = !std::isnan(g) && std::fabs(double(g) - double(w)) <= tolerance(a, x[i], w);
        if (!ok && bad++ < 8) msg << "\n  [" << i << "] x=" << x[i] << " got " << g << ", want " << w << " (tol " << tolerance(a, x[i], w) << ")";
    }
    if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ:" << msg.str();
    return ::testing::AssertionSuccess();
}

TEST_P(UnaryMathSweep, MatchesReference) {
    const auto& c = GetParam();
    auto& ctx = test::context();
    auto layer = kinds()[c.kind].make(ctx);
    const auto x = inputs(static_cast<size_t>(shape_numel(c.shape)), std::hash<std::string>{}(c.str()));
    const Tensor y = layer->forward(Tensor::from_host(ctx, c.shape, x));
    ASSERT_EQ(y.shape(), c.shape) << c.str();
    EXPECT_TRUE(close_to(y.to_host(), layer->reference(c.shape, x), x, layer->activation())) << c.str();
}

std::vector<Case> cases() {
    const Shape shapes[] = {{}, {0}, {7}, {257}, {1031}, {3, 5}, {2, 3, 7}, {2, 3, 4, 5}, {2, 3, 2, 3, 4}};
    std::vector<Case> out;
    for (size_t k = 0; k < kinds().size(); ++k)
        for (const auto& s : shapes) out.push_back({k, s});
    return out;
}

INSTANTIATE_TEST_SUITE_P(KindsShapes, UnaryMathSweep, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

class UnaryMath : public test::VulkanTest {};

// Hand-checked values, the reference's C semantics, reprs.
TEST_F(UnaryMath, ValuesAndReprs) {
    auto& ctx = test::context();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x{4.0f, -4.0f, 0.0f, nan};
    const auto s = Sqrt(ctx).forward(Tensor::from_host(ctx, {4}, x)).to_host();
    EXPECT_EQ(s[0], 2.0f);
    EXPECT_TRUE(std::isnan(s[1]));
    EXPECT_EQ(s[2], 0.0f);
    EXPECT_TRUE(std::isnan(s[3]));
    const auto p = Pow(ctx, 3.0f).forward(Tensor::from_host(ctx, {4}, x)).to_host();
    EXPECT_EQ(p[0], 64.0f);
    EXPECT_EQ(p[1], -64.0f);
    EXPECT_TRUE(std::isnan(Pow(ctx, 1.5f).forward(Tensor::from_host(ctx, {1}, std::vector<float>{-4.0f})).to_host()[0]));
    EXPECT_EQ(Pow(ctx, 0.0f).forward(Tensor::from_host(ctx, {1}, std::vector<float>{nan})).to_host()[0], 1.0f);
    EXPECT_EQ(Pow(ctx, 2.0f).repr(), "Pow(exponent=2.0)");
    EXPECT_EQ(Sqrt(ctx).repr(), "Sqrt()");
    EXPECT_EQ(Erf(ctx).repr(), "Erf()");
}

// In a Model each is fused into the Conv2d before it (the epilogue path) and gives the same as
// unfused. Integer-valued weights and inputs keep the convolution exact in any summation order,
// so both are compared with the reference applied to the exact convolution output.
TEST_F(UnaryMath, FusedIntoConvolution) {
    auto& ctx = test::context();
    auto integers = [](size_t n, uint64_t seed) {
        auto v = test::random_values(n, seed);
        for (auto& e : v) e = std::round(e * 4.0f);
        return v;
    };
    const Shape s{1, 2, 5, 6};
    const auto x = integers(60, 5);
    for (auto& k : kinds()) {
        Model m(ctx, "m");
        Conv2dParams p;
        p.in_channels = 2;
        p.out_channels = 3;
        p.kernel = Pair(3);
        p.options.padding = Padding(1);
        auto conv = std::make_unique<Conv2d>(ctx, p);
        conv->set_weight(integers(54, 3));
        conv->set_bias(integers(3, 4));
        const auto conv_out = conv->reference(s, x);  // exact: small integers
        m.add("conv", std::move(conv));
        auto act = k.make(ctx);
        const Activation a = act->activation();
        m.add("act", std::move(act));
        std::vector<float> want(conv_out.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(activation_reference(a, conv_out[i]));
        EXPECT_TRUE(close_to(m.forward(Tensor::from_host(ctx, s, x)).to_host(), want, conv_out, a)) << k.name << " fused";
        EXPECT_EQ(m.last_forward_stats().submissions, 1u);
        m.set_fusion(false);
        EXPECT_TRUE(close_to(m.forward(Tensor::from_host(ctx, s, x)).to_host(), want, conv_out, a)) << k.name << " unfused";
    }
}

}  // namespace
}  // namespace vkconv
