#version 450
// conv2d_packed_texel: register-tiled direct convolution (an implicit GEMM) on NC4HW4 input packed by
// pack_nc4hw4.comp with its padding already materialised; any groups, stride, dilation; bias and
// the fused activation in the epilogue (conv2d_epilogue.glsl). A 1x1 convolution (gemm_1x1) runs as the same kernel over its
// output grid packed as one flat row (kh = KW = 1, strides 1, OH = 1).
//
// Layout: input X [N][G][Q4][PH][PW] RGBA32F texels (4 input channels of a group per texel);
// weights Wt, transformed once at load time, [G][blocks][kh][Q4][KW][4][OCT/4] RGBA32F texels
// (the vec4 holds 4 consecutive output channels of the block; zero past cout_g and past cin_g);
// bias [K] and output NCHW float32 as storage buffers.
// fp16 storage (Conv2d::set_storage_precision): the host binds RGBA16F views of X (packed by
// pack_nc4hw4_f16.comp) and of Wt (rounded to fp16 on the host) instead; the shader is the same,
// since texelFetch on a samplerBuffer returns fp32 whatever the view's format. Every product and
// sum is fp32 (acc is vec4 of fp32): fp16 is a storage format only, nothing accumulates in fp16.
//
// Workgroup z = (n * G + g) * blocks + block - p.z_base: one block of OCT output channels of
// group g of image n. The output rows are cut into chunks of PX consecutive pixels
// (ceil(OW / PX) per row, the host picks PX so that little is wasted); invocation number
// x + y * (total invocations along x) owns that chunk (oy, ox0 .. ox0 + PX - 1) of the image x
// those OCT channels, in registers (PX * OCT / 4 vec4); consecutive invocations (SIMD lanes) own
// consecutive chunks, across rows when the rows are short. Per kernel row
// and input channel quad it fetches the WIN input texels that its PX pixels' KW taps cover once
// (a sliding window: WIN = (PX - 1) * SW + (KW - 1) * DW + 1 instead of PX * KW) and 4 * KW * OCT/4
// weight texels, for 4 * KW * PX * OCT FMAs. Columns past OW compute on the zero overrun the pack
// pass allocated and are not stored; invocations past the last chunk redo it and store nothing.
// SUBGROUP_WEIGHTS (the build's _sg variants, CPU devices; the host makes the workgroup one
// subgroup of SG lanes): the lanes, which share the block, fetch its 4 * KW * OCT/4 weight texels
// of a step together, SG at a time, and shuffle each to every lane (a texel fetch gathers for
// every lane, the same texel SG times at a uniform index; a shuffle at a uniform index is a
// broadcast).
// DIRECT_1X1 (gemm_1x1 on CPU devices; the host sets it for stride 1, no padding, one group,
// OH * OW and PX multiples of 4, fp32): X is an RGBA32F view of the NCHW input itself, 4
// consecutive pixels of one channel a texel, and no pack pass runs; an invocation's window of a
// channel quad is its 4 channels' PX / 4 texels (channels past C read as zero, texels past the
// plane clamped into it: their columns are not stored).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef SUBGROUP_WEIGHTS
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int OCT = 8;        // output channels per invocation, a multiple of 4
layout(constant_id = 8) const int PX = 8;         // output pixels per invocation along width
layout(constant_id = 9) const int KW = 3;         // kernel width
layout(constant_id = 10) const int SW = 1;        // stride along width
layout(constant_id = 11) const int DW = 1;        // dilation along width
layout(constant_id = 12) const int SG = 8;        // SUBGROUP_WEIGHTS: the subgroup size (= the workgroup size)
layout(constant_id = 13) const bool VEC_STORE = false;  // conv2d_output.glsl (PX and OW multiples of 4)
layout(constant_id = 14) const bool DIRECT_1X1 = false; // X is the NCHW input (below)

#include "conv2d_epilogue.glsl"
#include "conv2d_packed_params.glsl"

layout(binding = 0) uniform samplerBuffer X;   // RGBA32F (or RGBA16F), packed input
layout(binding = 1) uniform samplerBuffer Wt;  // RGBA32F (or RGBA16F), transformed weights
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
#define OUTPUT_BINDING 3
#include "conv2d_output.glsl"

const int Q = OCT / 4;
const int WIN = (PX - 1) * SW + (KW - 1) * DW + 1;

