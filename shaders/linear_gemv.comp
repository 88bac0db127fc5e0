#version 450
// linear_gemv: Linear for a few rows (a batch of 1 to 4: matrix-vector products),
// y[m][n] = act(sum_k x[m][k] * w[n][k] + b[n]) (layout: linear_params.glsl).
//
// Each workgroup owns RM rows x RN output features (rows 0..M-1, features (x + x_base) * RN ..);
// its THREADS invocations split k: invocation t sums k = t, t + THREADS, ..., so that
// neighbouring invocations read neighbouring x and w addresses, each keeping RM x RN partial
// sums in registers; a shared-memory tree then adds the THREADS partials of each output, and
// invocation j < RM * RN writes output j (row j / RN, feature j % RN). The products are fp32
// FMAs as in linear.comp; only the order of the additions differs (strided, then pairwise).
// Workgroup x of a dispatch is feature block x + p.x_base (dispatches are split to fit).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int THREADS = 64;  // == local_size_x, a power of two
layout(constant_id = 2) const int RN = 4;        // output features per workgroup
layout(constant_id = 3) const int RM = 1;        // rows (M <= RM)
layout(constant_id = 4) const bool HAS_BIAS = true;
layout(constant_id = 5) const uint ACT = 0;           // fused activation (activation.glsl)
layout(constant_id = 6) const float ACT_ALPHA = 0.0;  // Activation::alpha
layout(constant_id = 7) const float ACT_BETA = 0.0;   // Activation::beta

#include "activation.glsl"
#include "linear_params.glsl"

shared float partial[RM * RN * THREADS];  // [output j][invocation t]

void main() {
    const int t = int(gl_LocalInvocationID.x);
    const int n0 = (int(gl_WorkGroupID.x) + p.x_base) * RN;

    float acc[RM * RN];
    for (int j = 0; j < RM * RN; ++j) acc[j] = 0.0;
    for (int k = t; k < p.K; k += THREADS) {
        float xv[RM];
        for (int r = 0; r < RM; ++r) xv[r] = r < p.M ? x[r * p.K + k] : 0.0;
        for (int c = 0; c < RN; ++c) {
            const float wv = n0 + c < p.N ? w[(n0 + c) * p.K + k] : 0.0;
            for (int r = 0; r < RM; ++r) acc[r * RN + c] = fma(xv[r], wv, acc[r * RN + c]);
        }
    }
    for (int j = 0; j < RM * RN; ++j) partial[j * THREADS + t] = acc[j];
    barrier();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            for (int j = 0; j < RM * RN; ++j) partial[j * THREADS + t] += partial[j * THREADS + t + s];
        barrier();
    }
    if (t < RM * RN) {
        const int r = t / RN, n = n0 + t % RN;
        if (r < p.M && n < p.N) {
            float v = partial[t * THREADS];
            if (HAS_BIAS) v += b[p.n_offset + n];
            y[r * p.y_stride + p.n_offset + n] = activate(v, ACT, ACT_ALPHA, ACT_BETA);
        }
    }
}
