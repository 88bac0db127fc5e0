// model_json_layers.h: the layer entries of a JSON model description: one layer's arguments
// (Args) and the factory that makes the layer they describe (model_json_layers.cpp).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/layer.h"

namespace vkconv::model_json_detail {

using json = nlohmann::json;

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

// Charges a layer's parameter count (computed in double: cannot overflow) to the budget.
void charge_parameters(ParameterBudget& budget, double count, const std::string& type);

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

// The layer a JSON entry of `type` with `num_inputs` inputs describes, its parameters charged to
// `parameters_left`.
std::unique_ptr<Layer> make_layer(Context& ctx, const std::string& type, Args& a, size_t num_inputs,
                                  ParameterBudget& parameters_left);

}  // namespace vkconv::model_json_detail
