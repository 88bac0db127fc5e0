// Upsample (shaders/upsample2d.comp), AdaptiveMaxPool2d (adaptive_max_pool2d.comp),
// AdaptiveAvgPool2d's None entries and Mean / Amax over (H, W) (reduce_hw.comp) on the GPU
// against their CPU references: sweeps of sizes and scale factors (integer, non-integer,
// downscaling, one axis unchanged, 2x), both modes and align_corners, recompute_scale_factor;
// adaptive output sizes below, equal to and above the input, None entries; reductions over
// planes smaller and larger than a workgroup, keepdim, dims in any spelling; NaN/inf inputs;
// split dispatches and storage-range chunks; every refusal with PyTorch's message.
//
// Tolerances: nearest, max pooling and amax select one input value: bit-exact (NaN included).
// Bilinear: the indices are the reference's exactly (same float arithmetic, no contraction);
// the blend of four values with weights summing to 1 rounds at most 6 times in fp32 against a
// double blend: 8 * 2^-24 * max|x| per output (+ 1e-7). Mean and adaptive average: the fp32
// summation bound (test::fp32_sum_tolerance) over the plane or window.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "support/test_support.h"

namespace vkconv {
namespace {

using test::expect_error;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

::testing::AssertionResult bit_equal(std::span<const float> got, std::span<const float> want) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
    size_t bad = 0;
    std::ostringstream msg;
    for (size_t i = 0; i < got.size(); ++i) {
        if ((std::isnan(got[i]) && std::isnan(want[i])) || std::memcmp(&got[i], &want[i], 4) == 0) continue;
        if (bad++ < 8) msg << "\n  [" << i << "] got " << got[i] << ", want " << want[i];
    }
    if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " differ:" << msg.str();
    return ::testing::AssertionSuccess();
}

std::vector<float> with_specials(std::vector<float> v) {
    const float specials[] = {kNaN, kInf, -kInf, -0.0f};
    for (size_t i = 3; i < v.size(); i += 17) v[i] = specials[(i / 17) % 4];
    return v;
}

std::string vec_str(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (auto e : v) s += std::to_string(e) + " ";
    return s + "]";
}
std::string vec_str(const std::vector<double>& v) {
    std::string s = "[";
    for (auto e : v) s += python_float_repr(e) + " ";
    return s + "]";
}

class SpatialLayers : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// ---- Upsample ---------------------------------------------------------------------------------

struct UpCase {
    Shape input;
    UpsampleOptions o;
    std::string str() const {
        std::ostringstream s;
        s << "input=" << shape_str(input) << " size=" << vec_str(o.size) << " scale_factor=" << vec_str(o.scale_factor)
          << " mode=" << o.mode << " align_corners=" << (o.align_corners ? std::to_string(*o.align_corners) : "None")
          << " recompute_scale_factor=" << (o.recompute_scale_factor ? std::to_string(*o.recompute_scale_factor) : "None");
        return s.str();
    }
};

void check_upsample(Context& ctx, const UpCase& c, bool specials = false) {
    SCOPED_TRACE(c.str() + (specials ? " specials" : ""));
    Upsample layer(ctx, c.o);
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), std::hash<std::string>{}(c.str()));
    if (specials) x = with_specials(std::move(x));
    const Tensor y = layer.forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), layer.output_shape(c.input));
    const auto got = y.to_host();
    const auto want = layer.reference(c.input, x);
    if (c.o.mode == "nearest" || specials) {
        // Specials: inf * 0 weights give NaN in both; compare exactly where finite math is exact.
        if (c.o.mode == "nearest") EXPECT_TRUE(bit_equal(got, want));
        else
            for (size_t i = 0; i < got.size(); ++i)
                if (std::isnan(want[i]) || std::isinf(want[i])) EXPECT_TRUE(bit_equal({&got[i], 1}, {&want[i], 1})) << i;
        return;
    }
    EXPECT_TRUE(test::all_close(got, want, 8.0f * std::ldexp(1.0f, -24) * test::max_abs(x) + 1e-7f));
}

