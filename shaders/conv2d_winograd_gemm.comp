#version 450
// conv2d_winograd_gemm: the P batched GEMMs of Winograd F(m x m, 3x3) (P = (m + 2)^2 positions),
// M[pos][k][t] = sum_c U[pos][k][c] V[pos][c][t], register-tiled.
//
// Layout: V [P][Q4][TP] RGBA32F texels (4 input channels per texel, from
// conv2d_winograd_input.comp); U, transformed once at load time (G g G^T, in double on the CPU),
// [P][blocks][Q4][4][OCT/4] RGBA32F texels: texel ((((pos * blocks + b) * Q4 + q) * 4 + c) * OCT/4
// + j) holds output channels b * OCT + 4j .. 4j + 3 for input channel 4q + c (zero past K and C);
// output M [P][KQ][TP] vec4 (a storage buffer, read by the output transform as RGBA32F texels;
// 4 output channels per vec4, KQ = blocks * OCT / 4).
//
// Workgroup z + z_base = pos: one Winograd position (P = 16 for F(2x2, 3x3), 36 for F(4x4, 3x3)).
// Invocation (linear number over x, y) i = b * TP / TT + tb owns tiles tb * TT .. tb * TT + TT - 1
// of output channel block b (OCT channels) in registers (TT * OCT / 4 vec4): consecutive
// invocations (SIMD lanes) take consecutive tile blocks, then the next channel block, so small
// images still fill the workgroups. Per channel quad it fetches TT texels of V and 4 * OCT / 4
// texels of U for 4 * TT * OCT / 4 vec4 FMAs. Invocations past the last (block, tile block)
// redo it and store nothing; tiles past T are not stored.
// SUBGROUP_WEIGHTS (the build's conv2d_winograd_gemm_sg variant, CPU devices): the host makes
// TP / TT a multiple of the workgroup, which is one subgroup of SG lanes, so that all lanes of a
// subgroup share the block b. Per channel quad the lanes then fetch the 4 * OCT / 4 U texels
// together, SG at a time, and shuffle each to every lane: a texel fetch gathers for every lane
// (the same texel SG times when the index is uniform), a shuffle at a uniform index is a
// broadcast.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef SUBGROUP_WEIGHTS
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int OCT = 8;  // output channels per invocation, a multiple of 4
layout(constant_id = 8) const int TT = 8;   // tiles per invocation
layout(constant_id = 9) const int SG = 8;   // SUBGROUP_WEIGHTS: the subgroup size (= the workgroup size)

#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer V;                   // transformed input
layout(binding = 1) uniform samplerBuffer U;                   // transformed weights
layout(std430, binding = 2) writeonly buffer MOut { vec4 M[]; };  // products, summed over channels

const int Q = OCT / 4;

void main() {
    const int groups = p.TP / TT;  // tile blocks
    const int gid = linear_invocation();
    const int id = min(gid, groups * p.blocks - 1);
    const int b = id / groups;
    const int tg = id - b * groups;
    const int pos = int(gl_WorkGroupID.z) + p.z_base;
    int vi = pos * p.Q4 * p.TP + tg * TT;
    int wi = (pos * p.blocks + b) * p.Q4 * 4 * Q;

#ifdef SUBGROUP_WEIGHTS
    const int NU = (4 * Q + SG - 1) / SG;  // U fetches per lane and quad
    const int lane = int(gl_SubgroupInvocationID);
    const int u_last = (pos * p.blocks + b + 1) * p.Q4 * 4 * Q - 1;  // the lanes past 4 * Q stay in the block's texels
#endif
    vec4 acc[TT * Q];
    [[unroll]] for (int i = 0; i < TT * Q; ++i) acc[i] = vec4(0.0);

    [[dont_unroll]] for (int q4 = 0; q4 < p.Q4; ++q4) {
        vec4 v[TT];
        [[unroll]] for (int i = 0; i < TT; ++i) v[i] = texelFetch(V, vi + i);
#ifdef SUBGROUP_WEIGHTS
        vec4 u[NU];
        [[unroll]] for (int r = 0; r < NU; ++r) u[r] = texelFetch(U, min(wi + r * SG + lane, u_last));
#endif
        [[unroll]] for (int c = 0; c < 4; ++c)
            [[unroll]] for (int j = 0; j < Q; ++j) {
#ifdef SUBGROUP_WEIGHTS
                const vec4 w = subgroupShuffle(u[(c * Q + j) / SG], (c * Q + j) % SG);
#else
                const vec4 w = texelFetch(U, wi + c * Q + j);
#endif
                [[unroll]] for (int i = 0; i < TT; ++i) acc[i * Q + j] = fma(vec4(v[i][c]), w, acc[i * Q + j]);
            }
        vi += p.TP;
        wi += 4 * Q;
    }

    if (gid >= groups * p.blocks) return;
    [[unroll]] for (int j = 0; j < Q; ++j) {
        const int row = (pos * p.KQ + b * Q + j) * p.TP + tg * TT;
        [[unroll]] for (int i = 0; i < TT; ++i)
            if (tg * TT + i < p.T) M[row + i] = acc[i * Q + j];
    }
}
