#include "host/command.h"

#include <algorithm>

#include "host/buffer.h"
#include "host/context.h"
#include "host/pipeline.h"
#include "vkconv/error.h"

namespace vkconv::host {
namespace {
constexpr uint32_t kSetsPerPool = 64;
constexpr uint32_t kMaxBindingsPerSet = 8;
}  // namespace

BufferBinding::BufferBinding(const Buffer& b)
    : buffer(b.handle()), offset(b.offset()), range(b.borrowed() ? std::max<uint64_t>(4, b.size()) : VK_WHOLE_SIZE) {}

CommandRecorder::CommandRecorder(Context& ctx) : ctx_(&ctx) {
    ctx.check_usable();
    const auto& dev = ctx.device();
    try {
        pool_ = vk::raii::CommandPool(dev, vk::CommandPoolCreateInfo(vk::CommandPoolCreateFlagBits::eResetCommandBuffer,
                                                                     ctx.queue_family()), ctx.command_pool_allocator());
        vk::raii::CommandBuffers cbs(dev, vk::CommandBufferAllocateInfo(*pool_, vk::CommandBufferLevel::ePrimary, 1));
        cmd_ = std::move(cbs[0]);
        fence_ = vk::raii::Fence(dev, vk::FenceCreateInfo(), ctx.allocator());
    } catch (const vk::SystemError& e) {
        ctx.rethrow_vulkan_error(e, "creating a command recorder");
    }
}

CommandRecorder::CommandRecorder(Context& ctx, vk::CommandBuffer external) : ctx_(&ctx), external_(external) {
    if (!external) throw Error("CommandRecorder: the application's command buffer is VK_NULL_HANDLE");
    recording_ = true;  // the application began it
    ctx.collect_retired();
}

void CommandRecorder::set_command_buffer(vk::CommandBuffer external) {
    if (!external_) throw Error("CommandRecorder::set_command_buffer: this recorder owns its command buffer");
    if (!external) throw Error("CommandRecorder::set_command_buffer: the command buffer is VK_NULL_HANDLE");
    external_ = external;
}

void CommandRecorder::acquire(vk::PipelineStageFlags src_stages, vk::AccessFlags src_access) {
    begin_if_needed();
    vk::MemoryBarrier b(src_access, vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite |
                                        vk::AccessFlagBits::eTransferRead | vk::AccessFlagBits::eTransferWrite);
    command_buffer().pipelineBarrier(src_stages, vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer,
                                     {}, b, {}, {});
    ++commands_;
}

void CommandRecorder::release_to(vk::PipelineStageFlags dst_stages, vk::AccessFlags dst_access) {
    begin_if_needed();
    vk::MemoryBarrier b(vk::AccessFlagBits::eShaderWrite | vk::AccessFlagBits::eTransferWrite, dst_access);
    command_buffer().pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer,
                                     dst_stages, {}, b, {}, {});
    ++commands_;
}

void CommandRecorder::retire_after(vk::Fence fence) {
    if (!external_) throw Error("CommandRecorder::retire_after: only for recordings into an application command buffer");
    if (!fence) throw Error("CommandRecorder::retire_after: the fence is VK_NULL_HANDLE");
    Context::Retired r;
    r.fence = fence;
    r.pools = std::move(descriptor_pools_);
    r.keep_alive = std::move(keep_alive_);
    ctx_->retire(std::move(r));
    reset_external_state();
}

void CommandRecorder::retire_after(vk::Semaphore timeline, uint64_t value) {
    if (!external_) throw Error("CommandRecorder::retire_after: only for recordings into an application command buffer");
    if (!timeline) throw Error("CommandRecorder::retire_after: the semaphore is VK_NULL_HANDLE");
    Context::Retired r;
    r.semaphore = timeline;
    r.value = value;
    r.pools = std::move(descriptor_pools_);
    r.keep_alive = std::move(keep_alive_);
    ctx_->retire(std::move(r));
    reset_external_state();
}

