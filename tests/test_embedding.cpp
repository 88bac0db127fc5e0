// Embedding vkconv in an application (issue 5): a context on the application's Vulkan handles,
// recording into the application's command buffers, tensors over the application's buffers,
// allocation callbacks, and the application's handles surviving vkconv. Every test runs on an
// App (tests/support/test_app.h) with the validation layer's synchronization validation on and
// fails on any message it reports, including objects left alive at vkDestroyDevice.
#include <algorithm>
#include <map>
#include <mutex>
#include <cstdlib>
#include <cstring>

#include "support/test_app.h"
#include "vkconv/internal.h"
#include "support/test_support.h"

namespace vkconv::test {
namespace {

class Embedding : public ::testing::Test {
protected:
    void TearDown() override {
        // Nothing vkconv made may outlive it on the application's device: the layer reports
        // such objects when the device is destroyed.
        app.destroy_device();
        EXPECT_THAT(app.messages(), ::testing::IsEmpty());
    }
    App app;
};

Conv2dParams blur_params() {
    Conv2dParams p;
    p.in_channels = 3;
    p.out_channels = 6;
    p.kernel = 3;
    p.options.padding = 1;
    p.options.groups = 3;
    p.options.padding_mode = PaddingMode::Reflect;
    return p;
}

std::vector<float> expected(const Conv2d& conv, const Shape& shape, const std::vector<float>& x) {
    return conv2d_reference(conv.params(), shape, x, conv.weight(), conv.bias());
}

TEST_F(Embedding, BorrowedContextComputesAndReportsTheDevice) {
    int locks = 0, unlocks = 0;
    auto b = app.borrowed();
    b.lock_queue = [&] { ++locks; };
    b.unlock_queue = [&] { ++unlocks; };
    {
        Context ctx(b);
        EXPECT_TRUE(ctx.borrowed());
        EXPECT_EQ(*testing::host(ctx).device(), *app.device);
        EXPECT_EQ(testing::host(ctx).queue_family(), app.queue_family);
        Conv2d conv(ctx, blur_params());
        conv.reset_parameters(3);
        const Shape shape{2, 3, 9, 7};
        const auto x = random_values(2 * 3 * 9 * 7, 11);
        const auto y = conv.forward(Tensor::from_host(ctx, shape, x)).to_host();
        EXPECT_TRUE(all_close(y, expected(conv, shape, x), 1e-5f));
    }
    EXPECT_GT(locks, 0) << "vkQueueSubmit on the shared queue without the application's lock";
    EXPECT_EQ(locks, unlocks);
}

TEST_F(Embedding, ApplicationHandlesStayValidAfterVkconvIsDestroyed) {
    {
        Context ctx(app.borrowed());
        Conv2d conv(ctx, blur_params());
        (void)conv.forward(Tensor::zeros(ctx, {1, 3, 5, 5})).to_host();
    }
    // The instance still enumerates, the device still makes objects and the queue still runs work.
    EXPECT_FALSE(vk::raii::PhysicalDevices(app.instance).empty());
    auto buffer = app.make_buffer(256);
    app.run([&](vk::CommandBuffer cmd) {
        cmd.fillBuffer(*buffer.buffer, 0, 256, 0x3f800000u);
        vk::MemoryBarrier host(vk::AccessFlagBits::eTransferWrite, vk::AccessFlagBits::eHostRead);
        cmd.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer, vk::PipelineStageFlagBits::eHost, {}, host, {}, {});
    });
    EXPECT_EQ(static_cast<const float*>(buffer.mapped)[63], 1.0f);
    app.device.waitIdle();
}

TEST_F(Embedding, RecordsIntoTheApplicationsCommandBuffer) {
    Context ctx(app.borrowed());
    Conv2d conv(ctx, blur_params());
    conv.reset_parameters(5);
    const Shape shape{1, 3, 12, 10};
    const auto x = random_values(3 * 12 * 10, 21);
    // The application's own buffers: it writes the input with a transfer and reads the output
    // back with another, around vkconv's work in the same command buffer.
    auto app_in = app.make_buffer(x.size() * 4), app_out = app.make_buffer(6 * 12 * 10 * 4);
    std::memcpy(app_in.mapped, x.data(), x.size() * 4);
    Tensor input(ctx, shape), output(ctx, {1, 6, 12, 10});
    vk::raii::CommandBuffers cbs(app.device, vk::CommandBufferAllocateInfo(*app.pool, vk::CommandBufferLevel::ePrimary, 1));
    vk::CommandBuffer cmd = *cbs[0];
    cmd.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
    cmd.copyBuffer(*app_in.buffer, input.vk_buffer(), vk::BufferCopy(0, input.vk_offset(), input.bytes()));
    CommandRecorder rec(ctx, cmd);
    rec.acquire(vk::PipelineStageFlagBits::eTransfer, vk::AccessFlagBits::eTransferWrite);
    conv.record(rec, input, output);
    rec.release_to(vk::PipelineStageFlagBits::eTransfer, vk::AccessFlagBits::eTransferRead);
    cmd.copyBuffer(output.vk_buffer(), *app_out.buffer, vk::BufferCopy(output.vk_offset(), 0, output.bytes()));
    vk::MemoryBarrier host(vk::AccessFlagBits::eTransferWrite, vk::AccessFlagBits::eHostRead);
    cmd.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer, vk::PipelineStageFlagBits::eHost, {}, host, {}, {});
    cmd.end();
    EXPECT_GT(rec.dispatch_count(), 0u);
    expect_error([&] { rec.submit_and_wait(); }, {"the application submits it"});

