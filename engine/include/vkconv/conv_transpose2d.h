// vkconv/conv_transpose2d.h: nn.ConvTranspose2d with PyTorch's (1.13) semantics, computed by
// shaders/conv_transpose2d.comp.
//
//   vkconv::ConvTranspose2d up(ctx, 64, 32, 2, {.stride = 2});   // nn.ConvTranspose2d(64, 32, 2, stride=2)
//   vkconv::Tensor y = up.forward(x);                             // [N, 64, H, W] -> [N, 32, 2H, 2W]
//   vkconv::Tensor z = up.forward(x, {2 * H + 1, 2 * W + 1});     // forward(x, output_size=...)
//
// The gradient of Conv2d with respect to its input: input pixel (iy, ix) of channel ci adds
// x * weight[ci, oc % (out/groups), ky, kx] to output (iy * stride - padding + ky * dilation, ...)
// of every output channel oc of ci's group. Output size per axis:
//   (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.
// Weight layout [in_channels, out_channels / groups, kh, kw], PyTorch's; state_dict "weight",
// "bias". Only padding_mode='zeros' exists (PyTorch refuses the others, and so does vkconv).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"  // Pair
#include "vkconv/layer.h"

namespace vkconv {

struct ConvTranspose2dOptions {
    Pair stride{1};
    Pair padding{0};
    Pair output_padding{0};
    int groups = 1;
    bool bias = true;
    Pair dilation{1};
    std::string padding_mode = "zeros";  // the only value PyTorch accepts
};

struct ConvTranspose2dParams {
    int in_channels = 0, out_channels = 0;
    Pair kernel{1};
    ConvTranspose2dOptions options;

    // Throws vkconv::Error with PyTorch's messages for parameters nn.ConvTranspose2d refuses
    // (output_padding's rule included: it is checked with the input, as PyTorch does, but needs
    // no input, so the constructor checks it too).
    void validate() const;
    // "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))".
    std::string str() const;
    Shape weight_shape() const { return {in_channels, out_channels / options.groups, kernel.h, kernel.w}; }
    int64_t weight_numel() const { return shape_numel(weight_shape()); }
};

// Output shape for an input [C, H, W] or [N, C, H, W] with this output_padding; throws with
// PyTorch's messages (channels, rank, empty spatial dims, output too small).
Shape conv_transpose2d_output_shape(const ConvTranspose2dParams& params, const Shape& input_shape, Pair output_padding);

// nn.ConvTranspose2d._output_padding: the output_padding that gives `output_size` ([oh, ow], or
// the whole output shape with its leading dims, which are ignored); throws PyTorch's
// "requested an output size of ..., but valid sizes range from ... to ..." otherwise.
Pair conv_transpose2d_output_padding(const ConvTranspose2dParams& params, const Shape& input_shape,
                                     std::span<const int64_t> output_size);

// The CPU reference (double accumulation), written from the definition above.
std::vector<float> conv_transpose2d_reference(const ConvTranspose2dParams& params, const Shape& input_shape,
                                              std::span<const float> input, std::span<const float> weight,
                                              std::span<const float> bias, Pair output_padding);

class ConvTranspose2d : public Layer {
public:
    ConvTranspose2d(Context& ctx, int in_channels, int out_channels, Pair kernel_size, ConvTranspose2dOptions options = {});
    ConvTranspose2d(Context& ctx, ConvTranspose2dParams params);

    std::string type() const override { return "ConvTranspose2d"; }
    std::string repr() const override { return params_.str(); }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::forward;
    using Layer::output_shape;
    using Layer::reference;

    // forward(input, output_size): the output_padding that output_size asks for (PyTorch's rule)
    // instead of the constructed one, for this call only.
    Tensor forward(const Tensor& input, std::span<const int64_t> output_size);
    Tensor forward(const Tensor& input, std::initializer_list<int64_t> output_size) {
        return forward(input, std::span<const int64_t>(output_size.begin(), output_size.size()));
    }
    // Records with an explicit output_padding (checked against PyTorch's rule).
    void record(CommandRecorder& rec, const Tensor& input, const Tensor& output, Pair output_padding);

    const ConvTranspose2dParams& params() const { return params_; }
    const std::vector<float>& weight() const { return parameter("weight"); }
    const std::vector<float>& bias() const;
    void set_weight(std::span<const float> w) { set_parameter("weight", w); }
    void set_bias(std::span<const float> b);  // error when constructed with bias=False
    // nn.ConvTranspose2d.reset_parameters(): kaiming_uniform(a=sqrt(5)) on a weight whose fan_in
    // is weight.size(1) * kh * kw = out_channels / groups * kh * kw (PyTorch's rule for this
    // layout), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); seeded, not torch's RNG stream.
    void reset_parameters(uint64_t seed);

private:
    ConvTranspose2dParams params_;
};

}  // namespace vkconv
