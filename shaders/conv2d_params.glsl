// conv2d_params.glsl: the push constants every conv2d shader takes (mirrors engine's
// Conv2dPushConstants; keep the two in the same order).
#ifndef VKCONV_CONV2D_PARAMS_GLSL
#define VKCONV_CONV2D_PARAMS_GLSL

layout(push_constant) uniform Conv2dPushConstants {
    int N, C, H, W;          // input: batch, channels, height, width
    int K, OH, OW;           // output: channels, height, width
    int groups, cin_g, cout_g;
    int kh, kw;              // kernel
    int sh, sw;              // stride
    int pad_top, pad_left;   // padding before the first row / column (bottom/right implied by OH, OW)
    int dh, dw;              // dilation
    int z_base;              // first workgroup z of this dispatch (dispatches are split to fit the device)
} p;

#endif
