// vkconv/testing.h: test hooks (opt-in, in-tree only: not installed). The private context behind
// a public one (allocation, loss, retirement, pipelines, the device policy), the test-only
// context options (forced staging, clamped limits, fault injection) and run-time tile changes.
// These reach the Vulkan runtime's own headers (host/), which are not a stable interface.
#pragma once

#include <memory>

#include "host/buffer.h"
#include "host/command.h"
#include "host/context.h"
#include "host/device_policy.h"
#include "vkconv/context.h"
#include "vkconv/conv2d.h"

namespace vkconv::testing {

// The public options plus force_staging, limit_overrides (clamped DeviceInfo) and faults.
using ContextOptions = vkconv::host::ContextOptions;

// A context made with the test-only options.
inline std::unique_ptr<vkconv::Context> make_context(const ContextOptions& options) {
    return vkconv::detail::ContextAccess::make(options);
}

// The private context behind `ctx`.
inline vkconv::host::Context& host(vkconv::Context& ctx) { return vkconv::host::of(ctx); }
inline const vkconv::host::Context& host(const vkconv::Context& ctx) { return vkconv::host::of(ctx); }

// Fault injection, adjustable at run time.
inline ContextOptions::FaultInjection& faults(vkconv::Context& ctx) { return vkconv::host::of(ctx).faults(); }
// What the context decided from the device (class, quirks, tiles).
inline const vkconv::host::DevicePolicy& policy(const vkconv::Context& ctx) { return vkconv::host::of(ctx).policy(); }
// Replaces the tile overrides (convolutions prepared before keep their plans).
inline void set_tile_overrides(vkconv::Context& ctx, const TileOverrides& tiles) { vkconv::host::of(ctx).set_tile_overrides(tiles); }

// The CPU reference's index of the padded coordinate i in an axis of n elements under F.pad's
// rule (-1: zero padding), for references written outside conv2d_reference.
int64_t reference_pad_index(int64_t i, int64_t n, PaddingMode mode);

}  // namespace vkconv::testing
