// tools/cli_common.h: what the `vkconv` subcommands share: how a subcommand's work reports its
// errors, and telling an ONNX file from a JSON description.
#pragma once

#include <functional>
#include <string>

namespace vkconv::tools {

// Runs a subcommand's work (from its CLI11 callback): an exception is one line on stderr
// ("vkconv: error: ...") and exit status 1; a non-zero status leaves through CLI::RuntimeError.
void run_subcommand(const std::function<int()>& work);

// Whether `path` names an ONNX model: the .onnx suffix, or a file starting as a ModelProto does.
bool is_onnx_file(const std::string& path);

}  // namespace vkconv::tools
