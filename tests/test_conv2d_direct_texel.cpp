// Conv2d's direct_texel kernel (and direct_tiled, the portable fallback, on the same shapes)
// against the CPU reference, each forced, across the parameter ranges they accept: every padding mode, padding kinds, strides, dilations, groups (dense, grouped,
// depthwise), bias, fused ReLU, odd sizes, batches, unbatched input, the staging memory path; and
// the direct_texel variants selected by its tuning knobs (pixels and channels per invocation,
// rows per workgroup, subgroup-shared weights). Also: Auto's choice, forcing an algorithm through
// set_algorithm, and the portable fallback (direct_tiled) on the same shapes.
//
// Tolerance as tests/test_conv2d.cpp: the fp32 recursive-summation bound per output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

struct DirectTexelCase {
    Shape input;
    int out_channels;
    Pair kernel;
    Conv2dOptions opt;
    Conv2dAlgorithm algorithm;
    bool relu = false;
    bool staging = false;
    std::string knobs;  // "VKCONV_TEXEL_PX=2,VKCONV_TEXEL_OCT=4"

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt};
        std::ostringstream s;
        s << p.str() << " input=" << shape_str(input) << " algorithm=" << to_string(algorithm) << (relu ? " +relu" : "")
          << (staging ? " staging" : "") << (knobs.empty() ? "" : " " + knobs);
        return s.str();
    }
};

void PrintTo(const DirectTexelCase& c, std::ostream* os) { *os << c.str(); }

class Conv2dDirectTexel : public test::VulkanTest, public ::testing::WithParamInterface<DirectTexelCase> {};

TEST_P(Conv2dDirectTexel, MatchesReference) {
    const DirectTexelCase& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    test::ScopedKnobs knobs(ctx, c.knobs);
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_algorithm(c.algorithm);
    conv.set_fused_relu(c.relu);
    if (!conv.supports(c.algorithm, c.input)) GTEST_SKIP() << to_string(c.algorithm) << " is not available on this device";
    ASSERT_EQ(conv.algorithm_for(c.input), c.algorithm);
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

    // New weights after a forward: the transformed copies must follow.
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 3));
    const auto got2 = conv.forward(xt).to_host();
    const auto want2 = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
    const auto abs_sums2 = conv2d_reference(p, c.input, abs_of(x), abs_of(conv.weight()), abs_of(conv.bias()));
    EXPECT_TRUE(test::all_close(got2, want2, test::fp32_sum_tolerance(abs_sums2, terms))) << c.str() << " (after set_weight)";
}

