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
    int x_base, y_base;      // first workgroup x / y of this dispatch (likewise)
} p;

// The workgroup this invocation belongs to in the whole (unsplit) grid, and its global id.
ivec3 conv_workgroup() { return ivec3(gl_WorkGroupID) + ivec3(p.x_base, p.y_base, p.z_base); }
// (Scalar components of gl_WorkGroupSize only: a vector conversion of it becomes a specialization
// constant operation that is not valid SPIR-V once specialized.)
ivec2 conv_global_xy() {
    return ivec2(int(gl_GlobalInvocationID.x) + p.x_base * int(gl_WorkGroupSize.x),
                 int(gl_GlobalInvocationID.y) + p.y_base * int(gl_WorkGroupSize.y));
}

#endif
