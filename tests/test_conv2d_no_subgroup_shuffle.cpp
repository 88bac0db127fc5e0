// Convolutions on a device without subgroup shuffles in compute shaders. Such a device must
// refuse any module that declares the GroupNonUniformShuffle capability, even where the shuffle
// code is switched off by a specialization constant, so direct_texel runs
// conv2d_direct_texel_nosg there (conv2d_direct_texel.comp built with its shuffle code compiled
// out). ContextOptions::limit_overrides.hide_subgroup_shuffle makes any device look like one.
// The kernels sharing weight texels through shuffles (the _sg variants of the Winograd GEMM,
// packed_texel, gemm_1x1 and grouped_texel, CPU devices) likewise give way to their plain modules.
// Checked: the policy, the module the plan builds, the CPU reference across the ranges
// direct_texel accepts (every padding mode, strides, dilations, groups, bias, fused ReLU, the
// tile knobs, texel_sg=1 included, which falls back to per-invocation fetches), and, where the
// device does have shuffles, bit-identical outputs to the full module with SG off (the same
// arithmetic in the same order).
//
// Tolerance: the fp32 recursive-summation bound per output (test::fp32_sum_tolerance over
// sum |x w| + |b|, as in test_conv2d_algorithms); it holds for any summation order.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "host/pipeline.h"
#include "vkconv/internal.h"
#include "support/conv2d_sweep.h"
#include "support/test_support.h"
#include "vkconv/layers.h"
#include "vkconv/testing.h"

namespace vkconv {
namespace {

using test::Conv2dCase;

class NoSubgroupShuffle : public test::VulkanTest, public ::testing::WithParamInterface<Conv2dCase> {
public:
    // One context for the suite; destroying it fails the suite on any validation message.
    static void SetUpTestSuite() {
        testing::ContextOptions o;
        o.limit_overrides.hide_subgroup_shuffle = true;
        owned_ = std::make_unique<test::OwnedContext>(o);
    }
    static void TearDownTestSuite() { owned_.reset(); }
    static Context& ctx() { return **owned_; }

private:
    static std::unique_ptr<test::OwnedContext> owned_;
};
std::unique_ptr<test::OwnedContext> NoSubgroupShuffle::owned_;

TEST_F(NoSubgroupShuffle, PolicyHasNoShuffles) {
    EXPECT_FALSE(ctx().info().subgroup_shuffle);
    EXPECT_FALSE(testing::policy(ctx()).subgroup_shuffle);
    // The shared context's policy follows the device: shuffles in compute shaders, subgroups of 8+.
    const auto& info = test::context().info();
    EXPECT_EQ(testing::policy(test::context()).subgroup_shuffle, info.subgroup_shuffle && info.subgroup_size >= 8);
}

TEST_P(NoSubgroupShuffle, DirectTexelMatchesReference) {
    const Conv2dCase& c = GetParam();
    test::ScopedKnobs knobs(ctx(), c.knobs);
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx(), in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_fused_relu(c.relu);
    if (!conv.supports(Conv2dAlgorithm::DirectTexel, c.input))
        GTEST_SKIP() << "direct_texel is not available: " << conv.unsupported_reason(Conv2dAlgorithm::DirectTexel, c.input);
    conv.set_algorithm(Conv2dAlgorithm::DirectTexel);
    const auto pipelines = detail::Conv2dAccess::prepare(conv, c.input, conv.fused_activation());
    ASSERT_EQ(pipelines.size(), 1u) << c.str();
    EXPECT_EQ(pipelines[0]->name(), "conv2d_direct_texel_nosg") << c.str();

    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    const auto w = test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1);
    const auto b = c.opt.bias ? test::random_values(static_cast<size_t>(c.out_channels), seed + 2) : std::vector<float>{};
    conv.set_weight(w);
    if (c.opt.bias) conv.set_bias(b);
    const auto got = conv.forward(Tensor::from_host(ctx(), c.input, x)).to_host();

    const auto want = conv2d_reference(p, c.input, x, w, b, c.relu);
    const auto abs_sums = conv2d_reference(p, c.input, test::abs_of(x), test::abs_of(w), test::abs_of(b));
    const auto tol = test::fp32_sum_tolerance(abs_sums, int64_t(in_channels / c.opt.groups) * c.kernel.h * c.kernel.w);
    EXPECT_TRUE(test::all_close(got, want, tol)) << c.str();