void CommandRecorder::reset_external() {
    if (!external_) throw Error("CommandRecorder::reset_external: only for recordings into an application command buffer");
    keep_alive_.clear();
    descriptor_pools_.clear();
    reset_external_state();
}

void CommandRecorder::reset_external_state() {
    descriptor_pools_.clear();
    keep_alive_.clear();
    sets_in_current_pool_ = 0;
    dispatches_ = 0;
    commands_ = 0;
    ctx_->collect_retired();
}

CommandRecorder::~CommandRecorder() {
    // Work recorded but never submitted is simply dropped; work submitted was waited for.
}

void CommandRecorder::begin_if_needed() {
    if (recording_ || external_) return;
    ctx_->check_usable();
    if (!*cmd_) throw Error("CommandRecorder: this recorder's work was abandoned (context lost); make a new one");
    try {
        cmd_.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
    } catch (const vk::SystemError& e) {
        ctx_->rethrow_vulkan_error(e, "vkBeginCommandBuffer");
    }
    recording_ = true;
}

vk::DescriptorSet CommandRecorder::allocate_set(vk::DescriptorSetLayout layout) {
    if (descriptor_pools_.empty() || sets_in_current_pool_ == kSetsPerPool) {
        const vk::DescriptorPoolSize sizes[] = {
            {vk::DescriptorType::eStorageBuffer, kSetsPerPool * kMaxBindingsPerSet},
            {vk::DescriptorType::eUniformTexelBuffer, kSetsPerPool * kMaxBindingsPerSet},
            {vk::DescriptorType::eCombinedImageSampler, kSetsPerPool * 2},
            {vk::DescriptorType::eStorageImage, kSetsPerPool * 2},
            {vk::DescriptorType::eStorageTexelBuffer, kSetsPerPool * kMaxBindingsPerSet},
        };
        try {
            descriptor_pools_.emplace_back(ctx_->device(), vk::DescriptorPoolCreateInfo({}, kSetsPerPool, sizes), ctx_->allocator());
        } catch (const vk::SystemError& e) {
            ctx_->rethrow_vulkan_error(e, "creating a descriptor pool");
        }
        sets_in_current_pool_ = 0;
    }
    ++sets_in_current_pool_;
    vk::DescriptorSetAllocateInfo ai(*descriptor_pools_.back(), layout);
    vk::DescriptorSet set;
    const auto r = (*ctx_->device()).allocateDescriptorSets(&ai, &set);
    if (r != vk::Result::eSuccess) throw Error("descriptor set allocation failed: " + vk::to_string(r));
    return set;
}

