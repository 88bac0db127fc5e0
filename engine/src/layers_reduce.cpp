// Mean, Amax over (H, W): shaders/reduce_hw.comp.
#include <cmath>
#include <limits>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/reduce.h"

namespace vkconv {
namespace {

// Mirrors ReducePushConstants in shaders/reduce_hw.comp.
struct ReducePushConstants {
    int32_t HW, plane_base, planes;
};
// Planes of fewer values than this are reduced one per invocation (SMALL in reduce_hw.comp), 64
// planes a workgroup; larger ones a workgroup each (below it the workgroup's barriers and idle
// lanes cost more than splitting the sum saves). CPU devices reduce every plane per invocation
// (DevicePolicy::reduce_plane_per_invocation: EfficientNet-B0's squeezes, planes of 784 to 12544
// values, took 7.7 ms with a workgroup per plane).
constexpr int64_t kSmallPlane = 256;
constexpr int64_t kSmallPlanesPerGroup = 64;

std::string dims_str(const std::vector<int>& d) {
    std::string s = "(";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + (d.size() == 1 ? ",)" : ")");
}

struct Geometry {
    int64_t planes = 0, hw = 0;
    Shape out_shape;
};

Geometry reduce_geometry(const std::string& who, const std::vector<int>& dim, bool keepdim, bool max, const Shape& in) {
    shape_numel(in);
    std::vector<int> wrapped;
    for (int d : dim) {
        const int w = detail::wrap_dim(d, in.size(), who);
        for (int e : wrapped)
            if (e == w) throw Error(who + ": dim " + std::to_string(w) + " appears multiple times in the list of dims");
        wrapped.push_back(w);
    }
    const int n = static_cast<int>(in.size());
    const bool hw = n >= 2 && wrapped.size() == 2 &&
                    ((wrapped[0] == n - 2 && wrapped[1] == n - 1) || (wrapped[0] == n - 1 && wrapped[1] == n - 2));
    if (!hw)
        throw Error(who + ": vkconv reduces over the last two dims (H, W) only, but got dim=" + dims_str(dim) + " for input of size " +
                    shape_str(in));
    Geometry g;
    g.hw = in[in.size() - 2] * in[in.size() - 1];
    g.planes = 1;
    for (size_t i = 0; i + 2 < in.size(); ++i) g.planes *= in[i];
    if (max && g.hw == 0 && g.planes > 0)
        throw Error(who + ": amax(): Expected reduction dim " + std::to_string(in[n - 2] == 0 ? n - 2 : n - 1) +
                    " to have non-zero size.");
    if (g.hw > std::numeric_limits<int32_t>::max()) throw Error(who + ": a plane of " + std::to_string(g.hw) + " values exceeds 2^31-1");
    g.out_shape.assign(in.begin(), in.end() - 2);
    if (keepdim) {
        g.out_shape.push_back(1);
        g.out_shape.push_back(1);
    }
    return g;
}

}  // namespace

ReduceHW::ReduceHW(Context& ctx, std::vector<int> dim, bool keepdim, bool max)
    : Layer(ctx), dim_(std::move(dim)), keepdim_(keepdim), max_(max) {
    if (dim_.size() != 2)
        throw Error(std::string(max ? "Amax" : "Mean") + ": vkconv reduces over the two dims (H, W), but got dim=" + dims_str(dim_));
    if (dim_[0] == dim_[1])
        throw Error(std::string(max ? "Amax" : "Mean") + ": dim " + std::to_string(dim_[0]) + " appears multiple times in the list of dims");
}

std::string ReduceHW::repr() const { return type() + "(dim=" + dims_str(dim_) + ", keepdim=" + detail::py_bool(keepdim_) + ")"; }

Shape ReduceHW::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return reduce_geometry(type(), dim_, keepdim_, max_, inputs[0]).out_shape;
}

