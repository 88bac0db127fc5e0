#version 450
// conv2d_winograd_input: the input transform of Winograd F(2x2, 3x3) (VKCONV_WINOGRAD_TILE=2;
// conv2d_winograd4_input.comp is F(4x4, 3x3)), V = B^T d B per 4 x 4
// patch d of the NC4HW4 input packed (padding materialised) by pack_nc4hw4.comp.
//
// Layout: input X [N][Q4][PH][PW] RGBA32F texels (4 input channels per texel, G = 1); output
// V [16][Q4][TP] vec4 (a storage buffer: imageStore is much slower on CPU devices; read by
// conv2d_winograd_gemm.comp as RGBA32F texels), V[(pos * Q4 + q) * TP + t] = (B^T d B)[pos / 4][pos % 4]
// of channel quad q of tile t (see winograd_params.glsl, m = 2); tiles t in [T, TP) are written as zero.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = q: one tile x one channel quad
// (16 fetches, 16 stores). B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: adds only.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer X;                   // packed input
layout(std430, binding = 1) writeonly buffer VOut { vec4 V[]; };  // transformed input

void main() {
    const int t = linear_invocation();
    if (t >= p.TP) return;
    const int q = int(gl_WorkGroupID.z) + p.z_base;
    // Branch-free past T: read tile T - 1 and store zeros.
    const int tc = min(t, p.T - 1);
    const float keep = t < p.T ? 1.0 : 0.0;
    const int per_image = p.TH * p.TW;
    const int n = tc / per_image;
    const int r = tc - n * per_image;
    const int ty = r / p.TW;
    const int tx = r - ty * p.TW;
    const int base = ((n * p.Q4 + q) * p.PH + 2 * ty) * p.PW + 2 * tx;
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
    const int stride = p.Q4 * p.TP;
    const int o = q * p.TP + t;
    [[unroll]] for (int i = 0; i < 4; ++i) {
        V[o + (i * 4 + 0) * stride] = keep * (e[i][0] - e[i][2]);
        V[o + (i * 4 + 1) * stride] = keep * (e[i][1] + e[i][2]);
        V[o + (i * 4 + 2) * stride] = keep * (e[i][2] - e[i][1]);
        V[o + (i * 4 + 3) * stride] = keep * (e[i][1] - e[i][3]);
    }
}
