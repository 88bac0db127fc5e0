#include "vkconv/model.h"
#include "vkconv/internal.h"

#include "model_plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <tuple>

#include "vkconv/activations.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/binary.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/layer_norm.h"
#include "vkconv/reduce.h"
#include "vkconv/upsample.h"
#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"
#include "vkconv/safetensors.h"
#include "vkconv/shape_ops.h"

namespace vkconv {

Model::Model(Context& ctx, std::string name) : ctx_(&ctx), name_(std::move(name)) {}
Model::~Model() = default;

Layer& Model::add(const std::string& name, std::unique_ptr<Layer> layer, std::vector<std::string> inputs) {
    if (!layer) throw Error("Model.add: layer '" + name + "' is null");
    if (name.empty() || name == "input") throw Error("Model.add: a layer cannot be named '" + name + "'");
    for (const auto& n : nodes_)
        if (n.name == name) throw Error("Model.add: a layer named '" + name + "' already exists");
    if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos)
        throw Error("Model.add: invalid layer name '" + name + "'");
    Node node{name, std::move(layer), {}};
    if (inputs.empty()) {
        node.inputs.push_back(nodes_.empty() ? -1 : static_cast<int>(nodes_.size()) - 1);
    } else {
        for (const auto& in : inputs) {
            if (in == "input") {
                node.inputs.push_back(-1);
                continue;
            }
            auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == in; });
            if (it == nodes_.end())
                throw Error("Model.add: layer '" + name + "' takes input '" + in + "', which is not an earlier layer");
            node.inputs.push_back(static_cast<int>(it - nodes_.begin()));
        }
    }
    if (static_cast<int>(node.inputs.size()) != node.layer->num_inputs())
        throw Error("Model.add: layer '" + name + "' (" + node.layer->type() + ") takes " +
                    std::to_string(node.layer->num_inputs()) + " input(s), given " + std::to_string(node.inputs.size()));
    nodes_.push_back(std::move(node));
    invalidate_plans();
    return *nodes_.back().layer;
}

Layer& Model::add_functional(const std::string& name, std::unique_ptr<Layer> layer, std::vector<std::string> inputs) {
    Layer& l = add(name, std::move(layer), std::move(inputs));
    nodes_.back().functional = true;
    return l;
}

bool Model::is_functional(const std::string& name) const {
    for (const auto& n : nodes_)
        if (n.name == name) return n.functional;
    throw Error(name_ + " has no layer named '" + name + "'");
}

Layer& Model::layer(const std::string& name) const {
    for (const auto& n : nodes_)
        if (n.name == name) return *n.layer;
    throw Error(name_ + " has no layer named '" + name + "'");
}

std::vector<std::string> Model::layer_names() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) out.push_back(n.name);
    return out;
}

std::string Model::summary() const {
    // Dotted names nest: "features.0" is child "0" of "features", printed as PyTorch prints a
    // Sequential inside a Module.
    struct Tree {
        Tree() {}  // user-provided: clang 14 + libstdc++ 12 reject the implicit one for this recursive type
        std::string repr;
        std::vector<std::pair<std::string, Tree>> children;
        Tree& child(const std::string& k) {
            for (auto& [name, t] : children)
                if (name == k) return t;
            children.emplace_back(k, Tree{});
            return children.back().second;
        }
    };
    Tree root;
    for (const auto& n : nodes_) {
        if (n.functional) continue;
        Tree* t = &root;
        std::stringstream parts(n.name);
        std::string part;
        while (std::getline(parts, part, '.')) t = &t->child(part);
        t->repr = n.layer->repr();
    }
    std::ostringstream o;
    auto print = [&](auto&& self, const Tree& t, const std::string& title, int indent) -> void {
        if (t.children.empty()) {
            o << t.repr;
            return;
        }
        o << title << "(\n";
        for (const auto& [name, c] : t.children) {
            o << std::string(indent + 2, ' ') << "(" << name << "): ";
            self(self, c, "Sequential", indent + 2);
            o << "\n";
        }
        o << std::string(indent, ' ') << ")";
    };
    if (root.children.empty()) return name_ + "()";
    print(print, root, name_, 0);
    return o.str();
}

