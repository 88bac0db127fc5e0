// ONNX graph -> vkconv::Model. Values are either constants (initializers, bound inputs and
// what is folded from them on the host) or device values (the data input and layer outputs,
// with shapes known at load time). Each live node either folds on the host (all its inputs
// constant and the operator one of the shape-computing ones) or becomes layers.
#include <algorithm>
#include <cfloat>
#include <climits>
#include <limits>
#include <cmath>
#include <filesystem>
#include <functional>
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
#include "vkconv/onnx.h"

namespace vkconv {
namespace {

using detail::OnnxConst;
namespace fs = std::filesystem;

constexpr int64_t kMinOpset = 6, kMaxOpset = 17;

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

std::string ints_str(const std::vector<int64_t>& v) { return shape_str(v); }

struct Value {
    bool is_const = false;
    OnnxConst c;        // when is_const
    std::string layer;  // else: the model layer producing it ("input" for the data input)
    Shape shape;        // both
};

// The operators folded on the host when all their inputs are constants.
const std::set<std::string>& fold_ops() {
    static const std::set<std::string> ops{"Add", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Gather",
                                           "Identity", "Mul", "Reshape", "Shape", "Slice", "Squeeze", "Sub",
                                           "Transpose", "Unsqueeze"};
    return ops;
}

// The operators mapped onto layers (with their conditions, see Loader::map_node).
const std::set<std::string>& layer_ops() {
    static const std::set<std::string> ops{
        "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Conv", "ConvTranspose", "Div", "Dropout", "Elu",
        "Flatten", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity",
        "LayerNormalization", "LeakyRelu", "MatMul", "MaxPool", "Mul", "PRelu", "ReduceMax", "ReduceMean", "Relu",
        "Reshape", "Shape", "Sigmoid", "Softmax", "Split", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze"};
    return ops;
}

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

// ---- host folding -------------------------------------------------------------------------

std::vector<int64_t> strides_of(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
    return st;
}

int64_t wrap_axis(int64_t axis, int64_t rank, const std::string& who) {
    if (axis < -rank || axis >= rank)
        throw Error(who + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
}

// Elements a constant folded on the host may have (a shape computation needs a handful; this
// bounds what a hostile file can make the host allocate).
constexpr int64_t kMaxFoldElements = int64_t(1) << 26;

int64_t checked_numel(const Shape& s, const std::string& who) {
    int64_t n = 1;
    for (int64_t d : s) {
        if (d < 0) throw Error(who + ": negative dimension in " + shape_str(s));
        if (d != 0 && n > kMaxFoldElements / d) throw Error(who + ": a constant of shape " + shape_str(s) + " is larger than 2^26 elements");
        n *= d;
    }
    return n;
}

// numpy broadcasting of two shapes.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
    Shape out(std::max(a.size(), b.size()));
    for (size_t k = 0; k < out.size(); ++k) {
        const int64_t da = k < out.size() - a.size() ? 1 : a[k - (out.size() - a.size())];
        const int64_t db = k < out.size() - b.size() ? 1 : b[k - (out.size() - b.size())];
        if (da != db && da != 1 && db != 1) return std::nullopt;
        out[k] = da == 1 ? db : da;
    }
    return out;
}

OnnxConst binary_fold(const OnnxConst& a, const OnnxConst& b, const std::string& op, const std::string& who) {
    const auto shape = broadcast_shapes(a.shape, b.shape);
    if (!shape) throw Error(who + ": shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) + " do not broadcast");
    const int64_t n = checked_numel(*shape, who);
    const auto st = strides_of(*shape), sa = strides_of(a.shape), sb = strides_of(b.shape);
    const bool is_int = a.is_int && b.is_int;
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
        int64_t ia = 0, ib = 0, rem = k;
        for (size_t d = 0; d < shape->size(); ++d) {
            const int64_t idx = rem / st[d];
            rem %= st[d];
            const size_t da = d + a.shape.size() - shape->size(), db = d + b.shape.size() - shape->size();
            if (d + a.shape.size() >= shape->size() && a.shape[da] != 1) ia += idx * sa[da];
            if (d + b.shape.size() >= shape->size() && b.shape[db] != 1) ib += idx * sb[db];
        }
        const double x = a.at(static_cast<size_t>(ia)), y = b.at(static_cast<size_t>(ib));
        double r = 0;
        if (op == "Add") r = x + y;
        else if (op == "Sub") r = x - y;
        else if (op == "Mul") r = x * y;
        else {
            if (is_int && y == 0) throw Error(who + ": integer division by zero");
            r = is_int ? std::trunc(x / y) : static_cast<double>(static_cast<float>(x) / static_cast<float>(y));
        }
        out[static_cast<size_t>(k)] = is_int ? r : static_cast<double>(static_cast<float>(r));
    }
    return OnnxConst::from_values(is_int, *shape, out);
}

OnnxConst transpose_fold(const OnnxConst& a, std::vector<int64_t> perm, const std::string& who) {
    const size_t r = a.shape.size();
    if (perm.empty())
        for (size_t d = 0; d < r; ++d) perm.push_back(static_cast<int64_t>(r - 1 - d));
    if (perm.size() != r) throw Error(who + ": perm " + ints_str(perm) + " does not match rank " + std::to_string(r));
    std::vector<bool> seen(r, false);
    Shape out_shape(r);
    for (size_t d = 0; d < r; ++d) {
        const int64_t p = wrap_axis(perm[d], static_cast<int64_t>(r), who);
        if (seen[static_cast<size_t>(p)]) throw Error(who + ": perm " + ints_str(perm) + " repeats an axis");
        seen[static_cast<size_t>(p)] = true;
        perm[d] = p;
        out_shape[d] = a.shape[static_cast<size_t>(p)];
    }
    const auto si = strides_of(a.shape), so = strides_of(out_shape);
    const int64_t n = shape_numel(out_shape);
    std::vector<double> v = a.values(), out(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
        int64_t src = 0, rem = k;
        for (size_t d = 0; d < r; ++d) {
            src += (rem / so[d]) * si[static_cast<size_t>(perm[d])];
            rem %= so[d];
        }
        out[static_cast<size_t>(k)] = v[static_cast<size_t>(src)];
    }
    return OnnxConst::from_values(a.is_int, out_shape, out);
}

// Reshape's target: 0 copies the input's dimension (unless allowzero), one -1 is inferred.
Shape reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero, const std::string& who) {
    Shape out;
    int infer = -1;
    int64_t known = 1;
    for (size_t d = 0; d < spec.size(); ++d) {
        int64_t v = spec[d];
        if (v == 0 && !allowzero) {
            if (d >= in.size()) throw Error(who + ": shape " + ints_str(spec) + " copies dimension " + std::to_string(d) + " of a rank-" + std::to_string(in.size()) + " input");
            v = in[d];
        }
        if (v == -1) {
            if (infer >= 0) throw Error(who + ": shape " + ints_str(spec) + " has more than one -1");
            infer = static_cast<int>(d);
            out.push_back(-1);
            continue;
        }
        if (v < 0) throw Error(who + ": shape " + ints_str(spec) + " has a negative dimension");
        if (v != 0 && known > (int64_t(1) << 62) / v) throw Error(who + ": shape " + ints_str(spec) + " is too large");
        known *= v;
        out.push_back(v);
    }
    const int64_t total = shape_numel(in);
    if (infer >= 0) {
        if (known == 0 || total % known != 0)
            throw Error(who + ": cannot reshape " + shape_str(in) + " to " + ints_str(spec));
        out[static_cast<size_t>(infer)] = total / known;
    } else if (known != total) {
        throw Error(who + ": cannot reshape " + shape_str(in) + " (" + std::to_string(total) + " elements) to " + ints_str(spec));
    }
    return out;
}

void Loader::fold_node(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const std::string who = where(n);
    auto c = [&](int k) -> const OnnxConst& { return const_input(n, k, "input"); };
    auto out = [&](OnnxConst v) {
        Value val;
        val.is_const = true;
        val.shape = v.shape;
        val.c = std::move(v);
        set_output(n, 0, std::move(val));
    };
    if (op == "Constant") {
        for (const auto& a : n.attribute()) {
            if (a.name() == "value") return out(detail::decode_onnx_tensor(a.t(), base_dir_, n.output(0)));
            if (a.name() == "value_float") return out(OnnxConst::from_values(false, {}, {a.f()}));
            if (a.name() == "value_int") return out(OnnxConst::from_values(true, {}, {static_cast<double>(a.i())}));
            if (a.name() == "value_floats") return out(OnnxConst::from_values(false, {a.floats_size()}, std::vector<double>(a.floats().begin(), a.floats().end())));
            if (a.name() == "value_ints") return out(OnnxConst::from_values(true, {a.ints_size()}, std::vector<double>(a.ints().begin(), a.ints().end())));
        }
        unsupported(n, "only a tensor, float(s) or int(s) value is supported");
    }
    if (op == "Shape") {
        const Shape& s = input(n, 0).shape;
        const auto r = static_cast<int64_t>(s.size());
        int64_t start = attr_int(n, "start", 0), end = attr_int(n, "end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = std::clamp<int64_t>(start, 0, r);
        end = std::clamp<int64_t>(end, start, r);
        return out(OnnxConst::from_values(true, {end - start}, std::vector<double>(s.begin() + start, s.begin() + end)));
    }
    if (op == "Identity") return out(c(0));
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return out(binary_fold(c(0), c(1), op, who));
    if (op == "Cast") {
        const int64_t to = attr_int(n, "to", 0);
        const bool to_int = detail::onnx_type_is_int(static_cast<int32_t>(to));
        if (!to_int && !detail::onnx_type_is_float(static_cast<int32_t>(to)))
            unsupported(n, "cast to " + detail::onnx_type_name(static_cast<int32_t>(to)));
        auto v = c(0).values();
        for (auto& x : v) {
            if (to == onnx::TensorProto::BOOL) x = x != 0;
            else if (to_int) x = std::trunc(x);
            else x = static_cast<float>(x);
        }
        return out(OnnxConst::from_values(to_int, c(0).shape, v));
    }
    if (op == "Transpose") return out(transpose_fold(c(0), attr_ints(n, "perm").value_or(std::vector<int64_t>{}), who));
    if (op == "Reshape") {
        const auto spec = opset_ < 5 ? attr_ints(n, "shape").value_or(std::vector<int64_t>{}) : const_ints(n, 1, "shape");
        OnnxConst r = c(0);
        r.shape = reshape_target(r.shape, spec, attr_int(n, "allowzero", 0) != 0, who);
        return out(std::move(r));
    }
    if (op == "Unsqueeze" || op == "Squeeze") {
        std::optional<std::vector<int64_t>> axes;
        if (opset_ >= 13) {
            if (has_input(n, 1)) axes = const_ints(n, 1, "axes");
        } else {
            axes = attr_ints(n, "axes");
        }
        OnnxConst r = c(0);
        if (op == "Unsqueeze") {
            if (!axes) throw Error(who + ": axes are required");
            const auto rank = static_cast<int64_t>(r.shape.size() + axes->size());
            std::vector<bool> at(static_cast<size_t>(rank), false);
            for (int64_t a : *axes) {
                const auto w = static_cast<size_t>(wrap_axis(a, rank, who));
                if (at[w]) throw Error(who + ": axes " + ints_str(*axes) + " repeat an axis");
                at[w] = true;
            }
            Shape s;
            size_t src = 0;
            for (size_t d = 0; d < at.size(); ++d) s.push_back(at[d] ? 1 : r.shape[src++]);
            r.shape = s;
        } else {
            const auto rank = static_cast<int64_t>(r.shape.size());
            std::vector<bool> drop(r.shape.size(), false);
            if (axes) {
                for (int64_t a : *axes) {
                    const auto w = static_cast<size_t>(wrap_axis(a, rank, who));
                    if (r.shape[w] != 1) throw Error(who + ": cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(r.shape[w]));
                    drop[w] = true;
                }
            } else {
                for (size_t d = 0; d < r.shape.size(); ++d) drop[d] = r.shape[d] == 1;
            }
            Shape s;
            for (size_t d = 0; d < r.shape.size(); ++d)
                if (!drop[d]) s.push_back(r.shape[d]);
            r.shape = s;
        }
        return out(std::move(r));
    }
    if (op == "Concat") {
        if (n.input_size() == 0) throw Error(who + ": no inputs");
        const OnnxConst& first = c(0);
        const auto rank = static_cast<int64_t>(first.shape.size());
        const auto axis = static_cast<size_t>(wrap_axis(attr_int(n, "axis", 0), std::max<int64_t>(rank, 1), who));
        if (rank == 0) throw Error(who + ": cannot concatenate scalars");
        Shape shape = first.shape;
        shape[axis] = 0;
        std::vector<const OnnxConst*> parts;
        for (int k = 0; k < n.input_size(); ++k) {
            const OnnxConst& p = c(k);
            if (p.shape.size() != first.shape.size()) throw Error(who + ": inputs of different ranks");
            for (size_t d = 0; d < p.shape.size(); ++d)
                if (d != axis && p.shape[d] != first.shape[d]) throw Error(who + ": input shapes " + shape_str(first.shape) + " and " + shape_str(p.shape) + " differ off the axis");
            shape[axis] += p.shape[axis];
            parts.push_back(&p);
        }
        int64_t outer = 1, inner = 1;
        for (size_t d = 0; d < axis; ++d) outer *= shape[d];
        for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
        std::vector<double> v;
        for (int64_t o = 0; o < outer; ++o)
            for (const OnnxConst* p : parts) {
                const int64_t chunk = p->shape[axis] * inner;
                for (int64_t j = 0; j < chunk; ++j) v.push_back(p->at(static_cast<size_t>(o * chunk + j)));
            }
        return out(OnnxConst::from_values(first.is_int, shape, v));
    }
    if (op == "Gather") {
        const OnnxConst& data = c(0);
        const OnnxConst& idx = c(1);
        if (!idx.is_int) throw Error(who + ": indices are not integers");
        const auto rank = static_cast<int64_t>(data.shape.size());
        if (rank == 0) throw Error(who + ": cannot gather from a scalar");
        const auto axis = static_cast<size_t>(wrap_axis(attr_int(n, "axis", 0), rank, who));
        Shape shape(data.shape.begin(), data.shape.begin() + static_cast<int64_t>(axis));
        shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
        shape.insert(shape.end(), data.shape.begin() + static_cast<int64_t>(axis) + 1, data.shape.end());
        int64_t outer = 1, inner = 1;
        for (size_t d = 0; d < axis; ++d) outer *= data.shape[d];
        for (size_t d = axis + 1; d < data.shape.size(); ++d) inner *= data.shape[d];
        const int64_t dim = data.shape[axis];
        checked_numel(shape, who);
        std::vector<double> v;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < idx.numel(); ++j) {
                int64_t i = idx.i[static_cast<size_t>(j)];
                if (i < -dim || i >= dim) throw Error(who + ": index " + std::to_string(i) + " is out of range for a dimension of " + std::to_string(dim));
                if (i < 0) i += dim;
                for (int64_t k = 0; k < inner; ++k) v.push_back(data.at(static_cast<size_t>((o * dim + i) * inner + k)));
            }
        return out(OnnxConst::from_values(data.is_int, shape, v));
    }
    if (op == "Slice") {
        const OnnxConst& data = c(0);
        const auto rank = static_cast<int64_t>(data.shape.size());
        std::vector<int64_t> starts, ends, axes, steps;
        if (opset_ < 10) {
            starts = attr_ints(n, "starts").value_or(std::vector<int64_t>{});
            ends = attr_ints(n, "ends").value_or(std::vector<int64_t>{});
            axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
        } else {
            starts = const_ints(n, 1, "starts");
            ends = const_ints(n, 2, "ends");
            if (has_input(n, 3)) axes = const_ints(n, 3, "axes");
            if (has_input(n, 4)) steps = const_ints(n, 4, "steps");
        }
        if (axes.empty())
            for (size_t d = 0; d < starts.size(); ++d) axes.push_back(static_cast<int64_t>(d));
        if (steps.empty()) steps.assign(starts.size(), 1);
        if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
            throw Error(who + ": starts, ends, axes and steps differ in length");
        std::vector<int64_t> b(static_cast<size_t>(rank), 0), st(static_cast<size_t>(rank), 1);
        Shape shape = data.shape;
        for (size_t k = 0; k < starts.size(); ++k) {
            const auto a = static_cast<size_t>(wrap_axis(axes[k], rank, who));
            const int64_t dim = data.shape[a], step = steps[k];
            if (step == 0) throw Error(who + ": step 0");
            auto clampi = [&](int64_t v, bool neg_step) {
                if (v < 0) v += dim;
                return neg_step ? std::clamp<int64_t>(v, -1, dim - 1) : std::clamp<int64_t>(v, 0, dim);
            };
            const int64_t s = clampi(starts[k], step < 0), e = clampi(ends[k], step < 0);
            const int64_t len = step > 0 ? std::max<int64_t>(0, (e - s + step - 1) / step) : std::max<int64_t>(0, (s - e - step - 1) / -step);
            b[a] = s;
            st[a] = step;
            shape[a] = len;
        }
        const auto si = strides_of(data.shape), so = strides_of(shape);
        std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
        for (size_t k = 0; k < v.size(); ++k) {
            int64_t src = 0, rem = static_cast<int64_t>(k);
            for (size_t d = 0; d < shape.size(); ++d) {
                src += (b[d] + (rem / so[d]) * st[d]) * si[d];
                rem %= so[d];
            }
            v[k] = data.at(static_cast<size_t>(src));
        }
        return out(OnnxConst::from_values(data.is_int, shape, v));
    }
    if (op == "ConstantOfShape") {
        const auto dims = const_ints(n, 0, "shape");
        OnnxConst fill = OnnxConst::from_values(false, {1}, {0.0});
        if (const auto* a = attr(n, "value")) fill = detail::decode_onnx_tensor(a->t(), base_dir_, n.output(0));
        if (fill.numel() != 1) throw Error(who + ": value must hold one element");
        for (int64_t d : dims)
            if (d < 0) throw Error(who + ": negative dimension in " + ints_str(dims));
        const Shape shape(dims.begin(), dims.end());
        return out(OnnxConst::from_values(fill.is_int, shape, std::vector<double>(static_cast<size_t>(checked_numel(shape, who)), fill.at(0))));
    }
    throw Error(who + ": no host folding for this operator");  // not reached: map_node decides
}

// ---- layers -------------------------------------------------------------------------------

std::string Loader::layer_name(const onnx::NodeProto& n) {
    std::string s = n.name();
    std::replace(s.begin(), s.end(), '/', '.');
    while (!s.empty() && s.front() == '.') s.erase(s.begin());
    while (!s.empty() && s.back() == '.') s.pop_back();
    for (size_t p; (p = s.find("..")) != std::string::npos;) s.erase(p, 1);
    if (s.empty() || s == "input" || used_names_.count(s)) {
        const std::string base = n.op_type() + "_";
        for (size_t k = used_names_.size();; ++k)
            if (!used_names_.count(base + std::to_string(k))) {
                s = base + std::to_string(k);
                break;
            }
    }
    used_names_.insert(s);
    return s;
}

Value Loader::add_layer(const onnx::NodeProto& n, std::unique_ptr<Layer> layer, const std::vector<const Value*>& inputs) {
    std::vector<Shape> shapes;
    std::vector<std::string> names;
    for (const Value* v : inputs) {
        shapes.push_back(v->shape);
        names.push_back(v->layer);
    }
    Value out;
    try {
        out.shape = layer->output_shape(shapes);
    } catch (const OnnxUnsupported&) {
        throw;
    } catch (const Error& e) {
        // The layer refuses what PyTorch refuses; the ONNX model may still be valid.
        unsupported(n, std::string("vkconv's ") + layer->type() + " refuses it: " + e.what());
    }
    const std::string name = layer_name(n);
    model_->add(name, std::move(layer), names);
    out.layer = name;
    return out;
}

const Value& Loader::dynamic_input(const onnx::NodeProto& n, int k) {
    const Value& v = input(n, k);
    if (!v.is_const) return v;
    const std::string& key = n.input(k);
    auto m = materialized_.find(key);
    if (m == materialized_.end()) {
        if (v.c.is_int) unsupported(n, "input '" + key + "' is an integer tensor; vkconv computes float32 only");
        Value d;
        d.shape = v.c.shape;
        onnx::NodeProto fake;
        fake.set_name("const." + key);
        fake.set_op_type("Constant");
        d.layer = layer_name(fake);
        model_->add(d.layer, std::make_unique<detail::ConstantTensor>(ctx_, v.c.shape, v.c.f), {"input"});
        m = materialized_.emplace(key, d.layer).first;
        values_["\x01" + key] = d;
    }
    return values_.at("\x01" + key);
}

// ONNX's explicit pads for one spatial axis under auto_pad (SAME_UPPER/SAME_LOWER/VALID/NOTSET).
std::pair<int64_t, int64_t> auto_pads(const std::string& mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t b, int64_t e) {
    if (mode == "VALID") return {0, 0};
    if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
        const int64_t out = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
        const int64_t small = total / 2, large = total - small;
        return mode == "SAME_UPPER" ? std::pair{small, large} : std::pair{large, small};
    }
    return {b, e};
}

void Loader::map_conv(const onnx::NodeProto& n) {
    const Value& x = input(n, 0);
    const OnnxConst& w = const_input(n, 1, "the weight W");
    const size_t r = x.shape.size();
    if (r == 3) unsupported(n, "1-D convolution (input " + shape_str(x.shape) + "): vkconv convolves 2-D images (4-D NCHW input) only");
    if (r == 5) unsupported(n, "3-D convolution (input " + shape_str(x.shape) + "): vkconv convolves 2-D images (4-D NCHW input) only");
    if (r != 4) unsupported(n, "a rank-" + std::to_string(r) + " input: vkconv convolves 4-D NCHW input only");
    if (w.shape.size() != 4) throw Error(where(n) + ": weight of shape " + shape_str(w.shape) + " for a 4-D input");
    const int64_t groups = attr_int(n, "group", 1);
    const auto strides = attr_ints(n, "strides").value_or(std::vector<int64_t>{1, 1});
    const auto dil = attr_ints(n, "dilations").value_or(std::vector<int64_t>{1, 1});
    const auto pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
    if (const auto ks = attr_ints(n, "kernel_shape"); ks && (*ks != std::vector<int64_t>{w.shape[2], w.shape[3]}))
        throw Error(where(n) + ": kernel_shape " + ints_str(*ks) + " disagrees with the weight " + shape_str(w.shape));
    if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
        throw Error(where(n) + ": strides, dilations and pads must have 2, 2 and 4 values for a 2-D convolution");
    if (groups <= 0 || x.shape[1] % groups != 0 || w.shape[1] * groups != x.shape[1])
        throw Error(where(n) + ": weight " + shape_str(w.shape) + " with group " + std::to_string(groups) + " does not fit input " + shape_str(x.shape));
    for (int64_t v : {strides[0], strides[1], dil[0], dil[1]})
        if (v <= 0 || v > INT_MAX) throw Error(where(n) + ": strides and dilations must be positive");
    for (int64_t v : pads)
        if (v < 0 || v > INT_MAX) throw Error(where(n) + ": pads must be non-negative");
    const std::string mode = attr_string(n, "auto_pad", "NOTSET");
    const auto [pt, pb] = auto_pads(mode, x.shape[2], w.shape[2], strides[0], dil[0], pads[0], pads[2]);
    const auto [pl, pr] = auto_pads(mode, x.shape[3], w.shape[3], strides[1], dil[1], pads[1], pads[3]);
    Conv2dParams p;
    p.in_channels = static_cast<int>(x.shape[1]);
    p.out_channels = static_cast<int>(w.shape[0]);
    p.kernel = Pair(static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3]));
    p.options.stride = Pair(static_cast<int>(strides[0]), static_cast<int>(strides[1]));
    p.options.dilation = Pair(static_cast<int>(dil[0]), static_cast<int>(dil[1]));
    p.options.groups = static_cast<int>(groups);
    p.options.bias = has_input(n, 2);
    const int64_t th = dil[0] * (w.shape[2] - 1), tw = dil[1] * (w.shape[3] - 1);
    if (pt == pb && pl == pr) {
        p.options.padding = Padding(static_cast<int>(pt), static_cast<int>(pl));
    } else if (strides[0] == 1 && strides[1] == 1 && pt == th / 2 && pb == th - th / 2 && pl == tw / 2 && pr == tw - tw / 2) {
        p.options.padding = Padding::same();  // PyTorch's 'same': the odd extra row/column at the end
    } else {
        unsupported(n, "asymmetric pads (top, left, bottom, right) = (" + std::to_string(pt) + ", " + std::to_string(pl) + ", " +
                           std::to_string(pb) + ", " + std::to_string(pr) + "): vkconv's Conv2d pads symmetrically or as PyTorch's 'same'");
    }
    auto conv = std::make_unique<Conv2d>(ctx_, p);
    conv->set_weight(w.f);
    if (p.options.bias) {
        const OnnxConst& b = const_input(n, 2, "the bias B");
        if (b.numel() != p.out_channels) throw Error(where(n) + ": bias has " + std::to_string(b.numel()) + " values for " + std::to_string(p.out_channels) + " output channels");
        conv->set_bias(b.f);
    }
    set_output(n, 0, add_layer(n, std::move(conv), {&x}));
}

