// vkconv/layers.h: the CNN layers other than Conv2d, with PyTorch's (1.13) semantics, each
// computed by a Vulkan compute shader and checked against a CPU reference written from
// PyTorch's definition.
//
//   vkconv::MaxPool2d pool(ctx, 3, {.stride = 2, .padding = 1});  // nn.MaxPool2d(3, stride=2, padding=1)
//   vkconv::BatchNorm2d bn(ctx, 64);                   // nn.BatchNorm2d(64), eval mode
//   vkconv::Linear fc(ctx, 2048, 1000);                // nn.Linear(2048, 1000)
//   vkconv::Tensor y = fc.forward(x);
//
// Every layer checks its parameters when constructed and its input shapes in output_shape(),
// throwing vkconv::Error with PyTorch's message for the rule broken. Shaders:
//   ReLU, Add, BatchNorm2d  elementwise.comp (op chosen by specialization constant; Add and
//                           BatchNorm2d apply a fused activation, activation.glsl)
//   MaxPool2d, AvgPool2d    pool2d.comp
//   AdaptiveAvgPool2d       adaptive_avg_pool2d.comp
// Other families have their own headers (vkconv/vkconv.h includes them all):
//   ConvTranspose2d         vkconv/conv_transpose2d.h   conv_transpose2d.comp
//   Upsample (interpolate)  vkconv/upsample.h           upsample2d.comp
//   AdaptiveMaxPool2d       vkconv/adaptive_max_pool2d.h adaptive_max_pool2d.comp
//   Mean, Amax over (H, W)  vkconv/reduce.h             reduce_hw.comp
//   Erf, Sqrt, Pow          vkconv/unary_math.h         activation.comp (activation.glsl)
//   Linear                  linear.comp
//   Softmax, LogSoftmax     softmax.comp
//   Flatten, Dropout        views: no shader (record() copies the input when called directly)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vkconv/context.h"
#include "vkconv/conv2d.h"  // Pair
#include "vkconv/layer.h"
#include "vkconv/tensor.h"

