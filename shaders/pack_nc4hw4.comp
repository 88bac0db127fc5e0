#version 450
// pack_nc4hw4: the pack pass (see pack_nc4hw4.glsl) with RGBA32F output (fp32 storage).
#extension GL_EXT_control_flow_attributes : require
#extension GL_GOOGLE_include_directive : require
#define PACK_FORMAT rgba32f
#include "pack_nc4hw4.glsl"
