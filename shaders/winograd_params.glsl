// winograd_params.glsl: the push constants shared by the three Winograd F(m x m, 3x3) passes
// (conv2d_winograd_input/_gemm/_output.comp; mirrors WinogradPushConstants in
// engine/src/conv2d/winograd.cpp, keep the two in the same order).
//
// (m is their WINO_M specialization constant.)
//
// Tiles (m = 2 for F(2x2, 3x3), 4 for F(4x4, 3x3)): output tile (ty, tx) of image n covers output
// rows m ty .. m ty + m - 1 and columns m tx .. m tx + m - 1 and reads the (m + 2) x (m + 2) patch
// at packed rows m ty .., columns m tx .. (the padding is already materialised by pack_nc4hw4).
// Tile number t = (n * TH + ty) * TW + tx, t < T = N * TH * TW; the transformed buffers hold
// TP >= T tiles per row (a multiple of the GEMM's tile block; tiles past T are zero in V and never
// stored from M).
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
    int C, H, W;     // input channels, height, width (conv2d_winograd_input's DIRECT reads)
    int pad_top, pad_left;
    int part;        // DIRECT with a padding mode other than zeros: 0 every tile, 1 the interior
                     // tile columns tx_lo .. tx_hi, 2 the others (and the tiles past T)
    int tx_lo, tx_hi;
} p;

// Linear invocation number over x and y (the host splits long grids over y).
int linear_invocation() {
    return int(gl_GlobalInvocationID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
}

// Tile t -> (n, ty, tx).
ivec3 tile_coords(int t) {
    const int per_image = p.TH * p.TW;
    const int n = t / per_image;
    const int r = t - n * per_image;
    const int ty = r / p.TW;
    return ivec3(n, ty, r - ty * p.TW);
}

#endif
