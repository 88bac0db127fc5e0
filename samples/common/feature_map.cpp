#include "common/feature_map.h"

#include <algorithm>
#include <cmath>

#include "vkconv/error.h"

namespace samples {
namespace {
// Twice the largest image side vkconv decodes (vkconv/image.h).
constexpr int64_t kMaxSide = 2 * 16384;
}  // namespace

using vkconv::Error;
using vkconv::Image8;

Image8 feature_map_grid(const float* chw, int64_t c, int64_t h, int64_t w, int scale) {
    // viridis at 9 evenly spaced points; linear in between.
    static const float kViridis[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},   {44, 113, 142}, {33, 144, 141},
                                         {39, 173, 129}, {92, 200, 99},  {170, 220, 50},  {253, 231, 37}};
    if (c <= 0 || h <= 0 || w <= 0 || scale <= 0) throw Error("feature_map_grid: empty feature map");
    const int64_t cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(c))));
    const int64_t rows = (c + cols - 1) / cols;
    const int64_t tw = w * scale, th = h * scale;
    Image8 img;
    img.channels = 3;
    img.width = static_cast<int>(cols * (tw + 1) - 1);
    img.height = static_cast<int>(rows * (th + 1) - 1);
    if (img.width > kMaxSide || img.height > kMaxSide) throw Error("feature_map_grid: picture would be too large");
    img.pixels.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
    for (int64_t ch = 0; ch < c; ++ch) {
        const float* p = chw + ch * h * w;
        const auto [mn, mx] = std::minmax_element(p, p + h * w);
        const float lo = *mn, range = *mx - *mn;
        const int64_t ox = (ch % cols) * (tw + 1), oy = (ch / cols) * (th + 1);
        for (int64_t y = 0; y < th; ++y)
            for (int64_t x = 0; x < tw; ++x) {
                const float v = p[(y / scale) * w + x / scale];
                const float t = range > 0 ? (v - lo) / range * 8.0f : 0.0f;
                const int i = std::clamp(static_cast<int>(t), 0, 7);
                const float f = std::clamp(t - static_cast<float>(i), 0.0f, 1.0f);
                uint8_t* out = &img.pixels[static_cast<size_t>(((oy + y) * img.width + ox + x) * 3)];
                for (int k = 0; k < 3; ++k)
                    out[k] = static_cast<uint8_t>(std::lround(kViridis[i][k] * (1 - f) + kViridis[i + 1][k] * f));
            }
    }
    return img;
}

}  // namespace samples
