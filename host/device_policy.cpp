#include "host/device_policy.h"

#include <algorithm>

#include "host/context.h"

namespace vkconv::host {

namespace {
// PCI vendor ids of mobile GPU makers.
constexpr uint32_t kVendorArm = 0x13B5, kVendorQualcomm = 0x5143, kVendorImagination = 0x1010, kVendorSamsung = 0x144D;

constexpr DeviceQuirk kCommandPoolDriverAllocator{
    "command_pool_driver_allocator",
    "the driver frees a stack pointer through a command pool's pfnFree while recording vkCmdPipelineBarrier",
    "Mesa lavapipe (llvmpipe) 22.x"};

struct Field {
    const char* name;
    std::optional<int> TileOverrides::*field;
};
const Field kFields[] = {
    {"VKCONV_TEXEL_OCT", &TileOverrides::texel_oct},         {"VKCONV_TEXEL_PX", &TileOverrides::texel_px},
    {"VKCONV_TEXEL_LY", &TileOverrides::texel_ly},           {"VKCONV_TEXEL_SG", &TileOverrides::texel_sg},
    {"VKCONV_PACKED_PX", &TileOverrides::packed_px},         {"VKCONV_PACKED_OCT", &TileOverrides::packed_oct},
    {"VKCONV_PACKED_PY", &TileOverrides::packed_py},         {"VKCONV_PACKED_WG", &TileOverrides::packed_wg},
    {"VKCONV_PACK_PX", &TileOverrides::pack_px},             {"VKCONV_WINOGRAD_TILE", &TileOverrides::winograd_tile},
    {"VKCONV_WINOGRAD_OCT", &TileOverrides::winograd_oct},   {"VKCONV_WINOGRAD_TT", &TileOverrides::winograd_tt},
    {"VKCONV_WINOGRAD_WG", &TileOverrides::winograd_wg},     {"VKCONV_TILE_CLASS", &TileOverrides::tile_class},
};
}  // namespace

const char* to_string(DeviceClass c) {
    switch (c) {
        case DeviceClass::Cpu: return "cpu";
        case DeviceClass::Discrete: return "discrete";
        case DeviceClass::Integrated: return "integrated";
        case DeviceClass::Mobile: return "mobile";
        case DeviceClass::Other: return "other";
    }
    return "?";
}

const std::vector<std::string>& tile_override_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& f : kFields) n.emplace_back(f.name);
        return n;
    }();
    return names;
}

bool set_tile_override(TileOverrides& t, const std::string& name, int value) {
    for (const auto& f : kFields)
        if (name == f.name) {
            t.*f.field = value;
            return true;
        }
    return false;
}

std::vector<DeviceQuirk> DevicePolicy::quirks() const {
    std::vector<DeviceQuirk> q;
    if (command_pool_driver_allocator) q.push_back(kCommandPoolDriverAllocator);
    return q;
}

DevicePolicy make_device_policy(const DeviceInfo& info, const TileOverrides& tiles) {
    DevicePolicy p;
    const uint32_t v = info.vendor_id;
    if (info.type == "cpu") p.device_class = DeviceClass::Cpu;
    else if (v == kVendorArm || v == kVendorQualcomm || v == kVendorImagination || v == kVendorSamsung) p.device_class = DeviceClass::Mobile;
    else if (info.type == "discrete") p.device_class = DeviceClass::Discrete;
    else if (info.type == "integrated") p.device_class = DeviceClass::Integrated;
    p.command_pool_driver_allocator = info.driver_name == "llvmpipe";
    p.subgroup_shuffle = info.subgroup_shuffle && info.subgroup_size >= 8;
    const auto tile_class = static_cast<DeviceClass>(tile_or(tiles.tile_class, 0, static_cast<int>(DeviceClass::Other), static_cast<int>(p.device_class)));
    if (tile_class == DeviceClass::Cpu) {
        p.kernel_workgroup = std::max<uint32_t>(info.subgroup_size, 1);
        p.pack_pixels = 8;
        p.texel_rows = 1;
        p.gemv_per_feature = true;
        p.reduce_plane_per_invocation = true;
        p.layer_texel_inputs = true;
        p.subgroup_weights = true;
    } else {
        // GPUs: register tiles within a register budget (see DevicePolicy). grouped_texel takes
        // one output row: input rows shared by several output rows keep all their loads live
        // (AMD's compiler: a 7x7 stride-2 kernel at 2 rows x 4 columns spilled on RDNA3 and ran
        // 1 wave per SIMD on Vega; at 1 row, 48-64 registers and no spills).
        p.grouped_px = 4;
        p.grouped_py = 1;
        p.taps_in_registers = false;
        p.packed_px = 4;
        p.packed_oct = 8;
        p.gemm_oct = 8;
        p.winograd_tile = 2;
        p.winograd_oct = 8;
        p.winograd_tt = 4;
        // implicit_gemm, 256 invocations (whole subgroups of 32 or 64): discrete, 128 x 64 pixels x
        // channels with 8 x 4 per invocation (RDNA2/RDNA3: 72 VGPRs, 24 KiB, 12 waves per SIMD);
        // integrated, 64 x 64 with 4 x 4 (Vega APU: 40 VGPRs, 16 KiB, 4 waves per SIMD).
        const bool integrated = tile_class == DeviceClass::Integrated;
        p.gemm_bm = integrated ? 64 : 128;
        p.gemm_bn = 64;
        p.gemm_tm = integrated ? 4 : 8;
        p.gemm_tn = 4;
        p.implicit_gemm_auto = tile_class == DeviceClass::Discrete || integrated;
    }
    p.tiles = tiles;
    return p;
}

}  // namespace vkconv::host
