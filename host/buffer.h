// host/buffer.h: the one buffer type: a buffer and the device memory behind it, owned together,
// its usage given by its MemoryKind. Where the context has host-visible device memory
// (integrated GPUs, lavapipe) device memory is mapped for the buffer's lifetime and copies are
// plain memcpy; otherwise it is device-local and Context::upload/download (the one staging
// helper) go through the context's reused staging buffer.
// Device buffers can also be read through uniform texel buffer views (texelFetch on a
// samplerBuffer) where the device reads R32F texel buffers: texel_views() says whether. Texel
// buffers always can, in R32F, RGBA32F and RGBA16F, and are written through storage texel views
// (imageStore) where the device writes RGBA32F texel buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv {
class Context;
}

namespace vkconv::host {

class Context;

enum class MemoryKind {
    Device,   // device-local; host-visible too where the context allows it
    Staging,  // host-visible and coherent, for transfers
    Texel,    // Device memory with uniform (and, where the device can, storage) texel-buffer usage
};

class Buffer {
public:
    // `bytes` may be 0: a minimal buffer is made so that it can still be bound.
    Buffer(Context& ctx, uint64_t bytes, MemoryKind kind = MemoryKind::Device);
    Buffer(vkconv::Context& ctx, uint64_t bytes, MemoryKind kind = MemoryKind::Device);
    // A range [offset, offset + bytes) of a buffer someone else owns (an application's
    // VkBuffer): bound and copied like any other, never destroyed. The buffer needs
    // STORAGE_BUFFER usage (and TRANSFER_SRC/DST for uploads and downloads); `offset` must be a
    // multiple of minStorageBufferOffsetAlignment. The owner keeps it alive while vkconv uses it.
    Buffer(Context& ctx, vk::Buffer borrowed, uint64_t offset, uint64_t bytes);
    Buffer(vkconv::Context& ctx, vk::Buffer borrowed, uint64_t offset, uint64_t bytes);
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
    // A texel buffer view of the first `texels` texels in `format` (R32F or RGBA32F; RGBA16F, 8-byte
    // texels that texelFetch widens to fp32, on Texel buffers), the whole buffer when 0, made on
    // first use and kept for the buffer's lifetime (thread-safe); throws when the buffer has no
    // texel usage or the view would exceed maxTexelBufferElements or the buffer.
    vk::BufferView view(vk::Format format, uint64_t texels = 0) const;

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
    MemoryKind kind_ = MemoryKind::Device;
    // Destroyed before buffer_ (declared after it).
    std::unique_ptr<std::mutex> views_mutex_ = std::make_unique<std::mutex>();
    mutable std::vector<std::pair<std::pair<vk::Format, uint64_t>, vk::raii::BufferView>> views_;
};

// A Buffer of MemoryKind::Texel: Conv2d's fast paths keep their transformed weights, packed inputs
// and scratch in these.
class TexelBuffer : public Buffer {
public:
    TexelBuffer(Context& ctx, uint64_t bytes) : Buffer(ctx, bytes, MemoryKind::Texel) {}
    TexelBuffer(vkconv::Context& ctx, uint64_t bytes) : Buffer(ctx, bytes, MemoryKind::Texel) {}
    // Context::upload from the buffer's start.
    void upload(const void* data, uint64_t bytes);
};

}  // namespace vkconv::host
