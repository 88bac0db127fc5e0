// vkconv/tuning.h: measured algorithm choices (`vkconv tune`).
//
// For a device and driver, the fastest Conv2dAlgorithm measured for a convolution and input
// shape. Kept as JSON in the context's cache directory (ContextOptions::cache_dir, default
// ~/.cache/vkconv): tuning-<pipelineCacheUUID>.json, which also names the device and driver
// version and is ignored when they differ. Conv2d's Auto uses a tuned choice where one exists
// (and the algorithm still supports the convolution), else its heuristics. The file is untrusted
// input: unreadable entries, unknown algorithm names and foreign devices are skipped.
#pragma once

#include <optional>
#include <string>

#include "vkconv/conv2d.h"

namespace vkconv {

// "in=64 out=64 k=3x3 s=1x1 p=1,1,1,1 d=1x1 g=1 zeros bias=1 input=[1, 64, 56, 56]" (padding
// resolved for the input; everything that can change which algorithm is fastest).
std::string conv2d_tuning_key(const Conv2dParams& params, const Shape& input_shape);
// The file for this context's device ("" when the cache directory is off).
std::string tuning_path(const Context& ctx);
std::optional<Conv2dAlgorithm> tuned_conv2d_algorithm(const Context& ctx, const Conv2dParams& params, const Shape& input_shape);
// Remembers a choice (in memory, for every context on this device), and writes all choices
// to the file, merged with what it held; save returns false when there is no cache directory
// or the file cannot be written.
void set_tuned_conv2d_algorithm(const Context& ctx, const Conv2dParams& params, const Shape& input_shape, Conv2dAlgorithm a);
bool save_tuning(const Context& ctx);

}  // namespace vkconv
