// Every argument nn.Conv2d refuses is refused here too, with a message that names the
// parameter and the rule (PyTorch's wording where it has one).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

class Conv2dErrors : public test::VulkanTest {};

using test::expect_error;

TEST_F(Conv2dErrors, ChannelsNotDivisibleByGroups) {
    auto& ctx = test::context();
    expect_error([&] { Conv2d(ctx, 3, 4, 3, {.groups = 2}); }, {"in_channels must be divisible by groups", "in_channels=3", "groups=2"});
    expect_error([&] { Conv2d(ctx, 4, 3, 3, {.groups = 2}); }, {"out_channels must be divisible by groups", "out_channels=3"});
}

TEST_F(Conv2dErrors, NonPositiveSizes) {
    auto& ctx = test::context();
    expect_error([&] { Conv2d(ctx, 0, 4, 3); }, {"in_channels must be positive", "in_channels=0"});
    expect_error([&] { Conv2d(ctx, 3, -1, 3); }, {"out_channels must be positive"});
    expect_error([&] { Conv2d(ctx, 3, 4, Pair(0, 3)); }, {"kernel_size must be positive", "kernel_size=(0, 3)"});
    expect_error([&] { Conv2d(ctx, 3, 4, 3, {.stride = Pair(1, 0)}); }, {"stride must be positive", "stride=(1, 0)"});
    expect_error([&] { Conv2d(ctx, 3, 4, 3, {.dilation = 0}); }, {"dilation must be positive", "dilation=(0, 0)"});
    expect_error([&] { Conv2d(ctx, 3, 4, 3, {.padding = Padding(-1, 0)}); }, {"padding must be non-negative", "padding=(-1, 0)"});
    expect_error([&] { Conv2d(ctx, 3, 3, 3, {.groups = 0}); }, {"groups must be a positive integer"});
}

TEST_F(Conv2dErrors, WeightTooLargeIsRefusedNotOverflowed) {
    // 2^16 * 2^16 * 2^16 * 2^16 overflows int64: must be a clear error, not undefined behaviour.
    expect_error([&] { Conv2d(test::context(), 65536, 65536, Pair(65536, 65536)); }, {"has more than 2^31-1 elements"});
}

TEST_F(Conv2dErrors, SameWithStride) {
    expect_error([&] { Conv2d(test::context(), 3, 4, 3, {.stride = 2, .padding = Padding::same()}); },
                 {"padding='same' is not supported for strided convolutions", "stride=(2, 2)"});
}

TEST_F(Conv2dErrors, BadPaddingStrings) {
    expect_error([] { Padding::parse("full"); }, {"Invalid padding string 'full'", "'valid', 'same'"});
    expect_error([] { parse_padding_mode("mirror"); }, {"padding_mode must be one of", "'zeros', 'reflect', 'replicate', 'circular'", "'mirror'"});
}

TEST_F(Conv2dErrors, ReflectPaddingNotSmallerThanInput) {
    Conv2d conv(test::context(), 1, 1, 3, {.padding = 2, .padding_mode = PaddingMode::Reflect});
    expect_error([&] { conv.output_shape(Shape{1, 1, 2, 5}); },
                 {"Padding size should be less than the corresponding input dimension", "padding (2, 2) at dimension 2",
                  "[1, 1, 2, 5]"});
    // 'same' with a large dilation counts too.
    Conv2d same(test::context(), 1, 1, 3, {.padding = Padding::same(), .dilation = 3, .padding_mode = PaddingMode::Reflect});
    expect_error([&] { same.output_shape(Shape{1, 1, 8, 3}); }, {"padding (3, 3) at dimension 3"});
    EXPECT_EQ(same.output_shape(Shape{1, 1, 4, 4}), (Shape{1, 1, 4, 4}));
}

TEST_F(Conv2dErrors, CircularPaddingWrappingMoreThanOnce) {
    Conv2d conv(test::context(), 1, 1, 5, {.padding = 2, .padding_mode = PaddingMode::Circular});
    expect_error([&] { conv.output_shape(Shape{1, 1, 1, 5}); }, {"wrapping around more than once", "padding (2, 2) at dimension 2"});
    EXPECT_EQ(conv.output_shape(Shape{1, 1, 2, 2}), (Shape{1, 1, 2, 2}));
}

TEST_F(Conv2dErrors, InputChannelMismatch) {
    Conv2d conv(test::context(), 1, 16, 3);
    expect_error([&] { conv.output_shape(Shape{1, 3, 28, 28}); },
                 {"Given groups=1, weight of size [16, 1, 3, 3], expected input[1, 3, 28, 28] to have 1 channels, but got 3 "
                  "channels instead"});
    // forward() refuses before touching the device.
    const Tensor x(test::context(), {1, 3, 28, 28});
    expect_error([&] { conv.forward(x); }, {"to have 1 channels, but got 3 channels instead"});
}

TEST_F(Conv2dErrors, EmptyOutput) {
    Conv2d conv(test::context(), 3, 16, 5);
    expect_error([&] { conv.output_shape(Shape{1, 3, 4, 8}); },
                 {"Given input size: (3x4x8). Calculated output size: (16x0x4). Output size is too small"});
}

TEST_F(Conv2dErrors, WrongInputRank) {
    Conv2d conv(test::context(), 3, 4, 3);
    expect_error([&] { conv.output_shape(Shape{3, 28}); },
                 {"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 28]"});
    expect_error([&] { conv.output_shape(Shape{1, 3, 0, 5}); }, {"non-zero height and width"});
}

TEST_F(Conv2dErrors, WrongParameterSizes) {
    Conv2d conv(test::context(), 3, 4, 3);
    const std::vector<float> w(10);
    expect_error([&] { conv.set_weight(w); }, {"weight", "[4, 3, 3, 3]", "got 10 values"});
    expect_error([&] { conv.set_bias(w); }, {"bias", "[4]", "got 10 values"});
    Conv2d nobias(test::context(), 3, 4, 3, {.bias = false});
    expect_error([&] { nobias.set_bias(std::vector<float>(4)); }, {"bias=False"});
    expect_error([&] { nobias.set_algorithm(Conv2dAlgorithm::Depthwise); }, {"'depthwise' needs groups == in_channels"});
}

TEST_F(Conv2dErrors, WrongOutputTensor) {
    Conv2d conv(test::context(), 3, 4, 3);
    const Tensor x(test::context(), {1, 3, 8, 8});
    const Tensor y(test::context(), {1, 4, 8, 8});
    CommandRecorder rec(test::context());
    expect_error([&] { conv.record(rec, x, y); }, {"output tensor has shape [1, 4, 8, 8], expected [1, 4, 6, 6]"});
}

}  // namespace
}  // namespace vkconv
