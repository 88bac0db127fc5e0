// conv2d_packed_params.glsl: the push constants of the convolutions that read NC4HW4 input packed
// by pack_nc4hw4.comp (mirrors engine's PackedPushConstants; keep the two in the same order).
#ifndef VKCONV_CONV2D_PACKED_PARAMS_GLSL
#define VKCONV_CONV2D_PACKED_PARAMS_GLSL

layout(push_constant) uniform PackedPushConstants {
    int G, Q4;          // groups, input channel quads per group (packed)
    int PH, PW;         // packed (already padded) input plane
    int K, OH, OW;      // output channels, height, width (of the grid this dispatch computes)
    int cout_g;         // output channels per group
    int kh, sh, dh;     // kernel height, stride, dilation along height (width: specialization)
    int z_base;         // first workgroup z of this dispatch (dispatches are split to fit the device)
    int C;              // input channels (conv2d_packed_texel's DIRECT_1X1 reads)
} p;

#endif
