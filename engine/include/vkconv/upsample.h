// vkconv/upsample.h: nn.Upsample / F.interpolate (and nn.UpsamplingNearest2d,
// nn.UpsamplingBilinear2d) on 4-D NCHW input, modes 'nearest' and 'bilinear', computed by
// shaders/upsample2d.comp with PyTorch's (1.13, CPU) index rules exactly:
//
//   output size   `size`, or floor(in * scale_factor) per axis.
//   scale         with scale_factor given and recompute_scale_factor not True: float(1 / scale_factor);
//                 else float(in) / float(out); bilinear with align_corners: (in - 1) / (out - 1)
//                 (0 when out == 1). Computed in float, as ATen does for float tensors.
//   nearest       src = min(floor(dst * scale), in - 1). With one channel (C == 1) the input is
//                 also channels-last contiguous and ATen takes its channels-last kernel, whose
//                 nearest_idx first maps out == in to src = dst and out == 2 * in to
//                 src = dst >> 1: different indices for scale factors such as 2.2 on an input
//                 of 3 (0 0 1 1 2 2 against 0 0 0 1 1 2); vkconv follows both.
//   bilinear      src = scale * dst (align_corners) or max(scale * (dst + 0.5) - 0.5, 0);
//                 i0 = trunc(src), i1 = i0 + (i0 < in - 1), l1 = clamp(src - i0, 0, 1),
//                 l0 = 1 - l1 (out == in copies); y = l0h (l0w x00 + l1w x01) + l1h (l0w x10 + l1w x11).
//
//   vkconv::Upsample up(ctx, {.scale_factor = {2.0}, .mode = "bilinear", .align_corners = false});
//
// With coordinate_transformation_mode set, the index rules are ONNX Resize's instead (below).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vkconv/layer.h"

namespace vkconv {

struct UpsampleOptions {
    std::vector<int64_t> size;          // empty, one value (both axes) or (h, w)
    std::vector<double> scale_factor;   // empty, one value (both axes) or (h, w)
    std::string mode = "nearest";       // "nearest" | "bilinear"
    std::optional<bool> align_corners;  // bilinear only; None means False
    std::optional<bool> recompute_scale_factor;
    // The PyTorch class printed by repr(): "Upsample", "UpsamplingNearest2d",
    // "UpsamplingBilinear2d" (the latter two are Upsample with mode nearest / bilinear and
    // align_corners=True). F.interpolate is an Upsample: nn.Upsample.forward calls it.
    std::string class_name = "Upsample";
    // ONNX Resize's rules instead of PyTorch's (empty: PyTorch's, as above). The source
    // coordinate of output index x, with r = 1 / scale_factor or in / out (for a given size),
    // rounded to float:
    //   "half_pixel"                 (x + 0.5) r - 0.5
    //   "pytorch_half_pixel"         the same, 0 when out == 1
    //   "align_corners"              x (in - 1) / (out - 1), 0 when out == 1; with a scale
    //                                factor x (in - 1) / (in * scale_factor - 1) (ONNX's rule)
    //   "asymmetric"                 x r
    //   "tf_half_pixel_for_nearest"  (x + 0.5) r
    // nearest rounds it by nearest_mode ("round_prefer_floor", ONNX's default, rounds halves
    // down; "round_prefer_ceil" up; "floor"; "ceil") and clamps into [0, in - 1]; bilinear
    // clamps it into [0, in - 1] and interpolates between floor and the next index (ONNX's
    // edge padding). align_corners must be unset then.
    std::string coordinate_transformation_mode;
    std::string nearest_mode = "round_prefer_floor";
};

class Upsample : public Layer {
public:
    // Throws with F.interpolate's messages for argument combinations it refuses.
    Upsample(Context& ctx, UpsampleOptions options);

    std::string type() const override { return options_.class_name; }
    // "Upsample(scale_factor=2.0, mode=nearest)", "UpsamplingBilinear2d(size=5, mode=bilinear)".
    std::string repr() const override;
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    const UpsampleOptions& options() const { return options_; }

private:
    UpsampleOptions options_;
};

}  // namespace vkconv
