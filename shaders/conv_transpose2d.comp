#version 450
// conv_transpose2d: ConvTranspose2d (the input gradient of Conv2d), any stride, padding,
// output_padding, dilation, groups; a gather: each invocation owns outputs and sums the inputs
// that reach them, so no two invocations write one element (no atomics, deterministic order).
//
// Layout: input NCHW [N][C][H][W], weight [C][K/groups][kh][kw] (PyTorch's), bias [K], output
// NCHW [N][K][OH][OW], float32. Output (oy, ox) of channel oc in group g receives
//   x[n, ci, iy, ix] * w[ci, oc - g * cout_g, ky, kx]
// for every ci of group g and tap (ky, kx) with iy * sh = oy + pad_top - ky * dh (and likewise
// for x) inside the input: only taps whose offset is a multiple of the stride contribute.
// Each invocation owns OCT output channels of one pixel (register tile: every input value it
// loads feeds OCT FMAs); a workgroup is an 8 x 8 pixel tile of one block of OCT channels.
// Workgroup z = (n * groups + g) * blocks_per_group + block, minus p.z_base (split dispatches).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;
layout(constant_id = 0) const int OCT = 4;        // output channels per invocation
layout(constant_id = 1) const bool HAS_BIAS = false;

#include "conv2d_params.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

void main() {
    const ivec2 o_xy = conv_global_xy();
    const int ox = o_xy.x, oy = o_xy.y;
    if (ox >= p.OW || oy >= p.OH) return;
    const int blocks = (p.cout_g + OCT - 1) / OCT;
    const int z = conv_workgroup().z;
    const int block = z % blocks;
    const int g = (z / blocks) % p.groups;
    const int n = z / (blocks * p.groups);
    const int ocl0 = block * OCT;                     // first channel of the block within the group
    const int oc_count = min(OCT, p.cout_g - ocl0);  // channels of the block that exist

    float acc[OCT];
    for (int o = 0; o < OCT; ++o) acc[o] = 0.0;

    const int plane = p.H * p.W;
    const int taps = p.kh * p.kw;
    const int ty0 = oy + p.pad_top, tx0 = ox + p.pad_left;
    for (int ky = 0; ky < p.kh; ++ky) {
        const int ty = ty0 - ky * p.dh;
        if (ty < 0) break;  // ty only decreases with ky
        const int iy = ty / p.sh;
        if (iy * p.sh != ty || iy >= p.H) continue;
        for (int kx = 0; kx < p.kw; ++kx) {
            const int tx = tx0 - kx * p.dw;
            if (tx < 0) break;
            const int ix = tx / p.sw;
            if (ix * p.sw != tx || ix >= p.W) continue;
            int xi = (n * p.C + g * p.cin_g) * plane + iy * p.W + ix;
            int wi = ((g * p.cin_g) * p.cout_g + ocl0) * taps + ky * p.kw + kx;
            for (int ci = 0; ci < p.cin_g; ++ci) {
                const float v = x[xi];
                for (int o = 0; o < OCT; ++o)
                    if (o < oc_count) acc[o] = fma(v, w[wi + o * taps], acc[o]);
                xi += plane;
                wi += p.cout_g * taps;
            }
        }
    }

    const int out_plane = p.OH * p.OW;
    for (int o = 0; o < OCT; ++o) {
        if (o >= oc_count) break;
        const int oc = g * p.cout_g + ocl0 + o;
        float v = acc[o];
        if (HAS_BIAS) v += b[oc];
        y[(n * p.K + oc) * out_plane + oy * p.OW + ox] = v;
    }
}
