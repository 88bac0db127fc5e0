// Upsample (nn.Upsample, F.interpolate): shaders/upsample2d.comp.
#include <algorithm>
#include <cmath>
#include <optional>
#include <limits>
#include <sstream>

#include "host/context.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"
#include "vkconv/upsample.h"

namespace vkconv {
namespace {

// Mirrors UpsamplePushConstants in shaders/upsample2d.comp.
struct UpsamplePushConstants {
    int32_t H, W, OH, OW;
    float scale_h, scale_w;
    int32_t shortcuts;
    int32_t x_base, y_base, z_base;
};

constexpr int kTile = 8;

// The shader's COORD_* and ROUND_* values (0: PyTorch's rules; -1: unknown).
int onnx_coordinate_mode(const std::string& m) {
    const char* names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nearest"};
    for (int k = 0; k < 5; ++k)
        if (m == names[k]) return k + 1;
    return m.empty() ? 0 : -1;
}
int onnx_nearest_mode(const std::string& m) {
    const char* names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    for (int k = 0; k < 4; ++k)
        if (m == names[k]) return k;
    return -1;
}
enum { kCoordPyTorch = 0, kHalfPixel, kPyTorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixel };
enum { kPreferFloor = 0, kPreferCeil, kFloor, kCeil };

// Python's repr of a tuple or a single value, as nn.Upsample.extra_repr prints what it was given.
template <class T, class F>
std::string value_or_tuple(const std::vector<T>& v, F&& fmt) {
    if (v.size() == 1) return fmt(v[0]);
    std::string s = "(";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt(v[i]);
    return s + ")";
}

std::string list_str(const Shape& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

// One axis: its sizes and the float scale ATen's kernel uses.
struct Axis {
    int64_t in = 0, out = 0;
    float scale = 0;
};

struct Geometry {
    int64_t planes = 0;
    bool channels_last = false;  // C == 1: ATen's channels-last kernel (nearest_idx's shortcuts)
    Axis h, w;
    Shape out_shape;
    int coord = 0, round = 0;  // ONNX's coordinate and nearest modes (coord 0: PyTorch's rules)
};

}  // namespace

Upsample::Upsample(Context& ctx, UpsampleOptions options) : Layer(ctx), options_(std::move(options)) {
    const auto& o = options_;
    const std::string who = o.class_name + ": ";
    if (o.mode != "nearest" && o.mode != "bilinear")
        throw Error(who + "mode must be 'nearest' or 'bilinear' (vkconv's of PyTorch's nearest | linear | bilinear | bicubic | "
                          "trilinear | area | nearest-exact), but got mode='" + o.mode + "'");
    if (o.mode == "nearest" && o.align_corners.has_value())
        throw Error(who + "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear");
    if (!o.coordinate_transformation_mode.empty()) {
        if (onnx_coordinate_mode(o.coordinate_transformation_mode) < 0)
            throw Error(who + "coordinate_transformation_mode must be one of half_pixel, pytorch_half_pixel, align_corners, "
                              "asymmetric, tf_half_pixel_for_nearest, but got '" + o.coordinate_transformation_mode + "'");
        if (onnx_nearest_mode(o.nearest_mode) < 0)
            throw Error(who + "nearest_mode must be one of round_prefer_floor, round_prefer_ceil, floor, ceil, but got '" +
                        o.nearest_mode + "'");
        if (o.align_corners.has_value())
            throw Error(who + "align_corners cannot be set with a coordinate_transformation_mode (use 'align_corners')");
    }
    if (!o.size.empty() && !o.scale_factor.empty()) throw Error(who + "only one of size or scale_factor should be defined");
    if (o.size.empty() && o.scale_factor.empty()) throw Error(who + "either size or scale_factor should be defined");
    if (o.recompute_scale_factor.value_or(false) && !o.size.empty())
        throw Error(who + "recompute_scale_factor is not meaningful with an explicit size.");
    if (o.size.size() > 2 || o.scale_factor.size() > 2)
        throw Error(who + "size and scale_factor take one value or two (h, w) for 4-D input, but got " +
                    std::to_string(std::max(o.size.size(), o.scale_factor.size())));
    for (double s : o.scale_factor)
        if (!std::isfinite(s)) throw Error(who + "scale_factor must be finite, but got " + python_float_repr(s));
    for (int64_t s : o.size)
        if (s > std::numeric_limits<int32_t>::max()) throw Error(who + "size " + std::to_string(s) + " exceeds 2^31-1");
}

std::string Upsample::repr() const {
    const auto& o = options_;
    std::string s = o.class_name + "(";
    if (!o.scale_factor.empty())
        s += "scale_factor=" + value_or_tuple(o.scale_factor, [](double v) { return python_float_repr(v); });
    else
        s += "size=" + value_or_tuple(o.size, [](int64_t v) { return std::to_string(v); });
    s += ", mode=" + o.mode;
    if (!o.coordinate_transformation_mode.empty()) {
        s += ", coordinate_transformation_mode=" + o.coordinate_transformation_mode;
        if (o.mode == "nearest") s += ", nearest_mode=" + o.nearest_mode;
    }
    return s + ")";
}

namespace {

Geometry upsample_geometry(const UpsampleOptions& o, const Shape& in) {
    const std::string who = o.class_name + ": ";
    if (in.size() != 4)
        throw Error(who + "vkconv interpolates 4-D (N, C, H, W) input only, but got input of size " + list_str(in) +
                    (in.size() == 3 || in.size() == 5 ? " (PyTorch would interpolate it along " +
                                                            std::string(in.size() == 3 ? "its last dim" : "three dims") + ")"
                                                      : ""));
    shape_numel(in);
    if (in[1] == 0 || in[2] == 0 || in[3] == 0)
        throw Error(who + "Non-empty 4D data tensor expected but got a tensor with sizes " + list_str(in));
    const bool sized = !o.size.empty();  // the constructor allows one or two values, exactly one of the two given
    Geometry g;
    g.planes = in[0] * in[1];
    g.channels_last = in[1] == 1;
    g.h.in = in[2];
    g.w.in = in[3];
    const bool recompute = o.recompute_scale_factor.value_or(false);
    const int coord = onnx_coordinate_mode(o.coordinate_transformation_mode);
    g.coord = coord;
    g.round = coord ? onnx_nearest_mode(o.nearest_mode) : 0;
    if (coord) g.channels_last = false;  // ATen's shortcuts are PyTorch's only
    const bool align = coord ? coord == kAlignCorners : o.mode == "bilinear" && o.align_corners.value_or(false);
    std::optional<double> scales[2];  // the scale factors the kernel is given
    for (int a = 0; a < 2; ++a) {
        Axis& ax = a == 0 ? g.h : g.w;
        if (sized) {
            ax.out = o.size[o.size.size() == 1 ? 0 : static_cast<size_t>(a)];
        } else {
            const double s = o.scale_factor[o.scale_factor.size() == 1 ? 0 : static_cast<size_t>(a)];
            // floor(in * s), clamped into int32 (beyond it is refused below) before the cast.
            const double out = std::clamp(std::floor(double(ax.in) * s), double(std::numeric_limits<int32_t>::min()),
                                          double(std::numeric_limits<int32_t>::max()) + 1);
            ax.out = static_cast<int64_t>(out);
            if (!recompute) scales[a] = s;
        }
    }
    if (g.h.out <= 0 || g.w.out <= 0)
        throw Error(who + "Input and output sizes should be greater than 0, but got input (H: " + std::to_string(g.h.in) +
                    ", W: " + std::to_string(g.w.in) + ") output (H: " + std::to_string(g.h.out) + ", W: " +
                    std::to_string(g.w.out) + ")");
    // area_pixel_compute_scale / compute_scales_value, in float as for float tensors. With
    // out >= 1, a given scale factor s >= 1 / in, so 1 / s fits a float.
    for (int a = 0; a < 2; ++a) {
        Axis& ax = a == 0 ? g.h : g.w;
        if (align && coord && scales[a]) {
            // ONNX's align_corners with a scale divides by in * scale - 1, not by out - 1.
            const double len = double(ax.in) * *scales[a] - 1.0;
            ax.scale = len > 0 ? static_cast<float>(double(ax.in - 1) / len) : 0.0f;
        } else if (align) {
            ax.scale = ax.out > 1 ? static_cast<float>(ax.in - 1) / static_cast<float>(ax.out - 1) : 0.0f;
        }
        else if (scales[a] && *scales[a] > 0)
            ax.scale = static_cast<float>(1.0 / *scales[a]);
        else
            ax.scale = static_cast<float>(ax.in) / static_cast<float>(ax.out);
    }
    if (g.h.out > std::numeric_limits<int32_t>::max() / 2 || g.w.out > std::numeric_limits<int32_t>::max() / 2 ||
        g.h.out * g.w.out > std::numeric_limits<int32_t>::max() || g.h.in * g.w.in > std::numeric_limits<int32_t>::max())
        throw Error(who + "an output plane of " + std::to_string(g.h.out) + " x " + std::to_string(g.w.out) +
                    " exceeds 32-bit indexing");
    g.out_shape = {in[0], in[1], g.h.out, g.w.out};
    shape_numel(g.out_shape);
    return g;
}

// The reference's index rules (written from ATen's UpSample.h, in float like ATen).
int64_t nearest_index(int64_t dst, const Axis& a, bool shortcuts) {
    if (shortcuts && a.out == a.in) return dst;
    if (shortcuts && a.out == 2 * a.in) return dst >> 1;
    const float src = static_cast<float>(dst) * a.scale;
    return std::min(static_cast<int64_t>(std::floor(src)), a.in - 1);
}

void linear_index(int64_t dst, const Axis& a, bool align, int64_t& i0, int64_t& i1, double& l0, double& l1) {
    if (a.out == a.in) {
        i0 = i1 = dst;
        l0 = 1;
        l1 = 0;
        return;
    }
    float src = align ? a.scale * static_cast<float>(dst) : a.scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
    if (!align && src < 0) src = 0;
    i0 = static_cast<int64_t>(src);
    i1 = i0 + (i0 < a.in - 1 ? 1 : 0);
    const float f1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    l1 = f1;
    l0 = 1.0f - f1;  // the weights themselves are floats in ATen
}

// ONNX's source coordinate (in float, as the shader computes it).
float onnx_source(int64_t dst, const Axis& a, int coord) {
    const float x = static_cast<float>(dst);
    switch (coord) {
        case kHalfPixel: return (x + 0.5f) * a.scale - 0.5f;
        case kPyTorchHalfPixel: return a.out > 1 ? (x + 0.5f) * a.scale - 0.5f : 0.0f;
        case kTfHalfPixel: return (x + 0.5f) * a.scale;
        default: return x * a.scale;  // asymmetric; align_corners (scale (in - 1) / (out - 1))
    }
}

int64_t onnx_nearest_index(int64_t dst, const Axis& a, int coord, int round) {
    const float s = onnx_source(dst, a, coord);
    const float f = std::floor(s);
    int64_t i;
    if (round == kFloor) i = static_cast<int64_t>(f);
    else if (round == kCeil) i = static_cast<int64_t>(std::ceil(s));
    else {
        const float frac = s - f;
        i = static_cast<int64_t>(f) + ((frac > 0.5f || (frac == 0.5f && round == kPreferCeil)) ? 1 : 0);
    }
    return std::clamp<int64_t>(i, 0, a.in - 1);
}

void onnx_linear_index(int64_t dst, const Axis& a, int coord, int64_t& i0, int64_t& i1, double& l0, double& l1) {
    float s = onnx_source(dst, a, coord);
    s = std::clamp(s, 0.0f, static_cast<float>(a.in - 1));
    i0 = static_cast<int64_t>(s);
    i1 = std::min(i0 + 1, a.in - 1);
    const float f1 = s - static_cast<float>(i0);
    l1 = f1;
    l0 = 1.0f - f1;
}

}  // namespace

Shape Upsample::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return upsample_geometry(options_, inputs[0]).out_shape;
}

void Upsample::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const auto g = upsample_geometry(options_, inputs[0].shape());
    detail::check_output_shape(*this, output, g.out_shape);
    if (output.numel() == 0) return;
    const bool bilinear = options_.mode == "bilinear";
    const auto pipeline = host::of(*ctx_).pipeline("upsample2d",
                                         {bilinear ? 1u : 0u, options_.align_corners.value_or(false) ? 1u : 0u,
                                          static_cast<uint32_t>(g.coord), static_cast<uint32_t>(g.round)});
    UpsamplePushConstants pc{};
    pc.H = static_cast<int32_t>(g.h.in);
    pc.W = static_cast<int32_t>(g.w.in);
    pc.OH = static_cast<int32_t>(g.h.out);
    pc.OW = static_cast<int32_t>(g.w.out);
    pc.scale_h = g.h.scale;
    pc.scale_w = g.w.scale;
    pc.shortcuts = g.channels_last ? 1 : 0;
    // maxStorageBufferRange: chunks of whole planes bound as sub-ranges.
    const uint64_t in_plane = static_cast<uint64_t>(g.h.in * g.w.in) * sizeof(float);
    const uint64_t out_plane = static_cast<uint64_t>(g.h.out * g.w.out) * sizeof(float);
    detail::for_each_plane_chunk(*ctx_, type(), inputs[0], output, g.planes, in_plane, out_plane, [&](auto bindings, int64_t np) {
        detail::dispatch_xyz(*ctx_, rec, *pipeline, bindings, pc, {(g.w.out + kTile - 1) / kTile, (g.h.out + kTile - 1) / kTile, np});
    });
    host::of(rec).barrier();
}