void Loader::map_pool(const onnx::NodeProto& n, bool max) {
    only_first_output(n);
    const Value& x = input(n, 0);
    const size_t r = x.shape.size();
    if (r == 3) unsupported(n, "1-D pooling (input " + shape_str(x.shape) + "): vkconv pools 2-D images (4-D NCHW input) only");
    if (r == 5) unsupported(n, "3-D pooling (input " + shape_str(x.shape) + "): vkconv pools 2-D images (4-D NCHW input) only");
    if (r != 4) unsupported(n, "a rank-" + std::to_string(r) + " input: vkconv pools 4-D NCHW input only");
    const auto ks = attr_ints(n, "kernel_shape");
    if (!ks || ks->size() != 2) throw Error(where(n) + ": kernel_shape must have 2 values for a 4-D input");
    const auto strides = attr_ints(n, "strides").value_or(std::vector<int64_t>{1, 1});
    const auto dil = attr_ints(n, "dilations").value_or(std::vector<int64_t>{1, 1});
    const auto pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
    if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
        throw Error(where(n) + ": strides, dilations and pads must have 2, 2 and 4 values for 2-D pooling");
    for (int64_t v : {(*ks)[0], (*ks)[1], strides[0], strides[1], dil[0], dil[1]})
        if (v <= 0 || v > INT_MAX) throw Error(where(n) + ": kernel_shape, strides and dilations must be positive");
    for (int64_t v : pads)
        if (v < 0 || v > INT_MAX) throw Error(where(n) + ": pads must be non-negative");
    const bool ceil_mode = attr_int(n, "ceil_mode", 0) != 0;
    const std::string mode = attr_string(n, "auto_pad", "NOTSET");
    const auto [pt, pb] = auto_pads(mode, x.shape[2], (*ks)[0], strides[0], dil[0], pads[0], pads[2]);
    const auto [pl, pr] = auto_pads(mode, x.shape[3], (*ks)[1], strides[1], dil[1], pads[1], pads[3]);
    if (pt != pb || pl != pr)
        unsupported(n, "asymmetric pads (top, left, bottom, right) = (" + std::to_string(pt) + ", " + std::to_string(pl) + ", " +
                           std::to_string(pb) + ", " + std::to_string(pr) + "): vkconv's pooling pads symmetrically");
    // ONNX's output size: floor (or ceil) of (in + pads - dilated kernel) / stride + 1; SAME:
    // ceil(in / stride).
    Shape expect = x.shape;
    for (int a = 0; a < 2; ++a) {
        const int64_t in = x.shape[static_cast<size_t>(2 + a)], k = (*ks)[static_cast<size_t>(a)], s = strides[static_cast<size_t>(a)];
        const int64_t span = in + 2 * (a ? pl : pt) - ((k - 1) * dil[static_cast<size_t>(a)] + 1);
        if (mode == "SAME_UPPER" || mode == "SAME_LOWER") expect[static_cast<size_t>(2 + a)] = (in + s - 1) / s;
        else expect[static_cast<size_t>(2 + a)] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    }
    std::unique_ptr<Layer> layer;
    const Pair k((int)(*ks)[0], (int)(*ks)[1]), s((int)strides[0], (int)strides[1]), pad((int)pt, (int)pl);
    try {
        if (max) {
            if (attr_int(n, "storage_order", 0) != 0 && n.output_size() > 1) unsupported(n, "storage_order 1");
            layer = std::make_unique<MaxPool2d>(ctx_, k, s, pad, Pair((int)dil[0], (int)dil[1]), ceil_mode);
        } else {
            if (dil[0] != 1 || dil[1] != 1) unsupported(n, "dilated average pooling: vkconv's AvgPool2d has no dilation (as PyTorch)");
            const bool include_pad = attr_int(n, "count_include_pad", 0) != 0;
            if (include_pad && ceil_mode)
                unsupported(n, "count_include_pad with ceil_mode: ONNX divides by the whole kernel, PyTorch by the window clipped to the padded input");
            layer = std::make_unique<AvgPool2d>(ctx_, k, s, pad, ceil_mode, include_pad);
        }
    } catch (const OnnxUnsupported&) {
        throw;
    } catch (const Error& e) {
        unsupported(n, std::string("vkconv's pooling refuses it: ") + e.what());
    }
    Value out = add_layer(n, std::move(layer), {&x});
    if (out.shape != expect)
        unsupported(n, "output " + shape_str(out.shape) + " where ONNX's rule gives " + shape_str(expect) +
                           " (PyTorch's ceil_mode drops a last window that starts in the padding)");
    set_output(n, 0, std::move(out));
}