    // Where the device has shuffles, the full module with SG off computes the same bits.
    Context& full = test::context();
    if (!testing::policy(full).subgroup_shuffle || c.knobs.find("VKCONV_TEXEL_SG=1") != std::string::npos) return;
    test::ScopedKnobs full_knobs(full, c.knobs);
    Conv2d same(full, in_channels, c.out_channels, c.kernel, c.opt);
    same.set_fused_relu(c.relu);
    same.set_algorithm(Conv2dAlgorithm::DirectTexel);
    ASSERT_EQ(detail::Conv2dAccess::prepare(same, c.input, same.fused_activation()).at(0)->name(), "conv2d_direct_texel") << c.str();
    same.set_weight(w);
    if (c.opt.bias) same.set_bias(b);
    EXPECT_TRUE(test::bit_equal(got, same.forward(Tensor::from_host(full, c.input, x)).to_host())) << c.str();
}

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

// Every padding mode x strides and dilations (dense, odd sizes, output channels past one
// 8-channel block), grouped and depthwise with a multiplier, an unbatched input, and the tile
// knobs (pixels, channels and rows per invocation, texel_sg=1, the discrete class's tiles).
std::vector<Conv2dCase> cases() {
    std::vector<Conv2dCase> out;
    const PaddingMode modes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
    int i = 0;
    for (auto mode : modes) {
        for (auto [stride, dil] : {std::pair{Pair(1), Pair(1)}, std::pair{Pair(2, 1), Pair(1, 2)}}) {
            Conv2dCase c{{2, 5, 11, 13}, 11, i % 2 ? Pair(3) : Pair(3, 2), opts(stride, 1, dil, 1, i % 2 == 0, mode), Conv2dAlgorithm::DirectTexel};
            c.relu = i % 3 == 0;
            out.push_back(c);
            ++i;
        }
        out.push_back({{1, 12, 9, 11}, 18, Pair(3, 2), opts(1, Padding::same(), Pair(1, 2), 3, true, mode), Conv2dAlgorithm::DirectTexel});
        out.push_back({{2, 4, 7, 9}, 8, Pair(3), opts(2, 1, 1, 4, false, mode), Conv2dAlgorithm::DirectTexel});
    }
    out.push_back({{6, 10, 9}, 7, Pair(2), opts(1, Padding::valid(), 1, 1, true, PaddingMode::Zeros), Conv2dAlgorithm::DirectTexel});
    for (const char* k : {"VKCONV_TEXEL_PX=1", "VKCONV_TEXEL_PX=3,VKCONV_TEXEL_OCT=4", "VKCONV_TEXEL_PX=8,VKCONV_TEXEL_OCT=12",
                          "VKCONV_TEXEL_LY=4", "VKCONV_TEXEL_SG=1", "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=16", "VKCONV_TILE_CLASS=1"}) {
        Conv2dCase c{{2, 13, 12, 17}, 21, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), Conv2dAlgorithm::DirectTexel};
        c.knobs = k;
        c.relu = true;
        out.push_back(c);
    }
    return out;
}
std::string case_name(const ::testing::TestParamInfo<Conv2dCase>& info) { return "case" + std::to_string(info.index); }
INSTANTIATE_TEST_SUITE_P(DirectTexel, NoSubgroupShuffle, ::testing::ValuesIn(cases()), case_name);

