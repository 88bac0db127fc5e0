// One context used from several threads at once (issue 5): each thread has its own layers and
// command recorders (each recorder owns its command pool and descriptor pools); the context
// serialises queue submissions and guards its caches. Results are bit-identical to a
// single-threaded run. The validation layer (with its thread-safety and synchronization checks)
// must report nothing.
#include <atomic>
#include <mutex>
#include <thread>

#include "support/test_app.h"
#include "support/test_support.h"

namespace vkconv::test {
namespace {

struct Job {
    Conv2dParams params;
    Conv2dAlgorithm algorithm;
    Shape input_shape;
};

std::vector<Job> jobs() {
    std::vector<Job> out;
    Conv2dParams a;
    a.in_channels = 3, a.out_channels = 8, a.kernel = 3, a.options.padding = 1;
    out.push_back({a, Conv2dAlgorithm::Auto, {2, 3, 11, 9}});
    Conv2dParams b = a;
    b.options.padding_mode = PaddingMode::Circular;
    out.push_back({b, Conv2dAlgorithm::DirectTiled, {1, 3, 7, 13}});
    Conv2dParams c;
    c.in_channels = 4, c.out_channels = 8, c.kernel = 5, c.options.padding = Padding::same(), c.options.groups = 4;
    out.push_back({c, Conv2dAlgorithm::Depthwise, {3, 4, 9, 9}});
    Conv2dParams d;
    d.in_channels = 6, d.out_channels = 6, d.kernel = {3, 1}, d.options.stride = 2, d.options.groups = 2;
    out.push_back({d, Conv2dAlgorithm::Auto, {2, 6, 10, 8}});
    return out;
}

// Runs every job `iterations` times on `ctx`, one thread per job when `threaded`; returns each
// job's outputs in order.
std::vector<std::vector<std::vector<float>>> run_jobs(Context& ctx, bool threaded, int iterations) {
    const auto js = jobs();
    std::vector<std::vector<std::vector<float>>> results(js.size());
    auto work = [&](size_t j) {
        Conv2d conv(ctx, js[j].params);
        conv.reset_parameters(100 + j);
        conv.set_algorithm(js[j].algorithm);
        for (int it = 0; it < iterations; ++it) {
            const auto x = random_values(static_cast<size_t>(shape_numel(js[j].input_shape)), 1000 * j + static_cast<uint64_t>(it));
            results[j].push_back(conv.forward(Tensor::from_host(ctx, js[j].input_shape, x)).to_host());
        }
    };
    if (!threaded) {
        for (size_t j = 0; j < js.size(); ++j) work(j);
        return results;
    }
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(js.size());
    for (size_t j = 0; j < js.size(); ++j)
        threads.emplace_back([&, j] {
            try {
                work(j);
            } catch (...) {
                errors[j] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    return results;
}

class Threads : public VulkanTest {};

TEST_F(Threads, ConcurrentLayersMatchASingleThreadedRun) {
    Context& ctx = context();
    const auto single = run_jobs(ctx, false, 6);
    const auto threaded = run_jobs(ctx, true, 6);
    ASSERT_EQ(single.size(), threaded.size());
    for (size_t j = 0; j < single.size(); ++j)
        for (size_t it = 0; it < single[j].size(); ++it)
            EXPECT_EQ(single[j][it], threaded[j][it]) << "job " << j << " (" << jobs()[j].params.str() << ") iteration " << it;
    // And against the reference, so that "identical" is not "identically wrong".
    const auto js = jobs();
    Conv2d conv(ctx, js[0].params);
    conv.reset_parameters(100);
    const auto x = random_values(static_cast<size_t>(shape_numel(js[0].input_shape)), 0);
    EXPECT_TRUE(all_close(threaded[0][0], conv2d_reference(js[0].params, js[0].input_shape, x, conv.weight(), conv.bias()), 1e-5f));
}

TEST_F(Threads, ConcurrentModelsMatchASingleThreadedRun) {
    Context& ctx = context();
    auto make = [&](uint64_t seed) {
        auto m = std::make_unique<Model>(ctx, "m");
        m->add("conv1", std::make_unique<Conv2d>(ctx, 3, 8, 3, Conv2dOptions{.padding = 1}));
        m->add("relu1", std::make_unique<ReLU>(ctx));
        m->add("pool1", std::make_unique<MaxPool2d>(ctx, 2));
        m->add("flatten", std::make_unique<Flatten>(ctx));
        m->add("fc", std::make_unique<Linear>(ctx, 8 * 4 * 4, 5));
        m->reset_parameters(seed);
        return m;
    };
    const Shape shape{2, 3, 8, 8};
    std::vector<std::vector<float>> single, threaded(3);
    for (int t = 0; t < 3; ++t) {
        auto m = make(static_cast<uint64_t>(t));
        single.push_back(m->forward(Tensor::from_host(ctx, shape, random_values(384, static_cast<uint64_t>(t)))).to_host());
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            auto m = make(static_cast<uint64_t>(t));
            for (int it = 0; it < 4; ++it)
                threaded[static_cast<size_t>(t)] =
                    m->forward(Tensor::from_host(ctx, shape, random_values(384, static_cast<uint64_t>(t)))).to_host();
        });
    for (auto& th : threads) th.join();
    for (size_t t = 0; t < 3; ++t) EXPECT_EQ(single[t], threaded[t]) << "model " << t;
}

// A borrowed queue that the application also submits to from its own thread: vkconv takes the
// application's queue lock around each of its submissions.
TEST(ThreadsBorrowed, SharedQueueWithTheApplicationsLock) {
    App app;
    {
        std::mutex app_queue_mutex;
        std::atomic<int> inside{0}, overlaps{0}, vkconv_submits{0};
        auto b = app.borrowed();
        b.lock_queue = [&] {
            app_queue_mutex.lock();
            if (inside.fetch_add(1) != 0) ++overlaps;
            ++vkconv_submits;
        };
        b.unlock_queue = [&] {
            inside.fetch_sub(1);
            app_queue_mutex.unlock();
        };
        Context ctx(b);
        std::atomic<bool> stop{false};
        // The application's render thread: small transfer submissions on the same queue.
        std::thread app_thread([&] {
            auto buf = app.make_buffer(4096);
            vk::raii::CommandPool pool(app.device, vk::CommandPoolCreateInfo({}, app.queue_family));
            vk::raii::CommandBuffers cbs(app.device, vk::CommandBufferAllocateInfo(*pool, vk::CommandBufferLevel::ePrimary, 1));
            vk::raii::Fence fence(app.device, vk::FenceCreateInfo());
            cbs[0].begin(vk::CommandBufferBeginInfo());
            cbs[0].fillBuffer(*buf.buffer, 0, 4096, 7u);
            cbs[0].end();
            vk::CommandBuffer h = *cbs[0];
            while (!stop) {
                {
                    std::lock_guard lock(app_queue_mutex);
                    if (inside.fetch_add(1) != 0) ++overlaps;
                    app.queue.submit(vk::SubmitInfo({}, {}, h), *fence);
                    inside.fetch_sub(1);
                }
                (void)app.device.waitForFences(*fence, true, UINT64_MAX);
                app.device.resetFences(*fence);
            }
        });
        const auto single = run_jobs(ctx, false, 2);
        const auto threaded = run_jobs(ctx, true, 2);
        stop = true;
        app_thread.join();
        EXPECT_EQ(single, threaded);
        EXPECT_GT(vkconv_submits.load(), 0);
        EXPECT_EQ(overlaps.load(), 0) << "two submissions were inside the queue lock at once";
    }
    app.destroy_device();
    EXPECT_THAT(app.messages(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace vkconv::test