std::vector<UpCase> upsample_cases() {
    std::vector<UpCase> v;
    const Shape inputs[] = {{2, 3, 5, 7}, {1, 2, 1, 1}, {1, 1, 3, 10}, {1, 2, 16, 9}, {2, 2, 3, 5}};
    const std::vector<double> scales[] = {{2.0}, {3.0}, {1.7}, {0.55}, {2.2, 1.3}, {1.0, 2.5}, {0.5, 0.34}, {4.0, 1.0}};
    const std::vector<int64_t> sizes[] = {{9, 4}, {1, 1}, {10}, {3, 17}, {32, 18}};
    for (const auto& in : inputs)
        for (const std::string mode : {"nearest", "bilinear"}) {
            std::vector<std::optional<bool>> aligns = {std::nullopt};
            if (mode == "bilinear") aligns = {std::nullopt, true, false};
            for (auto ac : aligns) {
                for (const auto& s : scales)
                    for (auto rc : {std::optional<bool>(), std::optional<bool>(true), std::optional<bool>(false)}) {
                        UpCase c{in, {.scale_factor = s, .mode = mode, .align_corners = ac, .recompute_scale_factor = rc}};
                        if (std::floor(double(in[2]) * s[0]) < 1 || std::floor(double(in[3]) * s.back()) < 1) continue;
                        v.push_back(c);
                    }
                for (const auto& s : sizes) v.push_back({in, {.size = s, .mode = mode, .align_corners = ac}});
            }
        }
    return v;
}

TEST_F(SpatialLayers, UpsampleSweep) {
    const auto cases = upsample_cases();
    EXPECT_GT(cases.size(), 300u);
    for (const auto& c : cases) check_upsample(test::context(), c);
}

TEST_F(SpatialLayers, UpsampleSpecialsAndLargerImages) {
    check_upsample(test::context(), {{1, 3, 9, 11}, {.scale_factor = {1.7}, .mode = "nearest"}}, true);
    check_upsample(test::context(), {{1, 3, 9, 11}, {.scale_factor = {1.7}, .mode = "bilinear"}}, true);
    check_upsample(test::context(), {{2, 4, 33, 47}, {.scale_factor = {2.0}, .mode = "bilinear", .align_corners = false}});
    check_upsample(test::staging_context(), {{2, 4, 13, 7}, {.size = {20, 30}, .mode = "bilinear", .align_corners = true}});
}

// The index rules, by hand: nearest with scale 2.2 on 3 inputs gives 6 outputs = 2 * 3: with
// one channel ATen's channels-last kernel takes the shortcut dst >> 1, with more it computes
// floor(dst / 2.2) = 0 0 0 1 1 2.
TEST_F(SpatialLayers, UpsampleHandComputed) {
    auto& ctx = test::context();
    const std::vector<float> x{0, 1, 2};
    auto run = [&](UpsampleOptions o, Shape in, std::vector<float> xs) { return Upsample(ctx, o).forward(Tensor::from_host(ctx, in, xs)).to_host(); };
    EXPECT_EQ(run({.scale_factor = {1.0, 2.2}}, {1, 1, 1, 3}, x), (std::vector<float>{0, 0, 1, 1, 2, 2}));
    EXPECT_EQ(run({.scale_factor = {1.0, 2.2}}, {1, 2, 1, 3}, {0, 1, 2, 3, 4, 5}),
              (std::vector<float>{0, 0, 0, 1, 1, 2, 3, 3, 3, 4, 4, 5}));
    // 10 inputs, scale 0.55: 5 outputs, src = floor(dst / 0.55) = 0 1 3 5 7.
    std::vector<float> ten(10);
    for (int i = 0; i < 10; ++i) ten[static_cast<size_t>(i)] = float(i);
    EXPECT_EQ(run({.scale_factor = {1.0, 0.55}}, {1, 1, 1, 10}, ten), (std::vector<float>{0, 1, 3, 5, 7}));
    // bilinear, align_corners=True, 3 -> 5: positions 0, 0.5, 1, 1.5, 2.
    EXPECT_EQ(run({.size = {1, 5}, .mode = "bilinear", .align_corners = true}, {1, 1, 1, 3}, x), (std::vector<float>{0, 0.5f, 1, 1.5f, 2}));
    // align_corners=False, 3 -> 6 (scale 0.5): positions max(0.5 * (d + 0.5) - 0.5, 0) = 0, 0.25, 0.75, 1.25, 1.75, 2.25 -> clamped at 2.
    EXPECT_EQ(run({.scale_factor = {1.0, 2.0}, .mode = "bilinear"}, {1, 1, 1, 3}, x), (std::vector<float>{0, 0.25f, 0.75f, 1.25f, 1.75f, 2}));
}