void Loader::map_batchnorm(const onnx::NodeProto& n) {
    only_first_output(n);
    const Value& x = input(n, 0);
    if (x.shape.size() != 4) unsupported(n, "a rank-" + std::to_string(x.shape.size()) + " input: vkconv's BatchNorm2d takes 4-D NCHW input only");
    if (opset_ < 9 && attr_int(n, "spatial", 1) != 1) unsupported(n, "spatial=0 (per-element statistics)");
    if (attr_int(n, "training_mode", 0) != 0) unsupported(n, "training_mode=1: vkconv runs inference only");
    const int64_t c = x.shape[1];
    const char* names[] = {"scale", "B", "mean", "var"};
    const char* params[] = {"weight", "bias", "running_mean", "running_var"};
    auto bn = std::make_unique<BatchNorm2d>(ctx_, static_cast<int>(c), attr_float(n, "epsilon", 1e-5f));
    for (int k = 0; k < 4; ++k) {
        const OnnxConst& v = const_input(n, k + 1, names[k]);
        if (v.numel() != c) throw Error(where(n) + ": " + names[k] + " has " + std::to_string(v.numel()) + " values for " + std::to_string(c) + " channels");
        bn->set_parameter(params[k], v.f);
    }
    set_output(n, 0, add_layer(n, std::move(bn), {&x}));
}

