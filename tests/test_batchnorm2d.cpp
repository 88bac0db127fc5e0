// BatchNorm2d in eval mode (shaders/elementwise.comp, per-channel affine) on the GPU against
// the CPU reference written from F.batch_norm: channel counts, image sizes, batches, affine or
// not, eps; PyTorch's state_dict entries and defaults; the folded scale/shift; parameter
// updates reaching the device; refusals.
//
// Tolerance: the GPU computes fma(x, scale, shift) with scale and shift rounded to fp32; the
// reference evaluates (x - mean) / sqrt(var + eps) * weight + bias in double. The rounding of
// scale and shift and of the result each contribute at most 2^-24 of |x * scale|, |shift| and
// |y| <= |x * scale| + |shift|, and the double evaluation differs from x * scale + shift by
// ~2^-50 of |x * scale| + |shift| + |bias|; so per element
//   tol = 4 * 2^-24 * (|x * scale| + |shift| + |bias|) + 1e-30.
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

struct BnCase {
    Shape input;  // [N, C, H, W]
    bool affine = true;
    double eps = 1e-5;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << "BatchNorm2d input=" << shape_str(input) << " affine=" << affine << " eps=" << eps << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const BnCase& c, std::ostream* os) { *os << c.str(); }

class BatchNormSweep : public test::VulkanTest, public ::testing::WithParamInterface<BnCase> {};

// Sets random running statistics (variance in [0.01, 2]) and, when affine, weight and bias.
void randomize(BatchNorm2d& bn, uint64_t seed) {
    const size_t c = static_cast<size_t>(bn.num_features());
    auto mean = test::random_values(c, seed);
    auto var = test::random_values(c, seed + 1);
    for (auto& v : var) v = 0.01f + std::fabs(v) * 2;
    bn.set_parameter("running_mean", mean);
    bn.set_parameter("running_var", var);
    if (bn.affine()) {
        bn.set_parameter("weight", test::random_values(c, seed + 2));
        bn.set_parameter("bias", test::random_values(c, seed + 3));
    }
}

TEST_P(BatchNormSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const int channels = static_cast<int>(c.input[1]);
    BatchNorm2d bn(ctx, channels, c.eps, 0.1, c.affine);
    const uint64_t seed = std::hash<std::string>{}(c.str());
    randomize(bn, seed);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed + 9);
    const auto [scale, shift] = bn.scale_shift();
    const int64_t hw = c.input[2] * c.input[3];
    std::vector<float> tol(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const size_t ch = static_cast<size_t>((int64_t(i) / hw) % channels);
        const double b = c.affine ? bn.parameter("bias")[ch] : 0.0;
        tol[i] = static_cast<float>(4 * std::ldexp(1.0, -24) * (std::fabs(x[i] * double(scale[ch])) + std::fabs(shift[ch]) + std::fabs(b)) + 1e-30);
    }
    test::for_each_input_path(ctx, [&](const std::string& knobs) {
        const Tensor y = bn.forward(Tensor::from_host(ctx, c.input, x));
        ASSERT_EQ(y.shape(), c.input);
        EXPECT_TRUE(test::all_close(y.to_host(), bn.reference(c.input, x), tol)) << c.str() << " " << knobs;
    });
}

std::vector<BnCase> cases() {
    std::vector<BnCase> v;
    const Shape inputs[] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {4, 16, 8, 8}, {1, 64, 7, 7}, {3, 5, 1, 33}, {2, 130, 3, 3}, {1, 7, 17, 19}};
    for (const auto& in : inputs) {
        v.push_back({in, true, 1e-5});
        v.push_back({in, false, 1e-3});
    }
    v.push_back({{2, 6, 9, 9}, true, 0.0});
    v.push_back({{2, 6, 9, 9}, true, 1e-5, true});
    return v;
}

std::string case_name(const ::testing::TestParamInfo<BnCase>& info) { return "case" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormSweep, ::testing::ValuesIn(cases()), case_name);

class BatchNorm : public test::VulkanTest {};

