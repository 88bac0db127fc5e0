// pack_nc4hw4.glsl: the pack pass, included by pack_nc4hw4.comp (RGBA32F output) and
// pack_nc4hw4_f16.comp (RGBA16F output, fp16 storage); PACK_FORMAT is the output's image format.
// NCHW float32 input (read as an R32F uniform texel buffer) -> NC4HW4 texels for the packed
// convolution (conv2d_packed_texel, conv2d_gemm_1x1, Winograd), with the padding materialised for every padding
// mode (pad_index), so the convolutions read no borders and do no bounds checks.
//
// Output layout: [N][G][Q4][plane] vec4 (Q4 = ceil(CP / 4) channel quads per group), written as a
// PACK_FORMAT storage texel buffer (one store per texel) and read by the convolution as a uniform
// texel buffer of the same format. With rgba16f the store rounds each fp32 value to fp16 once
// (the only rounding of the activations; the convolution's texelFetch widens them back to fp32
// and it accumulates in fp32). Packed channel
// j (0 <= j < CP) of group g holds input channel g * cin_g + j / M (M = 1 for dense and grouped
// convolutions; the depthwise channel multiplier otherwise); channels j >= CP are zero.
// Logical pixel (y, x) (x < XW) goes to texel y * RS + x of its plane (when that is inside the
// plane) and reads the input at (pad_index(y * sy - pad_top), pad_index(x * sx - pad_left)) when
// y < RH and x < CW, else it is zero (the convolution's tile overrun). A padded image uses
// RS = XW = the packed row width; a 1x1 convolution packs its strided output grid as one flat
// row (RS = XW = output width, the plane's tail past OH * OW zero).
//
// Invocation (x, y, z) owns logical pixels (x * PXP + k, y), k < PXP, of plane z + z_base =
// (n * G + g) * Q4 + q: the plane is uniform across a workgroup, so its divisions are too, and
// several pixels per invocation amortise the per-invocation work (on CPU devices).

#ifndef PACK_FORMAT
#error define PACK_FORMAT (rgba32f or rgba16f) before including pack_nc4hw4.glsl
#endif

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 2) const int PAD_MODE = 0;  // see padding.glsl (ids as conv2d_epilogue.glsl)
layout(constant_id = 7) const int PXP = 1;       // logical pixels per invocation along x

#include "padding.glsl"

layout(push_constant) uniform PackPushConstants {
    int C, H, W;          // input channels, height, width
    int G, cin_g;         // groups, input channels per group
    int CP, M, Q4;        // packed channels per group, channel divisor, quads per group
    int plane, RS, XW;    // texels per packed plane, row stride, logical row width
    int RH, CW;           // rows / columns read from the input (the rest is zero)
    int sy, sx;           // input step per logical pixel
    int pad_top, pad_left;
    int z_base;           // first plane of this dispatch
} p;

layout(binding = 0) uniform samplerBuffer X;  // R32F view of the NCHW input
layout(binding = 1, PACK_FORMAT) uniform writeonly imageBuffer XP;  // the packed input

void main() {
    const int x0 = int(gl_GlobalInvocationID.x) * PXP;
    const int py = int(gl_GlobalInvocationID.y);
    const int z = int(gl_WorkGroupID.z) + p.z_base;  // (n * G + g) * Q4 + q
    const int q = z % p.Q4;
    const int g = (z / p.Q4) % p.G;
    const int n = z / (p.Q4 * p.G);
    // The quad's 4 input channel planes (a channel past CP reads channel 0 and is masked).
    int cbase[4];
    vec4 cmask;
    [[unroll]] for (int c = 0; c < 4; ++c) {
        const int j = q * 4 + c;
        cbase[c] = j < p.CP ? (n * p.C + g * p.cin_g + j / p.M) * p.H * p.W : 0;
        cmask[c] = j < p.CP ? 1.0 : 0.0;
    }
    // Branch-free: out-of-range pixels fetch a valid texel and are masked to zero (fetches under
    // divergent control flow cost much more on CPU devices).
    const int iy = pad_index(py * p.sy - p.pad_top, p.H, PAD_MODE);
    const float row_ok = py < p.RH && iy >= 0 ? 1.0 : 0.0;
    const int row = max(iy, 0) * p.W;
    [[unroll]] for (int k = 0; k < PXP; ++k) {
        const int px = x0 + k;
        const int ix = pad_index(px * p.sx - p.pad_left, p.W, PAD_MODE);
        const int pix = row + max(ix, 0);
        vec4 v;
        [[unroll]] for (int c = 0; c < 4; ++c) v[c] = texelFetch(X, cbase[c] + pix).r;
        v *= cmask * (px < p.CW && ix >= 0 ? row_ok : 0.0);
        const int t = py * p.RS + px;
        if (px < p.XW && t < p.plane) imageStore(XP, z * p.plane + t, v);
    }
}