namespace vkconv {

// nn.ReLU(): y = max(x, 0), any shape; NaN stays NaN (as torch.relu).
class ReLU : public Layer {
public:
    explicit ReLU(Context& ctx) : Layer(ctx) {}
    std::string type() const override { return "ReLU"; }
    std::string repr() const override { return "ReLU()"; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
};

// a + b with PyTorch's broadcasting (vkconv/binary.h), optionally followed by ReLU in the same
// pass. Two tensors of one shape (a residual connection) take elementwise.comp, others
// binary.comp. Prints "Add()" ("Add(relu=True)" when fused).
class Add : public Layer {
public:
    explicit Add(Context& ctx, bool relu = false) : Layer(ctx), relu_(relu) {}
    std::string type() const override { return "Add"; }
    std::string repr() const override { return relu_ ? "Add(relu=True)" : "Add()"; }
    int num_inputs() const override { return 2; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    bool relu() const { return relu_; }
    void set_fused_relu(bool on) { relu_ = on; }
    // A model fuses a following ReLU into the same pass.
    bool can_fuse_relu() const override { return true; }
    void record_with_relu(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override {
        record_impl(rec, inputs, output, Activation::relu());
    }
    // Any activation in the same pass (the layer's own relu=True admits only ReLU after it).
    bool can_fuse_activation(const Activation& a) const override { return !relu_ || a.kind == ActivationKind::ReLU; }
    void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                const Activation& a) override;

private:
    void record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act);
    bool relu_;
};

// nn.MaxPool2d. Input [C, H, W] or [N, C, H, W] (N may be 0). Padded positions are -inf;
// NaN propagates. Output size as PyTorch, including ceil_mode's rule that the last window
// must start inside the input or the left padding.
struct MaxPool2dOptions {
    std::optional<Pair> stride;  // unset: kernel_size, as PyTorch
    Pair padding = 0;
    Pair dilation = 1;
    bool ceil_mode = false;
};

class MaxPool2d : public Layer {
public:
    // MaxPool2d(ctx, 3, {.stride = 2, .padding = 1}), as Conv2d takes Conv2dOptions.
    MaxPool2d(Context& ctx, Pair kernel_size, const MaxPool2dOptions& options = {});
    std::string type() const override { return "MaxPool2d"; }
    // "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"; a square
    // pair prints as an int, others as "(2, 3)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    Pair kernel_size() const { return kernel_; }
    Pair stride() const { return stride_; }
    Pair padding() const { return padding_; }
    Pair dilation() const { return dilation_; }
    bool ceil_mode() const { return ceil_mode_; }

private:
    Pair kernel_, stride_, padding_, dilation_;
    bool ceil_mode_;
};

// nn.AvgPool2d. The divisor is divisor_override when given; else with count_include_pad the
// window's size clipped to the padded input (a ceil_mode window hanging past the padding does
// not count the part outside); else the number of input elements in the window.
struct AvgPool2dOptions {
    std::optional<Pair> stride;  // unset: kernel_size, as PyTorch
    Pair padding = 0;
    bool ceil_mode = false;
    bool count_include_pad = true;
    std::optional<int> divisor_override;
};

class AvgPool2d : public Layer {
public:
    // AvgPool2d(ctx, 3, {.stride = 2, .count_include_pad = false}), as Conv2d takes Conv2dOptions.
    AvgPool2d(Context& ctx, Pair kernel_size, const AvgPool2dOptions& options = {});
    std::string type() const override { return "AvgPool2d"; }
    // "AvgPool2d(kernel_size=2, stride=2, padding=0)" (PyTorch prints only these three).
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    Pair kernel_size() const { return kernel_; }
    Pair stride() const { return stride_; }
    Pair padding() const { return padding_; }
    bool ceil_mode() const { return ceil_mode_; }
    bool count_include_pad() const { return count_include_pad_; }
    std::optional<int> divisor_override() const { return divisor_override_; }

private:
    Pair kernel_, stride_, padding_;
    bool ceil_mode_, count_include_pad_;
    std::optional<int> divisor_override_;
};

// nn.AdaptiveAvgPool2d: output cell i along an axis of In inputs and Out outputs averages
// [floor(i * In / Out), ceil((i + 1) * In / Out)). output_size may be 0 (an empty output), as
// in PyTorch.
class AdaptiveAvgPool2d : public Layer {
public:
    AdaptiveAvgPool2d(Context& ctx, Pair output_size);
    // output_size entries that are None (std::nullopt) keep the input's size, as in PyTorch.
    AdaptiveAvgPool2d(Context& ctx, std::optional<int> output_h, std::optional<int> output_w);
    std::string type() const override { return "AdaptiveAvgPool2d"; }
    // "AdaptiveAvgPool2d(output_size=1)" / "AdaptiveAvgPool2d(output_size=(2, 3))" / "(None, 3)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    Pair output_size() const { return output_size_; }  // a None entry reads 0 (see output_h/output_w)
    std::optional<int> output_h() const { return keep_h_ ? std::nullopt : std::optional<int>(output_size_.h); }
    std::optional<int> output_w() const { return keep_w_ ? std::nullopt : std::optional<int>(output_size_.w); }

private:
    Pair output_size_;
    bool keep_h_ = false, keep_w_ = false;  // None entries
};

// nn.BatchNorm2d in eval mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias
// per channel, computed as y = x * scale[c] + shift[c]. state_dict: "weight", "bias" (when
// affine), "running_mean", "running_var", "num_batches_tracked" (buffers, when
// track_running_stats). With track_running_stats=False PyTorch normalizes with the batch's own
// statistics even in eval mode; vkconv does not implement that and refuses such inputs.
class BatchNorm2d : public Layer {
public:
    BatchNorm2d(Context& ctx, int num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                bool track_running_stats = true);
    std::string type() const override { return "BatchNorm2d"; }
    // "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    int num_features() const { return num_features_; }
    double eps() const { return eps_; }
    double momentum() const { return momentum_; }
    bool affine() const { return affine_; }
    bool track_running_stats() const { return track_running_stats_; }
    // Per channel: scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale,
    // computed in double; what a model folds into a preceding convolution.
    std::pair<std::vector<float>, std::vector<float>> scale_shift() const;
    // An activation applied in the same pass (when no convolution absorbs the BatchNorm2d).
    bool can_fuse_activation(const Activation&) const override { return true; }
    void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                const Activation& a) override;

private:
    void check_running_stats() const;

