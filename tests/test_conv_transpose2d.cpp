// ConvTranspose2d (shaders/conv_transpose2d.comp) on the GPU against the CPU reference: sweeps
// of kernel (square, rectangular, 1), stride, padding, output_padding (every value below
// max(stride, dilation), per axis), dilation, groups (dense, grouped, depthwise-like), bias,
// over batched (N = 1, 2, 3) and unbatched [C, H, W] inputs, 1x1 images and batch 0;
// forward(output_size); split dispatches; the staging memory path; every refusal with
// PyTorch's message. One test (one process under ctest) per (kernel, stride) group.
//
// Tolerance: the reference accumulates in double, the shader in fp32 with FMA over at most
// cin/groups * kh * kw terms (plus the bias): per output (terms + 1) * 2^-24 * sum|x * w|,
// doubled (test::fp32_sum_tolerance), with sum|x * w| from the reference run on |x|, |w|, |b|.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/conv_transpose2d.h"

namespace vkconv {
namespace {

using test::expect_error;

std::string pair_str(Pair p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; }

struct TCase {
    Shape input;
    int out_channels;
    Pair kernel;
    ConvTranspose2dOptions opt;
    bool staging = false;

    ConvTranspose2dParams params() const { return {static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt}; }
    std::string str() const {
        std::ostringstream s;
        s << params().str() << " (stride=" << pair_str(opt.stride) << " padding=" << pair_str(opt.padding)
          << " output_padding=" << pair_str(opt.output_padding) << " dilation=" << pair_str(opt.dilation) << " groups=" << opt.groups
          << " bias=" << opt.bias << ") input=" << shape_str(input) << (staging ? " staging" : "");
        return s.str();
    }
};

std::vector<float> abs_of(std::vector<float> v) {
    for (auto& e : v) e = std::fabs(e);
    return v;
}

void check_case(const TCase& c, std::optional<std::vector<int64_t>> output_size = {}) {
    SCOPED_TRACE(c.str());
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const auto p = c.params();
    ConvTranspose2d layer(ctx, p);
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    layer.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) layer.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));
    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    Pair op = c.opt.output_padding;
    Tensor y = output_size ? layer.forward(xt, *output_size) : layer.forward(xt);
    if (output_size) op = conv_transpose2d_output_padding(p, c.input, *output_size);
    ASSERT_EQ(y.shape(), conv_transpose2d_output_shape(p, c.input, op));
    const auto want = conv_transpose2d_reference(p, c.input, x, layer.weight(), layer.bias(), op);
    const auto abs_sums = conv_transpose2d_reference(p, c.input, abs_of(x), abs_of(layer.weight()), abs_of(layer.bias()), op);
    const int64_t terms = int64_t(p.in_channels / c.opt.groups) * c.kernel.h * c.kernel.w;
    EXPECT_TRUE(test::all_close(y.to_host(), want, test::fp32_sum_tolerance(abs_sums, terms)));
}

// (input, out_channels, groups): dense, grouped, one input channel per group with a channel
// multiplier, unbatched, 1x1 images, batch 3.
struct Channels {
    Shape input;
    int out, groups;
};
const Channels kChannels[] = {{{2, 4, 5, 6}, 6, 1}, {{1, 4, 4, 3}, 6, 2}, {{3, 3, 3, 4}, 6, 3}, {{5, 4, 3}, 5, 1}, {{2, 6, 1, 1}, 9, 3}};
const Pair kKernels[] = {Pair(1), Pair(2), Pair(3), Pair(3, 2)};
const Pair kStrides[] = {Pair(1), Pair(2), Pair(2, 3)};
const Pair kPaddings[] = {Pair(0), Pair(1), Pair(2, 0)};
const Pair kDilations[] = {Pair(1), Pair(2), Pair(1, 3)};

