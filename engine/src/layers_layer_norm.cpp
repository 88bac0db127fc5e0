// LayerNorm (vkconv/layer_norm.h): shaders/layer_norm.comp.
#include <bit>
#include <cmath>
#include <sstream>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/layer_norm.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors LayerNormPushConstants in shaders/layer_norm.comp.
struct LayerNormPushConstants {
    uint32_t rows, d, row_base;
    float eps;
};

std::string shape_list(const Shape& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

LayerNorm::LayerNorm(Context& ctx, Shape normalized_shape, double eps, bool elementwise_affine)
    : Layer(ctx), normalized_(std::move(normalized_shape)), eps_(eps), affine_(elementwise_affine) {
    if (normalized_.empty()) throw Error("LayerNorm: normalized_shape must have at least one dimension, but got ()");
    for (auto d : normalized_)
        if (d < 0) throw Error("LayerNorm: normalized_shape has a negative size: " + shape_list(normalized_));
    if (!(eps >= 0) || std::isinf(eps)) throw Error("LayerNorm: eps must be a finite non-negative number, but got eps=" + python_float_repr(eps));
    const int64_t n = shape_numel(normalized_);
    if (n > (int64_t(1) << 24)) throw Error("LayerNorm: more than 2^24 normalized elements per row are not supported");
    if (affine_) {
        add_parameter("weight", normalized_, std::vector<float>(static_cast<size_t>(n), 1.0f));
        add_parameter("bias", normalized_, std::vector<float>(static_cast<size_t>(n), 0.0f));
    }
}

std::string LayerNorm::repr() const {
    std::ostringstream s;
    s << "LayerNorm((";
    for (size_t i = 0; i < normalized_.size(); ++i) s << (i ? ", " : "") << normalized_[i];
    s << (normalized_.size() == 1 ? ",)" : ")") << ", eps=" << python_float_repr(eps_)
      << ", elementwise_affine=" << detail::py_bool(affine_) << ")";
    return s.str();
}

Shape LayerNorm::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const Shape& in = inputs[0];
    shape_numel(in);
    bool ok = in.size() >= normalized_.size();
    for (size_t k = 0; ok && k < normalized_.size(); ++k) ok = in[in.size() - normalized_.size() + k] == normalized_[k];
    if (!ok) {
        std::string star = "[*";
        for (auto d : normalized_) star += ", " + std::to_string(d);
        throw Error("LayerNorm: Given normalized_shape=" + shape_list(normalized_) + ", expected input with shape " + star +
                    "], but got input of size" + shape_list(in));
    }
    return in;
}

void LayerNorm::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const Tensor& x = inputs[0];
    detail::check_output_shape(*this, output, output_shape(x.shape()));
    const int64_t d = shape_numel(normalized_);
    if (output.numel() == 0 || d == 0) return;
    const int64_t rows = output.numel() / d;
    const Tensor& w = affine_ ? device_parameter("weight") : x;
    const Tensor& b = affine_ ? device_parameter("bias") : x;
    if (affine_) {
        host::of(rec).keep_alive(detail::storage_of(w));
        host::of(rec).keep_alive(detail::storage_of(b));
    }
    const auto pipeline = host::of(*ctx_).pipeline("layer_norm", {affine_ ? 1u : 0u});
    const uint64_t row_bytes = static_cast<uint64_t>(d) * sizeof(float);
    const int64_t chunk = detail::storage_chunk_units(*ctx_, type(), "row", rows, {row_bytes});
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t count = std::min(chunk, rows - r0);
        const uint64_t offset = static_cast<uint64_t>(r0) * row_bytes, bytes = static_cast<uint64_t>(count) * row_bytes;
        const host::BufferBinding x_range(detail::buffer_of(x).handle(), detail::buffer_of(x).offset() + offset, bytes);
        const host::BufferBinding y_range(detail::buffer_of(output).handle(), detail::buffer_of(output).offset() + offset, bytes);
        const host::BufferBinding w_range = affine_ ? host::BufferBinding(detail::buffer_of(w)) : x_range;
        const host::BufferBinding b_range = affine_ ? host::BufferBinding(detail::buffer_of(b)) : x_range;
        const host::BufferBinding bindings[] = {x_range, w_range, b_range, y_range};
        LayerNormPushConstants pc{static_cast<uint32_t>(count), static_cast<uint32_t>(d), 0, static_cast<float>(eps_)};
        detail::split_dispatch({count, 1, 1}, detail::workgroup_count_limit(*ctx_), [&](auto base, auto cnt) {
            pc.row_base = static_cast<uint32_t>(base[0]);
            host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
        });
    }
    host::of(rec).barrier();
}

std::vector<float> LayerNorm::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const size_t d = static_cast<size_t>(shape_numel(normalized_));
    std::vector<float> out(x.size());
    if (d == 0) return out;
    // F.layer_norm: mean and biased variance over the row in double, then
    // (x - mean) / sqrt(var + eps) * weight + bias.
    for (size_t r = 0; r < x.size() / d; ++r) {
        const float* xr = x.data() + r * d;
        double mean = 0, var = 0;
        for (size_t i = 0; i < d; ++i) mean += xr[i];
        mean /= double(d);
        for (size_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
        var /= double(d);
        const double rstd = 1.0 / std::sqrt(var + eps_);
        for (size_t i = 0; i < d; ++i) {
            double v = (xr[i] - mean) * rstd;
            if (affine_) v = v * parameter("weight")[i] + parameter("bias")[i];
            out[r * d + i] = static_cast<float>(v);
        }
    }
    return out;
}

}  // namespace vkconv
