// tuning.cpp: the tuned-algorithm table per device (see vkconv/tuning.h).
#include "vkconv/tuning.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "vkconv/error.h"

namespace vkconv {
namespace {

struct Table {
    bool loaded = false;
    std::map<std::string, Conv2dAlgorithm> entries;
};

std::mutex g_mutex;
std::map<std::string, Table> g_tables;  // by file path

std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += {d[p[i] >> 4], d[p[i] & 15]};
    return s;
}

// Reads the file into `t` (under g_mutex); anything malformed or foreign is skipped.
void load(const Context& ctx, const std::string& path, Table& t) {
    t.loaded = true;
    std::ifstream f(path);
    if (!f) return;
    std::error_code ec;
    if (std::filesystem::file_size(path, ec) > (uint64_t(16) << 20)) return;  // not ours: far too large
    const auto j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("format", 0) != 1) return;
    if (!j.contains("device") || !j["device"].is_string() || j["device"].get<std::string>() != ctx.info().name) return;
    if (!j.contains("driver_version") || !j["driver_version"].is_number_unsigned() ||
        j["driver_version"].get<uint64_t>() != ctx.info().driver_version)
        return;
    if (!j.contains("conv2d") || !j["conv2d"].is_object()) return;
    for (const auto& [key, value] : j["conv2d"].items()) {
        if (!value.is_string()) continue;
        try {
            const auto a = parse_conv2d_algorithm(value.get<std::string>());
            if (a != Conv2dAlgorithm::Auto) t.entries[key] = a;
        } catch (const Error&) {
            // an algorithm this build does not have
        }
    }
}

Table* table_for(const Context& ctx) {
    const std::string path = tuning_path(ctx);
    if (path.empty()) return nullptr;
    Table& t = g_tables[path];
    if (!t.loaded) load(ctx, path, t);
    return &t;
}

}  // namespace

std::string conv2d_tuning_key(const Conv2dParams& p, const Shape& input_shape) {
    const auto g = conv2d_geometry(p, input_shape);
    const auto& o = p.options;
    std::ostringstream s;
    s << "in=" << p.in_channels << " out=" << p.out_channels << " k=" << p.kernel.h << "x" << p.kernel.w << " s=" << o.stride.h
      << "x" << o.stride.w << " p=" << g.pad_top << "," << g.pad_bottom << "," << g.pad_left << "," << g.pad_right << " d="
      << o.dilation.h << "x" << o.dilation.w << " g=" << o.groups << " " << to_string(o.padding_mode) << " bias=" << o.bias
      << " input=" << shape_str(input_shape);
    return s.str();
}

std::string tuning_path(const Context& ctx) {
    if (ctx.cache_dir().empty()) return {};
    const auto& uuid = ctx.info().pipeline_cache_uuid;
    return ctx.cache_dir() + "/tuning-" + hex(uuid.data(), uuid.size()) + ".json";
}

std::optional<Conv2dAlgorithm> tuned_conv2d_algorithm(const Context& ctx, const Conv2dParams& params, const Shape& input_shape) {
    std::lock_guard lock(g_mutex);
    Table* t = table_for(ctx);
    if (!t || t->entries.empty()) return std::nullopt;
    const auto it = t->entries.find(conv2d_tuning_key(params, input_shape));
    if (it == t->entries.end()) return std::nullopt;
    return it->second;
}

void set_tuned_conv2d_algorithm(const Context& ctx, const Conv2dParams& params, const Shape& input_shape, Conv2dAlgorithm a) {
    if (a == Conv2dAlgorithm::Auto) throw Error("set_tuned_conv2d_algorithm: the algorithm must not be auto");
    std::lock_guard lock(g_mutex);
    if (Table* t = table_for(ctx)) t->entries[conv2d_tuning_key(params, input_shape)] = a;
}

bool save_tuning(const Context& ctx) {
    std::lock_guard lock(g_mutex);
    Table* t = table_for(ctx);
    if (!t) return false;
    nlohmann::json j;
    j["format"] = 1;
    j["device"] = ctx.info().name;
    j["driver_version"] = ctx.info().driver_version;
    j["driver"] = ctx.info().driver_name + " " + ctx.info().driver_info;
    j["conv2d"] = nlohmann::json::object();
    for (const auto& [key, a] : t->entries) j["conv2d"][key] = to_string(a);
    const std::string path = tuning_path(ctx);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << j.dump(2) << "\n";
        if (!f) {
            std::filesystem::remove(tmp, ec);
            return false;
        }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
    return !ec;
}

}  // namespace vkconv
