#version 450
// conv2d_grouped_texel: grouped (and dense) convolution with few channels per group, register-
// tiled, reading the NCHW input straight from its buffer through an R32F uniform texel buffer
// view (no pack pass) and the weights, transformed once at load time, as RGBA32F texels; any
// padding mode (pad_index), stride, dilation; bias and the fused activation.
//
// Layout: input X NCHW (R32F texels); weights Wt [groups][blocks][cin_g][KH][KW] RGBA32F texels
// (4 consecutive output channels of the block, zero past cout_g); bias [K] and output NCHW
// float32 as storage buffers.
//
// Workgroup z = (n * groups + g) * blocks + block - p.z_base: 4 output channels (one block) of
// group g of image n. The output plane is cut into chunks of PY rows x PX columns; invocation
// number x + y * (total invocations along x) owns one chunk (consecutive invocations, the SIMD
// lanes, own consecutive chunks along width, then down) x those 4 channels, in PY * PX vec4
// registers. The padded coordinates of the WIN = (PX - 1) * SW + (KW - 1) * DW + 1 columns and
// ROWS = (PY - 1) * SH + (KH - 1) * DH + 1 rows the chunk covers are computed once (pad_index);
// then for each input channel of the group it loads the channel's KH * KW weight texels into
// registers and walks the rows, fetching each row's window once (scalar texels) and feeding every
// (output row, tap) that reads it; the loops over rows, taps and pixels are resolved at
// specialization time. Outputs past OH / OW read valid coordinates and are not stored;
// invocations past the last chunk redo it and store nothing.
// SUBGROUP_WEIGHTS (the build's conv2d_grouped_texel_sg variant, CPU devices, with
// TAPS_IN_REGISTERS; the host makes the workgroup one subgroup of SG lanes): the lanes, which share
// the block, fetch a channel's KH * KW weight texels together, SG at a time, and shuffle each to
// every lane (a texel fetch gathers for every lane, the same texel SG times at a uniform index;
// a shuffle at a uniform index is a broadcast).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef SUBGROUP_WEIGHTS
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int PY = 4;         // output rows per invocation
layout(constant_id = 8) const int PX = 8;         // output columns per invocation
layout(constant_id = 9) const int KW = 3;
layout(constant_id = 10) const int SW = 1;
layout(constant_id = 11) const int DW = 1;
layout(constant_id = 12) const int KH = 3;
layout(constant_id = 13) const int SH = 1;
layout(constant_id = 14) const int DH = 1;
// The channel's KH * KW weight texels loaded into registers once per input channel (CPU
// devices), or fetched where used (GPUs: a 7x7 kernel's 49 vec4 would take 196 registers).
layout(constant_id = 15) const bool TAPS_IN_REGISTERS = true;
layout(constant_id = 16) const int SG = 8;  // SUBGROUP_WEIGHTS: the subgroup size (= the workgroup size)
layout(constant_id = 17) const bool VEC_STORE = false;  // conv2d_output.glsl (PX and OW multiples of 4)
layout(constant_id = 18) const int VEC4 = 0;            // conv2d_window.glsl

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(binding = 0) uniform samplerBuffer X;   // R32F (VEC4: RGBA32F) view of the NCHW input
layout(binding = 1) uniform samplerBuffer Wt;  // RGBA32F, transformed weights
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
    const int blocks = (p.cout_g + 3) / 4;
    const int z = int(gl_WorkGroupID.z) + p.z_base;  // (n * groups + g) * blocks + block
    const int block = z % blocks;
    const int g = (z / blocks) % p.groups;
    const int n = z / (blocks * p.groups);
    const int oc0 = g * p.cout_g + block * 4;
    const int oc_count = min(4, p.cout_g - block * 4);
    const int plane = p.H * p.W;

    window_columns(ox0);
    int row_off[ROWS];
    bool row_ok[ROWS];
    [[unroll]] for (int r = 0; r < ROWS; ++r) {
        const int iy = pad_index(oy0 * SH - p.pad_top + r, p.H, PAD_MODE);
        row_off[r] = max(iy, 0) * p.W;
        row_ok[r] = iy >= 0;
    }
    vec4 acc[PY * PX];
    [[unroll]] for (int i = 0; i < PY * PX; ++i) acc[i] = vec4(0.0);

    int xb = (n * p.C + g * p.cin_g) * plane;
    int wi = (g * blocks + block) * p.cin_g * KH * KW;
#ifdef SUBGROUP_WEIGHTS
    const int NU = (KH * KW + SG - 1) / SG;  // fetches per lane and input channel
    const int lane = int(gl_SubgroupInvocationID);
    const int w_last = wi + p.cin_g * KH * KW - 1;  // the lanes past KH * KW stay in the block's texels
#endif
    [[dont_unroll]] for (int ci = 0; ci < p.cin_g; ++ci) {
        vec4 wk[TAPS_IN_REGISTERS ? KH * KW : 1];
#ifdef SUBGROUP_WEIGHTS
        vec4 u[NU];
        [[unroll]] for (int r = 0; r < NU; ++r) u[r] = texelFetch(Wt, min(wi + r * SG + lane, w_last));
        [[unroll]] for (int t = 0; t < KH * KW; ++t) wk[t] = subgroupShuffle(u[t / SG], t % SG);
#else
        if (TAPS_IN_REGISTERS)
            [[unroll]] for (int t = 0; t < KH * KW; ++t) wk[t] = texelFetch(Wt, wi + t);
#endif
        [[unroll]] for (int r = 0; r < ROWS; ++r) {
            float xw[WIN];
            window_row(xb + row_off[r], row_ok[r], xw);
            [[unroll]] for (int py = 0; py < PY; ++py) {
                const int d = r - py * SH;  // offset of this input row below output row py's first tap row
                if (d < 0 || d % DH != 0 || d / DH >= KH) continue;
                const int ky = d / DH;
                [[unroll]] for (int kx = 0; kx < KW; ++kx) {
                    const vec4 w = TAPS_IN_REGISTERS ? wk[ky * KW + kx] : texelFetch(Wt, wi + ky * KW + kx);
                    [[unroll]] for (int i = 0; i < PX; ++i) acc[py * PX + i] = fma(vec4(xw[i * SW + kx * DW]), w, acc[py * PX + i]);
                }
            }
        }
        xb += plane;
        wi += KH * KW;
    }

    if (chunk_id >= chunks) return;
    const int out_plane = p.OH * p.OW;
    [[unroll]] for (int c = 0; c < 4; ++c) {
        if (c >= oc_count) break;
        const float bias = HAS_BIAS ? b[oc0 + c] : 0.0;
        [[unroll]] for (int py = 0; py < PY; ++py) {
            const int oy = oy0 + py;
            if (oy >= p.OH) break;
            float v[16];
            [[unroll]] for (int i = 0; i < PX; ++i) v[i] = conv_epilogue(acc[py * PX + i][c], bias);
            store_row((n * p.K + oc0 + c) * out_plane + oy * p.OW + ox0, p.OW - ox0, PX, v);
        }
    }
}
