// host/device_choice.cpp: what vkconv knows about a physical device (DeviceInfo) and which one it takes.
#include "host/context.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "host/buffer.h"
#include "host/command.h"
#include "host/context_internal.h"
#include "host/pipeline.h"
#include "vkconv/error.h"

namespace vkconv::host {
namespace detail {

std::string type_name(vk::PhysicalDeviceType t) {
    switch (t) {
        case vk::PhysicalDeviceType::eDiscreteGpu: return "discrete";
        case vk::PhysicalDeviceType::eIntegratedGpu: return "integrated";
        case vk::PhysicalDeviceType::eVirtualGpu: return "virtual";
        case vk::PhysicalDeviceType::eCpu: return "cpu";
        default: return "other";
    }
}

DeviceInfo describe(const vk::raii::PhysicalDevice& pd, uint32_t index) {
    DeviceInfo d;
    d.index = index;
    const auto p = pd.getProperties();
    d.api_version = p.apiVersion;
    // Structures newer than the device's version may not be chained: ask for each only when
    // the device's version has it in core.
    const bool v12 = p.apiVersion >= VK_API_VERSION_1_2, v13 = p.apiVersion >= VK_API_VERSION_1_3;
    d.name = p.deviceName.data();
    d.type = type_name(p.deviceType);
    d.vendor_id = p.vendorID;
    d.device_id = p.deviceID;
    d.driver_version = p.driverVersion;
    std::copy(p.pipelineCacheUUID.begin(), p.pipelineCacheUUID.end(), d.pipeline_cache_uuid.begin());
    const auto& l = p.limits;
    for (int i = 0; i < 3; ++i) {
        d.max_workgroup_size[i] = l.maxComputeWorkGroupSize[i];
        d.max_workgroup_count[i] = l.maxComputeWorkGroupCount[i];
    }
    d.max_workgroup_invocations = l.maxComputeWorkGroupInvocations;
    d.max_shared_memory = l.maxComputeSharedMemorySize;
    d.max_push_constants = l.maxPushConstantsSize;
    d.max_storage_buffer_range = l.maxStorageBufferRange;
    d.max_texel_buffer_elements = l.maxTexelBufferElements;
    d.min_storage_buffer_offset_alignment = l.minStorageBufferOffsetAlignment;
    d.timestamps = l.timestampComputeAndGraphics;
    d.timestamp_period_ns = l.timestampPeriod;

    auto props = pd.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceSubgroupProperties,
                                   vk::PhysicalDeviceMaintenance3Properties>();
    const auto& sg = props.get<vk::PhysicalDeviceSubgroupProperties>();
    d.subgroup_size = sg.subgroupSize;
    d.subgroup_shuffle = (sg.supportedOperations & vk::SubgroupFeatureFlagBits::eShuffle) &&
                         (sg.supportedStages & vk::ShaderStageFlagBits::eCompute);
    d.max_memory_allocation_size = props.get<vk::PhysicalDeviceMaintenance3Properties>().maxMemoryAllocationSize;
    d.min_subgroup_size = d.max_subgroup_size = d.subgroup_size;
    if (v12) {
        auto p12 = pd.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceDriverProperties>();
        d.driver_name = p12.get<vk::PhysicalDeviceDriverProperties>().driverName.data();
        d.driver_info = p12.get<vk::PhysicalDeviceDriverProperties>().driverInfo.data();
        auto f = pd.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceVulkan11Features,
                                 vk::PhysicalDeviceVulkan12Features>();
        d.shader_float16 = f.get<vk::PhysicalDeviceVulkan12Features>().shaderFloat16;
        d.storage_buffer_16bit = f.get<vk::PhysicalDeviceVulkan11Features>().storageBuffer16BitAccess;
    }
    if (v13) {
        auto p13 = pd.getProperties2<vk::PhysicalDeviceProperties2, vk::PhysicalDeviceSubgroupSizeControlProperties>();
        d.min_subgroup_size = p13.get<vk::PhysicalDeviceSubgroupSizeControlProperties>().minSubgroupSize;
        d.max_subgroup_size = p13.get<vk::PhysicalDeviceSubgroupSizeControlProperties>().maxSubgroupSize;
        auto f13 = pd.getFeatures2<vk::PhysicalDeviceFeatures2, vk::PhysicalDeviceVulkan13Features>();
        d.subgroup_size_control = f13.get<vk::PhysicalDeviceVulkan13Features>().subgroupSizeControl;
    }

    auto mem = pd.getMemoryProperties();
    for (uint32_t h = 0; h < mem.memoryHeapCount; ++h)
        if (mem.memoryHeaps[h].flags & vk::MemoryHeapFlagBits::eDeviceLocal) d.device_local_bytes += mem.memoryHeaps[h].size;
    const auto unified = vk::MemoryPropertyFlagBits::eDeviceLocal | vk::MemoryPropertyFlagBits::eHostVisible |
                         vk::MemoryPropertyFlagBits::eHostCoherent;
    for (uint32_t t = 0; t < mem.memoryTypeCount; ++t)
        if ((mem.memoryTypes[t].propertyFlags & unified) == unified) d.unified_memory = true;
    return d;
}

// Index of the device the selector names, or the best by type. Throws when nothing matches.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& selector_option) {
    if (devices.empty()) throw Error("no Vulkan device found (install a driver, e.g. mesa-vulkan-drivers for lavapipe)");
    std::string selector = selector_option;
    std::string source = "device option";
    if (selector.empty()) {
        if (const char* env = std::getenv("VKCONV_DEVICE")) {
            selector = env;
            source = "VKCONV_DEVICE";
        }
    }
    if (!selector.empty()) {
        const bool numeric = std::all_of(selector.begin(), selector.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (numeric && selector.size() < 6) {
            const auto i = static_cast<uint32_t>(std::stoul(selector));
            if (i < devices.size()) return i;
        } else {
            for (const auto& d : devices)
                if (d.name.find(selector) != std::string::npos) return d.index;
        }
        std::ostringstream msg;
        msg << source << " '" << selector << "' matches no Vulkan device; the devices are:";
        for (const auto& d : devices) msg << " [" << d.index << "] " << d.name << " (" << d.type << ")";
        throw Error(msg.str());
    }
    uint32_t best = 0;
    for (const auto& d : devices)
        if (d.type_rank() > devices[best].type_rank()) best = d.index;
    return best;
}

}  // namespace detail

}  // namespace vkconv::host

int vkconv::DeviceInfo::type_rank() const {
    if (type == "discrete") return 4;
    if (type == "integrated") return 3;
    if (type == "virtual") return 2;
    if (type == "cpu") return 1;
    return 0;
}
