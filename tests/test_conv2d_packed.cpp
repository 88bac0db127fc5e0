// The register-tiled texel convolutions against the CPU reference, each forced: packed_texel
// (NC4HW4 pack pass + dense and grouped direct convolution), gemm_1x1 (1x1 kernels as a GEMM over
// the flat output grid), depthwise_texel (depthwise with any channel multiplier) and
// grouped_texel (NCHW read directly, few channels per group). The sweeps cover every
// padding mode, explicit / same / valid padding, strides 1-3, dilations 1-2, groups with cin_g a
// multiple of 4 and not, batch 1 and 3, unbatched input, odd sizes, channel counts not multiples
// of 4 or 8, bias on and off, fused ReLU, the staging memory path, and the tile knobs
// (VKCONV_PACKED_PX / _OCT / _PY / _WG). Also: Auto's choice, forcing an algorithm where it does
// not apply (the error names the algorithm and the reason), two recordings in one submission.
//
// Tolerance as tests/test_conv2d_direct_texel.cpp: the fp32 recursive-summation bound per output
// (the packed kernels sum in a different order than the reference; the bound holds for any order).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

struct PackedCase {
    Shape input;
    int out_channels;
    Pair kernel;
    Conv2dOptions opt;
    Conv2dAlgorithm algorithm;
    bool relu = false;
    bool staging = false;
    std::string knobs;  // "VKCONV_PACKED_PX=3,VKCONV_PACKED_OCT=4"

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt};
        std::ostringstream s;
        s << p.str() << " input=" << shape_str(input) << " algorithm=" << to_string(algorithm) << (relu ? " +relu" : "")
          << (staging ? " staging" : "") << (knobs.empty() ? "" : " " + knobs);
        return s.str();
    }
};

void PrintTo(const PackedCase& c, std::ostream* os) { *os << c.str(); }

class Conv2dPacked : public test::VulkanTest, public ::testing::WithParamInterface<PackedCase> {};

TEST_P(Conv2dPacked, MatchesReference) {
    const PackedCase& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    test::ScopedKnobs knobs(ctx, c.knobs);
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_algorithm(c.algorithm);
    conv.set_fused_relu(c.relu);
    if (!conv.supports(c.algorithm, c.input))
        GTEST_SKIP() << to_string(c.algorithm) << " is not available: " << conv.unsupported_reason(c.algorithm, c.input);
    ASSERT_EQ(conv.algorithm_for(c.input), c.algorithm) << c.str();
    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) conv.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));

    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    const Tensor yt = conv.forward(xt);
    ASSERT_EQ(yt.shape(), conv.output_shape(c.input)) << c.str();
    auto abs_of = [](std::vector<float> v) { for (auto& e : v) e = std::fabs(e); return v; };
    const int64_t terms = int64_t(in_channels / c.opt.groups) * c.kernel.h * c.kernel.w;
    auto check = [&](const std::vector<float>& got, const char* when) {
        const auto want = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
        const auto abs_sums = conv2d_reference(p, c.input, abs_of(x), abs_of(conv.weight()), abs_of(conv.bias()));
        EXPECT_TRUE(test::all_close(got, want, test::fp32_sum_tolerance(abs_sums, terms))) << c.str() << when;
    };
    check(yt.to_host(), "");
    // New weights after a forward: the transformed copies must follow.
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 3));
    check(conv.forward(xt).to_host(), " (after set_weight)");
}

