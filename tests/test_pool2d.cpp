// MaxPool2d and AvgPool2d (shaders/pool2d.comp) on the GPU against the CPU reference: sweeps of
// kernel (square, rectangular, 1), stride (default = kernel, 1, rectangular), padding (up to
// half the kernel), dilation, ceil_mode, count_include_pad and divisor_override over odd,
// rectangular, batched and unbatched (3-D) inputs; hand-computed values where PyTorch's rules
// are subtle; split dispatches; every refusal. The sweep runs ~4800 cases in 50 tests, one per
// (max/avg, kernel, stride), each naming the failing case's every parameter.
//
// Tolerance: max pooling selects one input value, so it must be bit-identical (NaN included).
// Average pooling sums at most kh * kw fp32 values, then divides; the reference sums in
// double. The fp32 summation bound of test::fp32_sum_tolerance applies per output,
// (terms + 1) * 2^-24 * sum|x| / |divisor| doubled, plus 1e-6 (covering the division's 2.5 ulp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();

using test::bit_equal;

using test::expect_error;

std::string pair_str(Pair p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; }

struct PoolCase {
    bool avg = false;
    Shape input;
    Pair kernel;
    std::optional<Pair> stride;
    Pair padding{0};
    Pair dilation{1};  // max only
    bool ceil_mode = false;
    bool count_include_pad = true;     // avg only
    std::optional<int> divisor;        // avg only
    bool specials = false;             // NaN / inf / -0.0 among the inputs (max only)
    bool staging = false;

    std::string str() const {
        std::ostringstream s;
        s << (avg ? "AvgPool2d" : "MaxPool2d") << " input=" << shape_str(input) << " kernel_size=" << pair_str(kernel)
          << " stride=" << (stride ? pair_str(*stride) : "None") << " padding=" << pair_str(padding);
        if (!avg) s << " dilation=" << pair_str(dilation);
        s << " ceil_mode=" << ceil_mode;
        if (avg) s << " count_include_pad=" << count_include_pad << " divisor_override=" << (divisor ? std::to_string(*divisor) : "None");
        if (specials) s << " specials";
        if (staging) s << " staging";
        return s.str();
    }

    std::unique_ptr<Layer> make(Context& ctx) const {
        if (avg) return std::make_unique<AvgPool2d>(ctx, kernel, AvgPool2dOptions{.stride = stride, .padding = padding, .ceil_mode = ceil_mode, .count_include_pad = count_include_pad, .divisor_override = divisor});
        return std::make_unique<MaxPool2d>(ctx, kernel, MaxPool2dOptions{.stride = stride, .padding = padding, .dilation = dilation, .ceil_mode = ceil_mode});
    }
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.str(); }

std::vector<float> with_specials(std::vector<float> v) {
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), kInf, -kInf, -0.0f, 0.0f};
    for (size_t i = 5; i < v.size(); i += 13) v[i] = specials[(i / 13) % 5];
    return v;
}

// Checks one case; failures name it.
void check_case(const PoolCase& c) {
    SCOPED_TRACE(c.str());
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const auto layer = c.make(ctx);
    const uint64_t seed = std::hash<std::string>{}(c.str());
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    if (c.specials) x = with_specials(std::move(x));
    const auto want = layer->reference(c.input, x);
    test::for_each_input_path(ctx, [&](const std::string& knobs) {
        SCOPED_TRACE(knobs);
        const Tensor y = layer->forward(Tensor::from_host(ctx, c.input, x));
        ASSERT_EQ(y.shape(), layer->output_shape(c.input));
        const auto got = y.to_host();
        if (!c.avg) {
            EXPECT_TRUE(bit_equal(got, want));
            return;
        }
        auto abs_x = x;
        for (auto& v : abs_x) v = std::fabs(v);
        auto abs_sums = layer->reference(c.input, abs_x);
        for (auto& v : abs_sums) v = std::fabs(v);  // a negative divisor_override makes them negative
        EXPECT_TRUE(test::all_close(got, want, test::fp32_sum_tolerance(abs_sums, int64_t(c.kernel.h) * c.kernel.w)));
    });
}

