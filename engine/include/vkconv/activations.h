// vkconv/activations.h: PyTorch's element-wise activation modules (torch.nn, 1.13), with
// PyTorch's constructor arguments, repr() and argument checks. Each computes y = f(x) for any
// shape (0-d to any rank, empty included) in shaders/activation.comp, the function taken from
// shaders/activation.glsl, and has a CPU reference (vkconv::activation_reference, in double).
//
//   vkconv::Hardswish hs(ctx);                 // nn.Hardswish()
//   vkconv::GELU gelu(ctx, "tanh");            // nn.GELU(approximate='tanh')
//   vkconv::PReLU prelu(ctx, 64);              // nn.PReLU(64): weight [64], slope per channel (dim 1)
//
// A Model fuses an activation into the layer before it when that layer's epilogue can apply it
// (Layer::can_fuse_activation: Linear, Add, BatchNorm2d, the binary ops, Conv2d for ReLU).
// `inplace` is accepted where PyTorch has it and only changes repr(): vkconv's tensors are not
// aliased between layers.
#pragma once

#include <string>
#include <vector>

#include "vkconv/activation.h"
#include "vkconv/layer.h"

namespace vkconv {

// The modules below that are one Activation (everything but PReLU).
class ActivationLayer : public Layer {
public:
    const Activation& activation() const { return act_; }
    bool inplace() const { return inplace_; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

protected:
    ActivationLayer(Context& ctx, Activation act, bool inplace) : Layer(ctx), act_(act), inplace_(inplace) {}
    // ", inplace=True" / "inplace=True" (with_comma false) when inplace, else "".
    std::string inplace_str(bool with_comma) const;

private:
    Activation act_;
    bool inplace_;
};

// nn.ReLU6(inplace=False): Hardtanh(0, 6). Prints "ReLU6()" / "ReLU6(inplace=True)".
class ReLU6 : public ActivationLayer {
public:
    explicit ReLU6(Context& ctx, bool inplace = false) : ActivationLayer(ctx, Activation::relu6(), inplace) {}
    std::string type() const override { return "ReLU6"; }
    std::string repr() const override { return "ReLU6(" + inplace_str(false) + ")"; }
};

// nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False); max_val must be greater than min_val
// (PyTorch asserts it). Prints "Hardtanh(min_val=-1.0, max_val=1.0)".
class Hardtanh : public ActivationLayer {
public:
    explicit Hardtanh(Context& ctx, double min_val = -1.0, double max_val = 1.0, bool inplace = false);
    std::string type() const override { return "Hardtanh"; }
    std::string repr() const override;
    double min_val() const { return min_val_; }
    double max_val() const { return max_val_; }

private:
    double min_val_, max_val_;
};

// nn.LeakyReLU(negative_slope=0.01, inplace=False). Prints "LeakyReLU(negative_slope=0.01)".
class LeakyReLU : public ActivationLayer {
public:
    explicit LeakyReLU(Context& ctx, double negative_slope = 0.01, bool inplace = false);
    std::string type() const override { return "LeakyReLU"; }
    std::string repr() const override;
    double negative_slope() const { return slope_; }

private:
    double slope_;
};

// nn.ELU(alpha=1.0, inplace=False). Prints "ELU(alpha=1.0)".
class ELU : public ActivationLayer {
public:
    explicit ELU(Context& ctx, double alpha = 1.0, bool inplace = false);
    std::string type() const override { return "ELU"; }
    std::string repr() const override;
    double alpha() const { return alpha_; }

private:
    double alpha_;
};

// nn.Sigmoid(). Prints "Sigmoid()".
class Sigmoid : public ActivationLayer {
public:
    explicit Sigmoid(Context& ctx) : ActivationLayer(ctx, Activation::of(ActivationKind::Sigmoid), false) {}
    std::string type() const override { return "Sigmoid"; }
    std::string repr() const override { return "Sigmoid()"; }
};

// nn.Tanh(). Prints "Tanh()".
class Tanh : public ActivationLayer {
public:
    explicit Tanh(Context& ctx) : ActivationLayer(ctx, Activation::of(ActivationKind::Tanh), false) {}
    std::string type() const override { return "Tanh"; }
    std::string repr() const override { return "Tanh()"; }
};

// nn.SiLU(inplace=False): x * sigmoid(x). Prints "SiLU()" / "SiLU(inplace=True)".
class SiLU : public ActivationLayer {
public:
    explicit SiLU(Context& ctx, bool inplace = false) : ActivationLayer(ctx, Activation::of(ActivationKind::SiLU), inplace) {}
    std::string type() const override { return "SiLU"; }
    std::string repr() const override { return "SiLU(" + inplace_str(false) + ")"; }
};

// nn.Hardswish(inplace=False). PyTorch prints "Hardswish()" whatever inplace is.
class Hardswish : public ActivationLayer {
public:
    explicit Hardswish(Context& ctx, bool inplace = false)
        : ActivationLayer(ctx, Activation::of(ActivationKind::Hardswish), inplace) {}
    std::string type() const override { return "Hardswish"; }
    std::string repr() const override { return "Hardswish()"; }
};

// nn.Hardsigmoid(inplace=False). PyTorch prints "Hardsigmoid()" whatever inplace is.
class Hardsigmoid : public ActivationLayer {
public:
    explicit Hardsigmoid(Context& ctx, bool inplace = false)
        : ActivationLayer(ctx, Activation::of(ActivationKind::Hardsigmoid), inplace) {}
    std::string type() const override { return "Hardsigmoid"; }
    std::string repr() const override { return "Hardsigmoid()"; }
};

// nn.GELU(approximate='none'): the exact erf form, or 'tanh' for the tanh approximation.
// Prints "GELU(approximate='none')".
class GELU : public ActivationLayer {
public:
    explicit GELU(Context& ctx, const std::string& approximate = "none");
    std::string type() const override { return "GELU"; }
    std::string repr() const override { return "GELU(approximate='" + approximate_ + "')"; }
    const std::string& approximate() const { return approximate_; }

private:
    std::string approximate_;
};

// nn.PReLU(num_parameters=1, init=0.25): y = x > 0 ? x : weight[c] * x, c the index along dim 1
// (the input's channels; 0-d and 1-d inputs have one channel), one shared weight when
// num_parameters is 1. state_dict: "weight" [num_parameters]. Prints "PReLU(num_parameters=1)".
class PReLU : public Layer {
public:
    explicit PReLU(Context& ctx, int num_parameters = 1, double init = 0.25);
    std::string type() const override { return "PReLU"; }
    std::string repr() const override { return "PReLU(num_parameters=" + std::to_string(num_parameters_) + ")"; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
    int num_parameters() const { return num_parameters_; }

private:
    int num_parameters_;
};

// The activation a layer applies when it is one (ReLU, the ActivationLayer family), else none:
// what a Model fuses into the layer before it.
Activation activation_of(const Layer& layer);

}  // namespace vkconv
