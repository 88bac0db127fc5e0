#version 450
// elementwise: one kernel family for the layers that map each element independently.
//
// Layout: every tensor is a flat float32 array of p.n elements (any shape, row-major).
//   OP_RELU   y[i] = relu(a[i])                                     (ReLU)
//   OP_ADD    y[i] = act(a[i] + b[i])                               (Add)
//   OP_AFFINE y[i] = act(a[i] * b[c] + c_[c]), c = (i / p.inner) % p.channels
//             (per-channel scale b and shift c_: BatchNorm2d in eval mode on NCHW, inner = H*W)
// act is the fused activation ACT (activation.glsl; ACT_NONE: the identity).
// Each workgroup owns 64 * ITEMS consecutive elements; invocation l handles elements
// l, l + 64, l + 128, ... of that block (consecutive invocations touch consecutive addresses).
// Workgroup w of a dispatch is block w + p.group_base (dispatches are split to fit the device).
// Indices are uint: the block start may pass 2^31 - 1 by less than one block.
// INPUT_TEXEL (the build's elementwise_texel variant): a and b are read through R32F uniform
// texel buffers (texel fetches are cheaper than storage-buffer loads on CPU devices).
// VEC4 (INPUT_TEXEL, OP_RELU and OP_ADD, p.n a multiple of 4): a and b are RGBA32F views and
// y a vec4 array, p.n counts vec4s (4 elements an item): on lavapipe an R32F fetch is a gather,
// and a vec4 store stores its 4 components in one pass over the lanes.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const int OP = 0;        // OP_RELU, OP_ADD, OP_AFFINE
layout(constant_id = 1) const uint ACT = 0;      // fused activation after OP_ADD / OP_AFFINE (ACT_RELU = 1)
layout(constant_id = 2) const int ITEMS = 4;     // elements per invocation
layout(constant_id = 3) const float ACT_ALPHA = 0.0;  // Activation::alpha
layout(constant_id = 4) const float ACT_BETA = 0.0;   // Activation::beta
layout(constant_id = 5) const bool VEC4 = false;      // INPUT_TEXEL only (above)

#define OP_RELU 0
#define OP_ADD 1
#define OP_AFFINE 2

#include "activation.glsl"
#include "layers_common.glsl"

#ifdef INPUT_TEXEL
layout(binding = 0) uniform samplerBuffer At;
layout(binding = 1) uniform samplerBuffer Bt;  // Add: second operand; affine: scale
float load_a(uint i) { return texelFetch(At, int(i)).x; }
float load_b(uint i) { return texelFetch(Bt, int(i)).x; }
vec4 load_a4(uint i) { return texelFetch(At, int(i)); }
vec4 load_b4(uint i) { return texelFetch(Bt, int(i)); }
#else
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };   // Add: second operand; affine: scale
float load_a(uint i) { return a[i]; }
float load_b(uint i) { return b[i]; }
vec4 load_a4(uint i) { return vec4(0.0); }  // unused: VEC4 needs INPUT_TEXEL
vec4 load_b4(uint i) { return vec4(0.0); }
#endif
layout(std430, binding = 2) readonly buffer C { float c_[]; };  // affine: shift (unused otherwise)
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer Y4 { vec4 y4[]; };  // VEC4: the same binding as vec4s

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
        if (VEC4) {
            const vec4 v4 = load_a4(i);
            vec4 r4;
            if (OP == OP_RELU) {
                [[unroll]] for (int c = 0; c < 4; ++c) r4[c] = relu_keep_nan(v4[c]);
            } else {
                const vec4 b4 = load_b4(i);
                [[unroll]] for (int c = 0; c < 4; ++c) r4[c] = activate(v4[c] + b4[c], ACT, ACT_ALPHA, ACT_BETA);
            }
            y4[i] = r4;
            continue;
        }
        const float v = load_a(i);
        float r;
        if (OP == OP_RELU) {
            r = relu_keep_nan(v);
        } else if (OP == OP_ADD) {
            r = activate(v + load_b(i), ACT, ACT_ALPHA, ACT_BETA);
        } else {
            const uint ch = (i / p.inner) % p.channels;
            r = activate(fma(v, load_b(ch), c_[ch]), ACT, ACT_ALPHA, ACT_BETA);
        }
        y[i] = r;
    }
}
