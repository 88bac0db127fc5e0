// Every tile configuration
// (batch 1, 2, 4, up to 16, more), K from 1 to 2048 (not multiples of the 16-element chunk
// too), output features not multiples of the tile, leading dims flattened, 1-D input, no
// bias, fused ReLU, the staging path, split dispatches; PyTorch's init, repr and refusals.
//
// Linear (shaders/linear.comp; linear_gemv.comp for 1 to 4 rows) on the GPU against the CPU
// reference. Tolerance: the reference accumulates in double; linear.comp in fp32 with one FMA
// chain per output over k in order, linear_gemv.comp with 64 strided chains added pairwise
// (of single k, or of 4 consecutive k where K is a multiple of 4: its vec4 loads).
// The recursive-summation bound (K - 1) * 2^-24 * sum_k |x w| holds for any order of the
// additions, so one tolerance covers both: 2 * (K + 1) * 2^-24 * (sum_k |x w| + |b|) + 1e-6
// (test::fp32_sum_tolerance).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::expect_error;

struct LinearCase {
    Shape input;  // [*, in_features]
    int out_features;
    bool bias = true;
    bool relu = false;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << "Linear(in_features=" << input.back() << ", out_features=" << out_features << ", bias=" << bias << ")"
          << " input=" << shape_str(input) << (relu ? " +relu" : "") << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const LinearCase& c, std::ostream* os) { *os << c.str(); }

// sum_k |x[m, k] w[n, k]| + |b[n]| per output.
std::vector<float> abs_sums(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b, int64_t M,
                            int64_t K, int64_t N) {
    std::vector<float> s(static_cast<size_t>(M * N));
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
            double acc = b.empty() ? 0.0 : std::fabs(b[static_cast<size_t>(n)]);
            for (int64_t k = 0; k < K; ++k) acc += std::fabs(double(x[static_cast<size_t>(m * K + k)]) * w[static_cast<size_t>(n * K + k)]);
            s[static_cast<size_t>(m * N + n)] = static_cast<float>(acc);
        }
    return s;
}

class LinearSweep : public test::VulkanTest, public ::testing::WithParamInterface<LinearCase> {};

TEST_P(LinearSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const int in = static_cast<int>(c.input.back());
    Linear fc(ctx, in, c.out_features, c.bias);
    fc.set_fused_relu(c.relu);
    const uint64_t seed = std::hash<std::string>{}(c.str());
    fc.reset_parameters(seed);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed + 1);
    const int64_t M = shape_numel(c.input) / std::max(in, 1);
    const auto tol = test::fp32_sum_tolerance(abs_sums(x, fc.weight(), fc.bias(), M, in, c.out_features), in);
    // 1 to 4 rows (linear_gemv) run as this device's class runs them and as a discrete GPU's
    // tiles do (on a CPU device: an invocation per feature, then invocations splitting k).
    for (const char* knobs : {"", "VKCONV_TILE_CLASS=1"}) {
        if (*knobs && M > 4) continue;
        std::optional<test::ScopedKnobs> scoped;
        if (*knobs) scoped.emplace(ctx, knobs);
        const Tensor y = fc.forward(Tensor::from_host(ctx, c.input, x));
        Shape want_shape = c.input;
        want_shape.back() = c.out_features;
        ASSERT_EQ(y.shape(), want_shape);
        EXPECT_TRUE(test::all_close(y.to_host(), fc.reference(c.input, x), tol)) << c.str() << " " << knobs;
    }
}

