// fuzz/fuzz_contract.h: the contract every fuzz target checks. A parser either returns a value
// the target then checks, or throws vkconv::Error (the expected refusal). Anything else (another
// exception type, a failed check) is a finding: it prints what and aborts, so libFuzzer keeps
// the input as a crasher.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "vkconv/context.h"
#include "vkconv/error.h"
#include "vkconv/npy.h"

namespace fuzz {

// The target's name, printed before every finding (each target defines it).
extern const char* const kTarget;

[[noreturn]] inline void finding(const char* what) {
    std::fprintf(stderr, "%s: %s\n", kTarget, what);
    std::abort();
}

// Runs f(): returning and throwing vkconv::Error are both fine.
template <typename F>
void expect_value_or_error(F&& f) {
    try {
        f();
    } catch (const vkconv::Error&) {
        // the expected refusal
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: threw a non-vkconv exception: %s\n", kTarget, e.what());
        std::abort();
    } catch (...) {
        finding("threw something that is not a std::exception");
    }
}

// An array (or tensor) a parser accepted: at most 64 dimensions, a valid element count, and as
// many values as its shape says.
inline void check_array(const vkconv::HostArray& a) {
    if (a.shape.size() > 64) finding("more than 64 dimensions accepted");
    int64_t numel = 0;
    try {
        numel = a.numel();
    } catch (const vkconv::Error&) {
        finding("accepted an array whose shape has no valid element count");
    }
    if (static_cast<uint64_t>(numel) != a.data.size()) finding("data size disagrees with the shape");
}

// The one Context of a target that builds models (lavapipe or whatever device VKCONV_DEVICE / the
// default rule picks; validation off), made on the first call (LLVMFuzzerInitialize) and shared
// by every input. Deliberately leaked: destroying the device at exit is not what is being
// fuzzed. Exits 2 where no context can be made.
inline vkconv::Context& context() {
    static vkconv::Context* const ctx = [] {
        try {
            return new vkconv::Context(vkconv::ContextOptions{});
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: cannot create a Vulkan context: %s\n", kTarget, e.what());
            std::exit(2);
        }
    }();
    return *ctx;
}

}  // namespace fuzz