class Pool2dSweep : public test::VulkanTest, public ::testing::WithParamInterface<PoolCase> {};

TEST_P(Pool2dSweep, MatchesReference) { check_case(GetParam()); }

std::string case_name(const ::testing::TestParamInfo<PoolCase>& info) { return "case" + std::to_string(info.index); }

const Shape kInputs[] = {{2, 3, 9, 11}, {3, 7, 8}, {1, 2, 10, 13}, {3, 1, 5, 6}, {1, 1, 1, 1}};
const Pair kKernels[] = {Pair(1), Pair(2), Pair(3), Pair(2, 3), Pair(3, 1)};
const std::optional<Pair> kStrides[] = {std::nullopt, Pair(1), Pair(2), Pair(1, 2), Pair(3)};
const Pair kPaddings[] = {Pair(0), Pair(1), Pair(1, 0)};
const Pair kDilations[] = {Pair(1), Pair(2), Pair(1, 3)};
const std::optional<int> kDivisors[] = {std::nullopt, 3, -2};

// True when PyTorch accepts the parameters (pad <= kernel / 2) and the input gives a non-empty
// output. Only filters the sweeps (test registration must not need a Vulkan device); the rules
// themselves are checked by CeilModeOutputSizes and RefusesBadParameters.
bool valid(const PoolCase& c) {
    auto axis_ok = [&](int64_t in, int k, int s, int p, int d) {
        if (p > k / 2) return false;
        const int64_t num = in + 2 * p - int64_t(d) * (k - 1) - 1 + (c.ceil_mode ? s - 1 : 0);
        if (num < 0) return false;
        int64_t out = num / s + 1;
        if (c.ceil_mode && (out - 1) * s >= in + p) --out;
        return out >= 1;
    };
    const Pair s = c.stride.value_or(c.kernel);
    const size_t n = c.input.size();
    return axis_ok(c.input[n - 2], c.kernel.h, s.h, c.padding.h, c.dilation.h) &&
           axis_ok(c.input[n - 1], c.kernel.w, s.w, c.padding.w, c.dilation.w);
}

// The full sweep, grouped so that each test (one process under ctest) covers one kernel and
// stride: every padding x dilation (max) or count_include_pad x divisor_override (avg) x
// ceil_mode x input, NaN/inf/-0.0 among the max-pool inputs in a quarter of the cases.
struct PoolGroup {
    bool avg;
    Pair kernel;
    std::optional<Pair> stride;

    std::string str() const {
        return std::string(avg ? "AvgPool2d" : "MaxPool2d") + " kernel_size=" + pair_str(kernel) +
               " stride=" + (stride ? pair_str(*stride) : "None");
    }
    std::vector<PoolCase> cases() const {
        std::vector<PoolCase> v;
        int i = 0;
        for (const auto& in : kInputs)
            for (auto p : kPaddings)
                for (bool ceil : {false, true}) {
                    if (!avg) {
                        for (auto d : kDilations) {
                            PoolCase c{false, in, kernel, stride, p, d, ceil};
                            c.specials = i++ % 4 == 0;
                            if (valid(c)) v.push_back(c);
                        }
                    } else {
                        for (bool cip : {true, false})
                            for (auto div : kDivisors) {
                                PoolCase c{true, in, kernel, stride, p, 1, ceil, cip, div};
                                if (valid(c)) v.push_back(c);
                            }
                    }
                }
        return v;
    }
};

void PrintTo(const PoolGroup& g, std::ostream* os) { *os << g.str(); }

class Pool2dGroupSweep : public test::VulkanTest, public ::testing::WithParamInterface<PoolGroup> {};

TEST_P(Pool2dGroupSweep, MatchesReference) {
    const auto cases = GetParam().cases();
    for (const auto& c : cases) check_case(c);
    RecordProperty("cases", static_cast<int>(cases.size()));
}

