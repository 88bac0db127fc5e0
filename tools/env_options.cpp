#include "env_options.h"

#include <cstdlib>
#include <string>

#include "host/device_policy.h"

namespace vkconv::tools {

ContextOptions with_env_tiles(ContextOptions o) {
    for (const auto& name : host::tile_override_names()) {
        const char* e = std::getenv(name.c_str());
        if (!e || !*e) continue;
        // As before the typed option: atoi's value; out-of-range values fall back to the default.
        host::set_tile_override(o.tiles, name, std::atoi(e));
    }
    return o;
}

}  // namespace vkconv::tools
