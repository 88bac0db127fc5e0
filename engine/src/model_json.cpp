#include "vkconv/model_json.h"

#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "vkconv/activations.h"
#include "vkconv/binary.h"
#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/layer_norm.h"
#include "vkconv/layers.h"
#include "vkconv/safetensors.h"
#include "file_kind.h"
#include "mapped_file.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/reduce.h"
#include "vkconv/upsample.h"
#include "vkconv/shape_ops.h"

namespace vkconv {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxFileBytes = 16u << 20;
constexpr size_t kMaxLayers = 10000;
constexpr int kMaxDepth = 32;
// Layers allocate and initialise their parameters (and buffers) on construction, so a few bytes
// of JSON could otherwise ask for GiBs (Linear(46340, 46340) is 8 GiB) or overflow the layers'
// own size arithmetic; the sizes are summed over the file and checked against a budget first.
// With a weights file the budget is what that file can hold (every value takes at least 2
// bytes: F16/BF16), so a description cannot declare more than its weights contain; without
// one (random weights) it is half the machine's memory.
struct ParameterBudget {
    double left;
    std::string source;  // what bounds it, for the message
};

ParameterBudget memory_budget() {
    const double pages = double(sysconf(_SC_PHYS_PAGES)), page = double(sysconf(_SC_PAGESIZE));
    const double bytes = pages > 0 && page > 0 ? pages * page : double(1ull << 32);
    return {bytes / 2 / sizeof(float), "half of this machine's memory"};
}

ParameterBudget weights_budget(const std::string& weights) {
    namespace fs = std::filesystem;
    std::error_code ec;
    double bytes = 0;
    if (fs::is_directory(weights, ec)) {
        for (const auto& e : fs::directory_iterator(weights, ec))
            if (e.path().extension() == ".npy" && e.is_regular_file(ec)) bytes += double(e.file_size(ec));
    } else {
        std::string head;
        uint64_t size = 0;
        const auto h = detail::read_file_head(weights, 16, head, size);
        // Not safetensors: the reader's own error names what the file is (a torch.save pickle, ...).
        if (detail::sniff_file_kind(h, size, weights) != detail::FileKind::Safetensors) (void)load_safetensors(weights);
        bytes = double(size);
    }
    return {bytes / 2, "what the weights file " + weights + " can hold (" + std::to_string(int64_t(bytes)) + " bytes)"};
}

// Charges a layer's parameter count (computed in double: cannot overflow) to the budget.
void charge_parameters(ParameterBudget& budget, double count, const std::string& type) {
    if (count > budget.left)
        throw Error(type + ": the model declares more parameter values than " + budget.source + " (" +
                    std::to_string(static_cast<int64_t>(count)) + " values in this layer, " +
                    std::to_string(static_cast<int64_t>(budget.left)) + " left)");
    budget.left -= count;
}

// Nesting depth of the raw text (brackets outside strings), checked before parsing so that a
// hostile file cannot drive a recursive parser or destructor deep.
int nesting_depth(const std::string& text) {
    int depth = 0, max_depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
        else if (c == ']' || c == '}') --depth;
    }
    return max_depth;
}

// Reads one layer's arguments, remembering which were used so that unknown ones are refused.
class Args {
public:
    Args(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

    bool has(const std::string& k) {
        used_.insert(k);
        return j_.contains(k);
    }
    bool is_string(const std::string& k) { return has(k) && j_.at(k).is_string(); }
    int integer(const std::string& k, std::optional<int> fallback = {}) {
        if (!has(k)) return need(k, fallback);
        const json& v = j_.at(k);
        if (!v.is_number_integer()) fail(k, "must be an integer, but got " + v.dump());
        const auto x = v.get<int64_t>();
        if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) fail(k, "is out of range: " + v.dump());
        return static_cast<int>(x);
    }
    double number(const std::string& k, double fallback) {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_number()) fail(k, "must be a number, but got " + v.dump());
        return v.get<double>();
    }
    bool boolean(const std::string& k, bool fallback) {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_boolean()) fail(k, "must be true or false, but got " + v.dump());
        return v.get<bool>();
    }
    std::string string(const std::string& k, const std::string& fallback) {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_string()) fail(k, "must be a string, but got " + v.dump());
        return v.get<std::string>();
    }
    // n or [h, w]
    Pair pair(const std::string& k, std::optional<Pair> fallback = {}) {
        if (!has(k)) {
            if (!fallback) fail(k, "is required");
            return *fallback;
        }
        const json& v = j_.at(k);
        if (v.is_number_integer()) return Pair(integer(k));
        if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer())
            fail(k, "must be an integer or a list of two integers, but got " + v.dump());
        auto in_range = [&](const json& e) {
            const auto x = e.get<int64_t>();
            if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) fail(k, "is out of range: " + v.dump());
            return static_cast<int>(x);
        };
        return Pair(in_range(v[0]), in_range(v[1]));
    }
    std::optional<Pair> optional_pair(const std::string& k) {
        if (!has(k) || j_.at(k).is_null()) return std::nullopt;
        return pair(k);
    }
    // A list of integers (each within int64).
    std::vector<int64_t> integers(const std::string& k) {
        if (!has(k)) fail(k, "is required");
        const json& v = j_.at(k);
        if (!v.is_array() || v.size() > 64) fail(k, "must be a list of at most 64 integers, but got " + v.dump());
        std::vector<int64_t> out;
        for (const auto& e : v) {
            if (!e.is_number_integer()) fail(k, "must be a list of integers, but got " + v.dump());
            out.push_back(e.get<int64_t>());
        }
        return out;
    }
    bool is_array(const std::string& k) { return has(k) && j_.at(k).is_array(); }
    std::optional<int> optional_integer(const std::string& k) {
        if (!has(k) || j_.at(k).is_null()) return std::nullopt;
        return integer(k);
    }
    // The raw value of a present argument.
    const json& raw(const std::string& k) {
        used_.insert(k);
        return j_.at(k);
    }
    void done() {
        for (const auto& [k, v] : j_.items())
            if (!used_.count(k)) {
                std::string known;
                for (const auto& u : used_)
                    if (u != "name" && u != "type" && u != "inputs" && u != "functional") known += (known.empty() ? "" : ", ") + u;
                throw Error(where_ + ": unknown argument '" + k + "'" + (known.empty() ? " (this layer takes none)" : "; expected one of: " + known));
            }
    }
    [[noreturn]] void fail(const std::string& k, const std::string& rule) { throw Error(where_ + ": argument '" + k + "' " + rule); }

