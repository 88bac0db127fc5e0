// vkconv/model_json.h: models described in JSON, so that a network trained in PyTorch runs
// without writing C++ (tools/export_model.py writes these from a torch.nn.Module).
//
//   {
//     "format": "vkconv-model", "version": 1,
//     "name": "SimpleCNN",
//     "input_shape": [3, 32, 32],                       (optional: one sample's shape)
//     "layers": [
//       {"name": "conv1", "type": "Conv2d", "in_channels": 3, "out_channels": 16,
//        "kernel_size": 3, "padding": 1},
//       {"name": "relu1", "type": "ReLU", "functional": true},   (F.relu: not printed)
//       {"name": "skip", "type": "Add", "inputs": ["relu1", "conv2"]},
//       ...
//     ],
//     "outputs": [{"name": "out", "layer": "classifier.4"}, {"name": "aux", "layer": "aux.4"}]
//   }                                                 (optional: named outputs, Model::set_outputs)
//
// Layer arguments carry PyTorch's names and meanings (kernel_size as n or [h, w], padding as n,
// [h, w], "same" or "valid", ...). "inputs" names earlier layers ("input" is the model input);
// without it a layer takes the previous layer's output. "functional": true marks a call that is
// not a submodule (F.relu, x.view, a module's second call): it runs but print(model) omits it. Cat takes as
// many inputs as it lists. The file is untrusted input: anything
// unknown, mistyped or out of range is refused with a message naming the layer and argument.
#pragma once

#include <memory>
#include <string>

#include "vkconv/model.h"

namespace vkconv {

struct ModelDescription {
    std::unique_ptr<Model> model;
    Shape input_shape;  // empty when the file gives none
};

ModelDescription model_from_json(Context& ctx, const std::string& json_text, const std::string& source_name);
// With an explicit bound on the parameter values the description may declare (fuzzing).
ModelDescription model_from_json(Context& ctx, const std::string& json_text, const std::string& source_name,
                                 double max_parameter_values);
// Layers allocate their parameters when built, so the description's total parameter count is
// checked first: against half the machine's memory here, and against what the weights file can
// hold (at least 2 bytes a value) in the overload below, which also loads them
// (Model::load_weights). A file that is not JSON (weights, a PyTorch pickle, ONNX) is refused
// with a message naming what it is.
ModelDescription load_model_json(Context& ctx, const std::string& path);
ModelDescription load_model_json(Context& ctx, const std::string& path, const std::string& weights, bool strict = true);

}  // namespace vkconv
