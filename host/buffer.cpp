#include "host/buffer.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "host/context.h"
#include "vkconv/error.h"

namespace vkconv::host {

Buffer::Buffer(Context& ctx, uint64_t bytes, MemoryKind kind) : ctx_(&ctx), size_(bytes) {
    const auto& info = ctx.info();
    ctx.check_usable();
    if (bytes > info.max_memory_allocation_size)
        throw Error("a buffer of " + std::to_string(bytes) + " bytes exceeds the device's maxMemoryAllocationSize (" +
                    std::to_string(info.max_memory_allocation_size) + " bytes)");
    // Vulkan has no empty buffers; round up to a whole vec4 so that any binding is valid.
    const uint64_t request = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
    const auto usage = vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eTransferSrc |
                       vk::BufferUsageFlagBits::eTransferDst;
    const auto& dev = ctx.device();
    try {
        buffer_ = vk::raii::Buffer(dev, vk::BufferCreateInfo({}, request, usage, vk::SharingMode::eExclusive));
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
        memory_ = ctx.allocate_memory(req.size, type,
                                      std::string(kind == MemoryKind::Staging ? "staging buffer" : "buffer") + " of " +
                                          std::to_string(bytes) + " bytes");
        buffer_.bindMemory(*memory_, 0);
        if (map) mapped_ = memory_.mapMemory(0, VK_WHOLE_SIZE);
        allocated_ = req.size;
    } catch (const vk::SystemError& e) {
        // buffer_ and memory_ (when made) are released by their destructors: nothing leaks.
        ctx.rethrow_vulkan_error(e, "creating a buffer of " + std::to_string(bytes) + " bytes");
    }
    ctx.note_allocation(static_cast<int64_t>(allocated_), 1);
}

Buffer::Buffer(Buffer&& o) noexcept
    : ctx_(o.ctx_), size_(o.size_), allocated_(o.allocated_), buffer_(std::move(o.buffer_)),
      memory_(std::move(o.memory_)), mapped_(o.mapped_) {
    o.allocated_ = 0;
    o.mapped_ = nullptr;
}

Buffer::~Buffer() {
    if (*buffer_ && ctx_->defer_destructions()) {
        // Work that was abandoned (fence timeout) may still use the buffer: keep it until the
        // context is destroyed (after vkDeviceWaitIdle).
        struct Kept {
            vk::raii::DeviceMemory memory;
            vk::raii::Buffer buffer;  // destroyed first
        };
        ctx_->defer_destruction(std::make_shared<Kept>(Kept{std::move(memory_), std::move(buffer_)}));
    }
    if (allocated_) ctx_->note_allocation(-static_cast<int64_t>(allocated_), -1);
    // memory_ is unmapped by vkFreeMemory; buffer_ is destroyed before memory_ (declaration order).
}

}  // namespace vkconv::host
