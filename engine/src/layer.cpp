#include "vkconv/layer.h"

#include <array>

#include "vkconv/error.h"

namespace vkconv {

Tensor Layer::forward(const Tensor& input) { return forward(std::span(&input, 1)); }

Tensor Layer::forward(const Tensor& a, const Tensor& b) {
    const std::array<Tensor, 2> in{a, b};
    return forward(in);
}

Tensor Layer::forward(std::span<const Tensor> inputs) {
    check_input_count(inputs.size());
    std::vector<Shape> shapes;
    for (const auto& t : inputs) shapes.push_back(t.shape());
    const Shape out_shape = output_shape(shapes);
    if (is_view()) return inputs[0].reshaped(out_shape);
    Tensor out(*ctx_, out_shape);
    CommandRecorder rec(*ctx_);
    record(rec, inputs, out);
    rec.submit_and_wait();
    return out;
}

void Layer::record_with_relu(CommandRecorder&, std::span<const Tensor>, const Tensor&) {
    throw Error(type() + " cannot fuse a ReLU into its output");
}

void Layer::record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                   const Activation& a) {
    if (a.kind == ActivationKind::ReLU && can_fuse_relu()) return record_with_relu(rec, inputs, output);
    if (a.is_none()) return record(rec, inputs, output);
    throw Error(type() + " cannot fuse " + to_string(a.kind) + " into its output");
}

void Layer::check_input_count(size_t n) const {
    if (n != static_cast<size_t>(num_inputs()))
        throw Error(type() + ": expected " + std::to_string(num_inputs()) + " input(s), got " + std::to_string(n));
}

void Layer::add_parameter(const std::string& name, Shape shape, std::vector<float> value, bool buffer) {
    if (static_cast<int64_t>(value.size()) != shape_numel(shape))
        throw Error(type() + ": parameter '" + name + "' of shape " + shape_str(shape) + " given " + std::to_string(value.size()) +
                    " values");
    params_[name] = Parameter{std::move(shape), std::move(value), buffer};
    stale_.insert(name);
    ++version_;
}

void Layer::set_parameter(const std::string& name, std::span<const float> value) {
    auto it = params_.find(name);
    if (it == params_.end()) throw Error(type() + " has no parameter '" + name + "'");
    if (static_cast<int64_t>(value.size()) != shape_numel(it->second.shape))
        throw Error(type() + ": parameter '" + name + "' has shape " + shape_str(it->second.shape) + " (" +
                    std::to_string(shape_numel(it->second.shape)) + " values), got " + std::to_string(value.size()) + " values");
    it->second.value.assign(value.begin(), value.end());
    stale_.insert(name);
    ++version_;
    on_parameter_changed(name);
}

const std::vector<float>& Layer::parameter(const std::string& name) const {
    auto it = params_.find(name);
    if (it == params_.end()) throw Error(type() + " has no parameter '" + name + "'");
    return it->second.value;
}

int64_t Layer::parameter_count() const {
    int64_t n = 0;
    for (const auto& [name, p] : params_)
        if (!p.buffer) n += static_cast<int64_t>(p.value.size());
    return n;
}

const Tensor& Layer::device_parameter(const std::string& name) {
    auto it = params_.find(name);
    if (it == params_.end()) throw Error(type() + " has no parameter '" + name + "'");
    auto& dev = device_[name];
    if (stale_.count(name) || !dev.defined()) {
        dev = Tensor::from_host(*ctx_, it->second.shape, it->second.value);
        stale_.erase(name);
    }
    return dev;
}

}  // namespace vkconv
