#version 450
// upsample2d: nn.Upsample / F.interpolate, modes nearest and bilinear, PyTorch's (ATen CPU)
// index rules, or ONNX Resize's (COORD, ROUND); see engine/include/vkconv/upsample.h for them.
//
// Layout: input [planes][H][W], output [planes][OH][OW], float32 (planes = N * C). Each
// invocation owns one output element; a workgroup is an 8 x 8 tile of one plane. Workgroup
// (x, y, z) of a dispatch is tile (x + p.x_base, y + p.y_base) of plane z + p.z_base.
// The scales come from the host already rounded to float as ATen rounds them; the source
// positions are computed with `precise` float arithmetic (no contraction into FMAs), so each
// index is the one ATen computes, bit for bit.
layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;
layout(constant_id = 0) const int MODE = 0;  // MODE_NEAREST or MODE_BILINEAR
layout(constant_id = 1) const bool ALIGN_CORNERS = false;
layout(constant_id = 2) const int COORD = 0;  // COORD_PYTORCH, or ONNX's coordinate_transformation_mode
layout(constant_id = 3) const int ROUND = 0;  // ONNX's nearest_mode (with an ONNX COORD)

#define COORD_PYTORCH 0
#define COORD_HALF_PIXEL 1
#define COORD_PYTORCH_HALF_PIXEL 2
#define COORD_ALIGN_CORNERS 3
#define COORD_ASYMMETRIC 4
#define COORD_TF_HALF_PIXEL 5
#define ROUND_PREFER_FLOOR 0
#define ROUND_PREFER_CEIL 1
#define ROUND_FLOOR 2
#define ROUND_CEIL 3

#define MODE_NEAREST 0
#define MODE_BILINEAR 1

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) writeonly buffer Output { float y[]; };

layout(push_constant) uniform UpsamplePushConstants {
    int H, W, OH, OW;
    float scale_h, scale_w;  // PyTorch's scale; ONNX: 1 / scale (align_corners: (in - 1) / (out - 1))
    int shortcuts;  // 1: ATen's channels-last kernel (C == 1), whose nearest index has shortcuts
    int x_base, y_base, z_base;
} p;

// ATen's nearest index: floor(dst * scale) clamped; its channels-last kernel (nearest_idx)
// first takes out == in and out == 2 * in as the identity and dst >> 1.
int nearest_index(int dst, int in_size, int out_size, float scale) {
    if (p.shortcuts != 0 && out_size == in_size) return dst;
    if (p.shortcuts != 0 && out_size == 2 * in_size) return dst >> 1;
    precise float src = float(dst) * scale;
    return min(int(floor(src)), in_size - 1);
}

// ATen's compute_source_index_and_lambda: the two source indices and the second's weight.
void linear_index(int dst, int in_size, int out_size, float scale, out int i0, out int i1, out float l1) {
    if (out_size == in_size) {
        i0 = dst;
        i1 = dst;
        l1 = 0.0;
        return;
    }
    precise float src;
    if (ALIGN_CORNERS) {
        src = scale * float(dst);
    } else {
        precise float t = scale * (float(dst) + 0.5);
        src = t - 0.5;
        if (src < 0.0) src = 0.0;
    }
    i0 = int(src);  // src >= 0: truncation is floor
    i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
    precise float d = src - float(i0);
    l1 = d < 0.0 ? 0.0 : (d > 1.0 ? 1.0 : d);
}

// ONNX's source coordinate of output index dst (scale = 1 / ONNX's scale).
float onnx_source(int dst, int out_size, float scale) {
    precise float x = float(dst);
    precise float r;
    if (COORD == COORD_HALF_PIXEL || (COORD == COORD_PYTORCH_HALF_PIXEL && out_size > 1)) r = (x + 0.5) * scale - 0.5;
    else if (COORD == COORD_PYTORCH_HALF_PIXEL) r = 0.0;
    else if (COORD == COORD_TF_HALF_PIXEL) r = (x + 0.5) * scale;
    else r = x * scale;  // asymmetric, align_corners
    return r;
}

// ONNX's nearest: the source coordinate rounded by nearest_mode, clamped into the input (the
// reference's edge padding). Integer clamp: no NaN here.
int onnx_nearest_index(int dst, int in_size, int out_size, float scale) {
    precise float s = onnx_source(dst, out_size, scale);
    const float f = floor(s);
    int i;
    if (ROUND == ROUND_FLOOR) {
        i = int(f);
    } else if (ROUND == ROUND_CEIL) {
        i = int(ceil(s));
    } else {
        precise float frac = s - f;
        i = int(f) + ((frac > 0.5 || (frac == 0.5 && ROUND == ROUND_PREFER_CEIL)) ? 1 : 0);
    }
    return clamp(i, 0, in_size - 1);
}

// ONNX's linear: the source coordinate clamped into [0, in - 1], the two indices around it and
// the second's weight.
void onnx_linear_index(int dst, int in_size, int out_size, float scale, out int i0, out int i1, out float l1) {
    precise float s = onnx_source(dst, out_size, scale);
    const float hi = float(in_size - 1);
    s = s < 0.0 ? 0.0 : (s > hi ? hi : s);
    i0 = int(s);
    i1 = min(i0 + 1, in_size - 1);
    precise float d = s - float(i0);
    l1 = d;
}

void main() {
    const int ox = (int(gl_WorkGroupID.x) + p.x_base) * 8 + int(gl_LocalInvocationID.x);
    const int oy = (int(gl_WorkGroupID.y) + p.y_base) * 8 + int(gl_LocalInvocationID.y);
    const int plane = int(gl_WorkGroupID.z) + p.z_base;
    if (ox >= p.OW || oy >= p.OH) return;
    const int in_base = plane * p.H * p.W;
    float r;
    if (MODE == MODE_NEAREST && COORD != COORD_PYTORCH) {
        const int iy = onnx_nearest_index(oy, p.H, p.OH, p.scale_h);
        const int ix = onnx_nearest_index(ox, p.W, p.OW, p.scale_w);
        r = x[in_base + iy * p.W + ix];
    } else if (MODE == MODE_NEAREST) {
        const int iy = nearest_index(oy, p.H, p.OH, p.scale_h);
        const int ix = nearest_index(ox, p.W, p.OW, p.scale_w);
        r = x[in_base + iy * p.W + ix];
    } else {
        int y0, y1, x0, x1;
        float ly1, lx1;
        if (COORD != COORD_PYTORCH) {
            onnx_linear_index(oy, p.H, p.OH, p.scale_h, y0, y1, ly1);
            onnx_linear_index(ox, p.W, p.OW, p.scale_w, x0, x1, lx1);
        } else {
            linear_index(oy, p.H, p.OH, p.scale_h, y0, y1, ly1);
            linear_index(ox, p.W, p.OW, p.scale_w, x0, x1, lx1);
        }
        precise float ly0 = 1.0 - ly1, lx0 = 1.0 - lx1;
        precise float top = lx0 * x[in_base + y0 * p.W + x0] + lx1 * x[in_base + y0 * p.W + x1];
        precise float bottom = lx0 * x[in_base + y1 * p.W + x0] + lx1 * x[in_base + y1 * p.W + x1];
        r = ly0 * top + ly1 * bottom;
    }
    y[(plane * p.OH + oy) * p.OW + ox] = r;
}
