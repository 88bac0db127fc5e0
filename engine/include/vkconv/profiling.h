// vkconv/profiling.h: GPU timestamps around recorded work, for benchmarks and profilers.
#pragma once

#include <cstdint>
#include <memory>

#include "vkconv/command_recorder.h"

namespace vkconv {

// GPU timestamps around recorded work (for benchmarks): a query pool of `count` timestamps.
// Usage: reset(rec); write(rec, 0); ...work...; write(rec, 1); rec.submit_and_wait(); elapsed_ns(0, 1).
// supported() is false where the compute queue has no valid timestamp bits; then every call is
// a no-op and elapsed_ns() returns a negative value.
class TimestampQueries {
public:
    TimestampQueries(Context& ctx, uint32_t count);
    ~TimestampQueries();
    TimestampQueries(TimestampQueries&&) noexcept;
    TimestampQueries& operator=(TimestampQueries&&) noexcept;
    bool supported() const;
    void reset(CommandRecorder& rec);
    void write(CommandRecorder& rec, uint32_t index);
    // Nanoseconds between two written timestamps, after the submission completed.
    double elapsed_ns(uint32_t from, uint32_t to) const;

private:
    // The query pool lives in the library: no Vulkan-Hpp RAII object is inline here, whose layout
    // would differ in an application built with other NDEBUG settings than the library.
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace vkconv
