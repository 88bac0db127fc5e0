// vkconv/reduce.h: torch.mean and torch.amax over the spatial dims (H, W) of an input
// [..., H, W] (dim = (2, 3), (-2, -1) or any order of the two, keepdim True or False), as a
// global pooling written in forward() (x.mean((2, 3)), x.amax((2, 3), keepdim=True)). Computed by
// shaders/reduce_hw.comp: one workgroup per plane.
//
//   mean: sum / (H * W); an empty plane gives NaN (0 / 0), as torch.mean.
//   amax: the maximum; a NaN wins, as torch.amax; an empty plane is refused, as torch.amax.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "vkconv/layer.h"

namespace vkconv {

// The shared implementation; use Mean or Amax.
class ReduceHW : public Layer {
public:
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
    // "Mean(dim=(2, 3), keepdim=True)" (vkconv's own: PyTorch has no module for these).
    std::string repr() const override;

    const std::vector<int>& dim() const { return dim_; }
    bool keepdim() const { return keepdim_; }

protected:
    ReduceHW(Context& ctx, std::vector<int> dim, bool keepdim, bool max);

private:
    std::vector<int> dim_;
    bool keepdim_, max_;
};

// torch.mean(x, dim, keepdim) with dim naming the last two dims.
class Mean : public ReduceHW {
public:
    Mean(Context& ctx, std::vector<int> dim = {2, 3}, bool keepdim = false) : ReduceHW(ctx, std::move(dim), keepdim, false) {}
    std::string type() const override { return "Mean"; }
};

// torch.amax(x, dim, keepdim) with dim naming the last two dims.
class Amax : public ReduceHW {
public:
    Amax(Context& ctx, std::vector<int> dim = {2, 3}, bool keepdim = false) : ReduceHW(ctx, std::move(dim), keepdim, true) {}
    std::string type() const override { return "Amax"; }
};

}  // namespace vkconv