std::string case_name(const ::testing::TestParamInfo<PackedCase>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
const Padding kPaddings[] = {Padding(1), Padding(2, 1), Padding::same(), Padding::valid()};
struct StrideDil { Pair stride, dilation; };
const StrideDil kStrideDils[] = {{Pair(1), Pair(1)}, {Pair(2, 1), Pair(2, 1)}, {Pair(3), Pair(1, 2)}};

// packed_texel: padding modes x paddings x strides/dilations, rectangular kernels, batch 1 and 3,
// odd sizes, 5 input channels (one partial quad), output channels not multiples of 4 or 8.
std::vector<PackedCase> packed_geometry_cases() {
    std::vector<PackedCase> cases;
    int i = 0;
    for (auto mode : kModes)
        for (const auto& pad : kPaddings)
            for (const auto& sd : kStrideDils) {
                if (pad.kind == Padding::Kind::Same && sd.stride != Pair(1)) continue;
                const Pair kernel = (i % 3 == 0) ? Pair(3, 2) : (i % 3 == 1) ? Pair(3) : Pair(2, 4);
                PackedCase c{{i % 2 ? 1 : 3, 5, 11, 19}, i % 2 ? 11 : 3, kernel, opts(sd.stride, pad, sd.dilation, 1, i % 2 == 0, mode),
                             Conv2dAlgorithm::PackedTexel};
                c.relu = i % 4 == 1;
                cases.push_back(c);
                ++i;
            }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedGeometry, Conv2dPacked, ::testing::ValuesIn(packed_geometry_cases()), case_name);

// packed_texel with groups: cin_g 2, 3, 4, 5 (quads padded with zero channels), cout_g below and
// above the 4 / 8 channel blocks; every padding mode.
std::vector<PackedCase> packed_group_cases() {
    struct G { int c, k, groups; };
    const G gs[] = {{4, 6, 2}, {6, 9, 3}, {12, 8, 4}, {16, 16, 4}, {8, 40, 2}, {32, 32, 8}, {10, 14, 2}};
    std::vector<PackedCase> cases;
    int i = 0;
    for (const auto& g : gs)
        for (auto mode : kModes) {
            const Pair stride = i % 3 == 2 ? Pair(2) : Pair(1);
            PackedCase c{{i % 2 ? 1 : 3, g.c, 10, 13}, g.k, Pair(3),
                         opts(stride, 1, i % 4 == 3 ? Pair(2, 1) : Pair(1), g.groups, i % 2 == 0, mode), Conv2dAlgorithm::PackedTexel};
            c.relu = i % 5 == 0;
            cases.push_back(c);
            ++i;
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedGroups, Conv2dPacked, ::testing::ValuesIn(packed_group_cases()), case_name);

// packed_texel on suite-like and edge shapes: 7x7 stride 2, a long reduction, 3-D input, a 1x1
// image, one-row images, a kernel wider than the input, the staging memory path, and the knobs.
std::vector<PackedCase> packed_shape_cases() {
    const auto A = Conv2dAlgorithm::PackedTexel;
    std::vector<PackedCase> cases;
    cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 40, 14, 14}, 24, Pair(3), opts(1, 2, 2, 1, false, PaddingMode::Reflect), A, true});
    cases.push_back({{5, 9, 9}, 6, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate), A});
    cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Circular), A});
    cases.push_back({{3, 3, 1, 9}, 5, Pair(1, 3), opts(1, Padding(0, 1), 1, 1, true, PaddingMode::Reflect), A});
    cases.push_back({{1, 2, 5, 3}, 4, Pair(3, 5), opts(1, Padding(1, 2), 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 4, 9, 40}, 9, Pair(1, 5), opts(Pair(1, 2), Padding(0, 8), Pair(1, 4), 1, true, PaddingMode::Circular), A});
    PackedCase st{{2, 7, 9, 10}, 13, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), A, true, true};
    cases.push_back(st);
    // VKCONV_TILE_CLASS: the discrete (1) and integrated (2) GPU classes' default tiles.
    const char* knobs[] = {"VKCONV_PACKED_PX=3", "VKCONV_PACKED_PX=16,VKCONV_PACKED_OCT=16", "VKCONV_PACKED_OCT=4,VKCONV_PACKED_WG=1",
                           "VKCONV_PACKED_WG=64,VKCONV_PACKED_OCT=12", "VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"};
    for (const char* k : knobs) {
        PackedCase c{{3, 13, 12, 17}, 21, Pair(3), opts(Pair(1, 2), 1, 1, 1, true, PaddingMode::Reflect), A};
        c.knobs = k;
        c.relu = true;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedShapes, Conv2dPacked, ::testing::ValuesIn(packed_shape_cases()), case_name);

