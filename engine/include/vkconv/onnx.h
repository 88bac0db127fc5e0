// vkconv/onnx.h: ONNX models (.onnx, opsets 6 to 17) loaded into a vkconv::Model.
//
//   vkconv::OnnxModel m = vkconv::load_onnx(ctx, "net.onnx");
//   std::map<std::string, vkconv::HostArray> out = m.run(vkconv::load_npy("x.npy"));
//   m.model->summary();                          // the layers the graph became
//
// The graph's initializers are the weights. The model computes on the first graph input that
// is not an initializer (the "data input"); every other graph input is bound at load time to a
// value given in OnnxLoadOptions::inputs, as when a node test passes a convolution's weight as
// an input. Shapes are fixed at load time: the data input's declared dimensions, with symbolic
// ones ("N") taken from the given input array. Subgraphs that only compute shapes
// (Shape, Gather, Unsqueeze, Concat, Reshape, ... on constants) are folded on the host.
// Conv+BatchNormalization folding and ReLU fusion are the Model's, as for PyTorch models.
//
// Errors are one line. A file that is not a valid model (truncated or corrupt protobuf, a
// tensor whose data disagrees with its dimensions, external data outside the model's folder,
// an opset outside 6-17, a dimension that cannot be resolved) throws vkconv::Error; a valid
// model that uses something vkconv does not implement (an operator, a data type, an attribute
// value) throws OnnxUnsupported, naming the node and, for an operator, the supported set.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vkconv/context.h"
#include "vkconv/error.h"
#include "vkconv/model.h"
#include "vkconv/npy.h"

namespace vkconv {

// A valid ONNX model that uses what vkconv does not implement.
class OnnxUnsupported : public Error {
public:
    using Error::Error;
};

struct OnnxLoadOptions {
    // Values of graph inputs by name; "" stands for the first graph input. The data input's
    // array gives its shape (resolving symbolic dimensions); every other one is bound as a
    // constant (a weight given as an input).
    std::map<std::string, HostArray> inputs;
};

struct OnnxModel {
    std::unique_ptr<Model> model;
    std::string input_name;            // the data input
    Shape input_shape;                 // the shape the model was built for
    std::vector<std::string> output_names;  // the graph's outputs, in order
    int64_t opset = 0;                 // the default domain's opset
    std::vector<std::string> bound_inputs;  // graph inputs taken as constants

    // Where a graph output comes from: a layer of `model`, the input itself, or a constant.
    struct Output {
        std::string layer;             // empty when not a layer
        bool is_input = false;
        std::optional<HostArray> constant;
        Shape shape;
    };
    std::map<std::string, Output> outputs;

    // Runs the model on `input` (shape input_shape) and returns every graph output by name.
    std::map<std::string, HostArray> run(const HostArray& input);
};

// Reads `path` (external data files are read relative to its folder and must stay inside it).
OnnxModel load_onnx(Context& ctx, const std::string& path, const OnnxLoadOptions& options = {});
// The same from bytes in memory; `base_dir` is where external data lives ("" refuses any).
OnnxModel load_onnx_bytes(Context& ctx, std::span<const uint8_t> bytes, const std::string& base_dir,
                          const std::string& name, const OnnxLoadOptions& options = {});

// A serialized TensorProto file (ONNX's test data: input_0.pb, output_0.pb): its values as
// float32 (integers converted), its name and data type ("FLOAT", "INT64", ...).
struct OnnxTensorFile {
    HostArray array;
    std::string name;
    std::string data_type;
};
OnnxTensorFile load_onnx_tensor(const std::string& path);

// The operators load_onnx maps (sorted), as named in its "unsupported operator" errors.
std::vector<std::string> onnx_supported_operators();

// What a file holds, without building anything: the graph inputs that are not initializers
// (in order: what OnnxLoadOptions::inputs may name), the outputs, the operators used (sorted,
// "domain::Op" outside the default domain) and the default domain's opset.
struct OnnxGraphInfo {
    std::vector<std::string> inputs, outputs, operators;
    int64_t opset = 0;
};
OnnxGraphInfo onnx_graph_info(const std::string& path);

}  // namespace vkconv
