// Device limits: work larger than maxComputeWorkGroupCount (x, y, z) or maxStorageBufferRange is
// split into pieces that fit with the same result as the CPU reference; what cannot be split is
// refused with an error naming the limit and the sizes; allocations above maxMemoryAllocationSize
// are refused likewise. lavapipe's real limits are huge, so each test makes a context whose
// DeviceInfo is clamped (ContextOptions::limit_overrides) and checks that more dispatches were
// recorded than on the unclamped context (the split really happened) and that the output matches
// the reference.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "common/simple_cnn.h"
#include "support/test_support.h"
#include "vkconv/internal.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using test::expect_error;
using test::OwnedContext;

// One layer under test: how to make it on a context, its inputs' shapes.
struct LayerCase {
    std::string name;
    std::function<std::unique_ptr<Layer>(Context&)> make;
    std::vector<Shape> inputs;
};
std::ostream& operator<<(std::ostream& o, const LayerCase& c) { return o << c.name; }

std::unique_ptr<Layer> conv(Context& ctx, int cin, int cout, Conv2dOptions o, Conv2dAlgorithm a, bool relu = false) {
    auto c = std::make_unique<Conv2d>(ctx, cin, cout, 3, o);
    c->reset_parameters(7);
    c->set_algorithm(a);
    c->set_fused_relu(relu);
    return c;
}

std::unique_ptr<Layer> batchnorm(Context& ctx, int c) {
    auto bn = std::make_unique<BatchNorm2d>(ctx, c);
    std::vector<float> mean(static_cast<size_t>(c)), var(static_cast<size_t>(c)), w(static_cast<size_t>(c)), b(static_cast<size_t>(c));
    for (int i = 0; i < c; ++i) {
        mean[static_cast<size_t>(i)] = 0.1f * float(i);
        var[static_cast<size_t>(i)] = 1.0f + 0.5f * float(i);
        w[static_cast<size_t>(i)] = 1.0f - 0.2f * float(i);
        b[static_cast<size_t>(i)] = 0.3f * float(i);
    }
    bn->set_parameter("running_mean", mean);
    bn->set_parameter("running_var", var);
    bn->set_parameter("weight", w);
    bn->set_parameter("bias", b);
    return bn;
}

struct Run {
    std::vector<float> out;
    uint32_t dispatches = 0;
};

// Records the layer into one recorder (so the dispatch count is observable) and runs it.
Run run_layer(Context& ctx, const LayerCase& c) {
    auto layer = c.make(ctx);
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < c.inputs.size(); ++i)
        inputs.push_back(Tensor::from_host(ctx, c.inputs[i], test::random_values(static_cast<size_t>(shape_numel(c.inputs[i])), 100 + i)));
    Tensor out(ctx, layer->output_shape(c.inputs));
    CommandRecorder rec(ctx);
    layer->record(rec, inputs, out);
    Run r;
    r.dispatches = rec.dispatch_count();
    rec.submit_and_wait();
    r.out = out.to_host();
    return r;
}

std::vector<float> reference(Context& ctx, const LayerCase& c) {
    auto layer = c.make(ctx);
    std::vector<std::vector<float>> inputs;
    for (size_t i = 0; i < c.inputs.size(); ++i)
        inputs.push_back(test::random_values(static_cast<size_t>(shape_numel(c.inputs[i])), 100 + i));
    return layer->reference(c.inputs, inputs);
}

void check_split(const LayerCase& c, const testing::ContextOptions& clamped) {
    const Run plain = run_layer(test::context(), c);
    OwnedContext ctx(clamped);
    const Run split = run_layer(*ctx, c);
    const auto want = reference(*ctx, c);
    EXPECT_GT(split.dispatches, plain.dispatches) << c.name << ": the clamped limits did not split the work";
    // Splitting changes which invocation computes an output, never how: same bits as unsplit.
    EXPECT_TRUE(test::all_close(split.out, plain.out, 0.0f)) << c.name << " (split vs unsplit)";
    EXPECT_TRUE(test::all_close(split.out, want, 1e-5f * std::max(1.0f, test::max_abs(want)))) << c.name << " (vs reference)";
}

