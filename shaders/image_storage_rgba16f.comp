#version 450
// image_storage_rgba16f: storage image of format rgba16f <-> NCHW tensor (see image_storage.glsl).
#extension GL_GOOGLE_include_directive : require
#define IMAGE_FORMAT rgba16f
#include "image_storage.glsl"
