#version 450
// reduce_hw: torch.mean / torch.amax over the last two dims: one plane of H * W values to one
// value.
//
// Layout: input [planes][HW], output [planes], float32.
// SMALL false: one workgroup of 64 invocations per plane: each reduces a strided slice, then a
//   tree in shared memory combines the 64 partials. Workgroup x of a dispatch is plane
//   x + p.plane_base (dispatches are split to fit the device).
// SMALL true (small planes, where a workgroup's barriers would cost more than its lanes save, and
//   every plane on CPU devices): invocation l of workgroup x owns plane (x + p.plane_base) * WG
//   + l and reduces it alone, in order; invocations past p.planes store nothing. WG (the
//   workgroup size) is 64 with SMALL false.
// amax: a NaN wins and stays (max_keep_nan), as PyTorch; mean: the sum divided by HW, NaN for
// an empty plane (0 / 0, as torch.mean; written explicitly: a shader's x / 0 is undefined).
// INPUT_TEXEL (the build's reduce_hw_texel variant): the input is read through an R32F uniform
// texel buffer (texel fetches are cheaper than storage-buffer loads on CPU devices).
// VEC4 (INPUT_TEXEL with SMALL, HW % 4 == 0): an RGBA32F view instead, 4 values a fetch, combined
// in the same order (on lavapipe an R32F fetch is a gather).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 2, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const bool MAX = false;
layout(constant_id = 1) const bool SMALL = false;
layout(constant_id = 2) const int WG = 64;  // the workgroup size; 64 with SMALL false
layout(constant_id = 3) const bool VEC4 = false;

#include "layers_common.glsl"

#ifdef INPUT_TEXEL
layout(binding = 0) uniform samplerBuffer Xt;
float load_x(int i) { return texelFetch(Xt, i).x; }
vec4 load_x4(int i) { return texelFetch(Xt, i); }
#else
layout(std430, binding = 0) readonly buffer Input { float x[]; };
float load_x(int i) { return x[i]; }
vec4 load_x4(int i) { return vec4(0.0); }  // unused: VEC4 needs INPUT_TEXEL
#endif
layout(std430, binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform ReducePushConstants {
    int HW, plane_base, planes;
} p;

shared float partial[64];

float combine(float a, float b) { return MAX ? max_keep_nan(a, b) : a + b; }

float finish(float r) { return MAX ? r : (p.HW == 0 ? uintBitsToFloat(0x7fc00000u) : r / float(p.HW)); }

void main() {
    const int lid = int(gl_LocalInvocationID.x);
    if (SMALL) {
        const int plane = (int(gl_WorkGroupID.x) + p.plane_base) * WG + lid;
        if (plane >= p.planes) return;
        const int base = plane * p.HW;
        float r = MAX ? NEG_INF : 0.0;
        if (VEC4) {
            for (int i = 0; i < p.HW / 4; ++i) {
                const vec4 t = load_x4(base / 4 + i);
                r = combine(combine(combine(combine(r, t.x), t.y), t.z), t.w);
            }
        } else {
            for (int i = 0; i < p.HW; ++i) r = combine(r, load_x(base + i));
        }
        y[plane] = finish(r);
        return;
    }
    const int plane = int(gl_WorkGroupID.x) + p.plane_base;
    const int base = plane * p.HW;
    float r = MAX ? NEG_INF : 0.0;
    for (int i = lid; i < p.HW; i += 64) r = combine(r, load_x(base + i));
    partial[lid] = r;
    barrier();
    for (int s = 32; s > 0; s >>= 1) {
        if (lid < s) partial[lid] = combine(partial[lid], partial[lid + s]);
        barrier();
    }
    if (lid != 0) return;
    y[plane] = finish(partial[0]);
}
