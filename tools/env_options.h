// tools/env_options.h: the environment variables the tools honour for experiments (the library
// itself never reads them): the convolution kernels' tile overrides, VKCONV_PACKED_PX and the
// other names of host::tile_override_names(), into ContextOptions::tiles.
#pragma once

#include "vkconv/context.h"

namespace vkconv::tools {

// `o` with its tile overrides set from the environment (each variable that is set and an integer).
ContextOptions with_env_tiles(ContextOptions o);

}  // namespace vkconv::tools
