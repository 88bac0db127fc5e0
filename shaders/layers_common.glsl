// layers_common.glsl: small helpers shared by the non-convolution layer shaders.
#ifndef VKCONV_LAYERS_COMMON_GLSL
#define VKCONV_LAYERS_COMMON_GLSL

// -inf: the value of max-pooling's padding and the start of every max reduction.
#define NEG_INF uintBitsToFloat(0xff800000u)

// torch.relu: negatives (not -0.0) become 0; NaN stays NaN (GLSL's max() leaves NaN undefined).
float relu_keep_nan(float v) { return v < 0.0 ? 0.0 : v; }

// The max-reduction step PyTorch's kernels use: a NaN wins and then stays.
float max_keep_nan(float m, float v) { return (v > m || isnan(v)) ? v : m; }

#endif