TEST_F(SpatialLayers, UpsampleSplits) {
    set_layer_workgroup_count_limit_for_testing(2);
    check_upsample(test::context(), {{3, 2, 9, 13}, {.scale_factor = {2.5}, .mode = "bilinear"}});
    check_upsample(test::context(), {{3, 2, 9, 13}, {.scale_factor = {2.5}, .mode = "nearest"}});
    set_layer_workgroup_count_limit_for_testing(0);
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = 4096;
    test::OwnedContext ctx(o);
    check_upsample(*ctx, {{2, 4, 16, 16}, {.scale_factor = {2.0}, .mode = "nearest"}});  // 4 KiB output planes
}

TEST_F(SpatialLayers, UpsampleRepr) {
    auto& ctx = test::context();
    EXPECT_EQ(Upsample(ctx, {.scale_factor = {2}}).repr(), "Upsample(scale_factor=2.0, mode=nearest)");
    EXPECT_EQ(Upsample(ctx, {.size = {3, 4}, .mode = "bilinear"}).repr(), "Upsample(size=(3, 4), mode=bilinear)");
    EXPECT_EQ(Upsample(ctx, {.scale_factor = {2, 1.5}, .mode = "bilinear", .align_corners = true}).repr(),
              "Upsample(scale_factor=(2.0, 1.5), mode=bilinear)");
    EXPECT_EQ(Upsample(ctx, {.size = {5}, .mode = "bilinear", .align_corners = true, .class_name = "UpsamplingBilinear2d"}).repr(),
              "UpsamplingBilinear2d(size=5, mode=bilinear)");
    EXPECT_EQ(Upsample(ctx, {.scale_factor = {2}, .class_name = "UpsamplingNearest2d"}).type(), "UpsamplingNearest2d");
}

TEST_F(SpatialLayers, UpsampleRefusals) {
    auto& ctx = test::context();
    auto make = [&](UpsampleOptions o) { Upsample u(ctx, o); };
    expect_error([&] { make({.size = {3}, .scale_factor = {2}}); }, {"only one of size or scale_factor should be defined"});
    expect_error([&] { make({}); }, {"either size or scale_factor should be defined"});
    expect_error([&] { make({.scale_factor = {2}, .align_corners = true}); },
                 {"align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"});
    expect_error([&] { make({.size = {3}, .recompute_scale_factor = true}); }, {"recompute_scale_factor is not meaningful with an explicit size."});
    expect_error([&] { make({.size = {3}, .mode = "bicubic"}); }, {"mode must be 'nearest' or 'bilinear'", "mode='bicubic'"});
    expect_error([&] { make({.scale_factor = {2, 3, 4}}); }, {"one value or two"});
    expect_error([&] { make({.scale_factor = {kInf}}); }, {"scale_factor must be finite"});
    expect_error([&] { make({.size = {int64_t(1) << 31}}); }, {"size 2147483648 exceeds 2^31-1"});
    Upsample u(ctx, {.size = {0}});
    expect_error([&] { u.output_shape(Shape{1, 4, 5, 5}); },
                 {"Input and output sizes should be greater than 0, but got input (H: 5, W: 5) output (H: 0, W: 0)"});
    Upsample small(ctx, {.scale_factor = {0.1}});
    expect_error([&] { small.output_shape(Shape{1, 4, 5, 5}); }, {"output (H: 0, W: 0)"});
    Upsample neg(ctx, {.scale_factor = {-1.0}});
    expect_error([&] { neg.output_shape(Shape{1, 4, 5, 5}); }, {"output (H: -5, W: -5)"});
    // Extreme factors: refused with PyTorch's message or the 32-bit limit, never an overflowing cast.
    for (double f : {-1e300, 1e-300}) {
        Upsample extreme(ctx, {.scale_factor = {f}});
        expect_error([&] { extreme.output_shape(Shape{1, 4, 5, 5}); }, {"Input and output sizes should be greater than 0"});
    }
    Upsample huge(ctx, {.scale_factor = {1e30}, .mode = "bilinear"});
    expect_error([&] { huge.output_shape(Shape{1, 4, 5, 5}); }, {"exceeds 32-bit indexing"});
    Upsample ok(ctx, {.size = {3}});
    expect_error([&] { ok.output_shape(Shape{1, 0, 5, 5}); }, {"Non-empty 4D data tensor expected but got a tensor with sizes [1, 0, 5, 5]"});
    expect_error([&] { ok.output_shape(Shape{4, 5, 5}); }, {"4-D (N, C, H, W) input only", "[4, 5, 5]", "its last dim"});
    EXPECT_EQ(ok.output_shape(Shape{0, 2, 5, 5}), (Shape{0, 2, 3, 3}));  // an empty batch is fine
    EXPECT_EQ(ok.forward(Tensor::zeros(ctx, {0, 2, 5, 5})).shape(), (Shape{0, 2, 3, 3}));
}