// gemm_1x1: strides, paddings (every mode: the border of a padded 1x1 convolution), groups with
// cin_g 1, 3, 4, 13, output channels below, at and above the 16-channel block, batch 1 and 3,
// 3-D input, bias, ReLU, knobs.
std::vector<PackedCase> gemm_cases() {
    const auto A = Conv2dAlgorithm::Gemm1x1;
    std::vector<PackedCase> cases;
    struct G { int c, k, groups; };
    const G gs[] = {{13, 21, 1}, {6, 4, 2}, {8, 40, 2}, {12, 12, 12}, {26, 7, 1}};
    const Pair strides[] = {Pair(1), Pair(2), Pair(1, 3)};
    const Padding paddings[] = {Padding(0), Padding(1), Padding::valid(), Padding(0, 2)};
    int i = 0;
    for (const auto& g : gs)
        for (auto mode : kModes) {
            const Pair stride = strides[i % 3];
            const Padding pad = paddings[(i / 3) % 4];
            PackedCase c{{i % 2 ? 1 : 3, g.c, 7 + i % 3, 9 + i % 4}, g.k, Pair(1), opts(stride, pad, 1, g.groups, i % 2 == 0, mode), A};
            c.relu = i % 3 == 1;
            cases.push_back(c);
            ++i;
        }
    cases.push_back({{64, 5, 6}, 33, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), A, true});
    cases.push_back({{1, 32, 28, 28}, 48, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), A, false, true});
    for (const char* k : {"VKCONV_PACKED_PX=5,VKCONV_PACKED_OCT=8", "VKCONV_PACKED_OCT=4,VKCONV_PACKED_WG=3", "VKCONV_TILE_CLASS=1"}) {
        PackedCase c{{2, 9, 5, 11}, 19, Pair(1), opts(Pair(2, 1), 1, 1, 1, true, PaddingMode::Replicate), A};
        c.knobs = k;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Gemm1x1, Conv2dPacked, ::testing::ValuesIn(gemm_cases()), case_name);

