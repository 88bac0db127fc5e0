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
#include "model_json_layers.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/reduce.h"
#include "vkconv/upsample.h"
#include "vkconv/shape_ops.h"

namespace vkconv {
namespace {

using namespace model_json_detail;

constexpr size_t kMaxFileBytes = 16u << 20;
constexpr size_t kMaxLayers = 10000;
constexpr int kMaxDepth = 32;

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
            layer = make_layer(ctx, type, args, inputs.size(), parameters_left);
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
    // The description first: a swapped pair is named by what --model really is.
    const std::string text = read_description(path);
    ModelDescription d = model_from_json(ctx, text, path, weights_budget(weights));
    d.model->load_weights(weights, strict);
    return d;
}

}  // namespace vkconv
