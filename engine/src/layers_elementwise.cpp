// ReLU, Add and BatchNorm2d (eval): the layers computed by shaders/elementwise.comp.
#include <bit>
#include <cmath>
#include <sstream>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/binary.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors ElementwisePushConstants in shaders/elementwise.comp.
struct ElementwisePushConstants {
    uint32_t n, group_base, inner, channels;
};

enum ElementwiseOp : uint32_t { OpRelu = 0, OpAdd = 1, OpAffine = 2 };
constexpr uint32_t kItems = 4;           // elements per invocation
constexpr uint32_t kBlock = 64 * kItems;  // elements per workgroup

// Records y = op(a, b, c) over all of y's elements and a barrier. b and c may repeat a where
// the op does not read them. Tensors larger than maxStorageBufferRange are processed in chunks
// bound as sub-ranges (whole images for the affine op, whose channel index restarts per image).
void record_elementwise(Context& ctx, CommandRecorder& rec, const std::string& who, ElementwiseOp op, const Activation& act,
                        const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& y, uint32_t inner = 1,
                        uint32_t channels = 1) {
    const int64_t n = y.numel();
    if (n == 0) return;
    const int64_t unit = op == OpAffine ? int64_t(inner) * channels : 1;
    const int64_t units = n / unit;
    const int64_t chunk = detail::storage_chunk_units(ctx, who, op == OpAffine ? "image" : "element", units,
                                                      {static_cast<uint64_t>(unit) * sizeof(float)});
    // a and b through texel views where the policy prefers it and y binds whole; ReLU and Add of
    // whole vec4s through RGBA32F views (VEC4 in elementwise.comp: Add of ResNet-18's 64 x 56 x 56
    // went 1.0 -> 0.4 ms).
    const auto at = chunk == units ? detail::texel_input(ctx, a) : std::nullopt;
    const auto bt = at && op != OpRelu ? detail::texel_input(ctx, b) : at;
    const bool texel = at && bt;
    const bool vec4 = texel && op != OpAffine && n % 4 == 0 && host::of(ctx).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat);
    const std::vector<uint32_t> spec{op, static_cast<uint32_t>(act.kind), kItems, std::bit_cast<uint32_t>(act.alpha),
                                     std::bit_cast<uint32_t>(act.beta), vec4 ? 1u : 0u};
    const auto pipeline = host::of(ctx).pipeline(texel ? "elementwise_texel" : "elementwise", spec);
    const auto view4 = [&](const Tensor& t) {
        return host::BufferBinding(detail::buffer_of(t).view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(n / 4)));
    };
    for (int64_t u0 = 0; u0 < units; u0 += chunk) {
        const int64_t count = std::min(chunk, units - u0) * unit;
        const uint64_t offset = static_cast<uint64_t>(u0 * unit) * sizeof(float), bytes = static_cast<uint64_t>(count) * sizeof(float);
        const host::BufferBinding a_range(detail::buffer_of(a).handle(), detail::buffer_of(a).offset() + offset, bytes);
        const host::BufferBinding y_range(detail::buffer_of(y).handle(), detail::buffer_of(y).offset() + offset, bytes);
        const host::BufferBinding b_range = op == OpAdd ? host::BufferBinding(detail::buffer_of(b).handle(), detail::buffer_of(b).offset() + offset, bytes)
                                            : op == OpAffine ? host::BufferBinding(detail::buffer_of(b)) : a_range;
        const host::BufferBinding c_range = op == OpAffine ? host::BufferBinding(detail::buffer_of(c)) : a_range;
        ElementwisePushConstants pc{static_cast<uint32_t>(vec4 ? count / 4 : count), 0, inner, channels};
        const host::BufferBinding bindings[] = {vec4 ? view4(a) : texel ? *at : a_range, vec4 ? view4(op == OpAdd ? b : a) : texel ? *bt : b_range,
                                                c_range, y_range};
        const int64_t blocks = (int64_t(pc.n) + kBlock - 1) / kBlock;
        detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
            pc.group_base = static_cast<uint32_t>(base[0]);
            host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
        });
    }
    host::of(rec).barrier();
}