std::vector<std::pair<std::string, Shape>> Model::layer_shapes(const Shape& input_shape) const {
    std::vector<std::pair<std::string, Shape>> out;
    std::vector<Shape> shapes;
    for (const auto& n : nodes_) {
        std::vector<Shape> in;
        for (int i : n.inputs) in.push_back(i < 0 ? input_shape : shapes[static_cast<size_t>(i)]);
        try {
            shapes.push_back(n.layer->output_shape(in));
        } catch (const Error& e) {
            throw Error("layer '" + n.name + "' (" + n.layer->repr() + "): " + e.what());
        }
        out.emplace_back(n.name, shapes.back());
    }
    return out;
}

Shape Model::output_shape(const Shape& input_shape) const {
    if (nodes_.empty()) return input_shape;
    return layer_shapes(input_shape).back().second;
}

int64_t Model::parameter_count() const {
    int64_t n = 0;
    for (const auto& node : nodes_) n += node.layer->parameter_count();
    return n;
}

std::map<std::string, HostArray> Model::state_dict() const {
    std::map<std::string, HostArray> out;
    for (const auto& n : nodes_)
        for (const auto& [key, p] : n.layer->parameters()) out[n.name + "." + key] = HostArray{p.shape, p.value};
    return out;
}

void Model::load_state_dict(const std::map<std::string, HostArray>& state, bool strict) {
    // Checked completely before anything changes, so a bad file leaves the model as it was.
    std::vector<std::string> missing, unexpected, mismatched;
    std::set<std::string> known;
    for (const auto& n : nodes_)
        for (const auto& [key, p] : n.layer->parameters()) {
            const std::string full = n.name + "." + key;
            known.insert(full);
            auto it = state.find(full);
            if (it == state.end()) {
                missing.push_back(full);
                continue;
            }
            if (it->second.shape != p.shape)
                mismatched.push_back("size mismatch for " + full + ": copying a param with shape " + shape_str(it->second.shape) +
                                     " from checkpoint, the shape in current model is " + shape_str(p.shape) + ".");
        }
    for (const auto& [key, a] : state)
        if (!known.count(key)) unexpected.push_back(key);
    const bool bad_keys = strict && (!missing.empty() || !unexpected.empty());
    if (bad_keys || !mismatched.empty()) {
        auto quoted = [](const std::vector<std::string>& v) {
            std::string s;
            for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
            return s;
        };
        std::string msg = "Error(s) in loading state_dict for " + name_ + ":";
        if (strict && !missing.empty()) msg += "\n\tMissing key(s) in state_dict: " + quoted(missing) + ".";
        if (strict && !unexpected.empty()) msg += "\n\tUnexpected key(s) in state_dict: " + quoted(unexpected) + ".";
        for (const auto& m : mismatched) msg += "\n\t" + m;
        throw Error(msg);
    }
    for (auto& n : nodes_)
        for (const auto& [key, p] : n.layer->parameters()) {
            auto it = state.find(n.name + "." + key);
            if (it != state.end()) n.layer->set_parameter(key, it->second.data);
        }
    invalidate_plans();
}

void Model::load_weights(const std::string& path, bool strict) {
    namespace fs = std::filesystem;
    std::map<std::string, HostArray> state;
    std::map<std::string, std::string> dtypes;  // "F32", "I64", ... as safetensors names them
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        // A directory of <key>.npy files (numpy.save(f"{key}.npy", tensor.numpy()) for each entry).
        for (const auto& e : fs::directory_iterator(path, ec)) {
            if (e.path().extension() != ".npy") continue;
            const std::string key = e.path().stem().string();
            std::string descr;
            state[key] = parse_npy_converting(read_file_bytes(e.path().string()), e.path().string(), &descr);
            dtypes[key] = descr == "<f4" ? "F32" : descr == "<f8" ? "F64" : descr == "<i8" ? "I64" : "I32";
        }
        if (ec) throw Error(path + ": cannot list the directory: " + ec.message());
        if (state.empty()) throw Error(path + ": no .npy files in the directory");
    } else {
        state = load_safetensors(path, &dtypes);
    }
    // Parameters are floating point; integer entries are only accepted for integer buffers
    // (BatchNorm2d's num_batches_tracked).
    std::vector<std::string> wrong;
    for (const auto& [key, dtype] : dtypes) {
        const bool is_float = dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
        const bool integer_buffer = key.ends_with("num_batches_tracked");
        if (!is_float && !integer_buffer) wrong.push_back(key + " (" + dtype + ")");
    }
    if (!wrong.empty()) {
        std::string msg = path + ": wrong dtype for floating-point parameter(s):";
        for (const auto& w : wrong) msg += " " + w;
        throw Error(msg + "; expected F32 (or F16/BF16/F64)");
    }
    load_state_dict(state, strict);
}

