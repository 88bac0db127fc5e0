// ONNX host folding: the shape computations torch.onnx emits (Shape, Gather, Unsqueeze, Concat,
// Reshape, Slice, Cast, arithmetic) evaluated on constants.
#include "onnx/loader.h"

namespace vkconv::onnx_impl {

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
        "LayerNormalization", "LeakyRelu", "MatMul", "MaxPool", "Mul", "PRelu", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu",
        "Reshape", "Shape", "Sigmoid", "Softmax", "Split", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
        "Erf", "LogSoftmax", "Pad", "Pow", "Resize", "Slice", "Sqrt", "Upsample"};
    return ops;
}

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
    int64_t known = 1, nonzero = 1;  // nonzero: bounds the dims beside a 0 too (an empty tensor's)
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
        if (v != 0 && nonzero > (int64_t(1) << 62) / v) throw Error(who + ": shape " + ints_str(spec) + " is too large");
        if (v != 0) nonzero *= v;
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
        const auto [starts, ends, axes, steps] = slice_args(n);
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


}  // namespace vkconv::onnx_impl
