// host/command.h: the command recorder layers record with (binding, dispatch, barriers, copies,
// keep-alive) behind the public vkconv::CommandRecorder (vkconv/command_recorder.h), which users
// make and submit; engine code reaches this one with host::of(rec). Implemented in
// host/command.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

#include "vkconv/command_recorder.h"

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
    // The constructors and the calls from command_buffer() to reset_external() are those of the
    // public recorder (vkconv/command_recorder.h), which forwards to them.
    explicit CommandRecorder(Context& ctx);
    CommandRecorder(Context& ctx, vk::CommandBuffer external);
    ~CommandRecorder();
    CommandRecorder(const CommandRecorder&) = delete;
    CommandRecorder& operator=(const CommandRecorder&) = delete;

    // The private context (engine code: pipelines, policy); users hold the public one.
    Context& context() const { return *ctx_; }
    vk::CommandBuffer command_buffer() const { return external_ ? external_ : *cmd_; }
    bool is_external() const { return static_cast<bool>(external_); }

    void acquire(vk::PipelineStageFlags src_stages, vk::AccessFlags src_access);
    void release_to(vk::PipelineStageFlags dst_stages, vk::AccessFlags dst_access);
    void retire_after(vk::Fence fence);
    void retire_after(vk::Semaphore timeline, uint64_t value);
    void set_command_buffer(vk::CommandBuffer external);
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
    // Timestamp queries (see vkconv::TimestampQueries): resets `count` queries from `first`, or writes
    // the time at which all earlier commands have completed into query `index`.
    void reset_queries(vk::QueryPool pool, uint32_t first, uint32_t count);
    void write_timestamp(vk::QueryPool pool, uint32_t index);

    // Holds `resource` (a buffer a recorded command reads or writes) until the recording's work is
    // done, so that a layer may replace its device copies while an older recording still uses them.
    void keep_alive(std::shared_ptr<const void> resource) { keep_alive_.push_back(std::move(resource)); }

    // As the public recorder's.
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

namespace vkconv::detail {
struct RecorderAccess {
    static host::CommandRecorder& host(vkconv::CommandRecorder& r) { return *r.impl_; }
    static const host::CommandRecorder& host(const vkconv::CommandRecorder& r) { return *r.impl_; }
};
}  // namespace vkconv::detail

namespace vkconv::host {
// The recorder behind a public one (engine code records with it).
inline CommandRecorder& of(vkconv::CommandRecorder& rec) { return vkconv::detail::RecorderAccess::host(rec); }
inline const CommandRecorder& of(const vkconv::CommandRecorder& rec) { return vkconv::detail::RecorderAccess::host(rec); }
}  // namespace vkconv::host
