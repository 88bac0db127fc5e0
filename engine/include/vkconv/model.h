// vkconv/model.h: whole networks on the device, in the spirit of nn.Sequential / nn.Module.
//
//   vkconv::Model m(ctx, "SimpleCNN");
//   m.add("conv1", std::make_unique<vkconv::Conv2d>(ctx, 3, 16, 3, vkconv::Conv2dOptions{.padding = 1}));
//   m.add("relu1", std::make_unique<vkconv::ReLU>(ctx));
//   ...
//   m.load_weights("simple_cnn.safetensors");      // PyTorch state_dict names: conv1.weight, ...
//   vkconv::Tensor logits = m.forward(x);           // one submission, intermediates stay on the device
//
// Layers run in the order added. Each takes the previous layer's output, or the outputs named
// in `inputs` ("input" is the model's input), so residual blocks are expressible:
//   m.add("add1", std::make_unique<vkconv::Add>(ctx), {"relu1", "conv2"});
// Dotted names ("features.0") nest in the printed summary as PyTorch's do; functional calls
// (add_functional: F.relu, F.max_pool2d, x.view, a module called a second time) run but are
// not printed, as PyTorch prints only submodules.
//
// forward() compiles a plan once per input shape: output shapes, Conv2d+BatchNorm2d folding
// and ReLU fusion where exact, and a memory plan that reuses device buffers between layers
// (concatenations written in place and channel slices taken as views where the layout allows:
// vkconv/shape_ops.h); then it records every layer into one command buffer and submits it once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"
#include "vkconv/layer.h"
#include "vkconv/npy.h"
#include "vkconv/tensor.h"

namespace vkconv {

// What one forward pass cost in host<->device traffic (see Model::last_forward_stats()).
struct ForwardStats {
    uint64_t submissions = 0;       // queue submissions, the forward's own included
    uint64_t host_transfers = 0;    // uploads + downloads between host and device memory
    uint32_t dispatches = 0;        // compute dispatches recorded
    uint64_t plan_bytes = 0;        // device memory of the plan's intermediate buffers
    uint32_t plan_buffers = 0;      // how many such buffers (fewer than layers: reused)
};

class Model {
public:
    explicit Model(Context& ctx, std::string name = "Model");
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    Layer& add(const std::string& name, std::unique_ptr<Layer> layer, std::vector<std::string> inputs = {});
    // A functional call (F.relu, F.max_pool2d, x.view, or a second call of a module): it runs
    // like any layer but is not a submodule, so summary() does not print it, as PyTorch prints
    // only a module's children. Parameters it holds still appear in state_dict().
    Layer& add_functional(const std::string& name, std::unique_ptr<Layer> layer, std::vector<std::string> inputs = {});
    bool is_functional(const std::string& name) const;
    Layer& layer(const std::string& name) const;
    std::vector<std::string> layer_names() const;
    const std::string& name() const { return name_; }
    Context& context() const { return *ctx_; }

    // PyTorch's print(model) format.
    std::string summary() const;
    // Output shape of every layer for an input shape, in order.
    std::vector<std::pair<std::string, Shape>> layer_shapes(const Shape& input_shape) const;
    Shape output_shape(const Shape& input_shape) const;
    int64_t parameter_count() const;

    // state_dict: "layer.param" -> array, with PyTorch's names and shapes.
    std::map<std::string, HostArray> state_dict() const;
    // Loads every entry; with `strict`, missing and unexpected keys are errors. Wrong shapes are
    // always errors. One error names every offending key.
    void load_state_dict(const std::map<std::string, HostArray>& state, bool strict = true);
    // A .safetensors file, or a directory of <key>.npy files.
    void load_weights(const std::string& path, bool strict = true);
    // Seeded default initialisation of every layer that has one (Conv2d, Linear).
    void reset_parameters(uint64_t seed);

    // Conv2d+BatchNorm2d folding, activation fusion and channel scalings (x * s, s [N or 1, C, 1, 1])
    // folded into the convolution reading them (on by default); off runs every layer alone.
    void set_fusion(bool on);
    // Sets every Conv2d's storage precision (Conv2d::set_storage_precision; the folded
    // Conv2d+BatchNorm2d convolutions take their Conv2d's). Opt-in fp16 storage for the whole
    // model: StoragePrecision::Float16.
    void set_conv2d_storage_precision(StoragePrecision p);

