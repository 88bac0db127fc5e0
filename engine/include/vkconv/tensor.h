// vkconv/tensor.h: a float32 tensor in device memory, row-major (NCHW for images).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <vulkan/vulkan.hpp>

#include "vkconv/context.h"

namespace vkconv {

namespace host {
class Buffer;  // device memory (private)
}
namespace detail {
struct TensorAccess;  // the engine's access to the device buffer (vkconv/internal.h, in-tree only)
}

using Shape = std::vector<int64_t>;

// "[1, 3, 28, 28]", as PyTorch prints sizes.
std::string shape_str(const Shape& s);
// Product of the dimensions; throws if any is negative or the product overflows.
int64_t shape_numel(const Shape& s);

class Tensor {
public:
    Tensor() = default;
    // Device memory for `shape`, contents unspecified.
    Tensor(Context& ctx, Shape shape);
    static Tensor from_host(Context& ctx, Shape shape, std::span<const float> data);
    static Tensor zeros(Context& ctx, Shape shape);
    // A tensor over `shape`'s bytes of an application's VkBuffer from `offset` on: vkconv reads
    // and writes it in place and never frees it. The buffer needs STORAGE_BUFFER usage (and
    // TRANSFER_SRC/DST for upload()/to_host()); `offset` must be a multiple of the device's
    // minStorageBufferOffsetAlignment. The application keeps the buffer alive while tensors
    // over it, and recordings that use them, exist.
    static Tensor wrap(Context& ctx, vk::Buffer buffer, uint64_t offset, Shape shape);

    void upload(std::span<const float> data);
    std::vector<float> to_host() const;
    // The same into `out`, which holds numel() values.
    void to_host(std::span<float> out) const;

    const Shape& shape() const { return shape_; }
    int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + static_cast<int>(shape_.size()) : i)); }
    int64_t numel() const { return numel_; }
    uint64_t bytes() const { return static_cast<uint64_t>(numel_) * sizeof(float); }
    bool defined() const { return buffer_ != nullptr; }
    // The Vulkan buffer holding the tensor and the byte offset of its first element there, for an
    // application that copies into or out of it in its own command buffers (TRANSFER_SRC/DST
    // usage; a recording that writes the tensor must have finished before the copy reads it).
    vk::Buffer vk_buffer() const;
    uint64_t vk_offset() const;
    Context& context() const;
    // Same storage seen with another shape of the same number of elements (like .view()).
    Tensor reshaped(Shape shape) const;

private:
    friend struct detail::TensorAccess;
    std::shared_ptr<host::Buffer> buffer_;
    Shape shape_;
    int64_t numel_ = 0;
};

}  // namespace vkconv
