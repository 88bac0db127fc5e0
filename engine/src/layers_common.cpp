// Helpers shared by the layers of vkconv/layers.h.
#include "layers_common.h"
#include "vkconv/internal.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <numeric>
#include <random>

#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {
std::atomic<uint32_t> g_workgroup_limit{0};
}  // namespace

void set_layer_workgroup_count_limit_for_testing(uint32_t limit) { g_workgroup_limit = limit; }

std::string python_float_repr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    // Shortest round-trip digits, as Python's repr; then Python's layout: positional when the
    // decimal exponent is in [-5, 16), else "d.ddde-05" (at least two exponent digits).
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string s(buf, res.ptr);  // "-1.2345e-05", "1e+00"
    std::string sign;
    if (s[0] == '-') {
        sign = "-";
        s.erase(0, 1);
    }
    const auto epos = s.find('e');
    const int exp = std::stoi(s.substr(epos + 1));
    std::string digits;
    for (char c : s.substr(0, epos))
        if (c != '.') digits += c;
    if (exp < -4 || exp >= 16) {
        std::string m = digits.substr(0, 1);
        if (digits.size() > 1) m += "." + digits.substr(1);
        std::string e = std::to_string(std::abs(exp));
        if (e.size() < 2) e = "0" + e;
        return sign + m + "e" + (exp < 0 ? "-" : "+") + e;
    }
    if (exp < 0) return sign + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    const size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) return sign + digits + std::string(int_len - digits.size(), '0') + ".0";
    return sign + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

