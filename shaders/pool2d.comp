#version 450
// pool2d: MaxPool2d and AvgPool2d (MODE), PyTorch's semantics.
//
// Layout: input [planes][H][W], output [planes][OH][OW], float32 (NCHW with planes = N * C,
// or CHW with planes = C). Each invocation owns one output element; a workgroup is an 8 x 8
// tile of one plane (local x along the output width). The window's geometry (kernel, stride,
// padding, dilation) is in specialization constants, so that its loops unroll; sizes are push
// constants.
// INPUT_TEXEL (the build's pool2d_texel variant): the input is read through an R32F uniform
// texel buffer (texel fetches are cheaper than storage-buffer loads on CPU devices).
// VEC4 (INPUT_TEXEL only; CPU devices): 1 + s, the input is an RGBA32F view (4 columns a fetch)
// and each invocation owns 4 consecutive outputs along the width (a workgroup 32 x 8 outputs):
// the host sets it where W % 4 == 0, so that the first column of an invocation's windows,
// 4 k * SW - PW, sits s = (-PW) mod 4 columns into its texel for every invocation, and the
// windows' columns span at most 64. Taps and their order are the scalar path's.
// Workgroup (x, y, z) of a dispatch is tile (x + p.x_base, y + p.y_base) of plane z + p.z_base
// (dispatches are split to fit the device).
//   max: maximum over the window's taps that fall inside the input (padding is -inf); a NaN
//        wins (PyTorch's rule), taps visited row by row as PyTorch does.
//   avg: sum of the window's elements inside the input divided by
//        divisor_override                          if HAS_DIVISOR,
//        window clipped to the padded input        if COUNT_INCLUDE_PAD,
//        window clipped to the input               otherwise.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;
layout(constant_id = 0) const int MODE = 0;  // MODE_MAX or MODE_AVG
layout(constant_id = 1) const bool COUNT_INCLUDE_PAD = true;
layout(constant_id = 2) const bool HAS_DIVISOR = false;
layout(constant_id = 3) const int KH = 1;  // kernel
layout(constant_id = 4) const int KW = 1;
layout(constant_id = 5) const int SH = 1;  // stride
layout(constant_id = 6) const int SW = 1;
layout(constant_id = 7) const int PH = 0;  // padding (top = bottom, left = right)
layout(constant_id = 8) const int PW = 0;
layout(constant_id = 9) const int DH = 1;  // dilation (max only; 1 for avg)
layout(constant_id = 10) const int DW = 1;
layout(constant_id = 11) const int VEC4 = 0;  // 0, or 1 + s (above)

#define MODE_MAX 0
#define MODE_AVG 1

#include "layers_common.glsl"