float relu_ref(float v) { return v < 0.0f ? 0.0f : v; }  // torch.relu keeps NaN and -0.0

}  // namespace

// ---- ReLU ---------------------------------------------------------------------------------

Shape ReLU::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);  // rejects negative sizes
    return inputs[0];
}

void ReLU::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output_shape(*this, output, output_shape(inputs[0].shape()));
    record_elementwise(*ctx_, rec, type(), OpRelu, Activation::none(), inputs[0], inputs[0], inputs[0], output);
}

std::vector<float> ReLU::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    std::vector<float> out(inputs[0].size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = relu_ref(inputs[0][i]);
    return out;
}

// ---- Add ----------------------------------------------------------------------------------

Shape Add::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return broadcast_shapes(inputs[0], inputs[1], "Add");
}

void Add::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_impl(rec, inputs, output, relu_ ? Activation::relu() : Activation::none());
}

void Add::record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                 const Activation& a) {
    // The layer's own ReLU comes first (Add(relu=True) then the fused activation).
    if (relu_ && !a.is_none() && a.kind != ActivationKind::ReLU)
        throw Error("Add(relu=True) cannot fuse " + std::string(to_string(a.kind)) + " as well");
    record_impl(rec, inputs, output, a.is_none() && relu_ ? Activation::relu() : a);
}

void Add::record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act) {
    check_input_count(inputs.size());
    const Shape shapes[] = {inputs[0].shape(), inputs[1].shape()};
    detail::check_output_shape(*this, output, output_shape(shapes));
    // Same shapes (a residual connection): elementwise.comp, chunked to any size; else binary.comp.
    if (shapes[0] == shapes[1])
        record_elementwise(*ctx_, rec, type(), OpAdd, act, inputs[0], inputs[1], inputs[0], output);
    else
        record_binary(rec, type(), BinaryOp::Add, inputs[0], inputs[1], output, act);
}

std::vector<float> Add::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes);
    detail::check_reference_input(*this, shapes[0], inputs[0], "a");
    detail::check_reference_input(*this, shapes[1], inputs[1], "b");
    if (shapes[0] != shapes[1])
        return binary_reference(BinaryOp::Add, shapes[0], inputs[0], shapes[1], inputs[1],
                                relu_ ? Activation::relu() : Activation::none());
    std::vector<float> out(inputs[0].size());
    for (size_t i = 0; i < out.size(); ++i) {
        const float v = inputs[0][i] + inputs[1][i];  // one fp32 rounding, as torch.add
        out[i] = relu_ ? relu_ref(v) : v;
    }
    return out;
}

// ---- BatchNorm2d --------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(Context& ctx, int num_features, double eps, double momentum, bool affine, bool track_running_stats)
    : Layer(ctx), num_features_(num_features), eps_(eps), momentum_(momentum), affine_(affine),
      track_running_stats_(track_running_stats) {
    if (num_features < 0)
        throw Error("BatchNorm2d: num_features must be non-negative, but got num_features=" + std::to_string(num_features));
    if (!(eps >= 0) || std::isinf(eps))
        throw Error("BatchNorm2d: eps must be a finite non-negative number, but got eps=" + python_float_repr(eps));
    const Shape c{num_features};
    const size_t n = static_cast<size_t>(num_features);
    if (affine) {
        add_parameter("weight", c, std::vector<float>(n, 1.0f));
        add_parameter("bias", c, std::vector<float>(n, 0.0f));
    }
    if (track_running_stats) {
        add_parameter("running_mean", c, std::vector<float>(n, 0.0f), true);
        add_parameter("running_var", c, std::vector<float>(n, 1.0f), true);
        add_parameter("num_batches_tracked", {}, {0.0f}, true);
    }
}