std::vector<PoolGroup> groups(bool avg) {
    std::vector<PoolGroup> v;
    for (auto k : kKernels)
        for (auto s : kStrides) v.push_back({avg, k, s});
    return v;
}

std::string group_name(const ::testing::TestParamInfo<PoolGroup>& info) { return "group" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Max, Pool2dGroupSweep, ::testing::ValuesIn(groups(false)), group_name);
INSTANTIATE_TEST_SUITE_P(Avg, Pool2dGroupSweep, ::testing::ValuesIn(groups(true)), group_name);

// Every group has cases (a filter bug would silently drop them).
TEST(Pool2dSweepCoverage, EveryGroupHasCases) {
    size_t total = 0;
    for (bool avg : {false, true})
        for (const auto& g : groups(avg)) {
            EXPECT_GT(g.cases().size(), 10u) << g.str();
            total += g.cases().size();
        }
    EXPECT_GT(total, 3000u);
}

// Bigger kernels and images, tiles not multiples of 8, the staging memory path.
std::vector<PoolCase> size_cases() {
    std::vector<PoolCase> cases;
    cases.push_back({false, {2, 5, 33, 47}, Pair(5, 4), Pair(3, 2), Pair(2, 1), Pair(2, 1), true});
    cases.push_back({false, {4, 8, 17, 17}, Pair(3), Pair(2), Pair(1), Pair(1), false});  // ResNet's stem pool
    cases.push_back({true, {2, 5, 33, 47}, Pair(5, 4), Pair(3, 2), Pair(2, 1), Pair(1), true, false});
    cases.push_back({true, {2, 5, 33, 47}, Pair(7), Pair(1), Pair(3), Pair(1), false, true});
    cases.push_back({true, {1, 3, 16, 16}, Pair(16), std::nullopt, Pair(0), Pair(1), false, true, 100});
    // Rows a multiple of 4 wide (CPU devices read them 4 columns a fetch; W = 8 in the sweeps
    // gives pad 0 and 1): windows starting 2 and 1 columns into a texel, ceil_mode.
    cases.push_back({false, {2, 5, 12, 20}, Pair(5), Pair(2), Pair(2), Pair(1), true});
    cases.push_back({true, {2, 5, 12, 20}, Pair(5), Pair(2), Pair(2), Pair(1), true, false});
    cases.push_back({false, {1, 4, 9, 24}, Pair(7), Pair(3), Pair(3), Pair(1, 2), false});
    PoolCase a{false, {2, 3, 9, 10}, Pair(3), Pair(2), Pair(1), Pair(1), true};
    a.staging = true;
    cases.push_back(a);
    PoolCase b{true, {2, 3, 9, 10}, Pair(3), Pair(2), Pair(1), Pair(1), true, false};
    b.staging = true;
    cases.push_back(b);
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Sizes, Pool2dSweep, ::testing::ValuesIn(size_cases()), case_name);

class Pool2d : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
    std::vector<float> run(Layer& layer, const Shape& shape, const std::vector<float>& x) {
        return layer.forward(Tensor::from_host(test::context(), shape, x)).to_host();
    }
};

std::vector<float> arange(int n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
    return v;
}