std::vector<LinearCase> cases() {
    std::vector<LinearCase> v;
    // Large layers: K = 2048, 512 outputs, batch 1 and 64, with and without bias and ReLU; a
    // classifier head of 1280 -> 1000 (MobileNetV2, EfficientNet-B0).
    v.push_back({{1, 2048}, 512});
    v.push_back({{64, 2048}, 512});
    v.push_back({{1, 2048}, 512, false});
    v.push_back({{64, 2048}, 512, false, true});
    v.push_back({{1, 2048}, 512, true, true});
    v.push_back({{1, 1280}, 1000});
    // Every tile configuration (rows 1, 2, 3-4, 5-16, more) with K and N around the tiles.
    const int64_t rows[] = {1, 2, 3, 4, 5, 16, 17, 33, 100};
    const std::pair<int64_t, int> kn[] = {{1, 1}, {15, 63}, {16, 64}, {17, 65}, {100, 10}, {33, 129}};
    int i = 0;
    for (auto m : rows)
        for (auto [k, n] : kn) {
            v.push_back({{m, k}, n, i % 3 != 0, i % 4 == 1});
            ++i;
        }
    // Leading dims flattened; 1-D input; a classifier head; the staging path.
    v.push_back({{2, 3, 4, 20}, 7});
    v.push_back({{20}, 9});
    v.push_back({{2, 1000}, 10});
    v.push_back({{3, 7, 300}, 33, true, true, true});
    return v;
}

std::string case_name(const ::testing::TestParamInfo<LinearCase>& info) { return "case" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Shapes, LinearSweep, ::testing::ValuesIn(cases()), case_name);

class LinearLayer : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

TEST_F(LinearLayer, HandComputed) {
    auto& ctx = test::context();
    Linear fc(ctx, 3, 2);
    fc.set_weight(std::vector<float>{1, 2, 3, -1, 0, 1});
    fc.set_bias(std::vector<float>{0.5f, -10});
    const Tensor x = Tensor::from_host(ctx, {2, 3}, std::vector<float>{1, 1, 1, 2, 0, -1});
    // row 0: 1+2+3+0.5 = 6.5, -1+0+1-10 = -10; row 1: 2+0-3+0.5 = -0.5, -2+0-1-10 = -13
    EXPECT_EQ(fc.forward(x).to_host(), (std::vector<float>{6.5f, -10, -0.5f, -13}));
    fc.set_fused_relu(true);
    EXPECT_EQ(fc.forward(x).to_host(), (std::vector<float>{6.5f, 0, 0, 0}));
}

// A model fuses a ReLU that follows Linear into its epilogue through record_with_relu().
TEST_F(LinearLayer, RecordWithReluFusesTheReLU) {
    auto& ctx = test::context();
    Linear fc(ctx, 3, 2);
    EXPECT_TRUE(fc.can_fuse_relu());
    fc.set_weight(std::vector<float>{1, 2, 3, -1, 0, 1});
    fc.set_bias(std::vector<float>{0.5f, -10});
    const Tensor x = Tensor::from_host(ctx, {2, 3}, std::vector<float>{1, 1, 1, 2, 0, -1});
    const Tensor y(ctx, {2, 2});
    CommandRecorder rec(ctx);
    fc.record_with_relu(rec, std::span(&x, 1), y);
    rec.submit_and_wait();
    EXPECT_EQ(y.to_host(), (std::vector<float>{6.5f, 0, 0, 0}));
    EXPECT_FALSE(fc.fused_relu());
    EXPECT_EQ(fc.forward(x).to_host(), (std::vector<float>{6.5f, -10, -0.5f, -13}));
}

TEST_F(LinearLayer, DefaultInitIsUniformBoundAndSeeded) {
    auto& ctx = test::context();
    Linear a(ctx, 50, 20), b(ctx, 50, 20);
    test::expect_seeded_uniform_init(a, b, 1.0f / std::sqrt(50.0f), 0.9f);  // 1000 uniform draws come near the bound
    EXPECT_EQ(a.parameters().at("weight").shape, (Shape{20, 50}));
    EXPECT_EQ(a.parameters().at("bias").shape, (Shape{20}));
    EXPECT_EQ(a.parameter_count(), 50 * 20 + 20);
    Linear nb(ctx, 50, 20, false);
    EXPECT_FALSE(nb.has_parameter("bias"));
    EXPECT_TRUE(nb.bias().empty());
    EXPECT_EQ(nb.parameter_count(), 1000);
}

