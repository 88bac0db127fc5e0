// A fixed tensor as a layer: no shader, a buffer copy.
#include "constant_layer.h"

#include "layers_common.h"

namespace vkconv::detail {

ConstantTensor::ConstantTensor(Context& ctx, Shape shape, std::vector<float> value) : Layer(ctx), shape_(shape) {
    add_parameter("value", std::move(shape), std::move(value), /*buffer=*/true);
}

std::string ConstantTensor::repr() const { return "Constant(shape=" + shape_str(shape_) + ")"; }

Shape ConstantTensor::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return shape_;
}

void ConstantTensor::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    check_output_shape(*this, output, shape_);
    if (shape_numel(shape_) == 0) return;
    record_copy(rec, device_parameter("value"), output);
}

std::vector<float> ConstantTensor::reference(std::span<const Shape> shapes, std::span<const std::vector<float>>) const {
    check_input_count(shapes.size());
    return parameter("value");
}

}  // namespace vkconv::detail