Conv2dOptions pad1(int groups = 1) { return Conv2dOptions{.padding = 1, .groups = groups}; }

// ---- maxComputeWorkGroupCount --------------------------------------------------------------

std::vector<LayerCase> workgroup_cases() {
    using A = Conv2dAlgorithm;
    return {
        {"conv_direct_tiled", [](Context& c) { return conv(c, 3, 20, pad1(), A::DirectTiled); }, {{3, 3, 19, 21}}},
        {"conv_direct_tiled_relu", [](Context& c) { return conv(c, 3, 20, pad1(), A::DirectTiled, true); }, {{3, 3, 19, 21}}},
        {"conv_depthwise", [](Context& c) { return conv(c, 4, 8, pad1(4), A::Depthwise); }, {{3, 4, 19, 21}}},
        {"conv_direct_texel", [](Context& c) { return conv(c, 3, 20, pad1(), A::DirectTexel); }, {{3, 3, 19, 70}}},  // 70 columns: 3 workgroups of 32 along x
        {"conv_implicit_gemm", [](Context& c) { return conv(c, 8, 40, pad1(), parse_conv2d_algorithm("implicit_gemm")); }, {{3, 8, 19, 21}}},
        {"conv_direct_texel_grouped", [](Context& c) { return conv(c, 4, 24, pad1(2), A::DirectTexel, true); }, {{3, 4, 17, 70}}},
        {"relu", [](Context& c) { return std::make_unique<ReLU>(c); }, {{3, 1000}}},
        {"add", [](Context& c) { return std::make_unique<Add>(c, true); }, {{3, 1000}, {3, 1000}}},
        {"batchnorm2d", [](Context& c) { return batchnorm(c, 4); }, {{3, 4, 9, 11}}},
        {"maxpool2d", [](Context& c) { return std::make_unique<MaxPool2d>(c, 3, MaxPool2dOptions{.stride = Pair(2), .padding = 1}); }, {{2, 3, 37, 35}}},
        {"avgpool2d", [](Context& c) { return std::make_unique<AvgPool2d>(c, 3, AvgPool2dOptions{.stride = Pair(2), .padding = 1}); }, {{2, 3, 37, 35}}},
        {"adaptive_avgpool2d", [](Context& c) { return std::make_unique<AdaptiveAvgPool2d>(c, Pair(17, 19)); }, {{2, 3, 37, 35}}},
        {"linear", [](Context& c) {
             auto l = std::make_unique<Linear>(c, 33, 150);
             l->reset_parameters(3);
             return l;
         }, {{70, 33}}},
        {"softmax_rows", [](Context& c) { return std::make_unique<Softmax>(c, 1); }, {{9, 50}}},
        {"softmax_strided", [](Context& c) { return std::make_unique<Softmax>(c, 0); }, {{5, 2000}}},
    };
}

class WorkgroupCountSplit : public test::VulkanTest, public ::testing::WithParamInterface<LayerCase> {};

TEST_P(WorkgroupCountSplit, MatchesReference) {
    testing::ContextOptions o;
    o.limit_overrides.max_workgroup_count = std::array<uint32_t, 3>{2, 2, 2};
    check_split(GetParam(), o);
}

INSTANTIATE_TEST_SUITE_P(Layers, WorkgroupCountSplit, ::testing::ValuesIn(workgroup_cases()),
                         [](const auto& info) { return info.param.name; });

