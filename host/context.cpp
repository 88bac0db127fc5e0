// host/context.cpp: instance, device choice, device, queue, validation messages, transfers.
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
#include "host/pipeline.h"
#include "vkconv/error.h"

#ifdef VKCONV_LSAN_SUPPRESSIONS
// Sanitizer builds only: LeakSanitizer's defaults (read once at start-up), so that leaks inside
// the Vulkan driver, loader and layers are suppressed in every vkconv binary.
extern "C" __attribute__((visibility("default"), used)) const char* __lsan_default_options() {
    return "suppressions=" VKCONV_LSAN_SUPPRESSIONS;
}
#include <dlfcn.h>
namespace {
// The loader dlcloses the driver and the layers when the instance goes; LeakSanitizer, checking
// at exit, then sees their frames as "<unknown module>" and no suppression can name them. Keeping
// them mapped (RTLD_NODELETE) lets tests/lsan.supp match by library name.
[[maybe_unused]] const bool g_keep_vulkan_modules = [] {
    for (const char* lib : {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so", "libVkLayer_MESA_device_select.so"})
        dlopen(lib, RTLD_NOW | RTLD_NODELETE);
    return true;
}();
}  // namespace
#endif

namespace vkconv::host {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
}

std::string type_name(vk::PhysicalDeviceType t) {
    switch (t) {
        case vk::PhysicalDeviceType::eDiscreteGpu: return "discrete";
        case vk::PhysicalDeviceType::eIntegratedGpu: return "integrated";
        case vk::PhysicalDeviceType::eVirtualGpu: return "virtual";
        case vk::PhysicalDeviceType::eCpu: return "cpu";
        default: return "other";
    }
}

bool has_instance_extension(const vk::raii::Context& ctx, const char* name) {
    for (const auto& e : ctx.enumerateInstanceExtensionProperties())
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
}

bool has_layer(const vk::raii::Context& ctx, const char* name) {
    for (const auto& l : ctx.enumerateInstanceLayerProperties())
        if (std::strcmp(l.layerName, name) == 0) return true;
    return false;
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

vk::raii::Instance make_instance(const vk::raii::Context& ctx, bool validation, bool sync_validation,
                                 std::vector<const char*>& extensions_out) {
    vk::ApplicationInfo app("vkconv", 1, "vkconv", 1, VK_API_VERSION_1_1);
    const uint32_t loader_version = ctx.enumerateInstanceVersion();
    app.apiVersion = std::min<uint32_t>(loader_version, VK_API_VERSION_1_3);
    std::vector<const char*> layers;
    auto& extensions = extensions_out;
    vk::InstanceCreateFlags flags;
    if (has_instance_extension(ctx, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        // Lets MoltenVK-style portability drivers be enumerated.
        extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
        flags |= vk::InstanceCreateFlagBits::eEnumeratePortabilityKHR;
    }
    if (validation) {
        if (!has_layer(ctx, kValidationLayer))
            throw Error("validation was requested (VKCONV_VALIDATION=1 or ContextOptions::validation) but the layer " +
                        std::string(kValidationLayer) + " is not installed (Debian: apt install vulkan-validationlayers)");
        layers.push_back(kValidationLayer);
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    vk::InstanceCreateInfo info(flags, &app, layers, extensions);
    std::vector<vk::ValidationFeatureEnableEXT> enables;
    if (sync_validation) enables.push_back(vk::ValidationFeatureEnableEXT::eSynchronizationValidation);
    vk::ValidationFeaturesEXT features(enables, {});
    if (validation && !enables.empty()) info.pNext = &features;
    return vk::raii::Instance(ctx, info);
}

// The persisted pipeline cache: vkconv's header, then the driver's data (which starts with
// VkPipelineCacheHeaderVersionOne). Checked field by field before the data reaches the driver.
struct CacheFileHeader {
    char magic[8];  // "VKCONVPC"
    uint32_t format_version;
    uint32_t vendor_id, device_id, driver_version;
    uint8_t uuid[VK_UUID_SIZE];
    uint64_t data_size;
    uint64_t checksum;  // FNV-1a 64 of the data
};
static_assert(sizeof(CacheFileHeader) == 56);
constexpr char kCacheMagic[8] = {'V', 'K', 'C', 'O', 'N', 'V', 'P', 'C'};
constexpr uint32_t kCacheFormatVersion = 1;
constexpr uint64_t kMaxCacheFileBytes = uint64_t(1) << 30;

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += {d[p[i] >> 4], d[p[i] & 15]};
    return s;
}

// The directory the cache goes in, or "" when persistence is off.
std::string cache_directory(const std::string& option) {
    std::string dir = option;
    if (dir.empty())
        if (const char* env = std::getenv("VKCONV_CACHE_DIR")) dir = env;
    if (dir == "off") return {};
    if (dir.empty()) {
        if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
            dir = std::string(xdg) + "/vkconv";
        else if (const char* home = std::getenv("HOME"); home && *home)
            dir = std::string(home) + "/.cache/vkconv";
    }
    return dir;
}

}  // namespace

int DeviceInfo::type_rank() const {
    if (type == "discrete") return 4;
    if (type == "integrated") return 3;
    if (type == "virtual") return 2;
    if (type == "cpu") return 1;
    return 0;
}

std::vector<DeviceInfo> list_devices(const std::string& selector, uint32_t* chosen) {
    vk::raii::Context ctx;
    std::vector<const char*> extensions;
    auto instance = make_instance(ctx, false, false, extensions);
    vk::raii::PhysicalDevices pds(instance);
    std::vector<DeviceInfo> out;
    for (uint32_t i = 0; i < pds.size(); ++i) out.push_back(describe(pds[i], i));
    if (chosen && !out.empty()) *chosen = choose_device(out, selector);
    return out;
}

Context::Context(const ContextOptions& options) : options_(options) {
    validation_ = options.validation || options.sync_validation || env_flag("VKCONV_VALIDATION");
    try {
        std::vector<const char*> extensions;
        instance_ = make_instance(vk_context_, validation_, options.sync_validation, extensions);
        if (validation_) {
            vk::DebugUtilsMessengerCreateInfoEXT mi(
                {},
                vk::DebugUtilsMessageSeverityFlagBitsEXT::eWarning | vk::DebugUtilsMessageSeverityFlagBitsEXT::eError,
                vk::DebugUtilsMessageTypeFlagBitsEXT::eValidation | vk::DebugUtilsMessageTypeFlagBitsEXT::eGeneral,
                &Context::debug_callback, this);
            messenger_ = vk::raii::DebugUtilsMessengerEXT(instance_, mi, allocator());
        }
        vk::raii::PhysicalDevices pds(instance_);
        std::vector<DeviceInfo> infos;
        for (uint32_t i = 0; i < pds.size(); ++i) infos.push_back(describe(pds[i], i));
        const uint32_t chosen = choose_device(infos, options.device);
        physical_device_ = std::move(pds[chosen]);
        info_ = infos[chosen];
        // Test-only clamps: the context never believes in more than the device has.
        const auto& lo = options.limit_overrides;
        if (lo.max_storage_buffer_range)
            info_.max_storage_buffer_range = std::min(info_.max_storage_buffer_range, *lo.max_storage_buffer_range);
        if (lo.max_memory_allocation_size)
            info_.max_memory_allocation_size = std::min(info_.max_memory_allocation_size, *lo.max_memory_allocation_size);
        if (lo.max_workgroup_count)
            for (int i = 0; i < 3; ++i)
                info_.max_workgroup_count[i] = std::min(info_.max_workgroup_count[i], std::max(1u, (*lo.max_workgroup_count)[i]));
        if (info_.api_version < VK_API_VERSION_1_1)
            throw Error("device '" + info_.name + "' supports only Vulkan " + std::to_string(VK_VERSION_MAJOR(info_.api_version)) +
                        "." + std::to_string(VK_VERSION_MINOR(info_.api_version)) + "; vkconv needs Vulkan 1.1");

        // A compute queue; prefer one without graphics (async compute) only when it is the sole
        // choice would not matter for correctness, so take the first compute-capable family.
        const auto families = physical_device_.getQueueFamilyProperties();
        bool found = false;
        for (uint32_t i = 0; i < families.size() && !found; ++i)
            if (families[i].queueFlags & vk::QueueFlagBits::eCompute) {
                queue_family_ = i;
                found = true;
            }
        if (!found) throw Error("device '" + info_.name + "' has no compute queue");

        const float priority = 1.0f;
        vk::DeviceQueueCreateInfo qi({}, queue_family_, 1, &priority);
        vk::PhysicalDeviceFeatures2 features;
        vk::PhysicalDeviceVulkan11Features f11;
        vk::PhysicalDeviceVulkan12Features f12;
        // fp16 storage and arithmetic are switched on where present; shaders that use them are
        // only chosen when DeviceInfo says so.
        f11.storageBuffer16BitAccess = info_.storage_buffer_16bit;
        f12.shaderFloat16 = info_.shader_float16;
        features.pNext = &f11;
        f11.pNext = &f12;
        vk::DeviceCreateInfo di({}, qi, {}, {});
        // The Vulkan11/12 feature structures exist from Vulkan 1.2 on.
        if (info_.api_version >= VK_API_VERSION_1_2) di.pNext = &features;
        device_ = vk::raii::Device(physical_device_, di);
        queue_ = device_.getQueue(queue_family_, 0);
        init_device_objects(VK_NULL_HANDLE);
    } catch (const vk::SystemError& e) {
        throw Error(std::string("Vulkan initialisation failed: ") + e.what());
    }
}

void Context::init_device_objects(VkPipelineCache borrowed_cache) {
    cache_dir_ = cache_directory(options_.cache_dir);
    memory_properties_ = physical_device_.getMemoryProperties();
    borrowed_cache_ = borrowed_cache != VK_NULL_HANDLE;
    if (borrowed_cache_) {
        pipeline_cache_ = vk::raii::PipelineCache(device_, borrowed_cache, allocator_);
        cache_status_ = "off (the application's pipeline cache)";
    } else {
        std::vector<uint8_t> initial;
        if (!borrowed_) {
            const std::string& dir = cache_dir_;
            if (!dir.empty()) {
                cache_path_ = dir + "/pipelines-" + hex(info_.pipeline_cache_uuid.data(), info_.pipeline_cache_uuid.size()) + ".bin";
                initial = load_pipeline_cache_file();
            }
        }
        pipeline_cache_ = vk::raii::PipelineCache(device_, vk::PipelineCacheCreateInfo({}, initial.size(), initial.data()), allocator_);
    }
    transfer_pool_ = vk::raii::CommandPool(
        device_, vk::CommandPoolCreateInfo(vk::CommandPoolCreateFlagBits::eResetCommandBuffer, queue_family_),
        command_pool_allocator());
}

Context::Context(const BorrowedDevice& b, const ContextOptions& options) : options_(options) {
    borrowed_ = true;
    allocator_ = reinterpret_cast<const vk::AllocationCallbacks*>(b.allocator);
    lock_queue_cb_ = b.lock_queue;
    unlock_queue_cb_ = b.unlock_queue;
    if (!b.instance || !b.physical_device || !b.device)
        throw Error(std::string("BorrowedDevice: ") + (!b.instance ? "instance" : !b.physical_device ? "physical_device" : "device") +
                    " is VK_NULL_HANDLE");
    if (static_cast<bool>(b.lock_queue) != static_cast<bool>(b.unlock_queue))
        throw Error("BorrowedDevice: lock_queue and unlock_queue must be given together");
    if (b.instance_api_version < VK_API_VERSION_1_1)
        throw Error("BorrowedDevice: the instance was created for Vulkan " + std::to_string(VK_VERSION_MAJOR(b.instance_api_version)) +
                    "." + std::to_string(VK_VERSION_MINOR(b.instance_api_version)) +
                    "; vkconv needs VkApplicationInfo::apiVersion 1.1 or later");
    try {
        instance_ = vk::raii::Instance(vk_context_, b.instance, allocator_);
        physical_device_ = vk::raii::PhysicalDevice(instance_, b.physical_device);
        info_ = describe(physical_device_, 0);
        {
            // Report the device's index among the instance's devices, as list_devices() does.
            vk::raii::PhysicalDevices pds(instance_);
            for (uint32_t i = 0; i < pds.size(); ++i)
                if (*pds[i] == vk::PhysicalDevice(b.physical_device)) info_.index = i;
        }
        if (info_.api_version < VK_API_VERSION_1_1)
            throw Error("device '" + info_.name + "' supports only Vulkan " + std::to_string(VK_VERSION_MAJOR(info_.api_version)) +
                        "." + std::to_string(VK_VERSION_MINOR(info_.api_version)) + "; vkconv needs Vulkan 1.1");
        const auto families = physical_device_.getQueueFamilyProperties();
        if (b.queue_family >= families.size())
            throw Error("BorrowedDevice: queue_family " + std::to_string(b.queue_family) + " does not exist on '" + info_.name +
                        "' (it has " + std::to_string(families.size()) + " queue families)");
        if (!(families[b.queue_family].queueFlags & vk::QueueFlagBits::eCompute))
            throw Error("BorrowedDevice: queue family " + std::to_string(b.queue_family) + " of '" + info_.name +
                        "' does not support compute (its flags: " + vk::to_string(families[b.queue_family].queueFlags) +
                        "); vkconv records compute dispatches");
        if (b.queue_index >= families[b.queue_family].queueCount)
            throw Error("BorrowedDevice: queue_index " + std::to_string(b.queue_index) + " is out of range; queue family " +
                        std::to_string(b.queue_family) + " has " + std::to_string(families[b.queue_family].queueCount) + " queues");
        queue_family_ = b.queue_family;
        // Features vkconv would use only if the application enabled them on its device.
        info_.shader_float16 = info_.shader_float16 && b.shader_float16_enabled;
        info_.storage_buffer_16bit = info_.storage_buffer_16bit && b.storage_buffer_16bit_enabled;
        device_ = vk::raii::Device(physical_device_, b.device, allocator_);
        queue_ = vk::raii::Queue(device_, b.queue_family, b.queue_index);
        if (b.debug_utils_enabled && options.on_validation_message) {
            validation_ = true;
            vk::DebugUtilsMessengerCreateInfoEXT mi(
                {},
                vk::DebugUtilsMessageSeverityFlagBitsEXT::eWarning | vk::DebugUtilsMessageSeverityFlagBitsEXT::eError,
                vk::DebugUtilsMessageTypeFlagBitsEXT::eValidation | vk::DebugUtilsMessageTypeFlagBitsEXT::eGeneral,
                &Context::debug_callback, this);
            messenger_ = vk::raii::DebugUtilsMessengerEXT(instance_, mi, allocator_);
        }
        init_device_objects(b.pipeline_cache);
    } catch (const vk::SystemError& e) {
        release_borrowed();
        throw Error(std::string("Vulkan initialisation on the borrowed device failed: ") + e.what());
    } catch (...) {
        release_borrowed();
        throw;
    }
}

void Context::release_borrowed() {
    // Objects made on the borrowed device go first; then the handles are let go, not destroyed.
    transfer_pool_.clear();
    messenger_.clear();
    if (borrowed_cache_) (void)pipeline_cache_.release();
    pipeline_cache_.clear();
    (void)device_.release();
    (void)instance_.release();
}

std::vector<uint8_t> Context::load_pipeline_cache_file() {
    std::lock_guard lock(cache_status_mutex_);
    std::error_code ec;
    if (!std::filesystem::exists(cache_path_, ec)) {
        cache_status_ = "none yet";
        return {};
    }
    const auto size = std::filesystem::file_size(cache_path_, ec);
    if (ec || size > kMaxCacheFileBytes) {
        cache_status_ = "ignored: unreadable or larger than 1 GiB";
        return {};
    }
    std::ifstream f(cache_path_, std::ios::binary);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (!f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
        cache_status_ = "ignored: unreadable";
        return {};
    }
    CacheFileHeader h{};
    if (bytes.size() < sizeof h) {
        cache_status_ = "ignored: truncated header";
        return {};
    }
    std::memcpy(&h, bytes.data(), sizeof h);
    const uint8_t* data = bytes.data() + sizeof h;
    const uint64_t data_size = bytes.size() - sizeof h;
    if (std::memcmp(h.magic, kCacheMagic, sizeof kCacheMagic) != 0 || h.format_version != kCacheFormatVersion) {
        cache_status_ = "ignored: not a vkconv pipeline cache (or another format version)";
        return {};
    }
    if (h.vendor_id != info_.vendor_id || h.device_id != info_.device_id ||
        std::memcmp(h.uuid, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE) != 0) {
        cache_status_ = "ignored: written for another device";
        return {};
    }
    if (h.driver_version != info_.driver_version) {
        cache_status_ = "ignored: written by another driver version";
        return {};
    }
    if (h.data_size != data_size || h.checksum != fnv1a(data, data_size)) {
        cache_status_ = "ignored: corrupt (size or checksum mismatch)";
        return {};
    }
    // Vulkan's own header (VkPipelineCacheHeaderVersionOne), checked too: the driver would
    // ignore a foreign one, but not every driver is careful.
    uint32_t vk_header[4] = {0, 0, 0, 0};
    if (data_size < 16 + VK_UUID_SIZE) {
        cache_status_ = "ignored: the driver's header is truncated";
        return {};
    }
    std::memcpy(vk_header, data, sizeof vk_header);
    if (vk_header[0] < 16 + VK_UUID_SIZE || vk_header[0] > data_size || vk_header[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE ||
        vk_header[2] != info_.vendor_id || vk_header[3] != info_.device_id ||
        std::memcmp(data + 16, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE) != 0) {
        cache_status_ = "ignored: the driver's header does not match this device";
        return {};
    }
    cache_status_ = "loaded " + std::to_string(data_size) + " bytes";
    return std::vector<uint8_t>(data, data + data_size);
}

std::string Context::pipeline_cache_status() const {
    std::lock_guard lock(cache_status_mutex_);
    return cache_status_;
}

bool Context::save_pipeline_cache() {
    if (cache_path_.empty() || !*pipeline_cache_) return false;
    {
        std::lock_guard lock(pipelines_mutex_);
        if (!pipelines_created_) return true;  // nothing new since it was loaded
    }
    std::vector<uint8_t> data;
    try {
        data = pipeline_cache_.getData();
    } catch (const vk::SystemError& e) {
        std::lock_guard lock(cache_status_mutex_);
        cache_status_ = std::string("save failed: ") + e.what();
        return false;
    }
    CacheFileHeader h{};
    std::memcpy(h.magic, kCacheMagic, sizeof kCacheMagic);
    h.format_version = kCacheFormatVersion;
    h.vendor_id = info_.vendor_id;
    h.device_id = info_.device_id;
    h.driver_version = info_.driver_version;
    std::memcpy(h.uuid, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE);
    h.data_size = data.size();
    h.checksum = fnv1a(data.data(), data.size());
    // Written to a temporary file and renamed over the old one: readers never see half a file.
    std::error_code ec;
    const std::filesystem::path path(cache_path_);
    std::filesystem::create_directories(path.parent_path(), ec);
    const std::string tmp = cache_path_ + ".tmp" + std::to_string(std::random_device{}());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(&h), sizeof h);
        f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
        if (!f) {
            std::filesystem::remove(tmp, ec);
            std::lock_guard lock(cache_status_mutex_);
            cache_status_ = "save failed: cannot write " + tmp;
            return false;
        }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        std::lock_guard lock(cache_status_mutex_);
        cache_status_ = "save failed: cannot rename to " + cache_path_;
        return false;
    }
    std::lock_guard lock(pipelines_mutex_);
    pipelines_created_ = false;
    return true;
}

Context::~Context() {
    // Everything the context made goes before the device does, in this body, so that the
    // messages the validation layer sends while the device is destroyed (objects not destroyed)
    // still reach a live context. After a loss vkDeviceWaitIdle fails at once; after a fence
    // timeout it waits for the work that was abandoned (destroying what it uses earlier would be
    // a use-after-free on the device). A borrowed device is not waited idle (vkDeviceWaitIdle
    // would need every queue of the application externally synchronised): vkconv waits only for
    // its own work (recordings into application command buffers, through their fences).
    collect_retired(true);
    if (*device_ && !borrowed_) {
        try {
            device_.waitIdle();
        } catch (const vk::SystemError&) {
        }
    }
    if (*device_ && !lost_.load()) (void)save_pipeline_cache();
    destroying_ = true;  // the device is idle: nothing needs deferring any more
    std::vector<std::shared_ptr<void>> deferred;
    {
        std::lock_guard lock(lost_mutex_);
        deferred.swap(deferred_);
    }
    if (borrowed_ && lost_.load()) {
        // The application's device may still run work vkconv abandoned and vkconv cannot wait for
        // it: leaking these few objects is safer than destroying what the GPU may still use.
        for (auto& d : deferred) new std::shared_ptr<void>(std::move(d));  // NOLINT: deliberate leak
    }
    deferred.clear();
    {
        std::lock_guard lock(retired_mutex_);
        // Recordings whose fence never signalled (lost device): the same reasoning.
        for (auto& r : retired_) new Retired(std::move(r));  // NOLINT: deliberate leak
        retired_.clear();
    }
    pipelines_.clear();
    staging_.reset();
    nearest_sampler_.clear();
    if (borrowed_) {
        release_borrowed();
        return;
    }
    transfer_pool_.clear();
    pipeline_cache_.clear();
    queue_.clear();
    device_.clear();
    messenger_.clear();
    instance_.clear();
}

const vk::AllocationCallbacks* Context::command_pool_allocator() const {
    if (info_.driver_name == "llvmpipe") return nullptr;
    return allocator_;
}

Context::QueueLock::QueueLock(Context& ctx) : ctx_(ctx), guard_(ctx.queue_mutex_) {
    if (ctx_.lock_queue_cb_) ctx_.lock_queue_cb_();
}

Context::QueueLock::~QueueLock() {
    if (ctx_.unlock_queue_cb_) ctx_.unlock_queue_cb_();
}

vk::Sampler Context::nearest_sampler() {
    std::lock_guard lock(sampler_mutex_);
    if (!*nearest_sampler_) {
        vk::SamplerCreateInfo si({}, vk::Filter::eNearest, vk::Filter::eNearest, vk::SamplerMipmapMode::eNearest,
                                 vk::SamplerAddressMode::eClampToEdge, vk::SamplerAddressMode::eClampToEdge,
                                 vk::SamplerAddressMode::eClampToEdge);
        nearest_sampler_ = vk::raii::Sampler(device_, si, allocator_);
    }
    return *nearest_sampler_;
}

void Context::retire(Retired r) {
    std::lock_guard lock(retired_mutex_);
    retired_.push_back(std::move(r));
}

size_t Context::retired_count() const {
    std::lock_guard lock(retired_mutex_);
    return retired_.size();
}

void Context::collect_retired(bool wait) {
    std::vector<Retired> done;
    {
        std::lock_guard lock(retired_mutex_);
        for (auto it = retired_.begin(); it != retired_.end();) {
            bool finished = false;
            if (it->fence) {
                // Bounded like every wait (ContextOptions::fence_timeout_ns); a lost device counts
                // as not finished (the destructor then leaks rather than frees what may be in use).
                try {
                    if (wait) (void)device_.waitForFences(it->fence, true, options_.fence_timeout_ns);
                    finished = (*device_).getFenceStatus(it->fence) == vk::Result::eSuccess;
                } catch (const vk::SystemError&) {
                }
            } else if (it->semaphore) {
                try {
                    if (wait) (void)device_.waitSemaphores(vk::SemaphoreWaitInfo({}, it->semaphore, it->value), options_.fence_timeout_ns);
                    finished = (*device_).getSemaphoreCounterValue(it->semaphore) >= it->value;
                } catch (const vk::SystemError&) {
                }
            } else {
                finished = true;
            }
            if (finished) {
                done.push_back(std::move(*it));
                it = retired_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // `done` is destroyed here, outside the lock: descriptor pools and buffers go back.
}

std::string Context::lost_reason() const {
    std::lock_guard lock(lost_mutex_);
    return lost_reason_;
}

void Context::check_usable() const {
    if (lost_.load()) throw Error("vkconv context lost: " + lost_reason() + "; make a new Context");
}

Error Context::mark_lost(const std::string& reason) {
    {
        std::lock_guard lock(lost_mutex_);
        if (!lost_.load()) lost_reason_ = reason;
        lost_ = true;
    }
    return Error("vkconv context lost: " + reason);
}

bool Context::defer_destructions() const { return lost_.load() && !destroying_.load(); }

void Context::defer_destruction(std::shared_ptr<void> object) {
    std::lock_guard lock(lost_mutex_);
    deferred_.push_back(std::move(object));
}

void Context::wait_fence(vk::Fence fence, const std::string& what) {
    const bool inject = options_.faults.lose_device_at_submission != 0 &&
                        submissions_.load() == options_.faults.lose_device_at_submission;
    vk::Result r = inject ? vk::Result::eErrorDeviceLost
                          : static_cast<vk::Result>(device_.getDispatcher()->vkWaitForFences(
                                static_cast<VkDevice>(*device_), 1, reinterpret_cast<const VkFence*>(&fence), VK_TRUE,
                                options_.fence_timeout_ns));
    if (r == vk::Result::eSuccess) return;
    if (r == vk::Result::eTimeout) {
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.3f", double(options_.fence_timeout_ns) / 1e6);
        throw mark_lost("the " + what + " on '" + info_.name + "' did not finish within the fence timeout of " + ms +
                        " ms (ContextOptions::fence_timeout_ns); the GPU is treated as hung");
    }
    if (r == vk::Result::eErrorDeviceLost)
        throw mark_lost("VK_ERROR_DEVICE_LOST while waiting for the " + what + " on '" + info_.name +
                        "' (driver reset, GPU hang or removal)");
    throw Error("waiting for the " + what + " failed: " + vk::to_string(r));
}

void Context::rethrow_vulkan_error(const vk::SystemError& e, const std::string& what) {
    const auto code = static_cast<vk::Result>(e.code().value());
    if (code == vk::Result::eErrorDeviceLost) throw mark_lost("VK_ERROR_DEVICE_LOST in " + what + " on '" + info_.name + "'");
    throw Error(what + " failed on '" + info_.name + "': " + e.what());
}

vk::raii::DeviceMemory Context::allocate_memory(uint64_t bytes, uint32_t type, const std::string& what) {
    check_usable();
    const uint32_t heap = memory_properties_.memoryTypes[type].heapIndex;
    const uint64_t heap_size = memory_properties_.memoryHeaps[heap].size;
    auto describe_heap = [&] {
        const bool local = static_cast<bool>(memory_properties_.memoryHeaps[heap].flags & vk::MemoryHeapFlagBits::eDeviceLocal);
        return "memory heap " + std::to_string(heap) + " (" + std::to_string(heap_size) + " bytes, " +
               (local ? "device-local" : "host") + ") of '" + info_.name + "'";
    };
    if (bytes > info_.max_memory_allocation_size)
        throw Error(what + ": an allocation of " + std::to_string(bytes) + " bytes exceeds the device's maxMemoryAllocationSize (" +
                    std::to_string(info_.max_memory_allocation_size) + " bytes)");
    const uint64_t number = ++allocation_count_;
    const auto& f = options_.faults;
    const bool inject = (f.fail_allocation_number != 0 && number == f.fail_allocation_number) ||
                        (f.fail_allocations_above != 0 && bytes > f.fail_allocations_above);
    vk::Result r = vk::Result::eSuccess;
    vk::raii::DeviceMemory memory{nullptr};
    if (inject) {
        r = f.out_of_host_memory ? vk::Result::eErrorOutOfHostMemory : vk::Result::eErrorOutOfDeviceMemory;
    } else {
        try {
            memory = vk::raii::DeviceMemory(device_, vk::MemoryAllocateInfo(bytes, type), allocator_);
        } catch (const vk::SystemError& e) {
            r = static_cast<vk::Result>(e.code().value());
            if (r != vk::Result::eErrorOutOfDeviceMemory && r != vk::Result::eErrorOutOfHostMemory)
                rethrow_vulkan_error(e, what + ": vkAllocateMemory of " + std::to_string(bytes) + " bytes");
        }
    }
    if (r == vk::Result::eErrorOutOfDeviceMemory)
        throw Error(what + ": out of device memory (VK_ERROR_OUT_OF_DEVICE_MEMORY) allocating " + std::to_string(bytes) +
                    " bytes from " + describe_heap() + "; " + std::to_string(live_bytes()) + " bytes in " +
                    std::to_string(live_allocations()) + " allocations are held by this context");
    if (r == vk::Result::eErrorOutOfHostMemory)
        throw Error(what + ": out of host memory (VK_ERROR_OUT_OF_HOST_MEMORY) allocating " + std::to_string(bytes) +
                    " bytes from " + describe_heap());
    return memory;
}

uint32_t Context::memory_type(uint32_t type_bits, vk::MemoryPropertyFlags required,
                              vk::MemoryPropertyFlags preferred) const {
    int fallback = -1;
    for (uint32_t t = 0; t < memory_properties_.memoryTypeCount; ++t) {
        if (!(type_bits & (1u << t))) continue;
        const auto flags = memory_properties_.memoryTypes[t].propertyFlags;
        if ((flags & required) != required) continue;
        if ((flags & preferred) == preferred) return t;
        if (fallback < 0) fallback = static_cast<int>(t);
    }
    if (fallback < 0)
        throw Error("device '" + info_.name + "' has no memory type with the required properties " + vk::to_string(required));
    return static_cast<uint32_t>(fallback);
}

std::shared_ptr<const ComputePipeline> Context::pipeline(const std::string& shader,
                                                         const std::vector<uint32_t>& specialization,
                                                         uint32_t storage_buffers, uint32_t push_constant_bytes) {
    std::string key = shader + "|" + std::to_string(storage_buffers) + "|" + std::to_string(push_constant_bytes);
    for (uint32_t v : specialization) key += "|" + std::to_string(v);
    std::lock_guard lock(pipelines_mutex_);
    auto it = pipelines_.find(key);
    if (it != pipelines_.end()) return it->second;
    std::shared_ptr<const ComputePipeline> p;
    try {
        p = std::make_shared<const ComputePipeline>(*this, shader, specialization, storage_buffers, push_constant_bytes);
    } catch (const vk::SystemError& e) {
        rethrow_vulkan_error(e, "creating the pipeline of shader '" + shader + "'");
    }
    pipelines_.emplace(key, p);
    pipelines_created_ = true;
    return p;
}

std::shared_ptr<const ComputePipeline> Context::pipeline(const std::string& shader,
                                                         const std::vector<uint32_t>& specialization,
                                                         const std::vector<BindingType>& bindings, uint32_t push_constant_bytes) {
    std::string key = shader + "|t";
    for (auto b : bindings) key += std::to_string(static_cast<int>(b));
    key += "|" + std::to_string(push_constant_bytes);
    for (uint32_t v : specialization) key += "|" + std::to_string(v);
    std::lock_guard lock(pipelines_mutex_);
    auto it = pipelines_.find(key);
    if (it != pipelines_.end()) return it->second;
    std::shared_ptr<const ComputePipeline> p;
    try {
        p = std::make_shared<const ComputePipeline>(*this, shader, specialization, std::span<const BindingType>(bindings),
                                                    push_constant_bytes);
    } catch (const vk::SystemError& e) {
        rethrow_vulkan_error(e, "creating the pipeline of shader '" + shader + "'");
    }
    pipelines_.emplace(key, p);
    pipelines_created_ = true;
    return p;
}

namespace {
bool hidden_format(const ContextOptions& o, vk::Format format) {
    const auto& h = o.limit_overrides.hidden_texel_formats;
    return std::find(h.begin(), h.end(), format) != h.end();
}
}  // namespace

bool Context::uniform_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eUniformTexelBuffer);
}

bool Context::storage_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eStorageTexelBuffer);
}

TexelBuffer::TexelBuffer(Context& ctx, uint64_t bytes) : ctx_(&ctx), size_(bytes) {
    const auto& info = ctx.info();
    ctx.check_usable();
    if (bytes > info.max_memory_allocation_size)
        throw Error("texel buffer of " + std::to_string(bytes) + " bytes exceeds the device's maxMemoryAllocationSize (" +
                    std::to_string(info.max_memory_allocation_size) + " bytes)");
    const uint64_t request = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
    auto usage = vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eUniformTexelBuffer |
                 vk::BufferUsageFlagBits::eTransferSrc | vk::BufferUsageFlagBits::eTransferDst;
    if (ctx.storage_texel_format(vk::Format::eR32G32B32A32Sfloat)) usage |= vk::BufferUsageFlagBits::eStorageTexelBuffer;
    const auto& dev = ctx.device();
    try {
        buffer_ = vk::raii::Buffer(dev, vk::BufferCreateInfo({}, request, usage, vk::SharingMode::eExclusive), ctx.allocator());
        const auto req = buffer_.getMemoryRequirements();
        const bool map = ctx.host_visible_device_memory();
        const auto required = map ? vk::MemoryPropertyFlagBits::eDeviceLocal | vk::MemoryPropertyFlagBits::eHostVisible |
                                        vk::MemoryPropertyFlagBits::eHostCoherent
                                  : vk::MemoryPropertyFlags(vk::MemoryPropertyFlagBits::eDeviceLocal);
        memory_ = ctx.allocate_memory(req.size, ctx.memory_type(req.memoryTypeBits, required),
                                      "texel buffer of " + std::to_string(bytes) + " bytes");
        buffer_.bindMemory(*memory_, 0);
        if (map) mapped_ = memory_.mapMemory(0, VK_WHOLE_SIZE);
        allocated_ = req.size;
    } catch (const vk::SystemError& e) {
        ctx.rethrow_vulkan_error(e, "creating a texel buffer of " + std::to_string(bytes) + " bytes");
    }
    ctx.note_allocation(static_cast<int64_t>(allocated_), 1);
}

TexelBuffer::~TexelBuffer() {
    if (ctx_->defer_destructions()) {
        // Work that was abandoned (fence timeout) may still read the buffer: keep it until the
        // context is destroyed.
        struct Kept {
            vk::raii::DeviceMemory memory;
            vk::raii::Buffer buffer;
            decltype(views_) views;  // destroyed first
        };
        ctx_->defer_destruction(std::make_shared<Kept>(Kept{std::move(memory_), std::move(buffer_), std::move(views_)}));
    }
    views_.clear();
    if (allocated_) ctx_->note_allocation(-static_cast<int64_t>(allocated_), -1);
}

vk::BufferView TexelBuffer::view(vk::Format format, uint64_t texels) {
    const uint64_t texel_bytes = format == vk::Format::eR32G32B32A32Sfloat   ? 16
                                 : format == vk::Format::eR16G16B16A16Sfloat ? 8
                                 : format == vk::Format::eR32Sfloat          ? 4
                                                                             : 0;
    if (texel_bytes == 0) throw Error("TexelBuffer: unsupported view format " + vk::to_string(format));
    // "Whole buffer" is resolved before the look-up: keyed by 0, every call made a new view that
    // lived as long as the buffer (about 1 KiB per forward pass, found by heaptrack on the soak).
    if (texels == 0) texels = std::max<uint64_t>(1, size_ / texel_bytes);
    for (const auto& [k, v] : views_)
        if (k.first == format && k.second == texels) return *v;
    if (texels > ctx_->info().max_texel_buffer_elements)
        throw Error("TexelBuffer: a view of " + std::to_string(texels) + " texels exceeds maxTexelBufferElements (" +
                    std::to_string(ctx_->info().max_texel_buffer_elements) + ")");
    if (texels * texel_bytes > std::max<uint64_t>(16, (size_ + 15) / 16 * 16)) throw Error("TexelBuffer: view larger than the buffer");
    try {
        views_.emplace_back(std::make_pair(format, texels),
                            vk::raii::BufferView(ctx_->device(), vk::BufferViewCreateInfo({}, *buffer_, format, 0, texels * texel_bytes),
                                                 ctx_->allocator()));
    } catch (const vk::SystemError& e) {
        ctx_->rethrow_vulkan_error(e, "creating a texel buffer view");
    }
    return *views_.back().second;
}

void TexelBuffer::upload(const void* data, uint64_t bytes) {
    if (bytes > size_) throw Error("TexelBuffer::upload: range exceeds the buffer's size");
    if (bytes == 0) return;
    ctx_->check_usable();
    ++ctx_->host_transfers_;
    if (mapped_) {
        std::memcpy(mapped_, data, bytes);
        return;
    }
    std::lock_guard lock(ctx_->staging_mutex_);
    auto& staging = ctx_->staging_;
    if (!staging || staging->size() < bytes) {
        staging.reset();
        staging = std::make_unique<Buffer>(*ctx_, bytes, MemoryKind::Staging);
    }
    std::memcpy(staging->mapped(), data, bytes);
    ctx_->transfer(staging->handle(), *buffer_, 0, bytes, true);
}

void Context::note_allocation(int64_t bytes, int count) {
    live_bytes_ += static_cast<uint64_t>(bytes);
    live_allocations_ += static_cast<uint64_t>(count);
}

void Context::upload(Buffer& dst, uint64_t offset, const void* src, uint64_t bytes) {
    if (offset + bytes > dst.size()) throw Error("upload: range exceeds the buffer's size");
    if (bytes == 0) return;
    check_usable();
    ++host_transfers_;
    if (dst.mapped()) {
        std::memcpy(static_cast<char*>(dst.mapped()) + offset, src, bytes);
        return;
    }
    std::lock_guard lock(staging_mutex_);
    if (!staging_ || staging_->size() < bytes) {
        staging_.reset();
        staging_ = std::make_unique<Buffer>(*this, bytes, MemoryKind::Staging);
    }
    std::memcpy(staging_->mapped(), src, bytes);
    transfer(*staging_, dst, offset, bytes, true);
}

void Context::download(const Buffer& src, uint64_t offset, void* dst, uint64_t bytes) {
    if (offset + bytes > src.size()) throw Error("download: range exceeds the buffer's size");
    if (bytes == 0) return;
    check_usable();
    ++host_transfers_;
    if (src.mapped()) {
        std::memcpy(dst, static_cast<const char*>(src.mapped()) + offset, bytes);
        return;
    }
    std::lock_guard lock(staging_mutex_);
    if (!staging_ || staging_->size() < bytes) {
        staging_.reset();
        staging_ = std::make_unique<Buffer>(*this, bytes, MemoryKind::Staging);
    }
    transfer(*staging_, src, offset, bytes, false);
    std::memcpy(dst, staging_->mapped(), bytes);
}

void Context::transfer(Buffer& staging, const Buffer& buffer, uint64_t offset, uint64_t bytes, bool to_device) {
    transfer(staging.handle(), buffer.handle(), buffer.offset() + offset, bytes, to_device);
}

void Context::transfer(vk::Buffer staging, vk::Buffer buffer, uint64_t offset, uint64_t bytes, bool to_device) {
    check_usable();
    try {
        transfer_impl(staging, buffer, offset, bytes, to_device);
    } catch (const vk::SystemError& e) {
        rethrow_vulkan_error(e, to_device ? "upload" : "download");
    }
}

void Context::transfer_impl(vk::Buffer staging, vk::Buffer buffer, uint64_t offset, uint64_t bytes, bool to_device) {
    auto cbs = std::make_shared<vk::raii::CommandBuffers>(
        device_, vk::CommandBufferAllocateInfo(*transfer_pool_, vk::CommandBufferLevel::ePrimary, 1));
    auto& cb = (*cbs)[0];
    cb.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
    // Earlier compute work may have written (or still read) the buffer.
    vk::MemoryBarrier before(vk::AccessFlagBits::eShaderWrite | vk::AccessFlagBits::eTransferWrite,
                             vk::AccessFlagBits::eTransferRead | vk::AccessFlagBits::eTransferWrite);
    cb.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer,
                       vk::PipelineStageFlagBits::eTransfer, {}, before, {}, {});
    if (to_device)
        cb.copyBuffer(staging, buffer, vk::BufferCopy(0, offset, bytes));
    else
        cb.copyBuffer(buffer, staging, vk::BufferCopy(offset, 0, bytes));
    vk::MemoryBarrier after(vk::AccessFlagBits::eTransferWrite,
                            vk::AccessFlagBits::eHostRead | vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite);
    cb.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer,
                       vk::PipelineStageFlagBits::eHost | vk::PipelineStageFlagBits::eComputeShader, {}, after, {}, {});
    cb.end();
    auto fence = std::make_shared<vk::raii::Fence>(device_, vk::FenceCreateInfo(), allocator_);
    {
        QueueLock qlock(*this);
        vk::CommandBuffer h = *cb;
        queue_.submit(vk::SubmitInfo({}, {}, h), **fence);
        ++submissions_;
    }
    try {
        wait_fence(**fence, to_device ? "upload" : "download");
    } catch (...) {
        // The copy may still be running: its command buffer, fence and staging memory stay alive
        // until the context is destroyed.
        defer_destruction(cbs);
        defer_destruction(fence);
        throw;
    }
}

VKAPI_ATTR VkBool32 VKAPI_CALL Context::debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT,
                                                       const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    auto* self = static_cast<Context*>(user);
    std::string msg = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "validation error: " : "validation warning: ";
    msg += data && data->pMessage ? data->pMessage : "(no message)";
    {
        std::lock_guard lock(self->messages_mutex_);
        self->messages_.push_back(msg);
    }
    if (self->options_.on_validation_message) self->options_.on_validation_message(msg);
    return VK_FALSE;
}

std::vector<std::string> Context::validation_messages() const {
    std::lock_guard lock(messages_mutex_);
    return messages_;
}

void Context::clear_validation_messages() {
    std::lock_guard lock(messages_mutex_);
    messages_.clear();
}

}  // namespace vkconv::host
