// padding.glsl: PyTorch's padding modes as index maps, shared by every convolution shader.
//
// pad_index(i, n, mode) maps a coordinate i of the padded input (i may be < 0 or >= n) to the
// coordinate of the input element it reads, or -1 for a zero. Semantics are F.pad's:
//   zeros:     outside -> 0
//   reflect:   mirror about the edge element, which is not repeated: -1 -> 1, n -> n-2
//   replicate: clamp to the edge element
//   circular:  wrap around: -1 -> n-1, n -> 0
// The engine rejects paddings PyTorch rejects (reflect needs pad < n, circular pad <= n), but the
// maps are written for any i so that a shader can never read outside the tensor.
#ifndef VKCONV_PADDING_GLSL
#define VKCONV_PADDING_GLSL

#define PAD_ZEROS 0
#define PAD_REFLECT 1
#define PAD_REPLICATE 2
#define PAD_CIRCULAR 3

int pad_index(int i, int n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == PAD_ZEROS) return -1;
    if (mode == PAD_REPLICATE) return clamp(i, 0, n - 1);
    if (mode == PAD_REFLECT) {
        if (n == 1) return 0;
        int period = 2 * (n - 1);
        int r = abs(i) % period;
        return r < n ? r : period - r;
    }
    // PAD_CIRCULAR
    int r = i % n;
    return r < 0 ? r + n : r;
}

#endif
