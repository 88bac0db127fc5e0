#version 450
// conv2d_winograd_input: the input transform of Winograd F(m x m, 3x3), V = B^T d B per
// (m + 2) x (m + 2) patch d of the NC4HW4 input packed (padding materialised) by
// pack_nc4hw4.comp; m = WINO_M (a specialization constant: 4 by default, 2 under the
// winograd_tile override), each tile size with its own transform:
//   F(2x2, 3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: adds only.
//   F(4x4, 3x3): B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0  4 -4 -1 1 0;
//                       0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0  4  0 -5 0 1]   (points 0, +-1, +-2).
//
// Layout: input X [N][Q4][PH][PW] RGBA32F texels (4 input channels per texel, G = 1); output V
// [(m + 2)^2][Q4][TP] vec4 (a storage buffer: imageStore is much slower on CPU devices; read by
// conv2d_winograd_gemm.comp as RGBA32F texels), V[(pos * Q4 + q) * TP + t] = (B^T d B)[pos / (m + 2)]
// [pos % (m + 2)] of channel quad q of tile t (see winograd_params.glsl); tiles t in [T, TP) are
// written as zero.
//
// DIRECT (CPU devices; the host sets it for F(4x4), zeros padding, W % 4 == 0 and no input
// factors): 1 + s reads the patch straight from the NCHW input through an RGBA32F view, 4
// columns a fetch, instead of the packed input (no pack pass): a tile's first column
// 4 tx - pad_left sits s = (-pad_left) mod 4 columns into its texel, the same for every tile,
// and taps outside the input or past C are zero. Other padding modes (every mode is a
// specialization constant, PAD_MODE) map rows through pad_index, and the host splits the tiles
// into two dispatches (p.part): the interior tile columns, whose 6 columns are inside the input,
// read them 4 columns a fetch; the border columns read each mapped column on its own.
// The transform is the same arithmetic on the same values either way.
//
// Invocation (linear number over x, y) t, workgroup z + z_base = q: one tile x one channel quad
// ((m + 2)^2 fetches and stores; DIRECT: 4 channels x (m + 2) rows x 2 or 3 texels). Specialization
// constants: conv2d_epilogue.glsl's layout, 7 WINO_M and 8 DIRECT.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 7) const int WINO_M = 4;  // output tile: 2 or 4
layout(constant_id = 8) const int DIRECT = 0;  // 0: X is the packed input; 1 + s: the NCHW input (above)
layout(constant_id = 2) const int PAD_MODE = 0;  // DIRECT: padding.glsl's mode

#include "padding.glsl"
#include "winograd_params.glsl"

layout(binding = 0) uniform samplerBuffer X;                      // packed input (DIRECT: RGBA32F view of the NCHW input)
layout(std430, binding = 1) writeonly buffer VOut { vec4 V[]; };  // transformed input

const int A = WINO_M + 2;  // patch size
vec4 g_patch[6][6];        // DIRECT: the tile's patch, channels of its quad

// DIRECT: loads the patch of the tile at output rows / columns (4 or 2) x (ty, tx) of image n,
// channel quad q, into g_patch.
void load_patch_direct(int n, int q, int ty, int tx, bool border) {
    const int S = DIRECT - 1;
    const int ix0 = WINO_M * tx - p.pad_left;  // first column; ix0 - S is a multiple of 4
    bvec4 cok;
    int cbase[4];
    [[unroll]] for (int c = 0; c < 4; ++c) {
        cok[c] = q * 4 + c < p.C;
        cbase[c] = (n * p.C + min(q * 4 + c, p.C - 1)) * p.H * p.W;
    }
    [[unroll]] for (int i = 0; i < A; ++i) {
        const int iy = pad_index(WINO_M * ty - p.pad_top + i, p.H, PAD_MODE);
        const bool row_ok = iy >= 0;
        const int row = max(iy, 0) * p.W;
        if (border) {
            // Each column mapped on its own (every padding mode), its texel fetched per channel.
            [[unroll]] for (int j = 0; j < A; ++j) {
                const int ix = pad_index(ix0 + j, p.W, PAD_MODE);
                const int col = max(ix, 0);
                vec4 v;
                [[unroll]] for (int c = 0; c < 4; ++c) v[c] = texelFetch(X, (cbase[c] + row + col) / 4)[col % 4];
                const bool ok = row_ok && ix >= 0;
                g_patch[i][j] = mix(vec4(0.0), v, bvec4(ok && cok.x, ok && cok.y, ok && cok.z, ok && cok.w));
            }
            continue;
        }
        vec4 t[4][3];  // [channel][texel]: columns ix0 - S + 4 m ..
        [[unroll]] for (int m = 0; m < 3; ++m) {
            if (4 * m >= S + A) break;
            const int col = clamp(ix0 - S + 4 * m, 0, p.W - 4);  // a texel outside the row is masked below
            [[unroll]] for (int c = 0; c < 4; ++c) t[c][m] = texelFetch(X, (cbase[c] + row + col) / 4);
        }
        [[unroll]] for (int j = 0; j < A; ++j) {
            const int e = S + j;
            const bool ok = row_ok && ix0 + j >= 0 && ix0 + j < p.W;
            // Selected, not multiplied by 0: a padding tap is 0 whatever the clamped texel holds.
            const vec4 v = vec4(t[0][e / 4][e % 4], t[1][e / 4][e % 4], t[2][e / 4][e % 4], t[3][e / 4][e % 4]);
            g_patch[i][j] = mix(vec4(0.0), v, bvec4(ok && cok.x, ok && cok.y, ok && cok.z, ok && cok.w));
        }
    }
}