void Loader::map_gemm(const onnx::NodeProto& n) {
    const Value& a = input(n, 0);
    if (attr_int(n, "transA", 0) != 0) unsupported(n, "transA=1: vkconv's Linear takes A as [M, K]");
    const OnnxConst& b = const_input(n, 1, "B");
    if (a.shape.size() != 2 || b.shape.size() != 2) throw Error(where(n) + ": A and B must be 2-D (A " + shape_str(a.shape) + ", B " + shape_str(b.shape) + ")");
    const bool tb = attr_int(n, "transB", 0) != 0;
    const int64_t k = tb ? b.shape[1] : b.shape[0], nout = tb ? b.shape[0] : b.shape[1];
    if (a.shape[1] != k) throw Error(where(n) + ": A " + shape_str(a.shape) + " and B " + shape_str(b.shape) + (tb ? " (transposed)" : "") + " cannot be multiplied");
    const float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
    std::vector<float> w(static_cast<size_t>(k * nout));
    for (int64_t o = 0; o < nout; ++o)
        for (int64_t i = 0; i < k; ++i)
            w[static_cast<size_t>(o * k + i)] = alpha * b.f[static_cast<size_t>(tb ? o * k + i : i * nout + o)];
    const bool bias = has_input(n, 2) && beta != 0.0f;
    auto lin = std::make_unique<Linear>(ctx_, static_cast<int>(k), static_cast<int>(nout), bias);
    lin->set_weight(w);
    if (bias) {
        const OnnxConst& c = const_input(n, 2, "C");
        std::vector<float> bv(static_cast<size_t>(nout));
        if (c.numel() == 1) {
            std::fill(bv.begin(), bv.end(), beta * c.f[0]);
        } else if (c.numel() == nout && (c.shape.size() == 1 || (c.shape.size() == 2 && c.shape[0] == 1))) {
            for (size_t o = 0; o < bv.size(); ++o) bv[o] = beta * c.f[o];
        } else {
            unsupported(n, "C of shape " + shape_str(c.shape) + ": vkconv's Linear adds a bias per output column ([N] or [1, N]) only");
        }
        lin->set_bias(bv);
    }
    set_output(n, 0, add_layer(n, std::move(lin), {&a}));
}

