// vkconv/binary.h: element-wise a + b, a - b, a * b, a / b with PyTorch's broadcasting (1.13):
// shapes are aligned at their last dims, and a dim of size 1 (or a missing leading dim)
// stretches to the other's size. Computed in fp32 with one rounding per element, as torch.
//
//   vkconv::Binary mul(ctx, vkconv::BinaryOp::Mul);             // x * gate  ([N, C, H, W] * [N, C, 1, 1])
//   vkconv::Binary half(ctx, vkconv::BinaryOp::Mul, 0.5);       // x * 0.5
//   vkconv::Binary inv(ctx, vkconv::BinaryOp::Div, 1.0, true);  // 1.0 / x
//   vkconv::Binary scale(ctx, vkconv::BinaryOp::Mul, "layer_scale", {96, 1, 1});  // self.layer_scale * x
//
// The last form holds its operand as a parameter under the given state_dict name (ConvNeXt's
// per-channel layer scale: name the layer after the module that owns the parameter, e.g.
// "features.1.0", so that "features.1.0.layer_scale" loads). Add (vkconv/layers.h) is the
// tensor + tensor form of BinaryOp::Add; it keeps its same-shape residual path.
// Shader: binary.comp (a fused activation, activation.glsl, in the same pass).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkconv/layer.h"

namespace vkconv {

enum class BinaryOp : uint32_t { Add = 0, Sub = 1, Mul = 2, Div = 3 };

// "Add", "Sub", "Mul", "Div".
const char* to_string(BinaryOp op);

// PyTorch's broadcast shape of a and b; throws "The size of tensor a (3) must match the size of
// tensor b (2) at non-singleton dimension 1" (prefixed with `who`).
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who);

class Binary : public Layer {
public:
    // tensor op tensor (two inputs, broadcast).
    Binary(Context& ctx, BinaryOp op);
    // tensor op scalar, or scalar op tensor when scalar_first (one input). The scalar is
    // rounded to float32 first, as PyTorch does for a Python number with a float32 tensor.
    Binary(Context& ctx, BinaryOp op, double scalar, bool scalar_first = false);
    // parameter op tensor, or tensor op parameter when !parameter_first (one input); the
    // parameter starts as ones.
    Binary(Context& ctx, BinaryOp op, std::string parameter_name, Shape parameter_shape, bool parameter_first = true);

    std::string type() const override { return to_string(op_); }
    // "Mul()", "Mul(other=0.5)", "Sub(other=1.0, reverse=True)", "Mul(parameter=layer_scale)".
    std::string repr() const override;
    int num_inputs() const override { return kind_ == Operand::Tensor ? 2 : 1; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    // Any activation in the same pass.
    bool can_fuse_activation(const Activation&) const override { return true; }
    void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                const Activation& a) override;

    BinaryOp op() const { return op_; }
    enum class Operand { Tensor, Scalar, Parameter };
    Operand operand() const { return kind_; }
    float scalar() const { return scalar_; }
    // Scalar or parameter is the left operand.
    bool operand_first() const { return first_; }
    const std::string& parameter_name() const { return param_name_; }

private:
    BinaryOp op_;
    Operand kind_;
    float scalar_ = 0.0f;
    double scalar_given_ = 0.0;
    bool first_ = false;
    std::string param_name_;
};

// The CPU reference of a op b with broadcasting: one fp32 rounding of the exact result.
std::vector<float> binary_reference(BinaryOp op, const Shape& a_shape, const std::vector<float>& a, const Shape& b_shape,
                                    const std::vector<float>& b, const Activation& act = {});

// Records y = act(a op b) with broadcasting into `rec`, then a barrier (what Binary and Add use).
void record_binary(CommandRecorder& rec, const std::string& who, BinaryOp op, const Tensor& a, const Tensor& b,
                   const Tensor& y, const Activation& act = {});

}  // namespace vkconv
