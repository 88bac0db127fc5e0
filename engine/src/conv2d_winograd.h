// conv2d_winograd.h: the winograd algorithm of Conv2d (private to engine/src): Winograd
// F(4x4, 3x3) or F(2x2, 3x3) for 3x3 kernels, stride 1, dilation 1, groups 1 (any padding and padding mode,
// batch, bias, fused ReLU), as four passes:
//   pack_nc4hw4.comp                NCHW -> NC4HW4 with the padding materialised (shared with packed_texel)
//   conv2d_winograd(4)_input.comp   V = B^T d B per 6 x 6 (4 x 4) patch
//   conv2d_winograd_gemm.comp       36 (16) batched GEMMs M = U V over the input channels
//   conv2d_winograd(4)_output.comp  Y = A^T M A + bias (+ ReLU), NCHW
// F(4x4, 3x3) by default (conv2d_winograd4_input/_output.comp), F(2x2, 3x3) under
// VKCONV_WINOGRAD_TILE=2. The weights U = G g G^T are computed once per parameter version (on the
// CPU, in double). Knobs (tests and experiments): VKCONV_WINOGRAD_TILE (2, 4), _OCT (GEMM output
// channels per invocation, 4..32), _TT (tiles per invocation, 1..16), _WG (workgroup size).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "host/command.h"
#include "host/context.h"
#include "vkconv/conv2d.h"

namespace vkconv::detail {

// Device state the winograd path keeps between recordings (owned by Conv2d::FastPath).
struct WinogradState {
    std::shared_ptr<host::TexelBuffer> weights;  // U
    uint64_t weights_version = ~uint64_t(0);
    uint32_t weights_oct = 0, weights_m = 0;
    std::shared_ptr<host::TexelBuffer> packed, v, m;  // scratch: packed input, V, M
    // Replaced buffers stay alive while a pending recording holds them (keep_alive).
};

// Why winograd cannot run this convolution (empty when it can); `g` null: only the
// shape-independent conditions.
std::string winograd_unsupported_reason(Context& ctx, const Conv2dParams& params, const Conv2dGeometry* g);

// Whether Auto should prefer winograd (where it can run) for this convolution (the measured rule).
bool winograd_preferred(const Conv2dParams& params, const Conv2dGeometry& g);

// Records the four passes (throws when it cannot run). `input_view` is an R32F uniform texel view
// of the input's values; `bias` is bound but unused when !has_bias.
void record_winograd(CommandRecorder& rec, Context& ctx, const Conv2dParams& params, WinogradState& st, uint64_t weight_version,
                     std::span<const float> weight, const Tensor& bias, bool has_bias, const Shape& input_shape, host::BufferBinding input_view,
                     const Tensor& output, bool relu);

}  // namespace vkconv::detail
