// vkconv/layer.h: what every layer (Conv2d, ReLU, MaxPool2d, Linear, ...) is to a model.
//
// A layer knows its output shape for given input shapes (checking them with PyTorch's
// messages), records its forward pass into a command buffer (device tensors in, device tensor
// out, no host round trip), has a CPU reference forward for tests, and holds its parameters
// and buffers under PyTorch's state_dict names ("weight", "bias", "running_mean", ...).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "vkconv/activation.h"
#include "vkconv/command_recorder.h"
#include "vkconv/context.h"
#include "vkconv/tensor.h"

namespace vkconv {

struct Parameter {
    Shape shape;
    std::vector<float> value;
    bool buffer = false;  // a PyTorch buffer (running_mean, ...), not counted as a parameter
};

class Layer {
public:
    virtual ~Layer() = default;
    Layer(const Layer&) = delete;
    Layer& operator=(const Layer&) = delete;

    // "Conv2d", "ReLU", ...: the PyTorch class name.
    virtual std::string type() const = 0;
    // PyTorch's repr: "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))".
    virtual std::string repr() const = 0;
    // 1 for most layers; 2 for Add.
    virtual int num_inputs() const { return 1; }
    // Output shape for these input shapes; throws vkconv::Error with PyTorch-style messages.
    virtual Shape output_shape(std::span<const Shape> inputs) const = 0;
    // A view layer (Flatten, Dropout in inference) computes nothing: its output is its input's
    // storage with the output shape, and record() is never called for it by a model.
    virtual bool is_view() const { return false; }
    // Records the forward pass; `output` has output_shape() of the inputs' shapes. Ends with a
    // barrier so that later work sees the output.
    virtual void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) = 0;
    // The CPU reference forward (double accumulation wherever it sums).
    virtual std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const = 0;

    // Single-input conveniences.
    Shape output_shape(const Shape& input) const { return output_shape(std::span(&input, 1)); }
    std::vector<float> reference(const Shape& shape, const std::vector<float>& input) const {
        return reference(std::span(&shape, 1), std::span(&input, 1));
    }
    // Computes on the device and waits (one submission); the result stays on the device.
    Tensor forward(const Tensor& input);
    Tensor forward(const Tensor& a, const Tensor& b);
    Tensor forward(std::span<const Tensor> inputs);

    // state_dict entries, names relative to the layer.
    const std::map<std::string, Parameter>& parameters() const { return params_; }
    bool has_parameter(const std::string& name) const { return params_.count(name) != 0; }
    // Replaces a parameter's values; throws naming the entry when the count is wrong.
    void set_parameter(const std::string& name, std::span<const float> value);
    const std::vector<float>& parameter(const std::string& name) const;
    // Trainable parameter elements (PyTorch's sum(p.numel() for p in m.parameters())).
    int64_t parameter_count() const;
    Context& context() const { return *ctx_; }
    // Increases whenever a parameter changes (models recompile what they derived from them).
    uint64_t version() const { return version_; }

    // ReLU fused into this layer's output (Conv2d, Linear, Add): a model records the pair as one
    // pass. Layers that can do it override both.
    virtual bool can_fuse_relu() const { return false; }
    virtual void record_with_relu(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output);
    // Any activation fused into this layer's output (vkconv/activation.h). The defaults cover
    // ReLU through the two above; layers whose epilogue applies every kind override both.
    virtual bool can_fuse_activation(const Activation& a) const {
        return a.kind == ActivationKind::ReLU && can_fuse_relu();
    }
    virtual void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                        const Activation& a);

protected:
    explicit Layer(Context& ctx) : ctx_(&ctx) {}
    void add_parameter(const std::string& name, Shape shape, std::vector<float> value, bool buffer = false);
    // The device copy of a parameter, uploaded again after set_parameter().
    const Tensor& device_parameter(const std::string& name);
    // Called after set_parameter() (e.g. to refold derived values).
    virtual void on_parameter_changed(const std::string&) {}
    // Throws unless exactly num_inputs() inputs are given.
    void check_input_count(size_t n) const;

    Context* ctx_;

private:
    std::map<std::string, Parameter> params_;
    std::map<std::string, Tensor> device_;
    std::set<std::string> stale_;
    uint64_t version_ = 0;
};

}  // namespace vkconv
