// constant_layer.h: a layer whose output is a fixed tensor (private to engine/src).
//
// What an ONNX graph's constant operand becomes where a layer needs it on the device (the
// second operand of an Add, say). It takes the model's input only so that it has a place in
// the model's order; its output does not depend on it.
#pragma once

#include "vkconv/layer.h"

namespace vkconv::detail {

class ConstantTensor : public Layer {
public:
    ConstantTensor(Context& ctx, Shape shape, std::vector<float> value);
    std::string type() const override { return "Constant"; }
    std::string repr() const override;  // "Constant(shape=[1, 3])"
    Shape output_shape(std::span<const Shape> inputs) const override;
    // Copies the value (a buffer, uploaded once) into `output`.
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

private:
    Shape shape_;
};

}  // namespace vkconv::detail
