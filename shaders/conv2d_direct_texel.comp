#version 450
// conv2d_direct_texel: register-tiled direct convolution reading the input and the weights through
// uniform texel buffers. Any groups, stride, dilation, padding mode (pad_index), bias, fused ReLU.
//
// Layout: input NCHW float32 read as an R32F texel buffer (X); weights transformed once at load
// time into RGBA32F texels (Wt): [groups][blocks][kh*kw][cin_g][OCT/4] vec4, the vec4 holding 4
// consecutive output channels of the block (zero past cout_g); bias [K] and output NCHW as
// storage buffers.
//
// Each workgroup owns LX*PX output columns x LY output rows of one image, for one block of OCT
// output channels of one group. Invocation (lx, ly) owns OCT channels x PX pixels in registers:
// pixels ox = tile_x + lx + LX*i (i < PX), so the SIMD lane axis (local x) runs along output width
// and consecutive lanes read consecutive input addresses. The reduction runs taps outside,
// input channels inside: the padded input coordinates (pad_index, which may divide) are computed
// once per tap and pixel, and the inner loop does PX + OCT/4 texel fetches for PX*OCT FMAs.
//
// SG (subgroups of at least 8 with shuffle): the weights are the same for every invocation of the
// workgroup, so instead of each invocation fetching them, subgroup lanes 0..7 fetch 8 consecutive
// weight texels (8/Q reduction steps' worth) and subgroupShuffle hands them to every lane: 8x
// fewer weight fetches. Needs every lane active in the loop (no early exit before it) and a
// weight buffer padded by 8 texels (the last fetch may run past the block).
// NO_SUBGROUP_SHUFFLE (the conv2d_direct_texel_nosg variant, CMakeLists.txt): without the SG code
// and the subgroup extensions, for devices without subgroup shuffles in compute shaders, which
// refuse any module declaring the GroupNonUniformShuffle capability, whatever SG is set to.
// Workgroup z = ((n * groups + g) * blocks + block) - p.z_base.
#extension GL_GOOGLE_include_directive : require
#ifndef NO_SUBGROUP_SHUFFLE
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
#endif

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 7) const int OCT = 8;        // output channels per invocation, multiple of 4
layout(constant_id = 8) const int PX = 4;         // output pixels per invocation along width
layout(constant_id = 9) const bool SG = false;    // weights shared through subgroup shuffles

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(binding = 0) uniform samplerBuffer X;   // R32F
layout(binding = 1) uniform samplerBuffer Wt;  // RGBA32F
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

const int Q = OCT / 4;
const int CH = SG ? (Q >= 8 ? 1 : 8 / Q) : 1;  // reduction steps per weight fetch

void main() {
    const int LX = int(gl_WorkGroupSize.x);
    const int lx = int(gl_LocalInvocationID.x);
    const int ox0 = conv_workgroup().x * LX * PX + lx;
    const int oy = conv_global_xy().y;
    const int blocks = (p.cout_g + OCT - 1) / OCT;
    const int z = conv_workgroup().z;
    const int block = z % blocks;
    const int g = (z / blocks) % p.groups;
    const int n = z / (blocks * p.groups);
    const int oc0 = g * p.cout_g + block * OCT;
    const int oc_count = min(OCT, p.cout_g - block * OCT);
    const int oyc = min(oy, p.OH - 1);  // rows past the image compute row OH-1 and are not stored

    const int plane = p.H * p.W;
    const int in_base = (n * p.C + g * p.cin_g) * plane;
    const int taps = p.kh * p.kw;
    int wi = (g * blocks + block) * taps * p.cin_g * Q;  // texel index of the block's weights

    vec4 acc[PX * Q];
    for (int i = 0; i < PX * Q; ++i) acc[i] = vec4(0.0);

    for (int ky = 0; ky < p.kh; ++ky) {
        const int iy = pad_index(oyc * p.sh - p.pad_top + ky * p.dh, p.H, PAD_MODE);
        for (int kx = 0; kx < p.kw; ++kx) {
            int off[PX];
            float keep[PX];
            for (int i = 0; i < PX; ++i) {
                const int ox = min(ox0 + i * LX, p.OW - 1);
                const int ix = pad_index(ox * p.sw - p.pad_left + kx * p.dw, p.W, PAD_MODE);
                const bool ok = iy >= 0 && ix >= 0;
                off[i] = ok ? in_base + iy * p.W + ix : in_base;
                keep[i] = ok ? 1.0 : 0.0;
            }
#ifndef NO_SUBGROUP_SHUFFLE
            if (SG) {
                const int lane = int(gl_SubgroupInvocationID) & 7;
                for (int ci0 = 0; ci0 < p.cin_g; ci0 += CH) {
                    const vec4 wl = texelFetch(Wt, wi + lane);  // texels wi .. wi+7 across lanes 0..7
                    for (int s = 0; s < CH; ++s) {
                        if (ci0 + s >= p.cin_g) break;  // uniform
                        float v[PX];
                        for (int i = 0; i < PX; ++i) v[i] = texelFetch(X, off[i]).r * keep[i];
                        for (int q = 0; q < Q; ++q) {
                            const vec4 w = subgroupShuffle(wl, uint(s * Q + q));
                            for (int i = 0; i < PX; ++i) acc[i * Q + q] = fma(vec4(v[i]), w, acc[i * Q + q]);
                        }
                        for (int i = 0; i < PX; ++i) off[i] += plane;
                    }
                    wi += CH * Q;
                }
                wi -= (CH * ((p.cin_g + CH - 1) / CH) - p.cin_g) * Q;  // back to the next tap's first texel
            } else
#endif
            {
                for (int ci = 0; ci < p.cin_g; ++ci) {
                    float v[PX];
                    for (int i = 0; i < PX; ++i) v[i] = texelFetch(X, off[i]).r * keep[i];
                    for (int q = 0; q < Q; ++q) {
                        const vec4 w = texelFetch(Wt, wi + q);
                        for (int i = 0; i < PX; ++i) acc[i * Q + q] = fma(vec4(v[i]), w, acc[i * Q + q]);
                    }
                    wi += Q;
                    for (int i = 0; i < PX; ++i) off[i] += plane;
                }
            }
        }
    }

    if (oy >= p.OH) return;
    const int out_plane = p.OH * p.OW;
    for (int i = 0; i < PX; ++i) {
        const int ox = ox0 + i * LX;
        if (ox >= p.OW) break;
        for (int q = 0; q < Q; ++q)
            for (int c = 0; c < 4; ++c) {
                const int o = q * 4 + c;
                if (o >= oc_count) break;
                y[(n * p.K + oc0 + o) * out_plane + oy * p.OW + ox] = conv_epilogue(acc[i * Q + q][c], HAS_BIAS ? b[oc0 + o] : 0.0);
            }
    }
}