TEST_F(BatchNorm, StateDictLikePyTorch) {
    auto& ctx = test::context();
    BatchNorm2d bn(ctx, 4);
    const auto& p = bn.parameters();
    std::vector<std::string> names;
    for (const auto& [name, _] : p) names.push_back(name);
    EXPECT_EQ(names, (std::vector<std::string>{"bias", "num_batches_tracked", "running_mean", "running_var", "weight"}));
    EXPECT_EQ(bn.parameter("weight"), std::vector<float>(4, 1.0f));
    EXPECT_EQ(bn.parameter("bias"), std::vector<float>(4, 0.0f));
    EXPECT_EQ(bn.parameter("running_mean"), std::vector<float>(4, 0.0f));
    EXPECT_EQ(bn.parameter("running_var"), std::vector<float>(4, 1.0f));
    EXPECT_EQ(bn.parameter("num_batches_tracked"), std::vector<float>{0.0f});
    EXPECT_EQ(p.at("num_batches_tracked").shape, Shape{});
    EXPECT_EQ(p.at("weight").shape, Shape{4});
    EXPECT_FALSE(p.at("weight").buffer);
    EXPECT_FALSE(p.at("bias").buffer);
    EXPECT_TRUE(p.at("running_mean").buffer);
    EXPECT_TRUE(p.at("running_var").buffer);
    EXPECT_TRUE(p.at("num_batches_tracked").buffer);
    EXPECT_EQ(bn.parameter_count(), 8);  // weight + bias; buffers do not count

    BatchNorm2d no_affine(ctx, 3, 1e-5, 0.1, false);
    EXPECT_FALSE(no_affine.has_parameter("weight"));
    EXPECT_FALSE(no_affine.has_parameter("bias"));
    EXPECT_TRUE(no_affine.has_parameter("running_mean"));
    EXPECT_EQ(no_affine.parameter_count(), 0);

    BatchNorm2d no_stats(ctx, 3, 1e-5, 0.1, true, false);
    EXPECT_FALSE(no_stats.has_parameter("running_mean"));
    EXPECT_FALSE(no_stats.has_parameter("num_batches_tracked"));
    EXPECT_TRUE(no_stats.has_parameter("weight"));
}

