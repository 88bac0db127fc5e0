#include "vkconv/model.h"

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

// A forward pass compiled for one input shape.
struct Model::Plan {
    struct Step {
        Layer* layer;
        std::vector<int> inputs;  // value ids (node index, or -1 for the model input)
        int output;               // value id
        Activation act;           // fused into the layer's epilogue (none: not fused)
        std::vector<bool> in_place;  // Cat: inputs whose producers wrote into the output's slices
    };
    std::vector<std::unique_ptr<Layer>> owned;  // folded Conv2d+BatchNorm2d layers
    std::vector<Step> steps;
    std::vector<Shape> shapes;       // per node
    std::vector<int> root;           // per node: the node whose storage holds its value (-1: the input)
    std::vector<int64_t> root_offset;  // per node: element offset into root's value (slice views)
    // Per value (a step's output node): the value whose storage holds it (itself, or a
    // concatenation it was placed into) and its element offset there.
    std::vector<int> home;
    std::vector<int64_t> home_offset;
    // Sub-range buffers of the intermediate storages: (storage, byte offset, bytes) -> buffer.
    std::map<std::tuple<int, uint64_t, uint64_t>, std::shared_ptr<host::Buffer>> views;
    std::vector<int> storage_of;     // per node root: index into storages, -1 for the model's output
    std::vector<std::shared_ptr<host::Buffer>> storages;
    std::vector<uint64_t> versions;  // parameter versions the plan was compiled with
    uint64_t bytes = 0;

    // Node `node`'s value in this forward (-1: the model's input): its storage, or a sub-range
    // of it (slices, values placed into a concatenation), with the node's shape. A sub-range is
    // a buffer borrowing the storage's VkBuffer at an offset (bound as a storage buffer range;
    // layers that read it through texel views copy it first). Those of the plan's own storages
    // are made once; the storage and the sub-range are kept alive by `rec`.
    Tensor tensor(int node, const Tensor& input, const Tensor& output, CommandRecorder* rec) {
        if (node < 0) return input;
        const Shape& shape = shapes[static_cast<size_t>(node)];
        const int r = root[static_cast<size_t>(node)];
        int64_t off = root_offset[static_cast<size_t>(node)];
        std::shared_ptr<host::Buffer> base;
        int storage = -1;
        if (r < 0) {
            base = input.storage();
        } else {
            const int h = home[static_cast<size_t>(r)];
            off += home_offset[static_cast<size_t>(r)];
            if (h == root.back()) {
                base = output.storage();
            } else {
                storage = storage_of[static_cast<size_t>(h)];
                base = storages[static_cast<size_t>(storage)];
            }
        }
        if (off == 0) return Tensor::over(base, shape);
        const uint64_t boff = static_cast<uint64_t>(off) * sizeof(float), bytes = static_cast<uint64_t>(shape_numel(shape)) * sizeof(float);
        std::shared_ptr<host::Buffer> sub;
        auto make = [&] { return std::make_shared<host::Buffer>(base->context(), base->handle(), base->offset() + boff, bytes); };
        if (storage >= 0) {
            auto& cached = views[{storage, boff, bytes}];
            if (!cached) cached = make();
            sub = cached;
        } else {
            sub = make();
        }
        if (rec) {
            rec->keep_alive(base);
            rec->keep_alive(sub);
        }
        return Tensor::over(sub, shape);
    }
};

namespace {
// Layers known to bind their tensors at Tensor::buffer().offset() (host::BufferBinding of the
// whole buffer, or an explicit offset added to it), so that they may read or write a sub-range
// of a model's buffer: a slice view, or their slice of a concatenation written in place. A
// layer type added to vkconv joins this list once its record() honours the offset (and a test
// shows it); until then models give it buffers of its own and copy where needed.
bool binds_sub_ranges(const Layer& l) {
    return dynamic_cast<const Conv2d*>(&l) || dynamic_cast<const ReLU*>(&l) || dynamic_cast<const Add*>(&l) ||
           dynamic_cast<const BatchNorm2d*>(&l) || dynamic_cast<const MaxPool2d*>(&l) || dynamic_cast<const AvgPool2d*>(&l) ||
           dynamic_cast<const AdaptiveAvgPool2d*>(&l) || dynamic_cast<const Linear*>(&l) || dynamic_cast<const Softmax*>(&l) ||
           dynamic_cast<const Cat*>(&l) || dynamic_cast<const Slice*>(&l) || dynamic_cast<const Permute*>(&l) ||
           dynamic_cast<const ActivationLayer*>(&l) || dynamic_cast<const PReLU*>(&l) || dynamic_cast<const Binary*>(&l) ||
           dynamic_cast<const LayerNorm*>(&l) || dynamic_cast<const ReduceHW*>(&l) || dynamic_cast<const Upsample*>(&l) ||
           dynamic_cast<const AdaptiveMaxPool2d*>(&l) || dynamic_cast<const ConvTranspose2d*>(&l) || l.is_view();
}
}  // namespace

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

