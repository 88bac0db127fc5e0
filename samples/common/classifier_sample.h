// Shared by the classifier samples (simple_cnn, landmark_cnn): command-line options, input
// loading (.npy or PNG), the printed forward pass, timing, and feature-map pictures.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vkconv/vkconv.h"

namespace samples {

struct ClassifierSample {
    std::string title;                     // "SimpleCNN"
    std::vector<std::string> class_names;  // one per logit
    int64_t channels = 3, height = 32, width = 32;
    // Builds the model with PyTorch's layer names.
    std::function<std::unique_ptr<vkconv::Model>(vkconv::Context&)> build;
    // Layers whose outputs --feature-maps draws.
    std::vector<std::string> feature_layers;
};

// Parses argv, runs the sample, returns the process exit status (errors: one line, status 1).
int run_classifier_sample(const ClassifierSample& sample, int argc, char** argv);

}  // namespace samples