void main() {
    const int cpr = (p.OW + PX - 1) / PX;  // chunks per row
    const int chunks = p.OH * cpr;
    const int chunk_id = int(gl_GlobalInvocationID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
    const int chunk = min(chunk_id, chunks - 1);
    const int oy = chunk / cpr;
    const int ox0 = (chunk - oy * cpr) * PX;
    const int blocks = (p.cout_g + OCT - 1) / OCT;
    const int z = int(gl_WorkGroupID.z) + p.z_base;
    const int block = z % blocks;
    const int ng = z / blocks;  // n * G + g
    const int g = ng % p.G;
    const int n = ng / p.G;
    const int oc0 = g * p.cout_g + block * OCT;
    const int oc_count = min(OCT, p.cout_g - block * OCT);
    const int plane = p.PH * p.PW;
    const int xrow = ng * p.Q4 * plane + oy * p.sh * p.PW + ox0 * SW;  // quad 0, kernel row 0, window start
    int wi = (g * blocks + block) * p.kh * p.Q4 * KW * 4 * Q;

#ifdef SUBGROUP_WEIGHTS
    const int NW = KW * 4 * Q, NU = (NW + SG - 1) / SG;  // weight texels per step, fetches per lane
    const int lane = int(gl_SubgroupInvocationID);
    const int w_last = wi + p.kh * p.Q4 * NW - 1;  // the lanes past NW stay in the block's texels
#endif
    vec4 acc[PX * Q];
    [[unroll]] for (int i = 0; i < PX * Q; ++i) acc[i] = vec4(0.0);

    [[dont_unroll]] for (int ky = 0; ky < p.kh; ++ky) {
        int xi = xrow + ky * p.dh * p.PW;
        [[dont_unroll]] for (int q4 = 0; q4 < p.Q4; ++q4) {
            vec4 xw[WIN];
            if (DIRECT_1X1) {
                // Flat grid: p.OW is the plane's pixel count, n = ng (one group).
                [[unroll]] for (int c = 0; c < 4; ++c) {
                    const int ch = q4 * 4 + c;
                    const int t0 = (ng * p.C + min(ch, p.C - 1)) * p.OW;
                    [[unroll]] for (int m = 0; m < PX / 4; ++m) {
                        const vec4 t = texelFetch(X, (t0 + min(ox0 + 4 * m, p.OW - 4)) / 4);
                        [[unroll]] for (int e = 0; e < 4; ++e) xw[4 * m + e][c] = ch < p.C ? t[e] : 0.0;
                    }
                }
            } else {
                [[unroll]] for (int j = 0; j < WIN; ++j) xw[j] = texelFetch(X, xi + j);
            }
#ifdef SUBGROUP_WEIGHTS
            vec4 u[NU];
            [[unroll]] for (int r = 0; r < NU; ++r) u[r] = texelFetch(Wt, min(wi + r * SG + lane, w_last));
#endif
            [[unroll]] for (int kx = 0; kx < KW; ++kx)
                [[unroll]] for (int c = 0; c < 4; ++c)
                    [[unroll]] for (int q = 0; q < Q; ++q) {
#ifdef SUBGROUP_WEIGHTS
                        const int k = (kx * 4 + c) * Q + q;
                        const vec4 w = subgroupShuffle(u[k / SG], k % SG);
#else
                        const vec4 w = texelFetch(Wt, wi + (kx * 4 + c) * Q + q);
#endif
                        [[unroll]] for (int i = 0; i < PX; ++i) acc[i * Q + q] = fma(vec4(xw[i * SW + kx * DW][c]), w, acc[i * Q + q]);
                    }
            xi += plane;
            wi += KW * 4 * Q;
        }
    }

    if (chunk_id >= chunks) return;
    const int out_plane = p.OH * p.OW;
    [[unroll]] for (int q = 0; q < Q; ++q)
        [[unroll]] for (int c = 0; c < 4; ++c) {
            const int o = q * 4 + c;
            if (o >= oc_count) break;
            const float bias = HAS_BIAS ? b[oc0 + o] : 0.0;
            float v[16];
            [[unroll]] for (int i = 0; i < PX; ++i) v[i] = conv_epilogue(acc[i * Q + q][c], bias);
            store_row((n * p.K + oc0 + o) * out_plane + oy * p.OW + ox0, p.OW - ox0, PX, v);
        }
}
