#include "model_json_layers.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "vkconv/activations.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/binary.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/layer_norm.h"
#include "vkconv/layers.h"
#include "vkconv/reduce.h"
#include "vkconv/shape_ops.h"
#include "vkconv/upsample.h"

namespace vkconv::model_json_detail {

void charge_parameters(ParameterBudget& budget, double count, const std::string& type) {
    if (count > budget.left)
        throw Error(type + ": the model declares more parameter values than " + budget.source + " (" +
                    std::to_string(static_cast<int64_t>(count)) + " values in this layer, " +
                    std::to_string(static_cast<int64_t>(budget.left)) + " left)");
    budget.left -= count;
}

namespace {

// An adaptive pooling's output_size: n, [h, w], with null entries (None: the input's size).
std::pair<std::optional<int>, std::optional<int>> adaptive_output_size(Args& a) {
    if (!a.has("output_size")) a.fail("output_size", "is required");
    const json& v = a.raw("output_size");
    if (v.is_array() && v.size() == 2 && (v[0].is_null() || v[1].is_null())) {
        for (const auto& e : v)
            if (!e.is_null() && !e.is_number_integer()) a.fail("output_size", "must be an integer or a list of two integers or nulls, but got " + v.dump());
        auto entry = [&](const json& e) -> std::optional<int> {
            if (e.is_null()) return std::nullopt;
            const auto x = e.get<int64_t>();
            if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) a.fail("output_size", "is out of range: " + v.dump());
            return static_cast<int>(x);
        };
        return {entry(v[0]), entry(v[1])};
    }
    const Pair p = a.pair("output_size");
    return {p.h, p.w};
}

// ConvTranspose2d, Upsample (and its two subclasses), AdaptiveMaxPool2d, Mean, Amax; null
// for other types.
std::unique_ptr<Layer> make_spatial_layer(Context& ctx, const std::string& type, Args& a, ParameterBudget& parameters_left) {
    if (type == "ConvTranspose2d") {
        ConvTranspose2dParams p;
        p.in_channels = a.integer("in_channels");
        p.out_channels = a.integer("out_channels");
        p.kernel = a.pair("kernel_size");
        p.options.stride = a.pair("stride", Pair(1));
        p.options.padding = a.pair("padding", Pair(0));
        p.options.output_padding = a.pair("output_padding", Pair(0));
        p.options.groups = a.integer("groups", 1);
        p.options.bias = a.boolean("bias", true);
        p.options.dilation = a.pair("dilation", Pair(1));
        p.options.padding_mode = a.string("padding_mode", "zeros");
        if (p.in_channels > 0 && p.out_channels > 0 && p.options.groups > 0 && p.kernel.h > 0 && p.kernel.w > 0)
            charge_parameters(parameters_left,
                              double(p.in_channels) * (p.out_channels / p.options.groups) * p.kernel.h * p.kernel.w +
                                  (p.options.bias ? p.out_channels : 0),
                              type);
        return std::make_unique<ConvTranspose2d>(ctx, p);
    }
    if (type == "Upsample" || type == "UpsamplingNearest2d" || type == "UpsamplingBilinear2d") {
        UpsampleOptions o;
        o.class_name = type;
        if (a.has("size") && !a.raw("size").is_null()) {
            const json& v = a.raw("size");
            if (v.is_number_integer()) o.size = {a.integer("size")};
            else {
                const Pair p = a.pair("size");
                o.size = {p.h, p.w};
            }
        }
        if (a.has("scale_factor") && !a.raw("scale_factor").is_null()) {
            const json& v = a.raw("scale_factor");
            if (v.is_number()) o.scale_factor = {v.get<double>()};
            else if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number())
                o.scale_factor = {v[0].get<double>(), v[1].get<double>()};
            else a.fail("scale_factor", "must be a number or a list of two numbers, but got " + v.dump());
        }
        const std::string default_mode = type == "UpsamplingBilinear2d" ? "bilinear" : "nearest";
        o.mode = a.string("mode", default_mode);
        if (type != "Upsample" && o.mode != default_mode) a.fail("mode", "must be '" + default_mode + "' for " + type);
        if (a.has("align_corners") && !a.raw("align_corners").is_null()) o.align_corners = a.boolean("align_corners", false);
        else if (type == "UpsamplingBilinear2d") o.align_corners = true;
        if (a.has("recompute_scale_factor") && !a.raw("recompute_scale_factor").is_null())
            o.recompute_scale_factor = a.boolean("recompute_scale_factor", false);
        return std::make_unique<Upsample>(ctx, o);
    }
    if (type == "AdaptiveMaxPool2d") {
        const auto [h, w] = adaptive_output_size(a);
        return std::make_unique<AdaptiveMaxPool2d>(ctx, h, w, a.boolean("return_indices", false));
    }
    if (type == "Mean" || type == "Amax") {
        std::vector<int> dim{2, 3};
        if (a.has("dim")) {
            const json& v = a.raw("dim");
            if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer())
                a.fail("dim", "must be a list of two integers (the H and W dims), but got " + v.dump());
            const Pair p = a.pair("dim");
            dim = {p.h, p.w};
        }
        const bool keepdim = a.boolean("keepdim", false);
        if (type == "Mean") return std::make_unique<Mean>(ctx, dim, keepdim);
        return std::make_unique<Amax>(ctx, dim, keepdim);
    }
    return nullptr;
}

