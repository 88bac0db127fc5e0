// tools/soak.h: `vkconv soak`, SimpleCNN forward passes (batch 1 and 64 alternating) checking
// that the resident set and the context's device memory stop growing after warm-up.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace vkconv::tools {

// Adds the `soak` subcommand to `app` (runs from its callback; failure: exit status 1).
void register_soak(CLI::App& app, std::string& device);

}  // namespace vkconv::tools
