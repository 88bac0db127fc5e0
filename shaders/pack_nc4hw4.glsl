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
// SCALE: each input channel is first multiplied by its factor in S ([N][C], or [C] shared by the
// batch: p.scale_n = C or 0), one fp32 rounding as a separate multiplication would give: a
// convolution reading a squeeze-and-excitation block's x * s (x [N, C, H, W], s [N, C, 1, 1])
// folds the multiplication into its pack pass. Unused (bound to any buffer) when SCALE is off.
//
// Invocation (x, y, z) owns logical pixels (x * PXP + k, y), k < PXP, of plane z + z_base =
// (n * G + g) * Q4 + q: the plane is uniform across a workgroup, so its divisions are too, and
// several pixels per invocation amortise the per-invocation work (on CPU devices).
//
// VEC4 (CPU devices, where a 4-channel R32F gather is four separate gathers): 1 + s reads the
// input through an RGBA32F view instead, 4 input columns a fetch; the host sets it only for zeros
// padding, sx = 1, W % 4 == 0 and PXP % 4 == 0, so that a texel never straddles a row and the
// invocation's first column x * PXP - pad_left sits s = (-pad_left) mod 4 columns into its texel.

#ifndef PACK_FORMAT
#error define PACK_FORMAT (rgba32f or rgba16f) before including pack_nc4hw4.glsl
#endif

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 2) const int PAD_MODE = 0;  // see padding.glsl (ids as conv2d_epilogue.glsl)
layout(constant_id = 7) const int PXP = 1;       // logical pixels per invocation along x
layout(constant_id = 8) const bool SCALE = false; // per-channel factors from S
layout(constant_id = 9) const int VEC4 = 0;       // 0: R32F input view; 1 + s: RGBA32F (see above)

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
    int scale_n;          // SCALE: factors per image in S (C, or 0: one set for the batch)
} p;

layout(binding = 0) uniform samplerBuffer X;  // R32F (RGBA32F with VEC4) view of the NCHW input
layout(binding = 1, PACK_FORMAT) uniform writeonly imageBuffer XP;  // the packed input
layout(std430, binding = 2) readonly buffer Scale { float S[]; };   // SCALE: per-channel factors

void main() {
    const int x0 = int(gl_GlobalInvocationID.x) * PXP;
    const int py = int(gl_GlobalInvocationID.y);
    const int z = int(gl_WorkGroupID.z) + p.z_base;  // (n * G + g) * Q4 + q
    const int q = z % p.Q4;
    const int g = (z / p.Q4) % p.G;
    const int n = z / (p.Q4 * p.G);
    // The quad's 4 input channel planes (a channel past CP reads channel 0 and is masked).
    int cbase[4];
    bvec4 cmask;
    vec4 cscale = vec4(1.0);
    [[unroll]] for (int c = 0; c < 4; ++c) {
        const int j = q * 4 + c;
        const int ch = g * p.cin_g + j / p.M;
        cbase[c] = j < p.CP ? (n * p.C + ch) * p.H * p.W : 0;
        cmask[c] = j < p.CP;
        if (SCALE) cscale[c] = S[j < p.CP ? n * p.scale_n + ch : 0];  // uniform across the workgroup
    }
    // Branch-free: out-of-range pixels fetch a valid texel and are replaced by zero (fetches under
    // divergent control flow cost much more on CPU devices).
    const int iy = pad_index(py * p.sy - p.pad_top, p.H, PAD_MODE);
    const bool row_ok = py < p.RH && iy >= 0;
    const int row = max(iy, 0) * p.W;
    const int S = max(VEC4 - 1, 0);
    vec4 quad[4];  // VEC4: the texel of input columns holding pixel k, per channel
    [[unroll]] for (int k = 0; k < PXP; ++k) {
        const int px = x0 + k;
        const int ix = pad_index(px * p.sx - p.pad_left, p.W, PAD_MODE);
        const int pix = row + max(ix, 0);
        precise vec4 v;  // x * s rounded once
        if (VEC4 > 0) {
            // Pixel k is column S + k of the texels from column x0 - pad_left - S (a multiple
            // of 4): a new texel every 4 pixels; texels outside the row are clamped into it
            // and masked below with their pixels.
            const int e = S + k;
            if (k == 0 || e % 4 == 0) {
                const int col = clamp(x0 - p.pad_left - S + (e / 4) * 4, 0, p.W - 4);
                [[unroll]] for (int c = 0; c < 4; ++c) quad[c] = texelFetch(X, (cbase[c] + row + col) / 4);
            }
            [[unroll]] for (int c = 0; c < 4; ++c) v[c] = quad[c][e % 4];
        } else {
            [[unroll]] for (int c = 0; c < 4; ++c) v[c] = texelFetch(X, cbase[c] + pix).r;
        }
        if (SCALE) v *= cscale;
        // Selected, not multiplied by 0: a masked texel may hold inf or NaN (0 * inf = NaN).
        const bool ok = px < p.CW && ix >= 0 && row_ok;
        v = mix(vec4(0.0), v, bvec4(cmask.x && ok, cmask.y && ok, cmask.z && ok, cmask.w && ok));
        const int t = py * p.RS + px;
        if (px < p.XW && t < p.plane) imageStore(XP, z * p.plane + t, v);
    }
}