// The layers of vkconv/shape_ops.h; nullptr for other types.
std::unique_ptr<Layer> make_shape_layer(Context& ctx, const std::string& type, Args& a, size_t num_inputs) {
    auto ints = [&](const std::string& k) {
        std::vector<int> out;
        for (int64_t v : a.integers(k)) {
            if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) a.fail(k, "is out of range");
            out.push_back(static_cast<int>(v));
        }
        return out;
    };
    if (type == "Cat") return std::make_unique<Cat>(ctx, static_cast<int>(std::max<size_t>(num_inputs, 1)), a.integer("dim", 0));
    if (type == "Chunk") {
        const int chunks = a.integer("chunks"), dim = a.integer("dim", 0), index = a.integer("index");
        return std::make_unique<Chunk>(ctx, chunks, dim, index);
    }
    if (type == "Split") {
        const int dim = a.integer("dim", 0), index = a.integer("index");
        if (a.is_array("split_size")) return std::make_unique<Split>(ctx, a.integers("split_size"), dim, index);
        return std::make_unique<Split>(ctx, static_cast<int64_t>(a.integer("split_size")), dim, index);
    }
    if (type == "Reshape") return std::make_unique<Reshape>(ctx, a.integers("shape"));
    if (type == "Permute") return std::make_unique<Permute>(ctx, ints("dims"));
    if (type == "Transpose") {
        const int d0 = a.integer("dim0"), d1 = a.integer("dim1");
        return std::make_unique<Transpose>(ctx, d0, d1);
    }
    return nullptr;
}

// The activation modules (vkconv/activations.h), with PyTorch's constructor arguments.
constexpr const char* kActivationTypes =
    "ReLU6, Hardtanh, LeakyReLU, PReLU, ELU, Sigmoid, Tanh, SiLU, Hardswish, Hardsigmoid, GELU";

std::unique_ptr<Layer> make_activation_layer(Context& ctx, const std::string& type, Args& a, ParameterBudget& parameters_left) {
    if (type == "ReLU6") return std::make_unique<ReLU6>(ctx, a.boolean("inplace", false));
    if (type == "Hardtanh") {
        const double lo = a.number("min_val", -1.0), hi = a.number("max_val", 1.0);
        return std::make_unique<Hardtanh>(ctx, lo, hi, a.boolean("inplace", false));
    }
    if (type == "LeakyReLU") {
        const double slope = a.number("negative_slope", 0.01);
        return std::make_unique<LeakyReLU>(ctx, slope, a.boolean("inplace", false));
    }
    if (type == "ELU") {
        const double alpha = a.number("alpha", 1.0);
        return std::make_unique<ELU>(ctx, alpha, a.boolean("inplace", false));
    }
    if (type == "PReLU") {
        const int n = a.integer("num_parameters", 1);
        if (n > 0) charge_parameters(parameters_left, n, type);
        return std::make_unique<PReLU>(ctx, n, a.number("init", 0.25));
    }
    if (type == "Sigmoid") return std::make_unique<Sigmoid>(ctx);
    if (type == "Tanh") return std::make_unique<Tanh>(ctx);
    if (type == "SiLU") return std::make_unique<SiLU>(ctx, a.boolean("inplace", false));
    if (type == "Hardswish") return std::make_unique<Hardswish>(ctx, a.boolean("inplace", false));
    if (type == "Hardsigmoid") return std::make_unique<Hardsigmoid>(ctx, a.boolean("inplace", false));
    if (type == "GELU") return std::make_unique<GELU>(ctx, a.string("approximate", "none"));
    return nullptr;
}