// Output sizes (ceil_mode, floor mode) per axis, from PyTorch's pooling_output_shape:
// floor((in + 2p - d(k-1) - 1 [+ s-1 with ceil]) / s) + 1, and with ceil_mode one less when
// the last window would start at or past in + p (inside the right padding or beyond).
TEST_F(Pool2d, CeilModeOutputSizes) {
    auto& ctx = test::context();
    struct S { int in, k, s, p, d, ceil_out, floor_out; };
    const S table[] = {
        {5, 2, 2, 0, 1, 3, 2},  // (5-2)/2+1 = 2; ceil (5-2+1)/2+1 = 3, last start 4 < 5: kept
        {6, 3, 2, 1, 1, 4, 3},  // (6+2-3)/2+1 = 3; ceil (6+2-3+1)/2+1 = 4, last start 6 < 6+1: kept
        {5, 3, 3, 1, 1, 2, 2},  // ceil (5+2-3+2)/3+1 = 3, but last start 6 >= 5+1: dropped
        {4, 2, 3, 1, 1, 2, 2},  // ceil (4+2-2+2)/3+1 = 3, last start 6 >= 4+1: dropped
        {7, 2, 3, 1, 2, 3, 3},  // ceil (7+2-2-1+2)/3+1 = 3, last start 6 < 8: kept
    };
    for (const auto& t : table) {
        MaxPool2d ceil(ctx, t.k, {.stride = Pair(t.s), .padding = t.p, .dilation = t.d, .ceil_mode = true}), floor(ctx, t.k, {.stride = Pair(t.s), .padding = t.p, .dilation = t.d, .ceil_mode = false});
        EXPECT_EQ(ceil.output_shape({1, 1, t.in, t.in}), (Shape{1, 1, t.ceil_out, t.ceil_out})) << "in=" << t.in << " k=" << t.k;
        EXPECT_EQ(floor.output_shape({1, 1, t.in, t.in}), (Shape{1, 1, t.floor_out, t.floor_out})) << "in=" << t.in << " k=" << t.k;
    }
}

