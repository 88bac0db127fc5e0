// ONNX nodes -> layers: Gemm/MatMul, reshapes, Softmax, element-wise ops and activations,
// reductions, Concat/Split, LayerNormalization.
#include "onnx/loader.h"

namespace vkconv::onnx_impl {

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

void Loader::map_unary_math(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const Value& x = dynamic_input(n, 0);
    std::unique_ptr<Layer> layer;
    if (op == "Erf") {
        layer = std::make_unique<Erf>(ctx_);
    } else if (op == "Sqrt") {
        layer = std::make_unique<Sqrt>(ctx_);
    } else {
        const Value& e = input(n, 1);
        if (!e.is_const) unsupported(n, "an exponent computed at run time: vkconv's Pow takes a constant exponent");
        if (e.c.numel() != 1) unsupported(n, "an exponent of shape " + shape_str(e.c.shape) + ": vkconv's Pow takes one constant exponent");
        if (e.shape.size() > x.shape.size())
            unsupported(n, "an exponent of rank " + std::to_string(e.shape.size()) + " broadcasting the rank-" + std::to_string(x.shape.size()) + " base");
        layer = std::make_unique<Pow>(ctx_, static_cast<float>(e.c.at(0)));
    }
    set_output(n, 0, add_layer(n, std::move(layer), {&x}));
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
            unsupported(n, "opset " + std::to_string(opset_) + " " + n.op_type() + " over dims " + std::to_string(axis) + ".." + std::to_string(r - 1) +
                               " together: vkconv's " + n.op_type() + " normalises along one dim");
    }
    std::unique_ptr<Layer> layer;
    if (n.op_type() == "LogSoftmax") layer = std::make_unique<LogSoftmax>(ctx_, static_cast<int>(axis));
    else layer = std::make_unique<Softmax>(ctx_, static_cast<int>(axis));
    set_output(n, 0, add_layer(n, std::move(layer), {&x}));
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


// ReduceMean/ReduceMax/ReduceMin/ReduceSum over any set of axes, composed from layers: a Permute
// moving the reduced axes last (none when they already are), a Reshape view to
// [1, outer, 1, inner], the Mean/Amax over (H, W) reducing `inner`, and a Reshape view to the
// output shape. Axes over the last two dims of a rank >= 3 input map straight onto Mean/Amax.
// ReduceMin is -Amax(-x) (exact; NaN stays NaN), ReduceSum is Mean * inner (one more fp32
// rounding than a plain sum: a relative error of 2^-24).
void Loader::map_reduce(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    const Value& x = dynamic_input(n, 0);
    const auto r = static_cast<int64_t>(x.shape.size());
    const bool max = op == "ReduceMax" || op == "ReduceMin", negate = op == "ReduceMin", sum = op == "ReduceSum";
    std::vector<int64_t> axes;
    if (sum && opset_ >= 13) {
        if (has_input(n, 1)) axes = const_ints(n, 1, "axes");
        if (axes.empty() && attr_int(n, "noop_with_empty_axes", 0) != 0) return set_output(n, 0, x);
    } else {
        axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    }
    if (axes.empty())  // ONNX: no axes reduces over all of them
        for (int64_t d = 0; d < r; ++d) axes.push_back(d);
    for (auto& a : axes) a = wrap_axis(a, r, where(n));
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) throw Error(where(n) + ": axes " + ints_str(axes) + " repeat an axis");
    const bool keep = attr_int(n, "keepdims", 1) != 0;
    std::vector<bool> reduced(static_cast<size_t>(r), false);
    for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
    std::vector<int> perm;
    Shape out;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < r; ++d) {
        const int64_t size = x.shape[static_cast<size_t>(d)];
        if (reduced[static_cast<size_t>(d)]) {
            inner *= size;
            if (keep) out.push_back(1);
        } else {
            perm.push_back(static_cast<int>(d));
            outer *= size;
            out.push_back(size);
        }
    }
    for (int64_t a : axes) perm.push_back(static_cast<int>(a));
    if (inner == 0 && outer != 0 && op != "ReduceMean")
        unsupported(n, "a reduction over no elements (input " + shape_str(x.shape) + ", axes " + ints_str(axes) + ")");
    Value v = x;
    if (negate) v = add_layer(n, std::make_unique<Binary>(ctx_, BinaryOp::Mul, -1.0), {&v});
    auto reduce_hw = [&](std::vector<int> dims, bool keepdim) -> std::unique_ptr<Layer> {
        if (max) return std::make_unique<Amax>(ctx_, std::move(dims), keepdim);
        return std::make_unique<Mean>(ctx_, std::move(dims), keepdim);
    };
    if (r >= 3 && axes == std::vector<int64_t>{r - 2, r - 1}) {
        v = add_layer(n, reduce_hw({int(r - 2), int(r - 1)}, keep), {&v});
    } else {
        bool identity = true;
        for (size_t d = 0; d < perm.size(); ++d) identity = identity && perm[d] == static_cast<int>(d);
        if (!identity) v = add_layer(n, std::make_unique<Permute>(ctx_, perm), {&v});
        const Shape rows{1, outer, 1, inner};
        if (v.shape != rows) v = add_layer(n, std::make_unique<Reshape>(ctx_, rows), {&v});
        v = add_layer(n, reduce_hw({2, 3}, false), {&v});
        if (v.shape != out) v = add_layer(n, std::make_unique<Reshape>(ctx_, out), {&v});
    }
    if (negate) v = add_layer(n, std::make_unique<Binary>(ctx_, BinaryOp::Mul, -1.0), {&v});
    if (sum && inner != 1) v = add_layer(n, std::make_unique<Binary>(ctx_, BinaryOp::Mul, static_cast<double>(inner)), {&v});
    set_output(n, 0, v);
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

