#version 450
// activation: the activation modules (ReLU6, Hardtanh, LeakyReLU, ELU, Sigmoid, Tanh, SiLU,
// Hardswish, Hardsigmoid, GELU) and PReLU, y[i] = f(x[i]) with f from activation.glsl.
//
// Layout: x and y are flat float32 arrays of p.n elements (any shape, row-major).
//   PER_CHANNEL false: y[i] = activate(x[i], KIND, ALPHA, BETA)
//   PER_CHANNEL true:  y[i] = x[i] > 0 ? x[i] : w[c] * x[i], c = (i / p.inner) % p.channels (PReLU)
// Each workgroup owns 64 * ITEMS consecutive elements; invocation l handles elements l, l + 64,
// ... of that block. Workgroup w of a dispatch is block w + p.group_base (dispatches are split to
// fit the device). Indices are uint: the block start may pass 2^31 - 1 by less than one block.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const uint KIND = 0;              // ACT_* of activation.glsl
layout(constant_id = 1) const float ALPHA = 0.0;          // Activation::alpha
layout(constant_id = 2) const float BETA = 0.0;           // Activation::beta
layout(constant_id = 3) const bool PER_CHANNEL = false;   // PReLU: the slope is w[channel]
layout(constant_id = 4) const int ITEMS = 4;              // elements per invocation

#include "activation.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };  // PReLU weight (unused otherwise)
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform ActivationPushConstants {
    uint n;           // elements
    uint group_base;  // block index of this dispatch's first workgroup
    uint inner;       // PER_CHANNEL: elements per channel (product of the dims after dim 1)
    uint channels;    // PER_CHANNEL: PReLU's num_parameters (1: one shared slope)
} p;

void main() {
    const uint block = gl_WorkGroupID.x + p.group_base;
    const uint first = block * uint(64 * ITEMS) + gl_LocalInvocationID.x;
    for (int k = 0; k < ITEMS; ++k) {
        const uint i = first + uint(k * 64);
        if (i >= p.n) return;
        const float v = x[i];
        if (PER_CHANNEL) {
            y[i] = activate(v, ACT_LEAKY_RELU, w[(i / p.inner) % p.channels], 0.0);
        } else {
            y[i] = activate(v, KIND, ALPHA, BETA);
        }
    }
}
