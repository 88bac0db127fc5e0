#version 450
// conv2d_depthwise: groups == in_channels, out_channels = M * in_channels (channel multiplier M).
//
// Layout: input NCHW, weight [C*M][1][kh][kw], bias [C*M], output NCHW, float32.
// Output channel oc reads input channel oc / M. Each workgroup owns a TW x TH tile of output
// pixels (local x along output width) of one image and one block of MT consecutive output
// channels of one input channel; each invocation owns those MT channels at one pixel, so one
// input load feeds MT FMAs. The reduction is only kh*kw per channel, so weights are read
// directly (the same address across the workgroup: a broadcast on GPUs).
// Workgroup z = ((n * C + c) * blocks_per_channel + block) - p.z_base.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
layout(constant_id = 7) const int MT = 1;         // output channels per invocation

#include "conv2d_epilogue.glsl"
#include "padding.glsl"
#include "conv2d_params.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

void main() {
    const int ox = conv_global_xy().x;
    const int oy = conv_global_xy().y;
    if (ox >= p.OW || oy >= p.OH) return;
    const int M = p.cout_g;
    const int blocks = (M + MT - 1) / MT;
    const int z = conv_workgroup().z;
    const int block = z % blocks;
    const int c = (z / blocks) % p.C;
    const int n = z / (blocks * p.C);
    const int oc0 = c * M + block * MT;
    const int oc_count = min(MT, M - block * MT);
    const int taps = p.kh * p.kw;
    const int in_base = (n * p.C + c) * p.H * p.W;
    const int iy0 = oy * p.sh - p.pad_top;
    const int ix0 = ox * p.sw - p.pad_left;

    float acc[MT];
    for (int o = 0; o < MT; ++o) acc[o] = 0.0;
    for (int ky = 0; ky < p.kh; ++ky) {
        const int iy = pad_index(iy0 + ky * p.dh, p.H, PAD_MODE);
        for (int kx = 0; kx < p.kw; ++kx) {
            const int ix = pad_index(ix0 + kx * p.dw, p.W, PAD_MODE);
            const float v = (iy >= 0 && ix >= 0) ? x[in_base + iy * p.W + ix] : 0.0;
            const int t = ky * p.kw + kx;
            for (int o = 0; o < MT; ++o) {
                // Channels past the block's end clamp to its last channel; their result is dropped.
                const int oc = oc0 + min(o, oc_count - 1);
                acc[o] = fma(v, w[oc * taps + t], acc[o]);
            }
        }
    }
    const int out_plane = p.OH * p.OW;
    for (int o = 0; o < MT; ++o) {
        if (o >= oc_count) break;
        y[(n * p.K + oc0 + o) * out_plane + oy * p.OW + ox] = conv_epilogue(acc[o], HAS_BIAS ? b[oc0 + o] : 0.0);
    }
}
