// conv2d/packed.h: what the texel kernels packed_texel, gemm_1x1 (pack pass + conv2d_packed_texel.comp
// or conv2d_gemm_1x1.comp) and depthwise_texel, grouped_texel (a window of the NCHW input read
// through an R32F view, no pack pass) share: the plan of one convolution on one input size, the
// checks, and the recording. Each kernel's file holds its weight layout and Auto's rule.
#pragma once

#include <vector>

#include "conv2d/kernel.h"

namespace vkconv::detail {

// Mirrors shaders/conv2d_packed_params.glsl.
struct PackedPushConstants {
    int32_t G, Q4, PH, PW, K, OH, OW, cout_g, kh, sh, dh, z_base;
    int32_t C;
};

// How one of the four runs one convolution on one input size: the pack pass, the convolution's
// tile and workgroup, the dispatch; or why it cannot.
struct PackedPlan {
    std::string reason;  // empty: it can run
    PackPushConstants pack{};
    PackedPushConstants conv{};
    int64_t packed_texels = 0, weight_texels = 0;
    uint32_t wg = 1, oct = 4, px = 1, py = 1;
    uint32_t pack_wg = 1, pack_px = 1, pack_gx = 1, pack_gy = 1;  // pack workgroups along x (logical row) and y (rows)
    int64_t pack_planes = 0;  // pack workgroups along z: images x groups x quads
    uint32_t gx = 1, gy = 1;  // workgroups over the output chunks (x + y * gx)
    int64_t total_z = 0;      // workgroups along z: images x groups x channel blocks
};

// `g` may be null: only the shape-independent conditions are checked.
PackedPlan plan_packed(const Conv2dParams& params, const Conv2dGeometry* g, const host::DeviceInfo& info, const host::DevicePolicy& policy,
                       Conv2dAlgorithm a);
// unsupported_reason of the four.
std::string packed_unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape, Conv2dAlgorithm a);

// The weights in a kernel's texel layout, from the PyTorch layout.
using WeightLayout = std::vector<float> (*)(const Conv2dParams& params, std::span<const float> w, const PackedPlan& pl);

struct PackedPrepared : Conv2dPlan {
    PackedPlan pl;
    Conv2dPushConstants window{};  // depthwise_texel, grouped_texel
    std::shared_ptr<const host::ComputePipeline> pack, conv;  // pack: null for the window kernels
    std::vector<std::shared_ptr<const host::ComputePipeline>> pipelines() const override {
        if (pack) return {pack, conv};
        return {conv};
    }
    bool f16 = false;
    uint32_t pack_vec4 = 0;  // the pack's VEC4 (pack_vec4)
    bool direct_1x1 = false; // gemm_1x1 reads the NCHW input itself (no pack pass; see prepare_packed)
    uint32_t window_vec4 = 0;  // the window kernels' VEC4 (shaders/conv2d_window.glsl)
    uint64_t weights_key = 0;
    int64_t max_z = 0;
};

// packed_texel and gemm_1x1: the pack pass and the convolution.
std::unique_ptr<Conv2dPlan> prepare_packed(Context& ctx, const Conv2dProblem& p, const Conv2dKernel& k);
void record_packed(const PackedPrepared& pr, Conv2dIo& io, WeightLayout layout);
// depthwise_texel and grouped_texel: one pass over windows of the NCHW input; `layout` null: the
// weights' own buffer is read.
std::unique_ptr<Conv2dPlan> prepare_window(Context& ctx, const Conv2dProblem& p, const Conv2dKernel& k);
void record_window(const PackedPrepared& pr, Conv2dIo& io, WeightLayout layout);

}  // namespace vkconv::detail
