// host/device_policy.h: what vkconv decides from the device once per context: its class, the
// driver quirks it works around, and the tile sizes the convolution kernels use (the class's
// defaults, or typed overrides from ContextOptions::tiles).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vkconv/context.h"

namespace vkconv::host {

using vkconv::DeviceInfo;
// TileOverrides is public (vkconv/context.h): ContextOptions::tiles.
using vkconv::TileOverrides;

// How the device executes compute work, which decides the default tiles.
//   Cpu         a software rasteriser (lavapipe, SwiftShader): a workgroup runs on one thread, its
//               invocations in SIMD vectors of the subgroup size
//   Discrete    a GPU with its own memory
//   Integrated  a desktop GPU sharing the host's memory
//   Mobile      a mobile GPU, by vendor (ARM Mali, Qualcomm Adreno, Imagination PowerVR, Samsung)
//   Other       virtual or unknown devices (GPU defaults)
enum class DeviceClass { Cpu, Discrete, Integrated, Mobile, Other };
const char* to_string(DeviceClass c);

// The environment-variable name of each TileOverrides field ("VKCONV_PACKED_PX", ...).
const std::vector<std::string>& tile_override_names();
// Sets the field named `name` (one of tile_override_names()); false when there is none.
bool set_tile_override(TileOverrides& t, const std::string& name, int value);

// `v` when set and within [lo, hi], else `def`.
inline int tile_or(const std::optional<int>& v, int lo, int hi, int def) { return v && *v >= lo && *v <= hi ? *v : def; }

// A driver bug vkconv works around: its name, why, and the drivers it applies to.
struct DeviceQuirk {
    const char* name;
    const char* reason;
    const char* drivers;
};

struct DevicePolicy {
    DeviceClass device_class = DeviceClass::Other;

    // Quirks (each listed in kQuirks of device_policy.cpp with its reason and drivers).
    // command_pool_driver_allocator: command pools use the driver's allocator, not the
    // application's callbacks.
    bool command_pool_driver_allocator = false;

    // Features. subgroup_shuffle: subgroupShuffle in compute shaders with subgroups of at least 8
    // lanes (direct_texel's shared weights). Without it the kernels run their variants built
    // without subgroup code (conv2d_direct_texel_nosg): a device without shuffles refuses any
    // module declaring the GroupNonUniformShuffle capability, even where the code is never run.
    bool subgroup_shuffle = false;

    // Default tiles of the class.
    // Workgroup size of the packed, texel-window and winograd kernels: one SIMD vector on CPU
    // devices (a workgroup runs on one thread: more workgroups balance better), 64 elsewhere.
    uint32_t kernel_workgroup = 64;
    // Pixels per invocation of the pack pass: 8 on CPU devices (invocations are costly there),
    // 1 elsewhere.
    uint32_t pack_pixels = 1;
    // Rows per workgroup of direct_texel: 1 on CPU devices (more workgroups balance better), at
    // most 8 elsewhere.
    uint32_t texel_rows = 8;
    // Linear with 1 to 4 rows (linear_gemv): an invocation per output feature on CPU devices
    // (SIMD lanes along features, no shared-memory tree or barriers, which are costly there);
    // elsewhere a workgroup's invocations split each dot product (coalesced loads).
    bool gemv_per_feature = false;
    // Mean / Amax over (H, W) (and global average pooling): a plane per invocation in workgroups
    // of kernel_workgroup on CPU devices, where a 64-invocation workgroup's barriers cost a
    // coroutine switch per SIMD vector and barrier; elsewhere a workgroup per large plane (64
    // invocations and a shared-memory tree).
    bool reduce_plane_per_invocation = false;
    // Layers that stream their inputs (pooling, element-wise) read them through R32F uniform
    // texel views on CPU devices, where a texel fetch costs a fraction of a storage-buffer load;
    // GPUs keep storage buffers (coalesced loads, no view per tensor).
    bool layer_texel_inputs = false;

    // Register tiles: the outputs each invocation accumulates in registers (the kernels'
    // specialization constants; TileOverrides win). On CPU devices registers are cheap (a
    // workgroup runs on one thread and larger tiles mean fewer, costlier invocations): the tiles
    // measured fastest on lavapipe. On GPUs the register file is shared by the waves a SIMD
    // keeps resident: tiles sized so that every convolution pipeline compiles without spills
    // and with several waves per SIMD (the CompileReport tests check this with AMD's compiler on
    // RDNA2, RDNA3 and Vega, through Mesa RADV's null devices).
    uint32_t grouped_px = 4, grouped_py = 8;  // grouped_texel: columns x rows (x 4 channels)
    bool taps_in_registers = true;            // grouped_texel: a channel's weights loaded once into registers
    uint32_t packed_px = 8;                   // packed_texel, gemm_1x1: pixels per invocation
    uint32_t packed_oct = 16, gemm_oct = 16;  // their output channels per invocation (at most)
    uint32_t winograd_tile = 4;               // F(m x m, 3x3): m = 2 or 4
    uint32_t winograd_oct = 16, winograd_tt = 8;  // Winograd GEMM: output channels x tiles
    // Kernels whose lanes share weight texels (packed_texel, gemm_1x1, the Winograd GEMM) fetch
    // them once per subgroup and shuffle them to the lanes (CPU devices with shuffles: a texel
    // fetch gathers for every lane even at a uniform index, a shuffle at a uniform index is one
    // broadcast).
    bool subgroup_weights = false;
    // implicit_gemm: BM output pixels x BN output channels per workgroup, BK reduction elements
    // per shared-memory step, TM x TN outputs per invocation ((BM / TM) * (BN / TN) invocations).
    uint32_t gemm_bm = 32, gemm_bn = 32, gemm_bk = 16, gemm_tm = 4, gemm_tn = 4;
    // Auto prefers implicit_gemm for dense convolutions with long reductions and many output
    // channels (GPU classes: its shared-memory tiles replace the texel-window register tiles;
    // on CPU devices the packed paths stay faster, and their outputs unchanged).
    bool implicit_gemm_auto = false;

    TileOverrides tiles;

    // The quirks that apply, for `vkconv devices` and logs.
    std::vector<DeviceQuirk> quirks() const;
};

// The policy for a device (its limits as the context sees them) and the given overrides.
DevicePolicy make_device_policy(const DeviceInfo& info, const TileOverrides& tiles);

}  // namespace vkconv::host
