#version 450
// conv2d_implicit_gemm: convolution as a shared-memory tiled GEMM over an implicit im2col matrix,
// for GPUs (any padding mode, stride, dilation and groups; fp32 storage and accumulation).
//
// Layout: input NCHW, weight [K][C/groups][kh][kw], bias [K], output NCHW, float32, all storage
// buffers. Per image n and group g the convolution is the GEMM
//   Y[m][o] = sum_k A[m][k] B[k][o],  m < M = OH * OW (output pixels), o < cout_g, k < Kred = cin_g * kh * kw
// with A the im2col matrix of the image's input channels of group g (k = (ci, ky, kx) in the
// weights' order; padding, stride and dilation resolved while loading, never materialised) and
// B[k][o] = weight[g * cout_g + o][k] (the weights as stored: each output channel's reduction is
// contiguous).
//
// Workgroups: x = BM-pixel tiles of M, y = BN-channel tiles of cout_g, z = n * groups + g (each
// minus its dispatch's base). A workgroup has WG = (BM / TM) * (BN / TN) invocations (the host
// keeps WG a multiple of the subgroup size and of BM, within maxComputeWorkGroupInvocations). The
// reduction runs in BK slices: the A slice (BK x BM) and the B slice (BK x BN) of the next step are
// loaded from global memory into registers while the current step's slices, in the other half of
// the double-buffered shared memory, feed the FMAs; one barrier per step.
// Loads: A, each invocation one pixel (lid % BM: consecutive invocations read consecutive pixels)
// at BK * BM / WG reduction indices; B, each invocation whole quads of 4 consecutive reduction
// indices of one channel, as one vec4 where Kred % 4 == 0 (VEC_B), else 4 scalars.
// Outputs: invocation (tx, ty) = (lid % (BM / TM), lid / (BM / TM)) owns the TM x TN register tile
// of pixels m0 + tx + i * (BM / TM) (i < TM; strided so that a wave's stores are contiguous) and
// channels n0 + ty * TN + j (j < TN).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
// The defaults: the tile every device runs, 64 invocations (as local_size_x in compile reports).
layout(constant_id = 7) const int BM = 32;     // output pixels per workgroup
layout(constant_id = 8) const int BN = 32;     // output channels per workgroup
layout(constant_id = 9) const int BK = 16;     // reduction elements per step (a multiple of 4)
layout(constant_id = 10) const int TM = 4;     // pixels per invocation
layout(constant_id = 11) const int TN = 4;     // channels per invocation
layout(constant_id = 12) const int KH = 3;     // kernel height
layout(constant_id = 13) const int KW = 3;     // kernel width
layout(constant_id = 14) const bool VEC_B = false;  // Kred % 4 == 0: the weight quads are aligned vec4s

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
// The weights, as scalars and as aligned quads (the same binding).
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
layout(std430, binding = 1) readonly buffer Weight4 { vec4 w4[]; };
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

const int TX = BM / TM;              // invocations along the pixels
const int WG = TX * (BN / TN);       // invocations per workgroup
const int A_PER = BK * BM / WG;      // A elements each invocation loads per step
const int A_KSTEP = WG / BM;         // reduction rows between them
const int B_PER = BK * BN / (4 * WG);  // B quads each invocation loads per step

shared float a_tile[2 * BK * BM];  // [buffer][k][m]
shared float b_tile[2 * BK * BN];  // [buffer][k][o]

// The next step's slices, in registers between their global loads and their shared stores.
float ra[A_PER];
vec4 rb[B_PER];

