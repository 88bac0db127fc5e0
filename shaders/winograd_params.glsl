// winograd_params.glsl: the push constants shared by the three Winograd F(2x2, 3x3) passes
// (conv2d_winograd_input/_gemm/_output.comp; mirrors WinogradPushConstants in
// engine/src/conv2d_winograd.cpp, keep the two in the same order).
//
// Tiles: output tile (ty, tx) of image n covers output rows 2ty, 2ty+1 and columns 2tx, 2tx+1
// and reads the 4 x 4 patch at packed rows 2ty..2ty+3, columns 2tx..2tx+3 (the padding is
// already materialised by pack_nc4hw4). Tile number t = (n * TH + ty) * TW + tx, t < T =
// N * TH * TW; the transformed buffers hold TP >= T tiles per row (a multiple of the GEMM's tile
// block; tiles past T are zero in V and never stored from M).
#ifndef VKCONV_WINOGRAD_PARAMS_GLSL
#define VKCONV_WINOGRAD_PARAMS_GLSL

layout(push_constant) uniform WinogradPushConstants {
    int Q4;          // input channel quads
    int KQ;          // output channel quads of M (blocks * OCT / 4)
    int K;           // output channels
    int blocks;      // output channel blocks of the GEMM
    int TH, TW;      // tiles per image along height, width
    int T, TP;       // tiles (all images), tiles per row of V and M
    int PH, PW;      // packed input plane
    int OH, OW;      // output height, width
    int z_base;      // first workgroup z of this dispatch (dispatches are split to fit the device)
} p;

// Linear invocation number over x and y (the host splits long grids over y).
int linear_invocation() {
    return int(gl_GlobalInvocationID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
}

#endif
