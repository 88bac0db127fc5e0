// The device policy (host/device_policy.h): the class, quirks and per-class defaults decided
// once per device, from its description alone, and the tile-class override that the sweeps use
// to run another class's paths on this device.
#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace vkconv {
namespace {

DeviceInfo device(const std::string& type, const std::string& driver, uint32_t vendor = 0x1002, uint32_t subgroup = 64) {
    DeviceInfo d;
    d.type = type;
    d.driver_name = driver;
    d.vendor_id = vendor;
    d.subgroup_size = subgroup;
    d.subgroup_shuffle = true;
    return d;
}

TEST(DevicePolicy, ClassFromTypeAndVendor) {
    using host::DeviceClass;
    EXPECT_EQ(host::make_device_policy(device("cpu", "llvmpipe", 0x10005, 8), {}).device_class, DeviceClass::Cpu);
    EXPECT_EQ(host::make_device_policy(device("discrete", "radv"), {}).device_class, DeviceClass::Discrete);
    EXPECT_EQ(host::make_device_policy(device("integrated", "radv"), {}).device_class, DeviceClass::Integrated);
    EXPECT_EQ(host::make_device_policy(device("integrated", "turnip", 0x5143), {}).device_class, DeviceClass::Mobile);  // Qualcomm
    EXPECT_EQ(host::make_device_policy(device("virtual", "venus"), {}).device_class, DeviceClass::Other);
}

TEST(DevicePolicy, CpuDevicesDefaults) {
    const auto cpu = host::make_device_policy(device("cpu", "llvmpipe", 0x10005, 8), {});
    EXPECT_TRUE(cpu.layer_texel_inputs);
    EXPECT_TRUE(cpu.subgroup_weights);
    EXPECT_TRUE(cpu.gemv_per_feature);
    EXPECT_TRUE(cpu.reduce_plane_per_invocation);
    EXPECT_EQ(cpu.kernel_workgroup, 8u);  // one SIMD vector
    EXPECT_TRUE(cpu.command_pool_driver_allocator);
    for (const char* type : {"discrete", "integrated", "virtual"}) {
        const auto gpu = host::make_device_policy(device(type, "radv"), {});
        EXPECT_FALSE(gpu.layer_texel_inputs) << type;
        EXPECT_FALSE(gpu.subgroup_weights) << type;
        EXPECT_FALSE(gpu.gemv_per_feature) << type;
        EXPECT_FALSE(gpu.reduce_plane_per_invocation) << type;
        EXPECT_FALSE(gpu.command_pool_driver_allocator) << type;
        EXPECT_TRUE(gpu.quirks().empty()) << type;
    }
}

TEST(DevicePolicy, TileClassOverrideTakesThatClassDefaults) {
    TileOverrides discrete;
    discrete.tile_class = 1;
    const auto p = host::make_device_policy(device("cpu", "llvmpipe", 0x10005, 8), discrete);
    EXPECT_EQ(p.device_class, host::DeviceClass::Cpu);  // the class itself is the device's
    EXPECT_FALSE(p.layer_texel_inputs);
    EXPECT_EQ(p.winograd_tile, 2u);
    TileOverrides cpu;
    cpu.tile_class = 0;
    EXPECT_TRUE(host::make_device_policy(device("discrete", "radv"), cpu).layer_texel_inputs);
}

TEST(DevicePolicy, ScopedKnobsSwitchTheContextsInputPath) {
    auto& ctx = test::context();
    const bool own = testing::policy(ctx).layer_texel_inputs;
    int paths = 0;
    test::for_each_input_path(ctx, [&](const std::string& knobs) {
        EXPECT_EQ(testing::policy(ctx).layer_texel_inputs, knobs.empty() && own) << knobs;
        ++paths;
    });
    EXPECT_EQ(paths, own ? 2 : 1);
    EXPECT_EQ(testing::policy(ctx).layer_texel_inputs, own);  // restored
}

}  // namespace
}  // namespace vkconv
