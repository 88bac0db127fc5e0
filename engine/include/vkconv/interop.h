// vkconv/interop.h: vkconv inside a Vulkan application (a renderer, a game, a video pipeline).
//
//   vkconv::BorrowedDevice b{.instance = inst, .physical_device = gpu, .device = dev,
//                            .queue_family = family, .instance_api_version = VK_API_VERSION_1_3};
//   vkconv::Context ctx(b);                          // vkconv never destroys the app's handles
//   vkconv::Conv2d blur(ctx, 3, 3, 5, {.padding = 2, .groups = 3, .bias = false});
//   vkconv::Tensor x(ctx, {1, 3, h, w}), y(ctx, {1, 3, h, w});
//   vkconv::CommandRecorder rec(ctx, app_cmd);       // the app's command buffer, already begun
//   rec.acquire(vk::PipelineStageFlagBits::eColorAttachmentOutput, vk::AccessFlagBits::eColorAttachmentWrite);
//   vkconv::record_image_to_tensor(rec, {.view = scene_view, .format = fmt, .width = w, .height = h,
//                                        .layout = vk::ImageLayout::eShaderReadOnlyOptimal}, x);
//   blur.record(rec, x, y);
//   vkconv::record_tensor_to_image(rec, y, {.view = out_view, .format = vk::Format::eR8G8B8A8Unorm,
//                                           .width = w, .height = h, .access = vkconv::ImageAccess::Storage});
//   rec.release_to(vk::PipelineStageFlagBits::eFragmentShader, vk::AccessFlagBits::eShaderRead);
//   ... the app ends and submits app_cmd with its fence ...
//   rec.retire_after(app_fence);                     // vkconv frees its descriptor sets after it
//
// Image layout transitions stay the application's: the image must be in `layout` when the
// recorded work runs (SHADER_READ_ONLY_OPTIMAL or GENERAL to sample, GENERAL for storage).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "vkconv/command_recorder.h"
#include "vkconv/context.h"
#include "vkconv/tensor.h"

namespace vkconv {

enum class ImageAccess {
    Sampled,  // read with texelFetch through a sampler: any float-readable format, sRGB decoded
    Storage,  // imageLoad/imageStore: R8G8B8A8_UNORM, R16G16B16A16_SFLOAT or R32G32B32A32_SFLOAT views
};

// An application image view as a conversion reads or writes it (mip level 0, one layer).
struct ImageRef {
    vk::ImageView view;
    vk::Format format = vk::Format::eUndefined;  // the view's format
    uint32_t width = 0, height = 0;
    vk::ImageLayout layout = vk::ImageLayout::eGeneral;  // the image's layout when the work runs
    ImageAccess access = ImageAccess::Sampled;
};

// Image -> tensor: tensor[n, c, y, x] = image(x, y)[c] * scale[c] + bias[c], for c < C, where the
// tensor is [N, C, H, W] with 1 <= C <= 4 and n = batch_index. Image values are what a shader
// reads: UNORM in [0, 1], sRGB decoded to linear, floats as stored.
struct ImageToTensorOptions {
    std::array<float, 4> scale{1, 1, 1, 1};
    std::array<float, 4> bias{0, 0, 0, 0};
    int64_t batch_index = 0;
    // (v - mean) / std per channel, as torchvision's Normalize.
    static ImageToTensorOptions normalize(std::array<float, 4> mean, std::array<float, 4> std);
};

// Tensor -> image: image(x, y)[c] = tensor[n, c, y, x] * scale[c] + bias[c]; a 1-channel tensor
// is written as grey (R = G = B); alpha is 1 unless the tensor has 4 channels. NaN is written as
// 0; normalised formats clamp to [0, 1]. encode_srgb applies the sRGB transfer function first
// (for an sRGB image written through an R8G8B8A8_UNORM view: sRGB formats are rarely storable).
struct TensorToImageOptions {
    std::array<float, 4> scale{1, 1, 1, 1};
    std::array<float, 4> bias{0, 0, 0, 0};
    int64_t batch_index = 0;
    bool encode_srgb = false;
};

// Record a conversion (one dispatch, then a barrier, like every layer). Throw vkconv::Error,
// naming the parameter, for mismatched sizes, channel counts, formats or accesses.
void record_image_to_tensor(CommandRecorder& rec, const ImageRef& image, const Tensor& tensor,
                            const ImageToTensorOptions& options = {});
void record_tensor_to_image(CommandRecorder& rec, const Tensor& tensor, const ImageRef& image,
                            const TensorToImageOptions& options = {});

// CPU references. `rgba` is height*width*4 values as the shader reads them (row-major, RGBA);
// the results are channels*height*width tensor values, and height*width*4 values before the
// image format's conversion (clamping and rounding).
std::vector<float> image_to_tensor_reference(std::span<const float> rgba, int64_t height, int64_t width,
                                             int64_t channels, const ImageToTensorOptions& options = {});
std::vector<float> tensor_to_image_reference(std::span<const float> chw, int64_t channels, int64_t height, int64_t width,
                                             const TensorToImageOptions& options = {});
// The sRGB transfer functions (IEC 61966-2-1), as Vulkan's sRGB formats define them.
float srgb_to_linear(float s);
float linear_to_srgb(float l);

}  // namespace vkconv
