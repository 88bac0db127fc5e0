// Device loss and driver errors: VK_ERROR_DEVICE_LOST (injected through ContextOptions::faults,
// at a submission's fence wait) and fence-wait timeouts (a deliberately long convolution against
// a 1 us ContextOptions::fence_timeout_ns) become a vkconv::Error; the context is then lost and
// every later call fails at once with "vkconv context lost: ..." instead of hanging; destroying
// what was made, and then the context, is clean (no validation message: work that may still run
// keeps its resources until the context waits for the device). Also: the work bound per
// submission (ContextOptions::max_dispatches_per_submission) and the validation layer's reports
// of objects leaked at device destruction reaching the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;
using test::expect_error;
using test::OwnedContext;

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Every kind of call on a lost context fails fast with the lost-context error.
void expect_lost_fast(Context& ctx, Conv2d& conv, const Tensor& existing) {
    const auto start = std::chrono::steady_clock::now();
    expect_error([&] { Tensor(ctx, {4}); }, {"vkconv context lost: "});
    expect_error([&] { Tensor::from_host(ctx, {2}, std::vector<float>{1, 2}); }, {"vkconv context lost: "});
    expect_error([&] { (void)existing.to_host(); }, {"vkconv context lost: "});
    expect_error([&] { conv.forward(existing); }, {"vkconv context lost: "});
    expect_error([&] { CommandRecorder rec(ctx); }, {"vkconv context lost: "});
    expect_error([&] {
        Model m(ctx, "m");
        m.add("relu", std::make_unique<ReLU>(ctx));
        m.forward(existing);
    }, {"vkconv context lost: "});
    EXPECT_LT(seconds_since(start), 1.0) << "calls on a lost context must fail at once";
    EXPECT_TRUE(ctx.lost());
}

TEST(DeviceLoss, InjectedAtForwardSubmission) {
    OwnedContext ctx;
    Conv2d conv(*ctx, 3, 8, 3, Conv2dOptions{.padding = 1});
    const Shape shape{2, 3, 16, 16};
    const auto xv = test::random_values(static_cast<size_t>(shape_numel(shape)), 1);
    Tensor x = Tensor::from_host(*ctx, shape, xv);
    EXPECT_TRUE(test::all_close(conv.forward(x).to_host(), conv.reference(shape, xv), 1e-5f));
    testing::faults(*ctx).lose_device_at_submission = ctx->submissions() + 1;
    try {
        conv.forward(x);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("vkconv context lost: VK_ERROR_DEVICE_LOST while waiting for the submitted work"));
    }
    EXPECT_THAT(ctx->lost_reason(), HasSubstr("VK_ERROR_DEVICE_LOST"));
    expect_lost_fast(*ctx, conv, x);
}

TEST(DeviceLoss, InjectedAtStagingUpload) {
    testing::ContextOptions o;
    o.force_staging = true;
    OwnedContext ctx(o);
    Conv2d conv(*ctx, 3, 8, 3);
    Tensor x(*ctx, {1, 3, 8, 8});
    testing::faults(*ctx).lose_device_at_submission = ctx->submissions() + 1;
    expect_error([&] { x.upload(test::random_values(192, 2)); }, {"vkconv context lost: VK_ERROR_DEVICE_LOST while waiting for the upload"});
    expect_lost_fast(*ctx, conv, x);
}

TEST(DeviceLoss, InjectedMidModelWithBoundedSubmissions) {
    testing::ContextOptions o;
    o.max_dispatches_per_submission = 2;
    OwnedContext ctx(o);
    Model m(*ctx, "m");
    m.add("conv1", std::make_unique<Conv2d>(*ctx, 3, 8, 3, Conv2dOptions{.padding = 1}));
    m.add("relu1", std::make_unique<ReLU>(*ctx));
    m.add("pool1", std::make_unique<MaxPool2d>(*ctx, 2));
    m.add("conv2", std::make_unique<Conv2d>(*ctx, 8, 8, 3, Conv2dOptions{.padding = 1}));
    m.set_fusion(false);
    Tensor x = Tensor::zeros(*ctx, {2, 3, 16, 16});
    (void)m.forward(x);
    testing::faults(*ctx).lose_device_at_submission = ctx->submissions() + 2;  // the forward's second submission
    expect_error([&] { m.forward(x); }, {"vkconv context lost: VK_ERROR_DEVICE_LOST"});
    Conv2d conv(*ctx, 3, 8, 3);
    expect_lost_fast(*ctx, conv, x);
}

