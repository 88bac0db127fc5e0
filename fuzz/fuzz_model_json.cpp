// fuzz_model_json: model_from_json on arbitrary text, then what a caller does next without
// running the model: summary(), parameter_count() and, when the file gives an input_shape,
// layer_shapes() for one sample and for a batch of 2.
// Contract: return normally or throw vkconv::Error. Anything else (a sanitizer report, another
// exception type) is a finding and aborts.
//
// One Context (lavapipe or whatever device VKCONV_DEVICE / the default rule picks; validation
// off) is created once per process in LLVMFuzzerInitialize and shared by every input. Building
// a model only creates layers (host-side parameters); no device memory is touched until a
// forward pass, which this target does not run.
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/model_json.h"

const char* const fuzz::kTarget = "fuzz_model_json";

using fuzz::expect_value_or_error;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::context();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    vkconv::ModelDescription desc;
    expect_value_or_error([&] { desc = vkconv::model_from_json(fuzz::context(), text, "fuzz.json", double(1 << 25)); });  // at most 128 MiB of float32
    if (!desc.model) return 0;
    expect_value_or_error([&] { (void)desc.model->summary(); });
    expect_value_or_error([&] { (void)desc.model->parameter_count(); });
    if (!desc.input_shape.empty()) {
        expect_value_or_error([&] { (void)desc.model->layer_shapes(desc.input_shape); });
        vkconv::Shape batched = desc.input_shape;
        batched.insert(batched.begin(), 2);
        expect_value_or_error([&] { (void)desc.model->layer_shapes(batched); });
    }
    return 0;
}