// Patch texel (i, j): from the packed input at `base`, or from g_patch (DIRECT).
vec4 patch_texel(int base, int i, int j) {
    if (DIRECT > 0) return g_patch[i][j];
    return texelFetch(X, base + i * p.PW + j);
}

void bt6(in vec4 x[6], out vec4 y[6]) {
    y[0] = 4.0 * x[0] - 5.0 * x[2] + x[4];
    y[1] = -4.0 * (x[1] + x[2]) + x[3] + x[4];
    y[2] = 4.0 * (x[1] - x[2]) - x[3] + x[4];
    y[3] = 2.0 * (x[3] - x[1]) - x[2] + x[4];
    y[4] = 2.0 * (x[1] - x[3]) - x[2] + x[4];
    y[5] = 4.0 * x[1] - 5.0 * x[3] + x[5];
}

// F(2x2, 3x3): the 4 x 4 patch at `base`, V from `o` in steps of `stride`.
void transform_f2(int base, int o, int stride, float keep) {
    vec4 d[4][4];
    [[unroll]] for (int i = 0; i < 4; ++i)
        [[unroll]] for (int j = 0; j < 4; ++j) d[i][j] = patch_texel(base, i, j);
    // Rows: B^T d.
    vec4 e[4][4];
    [[unroll]] for (int j = 0; j < 4; ++j) {
        e[0][j] = d[0][j] - d[2][j];
        e[1][j] = d[1][j] + d[2][j];
        e[2][j] = d[2][j] - d[1][j];
        e[3][j] = d[1][j] - d[3][j];
    }
    // Columns: (B^T d) B.
    [[unroll]] for (int i = 0; i < 4; ++i) {
        V[o + (i * 4 + 0) * stride] = keep * (e[i][0] - e[i][2]);
        V[o + (i * 4 + 1) * stride] = keep * (e[i][1] + e[i][2]);
        V[o + (i * 4 + 2) * stride] = keep * (e[i][2] - e[i][1]);
        V[o + (i * 4 + 3) * stride] = keep * (e[i][1] - e[i][3]);
    }
}

// F(4x4, 3x3): the 6 x 6 patch.
void transform_f4(int base, int o, int stride, float keep) {
    // Columns first: e[j] = B^T d[.][j] (rows of B^T d, column j).
    vec4 e[6][6];  // e[j][i] = (B^T d)[i][j]
    [[unroll]] for (int j = 0; j < 6; ++j) {
        vec4 col[6];
        [[unroll]] for (int i = 0; i < 6; ++i) col[i] = patch_texel(base, i, j);
        bt6(col, e[j]);
    }
    [[unroll]] for (int i = 0; i < 6; ++i) {
        vec4 row[6], v[6];
        [[unroll]] for (int j = 0; j < 6; ++j) row[j] = e[j][i];
        bt6(row, v);  // (B^T d B)[i][.]
        [[unroll]] for (int j = 0; j < 6; ++j) V[o + (i * 6 + j) * stride] = keep * v[j];
    }
}

// The tile of invocation u in dispatch part p.part (see winograd_params.glsl), or -1.
int part_tile(int u) {
    if (p.part == 0) return u < p.TP ? u : -1;
    const int ni = max(p.tx_hi - p.tx_lo + 1, 0), nb = p.TW - ni;  // interior / border tile columns
    const int rows = p.T / p.TW;                                     // image rows of tiles (N * TH)
    if (p.part == 1) {
        if (u >= rows * ni) return -1;
        return (u / ni) * p.TW + p.tx_lo + u % ni;
    }
    if (u >= rows * nb) return u - rows * nb + p.T < p.TP ? u - rows * nb + p.T : -1;
    const int k = u % nb;
    return (u / nb) * p.TW + (k < p.tx_lo ? k : k + ni);
}

void main() {
    const int t = part_tile(linear_invocation());
    if (t < 0) return;
    const int q = int(gl_WorkGroupID.z) + p.z_base;
    // Branch-free past T: read tile T - 1 and store zeros.
    const ivec3 c = tile_coords(min(t, p.T - 1));
    const float keep = t < p.T ? 1.0 : 0.0;
    const int base = ((c.x * p.Q4 + q) * p.PH + WINO_M * c.y) * p.PW + WINO_M * c.z;
    if (DIRECT > 0) load_patch_direct(c.x, q, c.y, c.z, p.part == 2);
    const int stride = p.Q4 * p.TP;
    const int o = q * p.TP + t;
    if (WINO_M == 4) transform_f4(base, o, stride, keep);
    else transform_f2(base, o, stride, keep);
}
