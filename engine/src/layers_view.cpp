// Flatten and Dropout (eval): views, no shader.
#include <cmath>

#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {

// ---- Flatten ------------------------------------------------------------------------------

Flatten::Flatten(Context& ctx, int start_dim, int end_dim) : Layer(ctx), start_dim_(start_dim), end_dim_(end_dim) {}

std::string Flatten::repr() const {
    return "Flatten(start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_) + ")";
}

Shape Flatten::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const Shape& in = inputs[0];
    shape_numel(in);
    // torch.flatten: dims wrap as for a 1-d tensor when the input is 0-d, which becomes [1].
    const int s = detail::wrap_dim(start_dim_, in.size(), type());
    const int e = detail::wrap_dim(end_dim_, in.size(), type());
    if (s > e)
        throw Error("Flatten: flatten() has invalid args: start_dim cannot come after end_dim (start_dim=" +
                    std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_) + " for input " + shape_str(in) + ")");
    if (in.empty()) return {1};
    Shape out(in.begin(), in.begin() + s);
    int64_t merged = 1;
    for (int d = s; d <= e; ++d) merged *= in[static_cast<size_t>(d)];
    out.push_back(merged);
    out.insert(out.end(), in.begin() + e + 1, in.end());
    return out;
}

void Flatten::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output(*this, output, output_shape(inputs[0].shape()));
    detail::record_copy(rec, inputs[0], output);
}

std::vector<float> Flatten::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    return inputs[0];
}

// ---- Dropout ------------------------------------------------------------------------------

Dropout::Dropout(Context& ctx, double p) : Layer(ctx), p_(p) {
    if (!(p >= 0.0 && p <= 1.0))
        throw Error("Dropout: dropout probability has to be between 0 and 1, but got " + python_float_repr(p));
}

std::string Dropout::repr() const { return "Dropout(p=" + python_float_repr(p_) + ", inplace=False)"; }

Shape Dropout::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);
    return inputs[0];
}

void Dropout::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output(*this, output, output_shape(inputs[0].shape()));
    detail::record_copy(rec, inputs[0], output);
}

std::vector<float> Dropout::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    return inputs[0];
}

}  // namespace vkconv