// Add, Sub, Mul, Div (vkconv/binary.h): two tensors (Add: the residual layer), a tensor and
// "scalar" ("scalar_first": scalar op tensor), or a stored "parameter" of "parameter_shape"
// ("parameter_first", default true: parameter op tensor).
std::unique_ptr<Layer> make_binary_layer(Context& ctx, const std::string& type, Args& a, ParameterBudget& parameters_left) {
    const BinaryOp op = type == "Add" ? BinaryOp::Add : type == "Sub" ? BinaryOp::Sub : type == "Mul" ? BinaryOp::Mul
                      : type == "Div" ? BinaryOp::Div : BinaryOp(99);
    if (op == BinaryOp(99)) return nullptr;
    if (a.has("scalar")) {
        const double v = a.number("scalar", 0.0);
        return std::make_unique<Binary>(ctx, op, v, a.boolean("scalar_first", false));
    }
    if (a.has("parameter")) {
        const std::string name = a.string("parameter", "");
        if (!a.has("parameter_shape")) a.fail("parameter_shape", "is required with 'parameter'");
        Shape shape;
        double count = 1;
        const json& js = a.raw("parameter_shape");
        if (!js.is_array() || js.size() > 8) a.fail("parameter_shape", "must be a list of at most 8 non-negative integers");
        for (const auto& d : js) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > std::numeric_limits<int32_t>::max())
                a.fail("parameter_shape", "must be a list of at most 8 non-negative integers, got " + js.dump());
            shape.push_back(d.get<int64_t>());
            count *= double(shape.back());
        }
        charge_parameters(parameters_left, count, type);
        return std::make_unique<Binary>(ctx, op, name, shape, a.boolean("parameter_first", true));
    }
    if (op == BinaryOp::Add) return nullptr;  // the Add layer
    return std::make_unique<Binary>(ctx, op);
}

}  // namespace