void Model::reset_parameters(uint64_t seed) {
    uint64_t i = 0;
    for (auto& n : nodes_) {
        ++i;
        if (auto* c = dynamic_cast<Conv2d*>(n.layer.get())) c->reset_parameters(seed * 1000003 + i);
        if (auto* l = dynamic_cast<Linear*>(n.layer.get())) l->reset_parameters(seed * 1000003 + i);
    }
    invalidate_plans();
}

void Model::set_fusion(bool on) {
    fusion_ = on;
    invalidate_plans();
}

void Model::set_conv2d_storage_precision(StoragePrecision p) {
    for (auto& n : nodes_)
        if (auto* c = dynamic_cast<Conv2d*>(n.layer.get())) c->set_storage_precision(p);
    invalidate_plans();  // the folded Conv2d+BatchNorm2d copies take it when re-planned
}

void Model::invalidate_plans() { plans_.clear(); }


int Model::node_index(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].name == name) return static_cast<int>(i);
    throw Error(name_ + " has no layer named '" + name + "'");
}

void Model::set_outputs(std::vector<std::pair<std::string, std::string>> outputs) {
    std::set<std::string> names;
    for (const auto& [name, layer] : outputs) {
        if (name.empty()) throw Error(name_ + ".set_outputs: an output name is empty");
        if (!names.insert(name).second) throw Error(name_ + ".set_outputs: output '" + name + "' is named twice");
        node_index(layer);
    }
    outputs_ = std::move(outputs);
    invalidate_plans();
}

std::vector<std::pair<std::string, std::string>> Model::outputs() const {
    if (!outputs_.empty() || nodes_.empty()) return outputs_;
    return {{"output", nodes_.back().name}};
}

Tensor Model::forward(const Tensor& input) {
    if (!outputs_.empty() && node_index(outputs_.front().second) != static_cast<int>(nodes_.size()) - 1)
        return forward_all(input).at(outputs_.front().first);
    return forward(input, {}, nullptr);
}

std::map<std::string, Tensor> Model::forward_all(const Tensor& input) {
    std::map<std::string, Tensor> out;
    run(input, {}, nullptr, &out);
    return out;
}

Tensor Model::forward(const Tensor& input, const std::vector<std::string>& capture, std::map<std::string, HostArray>* captured) {
    return run(input, capture, captured, nullptr);
}

Tensor Model::run(const Tensor& input, const std::vector<std::string>& capture, std::map<std::string, HostArray>* captured,
                  std::map<std::string, Tensor>* outputs) {
    const uint64_t submissions = ctx_->submissions(), transfers = ctx_->host_transfers();
    std::vector<std::string> keep = capture;
    if (outputs)  // the last layer is kept anyway: single-output models share forward()'s plan
        for (const auto& [name, layer] : this->outputs())
            if (node_index(layer) != static_cast<int>(nodes_.size()) - 1) keep.push_back(layer);
    Plan& plan = plan_for(input.shape(), keep);
    const Shape out_shape = plan.shapes.back();
    Tensor output = plan.root.back() < 0 ? input.reshaped(out_shape) : Tensor(*ctx_, out_shape);
    CommandRecorder rec(*ctx_);
    record_plan(plan, rec, input, output);
    if (outputs) {
        // The last layer's output is the forward's own tensor; the others are copied out of the
        // plan's buffers in the same submission.
        for (const auto& [name, layer] : this->outputs()) {
            const int idx = node_index(layer);
            const Shape& shape = plan.shapes[static_cast<size_t>(idx)];
            if (idx == static_cast<int>(nodes_.size()) - 1) {
                (*outputs)[name] = output;
                continue;
            }
            const Tensor src = plan.tensor(idx, input, output, &rec);
            Tensor t(*ctx_, shape);
            host::of(rec).copy(detail::buffer_of(src), 0, detail::buffer_of(t), 0, t.bytes());
            (*outputs)[name] = t;
        }
    }
    stats_.dispatches = rec.dispatch_count();
    rec.submit_and_wait();
    stats_.submissions = ctx_->submissions() - submissions;
    stats_.host_transfers = ctx_->host_transfers() - transfers;
    stats_.plan_bytes = plan.bytes;
    stats_.plan_buffers = static_cast<uint32_t>(plan.storages.size());
    if (captured) {
        for (const auto& name : capture) {
            const auto idx = static_cast<size_t>(
                std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == name; }) - nodes_.begin());
            const Shape& shape = plan.shapes[idx];
            // A view of the input (whole, or a slice of it) reads the input's storage.
            const Tensor t = plan.tensor(static_cast<int>(idx), input, output, nullptr);
            (*captured)[name] = HostArray{shape, t.to_host()};
        }
    }
    return output;
}

