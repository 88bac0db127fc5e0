// vkconv/context.h: the Vulkan context the engine computes on: a device (vkconv's own or the
// application's), its description, and what a user may ask of it. The Vulkan runtime behind it
// (memory, pipelines, submissions, loss) is private; tests reach it through vkconv/testing.h.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace vkconv {

namespace host {
class Context;
}
namespace detail {
struct ContextAccess;
}

// Tile sizes of the convolution kernels. Unset fields (and values out of a field's range) take
// the device class's default. For experiments and tests: the tools read them from the
// environment variables named in tile_override_names() (tools/env_options.cpp); the library
// never reads the environment for them.
struct TileOverrides {
    std::optional<int> texel_oct, texel_px, texel_ly, texel_sg;                  // direct_texel
    std::optional<int> packed_px, packed_oct, packed_py, packed_wg, pack_px;     // the packed and texel-window kernels
    std::optional<int> winograd_tile, winograd_oct, winograd_tt, winograd_wg;  // winograd
    // The default tiles of another device class (a DeviceClass value: 0 cpu, 1 discrete, ...),
    // so that tests run the GPU classes' tiles on lavapipe and reports show the CPU class's on a
    // GPU compiler.
    std::optional<int> tile_class;
};

struct ContextOptions {
    // Khronos validation layer; also switched on by VKCONV_VALIDATION=1.
    bool validation = false;
    // Synchronization validation (implies validation).
    bool sync_validation = false;
    // Device index ("0") or a substring of its name ("llvmpipe"); empty: VKCONV_DEVICE or the
    // best by type (discrete > integrated > virtual > CPU).
    std::string device;
    // Where the VkPipelineCache is kept between runs (a directory). Empty: VKCONV_CACHE_DIR, else
    // $XDG_CACHE_HOME/vkconv, else $HOME/.cache/vkconv. "off" (here or in VKCONV_CACHE_DIR): not
    // persisted. The file is checked before use (vkconv's header with a checksum, then Vulkan's
    // own: vendor, device, driver version, pipelineCacheUUID); a corrupt or foreign file is
    // ignored and replaced. Contexts on a borrowed device use the application's cache instead.
    std::string cache_dir;
    // Called with each validation message (in addition to it being recorded); may be empty.
    // Also called for messages sent while the context is being destroyed (e.g. the layer's
    // "object has not been destroyed" reports at vkDestroyDevice).
    std::function<void(const std::string&)> on_validation_message;

    // How long a wait for submitted work may take before it is reported as a hang: the context is
    // then marked lost (its later calls fail fast with "vkconv context lost: ...").
    uint64_t fence_timeout_ns = 60'000'000'000ull;
    // Work bound per submission: a CommandRecorder submits (and waits for) what it has recorded
    // once it holds this many dispatches, so that no single submission runs long enough to trip a
    // driver's watchdog. 0: no bound (Model::forward is then one submission).
    uint32_t max_dispatches_per_submission = 0;

    // Tile sizes of the convolution kernels (unset: the device class's defaults). For
    // experiments; the tools read them from VKCONV_* variables.
    TileOverrides tiles;

    // Capture the driver compiler's statistics of every pipeline (registers, spills, scratch,
    // shared memory, occupancy) where the device has VK_KHR_pipeline_executable_properties
    // (vkconv compile-report).
    bool pipeline_statistics = false;
};

// What vkconv needs to know about a physical device, in one place.
struct DeviceInfo {
    uint32_t index = 0;
    std::string name;
    std::string type;            // "discrete", "integrated", "virtual", "cpu", "other"
    std::string driver_name;     // from VkPhysicalDeviceDriverProperties
    std::string driver_info;
    uint32_t vendor_id = 0, device_id = 0, driver_version = 0, api_version = 0;
    std::array<uint8_t, VK_UUID_SIZE> pipeline_cache_uuid{};
    uint32_t max_workgroup_size[3] = {0, 0, 0};
    uint32_t max_workgroup_count[3] = {0, 0, 0};
    uint32_t max_workgroup_invocations = 0;
    uint32_t max_shared_memory = 0;
    uint32_t max_push_constants = 0;
    uint64_t max_storage_buffer_range = 0;
    uint64_t max_texel_buffer_elements = 0;
    uint64_t max_memory_allocation_size = 0;
    uint64_t min_storage_buffer_offset_alignment = 0;
    uint32_t subgroup_size = 0;
    bool subgroup_shuffle = false;  // subgroupShuffle in compute shaders
    bool subgroup_size_control = false;
    uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
    bool shader_float16 = false;
    bool storage_buffer_16bit = false;
    bool timestamps = false;
    double timestamp_period_ns = 0;
    uint64_t device_local_bytes = 0;
    bool unified_memory = false;  // a DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT type exists
    int type_rank() const;        // higher is preferred
};

