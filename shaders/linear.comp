#version 450
// linear: Linear, y[m][n] = act(sum_k x[m][k] * w[n][k] + b[n]) (act: the fused activation ACT).
//
// Layout: x [M][K] (all leading dims of the input flattened into M), w [N][K] (PyTorch's
// [out_features, in_features]), b [N], y [M][N], float32, row-major.
// Each workgroup owns a BM x BN tile of y (BM = TY * RM rows, BN = TX * RN output features);
// each of its TX * TY (= 64) invocations owns RM x RN outputs in registers, rows ty + r * TY
// and features tx + c * TX, so that neighbouring invocations write neighbouring addresses.
// K is walked in chunks of BK: the workgroup stages the chunk's x tile and w tile in shared
// memory (each loaded once, with consecutive invocations reading consecutive k), then every
// invocation does RM * RN FMAs per (RM + RN) shared loads. Each output is one fp32 FMA chain
// over k = 0..K-1 in order.
// Workgroup (x, y) of a dispatch is tile (x + p.x_base, y + p.y_base) (dispatches are split to
// fit the device). A weight larger than maxStorageBufferRange is bound in slices of whole rows:
// then w holds features [n_offset, n_offset + N) only, b all of them, and y's rows are y_stride long.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 2) const int TX = 8;   // == local_size_x: invocations along N
layout(constant_id = 3) const int TY = 8;   // == local_size_y: invocations along M
layout(constant_id = 4) const int RN = 4;   // output features per invocation
layout(constant_id = 5) const int RM = 4;   // rows per invocation
layout(constant_id = 6) const int BK = 16;  // K chunk staged in shared memory
layout(constant_id = 7) const bool HAS_BIAS = true;
layout(constant_id = 8) const uint ACT = 0;          // fused activation (activation.glsl; ACT_RELU = 1)
layout(constant_id = 9) const float ACT_ALPHA = 0.0;  // Activation::alpha
layout(constant_id = 10) const float ACT_BETA = 0.0;  // Activation::beta

const int BN = TX * RN;
const int BM = TY * RM;
const int THREADS = TX * TY;

#include "activation.glsl"
#include "layers_common.glsl"

#include "linear_params.glsl"

shared float xs[BK * BM];  // [k][m]
shared float ws[BK * BN];  // [k][n]

void main() {
    const int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
    const int t = ty * TX + tx;
    const int m0 = (int(gl_WorkGroupID.y) + p.y_base) * BM;
    const int n0 = (int(gl_WorkGroupID.x) + p.x_base) * BN;

    float acc[RM * RN];
    for (int i = 0; i < RM * RN; ++i) acc[i] = 0.0;
    float av[RM];
    float bv[RN];

    for (int k0 = 0; k0 < p.K; k0 += BK) {
        for (int i = t; i < BM * BK; i += THREADS) {
            const int m = i / BK, k = i - m * BK;
            const int gm = m0 + m, gk = k0 + k;
            xs[k * BM + m] = (gm < p.M && gk < p.K) ? x[gm * p.K + gk] : 0.0;
        }
        for (int i = t; i < BN * BK; i += THREADS) {
            const int n = i / BK, k = i - n * BK;
            const int gn = n0 + n, gk = k0 + k;
            ws[k * BN + n] = (gn < p.N && gk < p.K) ? w[gn * p.K + gk] : 0.0;
        }
        barrier();
        const int kn = min(BK, p.K - k0);
        for (int k = 0; k < kn; ++k) {
            for (int r = 0; r < RM; ++r) av[r] = xs[k * BM + ty + r * TY];
            for (int c = 0; c < RN; ++c) bv[c] = ws[k * BN + tx + c * TX];
            for (int r = 0; r < RM; ++r)
                for (int c = 0; c < RN; ++c) acc[r * RN + c] = fma(av[r], bv[c], acc[r * RN + c]);
        }
        barrier();
    }

    for (int r = 0; r < RM; ++r) {
        const int m = m0 + ty + r * TY;
        if (m >= p.M) break;
        for (int c = 0; c < RN; ++c) {
            const int n = n0 + tx + c * TX;
            if (n >= p.N) break;
            float v = acc[r * RN + c];
            if (HAS_BIAS) v += b[p.n_offset + n];
            v = activate(v, ACT, ACT_ALPHA, ACT_BETA);
            y[m * p.y_stride + p.n_offset + n] = v;
        }
    }
}
