// vkconv/profiling.h: GPU timestamps around recorded work, for benchmarks and profilers.
#pragma once

#include <cstdint>

#include <vulkan/vulkan_raii.hpp>

#include "vkconv/command_recorder.h"

namespace vkconv::host {

// GPU timestamps around recorded work (for benchmarks): a query pool of `count` timestamps.
// Usage: reset(rec); write(rec, 0); ...work...; write(rec, 1); rec.submit_and_wait(); ns(0, 1).
// supported() is false where the compute queue has no valid timestamp bits; then every call is
// a no-op and elapsed_ns() returns a negative value.
class TimestampQueries {
public:
    TimestampQueries(vkconv::Context& ctx, uint32_t count);
    TimestampQueries(Context& ctx, uint32_t count);
    bool supported() const { return supported_; }
    void reset(CommandRecorder& rec);
    void write(CommandRecorder& rec, uint32_t index);
    // Nanoseconds between two written timestamps, after the submission completed.
    double elapsed_ns(uint32_t from, uint32_t to) const;

private:
    Context* ctx_;
    uint32_t count_;
    bool supported_ = false;
    uint64_t valid_mask_ = 0;
    double period_ns_ = 1;
    vk::raii::QueryPool pool_{nullptr};
};

}  // namespace vkconv::host

namespace vkconv {
using host::TimestampQueries;
}  // namespace vkconv
