// ONNX patterns mapped as one layer: the chains torch.onnx emits for functions ONNX (opsets
// 6-17) has no operator for.
//   GELU       Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5          (nn.GELU())
//   LayerNorm  ReduceMean(x) -> Sub -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div
//              [-> Mul weight [-> Add bias]] over the last axes               (opsets < 17)
// Each intermediate must be read only inside the chain (and not be a graph output); otherwise
// the nodes are mapped one by one.
#include "onnx/loader.h"

namespace vkconv::onnx_impl {
namespace {

bool is_op(const onnx::NodeProto& n, const char* op) {
    return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx") && n.output_size() == 1;
}

bool scalar_near(const OnnxConst* c, double v, double tol) { return c && c->numel() == 1 && std::fabs(c->at(0) - v) <= tol; }

}  // namespace

int Loader::sole_consumer(const std::string& value) const {
    if (graph_outputs_.count(value)) return -1;
    auto it = consumers_.find(value);
    if (it == consumers_.end() || it->second.size() != 1) return -1;
    return it->second[0];
}

const OnnxConst* Loader::maybe_const(const onnx::NodeProto& n, int i) const {
    if (i >= n.input_size() || n.input(i).empty()) return nullptr;
    auto it = values_.find(n.input(i));
    if (it == values_.end() || !it->second.is_const || it->second.c.is_int) return nullptr;
    return &it->second.c;
}

bool Loader::map_pattern(int k) {
    const std::string& op = g_.node(k).op_type();
    if (op == "Div") return map_gelu_pattern(k);
    if (op == "ReduceMean") return map_layer_norm_pattern(k);
    return false;
}

bool Loader::map_gelu_pattern(int k) {
    const auto& div = g_.node(k);
    if (!is_op(div, "Div") || div.input_size() != 2 || !scalar_near(maybe_const(div, 1), std::sqrt(2.0), 1e-6)) return false;
    const std::string& x = div.input(0);
    auto xv = values_.find(x);
    if (xv == values_.end() || xv->second.is_const) return false;
    // The other operand of a two-input node, given one of them.
    auto other = [](const onnx::NodeProto& n, const std::string& one) -> int {
        if (n.input_size() != 2) return -1;
        if (n.input(0) == one) return 1;
        if (n.input(1) == one) return 0;
        return -1;
    };
    const int e = sole_consumer(div.output(0));
    if (e < 0 || !is_op(g_.node(e), "Erf")) return false;
    const auto& erf = g_.node(e);
    const int a = sole_consumer(erf.output(0));
    if (a < 0 || !is_op(g_.node(a), "Add")) return false;
    const auto& add = g_.node(a);
    const int ai = other(add, erf.output(0));
    if (ai < 0 || !scalar_near(maybe_const(add, ai), 1.0, 0.0)) return false;
    const int m1 = sole_consumer(add.output(0));
    if (m1 < 0 || !is_op(g_.node(m1), "Mul")) return false;
    const auto& mul1 = g_.node(m1);
    const int mi = other(mul1, add.output(0));
    if (mi < 0 || mul1.input(mi) != x) return false;
    const int m2 = sole_consumer(mul1.output(0));
    if (m2 < 0 || !is_op(g_.node(m2), "Mul")) return false;
    const auto& mul2 = g_.node(m2);
    const int hi = other(mul2, mul1.output(0));
    if (hi < 0 || !scalar_near(maybe_const(mul2, hi), 0.5, 0.0)) return false;
    const Value& in = xv->second;
    set_output(mul2, 0, add_layer(mul2, std::make_unique<GELU>(ctx_), {&in}));
    for (int j : {e, a, m1, m2}) done_[static_cast<size_t>(j)] = true;
    return true;
}

bool Loader::map_layer_norm_pattern(int k) {
    const auto& mean = g_.node(k);
    if (!is_op(mean, "ReduceMean") || mean.input_size() != 1 || attr_int(mean, "keepdims", 1) != 1) return false;
    const std::string& x = mean.input(0);
    auto xv = values_.find(x);
    if (xv == values_.end() || xv->second.is_const) return false;
    const auto r = static_cast<int64_t>(xv->second.shape.size());
    auto axes_of = [&](const onnx::NodeProto& n) {
        auto axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
        for (auto& v : axes) {
            if (v < -r || v >= r) return std::vector<int64_t>{};
            if (v < 0) v += r;
        }
        std::sort(axes.begin(), axes.end());
        return axes;
    };
    const auto axes = axes_of(mean);
    if (axes.empty() || axes.back() != r - 1) return false;
    for (size_t j = 1; j < axes.size(); ++j)
        if (axes[j] != axes[j - 1] + 1) return false;  // the last axes, contiguous
    const int s = sole_consumer(mean.output(0));
    if (s < 0 || !is_op(g_.node(s), "Sub")) return false;
    const auto& sub = g_.node(s);
    if (sub.input_size() != 2 || sub.input(0) != x || sub.input(1) != mean.output(0)) return false;
    const std::string& d = sub.output(0);
    if (graph_outputs_.count(d) || !consumers_.count(d) || consumers_.at(d).size() != 2) return false;
    int p = -1, q = -1;  // Pow and Div
    for (int c : consumers_.at(d)) {
        if (is_op(g_.node(c), "Pow")) p = c;
        else if (is_op(g_.node(c), "Div")) q = c;
    }
    if (p < 0 || q < 0) return false;
    const auto& pow = g_.node(p);
    if (pow.input_size() != 2 || pow.input(0) != d || !scalar_near(maybe_const(pow, 1), 2.0, 0.0)) return false;
    const int m2 = sole_consumer(pow.output(0));
    if (m2 < 0 || !is_op(g_.node(m2), "ReduceMean")) return false;
    const auto& var = g_.node(m2);
    if (axes_of(var) != axes || attr_int(var, "keepdims", 1) != 1) return false;
    const int ae = sole_consumer(var.output(0));
    if (ae < 0 || !is_op(g_.node(ae), "Add")) return false;
    const auto& add_eps = g_.node(ae);
    if (add_eps.input_size() != 2 || add_eps.input(0) != var.output(0)) return false;
    const OnnxConst* eps = maybe_const(add_eps, 1);
    if (!eps || eps->numel() != 1 || !(eps->at(0) >= 0)) return false;
    const int sq = sole_consumer(add_eps.output(0));
    if (sq < 0 || !is_op(g_.node(sq), "Sqrt")) return false;
    const auto& div = g_.node(q);
    if (div.input_size() != 2 || div.input(0) != d || div.input(1) != g_.node(sq).output(0) || sole_consumer(g_.node(sq).output(0)) != q)
        return false;
    const Shape normalized(xv->second.shape.begin() + axes.front(), xv->second.shape.end());
    const int64_t count = shape_numel(normalized);
    // A constant that broadcasts along the normalized axes only: [..., normalized] with leading 1s.
    auto per_element = [&](const OnnxConst* c) {
        if (!c || c->numel() != count || c->shape.size() < normalized.size()) return false;
        for (size_t j = 0; j < c->shape.size(); ++j) {
            const size_t lead = c->shape.size() - normalized.size();
            if (j < lead ? c->shape[j] != 1 : c->shape[j] != normalized[j - lead]) return false;
        }
        return true;
    };
    std::vector<int> chain{s, p, m2, ae, sq, q};
    const onnx::NodeProto* last = &div;
    std::vector<float> weight(static_cast<size_t>(count), 1.0f), bias(static_cast<size_t>(count), 0.0f);
    if (const int mw = sole_consumer(div.output(0)); mw >= 0 && is_op(g_.node(mw), "Mul")) {
        const auto& mul = g_.node(mw);
        const int wi = mul.input_size() == 2 && mul.input(0) == div.output(0) ? 1 : 0;
        if (per_element(maybe_const(mul, wi))) {
            weight = maybe_const(mul, wi)->f;
            chain.push_back(mw);
            last = &mul;
            if (const int ab = sole_consumer(mul.output(0)); ab >= 0 && is_op(g_.node(ab), "Add")) {
                const auto& add = g_.node(ab);
                const int bi = add.input_size() == 2 && add.input(0) == mul.output(0) ? 1 : 0;
                if (per_element(maybe_const(add, bi))) {
                    bias = maybe_const(add, bi)->f;
                    chain.push_back(ab);
                    last = &add;
                }
            }
        }
    }
    auto ln = std::make_unique<LayerNorm>(ctx_, normalized, static_cast<float>(eps->at(0)), true);
    ln->set_parameter("weight", weight);
    ln->set_parameter("bias", bias);
    const Value& in = xv->second;
    set_output(*last, 0, add_layer(*last, std::move(ln), {&in}));
    for (int j : chain) done_[static_cast<size_t>(j)] = true;
    return true;
}

}  // namespace vkconv::onnx_impl
