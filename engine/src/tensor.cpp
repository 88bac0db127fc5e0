#include "vkconv/tensor.h"

#include <limits>
#include <sstream>

#include "host/buffer.h"
#include "vkconv/internal.h"
#include "host/context.h"
#include "vkconv/error.h"

namespace vkconv {

std::string shape_str(const Shape& s) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << "]";
    return o.str();
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) {
        if (d < 0) throw Error("negative dimension in shape " + shape_str(s));
        if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) throw Error("shape " + shape_str(s) + " has too many elements");
        n *= d;
    }
    return n;
}

Tensor::Tensor(Context& ctx, Shape shape) : shape_(std::move(shape)), numel_(shape_numel(shape_)) {
    // Shaders index with 32-bit signed integers.
    if (numel_ > std::numeric_limits<int32_t>::max())
        throw Error("tensor of shape " + shape_str(shape_) + " has " + std::to_string(numel_) +
                    " elements; vkconv tensors hold at most 2^31-1");
    buffer_ = std::make_shared<host::Buffer>(ctx, bytes());
}

Tensor Tensor::from_host(Context& ctx, Shape shape, std::span<const float> data) {
    Tensor t(ctx, std::move(shape));
    t.upload(data);
    return t;
}

Tensor Tensor::zeros(Context& ctx, Shape shape) {
    Tensor t(ctx, std::move(shape));
    std::vector<float> z(static_cast<size_t>(t.numel()), 0.0f);
    t.upload(z);
    return t;
}

Tensor detail::TensorAccess::over(std::shared_ptr<host::Buffer> storage, Shape shape) {
    Tensor t;
    t.shape_ = std::move(shape);
    t.numel_ = shape_numel(t.shape_);
    if (!storage || storage->size() < t.bytes())
        throw Error("tensor over storage: storage of " + std::to_string(storage ? storage->size() : 0) + " bytes is too small for shape " +
                    shape_str(t.shape_));
    t.buffer_ = std::move(storage);
    return t;
}

Tensor Tensor::wrap(Context& ctx, vk::Buffer buffer, uint64_t offset, Shape shape) {
    const int64_t numel = shape_numel(shape);
    if (numel > std::numeric_limits<int32_t>::max())
        throw Error("Tensor::wrap: shape " + shape_str(shape) + " has " + std::to_string(numel) +
                    " elements; vkconv tensors hold at most 2^31-1");
    auto storage = std::make_shared<host::Buffer>(ctx, buffer, offset, static_cast<uint64_t>(numel) * sizeof(float));
    return detail::TensorAccess::over(std::move(storage), std::move(shape));
}

host::Buffer& detail::TensorAccess::buffer(const Tensor& t) {
    if (!t.buffer_) throw Error("use of an undefined (default-constructed) Tensor");
    return *t.buffer_;
}

vk::Buffer Tensor::vk_buffer() const { return detail::buffer_of(*this).handle(); }
uint64_t Tensor::vk_offset() const { return detail::buffer_of(*this).offset(); }

void Tensor::upload(std::span<const float> data) {
    if (static_cast<int64_t>(data.size()) != numel_)
        throw Error("upload: tensor of shape " + shape_str(shape_) + " needs " + std::to_string(numel_) +
                    " values, got " + std::to_string(data.size()));
    detail::buffer_of(*this).context().upload(detail::buffer_of(*this), 0, data.data(), bytes());
}

std::vector<float> Tensor::to_host() const {
    std::vector<float> out(static_cast<size_t>(numel_));
    detail::buffer_of(*this).context().download(detail::buffer_of(*this), 0, out.data(), bytes());
    return out;
}

void Tensor::to_host(std::span<float> out) const {
    if (static_cast<int64_t>(out.size()) != numel_)
        throw Error("to_host: tensor of shape " + shape_str(shape_) + " has " + std::to_string(numel_) +
                    " values, the destination holds " + std::to_string(out.size()));
    detail::buffer_of(*this).context().download(detail::buffer_of(*this), 0, out.data(), bytes());
}

Context& Tensor::context() const { return detail::buffer_of(*this).context().facade(); }

Tensor Tensor::reshaped(Shape shape) const {
    if (shape_numel(shape) != numel_)
        throw Error("shape " + shape_str(shape) + " is invalid for a tensor of " + std::to_string(numel_) + " elements");
    Tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
}

}  // namespace vkconv
