#include "host/buffer.h"

#include <algorithm>
#include <string>

#include "host/context.h"
#include "vkconv/error.h"

namespace vkconv::host {

Buffer::Buffer(Context& ctx, uint64_t bytes, MemoryKind kind) : ctx_(&ctx), size_(bytes) {
    const auto& info = ctx.info();
    if (bytes > info.max_memory_allocation_size)
        throw Error("buffer of " + std::to_string(bytes) + " bytes exceeds the device's maxMemoryAllocationSize (" +
                    std::to_string(info.max_memory_allocation_size) + " bytes)");
    // Vulkan has no empty buffers; round up to a whole vec4 so that any binding is valid.
    const uint64_t request = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
    const auto usage = vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eTransferSrc |
                       vk::BufferUsageFlagBits::eTransferDst;
    const auto& dev = ctx.device();
    try {
        buffer_ = vk::raii::Buffer(dev, vk::BufferCreateInfo({}, request, usage, vk::SharingMode::eExclusive), ctx.allocator());
        handle_ = *buffer_;
        const auto req = buffer_.getMemoryRequirements();
        vk::MemoryPropertyFlags required, preferred;
        bool map = false;
        if (kind == MemoryKind::Staging) {
            required = vk::MemoryPropertyFlagBits::eHostVisible | vk::MemoryPropertyFlagBits::eHostCoherent;
            preferred = vk::MemoryPropertyFlagBits::eHostCached;
            map = true;
        } else if (ctx.host_visible_device_memory()) {
            required = vk::MemoryPropertyFlagBits::eDeviceLocal | vk::MemoryPropertyFlagBits::eHostVisible |
                       vk::MemoryPropertyFlagBits::eHostCoherent;
            map = true;
        } else {
            required = vk::MemoryPropertyFlagBits::eDeviceLocal;
        }
        const uint32_t type = ctx.memory_type(req.memoryTypeBits, required, preferred);
        memory_ = vk::raii::DeviceMemory(dev, vk::MemoryAllocateInfo(req.size, type), ctx.allocator());
        buffer_.bindMemory(*memory_, 0);
        allocated_ = req.size;
        if (map) mapped_ = memory_.mapMemory(0, VK_WHOLE_SIZE);
    } catch (const vk::OutOfDeviceMemoryError&) {
        throw Error("out of device memory allocating a buffer of " + std::to_string(bytes) + " bytes on '" + info.name + "'");
    } catch (const vk::OutOfHostMemoryError&) {
        throw Error("out of host memory allocating a buffer of " + std::to_string(bytes) + " bytes on '" + info.name + "'");
    }
    ctx.note_allocation(static_cast<int64_t>(allocated_), 1);
}

Buffer::Buffer(Context& ctx, vk::Buffer borrowed, uint64_t offset, uint64_t bytes)
    : ctx_(&ctx), size_(bytes), offset_(offset), handle_(borrowed) {
    if (!borrowed) throw Error("Buffer: the borrowed VkBuffer is VK_NULL_HANDLE");
    const uint64_t align = std::max<uint64_t>(1, ctx.info().min_storage_buffer_offset_alignment);
    if (offset % align != 0)
        throw Error("Buffer: offset " + std::to_string(offset) + " into the borrowed buffer is not a multiple of the device's "
                    "minStorageBufferOffsetAlignment (" + std::to_string(align) + ")");
}

Buffer::Buffer(Buffer&& o) noexcept
    : ctx_(o.ctx_), size_(o.size_), allocated_(o.allocated_), offset_(o.offset_), handle_(o.handle_), buffer_(std::move(o.buffer_)),
      memory_(std::move(o.memory_)), mapped_(o.mapped_) {
    o.allocated_ = 0;
    o.mapped_ = nullptr;
}

Buffer::~Buffer() {
    if (allocated_) ctx_->note_allocation(-static_cast<int64_t>(allocated_), -1);
    // memory_ is unmapped by vkFreeMemory; buffer_ is destroyed before memory_ (declaration order).
}

}  // namespace vkconv::host
