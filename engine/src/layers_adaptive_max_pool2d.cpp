// AdaptiveMaxPool2d: shaders/adaptive_max_pool2d.comp.
#include <cmath>
#include <limits>

#include "host/context.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/error.h"

namespace vkconv {
namespace {

// Mirrors AdaptivePoolPushConstants in shaders/adaptive_max_pool2d.comp.
struct AdaptivePoolPushConstants {
    int32_t H, W, OH, OW;
    int32_t x_base, y_base, z_base;
};

constexpr int kTile = 8;

struct Geometry {
    int64_t planes = 0, h = 0, w = 0;
    Pair out;
    Shape out_shape;
};

Geometry geometry(const Shape& in, std::optional<int> oh, std::optional<int> ow) {
    if (in.size() != 3 && in.size() != 4)
        throw Error("AdaptiveMaxPool2d: adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: " + shape_str(in));
    shape_numel(in);
    for (size_t d = 1; d < in.size(); ++d)  // ATen checks every dim but the first
        if (in[d] == 0)
            throw Error("AdaptiveMaxPool2d: adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, "
                        "but input has sizes " + shape_str(in) + " with dimension " + std::to_string(d) + " being empty");
    Geometry g;
    g.planes = in.size() == 4 ? in[0] * in[1] : in[0];
    g.h = in[in.size() - 2];
    g.w = in[in.size() - 1];
    g.out = detail::resolve_output_size(oh, ow, in);
    // The shader's window arithmetic (adaptive_pool.glsl) needs Out <= 65535 unless Out divides In.
    for (auto [i, o] : {std::pair{g.h, int64_t(g.out.h)}, std::pair{g.w, int64_t(g.out.w)}})
        if (o > 65535 && i % o != 0)
            throw Error("AdaptiveMaxPool2d: an output size above 65535 must divide the input size, but got output_size=" +
                        detail::pair_tuple(g.out) + " for input " + shape_str(in));
    g.out_shape = in;
    g.out_shape[in.size() - 2] = g.out.h;
    g.out_shape[in.size() - 1] = g.out.w;
    shape_numel(g.out_shape);
    return g;
}

}  // namespace

AdaptiveMaxPool2d::AdaptiveMaxPool2d(Context& ctx, Pair output_size)
    : AdaptiveMaxPool2d(ctx, std::optional<int>(output_size.h), std::optional<int>(output_size.w)) {}

AdaptiveMaxPool2d::AdaptiveMaxPool2d(Context& ctx, std::optional<int> output_h, std::optional<int> output_w, bool return_indices)
    : Layer(ctx), h_(output_h), w_(output_w) {
    if (return_indices)
        throw Error("AdaptiveMaxPool2d: return_indices=True is not supported: vkconv's layers return one tensor (the pooled "
                    "values), not the (values, indices) pair");
    if ((h_ && *h_ < 0) || (w_ && *w_ < 0))
        throw Error("AdaptiveMaxPool2d: elements of output_size must be greater than or equal to 0 but received " +
                    detail::optional_pair_repr(h_, w_));
}

std::string AdaptiveMaxPool2d::repr() const { return "AdaptiveMaxPool2d(output_size=" + detail::optional_pair_repr(h_, w_) + ")"; }

Shape AdaptiveMaxPool2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return geometry(inputs[0], h_, w_).out_shape;
}

void AdaptiveMaxPool2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const auto g = geometry(inputs[0].shape(), h_, w_);
    detail::check_output_shape(*this, output, g.out_shape);
    if (output.numel() == 0) return;
    const auto pipeline = host::of(*ctx_).pipeline("adaptive_max_pool2d", {});
    AdaptivePoolPushConstants pc{};
    pc.H = static_cast<int32_t>(g.h);
    pc.W = static_cast<int32_t>(g.w);
    pc.OH = g.out.h;
    pc.OW = g.out.w;
    // maxStorageBufferRange: chunks of whole planes bound as sub-ranges.
    const uint64_t in_plane = static_cast<uint64_t>(g.h * g.w) * sizeof(float);
    const uint64_t out_plane = static_cast<uint64_t>(int64_t(g.out.h) * g.out.w) * sizeof(float);
    detail::for_each_plane_chunk(*ctx_, type(), inputs[0], output, g.planes, in_plane, out_plane, [&](auto bindings, int64_t np) {
        detail::dispatch_xyz(*ctx_, rec, *pipeline, bindings, pc, {(g.out.w + kTile - 1) / kTile, (g.out.h + kTile - 1) / kTile, np});
    });
    host::of(rec).barrier();
}

std::vector<float> AdaptiveMaxPool2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const auto g = geometry(shapes[0], h_, w_);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const int64_t OH = g.out.h, OW = g.out.w;
    std::vector<float> out(static_cast<size_t>(shape_numel(g.out_shape)));
    // PyTorch's adaptive_max_pool2d: cell i covers [floor(i * In / Out), ceil((i+1) * In / Out));
    // `if ((val > maxval) || std::isnan(val))` over the window, row by row.
    auto start = [](int64_t i, int64_t o, int64_t n) { return (i * n) / o; };
    auto end = [](int64_t i, int64_t o, int64_t n) { return ((i + 1) * n + o - 1) / o; };
    for (int64_t pl = 0; pl < g.planes; ++pl)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t iy = start(oy, OH, g.h); iy < end(oy, OH, g.h); ++iy)
                    for (int64_t ix = start(ox, OW, g.w); ix < end(ox, OW, g.w); ++ix) {
                        const float v = x[static_cast<size_t>((pl * g.h + iy) * g.w + ix)];
                        if (v > m || std::isnan(v)) m = v;
                    }
                out[static_cast<size_t>((pl * OH + oy) * OW + ox)] = m;
            }
    return out;
}

}  // namespace vkconv
