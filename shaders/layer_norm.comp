#version 450
// layer_norm: LayerNorm over the last p.d elements of each row, y = (x - mean) * rstd * w + b.
//
// Layout: x and y are [rows][d] float32, row-major; w and b are [d] (AFFINE). One workgroup of 64
// invocations per row (row = gl_WorkGroupID.x + p.row_base; dispatches are split to fit the
// device): invocation t sums elements t, t + 64, ... (consecutive invocations read consecutive
// addresses), then a shared-memory tree adds the 64 partial sums. Two passes over the row: the
// mean, then the sum of (x - mean)^2 (the biased variance, as PyTorch), rstd = inversesqrt(var + eps).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const bool AFFINE = true;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };  // AFFINE: weight (else unused)
layout(std430, binding = 2) readonly buffer B { float b[]; };  // AFFINE: bias (else unused)
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform LayerNormPushConstants {
    uint rows;      // rows in this binding
    uint d;         // elements per row (the product of normalized_shape)
    uint row_base;  // row of this dispatch's first workgroup
    float eps;
} p;

shared float partial[64];

// The sum of every invocation's v (all 64 invocations call it).
float workgroup_sum(float v) {
    const uint t = gl_LocalInvocationID.x;
    partial[t] = v;
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1) {
        if (t < s) partial[t] += partial[t + s];
        barrier();
    }
    const float r = partial[0];
    barrier();  // partial is reused by the next call
    return r;
}

void main() {
    const uint row = gl_WorkGroupID.x + p.row_base;
    if (row >= p.rows) return;  // uniform across the workgroup
    const uint t = gl_LocalInvocationID.x;
    const uint base = row * p.d;
    float s = 0.0;
    for (uint i = t; i < p.d; i += 64u) s += x[base + i];
    const float mean = workgroup_sum(s) / float(p.d);
    s = 0.0;
    for (uint i = t; i < p.d; i += 64u) {
        const float dv = x[base + i] - mean;
        s += dv * dv;
    }
    const float rstd = inversesqrt(workgroup_sum(s) / float(p.d) + p.eps);
    for (uint i = t; i < p.d; i += 64u) {
        float v = (x[base + i] - mean) * rstd;
        if (AFFINE) v = v * w[i] + b[i];
        y[base + i] = v;
    }
}
