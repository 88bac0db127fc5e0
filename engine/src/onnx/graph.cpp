// ONNX graph -> vkconv::Model: the opset, initializers, the data input and the bound ones, the
// live nodes in order, the outputs; and the public API of vkconv/onnx.h.
#include "onnx/loader.h"

namespace vkconv {
namespace onnx_impl {
namespace fs = std::filesystem;

void Loader::map_node(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx") {
        throw OnnxUnsupported(where(n) + ": unsupported operator '" + n.domain() + "::" + op + "'; supported (default domain): " +
                              join(onnx_supported_operators()));
    }
    bool all_const = true;
    for (int k = 0; k < n.input_size(); ++k)
        if (!n.input(k).empty() && !input(n, k).is_const) all_const = false;
    // Shape of a device value is known at load time.
    if (fold_ops().count(op) && (all_const || op == "Shape")) return fold_node(n);
    if (!layer_ops().count(op) && fold_ops().count(op))
        unsupported(n, op + " of values computed at run time: vkconv folds it only on constants (shape computations)");
    if (!layer_ops().count(op)) {
        throw OnnxUnsupported(where(n) + ": unsupported operator '" + op + "' (opset " + std::to_string(opset_) + "); supported: " +
                              join(onnx_supported_operators()));
    }
    if (op == "Conv") return map_conv(n);
    if (op == "MaxPool") return map_pool(n, true);
    if (op == "AveragePool") return map_pool(n, false);
    if (op == "BatchNormalization") return map_batchnorm(n);
    if (op == "Gemm") return map_gemm(n);
    if (op == "MatMul") return map_matmul(n);
    if (op == "Flatten") return map_flatten(n);
    if (op == "Softmax" || op == "LogSoftmax") return map_softmax(n);
    if (op == "Erf" || op == "Sqrt" || op == "Pow") return map_unary_math(n);
    if (op == "Resize" || op == "Upsample") return map_resize(n);
    if (op == "Pad") return map_pad(n);
    if (op == "Slice") return map_slice(n);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return map_binary(n);
    if (op == "Relu" || op == "Clip" || op == "LeakyRelu" || op == "Elu" || op == "Sigmoid" || op == "Tanh" ||
        op == "HardSwish" || op == "HardSigmoid" || op == "PRelu")
        return map_activation(n);
    if (op == "ConvTranspose") return map_conv_transpose(n);
    if (op == "ReduceMean" || op == "ReduceMax" || op == "ReduceMin" || op == "ReduceSum") return map_reduce(n);
    if (op == "Concat") return map_concat(n);
    if (op == "Split") return map_split(n);
    if (op == "LayerNormalization") return map_layer_norm(n);
    if (op == "GlobalMaxPool") {
        const Value& x = input(n, 0);
        if (x.shape.size() != 4) unsupported(n, "a rank-" + std::to_string(x.shape.size()) + " input: vkconv pools 4-D NCHW input only");
        return set_output(n, 0, add_layer(n, std::make_unique<AdaptiveMaxPool2d>(ctx_, Pair(1)), {&x}));
    }
    if (op == "Transpose") {
        const Value& x = dynamic_input(n, 0);
        auto perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
        if (perm.empty())
            for (size_t d = 0; d < x.shape.size(); ++d) perm.push_back(static_cast<int64_t>(x.shape.size() - 1 - d));
        return set_output(n, 0, add_layer(n, std::make_unique<Permute>(ctx_, std::vector<int>(perm.begin(), perm.end())), {&x}));
    }
    if (op == "Squeeze" || op == "Unsqueeze") {
        // The shape as the host folding computes it, then a Reshape view.
        const Value& x = input(n, 0);
        OnnxConst probe;
        probe.shape = x.shape;  // no values: Squeeze/Unsqueeze folding only reshapes
        Value saved = x;
        Value fake;
        fake.is_const = true;
        fake.c = std::move(probe);
        fake.shape = x.shape;
        values_[n.input(0)] = fake;
        try {
            fold_node(n);
        } catch (...) {
            values_[n.input(0)] = saved;
            throw;
        }
        values_[n.input(0)] = saved;
        const Shape target = values_.at(n.output(0)).shape;
        return map_reshape(n, target);
    }
    if (op == "GlobalAveragePool") {
        const Value& x = input(n, 0);
        if (x.shape.size() != 4) unsupported(n, "a rank-" + std::to_string(x.shape.size()) + " input: vkconv pools 4-D NCHW input only");
        return set_output(n, 0, add_layer(n, std::make_unique<AdaptiveAvgPool2d>(ctx_, Pair(1)), {&x}));
    }
    if (op == "Identity") return set_output(n, 0, input(n, 0));
    if (op == "Dropout") {
        only_first_output(n);
        if (opset_ >= 12 && has_input(n, 2) && const_input(n, 2, "training_mode").at(0) != 0)
            unsupported(n, "training_mode=true: vkconv runs inference only");
        return set_output(n, 0, input(n, 0));
    }
    if (op == "Reshape") {
        const auto spec = opset_ < 5 ? attr_ints(n, "shape").value_or(std::vector<int64_t>{}) : const_ints(n, 1, "shape");
        return map_reshape(n, reshape_target(input(n, 0).shape, spec, attr_int(n, "allowzero", 0) != 0, where(n)));
    }
    throw OnnxUnsupported(where(n) + ": unsupported operator '" + op + "'");
}

// ---- the graph ----------------------------------------------------------------------------

Shape declared_shape(const onnx::ValueInfoProto& v, std::vector<std::string>* symbolic) {
    Shape s;
    const auto& tt = v.type().tensor_type();
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
        const auto& dim = tt.shape().dim(d);
        if (dim.has_dim_value() && dim.dim_value() >= 0) {
            s.push_back(dim.dim_value());
        } else {
            s.push_back(-1);
            if (symbolic) symbolic->push_back(dim.has_dim_param() && !dim.dim_param().empty() ? "'" + dim.dim_param() + "'" : "unknown");
        }
    }
    return s;
}