// 5x5 arange, k=2, s=2, ceil_mode: three windows per axis, rows/cols {0,1}, {2,3}, {4}; the
// max of each is its bottom-right element.
TEST_F(Pool2d, MaxCeilModeHandComputed) {
    MaxPool2d pool(test::context(), 2, {.stride = std::nullopt, .padding = 0, .dilation = 1, .ceil_mode = true});
    EXPECT_EQ(run(pool, {1, 1, 5, 5}, arange(25)), (std::vector<float>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
}

// 6x6 ones, k=3, s=2, p=1, ceil_mode: 4 windows per axis starting at -1, 1, 3, 5. Clipped to
// the padded input [-1, 7) they span 3, 3, 3, 2 positions; clipped to the input, 2, 3, 3, 1.
//   count_include_pad=True:  value = in_h * in_w / (padded_h * padded_w), e.g. corner (0, 0)
//                            4/9, corner (3, 3) 1/(2*2) = 1/4, (0, 3) 2/(3*2) = 1/3.
//   count_include_pad=False: every window averages ones over its input elements: 1.
//   divisor_override=2:      in_h * in_w / 2.
TEST_F(Pool2d, AvgDivisorRulesHandComputed) {
    auto& ctx = test::context();
    const std::vector<float> ones(36, 1.0f);
    const float padded[] = {3, 3, 3, 2}, inside[] = {2, 3, 3, 1};
    std::vector<float> include_pad, override2;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            include_pad.push_back(inside[i] * inside[j] / (padded[i] * padded[j]));
            override2.push_back(inside[i] * inside[j] / 2);
        }
    AvgPool2d a(ctx, 3, {.stride = Pair(2), .padding = 1, .ceil_mode = true, .count_include_pad = true});
    EXPECT_TRUE(test::all_close(run(a, {1, 1, 6, 6}, ones), include_pad, 1e-7f));
    EXPECT_FLOAT_EQ(include_pad[0], 4.0f / 9);
    EXPECT_FLOAT_EQ(include_pad[15], 0.25f);
    EXPECT_FLOAT_EQ(include_pad[3], 1.0f / 3);
    AvgPool2d b(ctx, 3, {.stride = Pair(2), .padding = 1, .ceil_mode = true, .count_include_pad = false});
    EXPECT_TRUE(test::all_close(run(b, {1, 1, 6, 6}, ones), std::vector<float>(16, 1.0f), 1e-7f));
    AvgPool2d c(ctx, 3, {.stride = Pair(2), .padding = 1, .ceil_mode = true, .count_include_pad = true, .divisor_override = 2});
    EXPECT_TRUE(test::all_close(run(c, {1, 1, 6, 6}, ones), override2, 1e-7f));
}

// 5x5 arange, k=3, s=2, p=1, count_include_pad: the top-left window covers rows/cols {0, 1}
// of the input (sum 0+1+5+6 = 12) and one padded row and column: 12/9; the centre window
// covers rows/cols {1, 2, 3}: 9 * 12 / 9 = 12.
TEST_F(Pool2d, AvgPaddingHandComputed) {
    AvgPool2d pool(test::context(), 3, {.stride = Pair(2), .padding = 1, .ceil_mode = false, .count_include_pad = true});
    const auto y = run(pool, {1, 1, 5, 5}, arange(25));
    ASSERT_EQ(y.size(), 9u);
    EXPECT_FLOAT_EQ(y[0], 12.0f / 9);
    EXPECT_FLOAT_EQ(y[4], 12.0f);
}

// Padding is -inf for max pooling: with k=2, d=5, p=1 on a 4x4 input the only window's taps
// are at -1 and 4 on each axis, both outside the input, so the output is -inf (as PyTorch).
// A NaN in a window wins over larger values.
TEST_F(Pool2d, MaxPaddingIsMinusInfinityAndNaNWins) {
    MaxPool2d pool(test::context(), 2, {.stride = Pair(1), .padding = 1, .dilation = 5, .ceil_mode = false});
    const auto y = run(pool, {1, 1, 4, 4}, arange(16));
    ASSERT_EQ(y.size(), 1u);
    EXPECT_EQ(y[0], -kInf);
    MaxPool2d pool2(test::context(), 2);
    const auto z = run(pool2, {1, 1, 2, 4}, {std::nanf(""), 1, 5, 6, 2, 3, -7, -8});
    ASSERT_EQ(z.size(), 2u);
    EXPECT_TRUE(std::isnan(z[0]));
    EXPECT_EQ(z[1], 6.0f);
    MaxPool2d pool3(test::context(), 3, {.stride = Pair(1), .padding = 1});
    const auto w = run(pool3, {1, 1, 2, 2}, {-5, -6, -7, -8});  // padding never beats a negative input
    EXPECT_EQ(w, (std::vector<float>{-5, -5, -5, -5}));
}

TEST_F(Pool2d, ZeroBatchAndUnbatched) {
    auto& ctx = test::context();
    MaxPool2d pool(ctx, 2);
    EXPECT_EQ(pool.forward(Tensor(ctx, {0, 3, 8, 8})).shape(), (Shape{0, 3, 4, 4}));
    AvgPool2d avg(ctx, 2);
    EXPECT_EQ(avg.forward(Tensor(ctx, {0, 3, 8, 8})).shape(), (Shape{0, 3, 4, 4}));
    EXPECT_EQ(avg.output_shape({5, 9, 8}), (Shape{5, 4, 4}));
}

// 5 x 5 tiles x 15 planes under a cap of 2 workgroups per axis: 3 * 3 * 8 dispatches.
TEST_F(Pool2d, SplitDispatchesCoverEveryOutput) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(2);
    const Shape shape{3, 5, 40, 37};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 3);
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    MaxPool2d max(ctx, 3, {.stride = Pair(1), .padding = 1});
    AvgPool2d avg(ctx, 3, {.stride = Pair(1), .padding = 1, .ceil_mode = false, .count_include_pad = false});
    for (Layer* l : {static_cast<Layer*>(&max), static_cast<Layer*>(&avg)}) {
        const Tensor y(ctx, l->output_shape(shape));
        CommandRecorder rec(ctx);
        l->record(rec, std::span(&xt, 1), y);
        EXPECT_EQ(rec.dispatch_count(), 72u) << l->repr();
        rec.submit_and_wait();
        EXPECT_TRUE(test::all_close(y.to_host(), l->reference(shape, x), 1e-6f)) << l->repr();
    }
}

