// vkconv/image.h: images in and out, for samples and the CLI: PNG/JPEG files to float tensors,
// tensors to PNG.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkconv/npy.h"

namespace vkconv {

// An 8-bit image, row-major, `channels` interleaved (1 = gray, 3 = RGB).
struct Image8 {
    int width = 0, height = 0, channels = 0;
    std::vector<uint8_t> pixels;
};

// Decodes a PNG file into a [3, H, W] float array in [0, 1] (gray is repeated,
// alpha dropped). Untrusted input: sides above 16384, more than 2^26 pixels (8192 x 8192) and
// undecodable files are refused.
HostArray load_image(const std::string& path);
HostArray decode_image(const std::vector<uint8_t>& bytes, const std::string& name);
// Bilinear resize of a [C, H, W] array (align_corners=False, as torch.nn.functional.interpolate).
HostArray resize_bilinear(const HostArray& chw, int out_h, int out_w);
// [C, H, W] (C = 1 or 3) float in [0, 1] -> 8-bit image (values clamped).
Image8 to_image8(const HostArray& chw);
void save_png(const std::string& path, const Image8& img);

}  // namespace vkconv
