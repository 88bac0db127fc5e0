// Conv2d on the GPU against the CPU reference: every shader, every padding mode, strides,
// dilations, groups (dense, grouped, depthwise with multiplier), bias, 'same'/'valid',
// rectangular kernels and inputs, odd channel counts, batches, tiny inputs.
//
// Tolerance: the reference accumulates in double; the shaders in fp32 with FMA. The difference
// is bounded per output by (terms + 1) * 2^-24 * sum|x * w| (recursive summation), so each
// output gets that bound (doubled) as its tolerance, computed from the reference run on |x|, |w|.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

struct ConvCase {
    Shape input;  // [N, C, H, W] or [C, H, W]
    int out_channels;
    Pair kernel;
    Conv2dOptions opt;
    Conv2dAlgorithm algorithm = Conv2dAlgorithm::Auto;
    bool relu = false;
    bool staging = false;

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt};
        std::ostringstream s;
        s << p.str() << " padding_kind=" << int(opt.padding.kind) << " input=" << shape_str(input)
          << " algorithm=" << to_string(algorithm) << (relu ? " +relu" : "") << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.str(); }

class Conv2dSweep : public test::VulkanTest, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(Conv2dSweep, MatchesReference) {
    const ConvCase& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_algorithm(c.algorithm);
    conv.set_fused_relu(c.relu);
    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) conv.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));

    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    const Tensor yt = conv.forward(xt);
    ASSERT_EQ(yt.shape(), conv.output_shape(c.input)) << c.str();
    const auto got = yt.to_host();

    const auto want = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
    auto abs_of = [](std::vector<float> v) { for (auto& e : v) e = std::fabs(e); return v; };
    const auto abs_sums = conv2d_reference(p, c.input, abs_of(x), abs_of(conv.weight()), abs_of(conv.bias()));
    const int64_t terms = int64_t(in_channels / c.opt.groups) * c.kernel.h * c.kernel.w;
    EXPECT_TRUE(test::all_close(got, want, test::fp32_sum_tolerance(abs_sums, terms))) << c.str();
}

std::string case_name(const ::testing::TestParamInfo<ConvCase>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};

// Padding modes x padding (symmetric, asymmetric (h, w), 'same', 'valid') x stride x dilation,
// with rectangular kernels, odd channel counts, a batch of 2, alternating bias.
std::vector<ConvCase> padding_stride_dilation_cases() {
    std::vector<ConvCase> cases;
    const Padding paddings[] = {Padding(1), Padding(2, 1), Padding::same(), Padding::valid(), Padding(0, 3)};
    const Pair strides[] = {Pair(1), Pair(2, 1), Pair(3)};
    const Pair dilations[] = {Pair(1), Pair(1, 2), Pair(2)};
    int i = 0;
    for (auto mode : kModes)
        for (const auto& pad : paddings)
            for (auto stride : strides)
                for (auto dil : dilations) {
                    if (pad.kind == Padding::Kind::Same && stride != Pair(1)) continue;
                    const Pair kernel = (i % 3 == 0) ? Pair(3, 2) : (i % 3 == 1) ? Pair(3) : Pair(2, 4);
                    cases.push_back({{2, 5, 9, 11}, 3, kernel, opts(stride, pad, dil, 1, i % 2 == 0, mode)});
                    ++i;
                }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PaddingStrideDilation, Conv2dSweep, ::testing::ValuesIn(padding_stride_dilation_cases()), case_name);