void ReduceHW::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const auto g = reduce_geometry(type(), dim_, keepdim_, max_, inputs[0].shape());
    detail::check_output_shape(*this, output, g.out_shape);
    if (g.planes == 0) return;
    const auto& policy = host::of(*ctx_).policy();
    const bool small = g.hw < kSmallPlane || policy.reduce_plane_per_invocation;
    const uint32_t wg = small && policy.reduce_plane_per_invocation ? std::max<uint32_t>(policy.kernel_workgroup, 1)
                                                                    : static_cast<uint32_t>(kSmallPlanesPerGroup);
    ReducePushConstants pc{static_cast<int32_t>(g.hw), 0, 0};
    // maxStorageBufferRange: chunks of whole planes bound as sub-ranges.
    const uint64_t in_plane = static_cast<uint64_t>(g.hw) * sizeof(float);
    const int64_t chunk = detail::storage_chunk_units(*ctx_, type(), "plane", g.planes, {in_plane, sizeof(float)});
    // The input through a texel view where the policy prefers it and the output binds whole.
    const auto texel = detail::storage_chunk_units(*ctx_, type(), "plane", g.planes, {sizeof(float)}) == g.planes
                           ? detail::texel_input(*ctx_, inputs[0])
                           : std::nullopt;
    // Planes of whole vec4s, one an invocation: 4 values a fetch (an RGBA32F view).
    const bool vec4 = texel && small && g.hw > 0 && g.hw % 4 == 0 && host::of(*ctx_).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat);
    const auto pipeline = host::of(*ctx_).pipeline(texel ? "reduce_hw_texel" : "reduce_hw", {max_ ? 1u : 0u, small ? 1u : 0u, wg, vec4 ? 1u : 0u});
    const auto input_view = vec4 ? std::optional<host::BufferBinding>(detail::buffer_of(inputs[0]).view(
                                       vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(inputs[0].numel()) / 4))
                                 : texel;
    const int64_t step = texel ? g.planes : chunk;
    for (int64_t p0 = 0; p0 < g.planes; p0 += step) {
        const int64_t np = std::min(step, g.planes - p0);
        // An empty plane (mean: NaN) still binds one float of input.
        const host::BufferBinding bindings[] = {
            texel       ? *input_view
            : g.hw == 0 ? host::BufferBinding(detail::buffer_of(inputs[0]))
                      : host::BufferBinding(detail::buffer_of(inputs[0]).handle(), detail::buffer_of(inputs[0]).offset() + static_cast<uint64_t>(p0) * in_plane,
                                            static_cast<uint64_t>(np) * in_plane),
            host::BufferBinding(detail::buffer_of(output).handle(), detail::buffer_of(output).offset() + static_cast<uint64_t>(p0) * sizeof(float), static_cast<uint64_t>(np) * sizeof(float))};
        pc.planes = static_cast<int32_t>(np);
        const int64_t groups = small ? (np + wg - 1) / wg : np;
        detail::split_dispatch({groups, 1, 1}, detail::workgroup_count_limit(*ctx_), [&](auto base, auto count) {
            pc.plane_base = base[0];
            host::of(rec).dispatch(*pipeline, bindings, pc, count[0], 1, 1);
        });
    }
    host::of(rec).barrier();
}

std::vector<float> ReduceHW::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const auto g = reduce_geometry(type(), dim_, keepdim_, max_, shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    std::vector<float> out(static_cast<size_t>(g.planes));
    for (int64_t pl = 0; pl < g.planes; ++pl) {
        double acc = max_ ? -std::numeric_limits<double>::infinity() : 0.0;
        bool nan = false;
        for (int64_t i = 0; i < g.hw; ++i) {
            const double v = x[static_cast<size_t>(pl * g.hw + i)];
            nan = nan || std::isnan(v);
            acc = max_ ? std::max(acc, v) : acc + v;
        }
        if (nan || (!max_ && g.hw == 0)) out[static_cast<size_t>(pl)] = std::numeric_limits<float>::quiet_NaN();
        else out[static_cast<size_t>(pl)] = static_cast<float>(max_ ? acc : acc / double(g.hw));
    }
    return out;
}

}  // namespace vkconv
