// host/context.cpp: instance, device, queue, pipelines, loss and retirement, validation messages.
// Device description and choice: device_choice.cpp; the pipeline-cache file: pipeline_cache_file.cpp;
// memory and transfers: memory.cpp; texel buffers: texel_buffer.cpp.
#include "host/context.h"
#include "host/context_internal.h"

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
#include "host/shader_layout.h"
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
using namespace detail;  // context_internal.h
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
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

}  // namespace

}  // namespace vkconv::host

// vkconv/context.h's list_devices, on an instance of its own.
std::vector<vkconv::DeviceInfo> vkconv::list_devices(const std::string& selector, uint32_t* chosen) {
    using namespace vkconv::host;
    vk::raii::Context ctx;
    std::vector<const char*> extensions;
    auto instance = make_instance(ctx, false, false, extensions);
    vk::raii::PhysicalDevices pds(instance);
    std::vector<DeviceInfo> out;
    for (uint32_t i = 0; i < pds.size(); ++i) out.push_back(describe(pds[i], i));
    if (chosen && !out.empty()) *chosen = choose_device(out, selector);
    return out;
}

namespace vkconv::host {

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
        if (lo.hide_subgroup_shuffle) info_.subgroup_shuffle = false;
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
        // Compile reports: the driver's statistics of each pipeline, where the device has them.
        vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_info(VK_TRUE);
        const char* executable_properties = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
        if (options.pipeline_statistics) {
            for (const auto& e : physical_device_.enumerateDeviceExtensionProperties())
                if (std::strcmp(e.extensionName, executable_properties) == 0) pipeline_statistics_ = true;
            if (pipeline_statistics_) {
                executable_info.pNext = const_cast<void*>(di.pNext);
                di.pNext = &executable_info;
                di.setPEnabledExtensionNames(executable_properties);
            }
        }
        device_ = vk::raii::Device(physical_device_, di);
        queue_ = device_.getQueue(queue_family_, 0);
        init_device_objects(VK_NULL_HANDLE);
    } catch (const vk::SystemError& e) {
        throw Error(std::string("Vulkan initialisation failed: ") + e.what());
    }
}

void Context::init_device_objects(VkPipelineCache borrowed_cache) {
    policy_ = make_device_policy(info_, options_.tiles);
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

Context::~Context() {
    // Everything the context made goes before the device does, in this body, so that the
    // messages the validation layer sends while the device is destroyed (objects not destroyed)
    // still reach a live context. After a loss vkDeviceWaitIdle fails at once; after a fence
    // timeout it waits for the work that was abandoned (destroying what it uses earlier would be
    // a use-after-free on the device). A borrowed device is not waited idle (vkDeviceWaitIdle
    // would need every queue of the application externally synchronised): vkconv waits only for
    // its own work (recordings into application command buffers, through their fences).
    collect_retired(true);
    // A context that never submitted has nothing to wait for (and drivers with no GPU behind
    // them, such as RADV's null devices that compile-report uses, cannot wait).
    if (*device_ && !borrowed_ && (submissions_.load() > 0 || host_transfers_.load() > 0)) {
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
    if (policy_.command_pool_driver_allocator) return nullptr;
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

std::shared_ptr<const ComputePipeline> Context::pipeline(const std::string& shader, const std::vector<uint32_t>& specialization) {
    // The layout is the shader's (read from its SPIR-V), so (shader, specialization) is the key.
    std::string key = shader;
    for (uint32_t v : specialization) key += "|" + std::to_string(v);
    std::lock_guard lock(pipelines_mutex_);
    auto it = pipelines_.find(key);
    if (it != pipelines_.end()) return it->second;
    std::shared_ptr<const ComputePipeline> p;
    try {
        p = std::make_shared<const ComputePipeline>(*this, shader, specialization);
    } catch (const vk::SystemError& e) {
        rethrow_vulkan_error(e, "creating the pipeline of shader '" + shader + "'");
    }
    pipelines_.emplace(key, p);
    pipelines_created_ = true;
    return p;
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