// Groups: dense, grouped, depthwise, depthwise with channel multiplier; every padding mode; the
// depthwise shapes also forced through the general tiled kernel.
std::vector<ConvCase> group_cases() {
    struct G { int c, k, groups; };
    const G gs[] = {{4, 6, 2}, {6, 9, 3}, {9, 3, 3}, {6, 6, 6}, {3, 6, 3}, {4, 12, 4}, {5, 5, 5}, {8, 16, 1}, {7, 21, 7}, {16, 16, 4}};
    std::vector<ConvCase> cases;
    int i = 0;
    for (const auto& g : gs)
        for (auto mode : kModes) {
            const Pair stride = i % 3 == 2 ? Pair(2) : Pair(1);
            const Pair dil = i % 4 == 3 ? Pair(2, 1) : Pair(1);
            const Padding pad = i % 2 ? Padding::same() : Padding(1, 2);
            ConvCase c{{2, g.c, 10, 7}, g.k, Pair(3, 3), opts(stride, stride == Pair(1) ? pad : Padding(1, 2), dil, g.groups, i % 2 == 0, mode)};
            cases.push_back(c);
            if (g.groups == g.c && g.c > 1) {
                c.algorithm = Conv2dAlgorithm::DirectTiled;
                cases.push_back(c);
            }
            ++i;
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Groups, Conv2dSweep, ::testing::ValuesIn(group_cases()), case_name);

// Tiny inputs: 1x1 images with padding, single rows and columns, 1x1 kernels.
std::vector<ConvCase> tiny_cases() {
    std::vector<ConvCase> cases;
    for (auto mode : {PaddingMode::Zeros, PaddingMode::Replicate, PaddingMode::Circular}) {
        cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, mode)});
        cases.push_back({{3, 2, 1, 1}, 4, Pair(3), opts(1, Padding::same(), 1, 2, false, mode)});
        cases.push_back({{2, 3, 1, 9}, 2, Pair(3, 3), opts(1, 1, 1, 1, true, mode)});
        cases.push_back({{2, 3, 7, 1}, 2, Pair(1, 3), opts(Pair(2, 1), Padding(0, 1), 1, 1, true, mode)});
    }
    for (auto mode : kModes) {
        cases.push_back({{1, 1, 1, 1}, 1, Pair(1), opts(1, 0, 1, 1, true, mode)});
        cases.push_back({{1, 2, 2, 2}, 3, Pair(2), opts(1, Padding::valid(), 1, 1, true, mode)});
        cases.push_back({{1, 3, 2, 3}, 3, Pair(3), opts(1, 1, 1, 3, true, mode)});  // reflect pad 1 < 2 is allowed
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Tiny, Conv2dSweep, ::testing::ValuesIn(tiny_cases()), case_name);

// Sizes past the tiles: reduction longer than the shared-memory chunk, output channels not a
// multiple of the register tile, images not a multiple of the 8x8 tile, batch 3, unbatched 3-D
// input, fused ReLU, and the staging (non-host-visible) memory path.
std::vector<ConvCase> size_cases() {
    std::vector<ConvCase> cases;
    cases.push_back({{3, 37, 17, 23}, 19, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros)});
    cases.push_back({{1, 20, 33, 9}, 13, Pair(5, 3), opts(Pair(2, 1), Padding(2, 1), 1, 1, true, PaddingMode::Reflect)});
    cases.push_back({{2, 24, 12, 12}, 48, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros)});
    cases.push_back({{2, 32, 19, 21}, 64, Pair(3), opts(1, 1, 1, 32, true, PaddingMode::Circular)});
    cases.push_back({{5, 16, 16}, 8, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate)});
    cases.push_back({{1, 3, 40, 30}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros)});
    ConvCase relu{{2, 6, 13, 14}, 10, Pair(3), opts(1, 1, 1, 2, true, PaddingMode::Zeros)};
    relu.relu = true;
    cases.push_back(relu);
    ConvCase dw_relu{{2, 6, 13, 14}, 12, Pair(3), opts(1, 1, 1, 6, true, PaddingMode::Reflect)};
    dw_relu.relu = true;
    cases.push_back(dw_relu);
    for (auto c : {ConvCase{{2, 5, 9, 10}, 7, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect)},
                   ConvCase{{2, 4, 9, 10}, 8, Pair(3), opts(1, 1, 1, 4, false, PaddingMode::Circular)}}) {
        c.staging = true;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Sizes, Conv2dSweep, ::testing::ValuesIn(size_cases()), case_name);

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
    a.reset_parameters(7);
    b.reset_parameters(7);
    EXPECT_EQ(a.weight(), b.weight());
    EXPECT_EQ(a.bias(), b.bias());
    const float bound = 1.0f / std::sqrt(3.0f * 3 * 2);  // fan_in = (6 / 2) * 3 * 2
    float maxabs = 0;
    for (float v : a.weight()) maxabs = std::max(maxabs, std::fabs(v));
    EXPECT_LE(maxabs, bound);
    EXPECT_GT(maxabs, 0.8f * bound);  // 144 uniform draws reach near the bound
    for (float v : a.bias()) EXPECT_LE(std::fabs(v), bound);
    b.reset_parameters(8);
    EXPECT_NE(a.weight(), b.weight());
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
