// Linear: shaders/linear.comp, and shaders/linear_gemv.comp for a batch of 1 to 4.
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

// Mirrors LinearPushConstants in shaders/linear_params.glsl.
struct LinearPushConstants {
    int32_t M, K, N;
    int32_t x_base, y_base;
    int32_t y_stride, n_offset;
};

// A tile configuration: linear.comp's TX x TY = 64 invocations, each RM rows x RN features;
// linear_gemv.comp's workgroup (TX = TY = 1): RM rows x RN features.
struct LinearTile {
    uint32_t tx, ty, rn, rm;
    int64_t bm() const { return int64_t(ty) * rm; }
    int64_t bn() const { return int64_t(tx) * rn; }
};

constexpr uint32_t kBK = 16;  // K chunk: shared memory (BM + BN) * 16 floats <= 4 KiB

// Up to kGemvRows rows (a batch of 1 to 4: matrix-vector products) run linear_gemv.comp: a
// workgroup per 16 / rows features, its invocations splitting k, so that every invocation
// has work even when there are few features (a classifier with 10 outputs). More rows get a
// 2-D register tile of linear.comp, which reuses each staged x and w value RN resp. RM times.
// The partial sums take RM * RN * 64 floats of shared memory: 16 outputs, 4 KiB.
constexpr int64_t kGemvRows = 4;
constexpr uint32_t kGemvThreads = 64, kGemvOutputs = 16;

LinearTile linear_tile(int64_t rows) {
    if (rows <= 16) return {16, 4, 2, 4};  // 16 x 32 tile
    return {8, 8, 4, 4};                   // 32 x 32 tile
}

}  // namespace

Linear::Linear(Context& ctx, int in_features, int out_features, bool bias)
    : Layer(ctx), in_features_(in_features), out_features_(out_features), has_bias_(bias) {
    if (in_features < 0)
        throw Error("Linear: in_features must be non-negative, but got in_features=" + std::to_string(in_features));
    if (out_features < 0)
        throw Error("Linear: out_features must be non-negative, but got out_features=" + std::to_string(out_features));
    if (int64_t(in_features) * out_features > std::numeric_limits<int32_t>::max())
        throw Error("Linear: the weight [" + std::to_string(out_features) + ", " + std::to_string(in_features) +
                    "] has more than 2^31-1 elements");
    reset_parameters(0);
}

std::string Linear::repr() const {
    return "Linear(in_features=" + std::to_string(in_features_) + ", out_features=" + std::to_string(out_features_) +
           ", bias=" + detail::py_bool(has_bias_) + ")";
}

void Linear::reset_parameters(uint64_t seed) {
    auto [w, b] = detail::kaiming_uniform(int64_t(out_features_) * in_features_, has_bias_ ? out_features_ : 0, in_features_, seed);
    add_parameter("weight", {out_features_, in_features_}, std::move(w));
    if (has_bias_) add_parameter("bias", {out_features_}, std::move(b));
}

const std::vector<float>& Linear::bias() const { return detail::bias_or_none(*this, has_bias_); }

void Linear::set_bias(std::span<const float> b) { detail::set_bias(*this, has_bias_, b); }

Shape Linear::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const Shape& in = inputs[0];
    if (in.empty())
        throw Error("Linear: both arguments to matmul need to be at least 1D, but they are 0D and 2D (input " + shape_str(in) +
                    ", weight [" + std::to_string(out_features_) + ", " + std::to_string(in_features_) + "])");
    shape_numel(in);
    if (in.back() != in_features_) {
        int64_t rows = 1;
        for (size_t d = 0; d + 1 < in.size(); ++d) rows *= in[d];
        throw Error("Linear: mat1 and mat2 shapes cannot be multiplied (" + std::to_string(rows) + "x" +
                    std::to_string(in.back()) + " and " + std::to_string(in_features_) + "x" + std::to_string(out_features_) +
                    ") (input " + shape_str(in) + ", in_features=" + std::to_string(in_features_) + ")");
    }
    Shape out = in;
    out.back() = out_features_;
    shape_numel(out);
    return out;
}

void Linear::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_impl(rec, inputs, output, fused_relu_ ? Activation::relu() : Activation::none());
}

void Linear::record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                    const Activation& a) {
    // The layer's own fused ReLU comes first; ReLU after ReLU is ReLU.
    if (fused_relu_ && !a.is_none() && a.kind != ActivationKind::ReLU)
        throw Error("Linear with a fused ReLU cannot fuse " + std::string(to_string(a.kind)) + " as well");
    record_impl(rec, inputs, output, a.is_none() && fused_relu_ ? Activation::relu() : a);
}

