// fuzz_png: decode_image (PNG through stb_image) on arbitrary bytes.
// Contract: return a [3, H, W] array with 1 <= H, W <= 16384 and values in [0, 1], or throw
// vkconv::Error. Anything else (a sanitizer report inside vkconv or stb_image, another
// exception type, a wrong shape) is a finding and aborts.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_contract.h"
#include "vkconv/error.h"
#include "vkconv/image.h"

const char* const fuzz::kTarget = "fuzz_png";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fuzz;
    const std::vector<uint8_t> bytes(data, data + size);
    expect_value_or_error([&] {
        const vkconv::HostArray a = vkconv::decode_image(bytes, "fuzz.png");
        if (a.shape.size() != 3 || a.shape[0] != 3) finding("result is not [3, H, W]");
        if (a.shape[1] < 1 || a.shape[1] > 16384 || a.shape[2] < 1 || a.shape[2] > 16384) finding("size out of range");
        if (a.data.size() != static_cast<size_t>(3 * a.shape[1] * a.shape[2])) finding("data size disagrees with the shape");
        for (const float v : a.data)
            if (!(v >= 0.0f && v <= 1.0f)) finding("a value outside [0, 1]");
    });
    return 0;
}