void Loader::map_matmul(const onnx::NodeProto& n) {
    const Value& a = dynamic_input(n, 0);
    const OnnxConst& b = const_input(n, 1, "B");
    if (b.shape.size() != 2) unsupported(n, "B of shape " + shape_str(b.shape) + ": vkconv maps MatMul by a constant 2-D matrix onto Linear only");
    if (a.shape.empty()) throw Error(where(n) + ": A is a scalar");
    const int64_t k = b.shape[0], nout = b.shape[1];
    std::vector<float> w(static_cast<size_t>(k * nout));
    for (int64_t o = 0; o < nout; ++o)
        for (int64_t i = 0; i < k; ++i) w[static_cast<size_t>(o * k + i)] = b.f[static_cast<size_t>(i * nout + o)];
    auto lin = std::make_unique<Linear>(ctx_, static_cast<int>(k), static_cast<int>(nout), false);
    lin->set_weight(w);
    set_output(n, 0, add_layer(n, std::move(lin), {&a}));
}

// Reshape of a device value: a Reshape view.
void Loader::map_reshape(const onnx::NodeProto& n, const Shape& target) {
    const Value& x = dynamic_input(n, 0);
    if (target == x.shape) {
        set_output(n, 0, x);
        return;
    }
    set_output(n, 0, add_layer(n, std::make_unique<Reshape>(ctx_, target), {&x}));
}

