// fuzz/fuzz_contract.h: the contract every fuzz target checks. A parser either returns a value
// the target then checks, or throws vkconv::Error (the expected refusal). Anything else (another
// exception type, a failed check) is a finding: it prints what and aborts, so libFuzzer keeps
// the input as a crasher.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "vkconv/error.h"

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

}  // namespace fuzz
