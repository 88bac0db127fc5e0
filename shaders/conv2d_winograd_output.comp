#version 450
// conv2d_winograd_output: the output transform of Winograd F(2x2, 3x3), Y = A^T m A per tile
// and output channel, plus bias and the fused ReLU, written as NCHW float32.
//
// Layout: M [16][KQ][TP] RGBA32F texels (from conv2d_winograd_gemm.comp, 4 output channels per
// texel); bias [K] and output [N][K][OH][OW] float32 as storage buffers.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = k4: one tile x 4 output
// channels 4 k4 .. 4 k4 + 3 (16 fetches, up to 16 stores; rows / columns past OH / OW and
// channels past K are not stored). A^T = [1 1 1 0; 0 1 -1 -1]: adds only.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const bool HAS_BIAS = false;
layout(constant_id = 2) const bool RELU = false;

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer M;
layout(std430, binding = 1) readonly buffer Bias { float b[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };

void main() {
    const int t = linear_invocation();
    if (t >= p.T) return;
    const int k4 = int(gl_WorkGroupID.z) + p.z_base;
    const int stride = p.KQ * p.TP;
    const int base = k4 * p.TP + t;
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
    const int per_image = p.TH * p.TW;
    const int n = t / per_image;
    const int rr = t - n * per_image;
    const int ty = rr / p.TW;
    const int tx = rr - ty * p.TW;
    const int oy = 2 * ty, ox = 2 * tx;
    const int plane = p.OH * p.OW;
    [[unroll]] for (int c = 0; c < 4; ++c) {
        const int k = k4 * 4 + c;
        if (k >= p.K) break;
        const float bias = HAS_BIAS ? b[k] : 0.0;
        const int o = (n * p.K + k) * plane + oy * p.OW + ox;
        [[unroll]] for (int i = 0; i < 2; ++i)
            [[unroll]] for (int j = 0; j < 2; ++j) {
                float v = r[i][j][c] + bias;
                if (RELU) v = max(v, 0.0);
                if (oy + i < p.OH && ox + j < p.OW) y[o + i * p.OW + j] = v;
            }
    }
}