// PyTorch allows zero features: in_features 0 gives the bias, out_features 0 an empty output.
TEST_F(LinearLayer, ZeroSizes) {
    auto& ctx = test::context();
    Linear no_in(ctx, 0, 3);
    no_in.set_bias(std::vector<float>{1, 2, 3});
    EXPECT_EQ(no_in.forward(Tensor(ctx, {2, 0})).to_host(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
    Linear no_out(ctx, 4, 0);
    EXPECT_EQ(no_out.forward(Tensor(ctx, {2, 4})).shape(), (Shape{2, 0}));
    Linear fc(ctx, 4, 3);
    EXPECT_EQ(fc.forward(Tensor(ctx, {0, 4})).shape(), (Shape{0, 3}));
}

// 3 tiles of 32 features x 4 tiles of 32 rows under a cap of 2 workgroups per axis: 2 * 2
// dispatches.
TEST_F(LinearLayer, SplitDispatchesCoverEveryOutput) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(2);
    Linear fc(ctx, 40, 70);
    fc.reset_parameters(3);
    const Shape shape{100, 40};
    const auto x = test::random_values(4000, 4);
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    const Tensor y(ctx, {100, 70});
    CommandRecorder rec(ctx);
    fc.record(rec, std::span(&xt, 1), y);
    EXPECT_EQ(rec.dispatch_count(), 4u);
    rec.submit_and_wait();
    EXPECT_TRUE(test::all_close(y.to_host(), fc.reference(shape, x), 1e-5f));
    // Two rows (linear_gemv): feature blocks split the same way.
    const Shape two{2, 40};
    const Tensor x2 = Tensor::from_host(ctx, two, std::vector<float>(x.begin(), x.begin() + 80));
    const Tensor y2(ctx, {2, 70});
    CommandRecorder rec2(ctx);
    fc.record(rec2, std::span(&x2, 1), y2);
    EXPECT_GT(rec2.dispatch_count(), 1u);
    rec2.submit_and_wait();
    EXPECT_TRUE(test::all_close(y2.to_host(), fc.reference(two, std::vector<float>(x.begin(), x.begin() + 80)), 1e-5f));
}

TEST_F(LinearLayer, PrintsLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(Linear(ctx, 1024, 10).repr(), "Linear(in_features=1024, out_features=10, bias=True)");
    EXPECT_EQ(Linear(ctx, 3, 4, false).repr(), "Linear(in_features=3, out_features=4, bias=False)");
    EXPECT_EQ(Linear(ctx, 3, 4).type(), "Linear");
}

TEST_F(LinearLayer, Refusals) {
    auto& ctx = test::context();
    Linear fc(ctx, 1024, 10);
    expect_error([&] { fc.output_shape({2, 1000}); }, {"mat1 and mat2 shapes cannot be multiplied (2x1000 and 1024x10)"});
    expect_error([&] { fc.output_shape({1000}); }, {"mat1 and mat2 shapes cannot be multiplied (1x1000 and 1024x10)"});
    expect_error([&] { fc.output_shape({2, 3, 1000}); }, {"mat1 and mat2 shapes cannot be multiplied (6x1000 and 1024x10)"});
    expect_error([&] { fc.output_shape(Shape{}); }, {"both arguments to matmul need to be at least 1D, but they are 0D and 2D"});
    expect_error([&] { Linear(ctx, -1, 10); }, {"in_features must be non-negative", "in_features=-1"});
    expect_error([&] { Linear(ctx, 10, -2); }, {"out_features must be non-negative", "out_features=-2"});
    expect_error([&] { Linear(ctx, 1 << 16, 1 << 16); }, {"more than 2^31-1 elements"});
    Linear nb(ctx, 3, 4, false);
    expect_error([&] { nb.set_bias(std::vector<float>(4)); }, {"bias=False"});
    expect_error([&] { fc.set_weight(std::vector<float>(10)); }, {"'weight' has shape [10, 1024]"});
    CommandRecorder rec(ctx);
    const Tensor x(ctx, {2, 1024}), wrong(ctx, {2, 11});
    expect_error([&] { fc.record(rec, std::span(&x, 1), wrong); }, {"output tensor has shape [2, 11], expected [2, 10]"});
}

}  // namespace
}  // namespace vkconv
