// Softmax and LogSoftmax: shaders/softmax.comp.
#include <cmath>
#include <limits>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors SoftmaxPushConstants in shaders/softmax.comp.
struct SoftmaxPushConstants {
    int32_t rows, D, inner, row_base;
};

// The tensor seen as [outer, D, inner] around the softmax dim.
struct SoftmaxView {
    int64_t outer = 1, d = 1, inner = 1;
};

SoftmaxView softmax_view(const Shape& s, int dim) {
    SoftmaxView v;
    if (s.empty()) return v;  // a 0-d tensor is one row of one element
    for (int i = 0; i < dim; ++i) v.outer *= s[static_cast<size_t>(i)];
    v.d = s[static_cast<size_t>(dim)];
    for (size_t i = static_cast<size_t>(dim) + 1; i < s.size(); ++i) v.inner *= s[i];
    return v;
}

// Rows below this count get a workgroup each even when strided (inner > 1): with few rows,
// 64 invocations per row is the parallelism there is.
constexpr int64_t kFewRows = 1024;

}  // namespace

Softmax::Softmax(Context& ctx, int dim) : Layer(ctx), dim_(dim) {}

Shape Softmax::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);
    detail::wrap_dim(dim_, inputs[0].size(), type());
    return inputs[0];
}

void Softmax::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const Tensor& x = inputs[0];
    detail::check_output(*this, output, output_shape(x.shape()));
    detail::check_buffer_range(*this, x);
    if (output.numel() == 0) return;
    const auto v = softmax_view(x.shape(), detail::wrap_dim(dim_, x.shape().size(), type()));
    const int64_t rows = v.outer * v.inner;
    const bool per_workgroup = v.inner == 1 || rows < kFewRows;
    const auto pipeline = host::of(*ctx_).pipeline("softmax", {per_workgroup ? 1u : 0u, log_ ? 1u : 0u});
    SoftmaxPushConstants pc{static_cast<int32_t>(rows), static_cast<int32_t>(v.d), static_cast<int32_t>(v.inner), 0};
    const host::BufferBinding bindings[] = {detail::buffer_of(x), detail::buffer_of(output)};
    const int64_t groups = per_workgroup ? rows : (rows + 63) / 64;
    detail::split_dispatch({groups, 1, 1}, detail::workgroup_count_limit(*ctx_), [&](auto base, auto count) {
        pc.row_base = base[0];
        host::of(rec).dispatch(*pipeline, bindings, pc, count[0], 1, 1);
    });
    host::of(rec).barrier();
}

std::vector<float> Softmax::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const auto v = softmax_view(shapes[0], detail::wrap_dim(dim_, shapes[0].size(), type()));
    std::vector<float> out(x.size());
    // softmax(x)_j = exp(x_j) / sum_k exp(x_k) along the dim, evaluated as exp(x_j - max) /
    // sum_k exp(x_k - max) in double (the same quantity, without overflow).
    for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
            auto at = [&](int64_t j) { return static_cast<size_t>((o * v.d + j) * v.inner + i); };
            double m = -std::numeric_limits<double>::infinity();
            bool nan = false;
            for (int64_t j = 0; j < v.d; ++j) {
                nan = nan || std::isnan(x[at(j)]);
                m = std::max(m, double(x[at(j)]));
            }
            double sum = 0;
            for (int64_t j = 0; j < v.d; ++j) sum += std::exp(double(x[at(j)]) - m);
            // log_softmax(x)_j = (x_j - max) - log(sum_k exp(x_k - max)).
            const double log_sum = std::log(sum);
            for (int64_t j = 0; j < v.d; ++j) {
                const double d = double(x[at(j)]) - m;
                out[at(j)] = nan ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(log_ ? d - log_sum : std::exp(d) / sum);
            }
        }
    return out;
}

}  // namespace vkconv
