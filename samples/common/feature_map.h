// samples/common/feature_map.h: feature maps laid out as a picture grid (what the tutorials draw
// with matplotlib), for the classifier samples' --feature-maps.
#pragma once

#include <cstdint>

#include "vkconv/image.h"

namespace samples {

// Lays out the C channels of one [C, H, W] feature map as a grid of tiles, each normalised to
// its own min..max and coloured with the viridis map (matplotlib's default), each pixel
// magnified `scale` times, tiles 1 pixel apart.
vkconv::Image8 feature_map_grid(const float* chw, int64_t c, int64_t h, int64_t w, int scale = 4);

}  // namespace samples
