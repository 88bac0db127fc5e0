// Conv2d's basics: an empty batch, PyTorch's default initialisation, its printed form, and
// 'same' padding's split. The numerics of every algorithm: tests/test_conv2d_algorithms.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/test_support.h"

namespace vkconv {
namespace {

class Conv2dBasics : public test::VulkanTest {};

TEST_F(Conv2dBasics, ZeroBatchGivesEmptyOutput) {
    Conv2d conv(test::context(), 3, 4, 3, {.padding = 1});
    const Tensor x(test::context(), {0, 3, 5, 5});
    const Tensor y = conv.forward(x);
    EXPECT_EQ(y.shape(), (Shape{0, 4, 5, 5}));
}

TEST_F(Conv2dBasics, DefaultInitIsKaimingUniformBoundAndSeeded) {
    Conv2d a(test::context(), 6, 8, Pair(3, 2), {.groups = 2});
    Conv2d b(test::context(), 6, 8, Pair(3, 2), {.groups = 2});
    // fan_in = (6 / 2) * 3 * 2; 144 uniform draws reach near the bound.
    test::expect_seeded_uniform_init(a, b, 1.0f / std::sqrt(3.0f * 3 * 2), 0.8f);
}

TEST_F(Conv2dBasics, PrintsLikePyTorch) {
    Conv2d a(test::context(), 3, 16, 3, {.padding = 1});
    EXPECT_EQ(a.params().str(), "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
    Conv2d b(test::context(), 8, 16, Pair(3, 5),
             {.stride = 1, .padding = Padding::same(), .dilation = 2, .groups = 8, .bias = false, .padding_mode = PaddingMode::Reflect});
    EXPECT_EQ(b.params().str(),
              "Conv2d(8, 16, kernel_size=(3, 5), stride=(1, 1), padding=same, dilation=(2, 2), groups=8, bias=False, "
              "padding_mode=reflect)");
}

TEST_F(Conv2dBasics, SamePaddingPutsOddExtraAtBottomRight) {
    Conv2dParams p{1, 1, Pair(4, 2), {.padding = Padding::same()}};
    const auto g = conv2d_geometry(p, {1, 1, 6, 6});
    EXPECT_EQ(g.pad_top, 1);
    EXPECT_EQ(g.pad_bottom, 2);
    EXPECT_EQ(g.pad_left, 0);
    EXPECT_EQ(g.pad_right, 1);
    EXPECT_EQ(g.out_h, 6);
    EXPECT_EQ(g.out_w, 6);
}

}  // namespace
}  // namespace vkconv
