// AdaptiveAvgPool2d (shaders/adaptive_avg_pool2d.comp; global pooling through reduce_hw.comp) on
// the GPU against the CPU reference: global pooling on both
// sides of that size, output sizes dividing the input and not, larger than the input, equal to it,
// rectangular, 3-D and batched inputs; hand-computed windows; split dispatches; refusals.
//
// Tolerance: each output averages at most ceil(In/Out) + 1 values per axis in fp32 then
// divides (in any order: reduce_hw adds in order or strided partials pairwise); the reference sums in
// double. The fp32 summation bound of test::fp32_sum_tolerance
// applies per output: 2 * (terms + 1) * 2^-24 * mean|x| + 1e-6, terms = the largest window.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::expect_error;

struct AdaptiveCase {
    Shape input;
    Pair out;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << "AdaptiveAvgPool2d output_size=(" << out.h << ", " << out.w << ") input=" << shape_str(input) << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const AdaptiveCase& c, std::ostream* os) { *os << c.str(); }

class AdaptiveSweep : public test::VulkanTest, public ::testing::WithParamInterface<AdaptiveCase> {};

// Largest window along an axis: ceil((i+1) In / Out) - floor(i In / Out) over i.
int64_t max_window(int64_t in, int64_t out) {
    int64_t m = 0;
    for (int64_t i = 0; i < out; ++i) m = std::max(m, ((i + 1) * in + out - 1) / out - (i * in) / out);
    return m;
}

TEST_P(AdaptiveSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    AdaptiveAvgPool2d pool(ctx, c.out);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), std::hash<std::string>{}(c.str()));
    const Tensor y = pool.forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), pool.output_shape(c.input));
    auto abs_x = x;
    for (auto& v : abs_x) v = std::fabs(v);
    const size_t n = c.input.size();
    const int64_t terms = max_window(c.input[n - 2], c.out.h) * max_window(c.input[n - 1], c.out.w);
    EXPECT_TRUE(test::all_close(y.to_host(), pool.reference(c.input, x), test::fp32_sum_tolerance(pool.reference(c.input, abs_x), terms)))
        << c.str();
}

std::vector<AdaptiveCase> cases() {
    std::vector<AdaptiveCase> v;
    const Shape inputs[] = {{2, 3, 7, 7}, {1, 4, 5, 7}, {3, 9, 13}, {2, 2, 1, 1}, {1, 3, 224, 1}, {2, 5, 16, 12}};
    const Pair outs[] = {Pair(1), Pair(2), Pair(3, 4), Pair(7), Pair(5, 1), Pair(8, 20), Pair(1, 3)};
    for (const auto& in : inputs)
        for (auto o : outs) v.push_back({in, o});
    v.push_back({{2, 64, 7, 7}, Pair(1)});  // ResNet's head
    v.push_back({{1, 1152, 7, 7}, Pair(1)});  // EfficientNet's squeezes
    v.push_back({{3, 50, 5, 6}, Pair(1)});
    v.push_back({{1, 3, 300, 200}, Pair(1)});
    // Global pooling is a mean over (H, W): an invocation per plane below 256 values (64 planes a
    // workgroup, the last one partial here), a workgroup per plane from there.
    v.push_back({{2, 5, 16, 16}, Pair(1)});
    v.push_back({{3, 16, 15}, Pair(1)});
    v.push_back({{1, 2, 112, 112}, Pair(1)});
    v.push_back({{2, 3, 17, 19}, Pair(1), true});
    v.push_back({{2, 3, 9, 10}, Pair(4, 3), true});
    return v;
}

std::string case_name(const ::testing::TestParamInfo<AdaptiveCase>& info) { return "case" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Sizes, AdaptiveSweep, ::testing::ValuesIn(cases()), case_name);

