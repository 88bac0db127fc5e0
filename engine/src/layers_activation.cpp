// The activation modules of vkconv/activations.h: shaders/activation.comp.
#include <bit>
#include <cmath>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/activations.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors ActivationPushConstants in shaders/activation.comp.
struct ActivationPushConstants {
    uint32_t n, group_base, inner, channels;
};

constexpr uint32_t kItems = 4;            // elements per invocation
constexpr uint32_t kBlock = 64 * kItems;  // elements per workgroup

// Records y = act(x) (or PReLU's per-channel slope when `weight` is given) and a barrier. A
// tensor larger than maxStorageBufferRange is processed in chunks bound as sub-ranges (whole
// images for PReLU, whose channel index restarts per image).
void record_activation(Context& ctx, CommandRecorder& rec, const std::string& who, const Activation& act, const Tensor& x,
                       const Tensor* weight, const Tensor& y, uint32_t inner = 1, uint32_t channels = 1) {
    const int64_t n = y.numel();
    if (n == 0) return;
    const bool per_channel = weight != nullptr;
    const auto pipeline = host::of(ctx).pipeline("activation",
                                       {static_cast<uint32_t>(act.kind), std::bit_cast<uint32_t>(act.alpha),
                                        std::bit_cast<uint32_t>(act.beta), per_channel ? 1u : 0u, kItems});
    const int64_t unit = per_channel ? int64_t(inner) * channels : 1;
    const int64_t units = n / unit;
    const int64_t chunk = detail::storage_chunk_units(ctx, who, per_channel ? "image" : "element", units,
                                                      {static_cast<uint64_t>(unit) * sizeof(float)});
    if (per_channel) host::of(rec).keep_alive(detail::storage_of(*weight));
    for (int64_t u0 = 0; u0 < units; u0 += chunk) {
        const int64_t count = std::min(chunk, units - u0) * unit;
        const uint64_t offset = static_cast<uint64_t>(u0 * unit) * sizeof(float), bytes = static_cast<uint64_t>(count) * sizeof(float);
        const host::BufferBinding x_range(detail::buffer_of(x).handle(), detail::buffer_of(x).offset() + offset, bytes);
        const host::BufferBinding y_range(detail::buffer_of(y).handle(), detail::buffer_of(y).offset() + offset, bytes);
        const host::BufferBinding w_range = per_channel ? host::BufferBinding(detail::buffer_of(*weight)) : x_range;
        ActivationPushConstants pc{static_cast<uint32_t>(count), 0, inner, channels};
        const host::BufferBinding bindings[] = {x_range, w_range, y_range};
        const int64_t blocks = (count + kBlock - 1) / kBlock;
        detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
            pc.group_base = static_cast<uint32_t>(base[0]);
            host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
        });
    }
    host::of(rec).barrier();
}

}  // namespace

// ---- ActivationLayer ------------------------------------------------------------------------

std::string ActivationLayer::inplace_str(bool with_comma) const {
    if (!inplace_) return "";
    return with_comma ? ", inplace=True" : "inplace=True";
}

Shape ActivationLayer::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);  // rejects negative sizes
    return inputs[0];
}

void ActivationLayer::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output_shape(*this, output, output_shape(inputs[0].shape()));
    record_activation(*ctx_, rec, type(), act_, inputs[0], nullptr, output);
}

std::vector<float> ActivationLayer::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    std::vector<float> out(inputs[0].size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(activation_reference(act_, inputs[0][i]));
    return out;
}

Hardtanh::Hardtanh(Context& ctx, double min_val, double max_val, bool inplace)
    : ActivationLayer(ctx, Activation::hardtanh(static_cast<float>(min_val), static_cast<float>(max_val)), inplace),
      min_val_(min_val), max_val_(max_val) {
    // PyTorch: assert self.max_val > self.min_val (an AssertionError without a message).
    if (!(max_val > min_val))
        throw Error("Hardtanh: max_val must be greater than min_val (assert self.max_val > self.min_val), but got min_val=" +
                    python_float_repr(min_val) + ", max_val=" + python_float_repr(max_val));
}

