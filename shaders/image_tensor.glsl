// image_tensor.glsl: what the image <-> NCHW tensor conversion kernels share.
//
// Layout: the tensor is float32 NCHW [N, CHANNELS, H, W]; the image is W x H. Each invocation
// owns one pixel (x, y) = gl_GlobalInvocationID.xy of image `p.batch_index` and all CHANNELS
// channels of it. Channel c maps to the image's component c (R, G, B, A); on the way in
// t = v * scale[c] + bias[c], on the way out v = t * scale[c] + bias[c].

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;
layout(constant_id = 0) const int CHANNELS = 3;         // tensor channels: 1, 3 or 4 (2: R and G)
layout(constant_id = 1) const bool ENCODE_SRGB = false; // tensor -> image: write sRGB-encoded values

layout(push_constant) uniform ImageTensorPushConstants {
    vec4 scale;
    vec4 bias;
    int width, height;
    int batch_index;
    int unused;
} p;

layout(std430, binding = 1) buffer TensorData { float t[]; };

uint tensor_index(int c, ivec2 xy) {
    return ((uint(p.batch_index) * uint(CHANNELS) + uint(c)) * uint(p.height) + uint(xy.y)) * uint(p.width) + uint(xy.x);
}

bool outside(ivec2 xy) { return xy.x >= p.width || xy.y >= p.height; }

void store_pixel_to_tensor(ivec2 xy, vec4 v) {
    for (int c = 0; c < CHANNELS; ++c) t[tensor_index(c, xy)] = v[c] * p.scale[c] + p.bias[c];
}

// The sRGB transfer function (IEC 61966-2-1), as Vulkan's sRGB formats define it.
float linear_to_srgb(float l) {
    return l <= 0.0031308 ? 12.92 * l : 1.055 * pow(l, 1.0 / 2.4) - 0.055;
}

// Tensor channels as an RGBA value: 1 channel is grey (R = G = B); alpha is 1 unless given.
vec4 load_pixel_from_tensor(ivec2 xy) {
    vec4 v = vec4(0.0, 0.0, 0.0, 1.0);
    for (int c = 0; c < CHANNELS; ++c) v[c] = t[tensor_index(c, xy)] * p.scale[c] + p.bias[c];
    if (CHANNELS == 1) v.gb = v.rr;
    // Normalised formats clamp on store; NaN has no defined conversion, so it becomes 0 here.
    for (int c = 0; c < 4; ++c) if (isnan(v[c])) v[c] = 0.0;
    if (ENCODE_SRGB) {
        for (int c = 0; c < 3; ++c) v[c] = linear_to_srgb(clamp(v[c], 0.0, 1.0));
    }
    return v;
}
