// tools/cli_common.h: what the `vkconv` subcommands share: how a subcommand's work reports its
// errors, telling an ONNX file from a JSON description, running a helper script, and saving
// what `tune` measured.
#pragma once

#include <functional>
#include <string>

namespace vkconv {
class Context;
}

namespace vkconv::tools {

// Runs a subcommand's work (from its CLI11 callback): an exception is one line on stderr
// ("vkconv: error: ...") and exit status 1; a non-zero status leaves through CLI::RuntimeError.
void run_subcommand(const std::function<int()>& work);

// Whether `path` names an ONNX model: the .onnx suffix, or a file starting as a ModelProto does.
bool is_onnx_file(const std::string& path);

// Runs `cmd` through the shell and returns its stdout; throws "<what> failed (status N): cmd"
// when it exits non-zero.
std::string run_capture(const std::string& cmd, const std::string& what);

// The end of a tuning run: with dry_run, says that `tuned` choices were measured and not saved;
// otherwise saves the context's tuning results (throws where the cache directory is off or not
// writable) and says where. Returns the subcommand's exit status (0).
int save_tuned(const Context& ctx, int tuned, bool dry_run);

}  // namespace vkconv::tools