std::string Hardtanh::repr() const {
    return "Hardtanh(min_val=" + python_float_repr(min_val_) + ", max_val=" + python_float_repr(max_val_) + inplace_str(true) + ")";
}

LeakyReLU::LeakyReLU(Context& ctx, double negative_slope, bool inplace)
    : ActivationLayer(ctx, Activation::leaky_relu(static_cast<float>(negative_slope)), inplace), slope_(negative_slope) {
    if (std::isnan(negative_slope)) throw Error("LeakyReLU: negative_slope must be a number, but got nan");
}

std::string LeakyReLU::repr() const { return "LeakyReLU(negative_slope=" + python_float_repr(slope_) + inplace_str(true) + ")"; }

ELU::ELU(Context& ctx, double alpha, bool inplace)
    : ActivationLayer(ctx, Activation::elu(static_cast<float>(alpha)), inplace), alpha_(alpha) {
    if (std::isnan(alpha)) throw Error("ELU: alpha must be a number, but got nan");
}

std::string ELU::repr() const { return "ELU(alpha=" + python_float_repr(alpha_) + inplace_str(true) + ")"; }

namespace {
Activation gelu_activation(const std::string& approximate) {
    if (approximate == "none") return Activation::of(ActivationKind::GELU);
    if (approximate == "tanh") return Activation::of(ActivationKind::GELUTanh);
    throw Error("GELU: approximate argument must be either none or tanh. (got approximate='" + approximate + "')");
}
}  // namespace

GELU::GELU(Context& ctx, const std::string& approximate)
    : ActivationLayer(ctx, gelu_activation(approximate), false), approximate_(approximate) {}

// ---- PReLU ----------------------------------------------------------------------------------

PReLU::PReLU(Context& ctx, int num_parameters, double init) : Layer(ctx), num_parameters_(num_parameters) {
    if (num_parameters < 0)
        throw Error("PReLU: num_parameters must be non-negative (Trying to create tensor with negative dimension " +
                    std::to_string(num_parameters) + ": [" + std::to_string(num_parameters) + "])");
    add_parameter("weight", {num_parameters}, std::vector<float>(static_cast<size_t>(num_parameters), static_cast<float>(init)));
}

Shape PReLU::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const Shape& in = inputs[0];
    shape_numel(in);
    const int64_t channels = in.size() >= 2 ? in[1] : 1;
    if (num_parameters_ != 1 && num_parameters_ != channels)
        throw Error("PReLU: Mismatch of parameter numbers and input channel size. Found parameter numbers = " +
                    std::to_string(num_parameters_) + " and channel size = " + std::to_string(channels) + ". (input " +
                    shape_str(in) + ")");
    return in;
}

void PReLU::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    const Shape& s = inputs[0].shape();
    detail::check_output_shape(*this, output, output_shape(s));
    if (output.numel() == 0) return;
    int64_t inner = 1;
    for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
    const Tensor& w = device_parameter("weight");
    const uint32_t channels = static_cast<uint32_t>(num_parameters_);
    // One shared slope: every element is its own unit (inner 1, one channel).
    record_activation(*ctx_, rec, type(), Activation::none(), inputs[0], &w, output,
                      channels == 1 ? 1u : static_cast<uint32_t>(inner), channels);
}

std::vector<float> PReLU::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape& s = shapes[0];
    output_shape(s);
    detail::check_reference_input(*this, s, inputs[0]);
    int64_t inner = 1;
    for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
    const auto& w = parameter("weight");
    const auto& x = inputs[0];
    std::vector<float> out(x.size());
    // torch.prelu: x > 0 ? x : weight[c] * x (one fp32 product; NaN stays NaN).
    for (size_t i = 0; i < x.size(); ++i) {
        const size_t c = num_parameters_ == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % num_parameters_);
        out[i] = x[i] > 0 ? x[i] : w[c] * x[i];
    }
    return out;
}

Activation activation_of(const Layer& layer) {
    if (auto* a = dynamic_cast<const ActivationLayer*>(&layer)) return a->activation();
    if (dynamic_cast<const ReLU*>(&layer)) return Activation::relu();
    return Activation::none();
}

}  // namespace vkconv