void CommandRecorder::dispatch(const ComputePipeline& pipeline, std::span<const BufferBinding> buffers,
                               std::span<const std::byte> push_constants, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (buffers.size() != pipeline.storage_buffers() || buffers.size() > kMaxBindingsPerSet)
        throw Error("dispatch of '" + pipeline.name() + "': expected " + std::to_string(pipeline.storage_buffers()) +
                    " buffers, got " + std::to_string(buffers.size()));
    if (push_constants.size() != pipeline.push_constant_bytes())
        throw Error("dispatch of '" + pipeline.name() + "': push constants of " + std::to_string(push_constants.size()) +
                    " bytes, the pipeline expects " + std::to_string(pipeline.push_constant_bytes()));
    const auto& lim = ctx_->info().max_workgroup_count;
    if (gx > lim[0] || gy > lim[1] || gz > lim[2])
        throw Error("dispatch of '" + pipeline.name() + "' (" + std::to_string(gx) + ", " + std::to_string(gy) + ", " +
                    std::to_string(gz) + ") workgroups exceeds maxComputeWorkGroupCount (" + std::to_string(lim[0]) +
                    ", " + std::to_string(lim[1]) + ", " + std::to_string(lim[2]) + ")");
    if (gx == 0 || gy == 0 || gz == 0) return;
    // Work bound per submission (ContextOptions::max_dispatches_per_submission): submit what is
    // recorded so far and go on recording; the barriers recorded earlier are then implied by the
    // wait.
    const uint32_t per_submission = ctx_->options().max_dispatches_per_submission;
    // (Not for an application command buffer: the application decides its submissions.)
    if (per_submission && !external_ && dispatches_in_submission_ >= per_submission) submit_recorded();
    begin_if_needed();
    const vk::DescriptorSet set = allocate_set(pipeline.set_layout());
    std::vector<vk::DescriptorBufferInfo> infos;
    std::vector<vk::DescriptorImageInfo> image_infos;
    std::vector<vk::WriteDescriptorSet> writes;
    infos.reserve(buffers.size());
    image_infos.reserve(buffers.size());
    const auto& types = pipeline.bindings();
    for (uint32_t i = 0; i < buffers.size(); ++i) {
        if (types[i] == BindingType::SampledImage || types[i] == BindingType::StorageImage) {
            if (!buffers[i].image_view)
                throw Error("dispatch of '" + pipeline.name() + "': binding " + std::to_string(i) + " needs an image view");
            const bool sampled = types[i] == BindingType::SampledImage;
            image_infos.emplace_back(sampled ? ctx_->nearest_sampler() : vk::Sampler{}, buffers[i].image_view,
                                     buffers[i].image_layout);
            writes.emplace_back(set, i, 0, 1, descriptor_type(types[i]), &image_infos.back());
        } else if (types[i] == BindingType::UniformTexelBuffer || types[i] == BindingType::StorageTexelBuffer) {
            if (!buffers[i].view)
                throw Error("dispatch of '" + pipeline.name() + "': binding " + std::to_string(i) + " needs a buffer view");
            writes.emplace_back(set, i, 0, 1,
                                types[i] == BindingType::UniformTexelBuffer ? vk::DescriptorType::eUniformTexelBuffer
                                                                            : vk::DescriptorType::eStorageTexelBuffer,
                                nullptr, nullptr, &buffers[i].view);
        } else {
            if (!buffers[i].buffer)
                throw Error("dispatch of '" + pipeline.name() + "': binding " + std::to_string(i) + " needs a buffer");
            infos.emplace_back(buffers[i].buffer, buffers[i].offset, buffers[i].range);
            writes.emplace_back(set, i, 0, 1, vk::DescriptorType::eStorageBuffer, nullptr, &infos.back());
        }
    }
    (*ctx_->device()).updateDescriptorSets(writes, {});
    const vk::CommandBuffer cmd = command_buffer();
    cmd.bindPipeline(vk::PipelineBindPoint::eCompute, pipeline.handle());
    cmd.bindDescriptorSets(vk::PipelineBindPoint::eCompute, pipeline.layout(), 0, set, {});
    if (!push_constants.empty())
        cmd.pushConstants<std::byte>(pipeline.layout(), vk::ShaderStageFlagBits::eCompute, 0, push_constants);
    cmd.dispatch(gx, gy, gz);
    ++dispatches_;
    ++dispatches_in_submission_;
}

void CommandRecorder::barrier() {
    begin_if_needed();
    vk::MemoryBarrier b(vk::AccessFlagBits::eShaderWrite | vk::AccessFlagBits::eTransferWrite,
                        vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eShaderWrite |
                            vk::AccessFlagBits::eTransferRead | vk::AccessFlagBits::eTransferWrite);
    const auto stages = vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer;
    command_buffer().pipelineBarrier(stages, stages, {}, b, {}, {});
    ++commands_;
}

void CommandRecorder::copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset, uint64_t bytes) {
    if (src_offset + bytes > src.size() || dst_offset + bytes > dst.size()) throw Error("copy: range exceeds a buffer's size");
    copy(src.handle(), src.offset() + src_offset, dst.handle(), dst.offset() + dst_offset, bytes);
}

void CommandRecorder::copy(vk::Buffer src, uint64_t src_offset, vk::Buffer dst, uint64_t dst_offset, uint64_t bytes) {
    if (bytes == 0) return;
    begin_if_needed();
    command_buffer().copyBuffer(src, dst, vk::BufferCopy(src_offset, dst_offset, bytes));
    ++commands_;
}