OnnxModel Loader::load() {
    // Opset of the default domain.
    opset_ = -1;
    for (const auto& o : proto_.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ < 0) {
        if (proto_.ir_version() >= 3 || proto_.opset_import_size() > 0)
            throw OnnxUnsupported(name_ + ": the model imports no opset of the default ONNX domain (only other domains' operators)");
        opset_ = 1;
    }
    if (opset_ < kMinOpset || opset_ > kMaxOpset)
        throw OnnxUnsupported(name_ + ": opset " + std::to_string(opset_) + " is outside the supported range " + std::to_string(kMinOpset) + "-" +
                    std::to_string(kMaxOpset));
    if (!proto_.has_graph()) throw Error(name_ + ": no graph (not an ONNX model, or a truncated file)");

    // Initializers.
    std::set<std::string> init_names;
    for (const auto& t : g_.initializer()) {
        if (t.name().empty()) throw Error(name_ + ": an initializer has no name");
        Value v;
        v.is_const = true;
        v.c = detail::decode_onnx_tensor(t, base_dir_, t.name());
        v.shape = v.c.shape;
        values_[t.name()] = std::move(v);
        init_names.insert(t.name());
    }
    if (g_.sparse_initializer_size()) throw OnnxUnsupported(name_ + ": sparse initializers are not supported");

    // The data input and the bound ones.
    OnnxModel result;
    result.opset = opset_;
    std::map<std::string, HostArray> given = opts_.inputs;
    const onnx::ValueInfoProto* data = nullptr;
    for (const auto& in : g_.input()) {
        if (!in.type().has_tensor_type())
            throw OnnxUnsupported(name_ + ": input '" + in.name() + "' is not a tensor (a sequence, map or optional); vkconv takes tensors only");
        if (!data && !(init_names.count(in.name()) && !given.count(in.name()))) data = &in;
    }
    for (const auto& o : g_.output())
        if (!o.type().has_tensor_type())
            throw OnnxUnsupported(name_ + ": output '" + o.name() + "' is not a tensor (a sequence, map or optional); vkconv computes tensors only");
    if (!data) throw OnnxUnsupported(name_ + ": the graph has no input to compute on (every input is an initializer)");
    const auto& tt = data->type().tensor_type();
    if (tt.elem_type() != onnx::TensorProto::FLOAT)
        throw OnnxUnsupported(name_ + ": input '" + data->name() + "' has data type " + detail::onnx_type_name(tt.elem_type()) +
                              "; vkconv computes float32 only");
    if (auto it = given.find(""); it != given.end()) {
        if (given.count(data->name())) throw Error(name_ + ": input '" + data->name() + "' given twice (by name and as the first input)");
        given[data->name()] = it->second;
        given.erase(it);
    }
    for (const auto& in : g_.input()) {
        if (&in == data) continue;
        auto it = given.find(in.name());
        if (it == given.end()) continue;  // an initializer, or an input nothing may need
        const Shape decl = declared_shape(in, nullptr);
        Value v;
        v.is_const = true;
        v.c.shape = it->second.shape;
        v.c.f = it->second.data;
        v.shape = v.c.shape;
        if (in.type().tensor_type().has_shape()) {
            bool fits = decl.size() == v.shape.size();
            for (size_t d = 0; fits && d < decl.size(); ++d) fits = decl[d] < 0 || decl[d] == v.shape[d];
            if (!fits)
                throw Error(name_ + ": input '" + in.name() + "' given with shape " + shape_str(v.shape) + ", the model declares " + shape_str(decl));
        }
        const auto et = in.type().tensor_type().elem_type();
        if (detail::onnx_type_is_int(et)) {
            v.c.is_int = true;
            v.c.i.assign(v.c.f.begin(), v.c.f.end());
            v.c.f.clear();
        } else if (!detail::onnx_type_is_float(et)) {
            throw OnnxUnsupported(name_ + ": input '" + in.name() + "' has data type " + detail::onnx_type_name(et));
        }
        values_[in.name()] = std::move(v);
        result.bound_inputs.push_back(in.name());
        given.erase(it);
    }
    const HostArray* data_given = given.count(data->name()) ? &given.at(data->name()) : nullptr;
    std::optional<HostArray> data_array;
    if (data_given) data_array = *data_given;
    given.erase(data->name());
    if (!given.empty()) {
        std::vector<std::string> names;
        for (const auto& [k, v] : given) names.push_back("'" + k + "'");
        std::vector<std::string> have;
        for (const auto& in : g_.input()) have.push_back(in.name());
        throw Error(name_ + ": no graph input named " + join(names) + " (inputs: " + join(have) + ")");
    }
    std::vector<std::string> symbolic;
    Shape shape = declared_shape(*data, &symbolic);
    if (data_array) {
        const HostArray& a = *data_array;
        if (!tt.has_shape()) shape = a.shape;
        if (a.shape.size() != shape.size())
            throw Error(name_ + ": input '" + data->name() + "' has shape " + shape_str(a.shape) + "; the model declares rank " + std::to_string(shape.size()));
        for (size_t d = 0; d < shape.size(); ++d)
            if (shape[d] >= 0 && shape[d] != a.shape[d])
                throw Error(name_ + ": input '" + data->name() + "' has shape " + shape_str(a.shape) + "; the model declares " + shape_str(shape));
        shape = a.shape;
    } else if (!tt.has_shape()) {
        throw Error(name_ + ": input '" + data->name() + "' declares no shape: give the input to fix it");
    } else if (!symbolic.empty()) {
        throw Error(name_ + ": input '" + data->name() + "' has dynamic dimensions (" + join(symbolic) + " in " +
                    shape_str(shape) + ") that cannot be resolved: give the input (its shape fixes them)");
    }
    // Dimensions beside a 0 are bounded too: shapes are multiplied out when the graph is mapped.
    int64_t nonzero = 1;
    for (int64_t d : shape) {
        if (d > 0 && nonzero > (int64_t(1) << 62) / d)
            throw Error(name_ + ": input '" + data->name() + "' has shape " + shape_str(shape) + ", which is too large");
        if (d > 0) nonzero *= d;
    }
    result.input_name = data->name();
    result.input_shape = shape;
    Value in;
    in.layer = "input";
    in.shape = shape;
    values_[data->name()] = in;

    // Live nodes: those the outputs depend on.
    for (const auto& o : g_.output()) needed_.insert(o.name());
    std::vector<bool> live(static_cast<size_t>(g_.node_size()), false);
    for (int k = g_.node_size(); k-- > 0;) {
        const auto& n = g_.node(k);
        for (const auto& o : n.output())
            if (!o.empty() && needed_.count(o)) live[static_cast<size_t>(k)] = true;
        if (live[static_cast<size_t>(k)])
            for (const auto& i : n.input()) needed_.insert(i);
    }

    model_ = std::make_unique<Model>(ctx_, g_.name().empty() ? "OnnxModel" : g_.name());
    for (const auto& o : g_.output()) graph_outputs_.insert(o.name());
    for (int k = 0; k < g_.node_size(); ++k) {
        if (!live[static_cast<size_t>(k)]) continue;
        for (const auto& i : g_.node(k).input())
            if (!i.empty()) consumers_[i].push_back(k);
    }
    done_.assign(static_cast<size_t>(g_.node_size()), false);
    for (int k = 0; k < g_.node_size(); ++k) {
        if (!live[static_cast<size_t>(k)] || done_[static_cast<size_t>(k)]) continue;
        const auto& n = g_.node(k);
        for (const auto& a : n.attribute())
            if (a.type() == onnx::AttributeProto::GRAPH || a.type() == onnx::AttributeProto::GRAPHS)
                throw OnnxUnsupported(where(n) + ": unsupported operator '" + n.op_type() + "' (control flow with subgraphs); supported: " +
                                      join(onnx_supported_operators()));
        // Constants first: a pattern may read one that a later node defines.
        if (n.op_type() == "Constant" && (n.domain().empty() || n.domain() == "ai.onnx")) {
            map_node(n);
            done_[static_cast<size_t>(k)] = true;
        }
    }
    for (int k = 0; k < g_.node_size(); ++k) {
        if (!live[static_cast<size_t>(k)] || done_[static_cast<size_t>(k)]) continue;
        if (map_pattern(k)) continue;
        map_node(g_.node(k));
    }

    for (const auto& o : g_.output()) {
        auto it = values_.find(o.name());
        if (it == values_.end()) throw Error(name_ + ": graph output '" + o.name() + "' is not produced by any node");
        const auto et = o.type().tensor_type().elem_type();
        if (o.type().has_tensor_type() && et != onnx::TensorProto::FLOAT && !(et == 0))
            throw OnnxUnsupported(name_ + ": output '" + o.name() + "' has data type " + detail::onnx_type_name(et) + "; vkconv computes float32 only");
        OnnxModel::Output out;
        out.shape = it->second.shape;
        if (it->second.is_const) {
            HostArray h;
            h.shape = it->second.c.shape;
            if (it->second.c.is_int) h.data.assign(it->second.c.i.begin(), it->second.c.i.end());
            else h.data = it->second.c.f;
            out.constant = std::move(h);
        } else if (it->second.layer == "input") {
            out.is_input = true;
        } else {
            out.layer = it->second.layer;
        }
        result.output_names.push_back(o.name());
        result.outputs[o.name()] = std::move(out);
    }
    if (result.output_names.empty()) throw Error(name_ + ": the graph has no outputs");
    if (model_->layer_names().empty()) {
        // Nothing runs on the device (outputs are the input or constants): a view keeps the
        // model usable.
        model_->add("identity", std::make_unique<Dropout>(ctx_, 0.0));
    }
    result.model = std::move(model_);
    return result;
}

