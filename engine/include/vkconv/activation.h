// vkconv/activation.h: PyTorch's element-wise activations as one value type. A layer runs one
// alone (the activation layers) or fuses it into the epilogue of the layer before it (Conv2d,
// Linear, element-wise ops) when PyTorch's order allows. The shaders compute the same functions
// in shaders/activation.glsl, with the kind as a specialization constant.
#pragma once

#include <cstdint>

namespace vkconv {

// Values are the shaders' ACT_* constants (shaders/activation.glsl); keep both in step.
enum class ActivationKind : uint32_t {
    None = 0,         // identity
    ReLU = 1,         // x < 0 ? 0 : x
    Hardtanh = 2,     // clamp(x, alpha = min_val, beta = max_val); ReLU6 is Hardtanh(0, 6)
    LeakyReLU = 3,    // x > 0 ? x : alpha * x (alpha = negative_slope)
    ELU = 4,          // x > 0 ? x : alpha * (exp(x) - 1)
    Sigmoid = 5,      // 1 / (1 + exp(-x))
    Tanh = 6,         // tanh(x)
    SiLU = 7,         // x / (1 + exp(-x))
    Hardswish = 8,    // x * clamp(x + 3, 0, 6) / 6
    Hardsigmoid = 9,  // clamp(x + 3, 0, 6) / 6
    GELU = 10,        // 0.5 x (1 + erf(x / sqrt(2)))          GELU(approximate='none')
    GELUTanh = 11,    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   approximate='tanh'
    Erf = 12,         // erf(x) (torch.erf; ONNX Erf)
    Sqrt = 13,        // sqrt(x), NaN for x < 0 (torch.sqrt; ONNX Sqrt)
    Pow = 14,         // x ^ alpha for a constant exponent alpha (torch.pow(x, alpha); ONNX Pow)
};

struct Activation {
    ActivationKind kind = ActivationKind::None;
    float alpha = 0.0f;  // Hardtanh min_val, LeakyReLU negative_slope, ELU alpha
    float beta = 0.0f;   // Hardtanh max_val

    static Activation none() { return {}; }
    static Activation relu() { return {ActivationKind::ReLU}; }
    static Activation relu6() { return {ActivationKind::Hardtanh, 0.0f, 6.0f}; }
    static Activation hardtanh(float min_val = -1.0f, float max_val = 1.0f) {
        return {ActivationKind::Hardtanh, min_val, max_val};
    }
    static Activation leaky_relu(float negative_slope = 0.01f) { return {ActivationKind::LeakyReLU, negative_slope}; }
    static Activation elu(float alpha = 1.0f) { return {ActivationKind::ELU, alpha}; }
    static Activation of(ActivationKind k) { return {k}; }

    bool is_none() const { return kind == ActivationKind::None; }
    bool operator==(const Activation&) const = default;
};

// The function's short name ("relu", "hardtanh", "gelu_tanh", ...), for messages and keys.
const char* to_string(ActivationKind k);

// The CPU reference: PyTorch's definition evaluated in double (NaN stays NaN; -inf and +inf
// give what torch gives, e.g. silu(-inf) = NaN as torch's x / (1 + exp(-x))).
double activation_reference(const Activation& a, double x);

}  // namespace vkconv
