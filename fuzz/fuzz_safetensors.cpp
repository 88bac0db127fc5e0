// fuzz_safetensors: parse_safetensors on arbitrary bytes.
// Contract: return normally with consistent tensors, or throw vkconv::Error. Anything else (a
// sanitizer report, another exception type, a tensor whose data disagrees with its shape, a
// dtype map that does not match the tensors) is a finding and aborts.
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/safetensors.h"

const char* const fuzz::kTarget = "fuzz_safetensors";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fuzz;
    expect_value_or_error([&] {
        std::map<std::string, std::string> dtypes;
        const auto tensors = vkconv::parse_safetensors(std::span<const uint8_t>(data, size), "fuzz.safetensors", &dtypes);
        if (dtypes.size() != tensors.size()) finding("dtype map and tensors differ in size");
        uint64_t total = 0;
        for (const auto& [name, a] : tensors) {
            if (name == "__metadata__") finding("__metadata__ returned as a tensor");
            if (!dtypes.count(name)) finding("a tensor without a dtype");
            check_array(a);
            total += a.data.size();
        }
        // The tensors tile the data buffer and every dtype takes at least 2 bytes per element.
        if (total > size / 2) finding("more elements than the file can hold");
    });
    return 0;
}
