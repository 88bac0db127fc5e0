#include "cli_common.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "vkconv/error.h"
#include "vkconv/tuning.h"

namespace vkconv::tools {

void run_subcommand(const std::function<int()>& work) {
    int rc = 0;
    try {
        rc = work();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vkconv: error: %s\n", e.what());
        rc = 1;
    }
    std::fflush(stdout);
    if (rc != 0) throw CLI::RuntimeError(rc);
}

bool is_onnx_file(const std::string& path) {
    if (path.size() >= 5 && path.substr(path.size() - 5) == ".onnx") return true;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    const int c = std::fgetc(f);
    std::fclose(f);
    return c == 0x08;  // a ModelProto starts with ir_version (field 1, varint)
}

std::string run_capture(const std::string& cmd, const std::string& what) {
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) throw Error("could not run " + cmd);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const int rc = pclose(f);
    if (rc != 0) throw Error(what + " failed (status " + std::to_string(rc) + "): " + cmd);
    return out;
}

int save_tuned(const Context& ctx, int tuned, bool dry_run) {
    if (dry_run) {
        std::printf("%d choices measured; not saved (--dry-run)\n", tuned);
        return 0;
    }
    if (!save_tuning(ctx))
        throw Error("cannot save the tuning results: the cache directory is off or not writable ('" + ctx.cache_dir() +
                    "'; set VKCONV_CACHE_DIR)");
    std::printf("%d choices saved to %s\n", tuned, tuning_path(ctx).c_str());
    return 0;
}

}  // namespace vkconv::tools