// Vulkan handles an application already has (see Context(const BorrowedDevice&, ...)). vkconv
// uses them and never destroys them; the application destroys them after the Context.
struct BorrowedDevice {
    VkInstance instance = VK_NULL_HANDLE;
    VkPhysicalDevice physical_device = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    uint32_t queue_family = 0;   // must support compute
    uint32_t queue_index = 0;    // vkGetDeviceQueue(device, queue_family, queue_index)
    // The apiVersion the application created the instance with (VkApplicationInfo); vkconv
    // needs 1.1 or later.
    uint32_t instance_api_version = VK_API_VERSION_1_1;
    // Optional: the application's pipeline cache (vkconv's pipelines go into it) and the
    // allocation callbacks vkconv passes to every vkCreate*/vkAllocateMemory it makes.
    VkPipelineCache pipeline_cache = VK_NULL_HANDLE;
    const VkAllocationCallbacks* allocator = nullptr;
    // Optional: called around every vkQueueSubmit vkconv makes on the shared queue, for
    // applications that submit to it from several threads (lock their queue mutex here).
    std::function<void()> lock_queue, unlock_queue;
    // Optional features the application enabled on its device that vkconv may use (it cannot
    // query what a foreign VkDevice was created with): shaderFloat16, storageBuffer16BitAccess.
    bool shader_float16_enabled = false, storage_buffer_16bit_enabled = false;
    // Whether the instance has VK_EXT_debug_utils enabled: then vkconv registers its own
    // messenger so that validation messages reach ContextOptions::on_validation_message and
    // Context::validation_messages() (the application's own messenger keeps working).
    bool debug_utils_enabled = false;
};

// All physical devices, each described; `chosen` gets the index the selection rule picks.
std::vector<DeviceInfo> list_devices(const std::string& selector = {}, uint32_t* chosen = nullptr);

class Context {
public:
    explicit Context(const ContextOptions& options = {});
    // A context on the application's device and queue (see BorrowedDevice). Throws, saying
    // what is missing, when the queue family cannot compute or the versions are too old.
    // ContextOptions::device, validation and sync_validation do not apply: the application made
    // the instance and the device.
    explicit Context(const BorrowedDevice& borrowed, const ContextOptions& options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // The device's properties.
    const DeviceInfo& info() const;
    const ContextOptions& options() const;
    // Whether the context runs on an application's device (BorrowedDevice).
    bool borrowed() const;

    // Waits until the GPU has finished every submission vkconv made on its queue, then frees
    // what finished recordings into application command buffers held (collect_retired).
    void wait_idle();
    // Frees the descriptor pools and buffers of recordings into application command buffers
    // whose fence or timeline semaphore has signalled (CommandRecorder::retire_after); `wait`:
    // waits for them first. Also done when recorders are made and when the context is destroyed.
    void collect_retired(bool wait = false);

    // The persisted pipeline cache's file (empty when not persisted), what happened when it was
    // loaded ("loaded N bytes", "none yet", "ignored: <why>", "off"), and a save now (also done
    // when the context is destroyed); save returns false, with the reason in the status, on failure.
    const std::string& pipeline_cache_path() const;
    std::string pipeline_cache_status() const;
    bool save_pipeline_cache();
    // The directory vkconv keeps its caches in (ContextOptions::cache_dir resolved; empty: off).
    const std::string& cache_dir() const;

    // Device loss: after VK_ERROR_DEVICE_LOST, or a wait longer than
    // ContextOptions::fence_timeout_ns, every later call fails with "vkconv context lost: <reason>".
    bool lost() const;
    std::string lost_reason() const;

    // Memory statistics (bytes and allocations of device memory currently alive), and the traffic
    // since the context was made (queue submissions, host<->device copies).
    uint64_t live_bytes() const;
    uint64_t live_allocations() const;
    uint64_t submissions() const;
    uint64_t host_transfers() const;

    // Validation-layer messages received so far (errors and warnings).
    std::vector<std::string> validation_messages() const;
    void clear_validation_messages();
    bool validation_enabled() const;
    // Whether pipelines capture the driver's statistics (ContextOptions::pipeline_statistics on a
    // device with VK_KHR_pipeline_executable_properties).
    bool pipeline_statistics_enabled() const;

private:
    friend struct detail::ContextAccess;
    explicit Context(std::unique_ptr<host::Context> impl);
    std::unique_ptr<host::Context> impl_;
};

}  // namespace vkconv