    const uint64_t submissions_before = ctx.submissions();
    vk::raii::Fence fence(app.device, vk::FenceCreateInfo());
    // Retired before the submission, so that the fence is certainly unsignaled when the count is
    // read (after the submission a fast device may already have signalled it, and retire_after
    // collects what is finished).
    rec.retire_after(*fence);
    EXPECT_EQ(testing::host(ctx).retired_count(), 1u);
    app.queue.submit(vk::SubmitInfo({}, {}, cmd), *fence);
    ASSERT_EQ(app.device.waitForFences(*fence, true, UINT64_MAX), vk::Result::eSuccess);
    ctx.collect_retired();
    EXPECT_EQ(testing::host(ctx).retired_count(), 0u);
    EXPECT_EQ(ctx.submissions(), submissions_before) << "vkconv submitted work of its own";
    std::vector<float> y(6 * 12 * 10);
    std::memcpy(y.data(), app_out.mapped, y.size() * 4);
    EXPECT_TRUE(all_close(y, expected(conv, shape, x), 1e-5f));
}

TEST_F(Embedding, ModelForwardRecordedIntoTheApplicationsCommandBufferWithTimelineSemaphore) {
    Context ctx(app.borrowed());
    Model m(ctx, "tiny");
    m.add("conv", std::make_unique<Conv2d>(ctx, 3, 4, 3, Conv2dOptions{.padding = 1}));
    m.add("relu", std::make_unique<ReLU>(ctx));
    m.add("pool", std::make_unique<MaxPool2d>(ctx, 2));
    m.reset_parameters(9);
    const Shape shape{2, 3, 8, 8};
    const auto x = random_values(2 * 3 * 8 * 8, 4);
    const Tensor input = Tensor::from_host(ctx, shape, x);
    const Tensor output(ctx, m.output_shape(shape));
    vk::SemaphoreTypeCreateInfo type(vk::SemaphoreType::eTimeline, 0);
    vk::raii::Semaphore timeline(app.device, vk::SemaphoreCreateInfo({}, &type));

    vk::raii::CommandBuffers cbs(app.device, vk::CommandBufferAllocateInfo(*app.pool, vk::CommandBufferLevel::ePrimary, 1));
    vk::CommandBuffer cmd = *cbs[0];
    cmd.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
    CommandRecorder rec(ctx, cmd);
    rec.acquire(vk::PipelineStageFlagBits::eHost, vk::AccessFlagBits::eHostWrite);
    m.record(rec, input, output);
    rec.release_to(vk::PipelineStageFlagBits::eHost, vk::AccessFlagBits::eHostRead);
    cmd.end();
    const uint64_t signal = 1;
    vk::TimelineSemaphoreSubmitInfo ts({}, signal);
    vk::Semaphore sem = *timeline;
    vk::SubmitInfo si({}, {}, cmd, sem);
    si.pNext = &ts;
    app.queue.submit(si);
    rec.retire_after(*timeline, 1);
    ASSERT_EQ(app.device.waitSemaphores(vk::SemaphoreWaitInfo({}, sem, signal), UINT64_MAX), vk::Result::eSuccess);
    ctx.collect_retired();
    EXPECT_EQ(testing::host(ctx).retired_count(), 0u);
    const auto want = m.reference_forward(shape, x);
    EXPECT_TRUE(all_close(output.to_host(), want, 1e-5f));
}

TEST_F(Embedding, TensorsOverTheApplicationsBufferAtOffsets) {
    Context ctx(app.borrowed());
    Conv2d conv(ctx, blur_params());
    conv.reset_parameters(8);
    const Shape shape{1, 3, 6, 6};
    const auto x = random_values(3 * 36, 31);
    const uint64_t align = std::max<uint64_t>(256, ctx.info().min_storage_buffer_offset_alignment);
    auto shared = app.make_buffer(4 * align + 6 * 36 * 4);
    std::memset(shared.mapped, 0x7f, shared.size);  // a canary around the tensors
    Tensor in = Tensor::wrap(ctx, *shared.buffer, align, shape);
    const Tensor out = Tensor::wrap(ctx, *shared.buffer, 3 * align, {1, 6, 6, 6});
    in.upload(x);
    const auto y_dev = conv.forward(in);
    // forward() makes its own output; record into the wrapped one too.
    CommandRecorder rec(ctx);
    conv.record(rec, in, out);
    rec.submit_and_wait();
    EXPECT_TRUE(all_close(out.to_host(), expected(conv, shape, x), 1e-5f));
    EXPECT_TRUE(all_close(y_dev.to_host(), expected(conv, shape, x), 1e-5f));
    // The bytes before the input and between the tensors are untouched.
    const auto* bytes = static_cast<const unsigned char*>(shared.mapped);
    for (uint64_t i = 0; i < align; ++i) ASSERT_EQ(bytes[i], 0x7f) << "byte " << i;
    for (uint64_t i = align + in.bytes(); i < 3 * align; ++i) ASSERT_EQ(bytes[i], 0x7f) << "byte " << i;
    // Wrapping allocates no device memory.
    const uint64_t before = ctx.live_bytes();
    { const Tensor again = Tensor::wrap(ctx, *shared.buffer, 0, {4}); (void)again; }
    EXPECT_EQ(ctx.live_bytes(), before);
}

