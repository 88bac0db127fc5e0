// host/memory.cpp: device memory (allocation, memory types, accounting) and host <-> device transfers through staging.
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

}  // namespace vkconv::host
