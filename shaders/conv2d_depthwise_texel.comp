#version 450
// conv2d_depthwise_texel: depthwise convolution (groups == in_channels, any channel multiplier
// M = out_channels / in_channels), register-tiled, reading the NCHW input and the weights
// straight from their tensors' buffers through R32F uniform texel buffer views (no pack pass, no
// weight transform); any padding mode (pad_index), stride, dilation; bias and the fused activation.
//
// Layout: input X NCHW and weights Wt [K][1][KH][KW] as R32F texel buffers; bias [K] and output
// NCHW float32 as storage buffers.
//
// Workgroup z = n * K + oc - p.z_base: output channel oc (reading input channel oc / M) of image n.
// The output plane is cut into chunks of PY rows x PX columns; invocation number
// x + y * (total invocations along x) owns one chunk (consecutive invocations, the SIMD lanes, own
// consecutive chunks along width, then down), in PY * PX registers, with the channel's KH * KW
// weights in registers too. It computes the padded coordinates of the WIN = (PX - 1) * SW +
// (KW - 1) * DW + 1 columns and ROWS = (PY - 1) * SH + (KH - 1) * DH + 1 rows its outputs cover
// once (pad_index), then walks the rows, fetching each row's window once and feeding every
// (output row, tap) that reads it; the loops are resolved at specialization time. Outputs past
// OH / OW read valid (clamped or mapped) coordinates and are not stored; invocations past the
// last chunk redo it and store nothing.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int PY = 4;         // output rows per invocation
layout(constant_id = 8) const int PX = 8;         // output columns per invocation
layout(constant_id = 9) const int KW = 3;
layout(constant_id = 10) const int SW = 1;
layout(constant_id = 11) const int DW = 1;
layout(constant_id = 12) const int KH = 3;
layout(constant_id = 13) const int SH = 1;
layout(constant_id = 14) const int DH = 1;
layout(constant_id = 15) const bool VEC_STORE = false;  // conv2d_output.glsl (PX and OW multiples of 4)
layout(constant_id = 16) const int VEC4 = 0;            // conv2d_window.glsl

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(binding = 0) uniform samplerBuffer X;   // R32F (VEC4: RGBA32F) view of the NCHW input
layout(binding = 1) uniform samplerBuffer Wt;  // R32F view of the weights
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
#define OUTPUT_BINDING 3
#include "conv2d_output.glsl"

#include "conv2d_window.glsl"

const int ROWS = (PY - 1) * SH + (KH - 1) * DH + 1;

void main() {
    const int cpr = (p.OW + PX - 1) / PX;  // chunks per row of chunks
    const int chunks = ((p.OH + PY - 1) / PY) * cpr;
    const int chunk_id = int(gl_GlobalInvocationID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
    const int chunk = min(chunk_id, chunks - 1);
    const int oy0 = (chunk / cpr) * PY;
    const int ox0 = (chunk % cpr) * PX;
    const int z = int(gl_WorkGroupID.z) + p.z_base;  // n * K + oc
    const int oc = z % p.K;
    const int n = z / p.K;
    const int in_base = (n * p.C + oc / p.cout_g) * p.H * p.W;

    float wk[KH * KW];
    [[unroll]] for (int t = 0; t < KH * KW; ++t) wk[t] = texelFetch(Wt, oc * KH * KW + t).r;
    window_columns(ox0);
    float acc[PY * PX];
    [[unroll]] for (int i = 0; i < PY * PX; ++i) acc[i] = 0.0;

    [[unroll]] for (int r = 0; r < ROWS; ++r) {
        const int iy = pad_index(oy0 * SH - p.pad_top + r, p.H, PAD_MODE);
        float xw[WIN];
        window_row(in_base + max(iy, 0) * p.W, iy >= 0, xw);
        [[unroll]] for (int py = 0; py < PY; ++py) {
            const int d = r - py * SH;  // offset of this input row below output row py's first tap row
            if (d < 0 || d % DH != 0 || d / DH >= KH) continue;
            const int ky = d / DH;
            [[unroll]] for (int kx = 0; kx < KW; ++kx)
                [[unroll]] for (int i = 0; i < PX; ++i) acc[py * PX + i] = fma(xw[i * SW + kx * DW], wk[ky * KW + kx], acc[py * PX + i]);
        }
    }

    if (chunk_id >= chunks) return;
    const float bias = HAS_BIAS ? b[oc] : 0.0;
    const int out_plane = p.OH * p.OW;
    [[unroll]] for (int py = 0; py < PY; ++py) {
        const int oy = oy0 + py;
        if (oy >= p.OH) break;
        float v[16];
        [[unroll]] for (int i = 0; i < PX; ++i) v[i] = conv_epilogue(acc[py * PX + i], bias);
        store_row((n * p.K + oc) * out_plane + oy * p.OW + ox0, p.OW - ox0, PX, v);
    }
}