void Loader::map_flatten(const onnx::NodeProto& n) {
    const Value& x = input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    int64_t axis = attr_int(n, "axis", 1);
    if (axis < -r || axis > r) throw Error(where(n) + ": axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
    if (axis < 0) axis += r;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < r; ++d) (d < axis ? outer : inner) *= x.shape[static_cast<size_t>(d)];
    map_reshape(n, Shape{outer, inner});
}

void Loader::map_softmax(const onnx::NodeProto& n) {
    const Value& x = dynamic_input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    int64_t axis = attr_int(n, "axis", opset_ < 13 ? 1 : -1);
    axis = wrap_axis(axis, std::max<int64_t>(r, 1), where(n));
    if (opset_ < 13 && axis != r - 1) {
        // Before opset 13 Softmax normalises over all dims from `axis` on; with only size-1 dims
        // after the last one, that is Softmax over the last one.
        int64_t trailing = 1;
        for (int64_t d = axis + 1; d < r; ++d) trailing *= x.shape[static_cast<size_t>(d)];
        if (trailing != 1)
            unsupported(n, "opset " + std::to_string(opset_) + " Softmax over dims " + std::to_string(axis) + ".." + std::to_string(r - 1) +
                               " together: vkconv's Softmax normalises along one dim");
    }
    set_output(n, 0, add_layer(n, std::make_unique<Softmax>(ctx_, static_cast<int>(axis)), {&x}));
}

// Add/Sub/Mul/Div with numpy (= PyTorch) broadcasting: a constant of one element becomes the
// layer's scalar, another constant a Constant layer.
void Loader::map_binary(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const BinaryOp bop = op == "Add" ? BinaryOp::Add : op == "Sub" ? BinaryOp::Sub : op == "Mul" ? BinaryOp::Mul : BinaryOp::Div;
    const Value& a0 = input(n, 0);
    const Value& b0 = input(n, 1);
    for (const Value* v : {&a0, &b0})
        if (v->is_const && v->c.is_int) unsupported(n, "an integer operand; vkconv computes float32 only");
    auto scalar_of = [&](const Value& c, const Value& other) {
        return c.is_const && !other.is_const && c.c.numel() == 1 && c.shape.size() <= other.shape.size();
    };
    if (scalar_of(b0, a0)) return set_output(n, 0, add_layer(n, std::make_unique<Binary>(ctx_, bop, double(b0.c.f[0]), false), {&a0}));
    if (scalar_of(a0, b0)) return set_output(n, 0, add_layer(n, std::make_unique<Binary>(ctx_, bop, double(a0.c.f[0]), true), {&b0}));
    const Value& a = dynamic_input(n, 0);
    const Value& b = dynamic_input(n, 1);
    set_output(n, 0, add_layer(n, std::make_unique<Binary>(ctx_, bop), {&a, &b}));
}