std::vector<float> Upsample::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const auto g = upsample_geometry(options_, shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const bool bilinear = options_.mode == "bilinear", align = bilinear && options_.align_corners.value_or(false) && !g.coord;
    std::vector<float> out(static_cast<size_t>(shape_numel(g.out_shape)));
    const int64_t H = g.h.in, W = g.w.in, OH = g.h.out, OW = g.w.out;
    for (int64_t pl = 0; pl < g.planes; ++pl)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                auto at = [&](int64_t iy, int64_t ix) { return double(x[static_cast<size_t>((pl * H + iy) * W + ix)]); };
                double r;
                if (!bilinear && g.coord) {
                    r = at(onnx_nearest_index(oy, g.h, g.coord, g.round), onnx_nearest_index(ox, g.w, g.coord, g.round));
                } else if (!bilinear) {
                    r = at(nearest_index(oy, g.h, g.channels_last), nearest_index(ox, g.w, g.channels_last));
                } else {
                    int64_t y0, y1, x0, x1;
                    double ly0, ly1, lx0, lx1;
                    if (g.coord) {
                        onnx_linear_index(oy, g.h, g.coord, y0, y1, ly0, ly1);
                        onnx_linear_index(ox, g.w, g.coord, x0, x1, lx0, lx1);
                    } else {
                        linear_index(oy, g.h, align, y0, y1, ly0, ly1);
                        linear_index(ox, g.w, align, x0, x1, lx0, lx1);
                    }
                    r = ly0 * (lx0 * at(y0, x0) + lx1 * at(y0, x1)) + ly1 * (lx0 * at(y1, x0) + lx1 * at(y1, x1));
                }
                out[static_cast<size_t>((pl * OH + oy) * OW + ox)] = static_cast<float>(r);
            }
    return out;
}

}  // namespace vkconv
