#version 450
// conv2d_direct_tiled: direct convolution, any groups (grouped and dense), any padding mode.
//
// Layout: input NCHW, weight [K][C/groups][kh][kw], bias [K], output NCHW, float32.
// Each workgroup owns a TW x TH tile of output pixels (local x along output width) of one image,
// for one block of OCT output channels inside one group. Each invocation owns OCT output channels
// of one pixel and keeps them in registers, so each input value it loads feeds OCT FMAs. The
// block's weights are staged through shared memory in chunks of KCHUNK reduction elements
// (ci, ky, kx), loaded once per workgroup instead of once per invocation.
// Workgroup z = ((n * groups + g) * blocks_per_group + block) - p.z_base.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 7) const int OCT = 4;        // output channels per invocation
layout(constant_id = 8) const int KCHUNK = 64;    // reduction elements staged per round

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

shared float w_tile[OCT * KCHUNK];

void main() {
    const int ox = conv_global_xy().x;
    const int oy = conv_global_xy().y;
    const int blocks = (p.cout_g + OCT - 1) / OCT;
    const int z = conv_workgroup().z;
    const int block = z % blocks;
    const int g = (z / blocks) % p.groups;
    const int n = z / (blocks * p.groups);
    const int oc0 = g * p.cout_g + block * OCT;           // first output channel of the block
    const int oc_count = min(OCT, p.cout_g - block * OCT);  // channels of the block that exist
    const bool in_tile = ox < p.OW && oy < p.OH;

    const int taps = p.kh * p.kw;
    const int red = p.cin_g * taps;  // reduction length per output channel
    const int iy0 = oy * p.sh - p.pad_top;
    const int ix0 = ox * p.sw - p.pad_left;
    const int plane = p.H * p.W;
    const int in_base = (n * p.C + g * p.cin_g) * plane;
    const int lid = int(gl_LocalInvocationIndex);
    const int wg_size = int(gl_WorkGroupSize.x * gl_WorkGroupSize.y);

    float acc[OCT];
    for (int o = 0; o < OCT; ++o) acc[o] = 0.0;

    for (int k0 = 0; k0 < red; k0 += KCHUNK) {
        const int kn = min(KCHUNK, red - k0);
        for (int i = lid; i < OCT * KCHUNK; i += wg_size) {
            const int o = i / KCHUNK, j = i - o * KCHUNK;
            w_tile[i] = (o < oc_count && j < kn) ? w[(oc0 + o) * red + k0 + j] : 0.0;
        }
        barrier();
        if (in_tile) {
            int ci = k0 / taps;
            int ky = (k0 - ci * taps) / p.kw;
            int kx = k0 - ci * taps - ky * p.kw;
            for (int j = 0; j < kn; ++j) {
                const int iy = pad_index(iy0 + ky * p.dh, p.H, PAD_MODE);
                const int ix = pad_index(ix0 + kx * p.dw, p.W, PAD_MODE);
                const float v = (iy >= 0 && ix >= 0) ? x[in_base + ci * plane + iy * p.W + ix] : 0.0;
                for (int o = 0; o < OCT; ++o) acc[o] = fma(v, w_tile[o * KCHUNK + j], acc[o]);
                if (++kx == p.kw) {
                    kx = 0;
                    if (++ky == p.kh) { ky = 0; ++ci; }
                }
            }
        }
        barrier();
    }

    if (!in_tile) return;
    const int out_plane = p.OH * p.OW;
    for (int o = 0; o < OCT; ++o) {
        if (o >= oc_count) break;
        y[(n * p.K + oc0 + o) * out_plane + oy * p.OW + ox] = conv_epilogue(acc[o], HAS_BIAS ? b[oc0 + o] : 0.0);
    }
}
