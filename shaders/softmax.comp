#version 450
// softmax: Softmax (and LogSoftmax, LOG) along one dim, numerically stable: y = exp(x - m) / sum(exp(x - m)) with m
// the maximum along the dim, so no exp() overflows whatever the inputs' magnitude.
//
// Layout: the tensor seen as [outer][D][inner], float32; a "row" is the D elements
// (o, 0..D-1, i) at stride inner, row index r = o * inner + i. Output has the same layout.
//   ROW_PER_WORKGROUP: workgroup w of a dispatch owns row w + p.row_base; its 64 invocations
//     stride over the row (reductions through shared memory). Used for the last dim (inner 1)
//     and whenever rows are few.
//   otherwise: invocation l of workgroup w owns row (w + p.row_base) * 64 + l and walks it
//     alone; consecutive invocations hold consecutive i, so loads are contiguous. Used when
//     inner > 1 and rows are many (softmax over channels of NCHW).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const bool ROW_PER_WORKGROUP = true;
layout(constant_id = 1) const bool LOG = false;  // LogSoftmax: y = (x - m) - log(sum(exp(x - m)))

#include "layers_common.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform SoftmaxPushConstants {
    int rows;      // outer * inner
    int D;         // length of the softmax dim
    int inner;     // stride of the softmax dim
    int row_base;  // first row (ROW_PER_WORKGROUP) or first 64-row block of this dispatch
} p;

shared float red[64];

// Reduces red[] over the workgroup into red[0] (max when IS_MAX, else sum). Ends with a barrier.
void reduce_shared(bool is_max) {
    const uint l = gl_LocalInvocationID.x;
    for (uint s = 32u; s > 0u; s >>= 1) {
        barrier();
        if (l < s) red[l] = is_max ? max_keep_nan(red[l], red[l + s]) : red[l] + red[l + s];
    }
    barrier();
}

// One output from d = x - m, the row's sum s of exp(x - m) and ls = log(s).
float out_value(float d, float s, float ls) { return LOG ? d - ls : exp(d) / s; }

void main() {
    if (ROW_PER_WORKGROUP) {
        const int r = int(gl_WorkGroupID.x) + p.row_base;
        const int base = (r / p.inner) * p.D * p.inner + r % p.inner;
        const int l = int(gl_LocalInvocationID.x);
        float m = NEG_INF;
        for (int j = l; j < p.D; j += 64) m = max_keep_nan(m, x[base + j * p.inner]);
        red[l] = m;
        reduce_shared(true);
        m = red[0];
        barrier();  // everyone has read red[0] before it is overwritten
        float s = 0.0;
        for (int j = l; j < p.D; j += 64) s += exp(x[base + j * p.inner] - m);
        red[l] = s;
        reduce_shared(false);
        s = red[0];
        const float ls = log(s);
        for (int j = l; j < p.D; j += 64) y[base + j * p.inner] = out_value(x[base + j * p.inner] - m, s, ls);
    } else {
        const int r = (int(gl_WorkGroupID.x) + p.row_base) * 64 + int(gl_LocalInvocationID.x);
        if (r >= p.rows) return;
        const int base = (r / p.inner) * p.D * p.inner + r % p.inner;
        float m = NEG_INF;
        for (int j = 0; j < p.D; ++j) m = max_keep_nan(m, x[base + j * p.inner]);
        float s = 0.0;
        for (int j = 0; j < p.D; ++j) s += exp(x[base + j * p.inner] - m);
        const float ls = log(s);
        for (int j = 0; j < p.D; ++j) y[base + j * p.inner] = out_value(x[base + j * p.inner] - m, s, ls);
    }
}
