// host/texel_buffer.cpp: texel-buffer formats and TexelBuffer.
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

namespace {
bool hidden_format(const ContextOptions& o, vk::Format format) {
    const auto& h = o.limit_overrides.hidden_texel_formats;
    return std::find(h.begin(), h.end(), format) != h.end();
}
}  // namespace

bool Context::uniform_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eUniformTexelBuffer);
}

bool Context::storage_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eStorageTexelBuffer);
}

TexelBuffer::TexelBuffer(Context& ctx, uint64_t bytes) : ctx_(&ctx), size_(bytes) {
    const auto& info = ctx.info();
    ctx.check_usable();
    if (bytes > info.max_memory_allocation_size)
        throw Error("texel buffer of " + std::to_string(bytes) + " bytes exceeds the device's maxMemoryAllocationSize (" +
                    std::to_string(info.max_memory_allocation_size) + " bytes)");
    const uint64_t request = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
    auto usage = vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eUniformTexelBuffer |
                 vk::BufferUsageFlagBits::eTransferSrc | vk::BufferUsageFlagBits::eTransferDst;
    if (ctx.storage_texel_format(vk::Format::eR32G32B32A32Sfloat)) usage |= vk::BufferUsageFlagBits::eStorageTexelBuffer;
    const auto& dev = ctx.device();
    try {
        buffer_ = vk::raii::Buffer(dev, vk::BufferCreateInfo({}, request, usage, vk::SharingMode::eExclusive), ctx.allocator());
        const auto req = buffer_.getMemoryRequirements();
        const bool map = ctx.host_visible_device_memory();
        const auto required = map ? vk::MemoryPropertyFlagBits::eDeviceLocal | vk::MemoryPropertyFlagBits::eHostVisible |
                                        vk::MemoryPropertyFlagBits::eHostCoherent
                                  : vk::MemoryPropertyFlags(vk::MemoryPropertyFlagBits::eDeviceLocal);
        memory_ = ctx.allocate_memory(req.size, ctx.memory_type(req.memoryTypeBits, required),
                                      "texel buffer of " + std::to_string(bytes) + " bytes");
        buffer_.bindMemory(*memory_, 0);
        if (map) mapped_ = memory_.mapMemory(0, VK_WHOLE_SIZE);
        allocated_ = req.size;
    } catch (const vk::SystemError& e) {
        ctx.rethrow_vulkan_error(e, "creating a texel buffer of " + std::to_string(bytes) + " bytes");
    }
    ctx.note_allocation(static_cast<int64_t>(allocated_), 1);
}

TexelBuffer::~TexelBuffer() {
    if (ctx_->defer_destructions()) {
        // Work that was abandoned (fence timeout) may still read the buffer: keep it until the
        // context is destroyed.
        struct Kept {
            vk::raii::DeviceMemory memory;
            vk::raii::Buffer buffer;
            decltype(views_) views;  // destroyed first
        };
        ctx_->defer_destruction(std::make_shared<Kept>(Kept{std::move(memory_), std::move(buffer_), std::move(views_)}));
    }
    views_.clear();
    if (allocated_) ctx_->note_allocation(-static_cast<int64_t>(allocated_), -1);
}

vk::BufferView TexelBuffer::view(vk::Format format, uint64_t texels) {
    const uint64_t texel_bytes = format == vk::Format::eR32G32B32A32Sfloat   ? 16
                                 : format == vk::Format::eR16G16B16A16Sfloat ? 8
                                 : format == vk::Format::eR32Sfloat          ? 4
                                                                             : 0;
    if (texel_bytes == 0) throw Error("TexelBuffer: unsupported view format " + vk::to_string(format));
    // "Whole buffer" is resolved before the look-up: keyed by 0, every call made a new view that
    // lived as long as the buffer (about 1 KiB per forward pass, found by heaptrack on the soak).
    if (texels == 0) texels = std::max<uint64_t>(1, size_ / texel_bytes);
    for (const auto& [k, v] : views_)
        if (k.first == format && k.second == texels) return *v;
    if (texels > ctx_->info().max_texel_buffer_elements)
        throw Error("TexelBuffer: a view of " + std::to_string(texels) + " texels exceeds maxTexelBufferElements (" +
                    std::to_string(ctx_->info().max_texel_buffer_elements) + ")");
    if (texels * texel_bytes > std::max<uint64_t>(16, (size_ + 15) / 16 * 16)) throw Error("TexelBuffer: view larger than the buffer");
    try {
        views_.emplace_back(std::make_pair(format, texels),
                            vk::raii::BufferView(ctx_->device(), vk::BufferViewCreateInfo({}, *buffer_, format, 0, texels * texel_bytes),
                                                 ctx_->allocator()));
    } catch (const vk::SystemError& e) {
        ctx_->rethrow_vulkan_error(e, "creating a texel buffer view");
    }
    return *views_.back().second;
}

void TexelBuffer::upload(const void* data, uint64_t bytes) {
    if (bytes > size_) throw Error("TexelBuffer::upload: range exceeds the buffer's size");
    if (bytes == 0) return;
    ctx_->check_usable();
    ++ctx_->host_transfers_;
    if (mapped_) {
        std::memcpy(mapped_, data, bytes);
        return;
    }
    std::lock_guard lock(ctx_->staging_mutex_);
    auto& staging = ctx_->staging_;
    if (!staging || staging->size() < bytes) {
        staging.reset();
        staging = std::make_unique<Buffer>(*ctx_, bytes, MemoryKind::Staging);
    }
    std::memcpy(staging->mapped(), data, bytes);
    ctx_->transfer(staging->handle(), *buffer_, 0, bytes, true);
}

}  // namespace vkconv::host
