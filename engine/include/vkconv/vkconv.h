// vkconv/vkconv.h: the public header. Include this and link vkconv::vkconv.
#pragma once

#include "vkconv/activation.h"
#include "vkconv/context.h"
#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/tensor.h"
#include "vkconv/image.h"
#include "vkconv/interop.h"
#include "vkconv/layers.h"
#include "vkconv/model.h"
#include "vkconv/npy.h"
#include "vkconv/safetensors.h"
#include "vkconv/simple_cnn.h"
#include "vkconv/tuning.h"