void CommandRecorder::fill(const Buffer& dst, uint32_t value) {
    begin_if_needed();
    // A borrowed range is filled only within its bytes (a multiple of 4 by Vulkan's rule).
    command_buffer().fillBuffer(dst.handle(), dst.offset(), dst.borrowed() ? (dst.size() & ~uint64_t(3)) : VK_WHOLE_SIZE, value);
    ++commands_;
}

void CommandRecorder::reset_queries(vk::QueryPool pool, uint32_t first, uint32_t count) {
    begin_if_needed();
    command_buffer().resetQueryPool(pool, first, count);
    ++commands_;
}

void CommandRecorder::write_timestamp(vk::QueryPool pool, uint32_t index) {
    begin_if_needed();
    command_buffer().writeTimestamp(vk::PipelineStageFlagBits::eBottomOfPipe, pool, index);
    ++commands_;
}

void CommandRecorder::submit_and_wait() {
    if (external_)
        throw Error("CommandRecorder::submit_and_wait: this recorder records into the application's command buffer; "
                    "the application submits it (then retire_after() or reset_external())");
    if (!recording_) return;
    submit_recorded();
    reset();
}

void CommandRecorder::submit_recorded() {
    if (!recording_) return;
    ctx_->check_usable();
    const uint32_t dispatches = dispatches_in_submission_;
    try {
        cmd_.end();
        recording_ = false;
        auto lock = ctx_->lock_queue();
        vk::CommandBuffer h = *cmd_;
        ctx_->queue().submit(vk::SubmitInfo({}, {}, h), *fence_);
        ctx_->note_submission();
    } catch (const vk::SystemError& e) {
        reset_after_failure(false);
        ctx_->rethrow_vulkan_error(e, "submitting work to the queue");
    }
    try {
        ctx_->wait_fence(*fence_, "submitted work (" + std::to_string(dispatches) + " dispatches)");
        ctx_->device().resetFences(*fence_);
        cmd_.reset();
    } catch (const Error&) {
        reset_after_failure(true);
        throw;
    } catch (const vk::SystemError& e) {
        reset_after_failure(true);
        ctx_->rethrow_vulkan_error(e, "resetting a command buffer");
    }
    dispatches_in_submission_ = 0;
}

void CommandRecorder::reset_after_failure(bool pending) {
    recording_ = false;
    if (!pending) {
        try {
            reset();
        } catch (const vk::SystemError&) {
        }
        return;
    }
    // The GPU may still run the submitted work (fence timeout) or be gone (device lost): its
    // command buffer, descriptor sets, fence and the buffers it uses are kept until the context is
    // destroyed, and this recorder is left unusable.
    struct Abandoned {
        std::vector<std::shared_ptr<const void>> keep_alive;
        std::vector<vk::raii::DescriptorPool> descriptor_pools;
        vk::raii::Fence fence;
        vk::raii::CommandPool pool;
        vk::raii::CommandBuffer cmd;  // destroyed first (before its pool)
    };
    ctx_->defer_destruction(std::make_shared<Abandoned>(Abandoned{std::move(keep_alive_), std::move(descriptor_pools_),
                                                                  std::move(fence_), std::move(pool_), std::move(cmd_)}));
    keep_alive_.clear();
    descriptor_pools_.clear();
    fence_ = vk::raii::Fence(nullptr);
    pool_ = vk::raii::CommandPool(nullptr);
    cmd_ = vk::raii::CommandBuffer(nullptr);
    sets_in_current_pool_ = 0;
    dispatches_ = dispatches_in_submission_ = 0;
    commands_ = 0;
}

void CommandRecorder::reset() {
    if (*cmd_) cmd_.reset();
    keep_alive_.clear();
    for (auto& p : descriptor_pools_) p.reset();
    // Keep one pool for reuse; free the others.
    if (descriptor_pools_.size() > 1) descriptor_pools_.erase(descriptor_pools_.begin() + 1, descriptor_pools_.end());
    sets_in_current_pool_ = 0;
    dispatches_ = dispatches_in_submission_ = 0;
    commands_ = 0;
}

}  // namespace vkconv::host
