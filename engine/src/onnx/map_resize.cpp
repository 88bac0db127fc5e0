// ONNX nodes -> layers: Resize and Upsample (onto Upsample with ONNX's index rules), Pad (folded
// into the Conv that reads it).
#include "onnx/loader.h"

namespace vkconv::onnx_impl {

void Loader::map_resize(const onnx::NodeProto& n) {
    const bool upsample_op = n.op_type() == "Upsample";
    const Value& x = input(n, 0);
    if (x.shape.size() != 4)
        unsupported(n, "a rank-" + std::to_string(x.shape.size()) + " input: vkconv resizes 2-D images (4-D NCHW input) only");
    std::string mode = attr_string(n, "mode", "nearest");
    if (mode == "bilinear") mode = "linear";  // Upsample-7's name
    if (mode != "nearest" && mode != "linear") unsupported(n, "mode '" + mode + "': vkconv resizes with nearest and linear only");
    // Upsample and Resize-10 have the asymmetric rule (x / scale) and nearest's floor.
    const bool v10 = upsample_op || opset_ < 11;
    const std::string coord = v10 ? "asymmetric" : attr_string(n, "coordinate_transformation_mode", "half_pixel");
    const std::string nearest = v10 ? "floor" : attr_string(n, "nearest_mode", "round_prefer_floor");
    if (coord == "tf_crop_and_resize") unsupported(n, "coordinate_transformation_mode 'tf_crop_and_resize' (a region of interest)");
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (upsample_op && opset_ < 9) {
        const auto* a = attr(n, "scales");
        if (!a || a->type() != onnx::AttributeProto::FLOATS) throw Error(where(n) + ": attribute 'scales' (floats) is required");
        scales.assign(a->floats().begin(), a->floats().end());
    } else if (v10) {
        for (double v : const_input(n, 1, "scales").values()) scales.push_back(v);
    } else {
        if (has_input(n, 2) && const_input(n, 2, "scales").numel() > 0)
            for (double v : const_input(n, 2, "scales").values()) scales.push_back(v);
        if (has_input(n, 3)) sizes = const_ints(n, 3, "sizes");
        if (scales.empty() == sizes.empty()) throw Error(where(n) + ": exactly one of scales and sizes must be given");
    }
    UpsampleOptions o;
    o.mode = mode == "nearest" ? "nearest" : "bilinear";
    o.coordinate_transformation_mode = coord;
    o.nearest_mode = nearest;
    o.class_name = upsample_op ? "Upsample" : "Resize";
    if (!scales.empty()) {
        if (scales.size() != 4) throw Error(where(n) + ": scales has " + std::to_string(scales.size()) + " values for a rank-4 input");
        if (scales[0] != 1 || scales[1] != 1)
            unsupported(n, "scales of the batch or channel dim (" + std::to_string(scales[0]) + ", " + std::to_string(scales[1]) +
                               "): vkconv resizes H and W only");
        for (double s : scales)
            if (!(s > 0) || !std::isfinite(s)) throw Error(where(n) + ": scales must be positive and finite");
        o.scale_factor = {scales[2], scales[3]};
    } else {
        if (sizes.size() != 4) throw Error(where(n) + ": sizes has " + std::to_string(sizes.size()) + " values for a rank-4 input");
        if (sizes[0] != x.shape[0] || sizes[1] != x.shape[1])
            unsupported(n, "sizes " + ints_str(sizes) + " resize the batch or channel dim of " + shape_str(x.shape) + ": vkconv resizes H and W only");
        for (int64_t v : sizes)
            if (v <= 0) throw Error(where(n) + ": sizes must be positive, got " + ints_str(sizes));
        o.size = {sizes[2], sizes[3]};
    }
    std::unique_ptr<Upsample> layer;
    try {
        layer = std::make_unique<Upsample>(ctx_, o);
    } catch (const Error& e) {
        unsupported(n, std::string("vkconv's Upsample refuses it: ") + e.what());
    }
    set_output(n, 0, add_layer(n, std::move(layer), {&x}));
}

// Pad before a Conv: recorded here, applied by map_conv as the convolution's padding (zeros
// added to its pads; reflect and edge as its reflect and replicate padding modes).
void Loader::map_pad(const onnx::NodeProto& n) {
    const Value& x = input(n, 0);
    const std::string mode = attr_string(n, "mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge") unsupported(n, "mode '" + mode + "'");
    std::vector<int64_t> pads;
    double value = 0;
    if (opset_ < 11) {
        pads = attr_ints(n, "pads").value_or(std::vector<int64_t>{});
        value = attr_float(n, "value", 0.0f);
    } else {
        pads = const_ints(n, 1, "pads");
        if (has_input(n, 2)) {
            const OnnxConst& v = const_input(n, 2, "constant_value");
            if (v.numel() != 1) throw Error(where(n) + ": constant_value must hold one value");
            value = v.at(0);
        }
        if (has_input(n, 3)) unsupported(n, "the axes input");
    }
    const size_t r = x.shape.size();
    if (pads.size() != 2 * r) throw Error(where(n) + ": pads has " + std::to_string(pads.size()) + " values for a rank-" + std::to_string(r) + " input");
    for (int64_t p : pads)
        if (p < 0) unsupported(n, "negative pads " + ints_str(pads) + " (cropping)");
    if (std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })) return set_output(n, 0, x);  // nothing to pad
    if (r != 4) unsupported(n, "a rank-" + std::to_string(r) + " input: vkconv pads 2-D images (4-D NCHW input) inside a Conv only");
    if (pads[0] || pads[1] || pads[4] || pads[5]) unsupported(n, "pads " + ints_str(pads) + " of the batch or channel dim: vkconv pads H and W only");
    if (mode == "constant" && value != 0)
        unsupported(n, "constant_value " + std::to_string(value) + ": vkconv pads with zeros only (inside a Conv)");
    const std::string& out = n.output(0);
    const auto it = consumers_.find(out);
    bool conv_only = !graph_outputs_.count(out) && it != consumers_.end();
    if (conv_only)
        for (int c : it->second) {
            const auto& cn = g_.node(c);
            conv_only = conv_only && cn.op_type() == "Conv" && cn.input_size() > 0 && cn.input(0) == out;
            for (int i = 1; i < cn.input_size(); ++i) conv_only = conv_only && cn.input(i) != out;
        }
    if (!conv_only)
        unsupported(n, "a Pad that is not read by Conv nodes only: vkconv pads inside a convolution (Conv2d's padding and padding modes)");
    PendingPad p;
    p.mode = mode;
    p.top = pads[2];
    p.left = pads[3];
    p.bottom = pads[6];
    p.right = pads[7];
    p.source = n.input(0);
    pending_pads_[out] = p;
    Value v = x;
    v.shape[2] += p.top + p.bottom;
    v.shape[3] += p.left + p.right;
    set_output(n, 0, v);
}

}  // namespace vkconv::onnx_impl
