// conv2d.cpp: the Conv2d layer: parameters, Auto's choice over the kernel registry, and the
// plan cache. The algorithms themselves are the kernels of engine/src/conv2d/.
#include "vkconv/conv2d.h"
#include "vkconv/internal.h"
#include "vkconv/tuning.h"

#include <cmath>
#include <random>

#include "conv2d/kernel.h"
#include "layers_common.h"
#include "vkconv/error.h"

namespace vkconv {

// A plan prepared for an input shape, epilogue and input scaling.
struct Conv2d::Prepared {
    Shape shape;
    Activation act;
    bool scaled = false;  // input_scale
    Conv2dGeometry g;
    const detail::Conv2dKernel* kernel = nullptr;
    std::unique_ptr<detail::Conv2dPlan> plan;
};

// Device state of the kernels, and the plans prepared per input shape (and fused ReLU).
struct Conv2d::State {
    detail::Conv2dState device;
    // Few shapes per layer in practice; past kMaxPlans the cache starts over.
    static constexpr size_t kMaxPlans = 16;
    std::vector<Prepared> plans;

    const Prepared* find(const Shape& shape, const Activation& act, bool scaled) const {
        for (const auto& p : plans)
            if (p.act == act && p.shape == shape && p.scaled == scaled) return &p;
        return nullptr;
    }
};

Conv2d::Conv2d(Context& ctx, int in_channels, int out_channels, Pair kernel_size, Conv2dOptions options)
    : Conv2d(ctx, Conv2dParams{in_channels, out_channels, kernel_size, options}) {}

Conv2d::Conv2d(Context& ctx, Conv2dParams params) : Layer(ctx), state_(std::make_unique<State>()), params_(std::move(params)) {
    params_.validate();
    reset_parameters(0);
}

Conv2d::~Conv2d() = default;

void Conv2d::reset_parameters(uint64_t seed) {
    const int64_t fan_in = int64_t(params_.in_channels / params_.options.groups) * params_.kernel.h * params_.kernel.w;
    auto [w, b] = detail::kaiming_uniform(params_.weight_numel(), params_.options.bias ? params_.out_channels : 0, fan_in, seed);
    add_parameter("weight", params_.weight_shape(), std::move(w));
    if (params_.options.bias) add_parameter("bias", {params_.out_channels}, std::move(b));
}

const std::vector<float>& Conv2d::bias() const { return detail::bias_or_none(*this, params_.options.bias); }

void Conv2d::set_bias(std::span<const float> b) { detail::set_bias(*this, params_.options.bias, b); }

void Conv2d::set_algorithm(Conv2dAlgorithm a) {
    if (a != Conv2dAlgorithm::Auto) {
        if (auto why = detail::conv2d_kernel(a).params_refusal(params_); !why.empty())
            throw Error("Conv2d: algorithm '" + to_string(a) + "' " + why);
    }
    algorithm_ = a;
    state_->plans.clear();
}

void Conv2d::set_storage_precision(StoragePrecision p) {
    storage_precision_ = p;
    state_->plans.clear();
}

std::string Conv2d::unsupported_reason(Conv2dAlgorithm a, const Shape& input_shape) const {
    if (a == Conv2dAlgorithm::Auto) return "";
    return detail::conv2d_kernel(a).unsupported_reason(*ctx_, params_, input_shape.empty() ? nullptr : &input_shape);
}

Conv2dAlgorithm Conv2d::algorithm_for(const Shape& input_shape) const {
    if (algorithm_ != Conv2dAlgorithm::Auto) {
        std::string why = unsupported_reason(algorithm_, input_shape);
        if (why.empty()) why = fp16_refusal(algorithm_);
        if (!why.empty())
            throw Error("Conv2d: algorithm '" + to_string(algorithm_) + "' cannot run " + params_.str() + " on input " +
                        shape_str(input_shape) + " on '" + ctx_->info().name + "': " + why);
        return algorithm_;
    }
    const Shape* shape = input_shape.empty() ? nullptr : &input_shape;
    const bool depthwise = params_.options.groups == params_.in_channels && params_.in_channels > 1;
    // fp16 storage requested: the kernels that store fp16, in Auto's order, where one can run;
    // else the fp32 choice below (storage_precision_for then says Float32). Depthwise keeps the
    // fp32 choice (depthwise_texel): it reads the fp32 tensor directly, with no staging copy for
    // fp16 to shrink, and packed_texel would pad each channel to a quad (4x the traffic and work;
    // S7 on lavapipe: 13x slower).
    if (storage_precision_ == StoragePrecision::Float16 && !depthwise) {
        auto fp16_ok = [&](Conv2dAlgorithm a) { return fp16_refusal(a).empty() && supports(a, input_shape); };
        if (const auto tuned = tuned_conv2d_algorithm(*ctx_, params_, input_shape); tuned && fp16_ok(*tuned)) return *tuned;
        for (const auto* k : detail::conv2d_kernels())
            if (k->stores_fp16() && k->auto_candidate(*ctx_, params_, shape) && fp16_ok(k->algorithm())) return k->algorithm();
    }
    // A choice measured on this device by `vkconv tune` wins over the kernels' rules.
    if (const auto tuned = tuned_conv2d_algorithm(*ctx_, params_, input_shape); tuned && supports(*tuned, input_shape)) return *tuned;
    for (const auto* k : detail::conv2d_kernels())
        if (k->auto_candidate(*ctx_, params_, shape) && supports(k->algorithm(), input_shape)) return k->algorithm();
    return Conv2dAlgorithm::DirectTiled;
}

std::string Conv2d::fp16_refusal(Conv2dAlgorithm a) const {
    if (storage_precision_ != StoragePrecision::Float16 || a == Conv2dAlgorithm::Auto) return "";
    if (!stores_fp16(a))
        return "it stores weights and activations in fp32 only, but fp16 storage was requested (set_storage_precision; "
               "fp16 storage is honoured by packed_texel and gemm_1x1)";
    return fp16_storage_unsupported_reason(*ctx_);
}

StoragePrecision Conv2d::storage_precision_for(const Shape& input_shape) const {
    if (storage_precision_ != StoragePrecision::Float16) return StoragePrecision::Float32;
    const auto a = algorithm_for(input_shape);
    return stores_fp16(a) && fp16_storage_unsupported_reason(*ctx_).empty() ? StoragePrecision::Float16 : StoragePrecision::Float32;
}

Shape Conv2d::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    return conv2d_output_shape(params_, inputs[0]);
}