// More planes than the device's maxComputeWorkGroupCount[2] (65535 on most devices).
TEST_F(Pool2d, SplitAtTheDeviceLimit) {
    auto& ctx = test::context();
    const int64_t planes = int64_t(ctx.info().max_workgroup_count[2]) + 100;
    if (planes > 4'000'000) GTEST_SKIP() << "maxComputeWorkGroupCount[2] too large to exceed cheaply";
    const Shape shape{1, planes, 2, 3};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 4);
    MaxPool2d pool(ctx, 2, {.stride = Pair(1)});
    EXPECT_TRUE(bit_equal(pool.forward(Tensor::from_host(ctx, shape, x)).to_host(), pool.reference(shape, x)));
}

TEST_F(Pool2d, PrintsLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(MaxPool2d(ctx, 2).repr(), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
    EXPECT_EQ(MaxPool2d(ctx, Pair(2, 3)).repr(), "MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0, dilation=1, ceil_mode=False)");
    EXPECT_EQ(MaxPool2d(ctx, 3, {.stride = Pair(1, 2), .padding = 1}).repr(), "MaxPool2d(kernel_size=3, stride=(1, 2), padding=1, dilation=1, ceil_mode=False)");
    EXPECT_EQ(MaxPool2d(ctx, 3, {.stride = 2, .padding = Pair(1, 0), .dilation = 2, .ceil_mode = true}).repr(),
              "MaxPool2d(kernel_size=3, stride=2, padding=(1, 0), dilation=2, ceil_mode=True)");
    EXPECT_EQ(AvgPool2d(ctx, 2).repr(), "AvgPool2d(kernel_size=2, stride=2, padding=0)");
    EXPECT_EQ(AvgPool2d(ctx, 2, {.stride = std::nullopt, .padding = Pair(1, 0)}).repr(), "AvgPool2d(kernel_size=2, stride=2, padding=(1, 0))");
    EXPECT_EQ(AvgPool2d(ctx, 3, {.stride = 2, .padding = 0, .ceil_mode = true, .count_include_pad = false, .divisor_override = 5}).repr(), "AvgPool2d(kernel_size=3, stride=2, padding=0)");
    EXPECT_EQ(MaxPool2d(ctx, 2).type(), "MaxPool2d");
    EXPECT_EQ(AvgPool2d(ctx, 2).type(), "AvgPool2d");
    EXPECT_EQ(MaxPool2d(ctx, 2).parameters().size(), 0u);
}

// The options structs carry PyTorch's keyword arguments; unset fields keep its defaults.
TEST_F(Pool2d, OptionsStructsCarryTheKeywordArguments) {
    auto& ctx = test::context();
    const MaxPool2d a(ctx, 3, {.stride = Pair(2, 1), .padding = 1, .dilation = Pair(1, 2), .ceil_mode = true});
    EXPECT_EQ(a.stride(), Pair(2, 1));
    EXPECT_EQ(a.dilation(), Pair(1, 2));
    EXPECT_TRUE(a.ceil_mode());
    EXPECT_EQ(MaxPool2d(ctx, 2, MaxPool2dOptions{}).stride(), Pair(2));
    const AvgPool2d c(ctx, 3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false, .divisor_override = 4});
    EXPECT_EQ(c.stride(), Pair(2));
    EXPECT_FALSE(c.count_include_pad());
    EXPECT_EQ(c.divisor_override(), 4);
    expect_error([&] { AvgPool2d(ctx, 2, {.divisor_override = 0}); }, {"divisor must be not zero"});
}

