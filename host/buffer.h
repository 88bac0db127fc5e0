// host/buffer.h: a storage buffer and the device memory behind it, owned together.
// Where the context has host-visible device memory (integrated GPUs, lavapipe) the memory is
// mapped for the buffer's lifetime and copies are plain memcpy; otherwise it is device-local
// and Context::upload/download go through the context's reused staging buffer.
// Device buffers can also be read through uniform texel buffer views (texelFetch on a
// samplerBuffer) where the device reads R32F texel buffers: texel_views() says whether.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv::host {

class Context;

enum class MemoryKind {
    Device,   // device-local; host-visible too where the context allows it
    Staging,  // host-visible and coherent, for transfers
};

class Buffer {
public:
    // `bytes` may be 0: a minimal buffer is made so that it can still be bound.
    Buffer(Context& ctx, uint64_t bytes, MemoryKind kind = MemoryKind::Device);
    // A range [offset, offset + bytes) of a buffer someone else owns (an application's
    // VkBuffer): bound and copied like any other, never destroyed. The buffer needs
    // STORAGE_BUFFER usage (and TRANSFER_SRC/DST for uploads and downloads); `offset` must be a
    // multiple of minStorageBufferOffsetAlignment. The owner keeps it alive while vkconv uses it.
    Buffer(Context& ctx, vk::Buffer borrowed, uint64_t offset, uint64_t bytes);
    ~Buffer();
    Buffer(Buffer&&) noexcept;
    Buffer& operator=(Buffer&&) = delete;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    vk::Buffer handle() const { return handle_; }
    uint64_t offset() const { return offset_; }      // where this buffer's bytes start in handle()
    uint64_t size() const { return size_; }          // as requested
    bool borrowed() const { return !*buffer_; }
    uint64_t allocated() const { return allocated_; } // bytes of device memory held
    void* mapped() const { return mapped_; }         // nullptr when not host-visible
    Context& context() const { return *ctx_; }
    // Whether the buffer was made with uniform-texel-buffer usage (view() works).
    bool texel_views() const { return texel_views_; }
    // A uniform texel buffer view of the first `texels` texels in `format` (R32F or RGBA32F),
    // made on first use and kept for the buffer's lifetime; throws when the buffer has no texel
    // usage or the view would exceed maxTexelBufferElements or the buffer.
    vk::BufferView view(vk::Format format, uint64_t texels) const;

private:
    Context* ctx_;
    uint64_t size_ = 0;
    uint64_t allocated_ = 0;
    uint64_t offset_ = 0;
    vk::Buffer handle_;
    vk::raii::Buffer buffer_{nullptr};
    vk::raii::DeviceMemory memory_{nullptr};
    void* mapped_ = nullptr;
    bool texel_views_ = false;
    // Destroyed before buffer_ (declared after it).
    std::unique_ptr<std::mutex> views_mutex_ = std::make_unique<std::mutex>();
    mutable std::vector<std::pair<std::pair<vk::Format, uint64_t>, vk::raii::BufferView>> views_;
};

}  // namespace vkconv::host
