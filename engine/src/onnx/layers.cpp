// ONNX nodes -> layers: naming and adding layers, constants as Constant layers; the 2-D image
// operators (Conv, ConvTranspose, MaxPool/AveragePool, BatchNormalization).
#include "onnx/loader.h"

namespace vkconv::onnx_impl {

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
    // A Pad before the convolution (map_pad) becomes its padding.
    const auto pad_it = pending_pads_.find(n.input_size() ? n.input(0) : std::string());
    const PendingPad* pad = pad_it == pending_pads_.end() ? nullptr : &pad_it->second;
    const Value& x = pad ? values_.at(pad->source) : input(n, 0);
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
    const int64_t in_h = x.shape[2] + (pad ? pad->top + pad->bottom : 0), in_w = x.shape[3] + (pad ? pad->left + pad->right : 0);
    auto [pt, pb] = auto_pads(mode, in_h, w.shape[2], strides[0], dil[0], pads[0], pads[2]);
    auto [pl, pr] = auto_pads(mode, in_w, w.shape[3], strides[1], dil[1], pads[1], pads[3]);
    PaddingMode padding_mode = PaddingMode::Zeros;
    if (pad && pad->mode == "constant") {
        pt += pad->top;
        pb += pad->bottom;
        pl += pad->left;
        pr += pad->right;
    } else if (pad) {
        if (pt || pb || pl || pr)
            unsupported(n, "a " + pad->mode + " Pad before a Conv that pads too: vkconv's Conv2d pads in one mode");
        if (pad->top != pad->bottom || pad->left != pad->right)
            unsupported(n, "an asymmetric " + pad->mode + " Pad (top, left, bottom, right) = (" + std::to_string(pad->top) + ", " +
                               std::to_string(pad->left) + ", " + std::to_string(pad->bottom) + ", " + std::to_string(pad->right) +
                               "): vkconv's Conv2d pads symmetrically in reflect and replicate modes");
        pt = pb = pad->top;
        pl = pr = pad->left;
        padding_mode = pad->mode == "reflect" ? PaddingMode::Reflect : PaddingMode::Replicate;
    }
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
    p.options.padding_mode = padding_mode;
    std::unique_ptr<Conv2d> conv;
    try {
        conv = std::make_unique<Conv2d>(ctx_, p);
    } catch (const Error& e) {
        unsupported(n, std::string("vkconv's Conv2d refuses it: ") + e.what());
    }
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
            layer = std::make_unique<MaxPool2d>(ctx_, k, MaxPool2dOptions{.stride = s, .padding = pad, .dilation = Pair((int)dil[0], (int)dil[1]), .ceil_mode = ceil_mode});
        } else {
            if (dil[0] != 1 || dil[1] != 1) unsupported(n, "dilated average pooling: vkconv's AvgPool2d has no dilation (as PyTorch)");
            const bool include_pad = attr_int(n, "count_include_pad", 0) != 0;
            if (include_pad && ceil_mode)
                unsupported(n, "count_include_pad with ceil_mode: ONNX divides by the whole kernel, PyTorch by the window clipped to the padded input");
            layer = std::make_unique<AvgPool2d>(ctx_, k, AvgPool2dOptions{.stride = s, .padding = pad, .ceil_mode = ceil_mode, .count_include_pad = include_pad});
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


}  // namespace vkconv::onnx_impl
