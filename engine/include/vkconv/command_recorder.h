// vkconv/command_recorder.h: records compute work into one command buffer and submits it with a fence.
// A recorder owns its command pool and descriptor pools, so each thread can use its own;
// descriptor sets live until reset() (after the GPU is done), then the pools are recycled.
//
// A recorder can instead record into a command buffer the application owns (embedding vkconv in
// a renderer): the application begins, submits and synchronises that command buffer; acquire()
// and release_to() record the barriers between its work and vkconv's; the descriptor sets and
// buffers the recording uses live until the recorder is destroyed or reset (the application
// says the GPU is done) or, after retire_after(), until the context sees the fence or timeline
// semaphore signalled.
//
// Users make recorders, pass them to Layer/Model::record and record_image_to_tensor, and use
// acquire/release_to/retire_after/submit_and_wait. The binding and dispatch calls take the
// runtime's private types (host::ComputePipeline, host::Buffer, declared here only): they are
// what layers record with, inside the engine.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv {
class Context;
}

namespace vkconv::host {

class Buffer;
class ComputePipeline;
class Context;

// What one binding gets: a range of a buffer (storage-buffer binding), a buffer view
// (uniform-texel-buffer binding) or an image view in a layout (sampled or storage image); must
// match the pipeline's BindingType at that binding.
struct BufferBinding {
    vk::Buffer buffer;
    uint64_t offset = 0;
    uint64_t range = VK_WHOLE_SIZE;
    vk::BufferView view;  // set for texel-buffer bindings
    vk::ImageView image_view;  // set for image bindings
    vk::ImageLayout image_layout = vk::ImageLayout::eUndefined;
    BufferBinding(const Buffer& b);  // NOLINT: the whole buffer (its range of a borrowed one)
    BufferBinding(vk::Buffer b, uint64_t off, uint64_t r) : buffer(b), offset(off), range(r) {}
    explicit BufferBinding(vk::BufferView v) : view(v) {}
    BufferBinding(vk::ImageView v, vk::ImageLayout layout) : image_view(v), image_layout(layout) {}
};

class CommandRecorder {
public:
    explicit CommandRecorder(vkconv::Context& ctx);
    // Records into `external`, an application command buffer in the recording state (begun by
    // the application, which also submits it). submit_and_wait() is refused on such a recorder.
    CommandRecorder(vkconv::Context& ctx, vk::CommandBuffer external);
    // The same over the private context (engine code).
    explicit CommandRecorder(Context& ctx);
    CommandRecorder(Context& ctx, vk::CommandBuffer external);
    ~CommandRecorder();
    CommandRecorder(const CommandRecorder&) = delete;
    CommandRecorder& operator=(const CommandRecorder&) = delete;

    // The private context (engine code: pipelines, policy); users hold the public one.
    Context& context() const { return *ctx_; }
    vk::CommandBuffer command_buffer() const { return external_ ? external_ : *cmd_; }
    bool is_external() const { return static_cast<bool>(external_); }

    // Makes the application's earlier work (at `src_stages`, writes of `src_access`) visible to
    // and ordered before the vkconv work recorded next (compute shader reads and writes,
    // transfers), e.g. acquire(eColorAttachmentOutput, eColorAttachmentWrite) after rendering.
    void acquire(vk::PipelineStageFlags src_stages, vk::AccessFlags src_access);
    // Makes vkconv's work recorded so far (shader and transfer writes) visible to the
    // application's later work at `dst_stages` with `dst_access`, e.g.
    // release_to(eFragmentShader, eShaderRead) before sampling a result in a later pass.
    void release_to(vk::PipelineStageFlags dst_stages, vk::AccessFlags dst_access);
    // For external recordings: hands this recording's descriptor sets and the buffers it uses to
    // the context, which frees them once `fence` is signalled (or `timeline` reaches `value`);
    // the recorder is then empty and may record again, into the same or another command
    // buffer (set_command_buffer). The fence or semaphore must outlive that wait.
    void retire_after(vk::Fence fence);
    void retire_after(vk::Semaphore timeline, uint64_t value);
    // Points an external recorder at another application command buffer (after retire_after
    // or reset_external).
    void set_command_buffer(vk::CommandBuffer external);
    // For external recordings: the application says the GPU is done with everything recorded;
    // frees the descriptor sets and releases the buffers now.
    void reset_external();

    // Binds the pipeline and buffers, pushes constants, and dispatches `groups` workgroups.
    void dispatch(const ComputePipeline& pipeline, std::span<const BufferBinding> buffers,
                  std::span<const std::byte> push_constants, uint32_t gx, uint32_t gy, uint32_t gz);
    template <class PushConstants>
    void dispatch(const ComputePipeline& p, std::span<const BufferBinding> b, const PushConstants& pc,
                  uint32_t gx, uint32_t gy, uint32_t gz) {
        dispatch(p, b, std::as_bytes(std::span(&pc, 1)), gx, gy, gz);
    }
    // Makes earlier compute/transfer writes visible to later compute/transfer work.
    void barrier();
    void copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset, uint64_t bytes);
    void copy(vk::Buffer src, uint64_t src_offset, vk::Buffer dst, uint64_t dst_offset, uint64_t bytes);
    void fill(const Buffer& dst, uint32_t value);
    // Timestamp queries (see TimestampQueries): resets `count` queries from `first`, or writes
    // the time at which all earlier commands have completed into query `index`.
    void reset_queries(vk::QueryPool pool, uint32_t first, uint32_t count);
    void write_timestamp(vk::QueryPool pool, uint32_t index);

    // Holds `resource` (a buffer a recorded command reads or writes) until the recording's work is
    // done, so that a layer may replace its device copies while an older recording still uses them.
    void keep_alive(std::shared_ptr<const void> resource) { keep_alive_.push_back(std::move(resource)); }

    // Ends recording, submits, waits for completion (at most ContextOptions::fence_timeout_ns),
    // then resets for new recording. A timeout or device loss marks the context lost and throws;
    // the work's resources are then kept by the context and this recorder is unusable.
    void submit_and_wait();
    uint32_t dispatch_count() const { return dispatches_; }
    bool empty() const { return dispatches_ == 0 && commands_ == 0; }

private:
    vk::DescriptorSet allocate_set(vk::DescriptorSetLayout layout);
    void begin_if_needed();
    void reset();
    void reset_external_state();
    void submit_recorded();  // submits and waits; keeps keep_alive_ (recording may go on)
    void reset_after_failure(bool pending);
    std::vector<std::shared_ptr<const void>> keep_alive_;

    Context* ctx_;
    vk::CommandBuffer external_;
    vk::raii::CommandPool pool_{nullptr};
    vk::raii::CommandBuffer cmd_{nullptr};
    vk::raii::Fence fence_{nullptr};
    std::vector<vk::raii::DescriptorPool> descriptor_pools_;
    uint32_t sets_in_current_pool_ = 0;
    bool recording_ = false;
    uint32_t dispatches_ = 0;               // since the last reset (across bounded submissions)
    uint32_t dispatches_in_submission_ = 0;  // in the command buffer being recorded
    uint32_t commands_ = 0;
};

}  // namespace vkconv::host

namespace vkconv {
using host::CommandRecorder;
}  // namespace vkconv
