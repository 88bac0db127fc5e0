// Out of memory: when vkAllocateMemory fails (injected with ContextOptions::faults, as lavapipe
// has more memory than a test can exhaust), the caller gets a vkconv::Error naming the size and
// the memory heap (index and size), nothing leaks (live_bytes()/live_allocations() return to the
// baseline, the validation layer reports no leaked object at device destruction) and the context
// goes on working for work that fits.
//
// The sweeps fail allocation number k of an operation for k = 1, 2, ... until the operation
// succeeds without reaching k: every allocation point (tensors, weight uploads, texel copies,
// staging buffers, model plans) fails once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;
using test::OwnedContext;

bool is_oom(const Error& e) { return std::string(e.what()).find("out of device memory") != std::string::npos; }

// Runs `op` on a fresh context once per allocation it makes, failing that allocation; checks the
// error, the memory statistics after everything `op` made is gone, and that the context still
// computes. Returns how many allocation points were exercised.
int sweep(const char* what, bool staging, const std::function<void(Context&)>& op) {
    testing::ContextOptions o;
    o.force_staging = staging;
    OwnedContext ctx(o);
    // A first run with no fault: warms the pipeline cache so that only memory is measured.
    op(*ctx);
    const uint64_t bytes = ctx->live_bytes(), allocations = ctx->live_allocations();
    int points = 0;
    for (uint64_t k = 1; k < 100; ++k) {
        const uint64_t before = testing::host(*ctx).allocations_made();
        testing::faults(*ctx).fail_allocation_number = before + k;
        bool failed = false;
        try {
            op(*ctx);
        } catch (const Error& e) {
            failed = true;
            EXPECT_TRUE(is_oom(e)) << what << ", allocation " << k << ": " << e.what();
            EXPECT_THAT(e.what(), HasSubstr("memory heap ")) << what << ", allocation " << k;
            EXPECT_THAT(e.what(), HasSubstr(" bytes")) << what << ", allocation " << k;
        }
        testing::faults(*ctx).fail_allocation_number = 0;
        EXPECT_EQ(ctx->live_bytes(), bytes) << what << ", allocation " << k << " failed: device memory leaked";
        EXPECT_EQ(ctx->live_allocations(), allocations) << what << ", allocation " << k << " failed";
        if (!failed) break;
        ++points;
        // The context is still usable: the same operation succeeds once nothing fails.
        EXPECT_NO_THROW(op(*ctx)) << what << ", after allocation " << k << " failed";
    }
    EXPECT_TRUE(ctx->validation_messages().empty()) << what;
    return points;
}

std::unique_ptr<Model> small_cnn(Context& ctx) {
    auto m = std::make_unique<Model>(ctx, "small");
    m->add("conv1", std::make_unique<Conv2d>(ctx, 3, 8, 3, Conv2dOptions{.padding = 1}));
    m->add("bn1", std::make_unique<BatchNorm2d>(ctx, 8));
    m->add("relu1", std::make_unique<ReLU>(ctx));
    m->add("pool1", std::make_unique<MaxPool2d>(ctx, 2));
    m->add("conv2", std::make_unique<Conv2d>(ctx, 8, 8, 3, Conv2dOptions{.padding = 1, .groups = 8}));
    m->add("flatten", std::make_unique<Flatten>(ctx));
    m->add("fc", std::make_unique<Linear>(ctx, 8 * 4 * 4, 5));
    m->add("softmax", std::make_unique<Softmax>(ctx, 1));
    m->reset_parameters(3);
    return m;
}

struct SweepCase {
    const char* name;
    bool staging;
};

class OutOfMemory : public ::testing::TestWithParam<SweepCase> {};

TEST_P(OutOfMemory, TensorCreationAndTransfers) {
    const int points = sweep("tensor", GetParam().staging, [](Context& ctx) {
        const auto x = test::random_values(300, 1);
        Tensor t = Tensor::from_host(ctx, {3, 100}, x);
        EXPECT_EQ(t.to_host(), x);
    });
    EXPECT_GE(points, 1);
}

TEST_P(OutOfMemory, ConvWeightUploadAndForward) {
    for (auto a : {Conv2dAlgorithm::DirectTiled, Conv2dAlgorithm::DirectTexel, Conv2dAlgorithm::Depthwise}) {
        const int points = sweep("conv2d", GetParam().staging, [a](Context& ctx) {
            Conv2d conv(ctx, 4, 8, 3, Conv2dOptions{.padding = 1, .groups = a == Conv2dAlgorithm::Depthwise ? 4 : 1});
            conv.reset_parameters(2);
            conv.set_algorithm(a);
            const Shape shape{2, 4, 9, 9};
            const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 4);
            const auto y = conv.forward(Tensor::from_host(ctx, shape, x)).to_host();
            const auto want = conv.reference(shape, x);
            EXPECT_TRUE(test::all_close(y, want, 1e-5f)) << to_string(a);
        });
        // Input, weight, bias, output (and the texel path's transformed weights and input copy).
        EXPECT_GE(points, 4) << to_string(a);
    }
}

TEST_P(OutOfMemory, ModelForwardPlanning) {
    const int points = sweep("model", GetParam().staging, [](Context& ctx) {
        auto m = small_cnn(ctx);
        const Shape shape{2, 3, 8, 8};
        const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 6);
        const auto y = m->forward(Tensor::from_host(ctx, shape, x)).to_host();
        const auto want = m->reference_forward(shape, x);
        EXPECT_TRUE(test::all_close(y, want, 1e-4f));
    });
    EXPECT_GE(points, 8);
}

INSTANTIATE_TEST_SUITE_P(Memory, OutOfMemory, ::testing::Values(SweepCase{"host_visible", false}, SweepCase{"staging", true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(OutOfMemoryMessage, NamesSizeAndHeap) {
    OwnedContext ctx;
    testing::faults(*ctx).fail_allocations_above = 1 << 20;
    try {
        Tensor t(*ctx, {1, 1, 1024, 1024});
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_THAT(m, HasSubstr("buffer of 4194304 bytes: out of device memory (VK_ERROR_OUT_OF_DEVICE_MEMORY) allocating 4194304 bytes "
                                 "from memory heap "));
        // The heap's index and size, as the device reports them.
        const auto props = testing::host(*ctx).physical_device().getMemoryProperties();
        bool named = false;
        for (uint32_t h = 0; h < props.memoryHeapCount; ++h)
            named = named || m.find("memory heap " + std::to_string(h) + " (" + std::to_string(props.memoryHeaps[h].size) + " bytes") !=
                                 std::string::npos;
        EXPECT_TRUE(named) << m;
        EXPECT_THAT(m, HasSubstr(ctx->info().name));
    }
    // Below the injected threshold everything works.
    EXPECT_NO_THROW(Tensor::zeros(*ctx, {256, 1024}));
    testing::faults(*ctx).out_of_host_memory = true;
    test::expect_error([&] { Tensor(*ctx, {2, 1024, 1024}); }, {"out of host memory (VK_ERROR_OUT_OF_HOST_MEMORY)", "8388608 bytes"});
    testing::faults(*ctx) = {};
    EXPECT_EQ(ctx->live_allocations(), 0u);
    EXPECT_EQ(ctx->live_bytes(), 0u);
}

}  // namespace
}  // namespace vkconv
