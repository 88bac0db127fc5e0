// samples/common/simple_cnn.h: SimpleCNN, the network of the PyTorch CIFAR-10 tutorials, built with the
// Model API: three blocks of Conv2d(3x3, padding 1) + ReLU + MaxPool2d(2) taking 3 -> 16 -> 32 -> 64
// channels and 32x32 -> 4x4, then x.view(-1, 64*4*4) and Linear(64*4*4, 10). Module names are the
// tutorial's (conv1, conv2, conv3, fc), so a state_dict saved from its class loads as is; ReLU,
// max pooling and the view are functional calls there, so summary() prints only the four
// modules, as print(model) does. The sample, the benchmark's S11 row, the soak and the tests
// all build it here (the vkconv_sample_models library: sample code, not part of vkconv).
#pragma once

#include <cstdint>
#include <memory>

#include "vkconv/model.h"

namespace vkconv {

// Parameters are PyTorch's default initialisation from `seed` (see Model::reset_parameters);
// load real weights with Model::load_weights.
std::unique_ptr<Model> make_simple_cnn(Context& ctx, uint64_t seed = 1);

// Multiply-adds x 2 of one forward pass at `batch` (convolutions and the Linear layer), in GFLOP.
double simple_cnn_gflop(int64_t batch);

}  // namespace vkconv
