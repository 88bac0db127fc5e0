// host/: the validation layer is really on and its messages reach the tests, device
// selection, buffers (mapped and staged), memory statistics, the embedded shaders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "host/buffer.h"
#include "vkconv/internal.h"
#include "host/shader_registry.h"
#include "support/test_support.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

TEST(Validation, LayerReportsMisuseToTheContext) {
    // Proves the plumbing every other test relies on: a deliberate misuse (a zero-size buffer)
    // must arrive as a recorded message.
    Context& ctx = test::context();
    ASSERT_TRUE(ctx.validation_enabled());
    ctx.clear_validation_messages();
    VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    info.size = 0;
    info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer buffer = VK_NULL_HANDLE;
    const VkResult r = testing::host(ctx).device().getDispatcher()->vkCreateBuffer(*testing::host(ctx).device(), &info, nullptr, &buffer);
    if (r == VK_SUCCESS && buffer) testing::host(ctx).device().getDispatcher()->vkDestroyBuffer(*testing::host(ctx).device(), buffer, nullptr);
    const auto messages = ctx.validation_messages();
    ASSERT_FALSE(messages.empty());
    EXPECT_THAT(messages[0], HasSubstr("VUID-VkBufferCreateInfo-size-00912"));
    ctx.clear_validation_messages();
}

class HostTest : public test::VulkanTest {};

TEST_F(HostTest, DeviceSelectionByIndexAndName) {
    uint32_t chosen = 99;
    const auto devices = list_devices("", &chosen);
    ASSERT_FALSE(devices.empty());
    ASSERT_LT(chosen, devices.size());
    for (const auto& d : devices) EXPECT_LE(d.type_rank(), devices[chosen].type_rank());
    uint32_t by_index = 99;
    list_devices(std::to_string(devices.size() - 1), &by_index);
    EXPECT_EQ(by_index, devices.size() - 1);
    uint32_t by_name = 99;
    list_devices(devices[0].name.substr(0, 4), &by_name);
    EXPECT_EQ(devices[by_name].name.substr(0, 4), devices[0].name.substr(0, 4));
    try {
        list_devices("no-such-gpu-name", &by_name);
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("'no-such-gpu-name' matches no Vulkan device"));
        EXPECT_THAT(e.what(), HasSubstr(devices[0].name));
    }
    EXPECT_THROW(list_devices("7777", &by_name), Error);
}

TEST_F(HostTest, DeviceInfoIsFilledIn) {
    const auto& d = test::context().info();
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.max_workgroup_invocations, 128u);  // Vulkan's guaranteed minimum
    EXPECT_GE(d.max_shared_memory, 16384u);
    EXPECT_GE(d.max_push_constants, 128u);
    EXPECT_GE(d.max_storage_buffer_range, 1u << 27);
    EXPECT_GT(d.subgroup_size, 0u);
    EXPECT_GT(d.max_memory_allocation_size, 0u);
}

TEST_F(HostTest, UploadDownloadRoundTripMappedAndStaged) {
    for (Context* ctx : {&test::context(), &test::staging_context()}) {
        const auto values = test::random_values(1000, 3);
        const Tensor t = Tensor::from_host(*ctx, {10, 100}, values);
        EXPECT_EQ(t.to_host(), values);
        EXPECT_EQ(detail::buffer_of(t).mapped() == nullptr, ctx == &test::staging_context());
    }
}

TEST_F(HostTest, MemoryIsReturnedWhenTensorsGo) {
    Context& ctx = test::context();
    const uint64_t bytes = ctx.live_bytes(), count = ctx.live_allocations();
    {
        const Tensor a(ctx, {1, 3, 64, 64});
        const Tensor b = a.reshaped({3, 64, 64});  // shares a's storage
        EXPECT_GE(ctx.live_bytes(), bytes + a.bytes());
        EXPECT_EQ(ctx.live_allocations(), count + 1);
    }
    EXPECT_EQ(ctx.live_bytes(), bytes);
    EXPECT_EQ(ctx.live_allocations(), count);
}