void Model::record(CommandRecorder& rec, const Tensor& input, const Tensor& output) {
    record_plan(plan_for(input.shape(), {}), rec, input, output);
}

void Model::record(CommandRecorder& rec, const Tensor& input, const Tensor& output,
                   const std::function<void(CommandRecorder&, const StepInfo&)>& after_step) {
    record_plan(plan_for(input.shape(), {}), rec, input, output, after_step ? &after_step : nullptr);
}

void Model::record_plan(Plan& plan, CommandRecorder& rec, const Tensor& input, const Tensor& output,
                        const std::function<void(CommandRecorder&, const StepInfo&)>* after_step) {
    if (output.shape() != plan.shapes.back())
        throw Error(name_ + ": output tensor has shape " + shape_str(output.shape()) + ", expected " + shape_str(plan.shapes.back()));
    // The intermediates stay alive as long as the recording (a later plan may replace them while
    // an application's command buffer that uses these is still pending).
    for (const auto& storage : plan.storages) host::of(rec).keep_alive(storage);
    for (const auto& s : plan.steps) {
        // Each input with the shape its own node has (views such as Flatten change only the shape).
        const auto& node = nodes_[static_cast<size_t>(s.output)];
        // A convolution with a folded channel scaling reads the Mul's inputs (its own input node,
        // the Mul, has no storage).
        std::vector<Tensor> ins;
        for (int src : s.scaled_by.empty() ? node.inputs : s.scaled_by) ins.push_back(plan.tensor(src, input, output, &rec));
        const Tensor out = plan.tensor(s.output, input, output, &rec);
        if (!s.scaled_by.empty()) {
            auto* conv = static_cast<Conv2d*>(s.layer);
            conv->record_impl(rec, std::span(ins.data(), 1), out, s.act.is_none() ? conv->fused_activation() : s.act, &ins[1]);
        } else if (auto* cat = dynamic_cast<Cat*>(s.layer); cat && !s.in_place.empty())
            cat->record_copies(rec, ins, out, s.in_place);
        else if (!s.act.is_none())
            s.layer->record_with_activation(rec, ins, out, s.act);
        else
            s.layer->record(rec, ins, out);
        if (after_step) (*after_step)(rec, StepInfo{static_cast<size_t>(&s - plan.steps.data()), node.name, *s.layer, ins, out, s.act});
    }
    // A model of views of the whole input: forward() returns the input's storage; a caller's own
    // output tensor gets a copy.
    if (plan.root.back() < 0 && &detail::buffer_of(output) != &detail::buffer_of(input)) {
        host::of(rec).copy(detail::buffer_of(input), 0, detail::buffer_of(output), 0, output.bytes());
        host::of(rec).barrier();
    }
}

std::vector<float> Model::reference_forward(const Shape& input_shape, const std::vector<float>& input,
                                            std::map<std::string, std::vector<float>>* outputs) const {
    std::vector<Shape> shapes;
    std::vector<std::vector<float>> values;
    for (const auto& n : nodes_) {
        std::vector<Shape> in_shapes;
        std::vector<std::vector<float>> in_values;
        for (int i : n.inputs) {
            in_shapes.push_back(i < 0 ? input_shape : shapes[static_cast<size_t>(i)]);
            in_values.push_back(i < 0 ? input : values[static_cast<size_t>(i)]);
        }
        shapes.push_back(n.layer->output_shape(in_shapes));
        values.push_back(n.layer->reference(in_shapes, in_values));
        if (outputs) (*outputs)[n.name] = values.back();
    }
    return nodes_.empty() ? input : values.back();
}

}  // namespace vkconv
