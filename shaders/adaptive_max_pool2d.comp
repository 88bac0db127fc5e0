#version 450
// adaptive_max_pool2d: AdaptiveMaxPool2d, PyTorch's windows (adaptive_pool.glsl).
//
// Layout: input [planes][H][W], output [planes][OH][OW], float32 (planes = N * C or C).
// Each invocation owns one output element: the maximum of its window, a NaN winning as in
// PyTorch (max_keep_nan). A workgroup is an 8 x 8 tile of one plane; workgroup (x, y, z) of a
// dispatch is tile (x + p.x_base, y + p.y_base) of plane z + p.z_base.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

#include "adaptive_pool.glsl"
#include "layers_common.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform AdaptivePoolPushConstants {
    int H, W, OH, OW;
    int x_base, y_base, z_base;
} p;

void main() {
    const int ox = (int(gl_WorkGroupID.x) + p.x_base) * 8 + int(gl_LocalInvocationID.x);
    const int oy = (int(gl_WorkGroupID.y) + p.y_base) * 8 + int(gl_LocalInvocationID.y);
    const int plane = int(gl_WorkGroupID.z) + p.z_base;
    if (ox >= p.OW || oy >= p.OH) return;
    const int h0 = window_start(uint(oy), uint(p.OH), uint(p.H)), h1 = window_end(uint(oy), uint(p.OH), uint(p.H));
    const int w0 = window_start(uint(ox), uint(p.OW), uint(p.W)), w1 = window_end(uint(ox), uint(p.OW), uint(p.W));
    const int in_base = plane * p.H * p.W;
    float m = NEG_INF;
    for (int iy = h0; iy < h1; ++iy)
        for (int ix = w0; ix < w1; ++ix) m = max_keep_nan(m, x[in_base + iy * p.W + ix]);
    y[(plane * p.OH + oy) * p.OW + ox] = m;
}