// A dispatch the engine did not split is refused by the recorder, naming the limit.
TEST(DeviceLimitsRecorder, OversizedDispatchIsRefused) {
    testing::ContextOptions o;
    o.limit_overrides.max_workgroup_count = std::array<uint32_t, 3>{4, 5, 6};
    OwnedContext ctx(o);
    EXPECT_EQ(ctx->info().max_workgroup_count[0], 4u);
    EXPECT_EQ(ctx->info().max_workgroup_count[2], 6u);
    auto pipeline = testing::host(*ctx).pipeline("elementwise", {0, 0, 4});
    Tensor t(*ctx, {16});
    const host::BufferBinding b[] = {detail::buffer_of(t), detail::buffer_of(t), detail::buffer_of(t), detail::buffer_of(t)};
    const uint32_t pc[4] = {16, 0, 1, 1};
    CommandRecorder rec(*ctx);
    expect_error([&] { host::of(rec).dispatch(*pipeline, b, pc, 1, 1, 7); }, {"maxComputeWorkGroupCount (4, 5, 6)", "(1, 1, 7)"});
    expect_error([&] { host::of(rec).dispatch(*pipeline, b, pc, 5, 1, 1); }, {"maxComputeWorkGroupCount"});
}

// ---- maxStorageBufferRange -----------------------------------------------------------------

constexpr uint64_t kRange = 4096;

std::vector<LayerCase> storage_cases() {
    using A = Conv2dAlgorithm;
    // Units (images, planes) of 256-byte multiples: every sub-range offset is aligned on any device.
    return {
        {"conv_direct_tiled", [](Context& c) { return conv(c, 4, 8, pad1(), A::DirectTiled); }, {{5, 4, 8, 8}}},
        {"conv_direct_tiled_relu", [](Context& c) { return conv(c, 4, 8, pad1(), A::DirectTiled, true); }, {{5, 4, 8, 8}}},
        {"conv_depthwise", [](Context& c) { return conv(c, 4, 8, pad1(4), A::Depthwise); }, {{5, 4, 8, 8}}},
        {"conv_direct_texel", [](Context& c) { return conv(c, 4, 8, pad1(), A::DirectTexel); }, {{5, 4, 8, 8}}},
        {"conv_implicit_gemm", [](Context& c) { return conv(c, 4, 8, pad1(), parse_conv2d_algorithm("implicit_gemm")); }, {{5, 4, 8, 8}}},
        {"conv_direct_texel_strided", [](Context& c) { return conv(c, 4, 4, Conv2dOptions{.stride = 2, .padding = 1}, A::DirectTexel); },
         {{7, 4, 16, 16}}},
        {"relu", [](Context& c) { return std::make_unique<ReLU>(c); }, {{3, 1024}}},
        {"add", [](Context& c) { return std::make_unique<Add>(c); }, {{3, 1000}, {3, 1000}}},
        {"batchnorm2d", [](Context& c) { return batchnorm(c, 4); }, {{5, 4, 8, 8}}},
        // Outputs past the range too (24 planes of 8 x 8), as an input read through a texel view
        // is not bound as a storage range.
        {"maxpool2d", [](Context& c) { return std::make_unique<MaxPool2d>(c, 2); }, {{8, 3, 16, 16}}},
        {"avgpool2d", [](Context& c) { return std::make_unique<AvgPool2d>(c, 3, AvgPool2dOptions{.stride = Pair(2), .padding = 1}); }, {{8, 3, 16, 16}}},
        // A [100, 64] weight (25600 bytes) in slices of 16 rows (4096 bytes: aligned on any device).
        {"linear_weight_slices", [](Context& c) {
             auto l = std::make_unique<Linear>(c, 64, 100);
             l->reset_parameters(3);
             return l;
         }, {{3, 64}}},
    };
}

class StorageRangeSplit : public test::VulkanTest, public ::testing::WithParamInterface<LayerCase> {};

TEST_P(StorageRangeSplit, MatchesReference) {
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = kRange;
    check_split(GetParam(), o);
}

INSTANTIATE_TEST_SUITE_P(Layers, StorageRangeSplit, ::testing::ValuesIn(storage_cases()),
                         [](const auto& info) { return info.param.name; });