// depthwise_texel: channel multipliers 1, 2, 3, channel counts 3, 5, 8, 6; every padding mode and
// padding kind, strides, dilations, rectangular kernels, batch 1 and 3, bias, ReLU, knobs.
std::vector<PackedCase> depthwise_cases() {
    const auto A = Conv2dAlgorithm::DepthwiseTexel;
    std::vector<PackedCase> cases;
    struct G { int c, k; };
    const G gs[] = {{5, 5}, {8, 8}, {6, 12}, {3, 9}};
    int i = 0;
    for (const auto& g : gs)
        for (auto mode : kModes)
            for (int v = 0; v < 2; ++v) {
                const Padding pad = kPaddings[(i + v) % 4];
                const StrideDil sd = kStrideDils[i % 3];
                if (pad.kind == Padding::Kind::Same && sd.stride != Pair(1)) {
                    ++i;
                    continue;
                }
                const Pair kernel = (i % 3 == 0) ? Pair(3) : (i % 3 == 1) ? Pair(5, 3) : Pair(2, 4);
                PackedCase c{{i % 2 ? 1 : 3, g.c, 11 + i % 3, 13 + i % 5}, g.k, kernel, opts(sd.stride, pad, sd.dilation, g.c, i % 2 == 0, mode), A};
                c.relu = i % 4 == 1;
                cases.push_back(c);
                ++i;
            }
    cases.push_back({{7, 9, 9}, 14, Pair(3), opts(1, Padding::same(), 1, 7, true, PaddingMode::Reflect), A, true});
    cases.push_back({{1, 4, 1, 1}, 4, Pair(3), opts(1, 1, 1, 4, true, PaddingMode::Zeros), A});
    PackedCase st{{2, 6, 9, 10}, 6, Pair(3), opts(1, 1, 1, 6, true, PaddingMode::Circular), A, false, true};
    cases.push_back(st);
    for (const char* k : {"VKCONV_PACKED_PX=3,VKCONV_PACKED_PY=1", "VKCONV_PACKED_PY=8,VKCONV_PACKED_WG=5", "VKCONV_TILE_CLASS=1"}) {
        PackedCase c{{2, 10, 20, 17}, 10, Pair(3), opts(1, 1, 1, 10, true, PaddingMode::Reflect), A};
        c.knobs = k;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(DepthwiseTexel, Conv2dPacked, ::testing::ValuesIn(depthwise_cases()), case_name);

// grouped_texel: groups with cin_g 1..5 and 13 (dense), cout_g below, at and above its 4-channel
// block; every padding mode and padding kind, strides, dilations, rectangular kernels, batch 1 and
// 3, bias, ReLU, 3-D input, staging, knobs.
std::vector<PackedCase> grouped_cases() {
    const auto A = Conv2dAlgorithm::GroupedTexel;
    std::vector<PackedCase> cases;
    struct G { int c, k, groups; };
    const G gs[] = {{8, 8, 2}, {6, 9, 3}, {10, 14, 2}, {13, 5, 1}, {3, 16, 1}};
    int i = 0;
    for (const auto& g : gs)
        for (auto mode : kModes) {
            const Padding pad = kPaddings[i % 4];
            const StrideDil sd = kStrideDils[i % 3];
            const Pair kernel = (i % 3 == 0) ? Pair(3) : (i % 3 == 1) ? Pair(5, 3) : Pair(2, 4);
            PackedCase c{{i % 2 ? 1 : 3, g.c, 11 + i % 3, 13 + i % 5}, g.k, kernel,
                         opts(pad.kind == Padding::Kind::Same ? Pair(1) : sd.stride, pad, sd.dilation, g.groups, i % 2 == 0, mode), A};
            c.relu = i % 4 == 1;
            cases.push_back(c);
            ++i;
        }
    cases.push_back({{4, 9, 9}, 8, Pair(3), opts(1, Padding::same(), 1, 2, true, PaddingMode::Reflect), A, true});
    cases.push_back({{1, 4, 1, 1}, 4, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), A});
    PackedCase st{{2, 6, 9, 10}, 6, Pair(3), opts(1, 1, 1, 3, true, PaddingMode::Circular), A, false, true};
    cases.push_back(st);
    for (const char* k : {"VKCONV_PACKED_PX=3,VKCONV_PACKED_PY=1", "VKCONV_PACKED_PY=8,VKCONV_PACKED_WG=5", "VKCONV_TILE_CLASS=1",
                          "VKCONV_TILE_CLASS=2"}) {
        PackedCase c{{2, 8, 20, 17}, 12, Pair(3), opts(1, 1, 1, 4, true, PaddingMode::Reflect), A};
        c.knobs = k;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(GroupedTexel, Conv2dPacked, ::testing::ValuesIn(grouped_cases()), case_name);

class Conv2dPackedChoice : public test::VulkanTest {};

TEST_F(Conv2dPackedChoice, AutoPicksThePackedPaths) {
    Context& ctx = test::context();
    Conv2d dense(ctx, 20, 32, 3, {.padding = 1});
    Conv2d narrow(ctx, 16, 32, 3, {.padding = 1});
    Conv2d grouped(ctx, 16, 16, 3, {.padding = 1, .groups = 4});
    Conv2d pointwise(ctx, 16, 32, 1);
    Conv2d dw(ctx, 8, 16, 3, {.padding = 1, .groups = 8});
    const Shape x{1, 16, 12, 12}, xd{1, 8, 12, 12}, x20{1, 20, 12, 12};
    if (!dense.supports(Conv2dAlgorithm::PackedTexel, x20)) GTEST_SKIP() << "no RGBA32F uniform texel buffers";
    EXPECT_EQ(dense.algorithm_for(x20), Conv2dAlgorithm::PackedTexel);
    // At most 16 input channels per group: grouped_texel (no pack pass).
    EXPECT_EQ(narrow.algorithm_for(x), Conv2dAlgorithm::GroupedTexel);
    EXPECT_EQ(grouped.algorithm_for(x), Conv2dAlgorithm::GroupedTexel);
    EXPECT_EQ(pointwise.algorithm_for(x), Conv2dAlgorithm::Gemm1x1);
    EXPECT_EQ(dw.algorithm_for(xd), Conv2dAlgorithm::DepthwiseTexel);
    // A kernel too wide for the register window falls back to direct_texel.
    Conv2d wide(ctx, 4, 4, {1, 5}, {.dilation = {1, 9}});
    const Shape xw{1, 4, 3, 50};
    EXPECT_EQ(wide.algorithm_for(xw), Conv2dAlgorithm::DirectTexel);
}

TEST_F(Conv2dPackedChoice, ForcedWhereItDoesNotApplyNamesTheReason) {
    Context& ctx = test::context();
    Conv2d dense(ctx, 4, 8, 3);
    test::expect_error([&] { dense.set_algorithm(Conv2dAlgorithm::Gemm1x1); }, {"gemm_1x1", "1x1 kernel", "(3, 3)"});
    test::expect_error([&] { dense.set_algorithm(Conv2dAlgorithm::DepthwiseTexel); }, {"depthwise_texel", "groups == in_channels"});
    Conv2d wide(ctx, 4, 4, {1, 5}, {.dilation = {1, 9}});
    wide.set_algorithm(Conv2dAlgorithm::PackedTexel);
    const Shape xw{1, 4, 3, 50};
    if (!wide.supports(Conv2dAlgorithm::DirectTexel, xw)) GTEST_SKIP() << "no texel buffers";
    test::expect_error([&] { (void)wide.algorithm_for(xw); }, {"packed_texel", "at most 32", "37"});
    Conv2d dw(ctx, 4, 4, {3, 9}, {.dilation = 2, .groups = 4});
    dw.set_algorithm(Conv2dAlgorithm::DepthwiseTexel);
    test::expect_error([&] { (void)dw.forward(Tensor::from_host(ctx, {1, 4, 20, 40}, std::vector<float>(3200, 1.0f))); },
                       {"depthwise_texel", "at most 16", "(5, 17)"});
    Conv2d gr(ctx, 4, 6, {9, 3}, {.dilation = {3, 1}, .groups = 2});
    gr.set_algorithm(Conv2dAlgorithm::GroupedTexel);
    test::expect_error([&] { (void)gr.algorithm_for({1, 4, 40, 9}); }, {"grouped_texel", "at most 16", "(25, 3)"});
}

TEST_F(Conv2dPackedChoice, NamesRoundTrip) {
    for (auto a : {Conv2dAlgorithm::PackedTexel, Conv2dAlgorithm::Gemm1x1, Conv2dAlgorithm::DepthwiseTexel,
                   Conv2dAlgorithm::GroupedTexel})
        EXPECT_EQ(parse_conv2d_algorithm(to_string(a)), a);
    EXPECT_EQ(to_string(Conv2dAlgorithm::GroupedTexel), "grouped_texel");
    EXPECT_EQ(to_string(Conv2dAlgorithm::PackedTexel), "packed_texel");
    EXPECT_EQ(to_string(Conv2dAlgorithm::Gemm1x1), "gemm_1x1");
    EXPECT_EQ(to_string(Conv2dAlgorithm::DepthwiseTexel), "depthwise_texel");
}

// The same Conv2d recorded twice into one command buffer with different input sizes: the second
// pack pass (and a reallocated packed buffer) must not disturb the first convolution.
TEST_F(Conv2dPackedChoice, TwoRecordsInOneSubmission) {
    Context& ctx = test::context();
    for (auto a : {Conv2dAlgorithm::PackedTexel, Conv2dAlgorithm::Gemm1x1, Conv2dAlgorithm::DepthwiseTexel,
                   Conv2dAlgorithm::GroupedTexel}) {
        const bool dwise = a == Conv2dAlgorithm::DepthwiseTexel;
        Conv2d conv(ctx, 4, 8, a == Conv2dAlgorithm::Gemm1x1 ? 1 : 3, {.padding = 1, .groups = dwise ? 4 : 1});
        conv.set_algorithm(a);
        const Shape s1{1, 4, 6, 7}, s2{2, 4, 9, 15};
        if (!conv.supports(a, s1)) GTEST_SKIP() << "no texel buffers";
        const auto x1 = test::random_values(static_cast<size_t>(shape_numel(s1)), 1);
        const auto x2 = test::random_values(static_cast<size_t>(shape_numel(s2)), 2);
        const Tensor t1 = Tensor::from_host(ctx, s1, x1), t2 = Tensor::from_host(ctx, s2, x2);
        const Tensor y1(ctx, conv.output_shape(s1)), y2(ctx, conv.output_shape(s2));
        CommandRecorder rec(ctx);
        conv.record(rec, t1, y1);
        conv.record(rec, t2, y2);
        rec.submit_and_wait();
        EXPECT_TRUE(test::all_close(y1.to_host(), conv2d_reference(conv.params(), s1, x1, conv.weight(), conv.bias()), 1e-4f))
            << to_string(a);
        EXPECT_TRUE(test::all_close(y2.to_host(), conv2d_reference(conv.params(), s2, x2, conv.weight(), conv.bias()), 1e-4f))
            << to_string(a);
    }
}

}  // namespace
}  // namespace vkconv
