#include "cli_common.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

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

}  // namespace vkconv::tools
