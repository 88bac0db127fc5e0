#version 450
// conv2d_winograd_gemm: the 16 batched GEMMs of Winograd F(2x2, 3x3),
// M[pos][k][t] = sum_c U[pos][k][c] V[pos][c][t], register-tiled.
//
// Layout: V [16][Q4][TP] RGBA32F texels (4 input channels per texel, from
// conv2d_winograd_input.comp); U, transformed once at load time (G g G^T, in double on the CPU),
// [16][blocks][Q4][4][OCT/4] RGBA32F texels: texel ((((pos * blocks + b) * Q4 + q) * 4 + c) * OCT/4
// + j) holds output channels b * OCT + 4j .. 4j + 3 for input channel 4q + c (zero past K and C);
// output M [16][KQ][TP] RGBA32F texels (4 output channels per texel, KQ = blocks * OCT / 4).
//
// Workgroup z + z_base = pos * blocks + b: one Winograd position and one block of OCT output
// channels. Invocation (linear number over x, y) i owns tiles i * TT .. i * TT + TT - 1 of those
// OCT channels in registers (TT * OCT / 4 vec4); per channel quad it fetches TT texels of V and
// 4 * OCT / 4 texels of U for 4 * TT * OCT / 4 vec4 FMAs. Invocations past the last tile block
// redo it and store nothing; tiles past T are not stored.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 1) const int OCT = 8;  // output channels per invocation, a multiple of 4
layout(constant_id = 2) const int TT = 8;   // tiles per invocation

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer V;                   // transformed input
layout(binding = 1) uniform samplerBuffer U;                   // transformed weights
layout(std430, binding = 2) writeonly buffer MOut { vec4 M[]; };  // products, summed over channels

const int Q = OCT / 4;

void main() {
    const int groups = p.TP / TT;
    const int gid = linear_invocation();
    const int tg = min(gid, groups - 1);
    const int z = int(gl_WorkGroupID.z) + p.z_base;
    const int b = z % p.blocks;
    const int pos = z / p.blocks;
    int vi = pos * p.Q4 * p.TP + tg * TT;
    int wi = (pos * p.blocks + b) * p.Q4 * 4 * Q;

    vec4 acc[TT * Q];
    [[unroll]] for (int i = 0; i < TT * Q; ++i) acc[i] = vec4(0.0);

    [[dont_unroll]] for (int q4 = 0; q4 < p.Q4; ++q4) {
        vec4 v[TT];
        [[unroll]] for (int i = 0; i < TT; ++i) v[i] = texelFetch(V, vi + i);
        [[unroll]] for (int c = 0; c < 4; ++c)
            [[unroll]] for (int j = 0; j < Q; ++j) {
                const vec4 w = texelFetch(U, wi + c * Q + j);
                [[unroll]] for (int i = 0; i < TT; ++i) acc[i * Q + j] = fma(vec4(v[i][c]), w, acc[i * Q + j]);
            }
        vi += p.TP;
        wi += 4 * Q;
    }

    if (gid >= groups) return;
    [[unroll]] for (int j = 0; j < Q; ++j) {
        const int row = (pos * p.KQ + b * Q + j) * p.TP + tg * TT;
        [[unroll]] for (int i = 0; i < TT; ++i)
            if (tg * TT + i < p.T) M[row + i] = acc[i * Q + j];
    }
}