Model::Plan& Model::plan_for(const Shape& input_shape, const std::vector<std::string>& keep) {
    std::string key = shape_str(input_shape);
    for (const auto& k : keep) key += "|" + k;
    std::vector<uint64_t> versions;
    for (const auto& n : nodes_) versions.push_back(n.layer->version());
    auto it = plans_.find(key);
    if (it != plans_.end() && it->second->versions == versions) return *it->second;
    auto plan = make_plan(input_shape, keep, true);
    plan->versions = versions;
    auto& ref = plans_[key];
    ref = std::move(plan);
    return *ref;
}

std::unique_ptr<Model::Plan> Model::make_plan(const Shape& input_shape, const std::vector<std::string>& keep, bool allocate) {
    if (nodes_.empty()) throw Error(name_ + ": the model has no layers");
    auto plan = std::make_unique<Plan>();
    const int count = static_cast<int>(nodes_.size());
    const auto shapes = layer_shapes(input_shape);
    for (const auto& s : shapes) plan->shapes.push_back(s.second);

    // Who reads each node's value; kept values (the output, captured layers) count as read.
    std::vector<int> readers(static_cast<size_t>(count), 0);
    for (const auto& n : nodes_)
        for (int i : n.inputs)
            if (i >= 0) ++readers[static_cast<size_t>(i)];
    std::vector<bool> kept(static_cast<size_t>(count), false);
    kept.back() = true;
    for (const auto& k : keep) {
        auto f = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == k; });
        if (f == nodes_.end()) throw Error(name_ + " has no layer named '" + k + "' to capture");
        kept[static_cast<size_t>(f - nodes_.begin())] = true;
    }

    // Steps, with folding and fusion: a node that merges into the step producing its input
    // becomes an alias of that step's output.
    plan->root.assign(static_cast<size_t>(count), -1);
    plan->root_offset.assign(static_cast<size_t>(count), 0);
    // Whether every layer reading node v's value, directly or through views, binds sub-ranges.
    auto readers_bind_sub_ranges = [&](int v) {
        std::vector<int> pending{v};
        while (!pending.empty()) {
            const int u = pending.back();
            pending.pop_back();
            for (int j = u + 1; j < count; ++j) {
                const Node& r = nodes_[static_cast<size_t>(j)];
                if (std::find(r.inputs.begin(), r.inputs.end(), u) == r.inputs.end()) continue;
                if (!binds_sub_ranges(*r.layer)) return false;
                if (r.layer->is_view()) pending.push_back(j);
            }
        }
        return true;
    };
    const uint64_t storage_align = std::max<uint64_t>(1, ctx_->info().min_storage_buffer_offset_alignment);
    std::vector<int> step_of(static_cast<size_t>(count), -1);  // step producing a node's root
    std::vector<bool> fused_alias(static_cast<size_t>(count), false);
    for (int i = 0; i < count; ++i) {
        const Node& n = nodes_[static_cast<size_t>(i)];
        const int in0 = n.inputs[0];
        const bool sole_reader = in0 >= 0 && readers[static_cast<size_t>(in0)] == 1 && !kept[static_cast<size_t>(in0)];
        Plan::Step* producer = sole_reader && step_of[static_cast<size_t>(in0)] >= 0
                                   ? &plan->steps[static_cast<size_t>(step_of[static_cast<size_t>(in0)])]
                                   : nullptr;
        // Through a view the producer's value may have other readers: fuse only into a step's own
        // output or into an earlier fusion's alias (which had a sole reader itself).
        if (producer && plan->root[static_cast<size_t>(in0)] != in0 && !fused_alias[static_cast<size_t>(in0)]) producer = nullptr;
        // A slice that is one contiguous range at an offset the device can bind is a view too
        // (where its readers bind sub-ranges).
        bool slice_view = false;
        if (auto* slice = dynamic_cast<Slice*>(n.layer.get()); slice && readers_bind_sub_ranges(i)) {
            const Shape& in_shape = in0 < 0 ? input_shape : plan->shapes[static_cast<size_t>(in0)];
            const int64_t off = slice->contiguous_offset(in_shape);
            const int64_t base = in0 < 0 ? 0 : plan->root_offset[static_cast<size_t>(in0)];
            if (off >= 0 && i != count - 1 && static_cast<uint64_t>(base + off) * sizeof(float) % storage_align == 0) {
                slice_view = true;
                plan->root_offset[static_cast<size_t>(i)] = base + off;
            }
        }
        if (n.layer->is_view() || slice_view) {
            if (!slice_view && in0 >= 0) plan->root_offset[static_cast<size_t>(i)] = plan->root_offset[static_cast<size_t>(in0)];
            plan->root[static_cast<size_t>(i)] = in0 < 0 ? -1 : plan->root[static_cast<size_t>(in0)];
            step_of[static_cast<size_t>(i)] = in0 < 0 ? -1 : step_of[static_cast<size_t>(in0)];
            continue;
        }
        if (fusion_ && producer && producer->act.is_none()) {
            auto* bn = dynamic_cast<BatchNorm2d*>(n.layer.get());
            auto* conv = dynamic_cast<Conv2d*>(producer->layer);
            if (bn && conv) {
                // y = scale * conv(x) + shift  ==  conv'(x) with w' = w * scale[oc],
                // b' = b * scale[oc] + shift[oc]: exact up to fp32 rounding.
                const auto [scale, shift] = bn->scale_shift();
                Conv2dParams p = conv->params();
                p.options.bias = true;
                auto folded = std::make_unique<Conv2d>(*ctx_, p);
                std::vector<float> w = conv->weight(), b(static_cast<size_t>(p.out_channels), 0.0f);
                const size_t per_oc = w.size() / static_cast<size_t>(p.out_channels);
                for (size_t oc = 0; oc < static_cast<size_t>(p.out_channels); ++oc) {
                    for (size_t j = 0; j < per_oc; ++j) w[oc * per_oc + j] *= scale[oc];
                    const double b0 = conv->bias().empty() ? 0.0 : conv->bias()[oc];
                    b[oc] = static_cast<float>(b0 * scale[oc] + shift[oc]);
                }
                folded->set_weight(w);
                folded->set_bias(b);
                // The same choice as the original (a forced algorithm stays forced; Auto resolves
                // per input shape at record time). plan->shapes[i] is the convolution's output,
                // not its input, so it cannot be used to resolve Auto here.
                folded->set_algorithm(conv->algorithm());
                folded->set_storage_precision(conv->storage_precision());
                producer->layer = folded.get();
                plan->owned.push_back(std::move(folded));
                plan->root[static_cast<size_t>(i)] = plan->root[static_cast<size_t>(in0)];
                step_of[static_cast<size_t>(i)] = step_of[static_cast<size_t>(in0)];
                fused_alias[static_cast<size_t>(i)] = true;
                continue;
            }
            // An activation (ReLU, ReLU6, SiLU, ...) applied by the producer's epilogue.
            const Activation act = activation_of(*n.layer);
            if (!act.is_none() && producer->layer->can_fuse_activation(act)) {
                producer->act = act;
                plan->root[static_cast<size_t>(i)] = plan->root[static_cast<size_t>(in0)];
                step_of[static_cast<size_t>(i)] = step_of[static_cast<size_t>(in0)];
                fused_alias[static_cast<size_t>(i)] = true;
                continue;
            }
        }
        Plan::Step s{n.layer.get(), {}, i, {}};
        for (int in : n.inputs) s.inputs.push_back(in < 0 ? -1 : plan->root[static_cast<size_t>(in)]);
        plan->root[static_cast<size_t>(i)] = i;
        step_of[static_cast<size_t>(i)] = static_cast<int>(plan->steps.size());
        plan->steps.push_back(std::move(s));
    }

    // Concatenations written in place: a Cat's input whose value is a whole step output of its
    // own (not the model's input, not a slice, not placed elsewhere) is computed straight into
    // its slice of the Cat's output, and the Cat copies only the other inputs. Slices are
    // contiguous only when every dimension before the Cat's is 1 (NCHW with batch 1 along
    // channels); with batch N > 1 the Cat falls back to one copy pass per input (producers
    // write contiguous outputs only). A Cat whose inputs all lie, in order, in one buffer
    // already (DenseNet's growing concatenations are prefixes of the block's last one) is a
    // view. Later Cats are placed first, so a Cat placed into a later one carries its inputs.
    // The model's output and its captured values keep storages of their own.
    plan->home.resize(static_cast<size_t>(count));
    plan->home_offset.assign(static_cast<size_t>(count), 0);
    for (int i = 0; i < count; ++i) plan->home[static_cast<size_t>(i)] = i;
    auto numel_of = [&](int node) { return shape_numel(plan->shapes[static_cast<size_t>(node)]); };
    // Whether every step reading value r (through any alias or view of it) binds sub-ranges.
    auto value_readers_bind_sub_ranges = [&](int r) {
        for (int j = 0; j < count; ++j) {
            if (plan->root[static_cast<size_t>(j)] == r) continue;  // r itself, a fused alias or a view of it
            for (int src : nodes_[static_cast<size_t>(j)].inputs)
                if (src >= 0 && plan->root[static_cast<size_t>(src)] == r && !binds_sub_ranges(*nodes_[static_cast<size_t>(j)].layer))
                    return false;
        }
        return true;
    };
    for (int si = static_cast<int>(plan->steps.size()) - 1; si >= 0; --si) {
        Plan::Step& st = plan->steps[static_cast<size_t>(si)];
        auto* cat = dynamic_cast<Cat*>(st.layer);
        if (!cat) continue;
        const int c = st.output;
        const Node& cn = nodes_[static_cast<size_t>(c)];
        st.in_place.assign(cn.inputs.size(), false);
        if (!fusion_ || c == plan->root.back() || kept[static_cast<size_t>(c)]) continue;
        std::vector<Shape> in_shapes;
        for (int in : cn.inputs) in_shapes.push_back(in < 0 ? input_shape : plan->shapes[static_cast<size_t>(in)]);
        const auto offsets = Cat::contiguous_offsets(in_shapes, cat->wrapped_dim(in_shapes[0].size()));
        if (offsets[0] < 0) continue;  // strided slices (batch > 1): copies
        // Where each input's elements live now: (home value, element offset), or home -1.
        auto location = [&](int node) -> std::pair<int, int64_t> {
            const int r = node < 0 ? -1 : plan->root[static_cast<size_t>(node)];
            if (r < 0) return {-1, 0};
            return {plan->home[static_cast<size_t>(r)], plan->home_offset[static_cast<size_t>(r)] + plan->root_offset[static_cast<size_t>(node)]};
        };
        // Already laid out in order in one buffer: the Cat is a view of it.
        if (plan->home[static_cast<size_t>(c)] == c) {
            const auto first = location(cn.inputs[0]);
            bool consecutive = first.first >= 0 && first.first != c;
            for (size_t k = 0; consecutive && k < cn.inputs.size(); ++k) {
                const auto l = location(cn.inputs[k]);
                consecutive = l.first == first.first && l.second == first.second + offsets[k];
            }
            if (consecutive) {
                plan->home[static_cast<size_t>(c)] = first.first;
                plan->home_offset[static_cast<size_t>(c)] = first.second;
                st.in_place.assign(cn.inputs.size(), true);
                continue;
            }
        }
        const int c_home = plan->home[static_cast<size_t>(c)];
        const int64_t c_off = plan->home_offset[static_cast<size_t>(c)];
        for (size_t k = 0; k < cn.inputs.size(); ++k) {
            const int in = cn.inputs[k];
            const int r = in < 0 ? -1 : plan->root[static_cast<size_t>(in)];
            if (r < 0 || r == plan->root.back() || plan->home[static_cast<size_t>(r)] != r || plan->root_offset[static_cast<size_t>(in)] != 0 ||
                numel_of(r) != numel_of(in) || step_of[static_cast<size_t>(r)] < 0 ||
                !binds_sub_ranges(*plan->steps[static_cast<size_t>(step_of[static_cast<size_t>(r)])].layer) || !value_readers_bind_sub_ranges(r))
                continue;
            if (static_cast<uint64_t>(c_off + offsets[k]) * sizeof(float) % storage_align != 0) continue;
            // Values placed inside r (none yet: r's own Cat, if any, is planned later) move with it.
            plan->home[static_cast<size_t>(r)] = c_home;
            plan->home_offset[static_cast<size_t>(r)] = c_off + offsets[k];
            st.in_place[k] = true;
        }
    }
    // A value placed into a Cat that was itself placed later in the pass: resolve to the outermost.
    for (int v = 0; v < count; ++v) {
        int h = plan->home[static_cast<size_t>(v)];
        int64_t off = plan->home_offset[static_cast<size_t>(v)];
        while (plan->home[static_cast<size_t>(h)] != h) {
            off += plan->home_offset[static_cast<size_t>(h)];
            h = plan->home[static_cast<size_t>(h)];
        }
        plan->home[static_cast<size_t>(v)] = h;
        plan->home_offset[static_cast<size_t>(v)] = off;
    }

    if (!allocate) return plan;

    // Memory plan: each storage lives from the first step writing into it to the last reader of
    // any value it holds; a buffer whose values are dead is reused (best fit by size) for a later
    // one. Kept values are never reused; the model's output is a fresh tensor per forward.
    const int steps = static_cast<int>(plan->steps.size());
    std::vector<int> last_use(static_cast<size_t>(count), -1), first_write(static_cast<size_t>(count), -1);
    for (int s = 0; s < steps; ++s)
        for (int in : plan->steps[static_cast<size_t>(s)].inputs)
            if (in >= 0) last_use[static_cast<size_t>(plan->home[static_cast<size_t>(in)])] = s;
    for (int s = steps - 1; s >= 0; --s) {
        const int h = plan->home[static_cast<size_t>(plan->steps[static_cast<size_t>(s)].output)];
        first_write[static_cast<size_t>(h)] = s;
        last_use[static_cast<size_t>(h)] = std::max(last_use[static_cast<size_t>(h)], s);
    }
    for (int i = 0; i < count; ++i)
        if (kept[static_cast<size_t>(i)] && plan->root[static_cast<size_t>(i)] >= 0)
            last_use[static_cast<size_t>(plan->home[static_cast<size_t>(plan->root[static_cast<size_t>(i)])])] = steps;  // alive to the end
    const int out_root = plan->root.back();
    plan->storage_of.assign(static_cast<size_t>(count), -1);
    std::vector<std::pair<int, int>> live;  // (storage, last use)
    std::vector<int> free_list;
    for (int s = 0; s < steps; ++s) {
        for (auto l = live.begin(); l != live.end();)
            if (l->second < s) {
                free_list.push_back(l->first);
                l = live.erase(l);
            } else {
                ++l;
            }
        const int out = plan->home[static_cast<size_t>(plan->steps[static_cast<size_t>(s)].output)];
        if (out == out_root || first_write[static_cast<size_t>(out)] != s) continue;
        const uint64_t need = static_cast<uint64_t>(numel_of(out)) * sizeof(float);
        int best = -1;
        for (size_t f = 0; f < free_list.size(); ++f) {
            const auto sz = plan->storages[static_cast<size_t>(free_list[f])]->size();
            if (sz >= need && (best < 0 || sz < plan->storages[static_cast<size_t>(free_list[static_cast<size_t>(best)])]->size()))
                best = static_cast<int>(f);
        }
        int storage;
        if (best >= 0) {
            storage = free_list[static_cast<size_t>(best)];
            free_list.erase(free_list.begin() + best);
        } else {
            storage = static_cast<int>(plan->storages.size());
            plan->storages.push_back(std::make_shared<host::Buffer>(*ctx_, need));
            plan->bytes += plan->storages.back()->allocated();
        }
        plan->storage_of[static_cast<size_t>(out)] = storage;
        live.emplace_back(storage, last_use[static_cast<size_t>(out)]);
    }
    return plan;
}

