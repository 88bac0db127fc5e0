#version 450
// conv2d_winograd4_output: the output transform of Winograd F(4x4, 3x3), Y = A^T m A per tile
// and output channel, plus bias and the fused ReLU, written as NCHW float32, with
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
//
// Layout: M [36][KQ][TP] RGBA32F texels (from conv2d_winograd_gemm.comp, 4 output channels per
// texel); bias [K] and output [N][K][OH][OW] float32 as storage buffers.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = k4: one tile x 4 output
// channels 4 k4 .. 4 k4 + 3 (36 fetches, up to 64 stores; rows / columns past OH / OW and
// channels past K are not stored).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const bool HAS_BIAS = false;
layout(constant_id = 2) const bool RELU = false;

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer M;
layout(std430, binding = 1) readonly buffer Bias { float b[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };

void at6(in vec4 x[6], out vec4 r[4]) {
    r[0] = x[0] + x[1] + x[2] + x[3] + x[4];
    r[1] = x[1] - x[2] + 2.0 * (x[3] - x[4]);
    r[2] = x[1] + x[2] + 4.0 * (x[3] + x[4]);
    r[3] = x[1] - x[2] + 8.0 * (x[3] - x[4]) + x[5];
}

void main() {
    const int t = linear_invocation();
    if (t >= p.T) return;
    const int k4 = int(gl_WorkGroupID.z) + p.z_base;
    const int stride = p.KQ * p.TP;
    const int base = k4 * p.TP + t;
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
        [[unroll]] for (int i = 0; i < 4; ++i)
            [[unroll]] for (int j = 0; j < 4; ++j) {
                float v = r[i][j][ch] + bias;
                if (RELU) v = max(v, 0.0);
                if (oy + i < p.OH && ox + j < p.OW) y[o + i * p.OW + j] = v;
            }
    }
}
