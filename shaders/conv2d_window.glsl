// conv2d_window.glsl: the input window of the texel-window convolutions (conv2d_depthwise_texel,
// conv2d_grouped_texel): an invocation's PX outputs along a row read the WIN = (PX - 1) * SW +
// (KW - 1) * DW + 1 consecutive padded input columns from ox0 * SW - pad_left of each input row
// they cover, straight from the NCHW input (no pack pass).
//
// The including shader declares PX, SW, KW, DW and the int specialization constant VEC4, includes
// conv2d_epilogue.glsl, padding.glsl and conv2d_params.glsl first, and binds X:
//   VEC4 = 0      X is an R32F view of the input: a column a fetch, every padding mode (pad_index
//                 per column and row).
//   VEC4 = 1 + s  (CPU devices, where an R32F fetch is a gather; the host sets it for zeros
//                 padding, W % 4 == 0 and PX * SW % 4 == 0, so that every invocation's first
//                 column sits s = (-pad_left) mod 4 columns into its texel) X is an RGBA32F view:
//                 4 columns a fetch.
// Taps in the padding are 0.0, selected rather than multiplied (the clamped column they fetch may
// hold inf or NaN).
#ifndef VKCONV_CONV2D_WINDOW_GLSL
#define VKCONV_CONV2D_WINDOW_GLSL

const int WIN = (PX - 1) * SW + (KW - 1) * DW + 1;

int g_col[WIN];      // VEC4 = 0: each window column's input column (clamped into the row)
bool g_col_ok[WIN];  // whether it is inside the input (else padding)
int g_first;         // VEC4: the input column of the window's first texel (a multiple of 4)

// The window columns of the invocation whose first output column is ox0.
void window_columns(int ox0) {
    [[unroll]] for (int j = 0; j < WIN; ++j) {
        const int ix = pad_index(ox0 * SW - p.pad_left + j, p.W, PAD_MODE);
        g_col[j] = max(ix, 0);
        g_col_ok[j] = ix >= 0;
    }
    g_first = ox0 * SW - p.pad_left - max(VEC4 - 1, 0);
}

// The window of the input row at `row_base` (its plane's offset plus row * W; row_ok: the row is
// inside the input).
void window_row(int row_base, bool row_ok, out float xw[WIN]) {
    if (VEC4 > 0) {
        const int S = VEC4 - 1;
        const int NT = (S + WIN + 3) / 4;  // at most 17 (WIN <= 64)
        vec4 t[17];
        [[unroll]] for (int m = 0; m < 17; ++m) {
            if (m >= NT) break;
            t[m] = texelFetch(X, (row_base + clamp(g_first + 4 * m, 0, p.W - 4)) / 4);
        }
        [[unroll]] for (int j = 0; j < WIN; ++j) {
            const int e = S + j;
            xw[j] = row_ok && g_col_ok[j] ? t[e / 4][e % 4] : 0.0;
        }
    } else {
        [[unroll]] for (int j = 0; j < WIN; ++j) {
            const float v = texelFetch(X, row_base + g_col[j]).r;
            xw[j] = row_ok && g_col_ok[j] ? v : 0.0;
        }
    }
}

#endif
