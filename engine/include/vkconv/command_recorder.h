// vkconv/command_recorder.h: records compute work into one command buffer and submits it with a fence.
// A recorder owns its command pool and descriptor pools, so each thread can use its own;
// descriptor sets live until the work is submitted and done, then the pools are recycled.
//
// A recorder can instead record into a command buffer the application owns (embedding vkconv in
// a renderer): the application begins, submits and synchronises that command buffer; acquire()
// and release_to() record the barriers between its work and vkconv's; the descriptor sets and
// buffers the recording uses live until the recorder is destroyed or reset_external() (the
// application says the GPU is done) or, after retire_after(), until the context sees the fence or
// timeline semaphore signalled.
//
// Users make recorders, pass them to Layer/Model::record and record_image_to_tensor, and use
// acquire/release_to/retire_after/submit_and_wait. What layers record with (bindings, dispatches,
// barriers) is the engine's own, behind this class.
#pragma once

#include <cstdint>
#include <memory>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv {

class Context;
namespace host {
class CommandRecorder;
}
namespace detail {
struct RecorderAccess;
}

class CommandRecorder {
public:
    explicit CommandRecorder(Context& ctx);
    // Records into `external`, an application command buffer in the recording state (begun by
    // the application, which also submits it). submit_and_wait() is refused on such a recorder.
    CommandRecorder(Context& ctx, vk::CommandBuffer external);
    ~CommandRecorder();
    CommandRecorder(const CommandRecorder&) = delete;
    CommandRecorder& operator=(const CommandRecorder&) = delete;

    // The command buffer recorded into: the application's for an external recorder, else the
    // recorder's own (begun on the first recorded command).
    vk::CommandBuffer command_buffer() const;
    bool is_external() const;

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

    // Ends recording, submits, waits for completion (at most ContextOptions::fence_timeout_ns),
    // then resets for new recording. A timeout or device loss marks the context lost and throws;
    // the work's resources are then kept by the context and this recorder is unusable.
    void submit_and_wait();
    // Dispatches recorded since the last submit_and_wait(), retire_after() or reset_external()
    // (what a forward pass costs).
    uint32_t dispatch_count() const;
    // Nothing recorded since then.
    bool empty() const;

private:
    friend struct detail::RecorderAccess;
    std::unique_ptr<host::CommandRecorder> impl_;
};

}  // namespace vkconv