std::unique_ptr<Layer> make_layer(Context& ctx, const std::string& type, Args& a, size_t num_inputs,
                                  ParameterBudget& parameters_left) {
    if (auto shape = make_shape_layer(ctx, type, a, num_inputs)) return shape;
    if (type == "Conv2d") {
        Conv2dParams p;
        p.in_channels = a.integer("in_channels");
        p.out_channels = a.integer("out_channels");
        p.kernel = a.pair("kernel_size");
        p.options.stride = a.pair("stride", Pair(1));
        if (a.is_string("padding"))
            p.options.padding = Padding::parse(a.string("padding", ""));
        else
            p.options.padding = Padding(a.pair("padding", Pair(0)));
        p.options.dilation = a.pair("dilation", Pair(1));
        p.options.groups = a.integer("groups", 1);
        p.options.bias = a.boolean("bias", true);
        p.options.padding_mode = parse_padding_mode(a.string("padding_mode", "zeros"));
        if (p.in_channels > 0 && p.out_channels > 0 && p.options.groups > 0 && p.kernel.h > 0 && p.kernel.w > 0)
            charge_parameters(parameters_left,
                              double(p.out_channels) * (p.in_channels / p.options.groups) * p.kernel.h * p.kernel.w +
                                  (p.options.bias ? p.out_channels : 0),
                              type);
        return std::make_unique<Conv2d>(ctx, p);
    }
    if (type == "ReLU") {
        a.boolean("inplace", false);  // accepted for PyTorch compatibility; meaningless here
        return std::make_unique<ReLU>(ctx);
    }
    if (type == "MaxPool2d") {
        const Pair k = a.pair("kernel_size");
        const auto s = a.optional_pair("stride");
        const Pair p = a.pair("padding", Pair(0)), d = a.pair("dilation", Pair(1));
        const bool ceil = a.boolean("ceil_mode", false);
        if (a.boolean("return_indices", false)) a.fail("return_indices", "is not supported (inference only)");
        return std::make_unique<MaxPool2d>(ctx, k, MaxPool2dOptions{.stride = s, .padding = p, .dilation = d, .ceil_mode = ceil});
    }
    if (type == "AvgPool2d") {
        const Pair k = a.pair("kernel_size");
        const auto s = a.optional_pair("stride");
        const Pair p = a.pair("padding", Pair(0));
        const bool ceil = a.boolean("ceil_mode", false), cip = a.boolean("count_include_pad", true);
        return std::make_unique<AvgPool2d>(ctx, k, AvgPool2dOptions{.stride = s, .padding = p, .ceil_mode = ceil, .count_include_pad = cip, .divisor_override = a.optional_integer("divisor_override")});
    }
    if (type == "AdaptiveAvgPool2d") {
        const auto [h, w] = adaptive_output_size(a);
        return std::make_unique<AdaptiveAvgPool2d>(ctx, h, w);
    }
    if (auto l = make_spatial_layer(ctx, type, a, parameters_left)) return l;
    if (type == "BatchNorm2d") {
        const int n = a.integer("num_features");
        const double eps = a.number("eps", 1e-5), momentum = a.number("momentum", 0.1);
        const bool affine = a.boolean("affine", true), track = a.boolean("track_running_stats", true);
        if (n > 0) charge_parameters(parameters_left, (affine ? 2.0 * n : 0) + (track ? 2.0 * n + 1 : 0), type);
        return std::make_unique<BatchNorm2d>(ctx, n, eps, momentum, affine, track);
    }
    if (type == "Linear") {
        const int in = a.integer("in_features"), out = a.integer("out_features");
        const bool bias = a.boolean("bias", true);
        if (in > 0 && out > 0) charge_parameters(parameters_left, double(in) * out + (bias ? out : 0), type);
        return std::make_unique<Linear>(ctx, in, out, bias);
    }
    if (type == "Flatten") {
        const int s = a.integer("start_dim", 1), e = a.integer("end_dim", -1);
        return std::make_unique<Flatten>(ctx, s, e);
    }
    if (type == "Dropout") {
        a.boolean("inplace", false);
        return std::make_unique<Dropout>(ctx, a.number("p", 0.5));
    }
    if (type == "Softmax") return std::make_unique<Softmax>(ctx, a.integer("dim"));
    if (auto bin = make_binary_layer(ctx, type, a, parameters_left)) return bin;
    if (type == "Add") return std::make_unique<Add>(ctx, a.boolean("relu", false));
    if (auto act = make_activation_layer(ctx, type, a, parameters_left)) return act;
    if (type == "LayerNorm") {
        const json& js = a.has("normalized_shape") ? a.raw("normalized_shape") : json();
        Shape shape;
        double count = 1;
        if (js.is_number_integer()) shape.push_back(a.integer("normalized_shape"));
        else if (js.is_array() && !js.empty() && js.size() <= 8)
            for (const auto& d : js) {
                if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > std::numeric_limits<int32_t>::max())
                    a.fail("normalized_shape", "must be an integer or a list of 1 to 8 non-negative integers, got " + js.dump());
                shape.push_back(d.get<int64_t>());
            }
        else
            a.fail("normalized_shape", "must be an integer or a list of 1 to 8 non-negative integers, got " + js.dump());
        for (auto d : shape) count *= double(std::max<int64_t>(d, 0));
        const double eps = a.number("eps", 1e-5);
        const bool affine = a.boolean("elementwise_affine", true);
        if (affine) charge_parameters(parameters_left, 2 * count, type);
        return std::make_unique<LayerNorm>(ctx, shape, eps, affine);
    }
    throw Error("unknown layer type '" + type +
                "'; supported: Conv2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, Linear, Flatten, Dropout, "
                "Softmax, Add, Sub, Mul, Div, LayerNorm, ConvTranspose2d, Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, "
                "AdaptiveMaxPool2d, Mean, Amax, Cat, Chunk, Split, Reshape, Permute, Transpose, " + std::string(kActivationTypes));
}

}  // namespace vkconv::model_json_detail
