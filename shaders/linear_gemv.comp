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
// VEC4 (K a multiple of 4, x and w bound at 16-byte aligned offsets): invocation t reads the vec4s
// k4 = t, t + THREADS, ... of x and w (4 consecutive k each, added in order): a quarter of the
// loads, which devices that gather storage-buffer loads lane by lane (CPU devices) pay per load.
// The loops over rows and features are unrolled so that the partial sums stay in registers
// (indexed arrays in private memory cost a gather and a scatter per FMA on CPU devices).
// PER_FEATURE (CPU devices, whose SIMD lanes are invocations of one workgroup run on one
// thread): invocation t of workgroup x owns feature (x + p.x_base) * THREADS + t of every row and
// sums its k in order (vec4 by vec4 with VEC4, as linear.comp's order): the x address is the same
// for every invocation (one load where the device sees that), each w row is read by one lane, and
// there is no shared-memory tree and no barrier.
// INPUTS_TEXEL (the build's linear_gemv_texel variant, with VEC4 and PER_FEATURE, CPU devices):
// x and w are read through RGBA32F uniform texel buffer views, texels r * K / 4 + k4 and
// n * K / 4 + k4. A storage-buffer load that every lane makes at one address costs a per-lane
// loop on CPU devices (lavapipe: 1280 -> 1000 at batch 1 took 7.4 ms with x in a storage buffer,
// 1.0 ms through the view).
// Workgroup x of a dispatch is feature block x + p.x_base (dispatches are split to fit).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int THREADS = 64;  // == local_size_x, a power of two
layout(constant_id = 2) const int RN = 4;        // output features per workgroup
layout(constant_id = 3) const int RM = 1;        // rows (M <= RM)
layout(constant_id = 4) const bool HAS_BIAS = true;
layout(constant_id = 5) const uint ACT = 0;           // fused activation (activation.glsl)
layout(constant_id = 6) const float ACT_ALPHA = 0.0;  // Activation::alpha
layout(constant_id = 7) const float ACT_BETA = 0.0;   // Activation::beta
layout(constant_id = 8) const bool VEC4 = false;      // vec4 loads of x and w
layout(constant_id = 9) const bool PER_FEATURE = false;  // an invocation per feature (RN unused)

#include "activation.glsl"
#include "linear_params.glsl"

// The same bindings as vec4 arrays (VEC4).
#ifdef INPUTS_TEXEL
layout(binding = 0) uniform samplerBuffer Xt;
vec4 x_vec4(int i) { return texelFetch(Xt, i); }
float x_at(int i) { return texelFetch(Xt, i / 4)[i % 4]; }  // unused: VEC4 is set with the texel views
layout(binding = 1) uniform samplerBuffer Wt;
vec4 w_vec4(int i) { return texelFetch(Wt, i); }
float w_at(int i) { return texelFetch(Wt, i / 4)[i % 4]; }  // unused: VEC4 is set with the texel view
#else
layout(std430, binding = 0) readonly buffer Input4 { vec4 x4[]; };
vec4 x_vec4(int i) { return x4[i]; }
float x_at(int i) { return x[i]; }
layout(std430, binding = 1) readonly buffer Weight4 { vec4 w4[]; };
vec4 w_vec4(int i) { return w4[i]; }
float w_at(int i) { return w[i]; }
#endif

shared float partial[RM * RN * THREADS];  // [output j][invocation t]

// The bias, the activation and the store of output (r, n).
void store(int r, int n, float v) {
    if (HAS_BIAS) v += b[p.n_offset + n];
    y[r * p.y_stride + p.n_offset + n] = activate(v, ACT, ACT_ALPHA, ACT_BETA);
}

void per_feature(int t) {
    const int n = (int(gl_WorkGroupID.x) + p.x_base) * THREADS + t;
    if (n >= p.N) return;
    float a[RM];
    [[unroll]] for (int r = 0; r < RM; ++r) a[r] = 0.0;
    if (VEC4) {
        const int K4 = p.K / 4;
        for (int k = 0; k < K4; ++k) {
            const vec4 wv = w_vec4(n * K4 + k);
            [[unroll]] for (int r = 0; r < RM; ++r) {
                const vec4 xv = r < p.M ? x_vec4(r * K4 + k) : vec4(0.0);
                [[unroll]] for (int i = 0; i < 4; ++i) a[r] = fma(xv[i], wv[i], a[r]);
            }
        }
    } else {
        for (int k = 0; k < p.K; ++k) {
            const float wv = w_at(n * p.K + k);
            [[unroll]] for (int r = 0; r < RM; ++r) a[r] = fma(r < p.M ? x_at(r * p.K + k) : 0.0, wv, a[r]);
        }
    }
    [[unroll]] for (int r = 0; r < RM; ++r)
        if (r < p.M) store(r, n, a[r]);
}

void main() {
    const int t = int(gl_LocalInvocationID.x);
    if (PER_FEATURE) {
        per_feature(t);
        return;
    }
    const int n0 = (int(gl_WorkGroupID.x) + p.x_base) * RN;

    float acc[RM * RN];
    [[unroll]] for (int j = 0; j < RM * RN; ++j) acc[j] = 0.0;
    if (VEC4) {
        const int K4 = p.K / 4;
        for (int k = t; k < K4; k += THREADS) {
            vec4 xv[RM];
            [[unroll]] for (int r = 0; r < RM; ++r) xv[r] = r < p.M ? x_vec4(r * K4 + k) : vec4(0.0);
            [[unroll]] for (int c = 0; c < RN; ++c) {
                const vec4 wv = n0 + c < p.N ? w_vec4((n0 + c) * K4 + k) : vec4(0.0);
                [[unroll]] for (int r = 0; r < RM; ++r)
                    [[unroll]] for (int i = 0; i < 4; ++i) acc[r * RN + c] = fma(xv[r][i], wv[i], acc[r * RN + c]);
            }
        }
    }
    for (int k = t; !VEC4 && k < p.K; k += THREADS) {
        float xv[RM];
        [[unroll]] for (int r = 0; r < RM; ++r) xv[r] = r < p.M ? x_at(r * p.K + k) : 0.0;
        [[unroll]] for (int c = 0; c < RN; ++c) {
            const float wv = n0 + c < p.N ? w_at((n0 + c) * p.K + k) : 0.0;
            [[unroll]] for (int r = 0; r < RM; ++r) acc[r * RN + c] = fma(xv[r], wv, acc[r * RN + c]);
        }
    }
    [[unroll]] for (int j = 0; j < RM * RN; ++j) partial[j * THREADS + t] = acc[j];
    barrier();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s)
            [[unroll]] for (int j = 0; j < RM * RN; ++j) partial[j * THREADS + t] += partial[j * THREADS + t + s];
        barrier();
    }
    if (t < RM * RN) {
        const int r = t / RN, n = n0 + t % RN;
        if (r < p.M && n < p.N) store(r, n, partial[t * THREADS]);
    }
}
