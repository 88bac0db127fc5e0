// fuzz_npy: parse_npy and parse_npy_converting on arbitrary bytes.
// Contract: return normally with a consistent array, or throw vkconv::Error. Anything else (a
// sanitizer report, another exception type, an array whose data disagrees with its shape) is
// a finding and aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/npy.h"

const char* const fuzz::kTarget = "fuzz_npy";

namespace {

using fuzz::expect_value_or_error;
using fuzz::finding;

void check(const vkconv::HostArray& a) {
    if (a.shape.size() > 64) finding("more than 64 dimensions accepted");
    int64_t numel = 0;
    try {
        numel = a.numel();
    } catch (const vkconv::Error&) {
        finding("accepted an array whose shape has no valid element count");
    }
    if (static_cast<uint64_t>(numel) != a.data.size()) finding("data size disagrees with the shape");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> bytes(data, size);
    expect_value_or_error([&] { check(vkconv::parse_npy(bytes, "fuzz.npy")); });
    expect_value_or_error([&] {
        std::string dtype;
        const vkconv::HostArray a = vkconv::parse_npy_converting(bytes, "fuzz.npy", &dtype);
        check(a);
        if (dtype != "<f4" && dtype != "<f8" && dtype != "<i4" && dtype != "<i8") finding("unexpected dtype accepted");
    });
    return 0;
}