std::string case_name(const ::testing::TestParamInfo<DirectTexelCase>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
const Conv2dAlgorithm kGeneral[] = {Conv2dAlgorithm::DirectTexel, Conv2dAlgorithm::DirectTiled};

// Padding modes x paddings x strides x dilations, rectangular kernels, batch 2, odd sizes,
// output channels not a multiple of the 8-channel block, alternating bias and ReLU.
std::vector<DirectTexelCase> geometry_cases() {
    std::vector<DirectTexelCase> cases;
    const Padding paddings[] = {Padding(1), Padding(2, 1), Padding::same(), Padding::valid()};
    const Pair strides[] = {Pair(1), Pair(2, 1), Pair(3)};
    const Pair dilations[] = {Pair(1), Pair(2, 1)};
    int i = 0;
    for (auto algo : kGeneral)
        for (auto mode : kModes)
            for (const auto& pad : paddings)
                for (auto stride : strides)
                    for (auto dil : dilations) {
                        if (pad.kind == Padding::Kind::Same && stride != Pair(1)) continue;
                        const Pair kernel = (i % 3 == 0) ? Pair(3, 2) : (i % 3 == 1) ? Pair(3) : Pair(2, 4);
                        DirectTexelCase c{{2, 5, 11, 19}, i % 2 ? 11 : 3, kernel, opts(stride, pad, dil, 1, i % 2 == 0, mode), algo};
                        c.relu = i % 4 == 1;
                        cases.push_back(c);
                        ++i;
                    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Geometry, Conv2dDirectTexel, ::testing::ValuesIn(geometry_cases()), case_name);

// Groups (grouped, depthwise with and without multiplier) and every padding mode.
std::vector<DirectTexelCase> group_cases() {
    struct G { int c, k, groups; };
    const G gs[] = {{4, 6, 2}, {6, 9, 3}, {6, 6, 6}, {3, 6, 3}, {16, 16, 4}, {8, 40, 2}, {64, 64, 32}};
    std::vector<DirectTexelCase> cases;
    int i = 0;
    for (auto algo : kGeneral)
        for (const auto& g : gs)
            for (auto mode : kModes) {
                const Pair stride = i % 3 == 2 ? Pair(2) : Pair(1);
                DirectTexelCase c{{2, g.c, 10, 13}, g.k, Pair(3), opts(stride, 1, i % 4 == 3 ? Pair(2, 1) : Pair(1), g.groups, i % 2 == 0, mode), algo};
                c.relu = i % 5 == 0;
                cases.push_back(c);
                ++i;
            }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Groups, Conv2dDirectTexel, ::testing::ValuesIn(group_cases()), case_name);

// Suite-like shapes (smaller): 1x1, 7x7 stride 2, long reductions, 3-D input, tiny images.
std::vector<DirectTexelCase> shape_cases() {
    std::vector<DirectTexelCase> cases;
    for (auto algo : kGeneral) {
        cases.push_back({{1, 64, 7, 9}, 72, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), algo});
        cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), algo});
        cases.push_back({{3, 3, 8, 8}, 16, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), algo, true});
        cases.push_back({{1, 40, 14, 14}, 24, Pair(3), opts(1, 2, 2, 1, false, PaddingMode::Reflect), algo});
        cases.push_back({{5, 9, 9}, 6, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate), algo});
        cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Circular), algo});
        cases.push_back({{2, 3, 1, 9}, 5, Pair(1, 3), opts(1, Padding(0, 1), 1, 1, true, PaddingMode::Reflect), algo});
        DirectTexelCase st{{2, 7, 9, 10}, 13, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), algo, true, true};
        cases.push_back(st);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dDirectTexel, ::testing::ValuesIn(shape_cases()), case_name);

