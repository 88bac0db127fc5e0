// interop.cpp: image <-> tensor conversions (shaders/image_*.comp) and their CPU references.
#include "vkconv/interop.h"
#include "vkconv/internal.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "host/command.h"
#include "host/context.h"
#include "host/pipeline.h"
#include "vkconv/error.h"

namespace vkconv {
namespace {

struct ImageTensorPushConstants {
    float scale[4];
    float bias[4];
    int32_t width, height;
    int32_t batch_index;
    int32_t unused = 0;
};

const char* storage_shader(vk::Format f) {
    switch (f) {
        case vk::Format::eR8G8B8A8Unorm: return "image_storage_rgba8";
        case vk::Format::eR16G16B16A16Sfloat: return "image_storage_rgba16f";
        case vk::Format::eR32G32B32A32Sfloat: return "image_storage_rgba32f";
        default: return nullptr;
    }
}

// Checks the pair and returns the push constants; `what` is the calling function's name.
ImageTensorPushConstants check(const char* what, const ImageRef& image, const Tensor& tensor, int64_t batch_index,
                               const std::array<float, 4>& scale, const std::array<float, 4>& bias) {
    const std::string fn = what;
    if (!image.view) throw Error(fn + ": image.view is VK_NULL_HANDLE");
    if (image.width == 0 || image.height == 0)
        throw Error(fn + ": image.width and image.height must be positive, but got " + std::to_string(image.width) + "x" +
                    std::to_string(image.height));
    const Shape& s = tensor.shape();
    if (s.size() != 4)
        throw Error(fn + ": expected a 4-D tensor [N, C, H, W], but got a tensor of shape " + shape_str(s));
    if (s[1] < 1 || s[1] > 4)
        throw Error(fn + ": the tensor's channels (dim 1) must be 1 to 4 (image components), but got " + std::to_string(s[1]));
    if (s[2] != image.height || s[3] != image.width)
        throw Error(fn + ": the tensor's size " + shape_str(s) + " does not match the image's " + std::to_string(image.width) +
                    "x" + std::to_string(image.height) + " (W x H); expected H = " + std::to_string(image.height) +
                    ", W = " + std::to_string(image.width));
    if (batch_index < 0 || batch_index >= s[0])
        throw Error(fn + ": batch_index " + std::to_string(batch_index) + " is out of range for a batch of " + std::to_string(s[0]));
    ImageTensorPushConstants pc{};
    for (int c = 0; c < 4; ++c) {
        pc.scale[c] = scale[static_cast<size_t>(c)];
        pc.bias[c] = bias[static_cast<size_t>(c)];
    }
    pc.width = static_cast<int32_t>(image.width);
    pc.height = static_cast<int32_t>(image.height);
    pc.batch_index = static_cast<int32_t>(batch_index);
    return pc;
}

bool format_supports(Context& ctx, vk::Format f, vk::FormatFeatureFlags need) {
    const auto props = host::of(ctx).physical_device().getFormatProperties(f);
    return (props.optimalTilingFeatures & need) == need || (props.linearTilingFeatures & need) == need;
}

void dispatch(CommandRecorder& rec, const char* shader, std::vector<uint32_t> spec,
              const ImageRef& image, const Tensor& tensor, const ImageTensorPushConstants& pc) {
    Context& ctx = host::of(rec).context().facade();
    auto pipeline = host::of(ctx).pipeline(shader, spec);
    const host::BufferBinding bindings[] = {host::BufferBinding(image.view, image.layout), detail::buffer_of(tensor)};
    host::of(rec).keep_alive(detail::storage_of(tensor));
    host::of(rec).keep_alive(pipeline);
    host::of(rec).dispatch(*pipeline, bindings, pc, (image.width + 7) / 8, (image.height + 7) / 8, 1);
    host::of(rec).barrier();
}

}  // namespace

ImageToTensorOptions ImageToTensorOptions::normalize(std::array<float, 4> mean, std::array<float, 4> std) {
    ImageToTensorOptions o;
    for (size_t c = 0; c < 4; ++c) {
        if (!(std[c] > 0.0f) || !std::isfinite(std[c]))
            throw Error("ImageToTensorOptions::normalize: std[" + std::to_string(c) + "] must be positive and finite, but got " +
                        std::to_string(std[c]));
        o.scale[c] = 1.0f / std[c];
        o.bias[c] = -mean[c] / std[c];
    }
    return o;
}

void record_image_to_tensor(CommandRecorder& rec, const ImageRef& image, const Tensor& tensor, const ImageToTensorOptions& o) {
    const auto pc = check("record_image_to_tensor", image, tensor, o.batch_index, o.scale, o.bias);
    const uint32_t channels = static_cast<uint32_t>(tensor.dim(1));
    Context& ctx = host::of(rec).context().facade();
    if (image.access == ImageAccess::Sampled) {
        if (!format_supports(ctx, image.format, vk::FormatFeatureFlagBits::eSampledImage))
            throw Error("record_image_to_tensor: the device cannot sample image.format " + vk::to_string(image.format));
        dispatch(rec, "image_sampled_to_tensor", {channels, 0u}, image, tensor, pc);
    } else {
        const char* shader = storage_shader(image.format);
        if (!shader)
            throw Error("record_image_to_tensor: storage access reads R8G8B8A8_UNORM, R16G16B16A16_SFLOAT or "
                        "R32G32B32A32_SFLOAT views, but image.format is " + vk::to_string(image.format) +
                        " (sample it instead: ImageAccess::Sampled)");
        if (!format_supports(ctx, image.format, vk::FormatFeatureFlagBits::eStorageImage))
            throw Error("record_image_to_tensor: the device has no storage-image support for " + vk::to_string(image.format));
        dispatch(rec, shader, {channels, 0u, 1u}, image, tensor, pc);
    }
}

void record_tensor_to_image(CommandRecorder& rec, const Tensor& tensor, const ImageRef& image, const TensorToImageOptions& o) {
    const auto pc = check("record_tensor_to_image", image, tensor, o.batch_index, o.scale, o.bias);
    if (image.access != ImageAccess::Storage)
        throw Error("record_tensor_to_image: image.access must be ImageAccess::Storage (a sampled image cannot be written)");
    const char* shader = storage_shader(image.format);
    if (!shader)
        throw Error("record_tensor_to_image: storage access writes R8G8B8A8_UNORM, R16G16B16A16_SFLOAT or R32G32B32A32_SFLOAT "
                    "views, but image.format is " + vk::to_string(image.format) +
                    " (for an sRGB image, write an R8G8B8A8_UNORM view with encode_srgb = true)");
    if (!format_supports(host::of(rec).context().facade(), image.format, vk::FormatFeatureFlagBits::eStorageImage))
        throw Error("record_tensor_to_image: the device has no storage-image support for " + vk::to_string(image.format));
    if (o.encode_srgb && image.format != vk::Format::eR8G8B8A8Unorm)
        throw Error("record_tensor_to_image: encode_srgb needs an R8G8B8A8_UNORM view, but image.format is " +
                    vk::to_string(image.format));
    const uint32_t channels = static_cast<uint32_t>(tensor.dim(1));
    dispatch(rec, shader, {channels, o.encode_srgb ? 1u : 0u, 0u}, image, tensor, pc);
}

float srgb_to_linear(float s) {
    return s <= 0.04045f ? s / 12.92f : std::pow((s + 0.055f) / 1.055f, 2.4f);
}

float linear_to_srgb(float l) {
    return l <= 0.0031308f ? 12.92f * l : 1.055f * std::pow(l, 1.0f / 2.4f) - 0.055f;
}

std::vector<float> image_to_tensor_reference(std::span<const float> rgba, int64_t height, int64_t width, int64_t channels,
                                             const ImageToTensorOptions& o) {
    if (channels < 1 || channels > 4) throw Error("image_to_tensor_reference: channels must be 1 to 4");
    if (static_cast<int64_t>(rgba.size()) != height * width * 4)
        throw Error("image_to_tensor_reference: expected height*width*4 values");
    std::vector<float> out(static_cast<size_t>(channels * height * width));
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < height * width; ++i)
            out[static_cast<size_t>(c * height * width + i)] =
                rgba[static_cast<size_t>(i * 4 + c)] * o.scale[static_cast<size_t>(c)] + o.bias[static_cast<size_t>(c)];
    return out;
}