// What cannot be split is refused before anything is recorded, naming the limit and the sizes.
struct Refusal {
    std::string name;
    std::function<std::unique_ptr<Layer>(Context&)> make;
    std::vector<Shape> inputs;
    std::vector<const char*> message;
};
std::ostream& operator<<(std::ostream& o, const Refusal& c) { return o << c.name; }

class StorageRangeRefusal : public test::VulkanTest, public ::testing::WithParamInterface<Refusal> {};

TEST_P(StorageRangeRefusal, NamesTheLimit) {
    const auto& c = GetParam();
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = kRange;
    OwnedContext ctx(o);
    auto layer = c.make(*ctx);
    std::vector<Tensor> inputs;
    for (const auto& s : c.inputs) inputs.push_back(Tensor::zeros(*ctx, s));
    Tensor out(*ctx, layer->output_shape(c.inputs));
    CommandRecorder rec(*ctx);
    try {
        layer->record(rec, inputs, out);
        ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
        for (const char* part : c.message) EXPECT_THAT(e.what(), ::testing::HasSubstr(part)) << c.name;
    }
    EXPECT_EQ(rec.dispatch_count(), 0u) << c.name;
    // The context goes on working.
    EXPECT_EQ(ReLU(*ctx).forward(Tensor::from_host(*ctx, {2}, std::vector<float>{-1.0f, 2.0f})).to_host(), (std::vector<float>{0.0f, 2.0f}));
}

std::vector<Refusal> refusals() {
    using A = Conv2dAlgorithm;
    return {
        {"conv_one_image_too_large", [](Context& c) { return conv(c, 4, 4, pad1(), A::DirectTiled); }, {{2, 4, 32, 32}},
         {"Conv2d", "maxStorageBufferRange (4096 bytes)", "32768 bytes", "one image is 16384 bytes"}},
        {"conv_texel_one_image_too_large", [](Context& c) { return conv(c, 4, 4, pad1(), A::DirectTexel); }, {{2, 4, 32, 32}},
         {"Conv2d", "maxStorageBufferRange (4096 bytes)", "one image is 16384 bytes"}},
        {"conv_weight_too_large", [](Context& c) { return conv(c, 16, 32, pad1(), A::DirectTiled); }, {{1, 16, 4, 4}},
         {"Conv2d: the weight [32, 16, 3, 3] (18432 bytes) exceeds the device's maxStorageBufferRange (4096 bytes)"}},
        {"batchnorm_one_image_too_large", [](Context& c) { return batchnorm(c, 4); }, {{2, 4, 32, 32}},
         {"BatchNorm2d", "maxStorageBufferRange (4096 bytes)", "one image is 16384 bytes"}},
        {"maxpool_one_plane_too_large", [](Context& c) { return std::make_unique<MaxPool2d>(c, 2); }, {{1, 2, 64, 64}},
         {"MaxPool2d", "maxStorageBufferRange (4096 bytes)", "one plane is 16384 bytes"}},
        {"linear", [](Context& c) { return std::make_unique<Linear>(c, 32, 8); }, {{64, 32}},
         {"Linear: a tensor of shape [64, 32] (8192 bytes) exceeds the device's maxStorageBufferRange (4096 bytes)"}},
        {"softmax", [](Context& c) { return std::make_unique<Softmax>(c, 1); }, {{4, 2048}},
         {"Softmax", "[4, 2048] (32768 bytes)", "maxStorageBufferRange (4096 bytes)"}},
        {"adaptive_avgpool2d", [](Context& c) { return std::make_unique<AdaptiveAvgPool2d>(c, 2); }, {{2, 3, 32, 32}},
         {"AdaptiveAvgPool2d", "(24576 bytes)", "maxStorageBufferRange (4096 bytes)"}},
    };
}

INSTANTIATE_TEST_SUITE_P(Layers, StorageRangeRefusal, ::testing::ValuesIn(refusals()),
                         [](const auto& info) { return info.param.name; });