private:
    int need(const std::string& k, std::optional<int> fallback) {
        if (!fallback) fail(k, "is required");
        return *fallback;
    }
    const json& j_;
    std::string where_;
    std::set<std::string> used_{"name", "type", "inputs", "functional"};
};

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

std::unique_ptr<Layer> make_layer(Context& ctx, const std::string& type, Args& a, ParameterBudget& parameters_left) {
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
        return std::make_unique<MaxPool2d>(ctx, k, s, p, d, ceil);
    }
    if (type == "AvgPool2d") {
        const Pair k = a.pair("kernel_size");
        const auto s = a.optional_pair("stride");
        const Pair p = a.pair("padding", Pair(0));
        const bool ceil = a.boolean("ceil_mode", false), cip = a.boolean("count_include_pad", true);
        return std::make_unique<AvgPool2d>(ctx, k, s, p, ceil, cip, a.optional_integer("divisor_override"));
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

// A file that is not JSON gets a message saying what it is (weights given as the model, ...).
void refuse_other_kinds(std::span<const uint8_t> head, uint64_t size, const std::string& src) {
    const auto kind = detail::sniff_file_kind(head, size, src);
    if (kind == detail::FileKind::Json || kind == detail::FileKind::Unknown) return;
    std::string hint;
    if (kind == detail::FileKind::Safetensors) hint = ": were --model and --weights swapped?";
    else if (kind == detail::FileKind::TorchZip || kind == detail::FileKind::Pickle)
        hint = ": export the module with tools/export_model.py, which writes the description and its weights";
    else if (kind == detail::FileKind::Onnx) hint = ": ONNX files are read by load_onnx";
    throw Error(src + ": not a JSON model description: this is " + detail::describe(kind) + hint);
}

ModelDescription model_from_json(Context& ctx, const std::string& text, const std::string& src, ParameterBudget budget) {
    refuse_other_kinds({reinterpret_cast<const uint8_t*>(text.data()), std::min<size_t>(text.size(), 16)}, text.size(), src);
    if (text.size() > kMaxFileBytes) throw Error(src + ": model description larger than 16 MiB");
    if (nesting_depth(text) > kMaxDepth) throw Error(src + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(src + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(src + ": the model description must be a JSON object");
    if (j.contains("format") && j["format"] != "vkconv-model") throw Error(src + ": 'format' must be \"vkconv-model\"");
    if (j.contains("version") && j["version"] != 1) throw Error(src + ": unsupported 'version' " + j["version"].dump() + " (this vkconv reads version 1)");
    for (const auto& [k, v] : j.items())
        if (k != "format" && k != "version" && k != "name" && k != "input_shape" && k != "layers" && k != "outputs")
            throw Error(src + ": unknown key '" + k + "'; expected format, version, name, input_shape, layers, outputs");
    std::string name = "Model";
    if (j.contains("name")) {
        if (!j["name"].is_string()) throw Error(src + ": 'name' must be a string");
        name = j["name"].get<std::string>();
    }
    ModelDescription out;
    if (j.contains("input_shape")) {
        const auto& s = j["input_shape"];
        if (!s.is_array() || s.empty() || s.size() > 4) throw Error(src + ": 'input_shape' must be a list of 1 to 4 positive integers");
        for (const auto& d : s) {
            if (!d.is_number_integer() || d.get<int64_t>() <= 0 || d.get<int64_t>() > std::numeric_limits<int32_t>::max())
                throw Error(src + ": 'input_shape' must be a list of 1 to 4 positive integers, got " + s.dump());
            out.input_shape.push_back(d.get<int64_t>());
        }
    }
    if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty())
        throw Error(src + ": 'layers' must be a non-empty list of layers");
    if (j["layers"].size() > kMaxLayers) throw Error(src + ": more than " + std::to_string(kMaxLayers) + " layers");
    out.model = std::make_unique<Model>(ctx, name);
    ParameterBudget& parameters_left = budget;
    size_t index = 0;
    for (const auto& l : j["layers"]) {
        const std::string at = src + ": layers[" + std::to_string(index++) + "]";
        if (!l.is_object()) throw Error(at + " must be an object");
        if (!l.contains("name") || !l["name"].is_string()) throw Error(at + ": 'name' (a string) is required");
        if (!l.contains("type") || !l["type"].is_string()) throw Error(at + ": 'type' (a string) is required");
        const std::string lname = l["name"].get<std::string>(), type = l["type"].get<std::string>();
        const std::string where = at + " '" + lname + "' (" + type + ")";
        std::vector<std::string> inputs;
        if (l.contains("inputs")) {
            if (!l["inputs"].is_array()) throw Error(where + ": 'inputs' must be a list of layer names");
            for (const auto& i : l["inputs"]) {
                if (!i.is_string()) throw Error(where + ": 'inputs' must be a list of layer names");
                inputs.push_back(i.get<std::string>());
            }
        }
        bool functional = false;
        if (l.contains("functional")) {
            if (!l["functional"].is_boolean()) throw Error(where + ": 'functional' must be true or false");
            functional = l["functional"].get<bool>();
        }
        Args args(l, where);
        std::unique_ptr<Layer> layer;
        try {
            layer = make_shape_layer(ctx, type, args, inputs.size());
            if (!layer) layer = make_layer(ctx, type, args, parameters_left);
            args.done();
            if (functional)
                out.model->add_functional(lname, std::move(layer), inputs);
            else
                out.model->add(lname, std::move(layer), inputs);
        } catch (const Error& e) {
            const std::string what = e.what();
            throw Error(what.rfind(src, 0) == 0 ? what : where + ": " + what);
        }
    }
    // "outputs": [{"name": "out", "layer": "classifier.4"}, ...] for a forward returning a dict
    // or tuple (Model::set_outputs); without it the last layer's output is the model's.
    if (j.contains("outputs")) {
        const auto& o = j["outputs"];
        const std::string rule = ": 'outputs' must be a non-empty list of {\"name\": ..., \"layer\": ...} objects";
        if (!o.is_array() || o.empty() || o.size() > kMaxLayers) throw Error(src + rule);
        std::vector<std::pair<std::string, std::string>> outputs;
        for (const auto& e : o) {
            if (!e.is_object() || e.size() != 2 || !e.contains("name") || !e.contains("layer") || !e["name"].is_string() ||
                !e["layer"].is_string())
                throw Error(src + rule + ", got " + e.dump());
            outputs.emplace_back(e["name"].get<std::string>(), e["layer"].get<std::string>());
        }
        try {
            out.model->set_outputs(outputs);
        } catch (const Error& e) {
            throw Error(src + ": 'outputs': " + e.what());
        }
    }
    return out;
}

}  // namespace

ModelDescription model_from_json(Context& ctx, const std::string& text, const std::string& src) {
    return model_from_json(ctx, text, src, memory_budget());
}

ModelDescription model_from_json(Context& ctx, const std::string& text, const std::string& src, double max_parameter_values) {
    return model_from_json(ctx, text, src,
                           ParameterBudget{max_parameter_values, "the limit of " + std::to_string(int64_t(max_parameter_values))});
}

namespace {
std::string read_description(const std::string& path) {
    std::string head;
    uint64_t size = 0;
    refuse_other_kinds(detail::read_file_head(path, 16, head, size), size, path);
    if (size > kMaxFileBytes) throw Error(path + ": model description larger than 16 MiB");
    const auto bytes = read_file_bytes(path);
    return std::string(bytes.begin(), bytes.end());
}
}  // namespace

ModelDescription load_model_json(Context& ctx, const std::string& path) {
    return model_from_json(ctx, read_description(path), path, memory_budget());
}

ModelDescription load_model_json(Context& ctx, const std::string& path, const std::string& weights, bool strict) {
    ModelDescription d = model_from_json(ctx, read_description(path), path, weights_budget(weights));
    d.model->load_weights(weights, strict);
    return d;
}

}  // namespace vkconv