Loader::SliceArgs Loader::slice_args(const onnx::NodeProto& n) const {
    SliceArgs a;
    if (opset_ < 10) {
        a.starts = attr_ints(n, "starts").value_or(std::vector<int64_t>{});
        a.ends = attr_ints(n, "ends").value_or(std::vector<int64_t>{});
        a.axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    } else {
        a.starts = const_ints(n, 1, "starts");
        a.ends = const_ints(n, 2, "ends");
        if (has_input(n, 3)) a.axes = const_ints(n, 3, "axes");
        if (has_input(n, 4)) a.steps = const_ints(n, 4, "steps");
    }
    if (a.axes.empty())
        for (size_t d = 0; d < a.starts.size(); ++d) a.axes.push_back(static_cast<int64_t>(d));
    if (a.steps.empty()) a.steps.assign(a.starts.size(), 1);
    if (a.ends.size() != a.starts.size() || a.axes.size() != a.starts.size() || a.steps.size() != a.starts.size())
        throw Error(where(n) + ": starts, ends, axes and steps differ in length");
    return a;
}

// Slice of a device value with step 1 (channel ranges, x.chunk): one Split view per sliced axis.
void Loader::map_slice(const onnx::NodeProto& n) {
    const Value* x = &dynamic_input(n, 0);
    const auto rank = static_cast<int64_t>(x->shape.size());
const auto [starts, ends, axes, steps] = slice_args(n);
    Value v = *x;
    for (size_t k = 0; k < starts.size(); ++k) {
        const auto a = static_cast<size_t>(wrap_axis(axes[k], rank, where(n)));
        if (steps[k] != 1) unsupported(n, "step " + std::to_string(steps[k]) + ": vkconv slices computed tensors with step 1 only");
        const int64_t dim = v.shape[a];
        auto clampi = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + dim : i, 0, dim); };
        const int64_t b = clampi(starts[k]), e = std::max(b, clampi(ends[k]));
        if (b == 0 && e == dim) continue;
        std::vector<int64_t> sections;
        if (b > 0) sections.push_back(b);
        const int index = static_cast<int>(sections.size());
        sections.push_back(e - b);
        if (e < dim) sections.push_back(dim - e);
        v = add_layer(n, std::make_unique<Split>(ctx_, sections, static_cast<int>(a), index), {&v});
    }
    set_output(n, 0, v);
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


}  // namespace vkconv::onnx_impl
