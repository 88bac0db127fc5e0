// fuzz_npy: parse_npy and parse_npy_converting on arbitrary bytes.
// Contract: return normally with a consistent array, or throw vkconv::Error. Anything else (a
// sanitizer report, another exception type, an array whose data disagrees with its shape) is
// a finding and aborts.
#include <cstdint>
#include <span>
#include <string>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/npy.h"

const char* const fuzz::kTarget = "fuzz_npy";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> bytes(data, size);
    fuzz::expect_value_or_error([&] { fuzz::check_array(vkconv::parse_npy(bytes, "fuzz.npy")); });
    fuzz::expect_value_or_error([&] {
        std::string dtype;
        const vkconv::HostArray a = vkconv::parse_npy_converting(bytes, "fuzz.npy", &dtype);
        fuzz::check_array(a);
        if (dtype != "<f4" && dtype != "<f8" && dtype != "<i4" && dtype != "<i8") fuzz::finding("unexpected dtype accepted");
    });
    return 0;
}