// The kernels whose lanes share weight texels (the Winograd GEMM, packed_texel, gemm_1x1,
// grouped_texel) without shuffles: the plain modules; where the shared context runs their _sg variants (the
// weights fetched once per subgroup and shuffled to its lanes), the same bits, since each output
// sums the same products in the same order (the shared context's outputs meet the reference in
// test_conv2d_algorithms' sweeps). The Winograd GEMM pads its tile blocks to whole subgroups
// (F(4x4) tiles 16, 45 and 196: 2, 6 and 5 per invocation with subgroups of 8); 8 tiles, which
// no multiple of 8 blocks covers within 1/8, keep the plain GEMM everywhere.
TEST_F(NoSubgroupShuffle, SharedWeightKernelsMatchWithAndWithoutShuffles) {
    struct Case {
        Conv2dAlgorithm algorithm;
        Shape input;
        int out_channels;
        Pair kernel;
        Conv2dOptions opt;
        const char* plain;  // the kernel's module without shuffles (among Conv2d::prepare's pipelines)
        bool shuffles;      // the _sg variant, where the shared context has it
    };
    using A = Conv2dAlgorithm;
    const Case cases[] = {
        {A::Winograd, {1, 16, 14, 14}, 24, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), "conv2d_winograd_gemm", true},
        {A::Winograd, {3, 5, 11, 19}, 11, 3, opts(1, 1, 1, 1, true, PaddingMode::Reflect), "conv2d_winograd_gemm", true},
        {A::Winograd, {1, 8, 56, 56}, 36, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), "conv2d_winograd_gemm", true},
        {A::Winograd, {2, 9, 6, 7}, 5, 3, opts(1, 1, 1, 1, true, PaddingMode::Replicate), "conv2d_winograd_gemm", false},
        {A::PackedTexel, {2, 7, 13, 11}, 21, Pair(3, 5), opts(Pair(2, 1), 2, Pair(1, 2), 1, true, PaddingMode::Circular),
         "conv2d_packed_texel", true},
        {A::PackedTexel, {1, 12, 9, 10}, 18, 7, opts(2, 3, 1, 3, false, PaddingMode::Zeros), "conv2d_packed_texel", true},
        {A::Gemm1x1, {3, 20, 7, 9}, 37, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), "conv2d_gemm_1x1", true},
        // 9 and 49 taps: 2 and 7 fetches per lane and input channel.
        {A::GroupedTexel, {2, 6, 12, 13}, 10, 3, opts(1, 1, 1, 2, true, PaddingMode::Reflect), "conv2d_grouped_texel", true},
        {A::GroupedTexel, {1, 3, 30, 29}, 8, 7, opts(2, 3, 1, 1, false, PaddingMode::Zeros), "conv2d_grouped_texel", true},
    };
    Context& full = test::context();
    const auto& fp = testing::policy(full);
    const bool full_sg = fp.subgroup_weights && fp.subgroup_shuffle && full.info().subgroup_size == fp.kernel_workgroup;
    if (full.info().driver_name == "llvmpipe") EXPECT_TRUE(full_sg) << "lavapipe runs the shuffle variants";
    for (const auto& c : cases) {
        const std::string what = std::string(to_string(c.algorithm)) + " input=" + shape_str(c.input) + " out=" + std::to_string(c.out_channels);
        SCOPED_TRACE(what);
        const int in_channels = static_cast<int>(c.input[1]);
        Conv2d plain(ctx(), in_channels, c.out_channels, c.kernel, c.opt);
        Conv2d shared(full, in_channels, c.out_channels, c.kernel, c.opt);
        for (Conv2d* conv : {&plain, &shared}) {
            conv->set_algorithm(c.algorithm);
            conv->set_fused_relu(true);
        }
        const auto module = [&](Conv2d& conv) {
            for (const auto& pipe : detail::Conv2dAccess::prepare(conv, c.input, conv.fused_activation()))
                if (pipe->name().rfind(c.plain, 0) == 0) return pipe->name();
            return std::string("(none)");
        };
        EXPECT_EQ(module(plain), c.plain);
        EXPECT_EQ(module(shared), std::string(c.plain) + (full_sg && c.shuffles ? "_sg" : ""));

        const auto& p = plain.params();
        const uint64_t seed = std::hash<std::string>{}(what);
        const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
        const auto w = test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1);
        const auto b = c.opt.bias ? test::random_values(static_cast<size_t>(c.out_channels), seed + 2) : std::vector<float>{};
        for (Conv2d* conv : {&plain, &shared}) {
            conv->set_weight(w);
            if (c.opt.bias) conv->set_bias(b);
        }
        const auto got = plain.forward(Tensor::from_host(ctx(), c.input, x)).to_host();
        EXPECT_TRUE(test::bit_equal(got, shared.forward(Tensor::from_host(full, c.input, x)).to_host()));
    }
}

}  // namespace
}  // namespace vkconv