TEST_F(Pool2d, RefusesBadParameters) {
    auto& ctx = test::context();
    expect_error([&] { MaxPool2d(ctx, 0); }, {"MaxPool2d", "kernel_size should be greater than zero", "kernel_size=(0, 0)"});
    expect_error([&] { AvgPool2d(ctx, Pair(2, -1)); }, {"AvgPool2d", "kernel_size should be greater than zero", "(2, -1)"});
    expect_error([&] { MaxPool2d(ctx, 2, {.stride = Pair(0)}); }, {"stride should be greater than zero", "stride=(0, 0)"});
    expect_error([&] { AvgPool2d(ctx, 2, {.stride = Pair(1, -1)}); }, {"stride should be greater than zero", "stride=(1, -1)"});
    expect_error([&] { MaxPool2d(ctx, 3, {.stride = 1, .padding = 1, .dilation = Pair(1, 0)}); }, {"dilation should be greater than zero", "dilation=(1, 0)"});
    expect_error([&] { MaxPool2d(ctx, 2, {.stride = 2, .padding = -1}); }, {"pad must be non-negative", "padding=(-1, -1)"});
    expect_error([&] { AvgPool2d(ctx, 2, {.stride = 2, .padding = Pair(0, -1)}); }, {"pad must be non-negative"});
    expect_error([&] { MaxPool2d(ctx, 2, {.stride = 2, .padding = 2}); }, {"pad should be at most half of kernel size, but got pad=2 and kernel_size=2"});
    // The rule is pad <= kernel_size / 2 whatever the dilation (PyTorch 1.13).
    expect_error([&] { MaxPool2d(ctx, 2, {.stride = 1, .padding = 2, .dilation = 3}); }, {"pad should be at most half of kernel size, but got pad=2 and kernel_size=2"});
    expect_error([&] { MaxPool2d(ctx, Pair(2, 4), {.stride = 1, .padding = Pair(2, 2)}); }, {"but got pad=2 and kernel_size=2"});
    expect_error([&] { AvgPool2d(ctx, Pair(4, 3), {.stride = 1, .padding = Pair(1, 2)}); }, {"but got pad=2 and kernel_size=3"});
    expect_error([&] { AvgPool2d(ctx, 2, {.stride = 2, .padding = 0, .ceil_mode = false, .count_include_pad = true, .divisor_override = 0}); }, {"divisor must be not zero"});
    MaxPool2d ok(ctx, Pair(2, 4), {.stride = 1, .padding = Pair(1, 2)});  // pads at exactly half are fine
    EXPECT_EQ(ok.output_shape({1, 1, 4, 4}), (Shape{1, 1, 5, 5}));
}

TEST_F(Pool2d, RefusesBadInputs) {
    auto& ctx = test::context();
    MaxPool2d max(ctx, 2);
    AvgPool2d avg(ctx, 2);
    for (Layer* l : {static_cast<Layer*>(&max), static_cast<Layer*>(&avg)}) {
        const char* rank = "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: ";
        expect_error([&] { l->output_shape({8, 8}); }, {rank, "[8, 8]"});
        expect_error([&] { l->output_shape({2, 2, 2, 2, 2}); }, {rank, "[2, 2, 2, 2, 2]"});
        expect_error([&] { l->output_shape({1, 3, 0, 8}); }, {rank, "[1, 3, 0, 8]"});
        expect_error([&] { l->output_shape({1, 0, 4, 4}); }, {rank, "[1, 0, 4, 4]"});
        expect_error([&] { l->output_shape({0, 4, 4}); }, {rank, "[0, 4, 4]"});
        expect_error([&] { l->output_shape({1, 3, 1, 8}); },
                     {"Given input size: (3x1x8). Calculated output size: (3x0x4). Output size is too small"});
    }
    MaxPool2d big(ctx, 9);
    expect_error([&] { big.output_shape({1, 3, 8, 8}); },
                 {"Given input size: (3x8x8). Calculated output size: (3x0x0). Output size is too small"});
    CommandRecorder rec(ctx);
    const Tensor x(ctx, {1, 1, 4, 4}), wrong(ctx, {1, 1, 3, 3});
    expect_error([&] { max.record(rec, std::span(&x, 1), wrong); }, {"MaxPool2d: output tensor has shape [1, 1, 3, 3], expected [1, 1, 2, 2]"});
}

}  // namespace
}  // namespace vkconv
