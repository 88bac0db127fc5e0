#include "vkconv/activation.h"

#include <cmath>

namespace vkconv {

const char* to_string(ActivationKind k) {
    switch (k) {
        case ActivationKind::None: return "none";
        case ActivationKind::ReLU: return "relu";
        case ActivationKind::Hardtanh: return "hardtanh";
        case ActivationKind::LeakyReLU: return "leaky_relu";
        case ActivationKind::ELU: return "elu";
        case ActivationKind::Sigmoid: return "sigmoid";
        case ActivationKind::Tanh: return "tanh";
        case ActivationKind::SiLU: return "silu";
        case ActivationKind::Hardswish: return "hardswish";
        case ActivationKind::Hardsigmoid: return "hardsigmoid";
        case ActivationKind::GELU: return "gelu";
        case ActivationKind::GELUTanh: return "gelu_tanh";
        case ActivationKind::Erf: return "erf";
        case ActivationKind::Sqrt: return "sqrt";
        case ActivationKind::Pow: return "pow";
    }
    return "unknown";
}

namespace {
// clamp that keeps NaN (torch.clamp propagates NaN).
double clamp_keep_nan(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }
}  // namespace

double activation_reference(const Activation& a, double x) {
    switch (a.kind) {
        case ActivationKind::None: return x;
        case ActivationKind::ReLU: return x < 0 ? 0.0 : x;
        case ActivationKind::Hardtanh: return clamp_keep_nan(x, a.alpha, a.beta);
        case ActivationKind::LeakyReLU: return x > 0 ? x : x * double(a.alpha);
        case ActivationKind::ELU: return x > 0 ? x : double(a.alpha) * std::expm1(x);
        case ActivationKind::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
        case ActivationKind::Tanh: return std::tanh(x);
        case ActivationKind::SiLU: return x / (1.0 + std::exp(-x));
        case ActivationKind::Hardswish: return x * clamp_keep_nan(x + 3.0, 0.0, 6.0) / 6.0;
        case ActivationKind::Hardsigmoid: return clamp_keep_nan(x + 3.0, 0.0, 6.0) / 6.0;
        case ActivationKind::GELU: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        case ActivationKind::GELUTanh: {
            const double k = std::sqrt(2.0 / M_PI);
            return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
        }
        case ActivationKind::Erf: return std::erf(x);
        case ActivationKind::Sqrt: return std::sqrt(x);
        case ActivationKind::Pow: return std::pow(x, double(a.alpha));
    }
    return x;
}

}  // namespace vkconv