// direct_texel's variants (tuning knobs): pixels per invocation, channels per invocation, rows per
// workgroup, subgroup-shared weights (where the device has shuffles; skipped otherwise).
std::vector<DirectTexelCase> variant_cases() {
    std::vector<DirectTexelCase> cases;
    const char* knobs[] = {"VKCONV_TEXEL_PX=1", "VKCONV_TEXEL_PX=3,VKCONV_TEXEL_OCT=4", "VKCONV_TEXEL_PX=8,VKCONV_TEXEL_OCT=12",
                           "VKCONV_TEXEL_LY=4", "VKCONV_TEXEL_SG=1", "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=4",
                           "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=12,VKCONV_TEXEL_PX=2", "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=16",
                           "VKCONV_TILE_CLASS=1"};  // the discrete GPU class's default tiles
    int i = 0;
    for (const char* k : knobs)
        for (auto mode : {PaddingMode::Zeros, PaddingMode::Reflect}) {
            DirectTexelCase c{{2, 13, 12, 17}, 21, Pair(3), opts(i % 2 ? Pair(2, 1) : Pair(1), 1, 1, 1, true, mode), Conv2dAlgorithm::DirectTexel};
            c.knobs = k;
            c.relu = i % 2 == 0;
            cases.push_back(c);
            DirectTexelCase gr{{1, 12, 9, 11}, 18, Pair(3, 2), opts(1, Padding::same(), Pair(1, 2), 3, false, mode), Conv2dAlgorithm::DirectTexel};
            gr.knobs = k;
            cases.push_back(gr);
            ++i;
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Variants, Conv2dDirectTexel, ::testing::ValuesIn(variant_cases()), case_name);

class Conv2dAlgorithmChoice : public test::VulkanTest {};

TEST_F(Conv2dAlgorithmChoice, AutoPicksTheFastPathWhereItApplies) {
    Context& ctx = test::context();
    Conv2d dense(ctx, 16, 32, 3, {.padding = 1});
    Conv2d dw(ctx, 8, 8, 3, {.padding = 1, .groups = 8});
    const Shape x{1, 16, 12, 12}, xd{1, 8, 12, 12};
    // The packed paths first (tests/test_conv2d_packed.cpp), then direct_texel, then direct_tiled.
    if (dense.supports(Conv2dAlgorithm::GroupedTexel, x)) EXPECT_EQ(dense.algorithm_for(x), Conv2dAlgorithm::GroupedTexel);  // 16 <= 16 input channels
    else if (dense.supports(Conv2dAlgorithm::PackedTexel, x)) EXPECT_EQ(dense.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
    else if (dense.supports(Conv2dAlgorithm::DirectTexel, x)) EXPECT_EQ(dense.algorithm_for(x), Conv2dAlgorithm::DirectTexel);
    else EXPECT_EQ(dense.algorithm_for(x), Conv2dAlgorithm::DirectTiled);
    if (dw.supports(Conv2dAlgorithm::DepthwiseTexel, xd)) EXPECT_EQ(dw.algorithm_for(xd), Conv2dAlgorithm::DepthwiseTexel);
    else EXPECT_EQ(dw.algorithm_for(xd), Conv2dAlgorithm::Depthwise);
    dense.set_algorithm(Conv2dAlgorithm::DirectTiled);
    EXPECT_EQ(dense.algorithm_for(x), Conv2dAlgorithm::DirectTiled);
    dw.set_algorithm(Conv2dAlgorithm::DirectTexel);
    if (dw.supports(Conv2dAlgorithm::DirectTexel, xd)) EXPECT_EQ(dw.algorithm_for(xd), Conv2dAlgorithm::DirectTexel);
}

// Every algorithm of the registry: its name parses back, appears once in the list and in the
// CLI's help string, and stores_fp16 agrees with the kernel.
TEST_F(Conv2dAlgorithmChoice, NamesRoundTrip) {
    EXPECT_EQ(parse_conv2d_algorithm("auto"), Conv2dAlgorithm::Auto);
    const auto all = conv2d_algorithms();
    const std::string names = conv2d_algorithm_names();
    EXPECT_EQ(names.rfind("auto|", 0), 0u) << names;
    for (auto a : all) {
        EXPECT_EQ(parse_conv2d_algorithm(to_string(a)), a);
        EXPECT_EQ(std::count(all.begin(), all.end(), a), 1) << to_string(a);
        EXPECT_NE(names.find("|" + to_string(a)), std::string::npos) << names;
    }
    EXPECT_TRUE(stores_fp16(Conv2dAlgorithm::PackedTexel));
    EXPECT_TRUE(stores_fp16(Conv2dAlgorithm::Gemm1x1));
    EXPECT_FALSE(stores_fp16(Conv2dAlgorithm::DirectTiled));
    EXPECT_THROW(parse_conv2d_algorithm("winograd9"), Error);
}

// The same Conv2d recorded twice into one command buffer with different inputs (the texel path
// copies its input into a buffer it owns: the second copy must not clobber the first dispatch).
TEST_F(Conv2dAlgorithmChoice, TwoRecordsInOneSubmission) {
    Context& ctx = test::context();
    Conv2d conv(ctx, 4, 8, 3, {.padding = 1});
    const Shape s1{1, 4, 6, 7}, s2{2, 4, 9, 5};
    const auto x1 = test::random_values(static_cast<size_t>(shape_numel(s1)), 1);
    const auto x2 = test::random_values(static_cast<size_t>(shape_numel(s2)), 2);
    const Tensor t1 = Tensor::from_host(ctx, s1, x1), t2 = Tensor::from_host(ctx, s2, x2);
    const Tensor y1(ctx, conv.output_shape(s1)), y2(ctx, conv.output_shape(s2));
    CommandRecorder rec(ctx);
    conv.record(rec, t1, y1);
    conv.record(rec, t2, y2);
    rec.submit_and_wait();
    EXPECT_TRUE(test::all_close(y1.to_host(), conv2d_reference(conv.params(), s1, x1, conv.weight(), conv.bias()), 1e-4f));
    EXPECT_TRUE(test::all_close(y2.to_host(), conv2d_reference(conv.params(), s2, x2, conv.weight(), conv.bias()), 1e-4f));
}

}  // namespace
}  // namespace vkconv
