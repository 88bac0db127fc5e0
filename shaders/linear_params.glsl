// linear_params.glsl: the bindings and push constants of the Linear kernels (linear.comp,
// linear_gemv.comp); LinearPushConstants in engine/src/layers_linear.cpp mirrors the block.
// y[m][n] = act(sum_k x[m][k] * w[n][k] + b[n]): x [M][K], w [N][K], b [N], y rows y_stride long.
#ifndef INPUTS_TEXEL  // linear_gemv_texel declares bindings 0 and 1 as texel buffers
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
#endif
layout(std430, binding = 2) readonly buffer Bias { float b[]; };
layout(std430, binding = 3) writeonly buffer Output { float y[]; };

layout(push_constant) uniform LinearPushConstants {
    int M, K, N;
    int x_base, y_base;
    int y_stride, n_offset;
} p;