struct Group {
    Pair kernel, stride;
    std::string str() const { return "kernel_size=" + pair_str(kernel) + " stride=" + pair_str(stride); }
    std::vector<TCase> cases() const {
        std::vector<TCase> v;
        int i = 0;
        for (const auto& ch : kChannels)
            for (auto pad : kPaddings)
                for (auto d : kDilations) {
                    // Every output_padding PyTorch allows: op < max(stride, dilation) per axis.
                    const int max_h = std::max(stride.h, d.h) - 1, max_w = std::max(stride.w, d.w) - 1;
                    for (Pair op : {Pair(0), Pair(max_h, max_w), Pair(max_h, 0)}) {
                        if (op == Pair(max_h, 0) && max_w == 0) continue;  // already covered
                        TCase c{ch.input, ch.out, kernel, {.stride = stride, .padding = pad, .output_padding = op,
                                                           .groups = ch.groups, .bias = i++ % 3 != 0, .dilation = d}};
                        const int64_t h = ch.input[ch.input.size() - 2], w = ch.input[ch.input.size() - 1];
                        const int64_t oh = (h - 1) * stride.h - 2 * pad.h + d.h * (kernel.h - 1) + op.h + 1;
                        const int64_t ow = (w - 1) * stride.w - 2 * pad.w + d.w * (kernel.w - 1) + op.w + 1;
                        if (oh >= 1 && ow >= 1) v.push_back(c);
                    }
                }
        return v;
    }
};

void PrintTo(const Group& g, std::ostream* os) { *os << g.str(); }

class ConvTranspose2dSweep : public test::VulkanTest, public ::testing::WithParamInterface<Group> {};

TEST_P(ConvTranspose2dSweep, MatchesReference) {
    const auto cases = GetParam().cases();
    for (const auto& c : cases) check_case(c);
    RecordProperty("cases", static_cast<int>(cases.size()));
}

std::vector<Group> groups() {
    std::vector<Group> v;
    for (auto k : kKernels)
        for (auto s : kStrides) v.push_back({k, s});
    return v;
}

INSTANTIATE_TEST_SUITE_P(Groups, ConvTranspose2dSweep, ::testing::ValuesIn(groups()),
                         [](const auto& info) { return "group" + std::to_string(info.index); });

TEST(ConvTranspose2dSweepCoverage, EveryGroupHasCases) {
    size_t total = 0;
    for (const auto& g : groups()) {
        EXPECT_GT(g.cases().size(), 50u) << g.str();
        total += g.cases().size();
    }
    EXPECT_GT(total, 1200u);
}

class ConvTranspose2dTest : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// Bigger images and channel counts (tiles not multiples of 8, more than one channel block),
// the U-Net upsampling shape, the staging memory path.
TEST_F(ConvTranspose2dTest, LargerShapes) {
    check_case({{2, 16, 9, 13}, 10, Pair(2), {.stride = 2}});
    check_case({{1, 12, 7, 11}, 20, Pair(4, 3), {.stride = Pair(3, 2), .padding = Pair(1, 2), .output_padding = Pair(2, 1), .groups = 4}});
    check_case({{1, 8, 17, 9}, 8, Pair(5), {.stride = 1, .padding = 2, .groups = 8, .dilation = 2}});
    check_case({{2, 3, 9, 10}, 5, Pair(3), {.stride = 2, .padding = 1, .output_padding = 1}, true});
}

// Batch 0 gives an empty output of the right shape (PyTorch accepts it).
TEST_F(ConvTranspose2dTest, EmptyBatch) {
    ConvTranspose2d layer(test::context(), 4, 6, 3, {.stride = 2});
    const Tensor y = layer.forward(Tensor::zeros(test::context(), {0, 4, 5, 5}));
    EXPECT_EQ(y.shape(), (Shape{0, 6, 11, 11}));
}

// A hand-computed case: a 2x2 input, 2x2 kernel of ones, stride 2: each input fills its own
// 2x2 block; stride 1 overlaps them.
TEST_F(ConvTranspose2dTest, HandComputed) {
    auto& ctx = test::context();
    ConvTranspose2d s2(ctx, 1, 1, 2, {.stride = 2, .bias = false});
    s2.set_weight(std::vector<float>{1, 2, 3, 4});
    const auto y = s2.forward(Tensor::from_host(ctx, {1, 1, 2, 2}, std::vector<float>{1, 10, 100, 1000})).to_host();
    EXPECT_EQ(y, (std::vector<float>{1, 2, 10, 20, 3, 4, 30, 40, 100, 200, 1000, 2000, 300, 400, 3000, 4000}));
    ConvTranspose2d s1(ctx, 1, 1, 2, {.bias = false});
    s1.set_weight(std::vector<float>{1, 1, 1, 1});
    const auto z = s1.forward(Tensor::from_host(ctx, {1, 2, 2}, std::vector<float>{1, 10, 100, 1000})).to_host();
    EXPECT_EQ(z, (std::vector<float>{1, 11, 10, 101, 1111, 1010, 100, 1100, 1000}));
}

