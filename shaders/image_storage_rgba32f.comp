#version 450
// image_storage_rgba32f: storage image of format rgba32f <-> NCHW tensor (see image_storage.glsl).
#extension GL_GOOGLE_include_directive : require
#define IMAGE_FORMAT rgba32f
#include "image_storage.glsl"