onnx::ModelProto parse_model(std::span<const uint8_t> bytes, const std::string& name) {
    if (bytes.size() > static_cast<size_t>(INT_MAX))
        throw Error(name + ": " + std::to_string(bytes.size()) + " bytes; an ONNX protobuf is at most 2 GiB (larger models keep their weights in external data)");
    onnx::ModelProto m;
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw Error(name + ": not a valid ONNX model (the protobuf does not parse: truncated or corrupt)");
    if (!m.has_graph())
        throw Error(name + ": not a valid ONNX model (no graph: truncated, or not an ONNX file)");
    return m;
}

}  // namespace onnx_impl

using namespace onnx_impl;

std::vector<std::string> onnx_supported_operators() {
    std::set<std::string> all = fold_ops();
    all.insert(layer_ops().begin(), layer_ops().end());
    return {all.begin(), all.end()};
}

OnnxModel load_onnx_bytes(Context& ctx, std::span<const uint8_t> bytes, const std::string& base_dir, const std::string& name,
                          const OnnxLoadOptions& options) {
    const onnx::ModelProto proto = parse_model(bytes, name);
    return Loader(ctx, proto, base_dir, name, options).load();
}

OnnxModel load_onnx(Context& ctx, const std::string& path, const OnnxLoadOptions& options) {
    const auto bytes = read_file_bytes(path);
    std::string dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    return load_onnx_bytes(ctx, bytes, dir, path, options);
}