void Loader::map_activation(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const Value& x = dynamic_input(n, 0);
    std::unique_ptr<Layer> layer;
    if (op == "Relu") {
        layer = std::make_unique<ReLU>(ctx_);
    } else if (op == "Clip") {
        double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
        if (opset_ < 11) {
            lo = attr_float(n, "min", -std::numeric_limits<float>::infinity());
            hi = attr_float(n, "max", std::numeric_limits<float>::infinity());
        } else {
            if (has_input(n, 1)) lo = const_input(n, 1, "min").at(0);
            if (has_input(n, 2)) hi = const_input(n, 2, "max").at(0);
        }
        if (lo == 0.0 && hi == 6.0) layer = std::make_unique<ReLU6>(ctx_);
        else if (std::isinf(lo) && lo < 0 && std::isinf(hi)) return set_output(n, 0, x);
        else layer = std::make_unique<Hardtanh>(ctx_, std::max(lo, double(-FLT_MAX)), std::min(hi, double(FLT_MAX)));
    } else if (op == "LeakyRelu") {
        layer = std::make_unique<LeakyReLU>(ctx_, attr_float(n, "alpha", 0.01f));
    } else if (op == "Elu") {
        layer = std::make_unique<ELU>(ctx_, attr_float(n, "alpha", 1.0f));
    } else if (op == "Sigmoid") {
        layer = std::make_unique<Sigmoid>(ctx_);
    } else if (op == "Tanh") {
        layer = std::make_unique<Tanh>(ctx_);
    } else if (op == "HardSwish") {
        layer = std::make_unique<Hardswish>(ctx_);
    } else if (op == "HardSigmoid") {
        const float alpha = attr_float(n, "alpha", 0.2f), beta = attr_float(n, "beta", 0.5f);
        if (std::fabs(alpha - 1.0f / 6.0f) > 1e-7f || beta != 0.5f)
            unsupported(n, "alpha " + std::to_string(alpha) + ", beta " + std::to_string(beta) +
                               ": vkconv's Hardsigmoid is PyTorch's (alpha 1/6, beta 0.5)");
        layer = std::make_unique<Hardsigmoid>(ctx_);
    } else if (op == "PRelu") {
        const OnnxConst& slope = const_input(n, 1, "slope");
        const int64_t c = x.shape.size() >= 2 ? x.shape[1] : 1;
        // PyTorch's per-channel weight exports as [C, 1, ..., 1] (or [C] for 2-D input).
        bool per_channel = slope.numel() == c && c > 1;
        if (per_channel) {
            const size_t lead = x.shape.size() - slope.shape.size();
            per_channel = slope.shape.size() < x.shape.size() && lead <= 1;
            for (size_t d = 0; per_channel && d < slope.shape.size(); ++d) per_channel = slope.shape[d] == (d + lead == 1 ? c : 1);
        }
        if (slope.numel() != 1 && !per_channel)
            unsupported(n, "slope of shape " + shape_str(slope.shape) + " for input " + shape_str(x.shape) +
                               ": vkconv's PReLU takes one slope or one per channel (dim 1)");
        auto p = std::make_unique<PReLU>(ctx_, static_cast<int>(slope.numel()));
        p->set_parameter("weight", slope.f);
        layer = std::move(p);
    }
    set_output(n, 0, add_layer(n, std::move(layer), {&x}));
}

void Loader::map_conv_transpose(const onnx::NodeProto& n) {
    const Value& x = input(n, 0);
    const OnnxConst& w = const_input(n, 1, "the weight W");
    const size_t r = x.shape.size();
    if (r != 4)
        unsupported(n, std::to_string(r >= 2 ? r - 2 : 0) + "-D transposed convolution (input " + shape_str(x.shape) +
                           "): vkconv's ConvTranspose2d takes 4-D NCHW input only");
    if (w.shape.size() != 4) throw Error(where(n) + ": weight of shape " + shape_str(w.shape) + " for a 4-D input");
    const std::string mode = attr_string(n, "auto_pad", "NOTSET");
    if (mode != "NOTSET" && mode != "VALID") unsupported(n, "auto_pad " + mode + " (asymmetric padding)");
    const int64_t groups = attr_int(n, "group", 1);
    const auto strides = attr_ints(n, "strides").value_or(std::vector<int64_t>{1, 1});
    const auto dil = attr_ints(n, "dilations").value_or(std::vector<int64_t>{1, 1});
    const auto pads = mode == "VALID" ? std::vector<int64_t>{0, 0, 0, 0} : attr_ints(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
    const auto opad = attr_ints(n, "output_padding").value_or(std::vector<int64_t>{0, 0});
    if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4 || opad.size() != 2)
        throw Error(where(n) + ": strides, dilations, pads and output_padding must have 2, 2, 4 and 2 values");
    if (pads[0] != pads[2] || pads[1] != pads[3])
        unsupported(n, "asymmetric pads " + ints_str(pads) + ": vkconv's ConvTranspose2d pads symmetrically");
    for (int64_t v : {strides[0], strides[1], dil[0], dil[1], groups})
        if (v <= 0 || v > INT_MAX) throw Error(where(n) + ": strides, dilations and group must be positive");
    for (int64_t v : {pads[0], pads[1], opad[0], opad[1]})
        if (v < 0 || v > INT_MAX) throw Error(where(n) + ": pads and output_padding must be non-negative");
    if (x.shape[1] != w.shape[0]) throw Error(where(n) + ": weight " + shape_str(w.shape) + " does not fit input " + shape_str(x.shape));
    ConvTranspose2dParams p;
    p.in_channels = static_cast<int>(w.shape[0]);
    p.out_channels = static_cast<int>(w.shape[1] * groups);
    p.kernel = Pair(static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3]));
    p.options.stride = Pair(static_cast<int>(strides[0]), static_cast<int>(strides[1]));
    p.options.padding = Pair(static_cast<int>(pads[0]), static_cast<int>(pads[1]));
    p.options.dilation = Pair(static_cast<int>(dil[0]), static_cast<int>(dil[1]));
    p.options.groups = static_cast<int>(groups);
    p.options.output_padding = Pair(static_cast<int>(opad[0]), static_cast<int>(opad[1]));
    p.options.bias = has_input(n, 2);
    if (const auto os = attr_ints(n, "output_shape")) {
        try {
            p.options.output_padding = conv_transpose2d_output_padding(p, x.shape, *os);
        } catch (const Error& e) {
            unsupported(n, std::string("output_shape ") + ints_str(*os) + ": " + e.what());
        }
    }
    std::unique_ptr<ConvTranspose2d> ct;
    try {
        ct = std::make_unique<ConvTranspose2d>(ctx_, p);
    } catch (const Error& e) {
        unsupported(n, std::string("vkconv's ConvTranspose2d refuses it: ") + e.what());
    }
    ct->set_parameter("weight", w.f);
    if (p.options.bias) ct->set_parameter("bias", const_input(n, 2, "the bias B").f);
    set_output(n, 0, add_layer(n, std::move(ct), {&x}));
}