    int num_features_;
    double eps_, momentum_;
    bool affine_, track_running_stats_;
    Tensor scale_dev_, shift_dev_;  // scale_shift() on the device, for parameters of version() folded_version_
    uint64_t folded_version_ = 0;
};

// nn.Linear: y[..., o] = sum_i x[..., i] * weight[o, i] + bias[o]; input [*, in_features].
class Linear : public Layer {
public:
    Linear(Context& ctx, int in_features, int out_features, bool bias = true);
    std::string type() const override { return "Linear"; }
    // "Linear(in_features=1024, out_features=10, bias=True)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    int in_features() const { return in_features_; }
    int out_features() const { return out_features_; }
    bool has_bias() const { return has_bias_; }
    // Host copies: weight [out, in], bias [out] (empty when bias=False).
    const std::vector<float>& weight() const { return parameter("weight"); }
    const std::vector<float>& bias() const;
    void set_weight(std::span<const float> w) { set_parameter("weight", w); }
    void set_bias(std::span<const float> b);  // error when constructed with bias=False
    // nn.Linear.reset_parameters(): weight and bias U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform
    // with a=sqrt(5)), from a seeded generator (not torch's RNG stream).
    void reset_parameters(uint64_t seed);
    // ReLU applied in the shader's epilogue (Linear followed by ReLU in one pass).
    void set_fused_relu(bool on) { fused_relu_ = on; }
    bool fused_relu() const { return fused_relu_; }
    // A model fuses a following ReLU into the epilogue.
    bool can_fuse_relu() const override { return true; }
    void record_with_relu(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override {
        record_impl(rec, inputs, output, Activation::relu());
    }
    // Any activation applied in the epilogue (linear.comp through activation.glsl).
    bool can_fuse_activation(const Activation& a) const override { return !fused_relu_ || a.kind == ActivationKind::ReLU; }
    void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                const Activation& a) override;

private:
    void record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act);
    int in_features_, out_features_;
    bool has_bias_;
    bool fused_relu_ = false;
};

// nn.Flatten: a view merging dims start_dim..end_dim (negative dims count from the end).
class Flatten : public Layer {
public:
    explicit Flatten(Context& ctx, int start_dim = 1, int end_dim = -1);
    std::string type() const override { return "Flatten"; }
    std::string repr() const override;  // "Flatten(start_dim=1, end_dim=-1)"
    bool is_view() const override { return true; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    // A view computes nothing; called directly, copies the input's storage into `output`.
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    int start_dim() const { return start_dim_; }
    int end_dim() const { return end_dim_; }

private:
    int start_dim_, end_dim_;
};

// nn.Dropout in eval mode: the identity, a view. p must be in [0, 1].
class Dropout : public Layer {
public:
    explicit Dropout(Context& ctx, double p = 0.5);
    std::string type() const override { return "Dropout"; }
    std::string repr() const override;  // "Dropout(p=0.5, inplace=False)"
    bool is_view() const override { return true; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    // A view computes nothing; called directly, copies the input's storage into `output`.
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    double p() const { return p_; }

private:
    double p_;
};

// nn.Softmax(dim): exp(x - max) / sum(exp(x - max)) along `dim` (negative dims wrap).
class Softmax : public Layer {
public:
    Softmax(Context& ctx, int dim);
    std::string type() const override { return "Softmax"; }
    std::string repr() const override { return "Softmax(dim=" + std::to_string(dim_) + ")"; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    int dim() const { return dim_; }

protected:
    Softmax(Context& ctx, int dim, bool log) : Layer(ctx), dim_(dim), log_(log) {}

private:
    int dim_;
    bool log_ = false;
};

// nn.LogSoftmax(dim): (x - max) - log(sum(exp(x - max))) along `dim`, in Softmax's pass.
class LogSoftmax : public Softmax {
public:
    LogSoftmax(Context& ctx, int dim) : Softmax(ctx, dim, true) {}
    std::string type() const override { return "LogSoftmax"; }
    std::string repr() const override { return "LogSoftmax(dim=" + std::to_string(dim()) + ")"; }
};

// Python's repr() of a float ("1e-05", "0.1", "1.0"), as PyTorch's reprs print floats.
std::string python_float_repr(double v);

// Testing aid: caps the workgroups per dispatch axis that the layers in this header use (0:
// the device's maxComputeWorkGroupCount), so that tests can exercise split dispatches on
// small tensors. Process-wide; not for production use.
void set_layer_workgroup_count_limit_for_testing(uint32_t limit);

}  // namespace vkconv