OnnxGraphInfo onnx_graph_info(const std::string& path) {
    const onnx::ModelProto m = parse_model(read_file_bytes(path), path);
    OnnxGraphInfo info;
    std::set<std::string> init, ops;
    for (const auto& t : m.graph().initializer()) init.insert(t.name());
    for (const auto& i : m.graph().input())
        if (!init.count(i.name())) info.inputs.push_back(i.name());
    for (const auto& o : m.graph().output()) info.outputs.push_back(o.name());
    for (const auto& n : m.graph().node())
        ops.insert(n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "::" + n.op_type());
    info.operators.assign(ops.begin(), ops.end());
    for (const auto& o : m.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") info.opset = o.version();
    return info;
}

OnnxTensorFile load_onnx_tensor(const std::string& path) {
    const auto bytes = read_file_bytes(path);
    if (bytes.size() > static_cast<size_t>(INT_MAX)) throw Error(path + ": larger than 2 GiB");
    onnx::TensorProto t;
    if (!t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw Error(path + ": not a valid ONNX TensorProto (the protobuf does not parse)");
    const OnnxConst c = detail::decode_onnx_tensor(t, "", t.name().empty() ? path : t.name());
    OnnxTensorFile f;
    f.name = t.name();
    f.data_type = detail::onnx_type_name(t.data_type());
    f.array.shape = c.shape;
    if (c.is_int) f.array.data.assign(c.i.begin(), c.i.end());
    else f.array.data = c.f;
    return f;
}

std::map<std::string, HostArray> OnnxModel::run(const HostArray& input) {
    if (input.shape != input_shape)
        throw Error("input '" + input_name + "' has shape " + shape_str(input.shape) + "; the model was loaded for " + shape_str(input_shape));
    Tensor x = Tensor::from_host(model->context(), input.shape, input.data);
    std::vector<std::string> capture;
    for (const auto& [name, o] : outputs)
        if (!o.layer.empty()) capture.push_back(o.layer);
    std::map<std::string, HostArray> captured;
    model->forward(x, capture, &captured);
    std::map<std::string, HostArray> result;
    for (const auto& [name, o] : outputs) {
        if (o.constant) result[name] = *o.constant;
        else if (o.is_input) result[name] = input;
        else result[name] = captured.at(o.layer);
    }
    return result;
}

}  // namespace vkconv
