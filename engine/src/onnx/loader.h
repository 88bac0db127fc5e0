// onnx/loader.h: the ONNX graph reader shared by engine/src/onnx/*.cpp (private to engine/src).
// Values are either constants (initializers, bound inputs and what is folded from them on the
// host) or device values (the data input and layer outputs, with shapes known at load time).
// Each live node either folds on the host (all its inputs constant and the operator one of the
// shape-computing ones), is part of a recognised pattern (patterns.cpp), or becomes layers.
//   graph.cpp      the model: opset, initializers, inputs, live nodes, outputs; the public API
//   fold.cpp       host folding of shape computations
//   layers.cpp     naming and adding layers; Conv, ConvTranspose, pooling, BatchNormalization
//   map_tensor.cpp Gemm, MatMul, reshapes, Softmax, element-wise ops, reductions, Concat/Split
//   map_resize.cpp Resize/Upsample, Pad (folded into the following Conv)
//   patterns.cpp   chains mapped as one layer (GELU, LayerNorm)
#pragma once

#include <algorithm>
#include <cfloat>
#include <climits>
#include <limits>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "constant_layer.h"
#include "onnx_tensor.h"
#include "vkconv/activations.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/binary.h"
#include "vkconv/conv2d.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/error.h"
#include "vkconv/layer_norm.h"
#include "vkconv/layers.h"
#include "vkconv/reduce.h"
#include "vkconv/shape_ops.h"
#include "vkconv/unary_math.h"
#include "vkconv/upsample.h"
#include "vkconv/onnx.h"

namespace vkconv::onnx_impl {

using detail::OnnxConst;

constexpr int64_t kMinOpset = 6, kMaxOpset = 17;

inline std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

inline std::string ints_str(const std::vector<int64_t>& v) { return shape_str(v); }

struct Value {
    bool is_const = false;
    OnnxConst c;        // when is_const
    std::string layer;  // else: the model layer producing it ("input" for the data input)
    Shape shape;        // both
};


// The operators folded on the host when all their inputs are constants.
const std::set<std::string>& fold_ops();
// The operators mapped onto layers (with their conditions, see Loader::map_node).
const std::set<std::string>& layer_ops();

std::vector<int64_t> strides_of(const Shape& s);
int64_t wrap_axis(int64_t axis, int64_t rank, const std::string& who);
int64_t checked_numel(const Shape& s, const std::string& who);
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);
// Reshape's target: 0 copies the input's dimension (unless allowzero), one -1 is inferred.
Shape reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero, const std::string& who);
// ONNX's explicit pads for one spatial axis under auto_pad (SAME_UPPER/SAME_LOWER/VALID/NOTSET).
std::pair<int64_t, int64_t> auto_pads(const std::string& mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t b, int64_t e);

class Loader {
public:
    Loader(Context& ctx, const onnx::ModelProto& proto, std::string base_dir, std::string name, const OnnxLoadOptions& opts)
        : ctx_(ctx), proto_(proto), g_(proto.graph()), base_dir_(std::move(base_dir)), name_(std::move(name)), opts_(opts) {}

