// conv2d_output.glsl: the NCHW float32 output binding of the convolution shaders, and
// store_row(), which stores a row of an invocation's consecutive outputs.
//
// The shader defines OUTPUT_BINDING and declares the bool specialization constant VEC_STORE
// before including it. With VEC_STORE (CPU devices; the host sets it where the output width and
// the invocation's columns are multiples of 4, so that every 4 columns start a vec4 of the
// tensor), a row goes out as vec4s: lavapipe stores a vec4's 4 components in one pass over the
// SIMD lanes, a float in a pass of its own.
#ifndef VKCONV_CONV2D_OUTPUT_GLSL
#define VKCONV_CONV2D_OUTPUT_GLSL

#ifndef OUTPUT_BINDING
#error define OUTPUT_BINDING before including conv2d_output.glsl
#endif

layout(std430, binding = OUTPUT_BINDING) writeonly buffer Output { float y[]; };
layout(std430, binding = OUTPUT_BINDING) writeonly buffer Output4 { vec4 y4[]; };  // VEC_STORE: the same memory

// Stores v[0 .. n - 1] (n <= 16; a multiple of 4 with VEC_STORE) at y[at ..], the first `count`
// of them (those inside the row).
void store_row(int at, int count, int n, float v[16]) {
    if (VEC_STORE) {
        [[unroll]] for (int i = 0; i < 16; i += 4) {
            if (i >= n || i >= count) break;
            y4[(at + i) / 4] = vec4(v[i], v[i + 1], v[i + 2], v[i + 3]);
        }
    } else {
        [[unroll]] for (int i = 0; i < 16; ++i) {
            if (i >= n || i >= count) break;
            y[at + i] = v[i];
        }
    }
}

#endif