// ---- AdaptiveMaxPool2d, AdaptiveAvgPool2d with None -------------------------------------------

void check_adaptive(Context& ctx, Layer& layer, const Shape& in, bool exact, bool specials = false) {
    SCOPED_TRACE(layer.repr() + " input=" + shape_str(in) + (specials ? " specials" : ""));
    auto x = test::random_values(static_cast<size_t>(shape_numel(in)), std::hash<std::string>{}(layer.repr() + shape_str(in)));
    if (specials) x = with_specials(std::move(x));
    const Tensor y = layer.forward(Tensor::from_host(ctx, in, x));
    ASSERT_EQ(y.shape(), layer.output_shape(in));
    const auto got = y.to_host();
    const auto want = layer.reference(in, x);
    if (exact) {
        EXPECT_TRUE(bit_equal(got, want));
        return;
    }
    auto ax = x;
    for (auto& v : ax) v = std::fabs(v);
    const auto sums = layer.reference(in, ax);
    EXPECT_TRUE(test::all_close(got, want, test::fp32_sum_tolerance(sums, in[in.size() - 1] * in[in.size() - 2])));
}

TEST_F(SpatialLayers, AdaptiveMaxPoolSweep) {
    auto& ctx = test::context();
    const Shape inputs[] = {{2, 3, 7, 9}, {3, 5, 6}, {1, 2, 1, 1}, {1, 1, 13, 4}};
    const std::optional<int> sizes[] = {1, 2, 3, 5, 7, 14, std::nullopt};
    int i = 0;
    for (const auto& in : inputs)
        for (auto h : sizes)
            for (auto w : sizes) {
                AdaptiveMaxPool2d layer(ctx, h, w);
                check_adaptive(ctx, layer, in, true, i++ % 3 == 0);
            }
}

TEST_F(SpatialLayers, AdaptiveAvgPoolNoneEntries) {
    auto& ctx = test::context();
    const std::optional<int> sizes[] = {1, 3, 14, std::nullopt};
    for (const Shape& in : {Shape{2, 3, 7, 9}, Shape{3, 5, 6}})
        for (auto h : sizes)
            for (auto w : sizes) {
                AdaptiveAvgPool2d layer(ctx, h, w);
                check_adaptive(ctx, layer, in, false);
            }
    AdaptiveAvgPool2d rows(ctx, std::nullopt, 1);
    EXPECT_EQ(rows.output_shape(Shape{2, 3, 7, 9}), (Shape{2, 3, 7, 1}));
    EXPECT_EQ(rows.repr(), "AdaptiveAvgPool2d(output_size=(None, 1))");
    EXPECT_EQ(AdaptiveAvgPool2d(ctx, 2).repr(), "AdaptiveAvgPool2d(output_size=2)");
}