namespace detail {

std::string pair_tuple(Pair p) {
    std::string s = "(";  // built by appending: GCC 12 warns falsely (-Wrestrict) on "(" + std::to_string(...)
    s += std::to_string(p.h);
    s += ", ";
    s += std::to_string(p.w);
    s += ")";
    return s;
}

std::string pair_repr(Pair p) { return p.h == p.w ? std::to_string(p.h) : pair_tuple(p); }

std::string optional_pair_repr(std::optional<int> h, std::optional<int> w) {
    if (h && w) return pair_repr(Pair(*h, *w));
    return "(" + (h ? std::to_string(*h) : std::string("None")) + ", " + (w ? std::to_string(*w) : std::string("None")) + ")";
}

Pair resolve_output_size(std::optional<int> h, std::optional<int> w, const Shape& input) {
    const size_t n = input.size();
    auto dim = [&](size_t from_end) {
        return n >= from_end ? static_cast<int>(std::min<int64_t>(input[n - from_end], INT32_MAX)) : 0;
    };
    return Pair(h ? *h : dim(2), w ? *w : dim(1));
}

int wrap_dim(int64_t dim, size_t ndim, const std::string& who) {
    const int64_t n = ndim == 0 ? 1 : static_cast<int64_t>(ndim);
    if (dim < -n || dim > n - 1)
        throw Error(who + ": Dimension out of range (expected to be in range of [" + std::to_string(-n) + ", " +
                    std::to_string(n - 1) + "], but got " + std::to_string(dim) + ")");
    return static_cast<int>(dim < 0 ? dim + n : dim);
}

std::array<uint32_t, 3> workgroup_count_limit(const Context& ctx) {
    std::array<uint32_t, 3> l{ctx.info().max_workgroup_count[0], ctx.info().max_workgroup_count[1],
                              ctx.info().max_workgroup_count[2]};
    const uint32_t cap = g_workgroup_limit.load();
    if (cap)
        for (auto& v : l) v = std::min(v, cap);
    return l;
}

int64_t storage_chunk_units(const Context& ctx, const std::string& who, const char* unit, int64_t units,
                            std::initializer_list<uint64_t> unit_bytes) {
    const uint64_t range = ctx.info().max_storage_buffer_range;
    const uint64_t align = std::max<uint64_t>(1, ctx.info().min_storage_buffer_offset_alignment);
    if (units <= 0) return std::max<int64_t>(units, 1);
    uint64_t fit = static_cast<uint64_t>(units), step = 1, largest = 0;
    bool all_fit = true;
    for (uint64_t b : unit_bytes) {
        if (b == 0) continue;
        largest = std::max(largest, b);
        all_fit = all_fit && b * static_cast<uint64_t>(units) <= range;
        fit = std::min(fit, range / b);
        const uint64_t need = align / std::gcd(b, align);  // units per aligned offset step
        step = std::lcm(step, need);
    }
    if (all_fit) return units;
    const uint64_t chunk = fit / step * step;
    if (chunk == 0)
        throw Error(who + ": a tensor of " + std::to_string(largest * static_cast<uint64_t>(units)) +
                    " bytes exceeds the device's maxStorageBufferRange (" + std::to_string(range) +
                    " bytes), and it cannot be bound in slices: one " + unit + " is " + std::to_string(largest) +
                    " bytes and a slice must start at a multiple of minStorageBufferOffsetAlignment (" + std::to_string(align) +
                    " bytes), i.e. hold a multiple of " + std::to_string(step) + " " + unit + "s");
    return static_cast<int64_t>(chunk);
}

void check_buffer_range(const Layer& layer, const Tensor& t) {
    const auto range = layer.context().info().max_storage_buffer_range;
    if (t.bytes() > range)
        throw Error(layer.type() + ": a tensor of shape " + shape_str(t.shape()) + " (" + std::to_string(t.bytes()) +
                    " bytes) exceeds the device's maxStorageBufferRange (" + std::to_string(range) + " bytes)");
}

void check_output_shape(const Layer& layer, const Tensor& output, const Shape& expected) {
    if (output.shape() != expected)
        throw Error(layer.type() + ": output tensor has shape " + shape_str(output.shape()) + ", expected " + shape_str(expected));
}

void check_output(const Layer& layer, const Tensor& output, const Shape& expected) {
    check_output_shape(layer, output, expected);
    check_buffer_range(layer, output);
}

void check_reference_input(const Layer& layer, const Shape& shape, const std::vector<float>& data, const char* what) {
    if (static_cast<int64_t>(data.size()) != shape_numel(shape))
        throw Error(layer.type() + ".reference: " + what + " has " + std::to_string(data.size()) + " values, shape " +
                    shape_str(shape) + " needs " + std::to_string(shape_numel(shape)));
}

void record_copy(CommandRecorder& rec, const Tensor& input, const Tensor& output) {
    if (input.numel() != output.numel())
        throw Error("view copy: input " + shape_str(input.shape()) + " and output " + shape_str(output.shape()) +
                    " differ in element count");
    if (&detail::buffer_of(input) != &detail::buffer_of(output)) host::of(rec).copy(detail::buffer_of(input), 0, detail::buffer_of(output), 0, input.bytes());
    host::of(rec).barrier();
}

host::BufferBinding sub_range(const Tensor& t, int64_t first, int64_t count, uint64_t unit_bytes) {
    return host::BufferBinding(detail::buffer_of(t).handle(), detail::buffer_of(t).offset() + static_cast<uint64_t>(first) * unit_bytes,
                               static_cast<uint64_t>(count) * unit_bytes);
}

std::optional<host::BufferBinding> texel_input(const Context& ctx, const Tensor& t) {
    const auto& hc = host::of(ctx);
    const uint64_t n = static_cast<uint64_t>(t.numel());
    if (!hc.policy().layer_texel_inputs || n == 0 || !detail::buffer_of(t).texel_views() || n > ctx.info().max_texel_buffer_elements ||
        n >= (uint64_t(1) << 31) || !hc.uniform_texel_format(vk::Format::eR32Sfloat))
        return std::nullopt;
    return host::BufferBinding(detail::buffer_of(t).view(vk::Format::eR32Sfloat, n));
}

std::pair<std::vector<float>, std::vector<float>> kaiming_uniform(int64_t weight_numel, int64_t bias_numel, int64_t fan_in,
                                                                  uint64_t seed) {
    const float bound = fan_in > 0 ? static_cast<float>(1.0 / std::sqrt(double(fan_in))) : 0.0f;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<size_t>(weight_numel)), b(static_cast<size_t>(bias_numel));
    for (auto& v : w) v = u(rng);
    for (auto& v : b) v = bound > 0 ? u(rng) : 0.0f;
    return {std::move(w), std::move(b)};
}

const std::vector<float>& bias_or_none(const Layer& layer, bool has_bias) {
    static const std::vector<float> none;
    return has_bias ? layer.parameter("bias") : none;
}

void set_bias(Layer& layer, bool has_bias, std::span<const float> b) {
    if (!has_bias) throw Error(layer.type() + ".set_bias: this " + layer.type() + " was made with bias=False");
    layer.set_parameter("bias", b);
}

}  // namespace detail
}  // namespace vkconv
