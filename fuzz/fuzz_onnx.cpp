// fuzz_onnx: load_onnx_bytes on arbitrary bytes (the protobuf parse, tensor decoding, host
// folding of shape subgraphs and the mapping onto layers), then summary() and, for the input
// shape the model was built for, layer_shapes().
// Contract: return normally or throw vkconv::Error (OnnxUnsupported is one). Anything else (a
// sanitizer report, another exception type) is a finding and aborts.
//
// One Context (validation off) is created once per process and shared by every input. Loading
// builds layers (host-side parameters) only; no forward pass runs. External data is refused
// (no base folder), so the target never reads other files.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>

#include "vkconv/context.h"
#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/onnx.h"

const char* const fuzz::kTarget = "fuzz_onnx";

namespace {

using fuzz::expect_value_or_error;
using fuzz::finding;

vkconv::Context* g_ctx = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    try {
        g_ctx = new vkconv::Context(vkconv::ContextOptions{});  // leaked on purpose, as fuzz_model_json
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_onnx: cannot create a Vulkan context: %s\n", e.what());
        std::exit(2);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::optional<vkconv::OnnxModel> m;
    expect_value_or_error([&] { m.emplace(vkconv::load_onnx_bytes(*g_ctx, std::span(data, size), "", "fuzz.onnx")); });
    if (!m) return 0;
    expect_value_or_error([&] { (void)m->model->summary(); });
    expect_value_or_error([&] { (void)m->model->layer_shapes(m->input_shape); });
    return 0;
}