// Registers <- the A and B slices of the step starting at reduction index k0. The A pixel of
// this invocation is lid % BM, its input window's origin (iy0, ix0); `a_valid`: it exists.
void load_step(int k0, int lid, int red, int in_base, int w_base, int n0, int iy0, int ix0, bool a_valid) {
    const int plane = p.H * p.W;
    for (int r = 0; r < A_PER; ++r) {
        const int k = k0 + lid / BM + r * A_KSTEP;
        float v = 0.0;
        if (a_valid && k < red) {
            const int ci = k / (KH * KW);
            const int t = k - ci * (KH * KW);
            const int ky = t / KW;
            const int iy = pad_index(iy0 + ky * p.dh, p.H, PAD_MODE);
            const int ix = pad_index(ix0 + (t - ky * KW) * p.dw, p.W, PAD_MODE);
            if (iy >= 0 && ix >= 0) v = x[in_base + ci * plane + iy * p.W + ix];
        }
        ra[r] = v;
    }
    for (int r = 0; r < B_PER; ++r) {
        const int e = lid + r * WG;
        const int o = n0 + e % BN;
        const int k = k0 + 4 * (e / BN);
        const int i = w_base + o * red + k;
        vec4 v = vec4(0.0);
        if (o < p.cout_g) {
            if (VEC_B) {
                if (k < red) v = w4[i >> 2];  // k < red: the whole quad (red % 4 == 0)
            } else {
                for (int c = 0; c < 4; ++c)
                    if (k + c < red) v[c] = w[i + c];
            }
        }
        rb[r] = v;
    }
}

// Shared buffer `buf` <- the registers.
void store_step(int buf, int lid) {
    for (int r = 0; r < A_PER; ++r) a_tile[buf * BK * BM + (lid / BM + r * A_KSTEP) * BM + lid % BM] = ra[r];
    for (int r = 0; r < B_PER; ++r) {
        const int e = lid + r * WG;
        const int base = buf * BK * BN + 4 * (e / BN) * BN + e % BN;
        for (int c = 0; c < 4; ++c) b_tile[base + c * BN] = rb[r][c];
    }
}

void main() {
    const ivec3 wg = conv_workgroup();
    const int M = p.OH * p.OW;
    const int red = p.cin_g * KH * KW;
    const int g = wg.z % p.groups;
    const int n = wg.z / p.groups;
    const int m0 = wg.x * BM;
    const int n0 = wg.y * BN;
    const int lid = int(gl_LocalInvocationIndex);
    const int in_base = (n * p.C + g * p.cin_g) * p.H * p.W;
    const int w_base = g * p.cout_g * red;
    // This invocation's A pixel and its input window's origin.
    const int apix = m0 + lid % BM;
    const bool a_valid = apix < M;
    const int aoy = a_valid ? apix / p.OW : 0;
    const int iy0 = aoy * p.sh - p.pad_top;
    const int ix0 = (apix - aoy * p.OW) * p.sw - p.pad_left;

    const int tx = lid % TX;
    const int ty = lid / TX;
    float acc[TM * TN];
    for (int i = 0; i < TM * TN; ++i) acc[i] = 0.0;

    const int steps = (red + BK - 1) / BK;
    load_step(0, lid, red, in_base, w_base, n0, iy0, ix0, a_valid);
    store_step(0, lid);
    barrier();
    for (int s = 0; s < steps; ++s) {
        const int cur = s & 1;
        // The next step's global loads are in flight while this step computes.
        if (s + 1 < steps) load_step((s + 1) * BK, lid, red, in_base, w_base, n0, iy0, ix0, a_valid);
        for (int kk = 0; kk < BK; ++kk) {
            float av[TM], bv[TN];
            for (int i = 0; i < TM; ++i) av[i] = a_tile[cur * BK * BM + kk * BM + tx + i * TX];
            for (int j = 0; j < TN; ++j) bv[j] = b_tile[cur * BK * BN + kk * BN + ty * TN + j];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j) acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
        }
        // The other buffer was last read in the previous step, before the previous barrier.
        if (s + 1 < steps) store_step(cur ^ 1, lid);
        barrier();
    }

    const int out_base = (n * p.K + g * p.cout_g) * M;
    for (int j = 0; j < TN; ++j) {
        const int o = n0 + ty * TN + j;
        if (o >= p.cout_g) break;
        const float bias = HAS_BIAS ? b[g * p.cout_g + o] : 0.0;
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + tx + i * TX;
            if (m < M) y[out_base + o * M + m] = conv_epilogue(acc[i * TN + j], bias);
        }
    }
}