TEST_F(Embedding, WrapRefusesAMisalignedOffset) {
    Context ctx(app.borrowed());
    auto buffer = app.make_buffer(1024);
    const uint64_t align = ctx.info().min_storage_buffer_offset_alignment;
    if (align <= 4) GTEST_SKIP() << "the device allows any 4-byte offset";
    expect_error([&] { (void)Tensor::wrap(ctx, *buffer.buffer, 4, {8}); }, {"minStorageBufferOffsetAlignment", "offset 4"});
}

TEST_F(Embedding, BorrowedDeviceErrorsNameWhatIsMissing) {
    auto b = app.borrowed();
    b.queue_family = 99;
    expect_error([&] { Context ctx(b); }, {"queue_family 99", "does not exist"});
    b = app.borrowed();
    b.queue_index = 5;
    expect_error([&] { Context ctx(b); }, {"queue_index 5", "out of range"});
    b = app.borrowed();
    b.device = VK_NULL_HANDLE;
    expect_error([&] { Context ctx(b); }, {"device is VK_NULL_HANDLE"});
    b = app.borrowed();
    b.instance_api_version = VK_API_VERSION_1_0;
    expect_error([&] { Context ctx(b); }, {"needs VkApplicationInfo::apiVersion 1.1"});
    b = app.borrowed();
    b.lock_queue = [] {};
    expect_error([&] { Context ctx(b); }, {"lock_queue and unlock_queue must be given together"});
}

// Counting allocation callbacks: every host allocation vkconv makes goes through them, and all
// are freed by the time its context is gone.
struct Counting {
    std::mutex mutex;
    std::map<void*, size_t> live;
    int64_t total = 0, foreign = 0;
    static void* VKAPI_PTR alloc(void* user, size_t size, size_t align, VkSystemAllocationScope) {
        auto* c = static_cast<Counting*>(user);
        if (size == 0) return nullptr;
        void* p = std::aligned_alloc(align, (size + align - 1) / align * align);
        if (!p) return nullptr;
        std::lock_guard lock(c->mutex);
        c->live[p] = size;
        ++c->total;
        return p;
    }
    static void* VKAPI_PTR realloc(void* user, void* old, size_t size, size_t align, VkSystemAllocationScope scope) {
        if (!old) return alloc(user, size, align, scope);
        if (size == 0) {
            free(user, old);
            return nullptr;
        }
        size_t old_size = 0;
        {
            auto* c = static_cast<Counting*>(user);
            std::lock_guard lock(c->mutex);
            old_size = c->live.at(old);
        }
        void* p = alloc(user, size, align, scope);
        if (!p) return nullptr;
        std::memcpy(p, old, std::min(size, old_size));
        free(user, old);
        return p;
    }
    static void VKAPI_PTR free(void* user, void* p) {
        if (!p) return;
        auto* c = static_cast<Counting*>(user);
        {
            std::lock_guard lock(c->mutex);
            if (c->live.erase(p) == 0) {
                ++c->foreign;  // not ours: leave it alone, the test fails below
                return;
            }
        }
        std::free(p);
    }
};

TEST_F(Embedding, AllocationCallbacksSeeEveryAllocation) {
    Counting counting;
    VkAllocationCallbacks cb{};
    cb.pUserData = &counting;
    cb.pfnAllocation = &Counting::alloc;
    cb.pfnReallocation = &Counting::realloc;
    cb.pfnFree = &Counting::free;
    auto b = app.borrowed();
    b.allocator = &cb;
    {
        Context ctx(b);
        Conv2d conv(ctx, blur_params());
        (void)conv.forward(Tensor::zeros(ctx, {1, 3, 4, 4})).to_host();
    }
    EXPECT_GT(counting.total, 0) << "the callbacks were never used";
    EXPECT_EQ(counting.live.size(), 0u) << "vkconv left host allocations alive";
    EXPECT_EQ(counting.foreign, 0) << "pfnFree got pointers pfnAllocation never returned";
}

}  // namespace
}  // namespace vkconv::test
