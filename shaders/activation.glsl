// activation.glsl: PyTorch's element-wise activations for every shader's epilogue. `kind` is
// meant to be a specialization constant, so the switch folds to one function. The ACT_*
// values are vkconv::ActivationKind's (engine/include/vkconv/activation.h).
//
// NaN stays NaN as in PyTorch: comparisons are written so that a NaN input falls through to
// an expression of itself (GLSL's max/min/clamp leave NaN undefined). tanh and erf are
// computed here from exp(-|x|), because GLSL's tanh may overflow to inf/inf = NaN for large
// |x| on some drivers, and GLSL has no erf.
#ifndef VKCONV_ACTIVATION_GLSL
#define VKCONV_ACTIVATION_GLSL

#define ACT_NONE 0u
#define ACT_RELU 1u
#define ACT_HARDTANH 2u
#define ACT_LEAKY_RELU 3u
#define ACT_ELU 4u
#define ACT_SIGMOID 5u
#define ACT_TANH 6u
#define ACT_SILU 7u
#define ACT_HARDSWISH 8u
#define ACT_HARDSIGMOID 9u
#define ACT_GELU 10u
#define ACT_GELU_TANH 11u
#define ACT_ERF 12u
#define ACT_SQRT 13u
#define ACT_POW 14u

float act_clamp(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

float act_tanh(float x) {
    float t = exp(-2.0 * abs(x));  // in (0, 1]: no overflow
    float r = (1.0 - t) / (1.0 + t);
    return x < 0.0 ? -r : r;
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, below fp32's rounding of
// values near 1); odd extension; NaN propagates through abs and exp.
float act_erf(float x) {
    float ax = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * ax);
    float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    float r = 1.0 - p * exp(-ax * ax);
    return x < 0.0 ? -r : r;
}

float act_nan() { return uintBitsToFloat(0x7fc00000u); }

// sqrt with torch's NaN for x < 0 (GLSL's sqrt of a negative is undefined); NaN falls through.
float act_sqrt(float x) { return x >= 0.0 ? sqrt(x) : (x < 0.0 ? act_nan() : x); }

// x ^ e for a constant e, as C's pow (torch.pow): e of 0, 1, 2, 3 and -1 exactly as the products
// (or quotient) they are, 0.5 as sqrt for x >= 0; otherwise |x|^e = exp2(e log2|x|) (inf and 0 at
// the ends), negated for a negative x and an odd integer e, NaN for a finite negative x and a
// non-integer e (C's pow(-inf, 0.5) is inf).
float act_pow(float x, float e) {
    if (e == 0.0) return 1.0;  // pow(NaN, 0) = 1 too
    if (e == 1.0) return x;
    if (e == 2.0) return x * x;
    if (e == 3.0) return x * x * x;
    if (e == -1.0) return 1.0 / x;
    if (x != x) return x;
    if (e == 0.5 && !(x < 0.0)) return act_sqrt(x);
    const bool integral = e == floor(e);
    const float ax = abs(x);
    if (x < 0.0 && !integral && !isinf(ax)) return act_nan();
    float r;
    if (ax == 0.0) r = e > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    else if (isinf(ax)) r = e > 0.0 ? ax : 0.0;
    else r = exp2(e * log2(ax));
    const bool odd = integral && abs(e) < 16777216.0 && (int(abs(e)) & 1) == 1;
    const bool negative = x < 0.0 || (x == 0.0 && (floatBitsToUint(x) >> 31) != 0u);
    return negative && odd ? -r : r;
}

float activate(float x, uint kind, float alpha, float beta) {
    switch (kind) {
        case ACT_RELU: return x < 0.0 ? 0.0 : x;
        case ACT_HARDTANH: return act_clamp(x, alpha, beta);
        case ACT_LEAKY_RELU: return x > 0.0 ? x : x * alpha;
        case ACT_ELU: return x > 0.0 ? x : alpha * (exp(x) - 1.0);
        case ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
        case ACT_TANH: return act_tanh(x);
        case ACT_SILU: return x / (1.0 + exp(-x));
        case ACT_HARDSWISH: return x * act_clamp(x + 3.0, 0.0, 6.0) * (1.0 / 6.0);
        case ACT_HARDSIGMOID: return act_clamp(x + 3.0, 0.0, 6.0) * (1.0 / 6.0);
        case ACT_GELU: return 0.5 * x * (1.0 + act_erf(x * 0.70710678118654752));
        case ACT_GELU_TANH: return 0.5 * x * (1.0 + act_tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
        case ACT_ERF: return act_erf(x);
        case ACT_SQRT: return act_sqrt(x);
        case ACT_POW: return act_pow(x, alpha);
        default: return x;
    }
}

#endif
