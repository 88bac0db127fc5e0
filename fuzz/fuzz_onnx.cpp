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
#include <optional>
#include <span>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/onnx.h"

const char* const fuzz::kTarget = "fuzz_onnx";

using fuzz::expect_value_or_error;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::context();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::optional<vkconv::OnnxModel> m;
    expect_value_or_error([&] { m.emplace(vkconv::load_onnx_bytes(fuzz::context(), std::span(data, size), "", "fuzz.onnx")); });
    if (!m) return 0;
    expect_value_or_error([&] { (void)m->model->summary(); });
    expect_value_or_error([&] { (void)m->model->layer_shapes(m->input_shape); });
    return 0;
}
