// host/context.h: the Vulkan runtime vkconv computes with: instance, physical-device choice,
// logical device, one compute queue, memory statistics, the validation layer's messages.
// It knows nothing about convolution; engine/ builds on it. Private: users hold vkconv::Context
// (vkconv/context.h), a façade over this one; engine code reaches it with host::of(ctx).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

#include "vkconv/context.h"
#include "vkconv/error.h"
#include "host/device_policy.h"

namespace vkconv::host {

class Buffer;
class ComputePipeline;
enum class BindingType : uint8_t;

using vkconv::BorrowedDevice;
using vkconv::DeviceInfo;
using vkconv::TileOverrides;

// The public options (vkconv/context.h) plus test-only ones (vkconv/testing.h).
struct ContextOptions : vkconv::ContextOptions {
    ContextOptions() = default;
    ContextOptions(const vkconv::ContextOptions& o) : vkconv::ContextOptions(o) {}  // NOLINT: widening

    // Test-only: use device-local memory plus staging even where host-visible device memory
    // exists, so the staging path is exercised on integrated GPUs and lavapipe.
    bool force_staging = false;

    // Test-only: clamp what the context believes about the device (DeviceInfo), so that the
    // paths which split work to fit the device's limits run on any device.
    struct LimitOverrides {
        std::optional<uint64_t> max_storage_buffer_range;
        std::optional<uint64_t> max_memory_allocation_size;
        std::optional<std::array<uint32_t, 3>> max_workgroup_count;
        // Formats reported as having no texel-buffer features (uniform_texel_format and
        // storage_texel_format say false), so the paths taken where a device lacks a format
        // (e.g. R16G16B16A16_SFLOAT for fp16 storage) run on any device.
        std::vector<vk::Format> hidden_texel_formats;
        // Report no subgroup shuffles in compute shaders (DeviceInfo::subgroup_shuffle false), so
        // that the kernels' variants without subgroup code run on any device.
        bool hide_subgroup_shuffle = false;
    } limit_overrides;