std::vector<float> tensor_to_image_reference(std::span<const float> chw, int64_t channels, int64_t height, int64_t width,
                                             const TensorToImageOptions& o) {
    if (channels < 1 || channels > 4) throw Error("tensor_to_image_reference: channels must be 1 to 4");
    if (static_cast<int64_t>(chw.size()) != channels * height * width)
        throw Error("tensor_to_image_reference: expected channels*height*width values");
    std::vector<float> out(static_cast<size_t>(height * width * 4));
    for (int64_t i = 0; i < height * width; ++i) {
        float v[4] = {0, 0, 0, 1};
        for (int64_t c = 0; c < channels; ++c)
            v[c] = chw[static_cast<size_t>(c * height * width + i)] * o.scale[static_cast<size_t>(c)] + o.bias[static_cast<size_t>(c)];
        if (channels == 1) v[1] = v[2] = v[0];
        for (float& x : v)
            if (std::isnan(x)) x = 0;
        if (o.encode_srgb)
            for (int c = 0; c < 3; ++c) v[c] = linear_to_srgb(std::clamp(v[c], 0.0f, 1.0f));
        for (int c = 0; c < 4; ++c) out[static_cast<size_t>(i * 4 + c)] = v[c];
    }
    return out;
}

}  // namespace vkconv