#ifdef INPUT_TEXEL
layout(binding = 0) uniform samplerBuffer Xt;  // R32F (VEC4: RGBA32F)
float load_x(int i) { return texelFetch(Xt, i).x; }
vec4 load_x4(int i) { return texelFetch(Xt, i); }
#else
layout(std430, binding = 0) readonly buffer Input { float x[]; };
float load_x(int i) { return x[i]; }
vec4 load_x4(int i) { return vec4(0.0); }  // unused: VEC4 needs INPUT_TEXEL
#endif
layout(std430, binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform Pool2dPushConstants {
    int H, W, OH, OW;
    int divisor;           // divisor_override (HAS_DIVISOR)
    int x_base, y_base, z_base;
} p;

// The divisor of the average over the window at (hs, ws).
int avg_divisor(int hs, int ws) {
    const int he = min(hs + KH, p.H + PH);
    const int we = min(ws + KW, p.W + PW);
    const int h0 = max(hs, 0), w0 = max(ws, 0);
    const int h1 = min(he, p.H), w1 = min(we, p.W);
    return HAS_DIVISOR ? p.divisor : COUNT_INCLUDE_PAD ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
}

// VEC4: outputs (oy, ox0 .. ox0 + 3) of `plane`.
void main_vec4(int ox0, int oy, int plane) {
    const int S = VEC4 - 1;
    const int NT = (S + 3 * SW + (KW - 1) * DW + 1 + 3) / 4;  // texels a window row spans (<= 16)
    const int in_base = plane * p.H * p.W;
    const int hs = oy * SH - PH;
    const int a = ox0 * SW - PW - S;  // a multiple of 4: the first texel's column
    float r[4];
    [[unroll]] for (int o = 0; o < 4; ++o) r[o] = MODE == MODE_MAX ? NEG_INF : 0.0;
    [[unroll]] for (int ky = 0; ky < KH; ++ky) {
        const int iy = hs + ky * DH;
        const bool row_ok = iy >= 0 && iy < p.H;
        const int row = in_base + clamp(iy, 0, p.H - 1) * p.W;
        vec4 t[16];
        [[unroll]] for (int m = 0; m < 16; ++m) {
            if (m >= NT) break;
            t[m] = load_x4((row + clamp(a + 4 * m, 0, p.W - 4)) / 4);  // a texel outside the row: its taps are skipped
        }
        [[unroll]] for (int o = 0; o < 4; ++o)
            [[unroll]] for (int kx = 0; kx < KW; ++kx) {
                const int e = S + o * SW + kx * DW;
                const bool ok = row_ok && a + e >= 0 && a + e < p.W;
                const float v = t[e / 4][e % 4];
                // Max: only the taps inside (padding is -inf). Avg: + 0 for a tap outside adds
                // nothing (the sum starts at +0), in the scalar path's order.
                if (MODE == MODE_MAX) { if (ok) r[o] = max_keep_nan(r[o], v); }
                else r[o] += ok ? v : 0.0;
            }
    }
    [[unroll]] for (int o = 0; o < 4; ++o) {
        if (ox0 + o >= p.OW) break;
        const float v = MODE == MODE_MAX ? r[o] : r[o] / float(avg_divisor(hs, (ox0 + o) * SW - PW));
        y[(plane * p.OH + oy) * p.OW + ox0 + o] = v;
    }
}

void main() {
    if (VEC4 > 0) {
        const int ox0 = ((int(gl_WorkGroupID.x) + p.x_base) * 8 + int(gl_LocalInvocationID.x)) * 4;
        const int oy = (int(gl_WorkGroupID.y) + p.y_base) * 8 + int(gl_LocalInvocationID.y);
        if (ox0 >= p.OW || oy >= p.OH) return;
        main_vec4(ox0, oy, int(gl_WorkGroupID.z) + p.z_base);
        return;
    }
    const int ox = (int(gl_WorkGroupID.x) + p.x_base) * 8 + int(gl_LocalInvocationID.x);
    const int oy = (int(gl_WorkGroupID.y) + p.y_base) * 8 + int(gl_LocalInvocationID.y);
    const int plane = int(gl_WorkGroupID.z) + p.z_base;
    if (ox >= p.OW || oy >= p.OH) return;
    const int in_base = plane * p.H * p.W;
    const int hs = oy * SH - PH;
    const int ws = ox * SW - PW;
    float r;
    if (MODE == MODE_MAX) {
        r = NEG_INF;
        for (int ky = 0; ky < KH; ++ky) {
            const int iy = hs + ky * DH;
            if (iy < 0 || iy >= p.H) continue;
            for (int kx = 0; kx < KW; ++kx) {
                const int ix = ws + kx * DW;
                if (ix < 0 || ix >= p.W) continue;
                r = max_keep_nan(r, load_x(in_base + iy * p.W + ix));
            }
        }
    } else {
        const int h0 = max(hs, 0), w0 = max(ws, 0);
        const int h1 = min(min(hs + KH, p.H + PH), p.H), w1 = min(min(ws + KW, p.W + PW), p.W);
        float s = 0.0;
        for (int iy = h0; iy < h1; ++iy)
            for (int ix = w0; ix < w1; ++ix) s += load_x(in_base + iy * p.W + ix);
        r = s / float(avg_divisor(hs, ws));
    }
    y[(plane * p.OH + oy) * p.OW + ox] = r;
}
