#version 450
// elementwise: one kernel family for the layers that map each element independently.
//
// Layout: every tensor is a flat float32 array of p.n elements (any shape, row-major).
//   OP_RELU   y[i] = relu(a[i])                                     (ReLU)
//   OP_ADD    y[i] = a[i] + b[i], then relu when RELU               (Add)
//   OP_AFFINE y[i] = a[i] * b[c] + c_[c], c = (i / p.inner) % p.channels
//             (per-channel scale b and shift c_: BatchNorm2d in eval mode on NCHW, inner = H*W)
// Each workgroup owns 64 * ITEMS consecutive elements; invocation l handles elements
// l, l + 64, l + 128, ... of that block (consecutive invocations touch consecutive addresses).
// Workgroup w of a dispatch is block w + p.group_base (dispatches are split to fit the device).
// Indices are uint: the block start may pass 2^31 - 1 by less than one block.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const int OP = 0;        // OP_RELU, OP_ADD, OP_AFFINE
layout(constant_id = 1) const bool RELU = false; // fused ReLU after OP_ADD
layout(constant_id = 2) const int ITEMS = 4;     // elements per invocation

#define OP_RELU 0
#define OP_ADD 1
#define OP_AFFINE 2

#include "layers_common.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };   // Add: second operand; affine: scale
layout(std430, binding = 2) readonly buffer C { float c_[]; };  // affine: shift (unused otherwise)
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform ElementwisePushConstants {
    uint n;           // elements
    uint group_base;  // block index of this dispatch's first workgroup
    uint inner;       // OP_AFFINE: elements per channel plane (H * W)
    uint channels;    // OP_AFFINE: channels
} p;

void main() {
    const uint block = gl_WorkGroupID.x + p.group_base;
    const uint first = block * uint(64 * ITEMS) + gl_LocalInvocationID.x;
    for (int k = 0; k < ITEMS; ++k) {
        const uint i = first + uint(k * 64);
        if (i >= p.n) return;
        const float v = a[i];
        float r;
        if (OP == OP_RELU) {
            r = relu_keep_nan(v);
        } else if (OP == OP_ADD) {
            r = v + b[i];
            if (RELU) r = relu_keep_nan(r);
        } else {
            const uint ch = (i / p.inner) % p.channels;
            r = fma(v, b[ch], c_[ch]);
        }
        y[i] = r;
    }
}
