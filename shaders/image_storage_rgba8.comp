#version 450
// image_storage_rgba8: storage image of format rgba8 <-> NCHW tensor (see image_storage.glsl).
#extension GL_GOOGLE_include_directive : require
#define IMAGE_FORMAT rgba8
#include "image_storage.glsl"