    Tensor forward(const Tensor& input);
    // Named outputs, for a forward that returns a dict or tuple (torchvision's segmentation
    // models: {"out": ..., "aux": ...}): (output name, layer name) pairs, in order. Without
    // them the model has one output, the last layer's, named "output". forward() returns the
    // first; forward_all() all of them, computed in one submission.
    void set_outputs(std::vector<std::pair<std::string, std::string>> outputs);
    std::vector<std::pair<std::string, std::string>> outputs() const;
    std::map<std::string, Tensor> forward_all(const Tensor& input);
    // Also returns the outputs of the named layers (downloaded after the forward).
    Tensor forward(const Tensor& input, const std::vector<std::string>& capture,
                   std::map<std::string, HostArray>* captured);
    // Records the forward pass into `rec` (no submission); `output` has output_shape(input).
    void record(CommandRecorder& rec, const Tensor& input, const Tensor& output);
    // One recorded step of the plan, as `after_step` sees it: the layer that runs (a folded
    // Conv2d+BatchNorm2d is a Conv2d of the plan's own), the node whose output it writes, and
    // the activation its epilogue applies (fused ReLU etc.; none otherwise). Views and fused
    // layers have no step of their own.
    struct StepInfo {
        size_t index = 0;
        const std::string& name;
        const Layer& layer;
        std::span<const Tensor> inputs;
        const Tensor& output;
        Activation activation;
    };
    // The same, calling `after_step(rec, step)` after each step is recorded: profiling (a GPU
    // timestamp between steps) and tools that need each layer's resolved input shapes.
    void record(CommandRecorder& rec, const Tensor& input, const Tensor& output,
                const std::function<void(CommandRecorder&, const StepInfo&)>& after_step);
    // The steps of a forward at `input_shape`, planned as forward() plans them (folding, fusion)
    // but without allocating or recording anything: `f` sees each step's node name, the layer
    // that runs (a folded Conv2d+BatchNorm2d is a Conv2d of the plan's own, alive during the
    // call), its input shapes, its output shape and the activation its epilogue applies. For
    // compile reports (vkconv compile-report: Conv2d::prepare on each convolution).
    struct PlannedStep {
        const std::string& name;
        Layer& layer;
        std::span<const Shape> inputs;
        const Shape& output;
        Activation activation;
        // A Conv2d reading x * s with the channel scaling folded into its pack pass.
        bool scaled_input = false;
    };
    void for_each_step(const Shape& input_shape, const std::function<void(const PlannedStep&)>& f);
    // The forward pass on the CPU, layer by layer with each layer's reference.
    std::vector<float> reference_forward(const Shape& input_shape, const std::vector<float>& input,
                                         std::map<std::string, std::vector<float>>* outputs = nullptr) const;
    ForwardStats last_forward_stats() const { return stats_; }

private:
    struct Node {
        std::string name;
        std::unique_ptr<Layer> layer;
        std::vector<int> inputs;  // node indices; -1 is the model's input
        bool functional = false;  // not printed by summary()
    };
    struct Plan;

    Plan& plan_for(const Shape& input_shape, const std::vector<std::string>& keep);
    // The plan; without `allocate`, its steps only (no memory plan, no device buffers).
    std::unique_ptr<Plan> make_plan(const Shape& input_shape, const std::vector<std::string>& keep, bool allocate);
    void invalidate_plans();
    void record_plan(Plan& plan, CommandRecorder& rec, const Tensor& input, const Tensor& output,
                     const std::function<void(CommandRecorder&, const StepInfo&)>* after_step = nullptr);
    Tensor run(const Tensor& input, const std::vector<std::string>& capture, std::map<std::string, HostArray>* captured,
               std::map<std::string, Tensor>* outputs);
    int node_index(const std::string& name) const;

    Context* ctx_;
    std::string name_;
    std::vector<Node> nodes_;
    std::vector<std::pair<std::string, std::string>> outputs_;  // set_outputs()
    bool fusion_ = true;
    std::map<std::string, std::unique_ptr<Plan>> plans_;
    ForwardStats stats_;
};

}  // namespace vkconv
