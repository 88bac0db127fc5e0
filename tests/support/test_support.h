// Test support: one Vulkan context per test process with the Khronos validation layer (and
// synchronization validation) on; every test fixture fails the test when the layer said anything.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vkconv/testing.h"
#include "vkconv/vkconv.h"

namespace vkconv::test {

// The process's context: validation on, device from VKCONV_DEVICE or the best one.
Context& context();
// A second context that forces the staging (device-local + copy) path.
Context& staging_context();

// A context of its own (validation and synchronization validation on, the rest from `options`,
// test-only options included) for tests that clamp limits or inject faults. Its destructor destroys the context and fails the
// test on every validation message it received, those sent during destruction included.
class OwnedContext {
public:
    explicit OwnedContext(vkconv::testing::ContextOptions options = {});
    ~OwnedContext();
    OwnedContext(const OwnedContext&) = delete;
    OwnedContext& operator=(const OwnedContext&) = delete;
    Context& operator*() const { return *ctx_; }
    Context* operator->() const { return ctx_.get(); }
    // Destroys the context now; returns every message it received (and clears them, so the
    // destructor does not report them again).
    std::vector<std::string> destroy();

private:
    std::shared_ptr<std::vector<std::string>> messages_;
    std::shared_ptr<std::mutex> mutex_;
    std::unique_ptr<Context> ctx_;
};

// Base fixture: clears the validation messages before each test and fails it on any message.
class VulkanTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;
};

// The one error matcher of the tests: runs `f` and expects a vkconv::Error whose message contains
// every one of `parts` (a failure prints the message and the missing part; another exception,
// or none, fails too).
template <class F>
void expect_error_parts(F&& f, std::span<const std::string_view> parts) {
    try {
        f();
        ADD_FAILURE() << "no error thrown; expected one containing '" << (parts.empty() ? "" : parts.front()) << "'";
    } catch (const Error& e) {
        for (const auto p : parts) EXPECT_THAT(e.what(), ::testing::HasSubstr(std::string(p)));
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw a non-vkconv exception: " << e.what();
    }
}
template <class F>
void expect_error(F&& f, std::initializer_list<std::string_view> parts) {
    expect_error_parts(f, std::span<const std::string_view>(parts.begin(), parts.size()));
}
template <class F>
void expect_error(F&& f, std::initializer_list<const char*> parts) {
    const std::vector<std::string_view> v(parts.begin(), parts.end());
    expect_error_parts(f, v);
}

// Runs a shell command; its exit status (-1 when killed by a signal, i.e. a crash), stdout, stderr.
struct CommandResult {
    int status = -1;
    std::string out, err;
};
CommandResult run_command(const std::string& command);

// An empty directory under the test temp dir named `prefix` + the running test's name (removed
// first if an earlier run left it).
std::filesystem::path fresh_test_dir(const std::string& prefix);

// The bytes of `v`'s elements, as a file stores them (host byte order).
template <typename T>
std::vector<uint8_t> raw_bytes(const std::vector<T>& v) {
    std::vector<uint8_t> out(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
}

// Uniform values in [-1, 1) from a seed (deterministic across platforms).
std::vector<float> random_values(size_t n, uint64_t seed);

// max |v[i]| (0 for an empty span; NaN entries are skipped), the scale of a relative tolerance.
float max_abs(std::span<const float> v);

// Element-wise |got - want| <= tol[i]; reports the first few mismatches with their index.
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, std::span<const float> tol);
// Same with one tolerance for every element.
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, float tol);

// Element-wise comparison: `ok(i, got[i], want[i])` for every element; on failure the count and
// the first few that fail ("[i] got g, want w", then `detail(i)` when given). The comparisons
// below, and the tests' own rules (NaN and infinity handling), are written with it.
::testing::AssertionResult each_element(std::span<const float> got, std::span<const float> want,
                                        const std::function<bool(size_t, float, float)>& ok,
                                        const std::function<std::string(size_t)>& detail = {});

// Bit-for-bit equality, NaN matching any NaN; reports the first few differences (values and bits).
::testing::AssertionResult bit_equal(std::span<const float> got, std::span<const float> want);

// An fp32 summation of L products differs from the exact (double) sum by at most
// L * 2^-24 * sum|products| (a standard bound for recursive summation with FMA); `abs_sums`
// holds sum|products| per output. Returns 2 * that bound + 1e-6 per element (the 2 covers the
// bias addition and the final rounding).
std::vector<float> fp32_sum_tolerance(std::span<const float> abs_sums, int64_t terms);

// reset_parameters(seed) as nn.Module's kaiming_uniform_ init: a and b (made alike) get the same
// weight and bias from one seed, every value within `bound` and the weight's largest above
// `near` * bound, and another seed gives other weights.
template <class L>
void expect_seeded_uniform_init(L& a, L& b, float bound, float near) {
    a.reset_parameters(7);
    b.reset_parameters(7);
    EXPECT_EQ(a.weight(), b.weight());
    EXPECT_EQ(a.bias(), b.bias());
    float maxabs = 0;
    for (float v : a.weight()) maxabs = std::max(maxabs, std::fabs(v));
    EXPECT_LE(maxabs, bound);
    EXPECT_GT(maxabs, near * bound);
    for (float v : a.bias()) EXPECT_LE(std::fabs(v), bound);
    b.reset_parameters(8);
    EXPECT_NE(a.weight(), b.weight());
}

// Sets a context's tile overrides ("NAME=value,NAME2=value2", the names the tools read from the
// environment: VKCONV_PACKED_PX, ...) for one test and restores them after. Convolutions made
// while it lives prepare their plans with these tiles.
class ScopedKnobs {
public:
    ScopedKnobs(Context& ctx, const std::string& knobs) : ctx_(ctx), saved_(testing::policy(ctx).tiles) {
        host::TileOverrides t = saved_;
        std::stringstream ss(knobs);
        std::string kv;
        while (std::getline(ss, kv, ',')) {
            const auto eq = kv.find('=');
            if (eq == std::string::npos || !host::set_tile_override(t, kv.substr(0, eq), std::atoi(kv.substr(eq + 1).c_str())))
                throw std::invalid_argument("not a tile override: '" + kv + "'");
        }
        testing::set_tile_overrides(ctx_, t);
    }
    ~ScopedKnobs() { testing::set_tile_overrides(ctx_, saved_); }
    ScopedKnobs(const ScopedKnobs&) = delete;
    ScopedKnobs& operator=(const ScopedKnobs&) = delete;

private:
    Context& ctx_;
    host::TileOverrides saved_;
};

// Runs fn(knobs) under the context's own device policy and, where that policy reads the
// streaming layers' inputs through texel views (CPU devices), again under the discrete-GPU
// class's (storage buffers), so that both input paths meet the reference. `knobs` ("" or the
// override in effect) is for failure messages.
template <class F>
void for_each_input_path(Context& ctx, F&& fn) {
    fn(std::string());
    if (!testing::policy(ctx).layer_texel_inputs) return;
    const std::string gpu = "VKCONV_TILE_CLASS=1";
    ScopedKnobs scoped(ctx, gpu);
    fn(gpu);
}

}  // namespace vkconv::test
