// vkconv/layer_norm.h: nn.LayerNorm (PyTorch 1.13) over the trailing dims.
//
//   vkconv::LayerNorm ln(ctx, {96});           // nn.LayerNorm(96): ConvNeXt's channels-last norm
//
// y = (x - mean) / sqrt(var + eps) * weight + bias, mean and the biased variance taken over the
// last normalized_shape.size() dims of the input, which must equal normalized_shape. Shader:
// layer_norm.comp, one workgroup per row with a two-pass (mean, then sum of squared deviations)
// fp32 reduction; a NaN or infinity in a row makes that row NaN, as in PyTorch.
// state_dict: "weight" and "bias" of normalized_shape (when elementwise_affine).
#pragma once

#include <vector>

#include "vkconv/layer.h"

namespace vkconv {

class LayerNorm : public Layer {
public:
    LayerNorm(Context& ctx, Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
    std::string type() const override { return "LayerNorm"; }
    // "LayerNorm((96,), eps=1e-06, elementwise_affine=True)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    const Shape& normalized_shape() const { return normalized_; }
    double eps() const { return eps_; }
    bool elementwise_affine() const { return affine_; }

private:
    Shape normalized_;
    double eps_;
    bool affine_;
};

}  // namespace vkconv