// Images whose size is not a multiple of minStorageBufferOffsetAlignment can only be bound in
// groups that realign; when such a group does not fit, the error says so.
TEST(StorageRangeAlignment, UnalignableImagesAreRefused) {
    const uint64_t align = test::context().info().min_storage_buffer_offset_alignment;
    if (align <= 4) GTEST_SKIP() << "minStorageBufferOffsetAlignment is " << align << ": every image offset is aligned";
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = 40;  // one 36-byte image fits, an aligned group does not
    OwnedContext ctx(o);
    auto c = conv(*ctx, 1, 1, pad1(), Conv2dAlgorithm::DirectTiled);
    expect_error([&] { c->forward(Tensor::zeros(*ctx, {3, 1, 3, 3})); },
                 {"maxStorageBufferRange (40 bytes)", "one image is 36 bytes", "minStorageBufferOffsetAlignment"});
}

// ---- maxMemoryAllocationSize ---------------------------------------------------------------

TEST(MemoryAllocationSize, LargerTensorsAreRefusedAndTheContextGoesOn) {
    testing::ContextOptions o;
    o.limit_overrides.max_memory_allocation_size = 1 << 20;
    OwnedContext ctx(o);
    EXPECT_EQ(ctx->info().max_memory_allocation_size, 1u << 20);
    const uint64_t bytes = ctx->live_bytes(), allocations = ctx->live_allocations();
    expect_error([&] { Tensor(*ctx, {1, 2, 512, 257}); },
                 {"1052672 bytes", "exceeds the device's maxMemoryAllocationSize (1048576 bytes)"});
    EXPECT_EQ(ctx->live_bytes(), bytes);
    EXPECT_EQ(ctx->live_allocations(), allocations);
    // A model whose intermediate would exceed it is refused when it plans, and works for a smaller input.
    Model m(*ctx, "m");
    m.add("conv", conv(*ctx, 1, 64, pad1(), Conv2dAlgorithm::Auto));
    expect_error([&] { m.forward(Tensor::zeros(*ctx, {1, 1, 64, 65})); }, {"maxMemoryAllocationSize (1048576 bytes)"});
    const auto x = test::random_values(64, 5);
    const auto y = m.forward(Tensor::from_host(*ctx, {1, 1, 8, 8}, x)).to_host();
    const auto want = m.reference_forward({1, 1, 8, 8}, x);
    EXPECT_TRUE(test::all_close(y, want, 1e-5f));
}

// ---- a whole model under every clamp at once -----------------------------------------------

TEST(ClampedModel, SimpleCnnMatchesUnclampedAndReference) {
    const Shape shape{5, 3, 32, 32};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 9);
    auto plain_model = make_simple_cnn(test::context(), 11);
    const auto plain = plain_model->forward(Tensor::from_host(test::context(), shape, x)).to_host();
    const uint32_t plain_dispatches = plain_model->last_forward_stats().dispatches;
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = 2 * 65536;  // conv1's output: 64 KiB per image
    o.limit_overrides.max_workgroup_count = std::array<uint32_t, 3>{3, 3, 5};
    OwnedContext ctx(o);
    auto m = make_simple_cnn(*ctx, 11);
    const auto got = m->forward(Tensor::from_host(*ctx, shape, x)).to_host();
    EXPECT_GT(m->last_forward_stats().dispatches, plain_dispatches);
    EXPECT_EQ(m->last_forward_stats().submissions, 1u);
    // Not bit-identical: under the clamps Auto cannot use the packed fast paths (they bind whole
    // tensors and do not split storage ranges), so the convolutions sum in another order. Equal
    // within fp32 summation error (relative 1e-5 of the output's scale).
    EXPECT_TRUE(test::all_close(got, plain, 1e-5f * test::max_abs(plain)));
    const auto want = m->reference_forward(shape, x);
    EXPECT_TRUE(test::all_close(got, want, 1e-4f * test::max_abs(want)));
}

}  // namespace
}  // namespace vkconv