    // Test-only fault injection.
    struct FaultInjection {
        // vkAllocateMemory reports VK_ERROR_OUT_OF_DEVICE_MEMORY for the allocation whose 1-based
        // number (Context::allocations_made() + 1 when it is made) is `fail_allocation_number`
        // (0: none) and, independently, for every allocation of more than
        // `fail_allocations_above` bytes (0: none). Adjustable at run time with Context::faults().
        uint64_t fail_allocation_number = 0;
        uint64_t fail_allocations_above = 0;
        bool out_of_host_memory = false;  // report VK_ERROR_OUT_OF_HOST_MEMORY instead
        // The submission whose 1-based number (Context::submissions() + 1 when it is made) is
        // this (0: none) is submitted, then its fence wait reports VK_ERROR_DEVICE_LOST.
        uint64_t lose_device_at_submission = 0;
    } faults;
};

using vkconv::list_devices;

// The runtime behind vkconv::Context (vkconv/context.h documents what it does for users).
class Context {
public:
    explicit Context(const ContextOptions& options = {});
    explicit Context(const BorrowedDevice& borrowed, const ContextOptions& options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // The public context this one is behind (set by vkconv::Context).
    vkconv::Context& facade() const { return *facade_; }

    // The device's properties (with ContextOptions::limit_overrides applied).
    const DeviceInfo& info() const { return info_; }
    const ContextOptions& options() const { return options_; }
    const vk::raii::Device& device() const { return device_; }
    const vk::raii::PhysicalDevice& physical_device() const { return physical_device_; }
    const vk::raii::Queue& queue() const { return queue_; }
    uint32_t queue_family() const { return queue_family_; }
    const vk::raii::PipelineCache& pipeline_cache() const { return pipeline_cache_; }
    // The persisted pipeline cache's file (empty when not persisted), what happened when it was
    // loaded ("loaded N bytes", "none yet", "ignored: <why>", "off"), and a save now (also done
    // when the context is destroyed); save returns false, with the reason in the status, on failure.
    const std::string& pipeline_cache_path() const { return cache_path_; }
    // The directory vkconv keeps its caches in (ContextOptions::cache_dir resolved; empty: off).
    const std::string& cache_dir() const { return cache_dir_; }
    std::string pipeline_cache_status() const;
    bool save_pipeline_cache();
    bool host_visible_device_memory() const { return !options_.force_staging && info_.unified_memory; }
    bool borrowed() const { return borrowed_; }
    // The allocation callbacks for every object vkconv creates (nullptr: the driver's).
    const vk::AllocationCallbacks* allocator() const { return allocator_; }
    // The callbacks for command pools: allocator() except on drivers whose command recording
    // mishandles them (device quirk: Mesa lavapipe 22.x frees a stack pointer through a command
    // pool's pfnFree while recording vkCmdPipelineBarrier); there the driver's own.
    const vk::AllocationCallbacks* command_pool_allocator() const;

    // Held around every vkQueueSubmit on the shared queue: vkconv's own mutex plus the
    // application's lock_queue/unlock_queue callbacks for a borrowed queue.
    class QueueLock {
    public:
        explicit QueueLock(Context& ctx);
        ~QueueLock();
        QueueLock(const QueueLock&) = delete;
        QueueLock& operator=(const QueueLock&) = delete;
    private:
        Context& ctx_;
        std::lock_guard<std::mutex> guard_;
    };
    QueueLock lock_queue() { return QueueLock(*this); }

    // A nearest-filtering, clamp-to-edge sampler for sampled-image bindings (made on first use).
    vk::Sampler nearest_sampler();

    // Recordings into application command buffers hand their descriptor pools and the buffers
    // they use to the context until the GPU is done with them (CommandRecorder::retire_after).
    // collect_retired() frees those whose fence is signalled or timeline semaphore reached its
    // value; it runs when recorders are made and when the context is destroyed (which waits).
    struct Retired {
        vk::Fence fence;
        vk::Semaphore semaphore;
        uint64_t value = 0;
        std::vector<vk::raii::DescriptorPool> pools;
        std::vector<std::shared_ptr<const void>> keep_alive;
    };
    void retire(Retired r);
    void collect_retired(bool wait = false);
    size_t retired_count() const;

    // Memory type index for the required/preferred property flags; throws when none fits.
    uint32_t memory_type(uint32_t type_bits, vk::MemoryPropertyFlags required,
                         vk::MemoryPropertyFlags preferred = {}) const;

    // A pipeline built from an embedded shader with the layout its SPIR-V declares (bindings,
    // push constants: host/shader_layout.h), cached by (shader, specialization data).
    std::shared_ptr<const ComputePipeline> pipeline(const std::string& shader, const std::vector<uint32_t>& specialization);

    // Whether `format` can be read through a uniform texel buffer (format features; false for
    // ContextOptions::limit_overrides.hidden_texel_formats).
    bool uniform_texel_format(vk::Format format) const;
    // Whether `format` can be written through a storage texel buffer (imageStore on an imageBuffer).
    bool storage_texel_format(vk::Format format) const;

    // Copies between host memory and a buffer; uses the reused staging buffer when the buffer
    // is not host-visible. Blocks until the copy is done.
    void upload(Buffer& dst, uint64_t offset, const void* src, uint64_t bytes);
    void download(const Buffer& src, uint64_t offset, void* dst, uint64_t bytes);

    // Every device-memory allocation goes through here: refuses sizes above
    // maxMemoryAllocationSize, and turns VK_ERROR_OUT_OF_{DEVICE,HOST}_MEMORY into a vkconv::Error
    // naming the size and the memory heap (index and size). `what` says what it is for.
    vk::raii::DeviceMemory allocate_memory(uint64_t bytes, uint32_t memory_type, const std::string& what);

    // Device loss. After VK_ERROR_DEVICE_LOST, or a fence wait that exceeded
    // ContextOptions::fence_timeout_ns, the context is lost: check_usable() (called by every
    // allocation, transfer and submission) throws "vkconv context lost: <reason>" at once.
    bool lost() const { return lost_.load(); }
    std::string lost_reason() const;
    void check_usable() const;
    // Marks the context lost and returns the error to throw.
    Error mark_lost(const std::string& reason);
    // Waits for `fence` (bounded by fence_timeout_ns); a timeout or device loss marks the context
    // lost and throws. `what` names the work ("forward pass", "upload").
    void wait_fence(vk::Fence fence, const std::string& what);
    // Turns a vk::SystemError from a Vulkan call into a vkconv::Error (marking the context lost
    // on VK_ERROR_DEVICE_LOST); `what` names the call.
    [[noreturn]] void rethrow_vulkan_error(const vk::SystemError& e, const std::string& what);
    // Keeps `object` (Vulkan objects that pending GPU work may still use) until the context is
    // destroyed, where it is released after vkDeviceWaitIdle. Used once the context is lost.
    void defer_destruction(std::shared_ptr<void> object);
    // Whether objects must be handed to defer_destruction() rather than destroyed (lost, and not
    // yet being destroyed).
    bool defer_destructions() const;
    // Test-only fault injection, adjustable at run time.
    ContextOptions::FaultInjection& faults() { return options_.faults; }
    // What vkconv decided from the device once (class, quirks, default tiles and the overrides).
    const DevicePolicy& policy() const { return policy_; }
    // Tests: replaces the tile overrides (convolutions prepared before keep their plans).
    void set_tile_overrides(const TileOverrides& tiles) {
        options_.tiles = tiles;
        policy_ = make_device_policy(info_, tiles);
    }
    // Device-memory allocations attempted so far (successful or not).
    uint64_t allocations_made() const { return allocation_count_.load(); }

    // Memory statistics (bytes and allocations currently alive).
    uint64_t live_bytes() const { return live_bytes_.load(); }
    uint64_t live_allocations() const { return live_allocations_.load(); }
    void note_allocation(int64_t bytes, int count);

    // Traffic counters: queue submissions and host<->device copies since the context was made.
    uint64_t submissions() const { return submissions_.load(); }
    uint64_t host_transfers() const { return host_transfers_.load(); }
    void note_submission() { ++submissions_; }

    // Validation-layer messages received so far (errors and warnings).
    std::vector<std::string> validation_messages() const;
    void clear_validation_messages();
    bool validation_enabled() const { return validation_; }
    // Whether pipelines capture the driver's statistics (ContextOptions::pipeline_statistics on a
    // device with VK_KHR_pipeline_executable_properties).
    bool pipeline_statistics_enabled() const { return pipeline_statistics_; }

private:
    friend class vkconv::Context;  // sets facade_
    vkconv::Context* facade_ = nullptr;
    static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                         VkDebugUtilsMessageTypeFlagsEXT,
                                                         const VkDebugUtilsMessengerCallbackDataEXT*, void*);
    void transfer(Buffer& staging, const Buffer& buffer, uint64_t offset, uint64_t bytes, bool to_device);
    void transfer(vk::Buffer staging, vk::Buffer buffer, uint64_t offset, uint64_t bytes, bool to_device);
    void transfer_impl(vk::Buffer staging, vk::Buffer buffer, uint64_t offset, uint64_t bytes, bool to_device);

