#version 450
// conv2d_winograd4_input: the input transform of Winograd F(4x4, 3x3), V = B^T d B per 6 x 6
// patch d of the NC4HW4 input packed (padding materialised) by pack_nc4hw4.comp, with
//   B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0  4 -4 -1 1 0;
//          0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0  4  0 -5 0 1]   (interpolation points 0, +-1, +-2).
//
// Layout: input X [N][Q4][PH][PW] RGBA32F texels (4 input channels per texel, G = 1); output V
// [36][Q4][TP] vec4 (a storage buffer, read by conv2d_winograd_gemm.comp as RGBA32F texels),
// V[(pos * Q4 + q) * TP + t] = (B^T d B)[pos / 6][pos % 6] of channel quad q of tile t (see
// winograd_params.glsl, m = 4); tiles t in [T, TP) are written as zero.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = q: one tile x one channel quad
// (36 fetches, 36 stores).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer X;                        // packed input
layout(std430, binding = 1) writeonly buffer VOut { vec4 V[]; };  // transformed input

void bt6(in vec4 x[6], out vec4 y[6]) {
    y[0] = 4.0 * x[0] - 5.0 * x[2] + x[4];
    y[1] = -4.0 * (x[1] + x[2]) + x[3] + x[4];
    y[2] = 4.0 * (x[1] - x[2]) - x[3] + x[4];
    y[3] = 2.0 * (x[3] - x[1]) - x[2] + x[4];
    y[4] = 2.0 * (x[1] - x[3]) - x[2] + x[4];
    y[5] = 4.0 * x[1] - 5.0 * x[3] + x[5];
}

void main() {
    const int t = linear_invocation();
    if (t >= p.TP) return;
    const int q = int(gl_WorkGroupID.z) + p.z_base;
    // Branch-free past T: read tile T - 1 and store zeros.
    const ivec3 c = tile_coords(min(t, p.T - 1));
    const float keep = t < p.T ? 1.0 : 0.0;
    const int base = ((c.x * p.Q4 + q) * p.PH + 4 * c.y) * p.PW + 4 * c.z;
    // Columns first: e[j] = B^T d[.][j] (rows of B^T d, column j).
    vec4 e[6][6];  // e[j][i] = (B^T d)[i][j]
    [[unroll]] for (int j = 0; j < 6; ++j) {
        vec4 col[6];
        [[unroll]] for (int i = 0; i < 6; ++i) col[i] = texelFetch(X, base + i * p.PW + j);
        bt6(col, e[j]);
    }
    const int stride = p.Q4 * p.TP;
    const int o = q * p.TP + t;
    [[unroll]] for (int i = 0; i < 6; ++i) {
        vec4 row[6], v[6];
        [[unroll]] for (int j = 0; j < 6; ++j) row[j] = e[j][i];
        bt6(row, v);  // (B^T d B)[i][.]
        [[unroll]] for (int j = 0; j < 6; ++j) V[o + (i * 6 + j) * stride] = keep * v[j];
    }
}
