#version 450
// conv2d_winograd_output: the output transform of Winograd F(m x m, 3x3), Y = A^T m A per tile
// and output channel, then conv2d_epilogue.glsl (bias, the fused activation), written as NCHW
// float32; m = WINO_M (a specialization constant, as conv2d_winograd_input.comp), each tile size
// with its own transform:
//   F(2x2, 3x3): A^T = [1 1 1 0; 0 1 -1 -1]: adds only.
//   F(4x4, 3x3): A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
//
// Layout: M [(m + 2)^2][KQ][TP] RGBA32F texels (from conv2d_winograd_gemm.comp, 4 output channels
// per texel); bias [K] and output [N][K][OH][OW] float32 as storage buffers.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = k4: one tile x 4 output
// channels 4 k4 .. 4 k4 + 3 ((m + 2)^2 fetches, up to 4 m^2 stores; rows / columns past OH / OW
// and channels past K are not stored). Specialization constants: conv2d_epilogue.glsl's layout,
// and 7 WINO_M.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int WINO_M = 4;  // output tile: 2 or 4
layout(constant_id = 8) const bool VEC_STORE = false;  // conv2d_output.glsl (F(4x4), OW a multiple of 4)

#include "conv2d_epilogue.glsl"
#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer M;
layout(std430, binding = 1) readonly buffer Bias { float b[]; };
#define OUTPUT_BINDING 2
#include "conv2d_output.glsl"

void at6(in vec4 x[6], out vec4 r[4]) {
    r[0] = x[0] + x[1] + x[2] + x[3] + x[4];
    r[1] = x[1] - x[2] + 2.0 * (x[3] - x[4]);
    r[2] = x[1] + x[2] + 4.0 * (x[3] + x[4]);
    r[3] = x[1] - x[2] + 8.0 * (x[3] - x[4]) + x[5];
}

// F(2x2, 3x3): tile t, output channels 4 k4 ..
void output_f2(int t, int k4, int stride, int base) {
    vec4 m[4][4];
    [[unroll]] for (int i = 0; i < 4; ++i)
        [[unroll]] for (int j = 0; j < 4; ++j) m[i][j] = texelFetch(M, base + (i * 4 + j) * stride);
    // Rows: A^T m.
    vec4 e[2][4];
    [[unroll]] for (int j = 0; j < 4; ++j) {
        e[0][j] = m[0][j] + m[1][j] + m[2][j];
        e[1][j] = m[1][j] - m[2][j] - m[3][j];
    }
    vec4 r[2][2];
    [[unroll]] for (int i = 0; i < 2; ++i) {
        r[i][0] = e[i][0] + e[i][1] + e[i][2];
        r[i][1] = e[i][1] - e[i][2] - e[i][3];
    }
    const ivec3 tc = tile_coords(t);
    const int n = tc.x;
    const int oy = 2 * tc.y, ox = 2 * tc.z;
    const int plane = p.OH * p.OW;
    [[unroll]] for (int c = 0; c < 4; ++c) {
        const int k = k4 * 4 + c;
        if (k >= p.K) break;
        const float bias = HAS_BIAS ? b[k] : 0.0;
        const int o = (n * p.K + k) * plane + oy * p.OW + ox;
        [[unroll]] for (int i = 0; i < 2; ++i)
            [[unroll]] for (int j = 0; j < 2; ++j) {
                if (oy + i < p.OH && ox + j < p.OW) y[o + i * p.OW + j] = conv_epilogue(r[i][j][c], bias);
            }
    }
}

// F(4x4, 3x3).
void output_f4(int t, int k4, int stride, int base) {
    vec4 e[6][4];  // e[j][i] = (A^T m)[i][j]
    [[unroll]] for (int j = 0; j < 6; ++j) {
        vec4 col[6];
        [[unroll]] for (int i = 0; i < 6; ++i) col[i] = texelFetch(M, base + (i * 6 + j) * stride);
        at6(col, e[j]);
    }
    vec4 r[4][4];
    [[unroll]] for (int i = 0; i < 4; ++i) {
        vec4 row[6];
        [[unroll]] for (int j = 0; j < 6; ++j) row[j] = e[j][i];
        at6(row, r[i]);
    }
    const ivec3 c = tile_coords(t);
    const int oy = 4 * c.y, ox = 4 * c.z;
    const int plane = p.OH * p.OW;
    [[unroll]] for (int ch = 0; ch < 4; ++ch) {
        const int k = k4 * 4 + ch;
        if (k >= p.K) break;
        const float bias = HAS_BIAS ? b[k] : 0.0;
        const int o = (c.x * p.K + k) * plane + oy * p.OW + ox;
        [[unroll]] for (int i = 0; i < 4; ++i) {
            if (oy + i >= p.OH) break;
            float v[16];
            [[unroll]] for (int j = 0; j < 4; ++j) v[j] = conv_epilogue(r[i][j][ch], bias);
            store_row(o + i * p.OW, p.OW - ox, 4, v);
        }
    }
}

void main() {
    const int t = linear_invocation();
    if (t >= p.T) return;
    const int k4 = int(gl_WorkGroupID.z) + p.z_base;
    const int stride = p.KQ * p.TP;
    const int base = k4 * p.TP + t;
    if (WINO_M == 4) output_f4(t, k4, stride, base);
    else output_f2(t, k4, stride, base);
}