void Model::for_each_step(const Shape& input_shape, const std::function<void(const PlannedStep&)>& f) {
    const auto plan = make_plan(input_shape, {}, false);
    for (const auto& s : plan->steps) {
        const auto& node = nodes_[static_cast<size_t>(s.output)];
        std::vector<Shape> ins;
        for (int src : node.inputs) ins.push_back(src < 0 ? input_shape : plan->shapes[static_cast<size_t>(src)]);
        f(PlannedStep{node.name, *s.layer, ins, plan->shapes[static_cast<size_t>(s.output)], s.act});
    }
}

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
            rec.copy(src.buffer(), 0, t.buffer(), 0, t.bytes());
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
            Tensor t = plan.root[idx] < 0 && plan.root_offset[idx] == 0 ? input.reshaped(shape)
                                                                        : plan.tensor(static_cast<int>(idx), input, output, nullptr);
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
    for (const auto& storage : plan.storages) rec.keep_alive(storage);
    for (const auto& s : plan.steps) {
        // Each input with the shape its own node has (views such as Flatten change only the shape).
        const auto& node = nodes_[static_cast<size_t>(s.output)];
        std::vector<Tensor> ins;
        for (int src : node.inputs) ins.push_back(plan.tensor(src, input, output, &rec));
        const Tensor out = plan.tensor(s.output, input, output, &rec);
        if (auto* cat = dynamic_cast<Cat*>(s.layer); cat && !s.in_place.empty())
            cat->record_copies(rec, ins, out, s.in_place);
        else if (!s.act.is_none())
            s.layer->record_with_activation(rec, ins, out, s.act);
        else
            s.layer->record(rec, ins, out);
        if (after_step) (*after_step)(rec, StepInfo{static_cast<size_t>(&s - plan.steps.data()), node.name, *s.layer, ins, out, s.act});
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
