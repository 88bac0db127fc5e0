#version 450
// conv2d_winograd_input: the input transform of Winograd F(m x m, 3x3), V = B^T d B per
// (m + 2) x (m + 2) patch d of the NC4HW4 input packed (padding materialised) by
// pack_nc4hw4.comp; m = WINO_M (a specialization constant: 4 by default, 2 under the
// winograd_tile override), each tile size with its own transform:
//   F(2x2, 3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: adds only.
//   F(4x4, 3x3): B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0  4 -4 -1 1 0;
//                       0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0  4  0 -5 0 1]   (points 0, +-1, +-2).
//
// Layout: input X [N][Q4][PH][PW] RGBA32F texels (4 input channels per texel, G = 1); output V
// [(m + 2)^2][Q4][TP] vec4 (a storage buffer: imageStore is much slower on CPU devices; read by
// conv2d_winograd_gemm.comp as RGBA32F texels), V[(pos * Q4 + q) * TP + t] = (B^T d B)[pos / (m + 2)]
// [pos % (m + 2)] of channel quad q of tile t (see winograd_params.glsl); tiles t in [T, TP) are
// written as zero.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = q: one tile x one channel quad
// ((m + 2)^2 fetches and stores). Specialization constants: conv2d_epilogue.glsl's layout, and
// 7 WINO_M.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int WINO_M = 4;  // output tile: 2 or 4

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer X;                      // packed input
layout(std430, binding = 1) writeonly buffer VOut { vec4 V[]; };  // transformed input

void bt6(in vec4 x[6], out vec4 y[6]) {
    y[0] = 4.0 * x[0] - 5.0 * x[2] + x[4];
    y[1] = -4.0 * (x[1] + x[2]) + x[3] + x[4];
    y[2] = 4.0 * (x[1] - x[2]) - x[3] + x[4];
    y[3] = 2.0 * (x[3] - x[1]) - x[2] + x[4];
    y[4] = 2.0 * (x[1] - x[3]) - x[2] + x[4];
    y[5] = 4.0 * x[1] - 5.0 * x[3] + x[5];
}

// F(2x2, 3x3): the 4 x 4 patch at `base`, V from `o` in steps of `stride`.
void transform_f2(int base, int o, int stride, float keep) {
    vec4 d[4][4];
    [[unroll]] for (int i = 0; i < 4; ++i)
        [[unroll]] for (int j = 0; j < 4; ++j) d[i][j] = texelFetch(X, base + i * p.PW + j);
    // Rows: B^T d.
    vec4 e[4][4];
    [[unroll]] for (int j = 0; j < 4; ++j) {
        e[0][j] = d[0][j] - d[2][j];
        e[1][j] = d[1][j] + d[2][j];
        e[2][j] = d[2][j] - d[1][j];
        e[3][j] = d[1][j] - d[3][j];
    }
    // Columns: (B^T d) B.
    [[unroll]] for (int i = 0; i < 4; ++i) {
        V[o + (i * 4 + 0) * stride] = keep * (e[i][0] - e[i][2]);
        V[o + (i * 4 + 1) * stride] = keep * (e[i][1] + e[i][2]);
        V[o + (i * 4 + 2) * stride] = keep * (e[i][2] - e[i][1]);
        V[o + (i * 4 + 3) * stride] = keep * (e[i][1] - e[i][3]);
    }
}

// F(4x4, 3x3): the 6 x 6 patch.
void transform_f4(int base, int o, int stride, float keep) {
    // Columns first: e[j] = B^T d[.][j] (rows of B^T d, column j).
    vec4 e[6][6];  // e[j][i] = (B^T d)[i][j]
    [[unroll]] for (int j = 0; j < 6; ++j) {
        vec4 col[6];
        [[unroll]] for (int i = 0; i < 6; ++i) col[i] = texelFetch(X, base + i * p.PW + j);
        bt6(col, e[j]);
    }
    [[unroll]] for (int i = 0; i < 6; ++i) {
        vec4 row[6], v[6];
        [[unroll]] for (int j = 0; j < 6; ++j) row[j] = e[j][i];
        bt6(row, v);  // (B^T d B)[i][.]
        [[unroll]] for (int j = 0; j < 6; ++j) V[o + (i * 6 + j) * stride] = keep * v[j];
    }
}

void main() {
    const int t = linear_invocation();
    if (t >= p.TP) return;
    const int q = int(gl_WorkGroupID.z) + p.z_base;
    // Branch-free past T: read tile T - 1 and store zeros.
    const ivec3 c = tile_coords(min(t, p.T - 1));
    const float keep = t < p.T ? 1.0 : 0.0;
    const int base = ((c.x * p.Q4 + q) * p.PH + WINO_M * c.y) * p.PW + WINO_M * c.z;
    const int stride = p.Q4 * p.TP;
    const int o = q * p.TP + t;
    if (WINO_M == 4) transform_f4(base, o, stride, keep);
    else transform_f2(base, o, stride, keep);
}
