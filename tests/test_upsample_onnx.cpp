// Upsample with ONNX Resize's index rules (UpsampleOptions::coordinate_transformation_mode,
// nearest_mode; shaders/upsample2d.comp's COORD and ROUND) against the CPU reference: every
// coordinate mode x every nearest mode, and bilinear with every coordinate mode, over scale
// factors (up, down, non-integer, per axis) and sizes; hand-computed rows (ties included);
// argument checks.
//
// Tolerances: nearest selects one input value: bit-exact (the reference computes the same
// float source coordinates). Bilinear: the weights are the reference's own floats; the shader
// sums the four weighted values in fp32 (three products and three sums, weights in [0, 1]):
// 8 * 2^-24 * max|x|, plus the reference's rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/upsample.h"

namespace vkconv {
namespace {

const char* kCoords[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nearest"};
const char* kRounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

struct Case {
    Shape input;
    UpsampleOptions o;
    std::string str() const {
        std::ostringstream s;
        s << "input=" << shape_str(input) << " size=" << shape_str(o.size) << " scale_factor=[";
        for (double v : o.scale_factor) s << v << " ";
        s << "] mode=" << o.mode << " coord=" << o.coordinate_transformation_mode << " nearest_mode=" << o.nearest_mode;
        return s.str();
    }
};

::testing::AssertionResult bit_equal(std::span<const float> got, std::span<const float> want) {
    for (size_t i = 0; i < got.size(); ++i)
        if (std::memcmp(&got[i], &want[i], 4) != 0)
            return ::testing::AssertionFailure() << "[" << i << "] got " << got[i] << ", want " << want[i];
    return ::testing::AssertionSuccess();
}

void check(Context& ctx, const Case& c) {
    SCOPED_TRACE(c.str());
    Upsample layer(ctx, c.o);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), std::hash<std::string>{}(c.str()));
    const Tensor y = layer.forward(Tensor::from_host(ctx, c.input, x));
    ASSERT_EQ(y.shape(), layer.output_shape(c.input));
    const auto got = y.to_host();
    const auto want = layer.reference(c.input, x);
    if (c.o.mode == "nearest") {
        EXPECT_TRUE(bit_equal(got, want));
        return;
    }
    EXPECT_TRUE(test::all_close(got, want, 9.0f * std::ldexp(1.0f, -24) * test::max_abs(x) + 1e-7f));
}

std::vector<Case> cases() {
    std::vector<Case> v;
    const Shape inputs[] = {{2, 3, 5, 7}, {1, 1, 3, 4}, {1, 2, 1, 1}, {1, 2, 16, 9}};
    const std::vector<double> scales[] = {{2.0}, {3.0}, {1.7}, {0.5}, {0.6, 0.8}, {2.2, 1.3}, {1.0, 2.5}, {0.34, 4.0}};
    const std::vector<int64_t> sizes[] = {{9, 4}, {1, 1}, {2, 2}, {3, 17}, {32, 18}};
    for (const auto& in : inputs)
        for (const char* coord : kCoords)
            for (const std::string mode : {"nearest", "bilinear"})
                for (const char* round : kRounds) {
                    if (mode == "bilinear" && std::string(round) != "round_prefer_floor") continue;
                    auto make = [&](UpsampleOptions o) {
                        o.mode = mode;
                        o.coordinate_transformation_mode = coord;
                        o.nearest_mode = round;
                        return Case{in, o};
                    };
                    for (const auto& s : scales) {
                        if (std::floor(double(in[2]) * s[0]) < 1 || std::floor(double(in[3]) * s.back()) < 1) continue;
                        v.push_back(make({.scale_factor = s}));
                    }
                    for (const auto& s : sizes) v.push_back(make({.size = s}));
                }
    return v;
}

class UpsampleOnnx : public test::VulkanTest {};

TEST_F(UpsampleOnnx, SweepMatchesReference) {
    const auto all = cases();
    EXPECT_GT(all.size(), 500u);
    for (const auto& c : all) check(test::context(), c);
    check(test::staging_context(), {{2, 4, 13, 7}, {.size = {20, 30}, .mode = "bilinear", .coordinate_transformation_mode = "half_pixel"}});
}

// Rows of [1, 2, 3, 4] (or [1, 2, 3]) by hand, from ONNX's formulas.
TEST_F(UpsampleOnnx, HandComputed) {
    auto& ctx = test::context();
    auto run = [&](UpsampleOptions o, std::vector<float> row) {
        const Shape in{1, 1, 1, int64_t(row.size())};
        if (o.size.size() == 1) o.size = {1, o.size[0]};
        if (o.scale_factor.size() == 1) o.scale_factor = {1.0, o.scale_factor[0]};
        Upsample u(ctx, o);
        const auto got = u.forward(Tensor::from_host(ctx, in, row)).to_host();
        EXPECT_EQ(got, u.reference(in, row));
        return got;
    };
    using V = std::vector<float>;
    const V r4{1, 2, 3, 4}, r3{1, 2, 3};
    // asymmetric + floor is PyTorch's nearest.
    EXPECT_EQ(run({.scale_factor = {2.0}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "floor"}, r4), (V{1, 1, 2, 2, 3, 3, 4, 4}));
    // half_pixel: x / 2 - 0.25 rounds to 0, 0, 1, 1, ...
    EXPECT_EQ(run({.scale_factor = {2.0}, .coordinate_transformation_mode = "half_pixel"}, r4), (V{1, 1, 2, 2, 3, 3, 4, 4}));
    // Down by 2: asymmetric 0, 2; tf_half_pixel_for_nearest (x + 0.5) * 2 = 1, 3.
    EXPECT_EQ(run({.scale_factor = {0.5}, .coordinate_transformation_mode = "asymmetric"}, r4), (V{1, 3}));
    EXPECT_EQ(run({.scale_factor = {0.5}, .coordinate_transformation_mode = "tf_half_pixel_for_nearest"}, r4), (V{2, 4}));
    // 3 -> 2 by size (r = 1.5): asymmetric x = 1 is the tie 1.5.
    EXPECT_EQ(run({.size = {2}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "round_prefer_floor"}, r3), (V{1, 2}));
    EXPECT_EQ(run({.size = {2}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "round_prefer_ceil"}, r3), (V{1, 3}));
    EXPECT_EQ(run({.size = {2}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "ceil"}, r3), (V{1, 3}));
    EXPECT_EQ(run({.size = {2}, .coordinate_transformation_mode = "align_corners", .nearest_mode = "floor"}, r3), (V{1, 3}));
    // pytorch_half_pixel with one output takes index 0; half_pixel the middle.
    EXPECT_EQ(run({.size = {1}, .coordinate_transformation_mode = "pytorch_half_pixel"}, r3), (V{1}));
    EXPECT_EQ(run({.size = {1}, .coordinate_transformation_mode = "half_pixel"}, r3), (V{2}));
    // Linear, half_pixel, x2: clamped at both ends.
    EXPECT_EQ(run({.scale_factor = {2.0}, .mode = "bilinear", .coordinate_transformation_mode = "half_pixel"}, r4),
              (V{1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4}));
    // Linear, asymmetric, x2: x / 2.
    EXPECT_EQ(run({.scale_factor = {2.0}, .mode = "bilinear", .coordinate_transformation_mode = "asymmetric"}, r4),
              (V{1, 1.5, 2, 2.5, 3, 3.5, 4, 4}));
}

TEST_F(UpsampleOnnx, ArgumentChecksAndRepr) {
    auto& ctx = test::context();
    test::expect_error([&] { Upsample(ctx, {.scale_factor = {2}, .coordinate_transformation_mode = "tf_crop_and_resize"}); },
                       {"coordinate_transformation_mode must be one of", "'tf_crop_and_resize'"});
    test::expect_error([&] { Upsample(ctx, {.scale_factor = {2}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "round"}); },
                       {"nearest_mode must be one of", "'round'"});
    test::expect_error([&] { Upsample(ctx, {.scale_factor = {2}, .mode = "bilinear", .align_corners = true, .coordinate_transformation_mode = "half_pixel"}); },
                       {"align_corners cannot be set with a coordinate_transformation_mode"});
    EXPECT_EQ(Upsample(ctx, {.scale_factor = {2}, .coordinate_transformation_mode = "asymmetric", .nearest_mode = "floor"}).repr(),
              "Upsample(scale_factor=2.0, mode=nearest, coordinate_transformation_mode=asymmetric, nearest_mode=floor)");
}

}  // namespace
}  // namespace vkconv