// ReduceMean/ReduceMax over the two spatial dims of a 4-D tensor (global pooling).
void Loader::map_reduce(const onnx::NodeProto& n) {
    const Value& x = dynamic_input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    auto axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    if (axes.empty()) unsupported(n, "a reduction over every dim: vkconv reduces over (H, W) only");
    for (auto& a : axes) a = wrap_axis(a, r, where(n));
    std::sort(axes.begin(), axes.end());
    if (r < 3 || axes != std::vector<int64_t>{r - 2, r - 1})
        unsupported(n, "axes " + ints_str(axes) + " of a rank-" + std::to_string(r) + " input: vkconv reduces over the last two dims (H, W) only");
    const bool keep = attr_int(n, "keepdims", 1) != 0;
    std::unique_ptr<Layer> layer;
    if (n.op_type() == "ReduceMean") layer = std::make_unique<Mean>(ctx_, std::vector<int>{int(r - 2), int(r - 1)}, keep);
    else layer = std::make_unique<Amax>(ctx_, std::vector<int>{int(r - 2), int(r - 1)}, keep);
    set_output(n, 0, add_layer(n, std::move(layer), {&x}));
}

void Loader::map_concat(const onnx::NodeProto& n) {
    std::vector<const Value*> ins;
    for (int k = 0; k < n.input_size(); ++k) ins.push_back(&dynamic_input(n, k));
    if (ins.empty()) throw Error(where(n) + ": no inputs");
    const auto axis = wrap_axis(attr_int(n, "axis", 0), static_cast<int64_t>(ins[0]->shape.size()), where(n));
    set_output(n, 0, add_layer(n, std::make_unique<Cat>(ctx_, static_cast<int>(ins.size()), static_cast<int>(axis)), ins));
}

void Loader::map_split(const onnx::NodeProto& n) {
    const Value& x = dynamic_input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    if (r == 1) unsupported(n, "Split of a 1-D tensor: the engine's Split view of a 1-D model input gives a wrong shape (not mapped)");
    const auto axis = wrap_axis(attr_int(n, "axis", 0), r, where(n));
    std::vector<int64_t> sections;
    if (opset_ >= 13) {
        if (has_input(n, 1)) sections = const_ints(n, 1, "split");
    } else {
        sections = attr_ints(n, "split").value_or(std::vector<int64_t>{});
    }
    const int64_t dim = x.shape[static_cast<size_t>(axis)], outs = n.output_size();
    if (sections.empty()) {
        if (dim % outs != 0) unsupported(n, "an even split of " + std::to_string(dim) + " into " + std::to_string(outs));
        sections.assign(static_cast<size_t>(outs), dim / outs);
    }
    if (static_cast<int64_t>(sections.size()) != outs) throw Error(where(n) + ": split has " + std::to_string(sections.size()) + " sizes for " + std::to_string(outs) + " outputs");
    for (int k = 0; k < n.output_size(); ++k) {
        if (n.output(k).empty() || !needed_.count(n.output(k))) continue;
        set_output(n, k, add_layer(n, std::make_unique<Split>(ctx_, sections, static_cast<int>(axis), k), {&x}));
    }
}

void Loader::map_layer_norm(const onnx::NodeProto& n) {
    only_first_output(n);
    const Value& x = dynamic_input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    const int64_t axis = wrap_axis(attr_int(n, "axis", -1), r, where(n));
    if (attr_int(n, "stash_type", 1) != 1) unsupported(n, "stash_type other than float");
    const Shape normalized(x.shape.begin() + axis, x.shape.end());
    const OnnxConst& scale = const_input(n, 1, "Scale");
    const bool has_b = has_input(n, 2);
    if (scale.shape != normalized) unsupported(n, "Scale of shape " + shape_str(scale.shape) + " for normalized shape " + shape_str(normalized));
    auto ln = std::make_unique<LayerNorm>(ctx_, normalized, attr_float(n, "epsilon", 1e-5f), true);
    ln->set_parameter("weight", scale.f);
    if (has_b) {
        const OnnxConst& b = const_input(n, 2, "B");
        if (b.shape != normalized) unsupported(n, "B of shape " + shape_str(b.shape) + " for normalized shape " + shape_str(normalized));
        ln->set_parameter("bias", b.f);
    } else {
        ln->set_parameter("bias", std::vector<float>(static_cast<size_t>(shape_numel(normalized)), 0.0f));
    }
    set_output(n, 0, add_layer(n, std::move(ln), {&x}));
}

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
    if (op == "Softmax") return map_softmax(n);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return map_binary(n);
    if (op == "Relu" || op == "Clip" || op == "LeakyRelu" || op == "Elu" || op == "Sigmoid" || op == "Tanh" ||
        op == "HardSwish" || op == "HardSigmoid" || op == "PRelu")
        return map_activation(n);
    if (op == "ConvTranspose") return map_conv_transpose(n);
    if (op == "ReduceMean" || op == "ReduceMax") return map_reduce(n);
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
    for (int k = 0; k < g_.node_size(); ++k) {
        if (!live[static_cast<size_t>(k)]) continue;
        const auto& n = g_.node(k);
        for (const auto& a : n.attribute())
            if (a.type() == onnx::AttributeProto::GRAPH || a.type() == onnx::AttributeProto::GRAPHS)
                throw OnnxUnsupported(where(n) + ": unsupported operator '" + n.op_type() + "' (control flow with subgraphs); supported: " +
                                      join(onnx_supported_operators()));
        map_node(n);
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

}  // namespace

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