TEST(DeviceLoss, FenceTimeoutMarksTheContextLost) {
    testing::ContextOptions o;
    o.fence_timeout_ns = 1000;  // 1 us: the convolution below takes milliseconds on any device
    OwnedContext ctx(o);
    if (!testing::host(*ctx).host_visible_device_memory()) GTEST_SKIP() << "uploads would time out first on a device without host-visible memory";
    Conv2d conv(*ctx, 32, 32, 3, Conv2dOptions{.padding = 1});
    conv.set_algorithm(Conv2dAlgorithm::DirectTiled);
    Tensor x = Tensor::zeros(*ctx, {2, 32, 48, 48});
    const auto start = std::chrono::steady_clock::now();
    try {
        conv.forward(x);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("vkconv context lost: the submitted work ("));
        EXPECT_THAT(e.what(), HasSubstr("did not finish within the fence timeout of 0.001 ms (ContextOptions::fence_timeout_ns)"));
    }
    EXPECT_LT(seconds_since(start), 5.0);
    expect_lost_fast(*ctx, conv, x);
    // The abandoned convolution may still be running: destroying the tensors and the layer now must
    // not free what it uses (the context keeps it until it has waited for the device).
}

TEST(DeviceLoss, DefaultTimeoutIsGenerous) {
    EXPECT_EQ(ContextOptions{}.fence_timeout_ns, 60'000'000'000ull);
    EXPECT_EQ(test::context().options().fence_timeout_ns, 60'000'000'000ull);
    EXPECT_FALSE(test::context().lost());
}

// ---- work per submission -------------------------------------------------------------------

std::unique_ptr<Model> cnn(Context& ctx) {
    auto m = std::make_unique<Model>(ctx, "cnn");
    m->add("conv1", std::make_unique<Conv2d>(ctx, 3, 16, 3, Conv2dOptions{.padding = 1}));
    m->add("relu1", std::make_unique<ReLU>(ctx));
    m->add("pool1", std::make_unique<MaxPool2d>(ctx, 2));
    m->add("conv2", std::make_unique<Conv2d>(ctx, 16, 16, 3, Conv2dOptions{.padding = 1, .groups = 16}));
    m->add("flatten", std::make_unique<Flatten>(ctx));
    m->add("fc", std::make_unique<Linear>(ctx, 16 * 8 * 8, 10));
    m->add("softmax", std::make_unique<Softmax>(ctx, 1));
    m->reset_parameters(5);
    return m;
}

TEST(WorkPerSubmission, BoundedSubmissionsGiveTheSameResult) {
    const Shape shape{3, 3, 16, 16};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 8);
    auto plain = cnn(test::context());
    const auto want = plain->forward(Tensor::from_host(test::context(), shape, x)).to_host();
    // The default: one submission per forward pass, whatever its size.
    EXPECT_EQ(plain->last_forward_stats().submissions, 1u);
    for (uint32_t bound : {1u, 2u, 3u}) {
        testing::ContextOptions o;
        o.max_dispatches_per_submission = bound;
        OwnedContext ctx(o);
        auto m = cnn(*ctx);
        const auto got = m->forward(Tensor::from_host(*ctx, shape, x)).to_host();
        const auto stats = m->last_forward_stats();
        EXPECT_EQ(stats.submissions, (stats.dispatches + bound - 1) / bound) << "bound " << bound;
        EXPECT_GT(stats.submissions, 1u) << "bound " << bound;
        EXPECT_TRUE(test::all_close(got, want, 0.0f)) << "bound " << bound;
    }
}

// ---- leaked Vulkan objects are reported at device destruction ------------------------------

TEST(ValidationAtDestruction, LeakedObjectIsReported) {
    OwnedContext ctx;
    const auto& dev = testing::host(*ctx).device();
    VkBufferCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    ci.size = 256;
    ci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer leaked = VK_NULL_HANDLE;
    ASSERT_EQ(dev.getDispatcher()->vkCreateBuffer(static_cast<VkDevice>(*dev), &ci, nullptr, &leaked), VK_SUCCESS);
    const auto messages = ctx.destroy();  // the buffer is never destroyed
    bool reported = false;
    for (const auto& m : messages) reported = reported || (m.find("VkBuffer") != std::string::npos && m.find("not been destroyed") != std::string::npos);
    EXPECT_TRUE(reported) << "the validation layer's leak report at vkDestroyDevice did not reach the context's callback ("
                          << messages.size() << " messages)";
}

}  // namespace
}  // namespace vkconv