// forward(x, output_size): output_size as [oh, ow] or the whole shape picks output_padding.
TEST_F(ConvTranspose2dTest, OutputSize) {
    TCase c{{2, 4, 5, 6}, 3, Pair(3), {.stride = Pair(2, 3), .padding = 1}};
    // Sizes (in - 1) * stride - 2 * padding + (kernel - 1) + 1 = 9, 16 up to stride - 1 more.
    check_case(c, std::vector<int64_t>{9, 16});
    check_case(c, std::vector<int64_t>{10, 18});
    check_case(c, std::vector<int64_t>{2, 3, 10, 17});
    const auto p = c.params();
    EXPECT_EQ(conv_transpose2d_output_padding(p, c.input, std::vector<int64_t>{10, 18}), Pair(1, 2));
    expect_error([&] { conv_transpose2d_output_padding(p, c.input, std::vector<int64_t>{11, 16}); },
                 {"requested an output size of (11, 16), but valid sizes range from [9, 16] to [10, 18] (for an input of "
                  "torch.Size([5, 6]))"});
    expect_error([&] { conv_transpose2d_output_padding(p, c.input, std::vector<int64_t>{1, 9, 14}); },
                 {"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements (got 3)"});
    expect_error([&] { conv_transpose2d_output_padding(p, {4, 5, 6}, std::vector<int64_t>{1, 2, 9, 14}); },
                 {"for 3D input, output_size must have 2 or 3 elements (got 4)"});
}

// Workgroup counts above the device's limit are split into dispatches with a base offset.
TEST_F(ConvTranspose2dTest, SplitDispatches) {
    set_layer_workgroup_count_limit_for_testing(2);
    check_case({{3, 8, 9, 21}, 10, Pair(3), {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2}});
}

// Tensors above maxStorageBufferRange are bound in chunks of whole images.
TEST_F(ConvTranspose2dTest, StorageRangeSplit) {
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = 4096;
    test::OwnedContext ctx(o);
    ConvTranspose2d layer(*ctx, 4, 4, 2, {.stride = 2});  // output image 4 * 16 * 16 * 4 = 4096 bytes
    const Shape in{5, 4, 8, 8};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(in)), 7);
    const auto y = layer.forward(Tensor::from_host(*ctx, in, x)).to_host();
    const auto want = layer.reference(in, x);
    EXPECT_TRUE(test::all_close(y, want, 1e-5f));
}

TEST_F(ConvTranspose2dTest, Repr) {
    auto& ctx = test::context();
    EXPECT_EQ(ConvTranspose2d(ctx, 4, 8, 3, {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2, .bias = false, .dilation = 2})
                  .repr(),
              "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), output_padding=(1, 1), "
              "groups=2, bias=False)");
    EXPECT_EQ(ConvTranspose2d(ctx, 4, 8, Pair(3, 1)).repr(), "ConvTranspose2d(4, 8, kernel_size=(3, 1), stride=(1, 1))");
    ConvTranspose2d l(ctx, 4, 6, Pair(3, 2), {.groups = 2});
    EXPECT_EQ(l.parameters().at("weight").shape, (Shape{4, 3, 3, 2}));
    EXPECT_EQ(l.parameters().at("bias").shape, (Shape{6}));
    EXPECT_EQ(l.parameter_count(), 4 * 3 * 3 * 2 + 6);
    EXPECT_FALSE(ConvTranspose2d(ctx, 4, 6, 3, {.bias = false}).has_parameter("bias"));
}