TEST_F(BatchNorm, PrintsLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(BatchNorm2d(ctx, 16).repr(), "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
    EXPECT_EQ(BatchNorm2d(ctx, 3, 1e-3, 0.01, false, false).repr(),
              "BatchNorm2d(3, eps=0.001, momentum=0.01, affine=False, track_running_stats=False)");
    EXPECT_EQ(BatchNorm2d(ctx, 4, 1e-10).repr(), "BatchNorm2d(4, eps=1e-10, momentum=0.1, affine=True, track_running_stats=True)");
    EXPECT_EQ(BatchNorm2d(ctx, 4).type(), "BatchNorm2d");
}

// Python's float repr, which every repr with a float uses (checked against CPython).
TEST_F(BatchNorm, PythonFloatRepr) {
    EXPECT_EQ(python_float_repr(1e-5), "1e-05");
    EXPECT_EQ(python_float_repr(0.1), "0.1");
    EXPECT_EQ(python_float_repr(0.0001), "0.0001");
    EXPECT_EQ(python_float_repr(1.0), "1.0");
    EXPECT_EQ(python_float_repr(0.0), "0.0");
    EXPECT_EQ(python_float_repr(-0.0), "-0.0");
    EXPECT_EQ(python_float_repr(100000.0), "100000.0");
    EXPECT_EQ(python_float_repr(1e16), "1e+16");
    EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
    EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
    EXPECT_EQ(python_float_repr(123.456), "123.456");
    EXPECT_EQ(python_float_repr(-2.5e300), "-2.5e+300");
    EXPECT_EQ(python_float_repr(1.0 / 3), "0.3333333333333333");
}

// scale = weight / sqrt(var + eps), shift = bias - mean * scale, in double, per channel.
TEST_F(BatchNorm, ScaleShiftFoldsTheStatistics) {
    auto& ctx = test::context();
    BatchNorm2d bn(ctx, 2, 0.5);
    bn.set_parameter("weight", std::vector<float>{2.0f, -1.0f});
    bn.set_parameter("bias", std::vector<float>{1.0f, 0.5f});
    bn.set_parameter("running_mean", std::vector<float>{3.0f, -2.0f});
    bn.set_parameter("running_var", std::vector<float>{3.5f, 0.5f});
    const auto [scale, shift] = bn.scale_shift();
    // channel 0: 2 / sqrt(4) = 1, 1 - 3 * 1 = -2; channel 1: -1 / sqrt(1) = -1, 0.5 - (-2)(-1) = -1.5
    EXPECT_EQ(scale, (std::vector<float>{1.0f, -1.0f}));
    EXPECT_EQ(shift, (std::vector<float>{-2.0f, -1.5f}));
    const std::vector<float> x{0, 3, 5, 1, 0, -2};  // [1, 2, 1, 3]
    const auto y = bn.forward(Tensor::from_host(ctx, {1, 2, 1, 3}, x)).to_host();
    EXPECT_EQ(y, (std::vector<float>{-2, 1, 3, -2.5f, -1.5f, 0.5f}));
}

// A parameter set after a forward pass must reach the device (the folded scale/shift is
// recomputed).
TEST_F(BatchNorm, ParameterUpdatesReachTheDevice) {
    auto& ctx = test::context();
    BatchNorm2d bn(ctx, 1, 0.0);
    const Tensor x = Tensor::from_host(ctx, {1, 1, 1, 2}, std::vector<float>{1, 2});
    EXPECT_EQ(bn.forward(x).to_host(), (std::vector<float>{1, 2}));
    bn.set_parameter("running_var", std::vector<float>{4.0f});
    EXPECT_EQ(bn.forward(x).to_host(), (std::vector<float>{0.5f, 1.0f}));
    bn.set_parameter("bias", std::vector<float>{1.0f});
    EXPECT_EQ(bn.forward(x).to_host(), (std::vector<float>{1.5f, 2.0f}));
}

TEST_F(BatchNorm, EmptyInputs) {
    auto& ctx = test::context();
    BatchNorm2d bn(ctx, 2);
    EXPECT_EQ(bn.forward(Tensor(ctx, {0, 2, 3, 3})).shape(), (Shape{0, 2, 3, 3}));
    EXPECT_EQ(bn.forward(Tensor(ctx, {1, 2, 0, 3})).shape(), (Shape{1, 2, 0, 3}));
}

TEST_F(BatchNorm, Refusals) {
    auto& ctx = test::context();
    BatchNorm2d bn(ctx, 16);
    expect_error([&] { bn.output_shape({2, 3}); }, {"expected 4D input (got 2D input)"});
    expect_error([&] { bn.output_shape({2, 16, 3}); }, {"expected 4D input (got 3D input)"});
    expect_error([&] { bn.output_shape({1, 3, 8, 8}); }, {"running_mean should contain 3 elements not 16"});
    expect_error([&] { BatchNorm2d(ctx, -1); }, {"num_features must be non-negative", "num_features=-1"});
    expect_error([&] { BatchNorm2d(ctx, 4, -1e-5); }, {"eps must be a finite non-negative number", "eps=-1e-05"});
    expect_error([&] { bn.set_parameter("running_var", std::vector<float>(3)); }, {"running_var", "has shape [16]"});
    BatchNorm2d batch_stats(ctx, 3, 1e-5, 0.1, true, false);
    expect_error([&] { batch_stats.output_shape({1, 3, 4, 4}); }, {"track_running_stats=False", "batch's own statistics"});
    expect_error([&] { batch_stats.scale_shift(); }, {"track_running_stats=False"});
    CommandRecorder rec(ctx);
    const Tensor x(ctx, {1, 16, 2, 2}), wrong(ctx, {1, 16, 2, 3});
    expect_error([&] { bn.record(rec, std::span(&x, 1), wrong); }, {"output tensor has shape [1, 16, 2, 3], expected [1, 16, 2, 2]"});
}

}  // namespace
}  // namespace vkconv
