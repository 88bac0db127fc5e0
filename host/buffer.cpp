#include "host/buffer.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "host/context.h"
#include "vkconv/error.h"

namespace vkconv::host {

Buffer::Buffer(vkconv::Context& ctx, uint64_t bytes, MemoryKind kind) : Buffer(of(ctx), bytes, kind) {}
Buffer::Buffer(vkconv::Context& ctx, vk::Buffer borrowed, uint64_t offset, uint64_t bytes)
    : Buffer(of(ctx), borrowed, offset, bytes) {}

Buffer::Buffer(Context& ctx, uint64_t bytes, MemoryKind kind) : ctx_(&ctx), size_(bytes), kind_(kind) {
    const auto& info = ctx.info();
    ctx.check_usable();
    const bool texel = kind == MemoryKind::Texel;
    if (bytes > info.max_memory_allocation_size)
        throw Error(std::string(texel ? "texel buffer" : "a buffer") + " of " + std::to_string(bytes) +
                    " bytes exceeds the device's maxMemoryAllocationSize (" + std::to_string(info.max_memory_allocation_size) + " bytes)");
    // Vulkan has no empty buffers; round up to a whole vec4 so that any binding is valid.
    const uint64_t request = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
    auto usage = vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eTransferSrc |
                 vk::BufferUsageFlagBits::eTransferDst;
    // Device buffers may also be read as uniform texel buffers, where the device can.
    if (kind == MemoryKind::Device && ctx.uniform_texel_format(vk::Format::eR32Sfloat)) {
        usage |= vk::BufferUsageFlagBits::eUniformTexelBuffer;
        texel_views_ = true;
    }
    if (texel) {
        usage |= vk::BufferUsageFlagBits::eUniformTexelBuffer;
        if (ctx.storage_texel_format(vk::Format::eR32G32B32A32Sfloat)) usage |= vk::BufferUsageFlagBits::eStorageTexelBuffer;
        texel_views_ = true;
    }
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
        memory_ = ctx.allocate_memory(req.size, type,
                                      std::string(kind == MemoryKind::Staging ? "staging buffer" : texel ? "texel buffer" : "buffer") +
                                          " of " + std::to_string(bytes) + " bytes");
        buffer_.bindMemory(*memory_, 0);
        if (map) mapped_ = memory_.mapMemory(0, VK_WHOLE_SIZE);
        allocated_ = req.size;
    } catch (const vk::SystemError& e) {
        // buffer_ and memory_ (when made) are released by their destructors: nothing leaks.
        ctx.rethrow_vulkan_error(e, std::string(texel ? "creating a texel buffer of " : "creating a buffer of ") + std::to_string(bytes) +
                                        " bytes");
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
      memory_(std::move(o.memory_)), mapped_(o.mapped_), texel_views_(o.texel_views_), kind_(o.kind_),
      views_mutex_(std::make_unique<std::mutex>()), views_(std::move(o.views_)) {
    o.allocated_ = 0;
    o.mapped_ = nullptr;
}

vk::BufferView Buffer::view(vk::Format format, uint64_t texels) const {
    if (!texel_views_) throw Error("Buffer::view: the buffer was made without uniform-texel-buffer usage");
    const uint64_t texel_bytes = format == vk::Format::eR32G32B32A32Sfloat                           ? 16
                                 : format == vk::Format::eR16G16B16A16Sfloat && kind_ == MemoryKind::Texel ? 8
                                 : format == vk::Format::eR32Sfloat                                    ? 4
                                                                                                       : 0;
    if (texel_bytes == 0) throw Error("Buffer::view: unsupported view format " + vk::to_string(format));
    // "Whole buffer" is resolved before the look-up, so that the key is what was made (keyed by
    // 0, every call made a new view that lived as long as the buffer).
    if (texels == 0) texels = std::max<uint64_t>(1, size_ / texel_bytes);
    std::lock_guard lock(*views_mutex_);
    for (const auto& [k, v] : views_)
        if (k.first == format && k.second == texels) return *v;
    if (texels > ctx_->info().max_texel_buffer_elements)
        throw Error("Buffer::view: a view of " + std::to_string(texels) + " texels exceeds maxTexelBufferElements (" +
                    std::to_string(ctx_->info().max_texel_buffer_elements) + ")");
    if (texels * texel_bytes > std::max<uint64_t>(16, (size_ + 15) / 16 * 16)) throw Error("Buffer::view: view larger than the buffer");
    try {
        views_.emplace_back(std::make_pair(format, texels),
                            vk::raii::BufferView(ctx_->device(), vk::BufferViewCreateInfo({}, *buffer_, format, 0, texels * texel_bytes),
                                                 ctx_->allocator()));
    } catch (const vk::SystemError& e) {
        ctx_->rethrow_vulkan_error(e, "creating a texel buffer view");
    }
    return *views_.back().second;
}

Buffer::~Buffer() {
    if (*buffer_ && ctx_->defer_destructions()) {
        // Work that was abandoned (fence timeout) may still use the buffer: keep it until the
        // context is destroyed (after vkDeviceWaitIdle).
        struct Kept {
            vk::raii::DeviceMemory memory;
            vk::raii::Buffer buffer;
            decltype(views_) views;  // destroyed first
        };
        ctx_->defer_destruction(std::make_shared<Kept>(Kept{std::move(memory_), std::move(buffer_), std::move(views_)}));
    }
    views_.clear();
    if (allocated_) ctx_->note_allocation(-static_cast<int64_t>(allocated_), -1);
    // memory_ is unmapped by vkFreeMemory; buffer_ is destroyed before memory_ (declaration order).
}

void TexelBuffer::upload(const void* data, uint64_t bytes) { context().upload(*this, 0, data, bytes); }

}  // namespace vkconv::host