    OnnxModel load();

private:
    // ---- attributes ----
    const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& key) const {
        for (const auto& a : n.attribute())
            if (a.name() == key) return &a;
        return nullptr;
    }
    int64_t attr_int(const onnx::NodeProto& n, const std::string& key, int64_t def) const {
        const auto* a = attr(n, key);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::INT) throw Error(where(n) + ": attribute '" + key + "' is not an int");
        return a->i();
    }
    float attr_float(const onnx::NodeProto& n, const std::string& key, float def) const {
        const auto* a = attr(n, key);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::FLOAT) throw Error(where(n) + ": attribute '" + key + "' is not a float");
        return a->f();
    }
    std::string attr_string(const onnx::NodeProto& n, const std::string& key, const std::string& def) const {
        const auto* a = attr(n, key);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::STRING) throw Error(where(n) + ": attribute '" + key + "' is not a string");
        return a->s();
    }
    std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const std::string& key) const {
        const auto* a = attr(n, key);
        if (!a) return std::nullopt;
        if (a->type() != onnx::AttributeProto::INTS) throw Error(where(n) + ": attribute '" + key + "' is not a list of ints");
        return std::vector<int64_t>(a->ints().begin(), a->ints().end());
    }

    std::string where(const onnx::NodeProto& n) const {
        return "node '" + (n.name().empty() ? n.output_size() ? n.output(0) : std::string("?") : n.name()) + "' (" + n.op_type() + ")";
    }
    [[noreturn]] void unsupported(const onnx::NodeProto& n, const std::string& why) const {
        throw OnnxUnsupported(where(n) + ": " + why);
    }

    // ---- values ----
    const Value& input(const onnx::NodeProto& n, int k) const {
        if (k >= n.input_size() || n.input(k).empty()) throw Error(where(n) + ": input " + std::to_string(k) + " is missing");
        auto it = values_.find(n.input(k));
        if (it == values_.end()) {
            for (const auto& gi : g_.input())
                if (gi.name() == n.input(k))
                    throw Error(where(n) + " reads graph input '" + n.input(k) + "', which has no value: give it (vkconv run --input " +
                                n.input(k) + "=file.npy; OnnxLoadOptions::inputs)");
            throw Error(where(n) + ": input '" + n.input(k) + "' is not produced by an earlier node");
        }
        return it->second;
    }
    bool has_input(const onnx::NodeProto& n, int k) const { return k < n.input_size() && !n.input(k).empty(); }
    const OnnxConst& const_input(const onnx::NodeProto& n, int k, const char* what) const {
        const Value& v = input(n, k);
        if (!v.is_const)
            unsupported(n, std::string(what) + " ('" + n.input(k) + "') is computed at run time; vkconv needs it constant (an initializer)");
        return v.c;
    }
    std::vector<int64_t> const_ints(const onnx::NodeProto& n, int k, const char* what) const {
        const OnnxConst& c = const_input(n, k, what);
        if (c.is_int) return c.i;
        std::vector<int64_t> out;
        for (float v : c.f) {
            if (!(std::fabs(v) < 9.0e18f) || v != std::trunc(v))
                throw Error(where(n) + ": " + what + " holds " + std::to_string(v) + ", not an integer");
            out.push_back(static_cast<int64_t>(v));
        }
        return out;
    }
    // Slice's starts, ends, axes and steps (attributes before opset 10, inputs from it; axes
    // default to 0, 1, ..., steps to 1), checked to be of one length.
    struct SliceArgs {
        std::vector<int64_t> starts, ends, axes, steps;
    };
    SliceArgs slice_args(const onnx::NodeProto& n) const;
    // The device value of input k, a Constant layer for a constant.
    const Value& dynamic_input(const onnx::NodeProto& n, int k);
    void set_output(const onnx::NodeProto& n, int k, Value v) {
        if (k < n.output_size() && !n.output(k).empty()) values_[n.output(k)] = std::move(v);
    }
    // Outputs past the first that the graph uses: refused (Dropout's mask, MaxPool's indices).
    void only_first_output(const onnx::NodeProto& n) const {
        for (int k = 1; k < n.output_size(); ++k)
            if (!n.output(k).empty() && needed_.count(n.output(k)))
                unsupported(n, "output " + std::to_string(k) + " ('" + n.output(k) + "') is used; vkconv computes only the first output");
    }

    std::string layer_name(const onnx::NodeProto& n);
    // Adds `layer` with inputs (layer names) of these shapes, returns its output value.
    Value add_layer(const onnx::NodeProto& n, std::unique_ptr<Layer> layer, const std::vector<const Value*>& inputs);

    // ---- nodes ----
    void fold_node(const onnx::NodeProto& n);
    void map_node(const onnx::NodeProto& n);
    void map_conv(const onnx::NodeProto& n);
    void map_pool(const onnx::NodeProto& n, bool max);
    void map_batchnorm(const onnx::NodeProto& n);
    void map_gemm(const onnx::NodeProto& n);
    void map_matmul(const onnx::NodeProto& n);
    void map_flatten(const onnx::NodeProto& n);
    void map_reshape(const onnx::NodeProto& n, const Shape& target);
    void map_softmax(const onnx::NodeProto& n);
    void map_binary(const onnx::NodeProto& n);
    void map_activation(const onnx::NodeProto& n);
    void map_conv_transpose(const onnx::NodeProto& n);
    void map_reduce(const onnx::NodeProto& n);
    void map_concat(const onnx::NodeProto& n);
    void map_split(const onnx::NodeProto& n);
    void map_layer_norm(const onnx::NodeProto& n);
    void map_unary_math(const onnx::NodeProto& n);
    void map_slice(const onnx::NodeProto& n);
    void map_resize(const onnx::NodeProto& n);
    void map_pad(const onnx::NodeProto& n);

    // ---- patterns (patterns.cpp): a chain of nodes starting at node k mapped as one layer ----
    // Each returns false (touching nothing) when node k does not start the pattern.
    bool map_pattern(int k);
    bool map_gelu_pattern(int k);
    bool map_layer_norm_pattern(int k);
    // The one live node reading `value` (nullptr when none, several, or a graph output).
    int sole_consumer(const std::string& value) const;
    // The constant value of input i of node n, or nullptr when it is not a constant (yet).
    const OnnxConst* maybe_const(const onnx::NodeProto& n, int i) const;
    // A Pad folded into the Conv reading it (map_pad -> map_conv).
    struct PendingPad {
        std::string mode;             // "constant" (zero), "reflect", "edge"
        int64_t top = 0, left = 0, bottom = 0, right = 0;
        std::string source;           // the Pad's input
    };
    std::map<std::string, PendingPad> pending_pads_;  // Pad output -> its pads
    std::map<std::string, std::vector<int>> consumers_;  // value -> live nodes reading it
    std::set<std::string> graph_outputs_;
    std::vector<bool> done_;          // nodes already mapped by a pattern
    int64_t opset_ = 0;

    Context& ctx_;
    const onnx::ModelProto& proto_;
    const onnx::GraphProto& g_;
    std::string base_dir_, name_;
    const OnnxLoadOptions& opts_;
    std::unique_ptr<Model> model_;
    std::map<std::string, Value> values_;
    std::set<std::string> needed_;
    std::set<std::string> used_names_;
    std::map<std::string, std::string> materialized_;  // constant value name -> Constant layer
};

}  // namespace vkconv::onnx_impl
