// Conv2d's algorithm choice: Auto's picks (the packed paths, winograd where measured faster,
// direct_texel, then direct_tiled), forcing an algorithm with set_algorithm (and the error, naming
// the algorithm and the reason, where it does not apply), the names of the registry, and the
// same Conv2d recorded twice into one submission with different inputs. The numerics of every
// algorithm: tests/test_conv2d_algorithms.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "host/pipeline.h"
#include "support/conv2d_sweep.h"
#include "support/test_support.h"
#include "vkconv/internal.h"

namespace vkconv {
namespace {

class Conv2dAlgorithmChoice : public test::VulkanTest {};

TEST_F(Conv2dAlgorithmChoice, AutoPicksTheFastPathWhereItApplies) {
    Context& ctx = test::context();
    Conv2d dense(ctx, 16, 32, 3, {.padding = 1});
    Conv2d dw(ctx, 8, 8, 3, {.padding = 1, .groups = 8});
    const Shape x{1, 16, 12, 12}, xd{1, 8, 12, 12};
    // The packed paths first, then direct_texel, then direct_tiled.
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

// Conv2d::prepare (pipeline warm-up) prepares the plan record() then uses: its pipelines are the
// ones the first forward runs, and the forward matches the reference. An empty batch prepares
// nothing and is no error.
TEST_F(Conv2dAlgorithmChoice, PrepareWarmsUpThePlanTheForwardUses) {
    Context& ctx = test::context();
    Conv2d conv(ctx, 8, 16, 3, {.padding = 1});
    conv.reset_parameters(7);
    const Shape s{1, 8, 13, 11};
    conv.prepare(s, Activation::relu());
    const auto warmed = detail::Conv2dAccess::prepare(conv, s, Activation::relu());
    ASSERT_FALSE(warmed.empty());
    conv.set_fused_relu(true);
    const auto x = test::random_values(static_cast<size_t>(shape_numel(s)), 3);
    const auto y = conv.forward(Tensor::from_host(ctx, s, x)).to_host();
    EXPECT_EQ(detail::Conv2dAccess::prepare(conv, s, Activation::relu()), warmed);
    // fp32 sums of 73 terms (72 products, the bias): |error| <= 73 * 2^-24 * sum|x w + b|, and
    // |x| < 1 with |w|, |b| <= 1/sqrt(72) bound the sum by 73/sqrt(72) < 8.7: 3.8e-5.
    EXPECT_TRUE(test::all_close(y, conv.reference({&s, 1}, {&x, 1}), 3.8e-5f));
    EXPECT_NO_THROW(conv.prepare({0, 8, 13, 11}));
    EXPECT_TRUE(detail::Conv2dAccess::prepare(conv, {0, 8, 13, 11}).empty());
}

// On CPU devices (lavapipe), where the input can be read 4 columns a fetch (rows a multiple of 4
// wide), Winograd's input transform reads it itself: no pack pass, and its DIRECT specialization
// constant is 1 + the first column's offset in its texel ((-pad_left) mod 4), for every padding
// mode (its PAD_MODE). A row width that is not a multiple of 4 keeps the pack pass; so does an
// input scaled by per-channel factors (test_model_channel_scale).
TEST_F(Conv2dAlgorithmChoice, WinogradReadsTheInputWithoutAPackPassOnCpuDevices) {
    Context& ctx = test::context();
    if (testing::host(ctx).policy().device_class != host::DeviceClass::Cpu) GTEST_SKIP() << "not a CPU device";
    auto passes = [&](int pad_left, PaddingMode mode, int64_t w) {
        Conv2d conv(ctx, 8, 8, 3, {.padding = Padding(1, pad_left), .padding_mode = mode});
        conv.set_algorithm(Conv2dAlgorithm::Winograd);
        return detail::Conv2dAccess::prepare(conv, {1, 8, 9, w});
    };
    for (int pad_left : {0, 1, 2, 3})
        for (PaddingMode mode : {PaddingMode::Zeros, PaddingMode::Reflect}) {
            const auto p = passes(pad_left, mode, 12);
            ASSERT_EQ(p.size(), 3u) << "pad_left " << pad_left;
            EXPECT_EQ(p[0]->name(), "conv2d_winograd_input");
            EXPECT_EQ(p[0]->specialization().at(8), 1u + (4 - pad_left) % 4) << "pad_left " << pad_left;
            EXPECT_EQ(p[0]->specialization().at(2), static_cast<uint32_t>(mode)) << "pad_left " << pad_left;
        }
    const auto p = passes(1, PaddingMode::Zeros, 13);
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p[0]->name(), "pack_nc4hw4");
    EXPECT_EQ(p[1]->specialization().at(8), 0u);
}

// On CPU devices gemm_1x1 at stride 1 without padding (one group, whole vec4s per channel
// plane) reads the NCHW input itself: one pipeline, DIRECT_1X1 (constant 14) set. Padding or
// stride 2 keeps the pack pass.
TEST_F(Conv2dAlgorithmChoice, Gemm1x1ReadsTheInputWithoutAPackPassOnCpuDevices) {
    Context& ctx = test::context();
    if (testing::host(ctx).policy().device_class != host::DeviceClass::Cpu) GTEST_SKIP() << "not a CPU device";
    auto passes = [&](int stride, int padding) {
        Conv2d conv(ctx, 12, 16, 1, {.stride = stride, .padding = padding});
        conv.set_algorithm(Conv2dAlgorithm::Gemm1x1);
        return detail::Conv2dAccess::prepare(conv, {2, 12, 8, 8});
    };
    const auto direct = passes(1, 0);
    ASSERT_EQ(direct.size(), 1u);
    EXPECT_EQ(direct[0]->name().rfind("conv2d_gemm_1x1", 0), 0u) << direct[0]->name();  // or its _sg variant
    EXPECT_EQ(direct[0]->specialization().at(14), 1u);
    for (const auto& p : {passes(1, 1), passes(2, 0)}) {
        ASSERT_EQ(p.size(), 2u);
        EXPECT_EQ(p[0]->name(), "pack_nc4hw4");
        EXPECT_EQ(p[1]->specialization().at(14), 0u);
    }
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
    // The names users type (the CLI's --algorithm, tuning files): as the shader files.
    EXPECT_EQ(to_string(Conv2dAlgorithm::GroupedTexel), "grouped_texel");
    EXPECT_EQ(to_string(Conv2dAlgorithm::PackedTexel), "packed_texel");
    EXPECT_EQ(to_string(Conv2dAlgorithm::Gemm1x1), "gemm_1x1");
    EXPECT_EQ(to_string(Conv2dAlgorithm::DepthwiseTexel), "depthwise_texel");
    EXPECT_EQ(to_string(Conv2dAlgorithm::Winograd), "winograd");
    EXPECT_NE(std::find(all.begin(), all.end(), Conv2dAlgorithm::Winograd), all.end());
}

// Every algorithm: the same Conv2d recorded twice into one command buffer with different input
// sizes. Its copies of the input, pack passes and reallocated scratch buffers for the second
// recording must not disturb the first.
TEST_F(Conv2dAlgorithmChoice, TwoRecordsInOneSubmission) {
    Context& ctx = test::context();
    for (auto a : conv2d_algorithms()) {
        const bool dwise = a == Conv2dAlgorithm::DepthwiseTexel || a == Conv2dAlgorithm::Depthwise;
        Conv2d conv(ctx, 4, 8, a == Conv2dAlgorithm::Gemm1x1 ? 1 : 3, {.padding = 1, .groups = dwise ? 4 : 1});
        const Shape s1{1, 4, 6, 7}, s2{2, 4, 9, 15};
        if (!conv.supports(a, s1) || !conv.supports(a, s2)) continue;
        conv.set_algorithm(a);
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

TEST_F(Conv2dAlgorithmChoice, AutoPicksThePackedPaths) {
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

TEST_F(Conv2dAlgorithmChoice, PackedForcedWhereItDoesNotApplyNamesTheReason) {
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

TEST_F(Conv2dAlgorithmChoice, WinogradForcedWhereItDoesNotApplyNamesTheReason) {
    Context& ctx = test::context();
    const Shape x{1, 4, 12, 12};
    struct Bad { Pair kernel; Conv2dOptions opt; const char* what; };
    const Bad bad[] = {{Pair(3), {.stride = 2, .padding = 1}, "stride=(2, 2)"},
                       {Pair(5), {.padding = 2}, "kernel_size=(5, 5)"},
                       {Pair(3), {.padding = 2, .dilation = 2}, "dilation=(2, 2)"},
                       {Pair(3, 1), {}, "kernel_size=(3, 1)"},
                       {Pair(3), {.groups = 2}, "groups=2"}};
    for (const auto& b : bad) {
        Conv2d conv(ctx, 4, 8, b.kernel, b.opt);
        EXPECT_FALSE(conv.supports(Conv2dAlgorithm::Winograd, x)) << b.what;
        conv.set_algorithm(Conv2dAlgorithm::Winograd);
        test::expect_error([&] { (void)conv.algorithm_for(x); }, {"'winograd'", "3x3 kernels with stride 1", b.what});
        test::expect_error([&] { (void)conv.forward(Tensor::from_host(ctx, x, std::vector<float>(576, 1.0f))); },
                           {"'winograd'", b.what});
    }
}

TEST_F(Conv2dAlgorithmChoice, AutoPicksWinogradWhereMeasuredFaster) {
    Context& ctx = test::context();
    Conv2d big(ctx, 64, 64, 3, {.padding = 1, .padding_mode = PaddingMode::Reflect});  // S4 / S10
    const Shape x{1, 64, 56, 56};
    if (!big.supports(Conv2dAlgorithm::Winograd, x)) GTEST_SKIP() << big.unsupported_reason(Conv2dAlgorithm::Winograd, x);
    EXPECT_EQ(big.algorithm_for(x), Conv2dAlgorithm::Winograd);
    Conv2d s5(ctx, 256, 256, 3, {.padding = 1});
    EXPECT_EQ(s5.algorithm_for({1, 256, 14, 14}), Conv2dAlgorithm::Winograd);
    Conv2d valid(ctx, 32, 64, 3);  // 'valid': 14x14 output from 16x16, batch 1
    EXPECT_EQ(valid.algorithm_for({1, 32, 16, 16}), Conv2dAlgorithm::Winograd);
    // Small outputs with many channels (ResNet's last stage: 4 F(4x4) tiles at batch 1), in a tile
    // block shrunk to the tiles there are: the same result, bit for bit, as with that block forced.
    Conv2d last(ctx, 256, 256, 3, {.padding = 1});
    const Shape x7{1, 256, 7, 7};
    EXPECT_EQ(last.algorithm_for(x7), Conv2dAlgorithm::Winograd);
    Conv2d mid(ctx, 128, 128, 3, {.padding = 1});  // C * K below 256 * 256
    EXPECT_EQ(mid.algorithm_for({1, 128, 7, 7}), Conv2dAlgorithm::PackedTexel);
    const Tensor in7 = Tensor::from_host(ctx, x7, test::random_values(static_cast<size_t>(shape_numel(x7)), 3));
    const auto auto_tiles = last.forward(in7).to_host();
    {
        test::ScopedKnobs f2(ctx, "VKCONV_WINOGRAD_TILE=4,VKCONV_WINOGRAD_TT=4");
        Conv2d forced(ctx, 256, 256, 3, {.padding = 1});
        forced.set_weight(last.weight());
        forced.set_bias(last.bias());
        EXPECT_TRUE(test::bit_equal(forced.forward(in7).to_host(), auto_tiles));
    }
    // Where it loses: few channels, a small output, and where it does not apply.
    EXPECT_EQ(big.algorithm_for({1, 64, 8, 8}), Conv2dAlgorithm::PackedTexel);
    Conv2d narrow(ctx, 64, 8, 3, {.padding = 1});
    EXPECT_EQ(narrow.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
    Conv2d c32(ctx, 32, 32, 3, {.padding = 1});
    EXPECT_EQ(c32.algorithm_for({1, 32, 28, 28}), Conv2dAlgorithm::PackedTexel);
    Conv2d few(ctx, 16, 64, 3, {.padding = 1});
    EXPECT_EQ(few.algorithm_for({1, 16, 56, 56}), Conv2dAlgorithm::GroupedTexel);
    Conv2d strided(ctx, 64, 64, 3, {.stride = 2, .padding = 1});
    EXPECT_EQ(strided.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
    // Forced off: set_algorithm wins over Auto's choice.
    big.set_algorithm(Conv2dAlgorithm::PackedTexel);
    EXPECT_EQ(big.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
}

// GPU classes (the discrete (1) and integrated (2) classes' policy, on any device through
// VKCONV_TILE_CLASS): implicit_gemm for dense convolutions with a reduction of 64 or more and 32
// or more output channels, where grouped_texel and packed_texel are taken on CPU devices;
// winograd kept where Auto takes it; 1x1, depthwise, grouped, few output channels or a short
// reduction keep their kernels. The CPU class's choices are unchanged.
TEST_F(Conv2dAlgorithmChoice, AutoPicksImplicitGemmOnGpuClasses) {
    Context& ctx = test::context();
    const auto gemm = parse_conv2d_algorithm("implicit_gemm");
    const Shape x12{1, 16, 12, 12}, x20{1, 20, 12, 12}, x64{1, 64, 56, 56};
    {
        test::ScopedKnobs cpu(ctx, "VKCONV_TILE_CLASS=0");
        Conv2d dense(ctx, 20, 32, 3, {.padding = 1});
        if (!dense.supports(Conv2dAlgorithm::PackedTexel, x20)) GTEST_SKIP() << "no RGBA32F uniform texel buffers";
        EXPECT_EQ(dense.algorithm_for(x20), Conv2dAlgorithm::PackedTexel);
        Conv2d narrow(ctx, 16, 32, 3, {.padding = 1});
        EXPECT_EQ(narrow.algorithm_for(x12), Conv2dAlgorithm::GroupedTexel);
    }
    for (const char* cls : {"VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"}) {
        SCOPED_TRACE(cls);
        test::ScopedKnobs knobs(ctx, cls);
        Conv2d dense(ctx, 20, 32, 3, {.padding = 1});
        EXPECT_EQ(dense.algorithm_for(x20), gemm);
        Conv2d narrow(ctx, 16, 32, 3, {.padding = 1});
        EXPECT_EQ(narrow.algorithm_for(x12), gemm);
        Conv2d few(ctx, 16, 64, 3, {.padding = 1});
        EXPECT_EQ(few.algorithm_for({1, 16, 56, 56}), gemm);
        Conv2d strided(ctx, 64, 64, 3, {.stride = 2, .padding = 1});
        EXPECT_EQ(strided.algorithm_for(x64), gemm);
        Conv2d c32(ctx, 32, 32, 3, {.padding = 1});
        EXPECT_EQ(c32.algorithm_for({1, 32, 28, 28}), gemm);
        Conv2d stem(ctx, 3, 64, 7, {.stride = 2, .padding = 3});  // ResNet's stem: 147 reductions
        EXPECT_EQ(stem.algorithm_for({1, 3, 64, 64}), gemm);
        // Winograd where Auto takes it today.
        Conv2d big(ctx, 64, 64, 3, {.padding = 1, .padding_mode = PaddingMode::Reflect});
        EXPECT_EQ(big.algorithm_for(x64), Conv2dAlgorithm::Winograd);
        Conv2d s5(ctx, 256, 256, 3, {.padding = 1});
        EXPECT_EQ(s5.algorithm_for({1, 256, 14, 14}), Conv2dAlgorithm::Winograd);
        // ... and the kernels of the other shapes.
        Conv2d pointwise(ctx, 16, 32, 1);
        EXPECT_EQ(pointwise.algorithm_for(x12), Conv2dAlgorithm::Gemm1x1);
        Conv2d dw(ctx, 8, 16, 3, {.padding = 1, .groups = 8});
        EXPECT_EQ(dw.algorithm_for({1, 8, 12, 12}), Conv2dAlgorithm::DepthwiseTexel);
        Conv2d grouped(ctx, 16, 16, 3, {.padding = 1, .groups = 4});
        EXPECT_EQ(grouped.algorithm_for(x12), Conv2dAlgorithm::GroupedTexel);
        Conv2d few_out(ctx, 64, 8, 3, {.padding = 1});
        EXPECT_EQ(few_out.algorithm_for(x64), Conv2dAlgorithm::PackedTexel);
        Conv2d short_red(ctx, 4, 32, 3, {.padding = 1});
        EXPECT_EQ(short_red.algorithm_for({1, 4, 12, 12}), Conv2dAlgorithm::GroupedTexel);
        // Forced off: set_algorithm wins over Auto's choice.
        dense.set_algorithm(Conv2dAlgorithm::PackedTexel);
        EXPECT_EQ(dense.algorithm_for(x20), Conv2dAlgorithm::PackedTexel);
    }
}

}  // namespace
}  // namespace vkconv
