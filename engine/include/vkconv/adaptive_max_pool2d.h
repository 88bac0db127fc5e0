// vkconv/adaptive_max_pool2d.h: nn.AdaptiveMaxPool2d (return_indices=False) with PyTorch's
// windows: output cell i along an axis of In inputs and Out outputs is the maximum of inputs
// [floor(i * In / Out), ceil((i + 1) * In / Out)); a NaN wins, as in PyTorch. Computed by
// shaders/adaptive_max_pool2d.comp. Input [C, H, W] or [N, C, H, W] (N may be 0).
//
//   vkconv::AdaptiveMaxPool2d pool(ctx, 1);                    // nn.AdaptiveMaxPool2d(1)
//   vkconv::AdaptiveMaxPool2d rows(ctx, 4, std::nullopt);      // nn.AdaptiveMaxPool2d((4, None))
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"  // Pair
#include "vkconv/layer.h"

namespace vkconv {

class AdaptiveMaxPool2d : public Layer {
public:
    AdaptiveMaxPool2d(Context& ctx, Pair output_size);
    // output_size entries that are None (std::nullopt) keep the input's size. return_indices=True
    // (the argmax indices, for MaxUnpool2d) is refused: vkconv's layers return one tensor.
    AdaptiveMaxPool2d(Context& ctx, std::optional<int> output_h, std::optional<int> output_w, bool return_indices = false);
    std::string type() const override { return "AdaptiveMaxPool2d"; }
    // "AdaptiveMaxPool2d(output_size=1)", "AdaptiveMaxPool2d(output_size=(2, None))".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    std::optional<int> output_h() const { return h_; }
    std::optional<int> output_w() const { return w_; }

private:
    std::optional<int> h_, w_;
};

}  // namespace vkconv
