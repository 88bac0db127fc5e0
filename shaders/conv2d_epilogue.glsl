// conv2d_epilogue.glsl: the specialization constants every convolution shader shares, and what
// each does with an accumulated output value before storing it: the bias, then the fused
// activation (activation.glsl: NaN stays NaN, as in PyTorch).
//
// Specialization-constant ids, one layout for every convolution shader (conv2d_*.comp and the
// pack / Winograd passes; engine/src/conv2d/kernel.h conv2d_spec() fills them in this order):
//   0  local_size_x   workgroup size along x
//   1  local_size_y   workgroup size along y (1 where the workgroup is one-dimensional)
//   2  PAD_MODE       padding.glsl's mode (unused where the padding is already materialised)
//   3  HAS_BIAS       add the bias
//   4  ACT_KIND       the fused activation, vkconv::ActivationKind (activation.glsl's ACT_*)
//   5  ACT_ALPHA      its alpha (Hardtanh min_val, LeakyReLU negative_slope, ELU alpha)
//   6  ACT_BETA       its beta (Hardtanh max_val)
//   7 and up          the shader's own tile constants, declared (and documented) in the shader
// Include it before padding.glsl and conv2d_params.glsl.
#ifndef VKCONV_CONV2D_EPILOGUE_GLSL
#define VKCONV_CONV2D_EPILOGUE_GLSL

#include "activation.glsl"

layout(constant_id = 2) const int PAD_MODE = 0;
layout(constant_id = 3) const bool HAS_BIAS = false;
layout(constant_id = 4) const uint ACT_KIND = 0;
layout(constant_id = 5) const float ACT_ALPHA = 0.0;
layout(constant_id = 6) const float ACT_BETA = 0.0;

// The stored value of an output whose sum is `acc`; `bias` is its bias (read only where
// HAS_BIAS: callers pass HAS_BIAS ? b[k] : 0.0).
float conv_epilogue(float acc, float bias) {
    const float v = HAS_BIAS ? acc + bias : acc;
    return activate(v, ACT_KIND, ACT_ALPHA, ACT_BETA);
}

#endif