TEST_F(HostTest, TexelViewsAreMadeOncePerFormatAndSize) {
    // Layers ask for their views on every recording; a new view each time grows host memory per
    // forward pass (the soak found one: "whole buffer" views were never found again).
    Context& ctx = test::context();
    host::TexelBuffer tb(ctx, 4096);
    const vk::BufferView whole = tb.view(vk::Format::eR32G32B32A32Sfloat);
    EXPECT_EQ(tb.view(vk::Format::eR32G32B32A32Sfloat), whole);
    EXPECT_EQ(tb.view(vk::Format::eR32G32B32A32Sfloat, 256), whole);  // 4096 bytes = 256 RGBA32F texels
    EXPECT_NE(tb.view(vk::Format::eR32G32B32A32Sfloat, 16), whole);
    EXPECT_EQ(tb.view(vk::Format::eR32Sfloat), tb.view(vk::Format::eR32Sfloat, 1024));
    const Tensor t(ctx, {4, 16});
    if (detail::buffer_of(t).texel_views()) {
        EXPECT_EQ(detail::buffer_of(t).view(vk::Format::eR32Sfloat, 64), detail::buffer_of(t).view(vk::Format::eR32Sfloat, 64));
        // 0 is the whole buffer, for every kind of Buffer (TexelBuffer is one).
        EXPECT_EQ(detail::buffer_of(t).view(vk::Format::eR32Sfloat, 0), detail::buffer_of(t).view(vk::Format::eR32Sfloat, 64));
    }
}

TEST_F(HostTest, ToHostIntoCallerMemory) {
    Context& ctx = test::context();
    const auto values = test::random_values(6, 5);
    const Tensor t = Tensor::from_host(ctx, {2, 3}, values);
    std::vector<float> out(6);
    t.to_host(out);
    EXPECT_EQ(out, values);
    std::vector<float> small(5);
    test::expect_error([&] { t.to_host(small); }, {"to_host", "[2, 3]", "6 values", "holds 5"});
}

// The public context is a façade: the private one behind it points back to it, tensors report
// it, and wait_idle returns once the queue is idle.
TEST_F(HostTest, PublicContextIsAFacade) {
    Context& ctx = test::context();
    EXPECT_EQ(&testing::host(ctx).facade(), &ctx);
    const Tensor t(ctx, {4});
    EXPECT_EQ(&t.context(), &ctx);
    EXPECT_EQ(&detail::buffer_of(t).context(), &testing::host(ctx));
    EXPECT_EQ(ctx.info().name, testing::host(ctx).info().name);
    ctx.wait_idle();
    EXPECT_FALSE(ctx.lost());
    uint32_t chosen = 99;
    const auto devices = list_devices({}, &chosen);
    ASSERT_FALSE(devices.empty());
    EXPECT_LT(chosen, devices.size());
}

TEST_F(HostTest, TensorErrors) {
    Context& ctx = test::context();
    EXPECT_THROW(Tensor(ctx, {-1, 3}), Error);
    EXPECT_THROW(Tensor(ctx, {1 << 16, 1 << 16}), Error);  // more than 2^31-1 elements
    const Tensor t(ctx, {2, 3});
    EXPECT_THROW(t.reshaped({4, 2}), Error);
    Tensor u(ctx, {2, 3});
    EXPECT_THROW(u.upload(std::vector<float>(5)), Error);
    EXPECT_THROW(Tensor().to_host(), Error);
}

TEST_F(HostTest, EveryShaderIsEmbeddedAsSpirv) {
    const auto names = host::embedded_shader_names();
    EXPECT_GE(names.size(), 2u);
    for (auto n : names) {
        const auto code = host::embedded_shader(n);
        ASSERT_GE(code.size(), 5u) << n;
        EXPECT_EQ(code[0], 0x07230203u) << n;  // SPIR-V magic
    }
    EXPECT_TRUE(host::embedded_shader("no_such_shader").empty());
}

}  // namespace
}  // namespace vkconv