std::vector<float> Conv2d::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    return conv2d_reference(params_, shapes[0], inputs[0], weight(), bias(), fused_activation_);
}

bool Conv2d::can_scale_input(const Shape& input_shape) const {
    return input_shape.size() == 4 && detail::conv2d_kernel(algorithm_for(input_shape)).scales_input();
}

void Conv2d::prepare(const Shape& shape, const Activation& act) { prepare_impl(shape, act, false); }

const Conv2d::Prepared* Conv2d::prepare_impl(const Shape& shape, const Activation& act, bool scaled) {
    const Prepared* prepared = state_->find(shape, act, scaled);
    if (!prepared) {
        const Conv2dGeometry g = conv2d_geometry(params_, shape);
        if (g.n == 0) return nullptr;
        // maxStorageBufferRange: the kernels that bind sub-ranges bind whole images, as many per
        // chunk as fit (all of them when the tensors fit); each chunk is its own dispatch.
        const uint64_t in_image = static_cast<uint64_t>(shape_numel(shape) / g.n) * sizeof(float);
        const uint64_t out_image = uint64_t(params_.out_channels) * uint64_t(g.out_h) * uint64_t(g.out_w) * sizeof(float);
        const int64_t chunk = detail::storage_chunk_units(*ctx_, "Conv2d", "image", g.n, {in_image, out_image});
        const auto algorithm = algorithm_for(shape);
        const auto& kernel = detail::conv2d_kernel(algorithm);
        // fp16 storage: requested, honoured by the kernel and the device (algorithm_for refused it
        // for a forced kernel on a device without the format; Auto chose one or fell back).
        const bool fp16 = storage_precision_ == StoragePrecision::Float16 && kernel.stores_fp16() &&
                          fp16_storage_unsupported_reason(*ctx_).empty();
        const detail::Conv2dProblem problem{params_, g, shape, act, fp16, chunk, scaled};
        auto plan = kernel.prepare(*ctx_, problem);
        if (state_->plans.size() >= State::kMaxPlans) state_->plans.clear();
        state_->plans.push_back({shape, act, scaled, g, &kernel, std::move(plan)});
        prepared = &state_->plans.back();
    }
    return prepared;
}