std::string BatchNorm2d::repr() const {
    std::ostringstream s;
    s << "BatchNorm2d(" << num_features_ << ", eps=" << python_float_repr(eps_) << ", momentum=" << python_float_repr(momentum_)
      << ", affine=" << detail::py_bool(affine_) << ", track_running_stats=" << detail::py_bool(track_running_stats_) << ")";
    return s.str();
}

void BatchNorm2d::check_running_stats() const {
    if (!track_running_stats_)
        throw Error("BatchNorm2d: with track_running_stats=False PyTorch normalizes with the batch's own statistics even in "
                    "eval mode; vkconv implements inference with running statistics only (track_running_stats=True)");
}

std::pair<std::vector<float>, std::vector<float>> BatchNorm2d::scale_shift() const {
    check_running_stats();
    const auto& mean = parameter("running_mean");
    const auto& var = parameter("running_var");
    std::vector<float> scale(mean.size()), shift(mean.size());
    for (size_t c = 0; c < mean.size(); ++c) {
        const double w = affine_ ? parameter("weight")[c] : 1.0;
        const double b = affine_ ? parameter("bias")[c] : 0.0;
        const double s = w / std::sqrt(double(var[c]) + eps_);
        scale[c] = static_cast<float>(s);
        shift[c] = static_cast<float>(b - double(mean[c]) * s);
    }
    return {std::move(scale), std::move(shift)};
}

Shape BatchNorm2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const Shape& in = inputs[0];
    if (in.size() != 4) throw Error("BatchNorm2d: expected 4D input (got " + std::to_string(in.size()) + "D input)");
    shape_numel(in);
    check_running_stats();
    if (in[1] != num_features_)
        throw Error("BatchNorm2d: running_mean should contain " + std::to_string(in[1]) + " elements not " +
                    std::to_string(num_features_) + " (input " + shape_str(in) + " has " + std::to_string(in[1]) +
                    " channels, num_features=" + std::to_string(num_features_) + ")");
    return in;
}

void BatchNorm2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_with_activation(rec, inputs, output, Activation::none());
}

void BatchNorm2d::record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                         const Activation& act) {
    check_input_count(inputs.size());
    const Tensor& x = inputs[0];
    detail::check_output_shape(*this, output, output_shape(x.shape()));
    if (output.numel() == 0) return;
    if (!scale_dev_.defined() || folded_version_ != version()) {
        const auto [scale, shift] = scale_shift();
        scale_dev_ = Tensor::from_host(*ctx_, {num_features_}, scale);
        shift_dev_ = Tensor::from_host(*ctx_, {num_features_}, shift);
        folded_version_ = version();
    }
    host::of(rec).keep_alive(detail::storage_of(scale_dev_));
    host::of(rec).keep_alive(detail::storage_of(shift_dev_));
    const auto& s = x.shape();
    record_elementwise(*ctx_, rec, type(), OpAffine, act, x, scale_dev_, shift_dev_, output, static_cast<uint32_t>(s[2] * s[3]),
                       static_cast<uint32_t>(num_features_));
}

std::vector<float> BatchNorm2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape& in = shapes[0];
    output_shape(in);
    detail::check_reference_input(*this, in, inputs[0]);
    const auto& x = inputs[0];
    const auto& mean = parameter("running_mean");
    const auto& var = parameter("running_var");
    const int64_t N = in[0], C = in[1], HW = in[2] * in[3];
    std::vector<float> out(x.size());
    // F.batch_norm (eval): (x - running_mean) / sqrt(running_var + eps) * weight + bias.
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const double denom = std::sqrt(double(var[c]) + eps_);
            const double w = affine_ ? parameter("weight")[c] : 1.0;
            const double b = affine_ ? parameter("bias")[c] : 0.0;
            for (int64_t i = 0; i < HW; ++i) {
                const size_t idx = static_cast<size_t>((n * C + c) * HW + i);
                out[idx] = static_cast<float>((double(x[idx]) - mean[c]) / denom * w + b);
            }
        }
    return out;
}

}  // namespace vkconv