TEST_F(ConvTranspose2dTest, RefusesBadArguments) {
    auto& ctx = test::context();
    auto make = [&](int in, int out, Pair k, ConvTranspose2dOptions o) { ConvTranspose2d l(ctx, in, out, k, o); };
    expect_error([&] { make(4, 4, 3, {.padding_mode = "reflect"}); }, {"Only \"zeros\" padding mode is supported for ConvTranspose2d"});
    expect_error([&] { make(4, 4, 3, {.groups = 0}); }, {"groups must be a positive integer"});
    expect_error([&] { make(4, 4, 3, {.groups = 3}); }, {"in_channels must be divisible by groups"});
    expect_error([&] { make(4, 6, 3, {.groups = 4}); }, {"out_channels must be divisible by groups"});
    expect_error([&] { make(0, 4, 3, {}); }, {"in_channels must be positive"});
    expect_error([&] { make(4, 0, 3, {}); }, {"out_channels must be positive"});
    expect_error([&] { make(4, 4, 0, {}); }, {"kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 0"});
    expect_error([&] { make(4, 4, 3, {.stride = Pair(0, 1)}); }, {"non-positive stride is not supported"});
    expect_error([&] { make(4, 4, 3, {.dilation = 0}); }, {"dilation should be greater than zero, but got dilation_height: 0, dilation_width: 0"});
    expect_error([&] { make(4, 4, 3, {.padding = -1}); }, {"negative padding is not supported"});
    expect_error([&] { make(4, 4, 3, {.output_padding = 1}); },
                 {"output padding must be smaller than either stride or dilation, but got output_padding_height: 1 "
                  "output_padding_width: 1 stride_height: 1 stride_width: 1 dilation_height: 1 dilation_width: 1"});
    expect_error([&] { make(4, 4, 3, {.stride = 2, .output_padding = Pair(0, 2)}); },
                 {"output_padding_height: 0 output_padding_width: 2 stride_height: 2 stride_width: 2"});
    make(4, 4, 3, {.output_padding = 1, .dilation = 2});  // below the dilation: allowed
    expect_error([&] { make(4, 4, 3, {.output_padding = -1}); }, {"output_padding must be non-negative"});
    expect_error([&] { make(4, 4, 3, {.stride = 1 << 25}); }, {"must be at most 2^24"});
    expect_error([&] { make(65536, 65536, 1, {}); }, {"the weight [65536, 65536, 1, 1] has more than 2^31-1 elements"});
    ConvTranspose2d one(ctx, 1, 1, 1);
    expect_error([&] { one.output_shape(Shape{1, 1, 50000, 50000}); }, {"gives an image of more than 2^31-1 elements"});
    ConvTranspose2d l(ctx, 4, 4, 3);
    expect_error([&] { l.output_shape(Shape{1, 3, 5, 5}); },
                 {"Given transposed=1, weight of size [4, 4, 3, 3], expected input[1, 3, 5, 5] to have 4 channels, but got 3 channels "
                  "instead"});
    expect_error([&] { l.output_shape(Shape{4, 5}); },
                 {"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [4, 5]"});
    expect_error([&] { l.output_shape(Shape{1, 4, 0, 5}); },
                 {"Only zero batch or zero channel inputs are supported, but got input shape: [1, 4, 0, 5]"});
    ConvTranspose2d big_pad(ctx, 4, 4, 3, {.padding = 5});
    expect_error([&] { big_pad.output_shape(Shape{1, 4, 5, 5}); },
                 {"Given input size per channel: (5 x 5). Calculated output size per channel: (-3 x -3). Output size is too small"});
    Tensor wrong(ctx, {1, 4, 6, 6});
    CommandRecorder rec(ctx);
    expect_error([&] { l.record(rec, std::vector<Tensor>{Tensor::zeros(ctx, {1, 4, 5, 5})}, wrong); },
                 {"output tensor has shape [1, 4, 6, 6], expected [1, 4, 7, 7]"});
    ConvTranspose2d nb(ctx, 4, 4, 3, {.bias = false});
    expect_error([&] { nb.set_bias(std::vector<float>(4)); }, {"made with bias=False"});
    expect_error([&] { l.set_weight(std::vector<float>(10)); }, {"weight", "[4, 4, 3, 3]"});
}

}  // namespace
}  // namespace vkconv