TEST_F(SpatialLayers, AdaptiveMaxPoolSplitsAndRefusals) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(2);
    AdaptiveMaxPool2d split(ctx, 20, 17);
    check_adaptive(ctx, split, {3, 2, 9, 13}, true);
    set_layer_workgroup_count_limit_for_testing(0);
    EXPECT_EQ(AdaptiveMaxPool2d(ctx, 3).repr(), "AdaptiveMaxPool2d(output_size=3)");
    EXPECT_EQ(AdaptiveMaxPool2d(ctx, Pair(2, 3)).repr(), "AdaptiveMaxPool2d(output_size=(2, 3))");
    EXPECT_EQ(AdaptiveMaxPool2d(ctx, 2, std::nullopt).repr(), "AdaptiveMaxPool2d(output_size=(2, None))");
    expect_error([&] { AdaptiveMaxPool2d p(ctx, 2, 2, true); }, {"return_indices=True is not supported"});
    expect_error([&] { AdaptiveMaxPool2d p(ctx, -1); }, {"elements of output_size must be greater than or equal to 0"});
    AdaptiveMaxPool2d p(ctx, 2);
    expect_error([&] { p.output_shape(Shape{5, 5}); }, {"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [5, 5]"});
    expect_error([&] { p.output_shape(Shape{1, 4, 0, 5}); },
                 {"adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                  "[1, 4, 0, 5] with dimension 2 being empty"});
    EXPECT_EQ(p.forward(Tensor::zeros(ctx, {0, 4, 5, 5})).shape(), (Shape{0, 4, 2, 2}));
    EXPECT_EQ(AdaptiveMaxPool2d(ctx, 0).output_shape(Shape{1, 4, 5, 5}), (Shape{1, 4, 0, 0}));
    expect_error([&] { AdaptiveMaxPool2d(ctx, Pair(70000, 1)).output_shape(Shape{1, 1, 70001, 1}); },
                 {"an output size above 65535 must divide the input size"});
    EXPECT_EQ(AdaptiveMaxPool2d(ctx, Pair(70000, 1)).output_shape(Shape{1, 1, 140000, 1}), (Shape{1, 1, 70000, 1}));
}

// ---- Mean, Amax ---------------------------------------------------------------------------------

TEST_F(SpatialLayers, ReduceSweep) {
    auto& ctx = test::context();
    // Planes below 256 values are reduced an invocation each, 64 a workgroup ({2, 70, 5, 3}: 140
    // planes, the last workgroup partial); larger ones a workgroup each. On CPU devices every
    // plane is an invocation's, a SIMD vector's worth a workgroup: for_each_input_path runs both.
    const Shape inputs[] = {{2, 3, 7, 9}, {3, 5, 6}, {1, 2, 1, 1}, {1, 3, 70, 33}, {2, 1, 8, 8}, {5, 4}, {2, 70, 5, 3}};
    const std::vector<int> dims[] = {{2, 3}, {-1, -2}, {3, 2}, {-2, -1}};
    int i = 0;
    for (const auto& in : inputs)
        for (const auto& d : dims)
            for (bool keep : {false, true})
                for (bool max : {false, true}) {
                    const int rank = static_cast<int>(in.size());
                    if (rank < 4 && (d[0] >= rank || d[1] >= rank)) continue;
                    std::unique_ptr<ReduceHW> layer;
                    if (max) layer = std::make_unique<Amax>(ctx, d, keep);
                    else layer = std::make_unique<Mean>(ctx, d, keep);
                    const bool specials = max && i++ % 2 == 0;
                    SCOPED_TRACE(layer->repr() + " input=" + shape_str(in) + (specials ? " specials" : ""));
                    auto x = test::random_values(static_cast<size_t>(shape_numel(in)), std::hash<std::string>{}(layer->repr() + shape_str(in)));
                    if (specials) x = with_specials(std::move(x));
                    const auto want = layer->reference(in, x);
                    test::for_each_input_path(ctx, [&](const std::string& knobs) {
                        SCOPED_TRACE(knobs);
                        const Tensor y = layer->forward(Tensor::from_host(ctx, in, x));
                        ASSERT_EQ(y.shape(), layer->output_shape(in));
                        const auto got = y.to_host();
                        if (max) {
                            EXPECT_TRUE(bit_equal(got, want));
                        } else {
                            auto ax = x;
                            for (auto& v : ax) v = std::fabs(v);
                            EXPECT_TRUE(test::all_close(got, want,
                                                        test::fp32_sum_tolerance(layer->reference(in, ax), in[rank - 1] * in[rank - 2])));
                        }
                    });
                }
}

TEST_F(SpatialLayers, ReduceNaNShapesSplitsAndRefusals) {
    auto& ctx = test::context();
    // NaN wins amax and poisons mean, wherever it sits in the plane.
    Amax amax(ctx, {2, 3}, true);
    Mean mean(ctx, {2, 3}, false);
    std::vector<float> x(2 * 100, 1.0f);
    x[57] = kNaN;
    x[100 + 99] = kNaN;
    x[100 + 3] = kInf;
    const auto a = amax.forward(Tensor::from_host(ctx, {1, 2, 10, 10}, x)).to_host();
    EXPECT_TRUE(std::isnan(a[0]) && std::isnan(a[1]));
    const auto m = mean.forward(Tensor::from_host(ctx, {1, 2, 10, 10}, x)).to_host();
    EXPECT_TRUE(std::isnan(m[0]) && std::isnan(m[1]));
    EXPECT_EQ(amax.output_shape(Shape{2, 3, 4, 5}), (Shape{2, 3, 1, 1}));
    EXPECT_EQ(mean.output_shape(Shape{2, 3, 4, 5}), (Shape{2, 3}));
    // An empty plane: mean is NaN (torch.mean), amax refused (torch.amax).
    const auto e = mean.forward(Tensor::zeros(ctx, {1, 2, 0, 5})).to_host();
    ASSERT_EQ(e.size(), 2u);
    EXPECT_TRUE(std::isnan(e[0]) && std::isnan(e[1]));
    expect_error([&] { amax.output_shape(Shape{1, 4, 0, 5}); }, {"amax(): Expected reduction dim 2 to have non-zero size."});
    expect_error([&] { Mean bad(ctx, {2, 2}); }, {"dim 2 appears multiple times in the list of dims"});
    expect_error([&] { Mean bad(ctx, {2}); }, {"reduces over the two dims (H, W)"});
    Mean wrong(ctx, {1, 2});
    expect_error([&] { wrong.output_shape(Shape{1, 2, 3, 4}); }, {"last two dims (H, W) only", "dim=(1, 2)"});
    Mean far(ctx, {2, 4});
    expect_error([&] { far.output_shape(Shape{1, 2, 3, 4}); }, {"Dimension out of range (expected to be in range of [-4, 3], but got 4)"});
    Mean wrap(ctx, {-1, 3});
    expect_error([&] { wrap.output_shape(Shape{1, 2, 3, 4}); }, {"dim 3 appears multiple times in the list of dims"});
    EXPECT_EQ(Mean(ctx, {-1, -2}, true).repr(), "Mean(dim=(-1, -2), keepdim=True)");
    expect_error([&] { mean.output_shape(Shape{1, 1, 50000, 50000}); }, {"a plane of 2500000000 values exceeds 2^31-1"});
    // Split dispatches: 240 small planes (4 workgroups of 64 planes, one partial) and 5 planes of
    // 256 values (a workgroup each), at most 3 workgroups a dispatch.
    set_layer_workgroup_count_limit_for_testing(3);
    for (const Shape& in : {Shape{4, 60, 3, 3}, Shape{1, 5, 16, 16}}) {
        SCOPED_TRACE(shape_str(in));
        const auto xs = test::random_values(static_cast<size_t>(shape_numel(in)), 3);
        EXPECT_TRUE(bit_equal(amax.forward(Tensor::from_host(ctx, in, xs)).to_host(), amax.reference(in, xs)));
    }
}

}  // namespace
}  // namespace vkconv