void Linear::record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act) {
    check_input_count(inputs.size());
    const Tensor& x = inputs[0];
    detail::check_output(*this, output, output_shape(x.shape()));
    detail::check_buffer_range(*this, x);
    if (output.numel() == 0) return;
    const Tensor& w = device_parameter("weight");
    const Tensor& b = has_bias_ ? device_parameter("bias") : w;  // unused binding when bias=False
    host::of(rec).keep_alive(detail::storage_of(w));
    host::of(rec).keep_alive(detail::storage_of(b));
    const int64_t rows = in_features_ > 0 ? x.numel() / in_features_ : output.numel() / out_features_;
    const bool gemv = rows <= kGemvRows;
    // linear_gemv: a workgroup of kGemvThreads per kGemvOutputs / rows features, or (CPU devices)
    // of one SIMD vector with an invocation per feature.
    const auto& policy = host::of(*ctx_).policy();
    const bool per_feature = gemv && policy.gemv_per_feature;
    const uint32_t threads = per_feature ? std::max<uint32_t>(policy.kernel_workgroup, 1) : kGemvThreads;
    const LinearTile t = !gemv       ? linear_tile(rows)
                         : per_feature ? LinearTile{1, 1, threads, static_cast<uint32_t>(rows)}
                                       : LinearTile{1, 1, kGemvOutputs / static_cast<uint32_t>(rows), static_cast<uint32_t>(rows)};
    const uint32_t bias = has_bias_ ? 1u : 0u, kind = static_cast<uint32_t>(act.kind);
    const uint32_t alpha = std::bit_cast<uint32_t>(act.alpha), beta = std::bit_cast<uint32_t>(act.beta);
    // linear_gemv's vec4 loads: whole vec4 rows at 16-byte aligned offsets (each weight slice
    // starts at a multiple of K * 4 bytes).
    const uint32_t vec4 = in_features_ % 4 == 0 && detail::buffer_of(x).offset() % 16 == 0 && detail::buffer_of(w).offset() % 16 == 0 ? 1u : 0u;
    // A weight beyond maxStorageBufferRange (VGG's classifier: 25088 x 4096 floats) is bound in
    // slices of whole output features, each its own dispatches.
    const uint64_t row_bytes = uint64_t(std::max(in_features_, 1)) * sizeof(float);
    const int64_t slice = detail::storage_chunk_units(*ctx_, "Linear", "weight row", out_features_, {row_bytes});
    // CPU devices: the weights through an RGBA32F texel view where it covers them in one piece.
    const uint64_t w_texels = uint64_t(in_features_) / 4 * uint64_t(out_features_);
    const bool texel = per_feature && vec4 && slice >= out_features_ && detail::buffer_of(w).texel_views() && w_texels > 0 &&
                       detail::buffer_of(x).texel_views() && uint64_t(x.numel()) / 4 <= ctx_->info().max_texel_buffer_elements &&
                       w_texels <= ctx_->info().max_texel_buffer_elements &&
                       host::of(*ctx_).uniform_texel_format(vk::Format::eR32G32B32A32Sfloat);
    const auto pipeline =
        gemv ? host::of(*ctx_).pipeline(texel ? "linear_gemv_texel" : "linear_gemv",
                                        {threads, threads, per_feature ? 1u : t.rn, t.rm, bias, kind, alpha, beta, vec4, per_feature ? 1u : 0u})
             : host::of(*ctx_).pipeline("linear", {t.tx, t.ty, t.tx, t.ty, t.rn, t.rm, kBK, bias, kind, alpha, beta});
    detail::check_buffer_range(*this, b);  // the bias is bound whole
    for (int64_t n0 = 0; n0 < out_features_; n0 += slice) {
        const int64_t n = std::min<int64_t>(slice, out_features_ - n0);
        const host::BufferBinding w_range = texel                ? host::BufferBinding(detail::buffer_of(w).view(vk::Format::eR32G32B32A32Sfloat, w_texels))
                                            : n == out_features_ ? host::BufferBinding(detail::buffer_of(w))
                                                                 : host::BufferBinding(detail::buffer_of(w).handle(), detail::buffer_of(w).offset() + n0 * row_bytes, n * row_bytes);
        LinearPushConstants pc{static_cast<int32_t>(rows), in_features_, static_cast<int32_t>(n), 0, 0, out_features_,
                               static_cast<int32_t>(n0)};
        const host::BufferBinding x_range = texel ? host::BufferBinding(detail::buffer_of(x).view(vk::Format::eR32G32B32A32Sfloat, uint64_t(x.numel()) / 4))
                                                  : host::BufferBinding(detail::buffer_of(x));
        const host::BufferBinding bindings[] = {x_range, w_range, detail::buffer_of(b), detail::buffer_of(output)};
        const std::array<int64_t, 3> groups{(n + t.bn() - 1) / t.bn(), (rows + t.bm() - 1) / t.bm(), 1};
        detail::split_dispatch(groups, detail::workgroup_count_limit(*ctx_), [&](auto base, auto count) {
            pc.x_base = base[0];
            pc.y_base = base[1];
            host::of(rec).dispatch(*pipeline, bindings, pc, count[0], count[1], count[2]);
        });
    }
    host::of(rec).barrier();
}

std::vector<float> Linear::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape out_shape = output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    const auto& x = inputs[0];
    const auto& w = weight();
    const auto& b = bias();
    const int64_t K = in_features_, N = out_features_;
    const int64_t M = N > 0 ? shape_numel(out_shape) / N : 0;
    std::vector<float> out(static_cast<size_t>(M * N));
    // F.linear: x @ weight.T + bias over the flattened leading dims.
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
            double acc = has_bias_ ? b[static_cast<size_t>(n)] : 0.0;
            for (int64_t k = 0; k < K; ++k) acc += double(x[static_cast<size_t>(m * K + k)]) * double(w[static_cast<size_t>(n * K + k)]);
            if (fused_relu_ && acc < 0) acc = 0;
            out[static_cast<size_t>(m * N + n)] = static_cast<float>(acc);
        }
    return out;
}

}  // namespace vkconv
