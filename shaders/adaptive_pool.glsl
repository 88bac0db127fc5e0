// adaptive_pool.glsl: the windows of AdaptiveAvgPool2d and AdaptiveMaxPool2d (PyTorch's).
// Output cell i along an axis of In inputs and Out outputs covers inputs
// [floor(i * In / Out), ceil((i + 1) * In / Out)). The products i * In can pass 2^32, so with
// In = q * Out + r they are computed as i * q + floor(i * r / Out), where i * r < Out^2 fits
// uint because the engine requires r == 0 or Out <= 65535.
#ifndef VKCONV_ADAPTIVE_POOL_GLSL
#define VKCONV_ADAPTIVE_POOL_GLSL

int window_start(uint i, uint out_size, uint in_size) {
    const uint q = in_size / out_size, r = in_size % out_size;
    return int(i * q + (i * r) / out_size);
}

int window_end(uint i, uint out_size, uint in_size) {
    const uint q = in_size / out_size, r = in_size % out_size;
    return int((i + 1u) * q + ((i + 1u) * r + out_size - 1u) / out_size);
}

#endif