class AdaptiveAvgPool : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// 5 x 7 arange (x[r][c] = 7r + c) to 3 x 4. Rows: i = 0, 1, 2 cover [floor(5i/3), ceil(5(i+1)/3))
// = [0, 2), [1, 4), [3, 5); columns: [floor(7j/4), ceil(7(j+1)/4)) = [0, 2), [1, 4), [3, 6),
// [5, 7). The mean of a block is 7 * (mean row) + (mean column): mean rows 0.5, 2, 3.5, mean
// columns 0.5, 2, 4, 5.5.
TEST_F(AdaptiveAvgPool, HandComputedWindows) {
    auto& ctx = test::context();
    std::vector<float> x(35);
    for (int i = 0; i < 35; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
    AdaptiveAvgPool2d pool(ctx, Pair(3, 4));
    const auto y = pool.forward(Tensor::from_host(ctx, {1, 1, 5, 7}, x)).to_host();
    const std::vector<float> want{4, 5.5, 7.5, 9, 14.5, 16, 18, 19.5, 25, 26.5, 28.5, 30};
    EXPECT_TRUE(test::all_close(y, want, 1e-5f));
    // Output larger than the input: 2 -> 3 covers [0, 1), [0, 2), [1, 2).
    AdaptiveAvgPool2d up(ctx, Pair(1, 3));
    const std::vector<float> x2{2, 6}, want2{2, 4, 6};
    EXPECT_TRUE(test::all_close(up.forward(Tensor::from_host(ctx, {1, 1, 2}, x2)).to_host(), want2, 1e-6f));
}

TEST_F(AdaptiveAvgPool, EmptyOutputsAndBatches) {
    auto& ctx = test::context();
    AdaptiveAvgPool2d zero(ctx, 0);  // PyTorch allows output_size 0: an empty result
    EXPECT_EQ(zero.forward(Tensor(ctx, {1, 3, 8, 8})).shape(), (Shape{1, 3, 0, 0}));
    AdaptiveAvgPool2d two(ctx, 2);
    EXPECT_EQ(two.forward(Tensor(ctx, {0, 3, 8, 8})).shape(), (Shape{0, 3, 2, 2}));
    EXPECT_EQ(two.forward(Tensor(ctx, {1, 0, 8, 8})).shape(), (Shape{1, 0, 2, 2}));
    EXPECT_EQ(two.output_shape({0, 4, 4}), (Shape{0, 2, 2}));
}

// 3 x 3 tiles x 10 planes with at most 2 workgroups per axis: 2 * 2 * 5 dispatches.
TEST_F(AdaptiveAvgPool, SplitDispatchesCoverEveryOutput) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(2);
    const Shape shape{2, 5, 40, 30};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 9);
    AdaptiveAvgPool2d pool(ctx, Pair(17, 20));
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    const Tensor y(ctx, pool.output_shape(shape));
    CommandRecorder rec(ctx);
    pool.record(rec, std::span(&xt, 1), y);
    EXPECT_EQ(rec.dispatch_count(), 20u);
    rec.submit_and_wait();
    EXPECT_TRUE(test::all_close(y.to_host(), pool.reference(shape, x), 1e-6f));
}

TEST_F(AdaptiveAvgPool, PrintsLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(AdaptiveAvgPool2d(ctx, 1).repr(), "AdaptiveAvgPool2d(output_size=1)");
    EXPECT_EQ(AdaptiveAvgPool2d(ctx, Pair(2, 3)).repr(), "AdaptiveAvgPool2d(output_size=(2, 3))");
    EXPECT_EQ(AdaptiveAvgPool2d(ctx, 1).type(), "AdaptiveAvgPool2d");
}

TEST_F(AdaptiveAvgPool, RefusesBadParametersAndInputs) {
    auto& ctx = test::context();
    expect_error([&] { AdaptiveAvgPool2d(ctx, -1); },
                 {"elements of output_size must be greater than or equal to 0 but received {-1, -1}"});
    expect_error([&] { AdaptiveAvgPool2d(ctx, Pair(2, -3)); }, {"received {2, -3}"});
    AdaptiveAvgPool2d pool(ctx, 2);
    expect_error([&] { pool.output_shape({8, 8}); }, {"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [8, 8]"});
    expect_error([&] { pool.output_shape({1, 2, 3, 4, 5}); }, {"Expected 3D or 4D tensor, but got [1, 2, 3, 4, 5]"});
    expect_error([&] { pool.output_shape({1, 3, 0, 8}); },
                 {"Expected input to have non-zero size for non-batch dimensions, but input has sizes [1, 3, 0, 8] with "
                  "dimension 2 being empty"});
    expect_error([&] { pool.output_shape({3, 4, 0}); }, {"with dimension 2 being empty"});
    AdaptiveAvgPool2d huge(ctx, Pair(1, 70000));  // the shader's 32-bit window arithmetic
    expect_error([&] { huge.output_shape({1, 1, 1, 70001}); }, {"an output size above 65535 must divide the input size"});
    EXPECT_EQ(huge.output_shape({1, 1, 1, 140000}), (Shape{1, 1, 1, 70000}));
    CommandRecorder rec(ctx);
    const Tensor x(ctx, {1, 1, 4, 4}), wrong(ctx, {1, 1, 3, 3});
    expect_error([&] { pool.record(rec, std::span(&x, 1), wrong); }, {"output tensor has shape [1, 1, 3, 3], expected [1, 1, 2, 2]"});
}

}  // namespace
}  // namespace vkconv