    void init_device_objects(VkPipelineCache borrowed_cache);
    std::vector<uint8_t> load_pipeline_cache_file();
    void release_borrowed();

    ContextOptions options_;
    bool validation_ = false;
    bool pipeline_statistics_ = false;
    bool borrowed_ = false;
    bool borrowed_cache_ = false;
    const vk::AllocationCallbacks* allocator_ = nullptr;
    std::function<void()> lock_queue_cb_, unlock_queue_cb_;
    vk::raii::Context vk_context_;
    vk::raii::Instance instance_{nullptr};
    vk::raii::DebugUtilsMessengerEXT messenger_{nullptr};
    vk::raii::PhysicalDevice physical_device_{nullptr};
    DeviceInfo info_;
    DevicePolicy policy_;
    uint32_t queue_family_ = 0;
    vk::raii::Device device_{nullptr};
    vk::raii::Queue queue_{nullptr};
    vk::raii::PipelineCache pipeline_cache_{nullptr};
    vk::PhysicalDeviceMemoryProperties memory_properties_;

    std::string cache_path_, cache_dir_;
    mutable std::mutex cache_status_mutex_;
    std::string cache_status_ = "off";
    bool pipelines_created_ = false;

    std::mutex queue_mutex_;
    std::mutex pipelines_mutex_;
    std::mutex sampler_mutex_;
    vk::raii::Sampler nearest_sampler_{nullptr};
    mutable std::mutex retired_mutex_;
    std::vector<Retired> retired_;
    std::map<std::string, std::shared_ptr<const ComputePipeline>> pipelines_;

    std::mutex staging_mutex_;
    std::unique_ptr<Buffer> staging_;
    vk::raii::CommandPool transfer_pool_{nullptr};

    std::atomic<uint64_t> live_bytes_{0};
    std::atomic<uint64_t> live_allocations_{0};
    std::atomic<uint64_t> submissions_{0};
    std::atomic<uint64_t> host_transfers_{0};

    mutable std::mutex messages_mutex_;
    std::vector<std::string> messages_;

    std::atomic<bool> lost_{false};
    std::atomic<bool> destroying_{false};
    mutable std::mutex lost_mutex_;
    std::string lost_reason_;
    std::vector<std::shared_ptr<void>> deferred_;  // guarded by lost_mutex_
    std::atomic<uint64_t> allocation_count_{0};
};

}  // namespace vkconv::host

namespace vkconv::detail {
struct ContextAccess {
    static host::Context& host(vkconv::Context& c) { return *c.impl_; }
    static const host::Context& host(const vkconv::Context& c) { return *c.impl_; }
    // A public context over a private one made with the test-only options.
    static std::unique_ptr<vkconv::Context> make(const host::ContextOptions& options);
};
}  // namespace vkconv::detail

namespace vkconv::host {
// The private context behind a public one (engine code, tools and vkconv/testing.h use it).
inline Context& of(vkconv::Context& ctx) { return vkconv::detail::ContextAccess::host(ctx); }
inline const Context& of(const vkconv::Context& ctx) { return vkconv::detail::ContextAccess::host(ctx); }
// Identity, so that code holding either context writes host::of(ctx).
inline Context& of(Context& ctx) { return ctx; }
inline const Context& of(const Context& ctx) { return ctx; }
}  // namespace vkconv::host
