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
//       {"name": "relu1", "type": "ReLU"},
//       {"name": "skip", "type": "Add", "inputs": ["relu1", "conv2"]},
//       ...
//     ],
//     "outputs": [{"name": "out", "layer": "classifier.4"}, {"name": "aux", "layer": "aux.4"}]
//   }                                                 (optional: named outputs, Model::set_outputs)
//
// Layer arguments carry PyTorch's names and meanings (kernel_size as n or [h, w], padding as n,
// [h, w], "same" or "valid", ...). "inputs" names earlier layers ("input" is the model input);
// without it a layer takes the previous layer's output. Cat takes as many inputs as it lists. The file is untrusted input: anything
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
ModelDescription load_model_json(Context& ctx, const std::string& path);

}  // namespace vkconv
