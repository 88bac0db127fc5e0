#version 450
// pack_nc4hw4_f16: the pack pass (see pack_nc4hw4.glsl) with RGBA16F output (fp16 storage: each value rounded to fp16 once, by the store).
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#define PACK_FORMAT rgba16f
#include "pack_nc4hw4.glsl"