std::vector<std::shared_ptr<const host::ComputePipeline>> detail::Conv2dAccess::prepare(Conv2d& conv, const Shape& shape,
                                                                                      const Activation& act, bool scaled_input) {
    const auto* p = conv.prepare_impl(shape, act, scaled_input && conv.can_scale_input(shape));
    return p ? p->plan->pipelines() : std::vector<std::shared_ptr<const host::ComputePipeline>>{};
}

void Conv2d::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_impl(rec, inputs, output, fused_activation_);
}

void Conv2d::record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act,
                         const Tensor* input_scale) {
    check_input_count(inputs.size());
    const Tensor& input = inputs[0];
    const Shape& shape = input.shape();
    if (input_scale) {
        const Shape& s = input_scale->shape();
        if (shape.size() != 4 || s.size() != 4 || (s[0] != 1 && s[0] != shape[0]) || s[1] != shape[1] || s[2] != 1 || s[3] != 1)
            throw Error("Conv2d: input channel factors of shape " + shape_str(s) + " do not fit input " + shape_str(shape) +
                        " (expected [N or 1, C, 1, 1])");
        if (!can_scale_input(shape))
            throw Error("Conv2d: algorithm '" + to_string(algorithm_for(shape)) + "' cannot scale its input channels");
    }
    const bool scaled = input_scale != nullptr;
    const Prepared* prepared = state_->find(shape, act, scaled);
    const Conv2dGeometry g = prepared ? prepared->g : conv2d_geometry(params_, shape);
    // The recording holds the tensors it reads and writes (and their texel views): work that is
    // abandoned (device loss, fence timeout) or pending in an application's command buffer must
    // not see them destroyed under it.
    host::of(rec).keep_alive(detail::storage_of(input));
    host::of(rec).keep_alive(detail::storage_of(output));
    const Shape expected = shape.size() == 3 ? Shape{params_.out_channels, g.out_h, g.out_w} : Shape{g.n, params_.out_channels, g.out_h, g.out_w};
    if (output.shape() != expected)
        throw Error("Conv2d: output tensor has shape " + shape_str(output.shape()) + ", expected " + shape_str(expected));
    const Tensor& weight_dev = device_parameter("weight");
    const Tensor& bias_dev = params_.options.bias ? device_parameter("bias") : weight_dev;  // unused binding when bias=False
    host::of(rec).keep_alive(detail::storage_of(weight_dev));
    host::of(rec).keep_alive(detail::storage_of(bias_dev));
    const auto& info = ctx_->info();
    if (weight_dev.bytes() > info.max_storage_buffer_range)
        throw Error("Conv2d: the weight " + shape_str(weight_dev.shape()) + " (" + std::to_string(weight_dev.bytes()) +
                    " bytes) exceeds the device's maxStorageBufferRange (" + std::to_string(info.max_storage_buffer_range) +
                    " bytes)");
    if (g.n == 0) return;
    if (!prepared) {
        prepare_impl(shape, act, scaled);
        prepared = &state_->plans.back();
    }
    detail::Conv2dIo io{rec, *ctx_, params_, input, output, weight_dev, bias_dev, weight(), version(), state_->device, input_scale};
    prepared->kernel->record(*prepared->plan, io);
}

}  // namespace vkconv
