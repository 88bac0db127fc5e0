#version 450
// binary: y = act(a op b) element-wise with PyTorch's broadcasting (Add, Sub, Mul, Div).
//
// MODE_SAME       a, b and y have one shape: y[i] = a[i] op b[i]
// MODE_BROADCAST  y's shape (after merging dims, at most 5) in p.dims; a and b are read at
//                 sum_d idx_d * stride_d with stride 0 along a broadcast dim
// MODE_SCALAR     y[i] = a[i] op p.scalar            (x * 0.5)
// MODE_RSCALAR    y[i] = p.scalar op a[i]            (1.0 - x, 1.0 / x)
// act is the fused activation ACT (activation.glsl; ACT_NONE: the identity). Each workgroup owns
// 64 * ITEMS consecutive outputs; invocation l handles l, l + 64, ...; workgroup w of a dispatch
// is block w + p.group_base (dispatches are split to fit the device).
// INPUT_TEXEL (the build's binary_texel variant, CPU devices; the flat modes with n % 4 == 0):
// a and b are RGBA32F texel views and y a vec4 array, each item 4 consecutive elements (n counts
// vec4s): lavapipe loads storage buffers lane by lane, and stores the 4 components of a vec4 in
// one pass over the lanes.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const uint OP = 0;            // OP_ADD, OP_SUB, OP_MUL, OP_DIV
layout(constant_id = 1) const uint MODE = 0;          // MODE_*
layout(constant_id = 2) const uint ACT = 0;           // fused activation
layout(constant_id = 3) const float ACT_ALPHA = 0.0;
layout(constant_id = 4) const float ACT_BETA = 0.0;
layout(constant_id = 5) const int ITEMS = 4;          // outputs per invocation
layout(constant_id = 6) const int DIMS = 5;           // MODE_BROADCAST: the used (trailing) dims of p.dims, 1..5

#define OP_ADD 0u
#define OP_SUB 1u
#define OP_MUL 2u
#define OP_DIV 3u
#define MODE_SAME 0u
#define MODE_BROADCAST 1u
#define MODE_SCALAR 2u
#define MODE_RSCALAR 3u
#define MAX_DIMS 5

#include "activation.glsl"

#ifdef INPUT_TEXEL
layout(binding = 0) uniform samplerBuffer A4;
layout(binding = 1) uniform samplerBuffer B4;  // unused in the scalar modes
layout(std430, binding = 2) writeonly buffer Y { vec4 y4[]; };
#else
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };  // unused in the scalar modes
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform BinaryPushConstants {
    uint n;           // outputs
    uint group_base;  // block index of this dispatch's first workgroup
    float scalar;     // MODE_SCALAR / MODE_RSCALAR
    uint pad;
    uint dims[MAX_DIMS];       // MODE_BROADCAST: y's merged shape, leading dims 1
    uint a_stride[MAX_DIMS];   // element strides of a per dim (0: broadcast)
    uint b_stride[MAX_DIMS];
} p;

float apply(float l, float r) {
    if (OP == OP_ADD) return l + r;
    if (OP == OP_SUB) return l - r;
    if (OP == OP_MUL) return l * r;
    return l / r;
}

#ifdef INPUT_TEXEL
void main() {
    const uint block = gl_WorkGroupID.x + p.group_base;
    const uint first = block * uint(64 * ITEMS) + gl_LocalInvocationID.x;
    for (int k = 0; k < ITEMS; ++k) {
        const uint i = first + uint(k * 64);
        if (i >= p.n) return;
        const vec4 l = texelFetch(A4, int(i));
        const vec4 r4 = MODE == MODE_SAME ? texelFetch(B4, int(i)) : vec4(p.scalar);
        vec4 o;
        [[unroll]] for (int c = 0; c < 4; ++c) {
            precise float r = MODE == MODE_RSCALAR ? apply(r4[c], l[c]) : apply(l[c], r4[c]);
            o[c] = activate(r, ACT, ACT_ALPHA, ACT_BETA);
        }
        y4[i] = o;
    }
}
#else
void main() {
    const uint block = gl_WorkGroupID.x + p.group_base;
    const uint first = block * uint(64 * ITEMS) + gl_LocalInvocationID.x;
    for (int k = 0; k < ITEMS; ++k) {
        const uint i = first + uint(k * 64);
        if (i >= p.n) return;
        precise float r;  // rounded before the activation (no contraction of a * b into its arithmetic)
        if (MODE == MODE_SAME) {
            r = apply(a[i], b[i]);
        } else if (MODE == MODE_SCALAR) {
            r = apply(a[i], p.scalar);
        } else if (MODE == MODE_RSCALAR) {
            r = apply(p.scalar, a[i]);
        } else {
            // Only the used dims are decomposed (integer division is costly on many devices);
            // the outermost one's index is what remains, as i < n.
            const int outer = MAX_DIMS - DIMS;
            uint rem = i, ia = 0u, ib = 0u;
            for (int d = MAX_DIMS - 1; d > outer; --d) {
                const uint c = rem % p.dims[d];
                rem /= p.dims[d];
                ia += c * p.a_stride[d];
                ib += c * p.b_stride[d];
            }
            ia += rem * p.a_stride[outer];
            ib += rem * p.b_stride[outer];
            r = apply(a[ia], b[ib]);
        }
        y[i] = activate(r, ACT, ACT_ALPHA, ACT_BETA);
    }
}
#endif
