#version 450
// image_sampled_to_tensor: a sampled image (any float-readable format: RGBA8 UNORM/SRGB,
// RGBA16F, RGBA32F, ...) into an NCHW tensor. texelFetch reads texel (x, y) at level 0 with no
// filtering; sRGB formats are decoded to linear by the hardware. See image_tensor.glsl for the
// layout and which pixel each invocation owns.
#extension GL_GOOGLE_include_directive : require
#include "image_tensor.glsl"

layout(binding = 0) uniform sampler2D image;

void main() {
    const ivec2 xy = ivec2(gl_GlobalInvocationID.xy);
    if (outside(xy)) return;
    store_pixel_to_tensor(xy, texelFetch(image, xy, 0));
}
