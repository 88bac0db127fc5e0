// vkconv/unary_math.h: element-wise math functions as layers (torch.erf, torch.sqrt,
// torch.pow(x, exponent) with a constant exponent), what ONNX's Erf, Sqrt and Pow map onto.
// They are activations (vkconv/activation.h kinds Erf, Sqrt, Pow): any shape, computed by
// shaders/activation.comp from shaders/activation.glsl, CPU reference in double, and a Model
// fuses them into the layer before them like the other activations.
//
//   vkconv::Pow square(ctx, 2.0);   // torch.pow(x, 2)
#pragma once

#include "vkconv/activations.h"

namespace vkconv {

// torch.erf(x). Prints "Erf()".
class Erf : public ActivationLayer {
public:
    explicit Erf(Context& ctx) : ActivationLayer(ctx, Activation::of(ActivationKind::Erf), false) {}
    std::string type() const override { return "Erf"; }
    std::string repr() const override { return "Erf()"; }
};

// torch.sqrt(x): NaN for x < 0. Prints "Sqrt()".
class Sqrt : public ActivationLayer {
public:
    explicit Sqrt(Context& ctx) : ActivationLayer(ctx, Activation::of(ActivationKind::Sqrt), false) {}
    std::string type() const override { return "Sqrt"; }
    std::string repr() const override { return "Sqrt()"; }
};

// torch.pow(x, exponent) for a constant float exponent (C's pow: NaN for a negative x and a
// non-integer exponent). Prints "Pow(exponent=2.0)".
class Pow : public ActivationLayer {
public:
    Pow(Context& ctx, float exponent) : ActivationLayer(ctx, {ActivationKind::Pow, exponent}, false) {}
    std::string type() const override { return "Pow"; }
    std::string repr() const override;
    float exponent() const { return activation().alpha; }
};

}  // namespace vkconv
