// Binary (vkconv/binary.h) and the broadcast path of Add: shaders/binary.comp.
#include <bit>
#include <cmath>
#include <sstream>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/binary.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

constexpr int kMaxDims = 5;
// Mirrors BinaryPushConstants in shaders/binary.comp.
struct BinaryPushConstants {
    uint32_t n, group_base;
    float scalar;
    uint32_t pad;
    uint32_t dims[kMaxDims], a_stride[kMaxDims], b_stride[kMaxDims];
};
enum Mode : uint32_t { ModeSame = 0, ModeBroadcast = 1, ModeScalar = 2, ModeRScalar = 3 };
constexpr uint32_t kItems = 4;
constexpr uint32_t kBlock = 64 * kItems;

// y's shape with the element strides of a and b (0 along broadcast dims), size-1 dims dropped
// and neighbouring dims merged where both operands stay contiguous across them.
struct Layout {
    std::vector<int64_t> dims, as, bs;
};

Layout broadcast_layout(const Shape& a, const Shape& b, const Shape& y) {
    const size_t nd = y.size();
    auto strides = [&](const Shape& s) {
        std::vector<int64_t> st(nd, 0);
        int64_t step = 1;
        for (size_t k = 0; k < s.size(); ++k) {
            const size_t d = nd - 1 - k, sd = s.size() - 1 - k;
            st[d] = s[sd] == 1 ? 0 : step;
            step *= s[sd];
        }
        return st;
    };
    const auto sa = strides(a), sb = strides(b);
    Layout l;
    for (size_t d = 0; d < nd; ++d) {
        if (y[d] == 1) continue;
        if (!l.dims.empty() && l.as.back() == sa[d] * y[d] && l.bs.back() == sb[d] * y[d]) {
            l.dims.back() *= y[d];
            l.as.back() = sa[d];
            l.bs.back() = sb[d];
            continue;
        }
        l.dims.push_back(y[d]);
        l.as.push_back(sa[d]);
        l.bs.push_back(sb[d]);
    }
    return l;
}

float apply_ref(BinaryOp op, float l, float r) {
    // One rounding of the exact result: double holds a +-* of two floats exactly and rounds a
    // quotient once more, which for float operands still gives the correctly rounded float.
    switch (op) {
        case BinaryOp::Add: return static_cast<float>(double(l) + double(r));
        case BinaryOp::Sub: return static_cast<float>(double(l) - double(r));
        case BinaryOp::Mul: return static_cast<float>(double(l) * double(r));
        case BinaryOp::Div: return static_cast<float>(double(l) / double(r));
    }
    return 0.0f;
}

// The flat modes through binary_texel (see binary.comp) where the policy prefers texel inputs,
// the tensors are whole vec4s with texel views and y binds whole; false otherwise.
bool record_flat_texel(Context& ctx, CommandRecorder& rec, const std::string& who, BinaryOp op, Mode mode, const Activation& act,
                       BinaryPushConstants pc, const Tensor& a, const Tensor* b, const Tensor& y) {
    auto& hc = host::of(ctx);
    const int64_t n = y.numel();
    if (!hc.policy().layer_texel_inputs || n % 4 != 0 || !hc.uniform_texel_format(vk::Format::eR32G32B32A32Sfloat) ||
        uint64_t(n / 4) > ctx.info().max_texel_buffer_elements || n >= (int64_t(1) << 31) ||
        detail::storage_chunk_units(ctx, who, "element", n, {sizeof(float)}) != n)
        return false;
    for (const Tensor* t : {&a, b, &y})
        if (t && !detail::buffer_of(*t).texel_views()) return false;
    const auto pipeline = hc.pipeline("binary_texel", {static_cast<uint32_t>(op), mode, static_cast<uint32_t>(act.kind),
                                                       std::bit_cast<uint32_t>(act.alpha), std::bit_cast<uint32_t>(act.beta), kItems, kMaxDims});
    const auto view = [&](const Tensor& t) { return host::BufferBinding(detail::buffer_of(t).view(vk::Format::eR32G32B32A32Sfloat, static_cast<uint64_t>(n / 4))); };
    const host::BufferBinding bindings[] = {view(a), view(b ? *b : a), detail::buffer_of(y)};
    pc.n = static_cast<uint32_t>(n / 4);
    const int64_t blocks = (n / 4 + kBlock - 1) / kBlock;
    detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
        pc.group_base = static_cast<uint32_t>(base[0]);
        host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
    });
    return true;
}

// Records the flat modes, chunked to fit maxStorageBufferRange.
void record_flat(Context& ctx, CommandRecorder& rec, const std::string& who, const host::ComputePipeline& pipeline,
                 BinaryPushConstants pc, const Tensor& a, const Tensor* b, const Tensor& y) {
    const int64_t n = y.numel();
    const int64_t chunk = detail::storage_chunk_units(ctx, who, "element", n, {sizeof(float)});
    for (int64_t e0 = 0; e0 < n; e0 += chunk) {
        const int64_t count = std::min(chunk, n - e0);
        const uint64_t offset = static_cast<uint64_t>(e0) * sizeof(float), bytes = static_cast<uint64_t>(count) * sizeof(float);
        const host::BufferBinding a_range(detail::buffer_of(a).handle(), detail::buffer_of(a).offset() + offset, bytes);
        const host::BufferBinding y_range(detail::buffer_of(y).handle(), detail::buffer_of(y).offset() + offset, bytes);
        const host::BufferBinding b_range = b ? host::BufferBinding(detail::buffer_of(*b).handle(), detail::buffer_of(*b).offset() + offset, bytes) : a_range;
        const host::BufferBinding bindings[] = {a_range, b_range, y_range};
        pc.n = static_cast<uint32_t>(count);
        const int64_t blocks = (count + kBlock - 1) / kBlock;
        detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
            pc.group_base = static_cast<uint32_t>(base[0]);
            host::of(rec).dispatch(pipeline, bindings, pc, cnt[0], 1, 1);
        });
    }
}

// `dims`: the broadcast's used dims (DIMS in binary.comp), 1..kMaxDims.
std::shared_ptr<const host::ComputePipeline> binary_pipeline(Context& ctx, BinaryOp op, Mode mode, const Activation& act,
                                                             uint32_t dims = kMaxDims) {
    return host::of(ctx).pipeline("binary",
                        {static_cast<uint32_t>(op), mode, static_cast<uint32_t>(act.kind), std::bit_cast<uint32_t>(act.alpha),
                         std::bit_cast<uint32_t>(act.beta), kItems, dims});
}

void record_scalar(CommandRecorder& rec, const std::string& who, BinaryOp op, float scalar, bool scalar_first, const Tensor& x,
                   const Tensor& y, const Activation& act) {
    if (y.numel() == 0) return;
    Context& ctx = x.context();
    const Mode mode = scalar_first ? ModeRScalar : ModeScalar;
    BinaryPushConstants pc{};
    pc.scalar = scalar;
    if (!record_flat_texel(ctx, rec, who, op, mode, act, pc, x, nullptr, y))
        record_flat(ctx, rec, who, *binary_pipeline(ctx, op, mode, act), pc, x, nullptr, y);
    host::of(rec).barrier();
}

}  // namespace

const char* to_string(BinaryOp op) {
    switch (op) {
        case BinaryOp::Add: return "Add";
        case BinaryOp::Sub: return "Sub";
        case BinaryOp::Mul: return "Mul";
        case BinaryOp::Div: return "Div";
    }
    return "Binary";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who) {
    shape_numel(a);
    shape_numel(b);
    const size_t nd = std::max(a.size(), b.size());
    Shape out(nd);
    for (size_t k = 0; k < nd; ++k) {
        const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1, db = k < b.size() ? b[b.size() - 1 - k] : 1;
        if (da != db && da != 1 && db != 1)
            throw Error(who + ": The size of tensor a (" + std::to_string(da) + ") must match the size of tensor b (" +
                        std::to_string(db) + ") at non-singleton dimension " + std::to_string(nd - 1 - k) + " (shapes " +
                        shape_str(a) + " and " + shape_str(b) + ")");
        out[nd - 1 - k] = da == 1 ? db : da;
    }
    return out;
}

std::vector<float> binary_reference(BinaryOp op, const Shape& a_shape, const std::vector<float>& a, const Shape& b_shape,
                                    const std::vector<float>& b, const Activation& act) {
    const Shape y = broadcast_shapes(a_shape, b_shape, to_string(op));
    const Layout l = broadcast_layout(a_shape, b_shape, y);
    std::vector<float> out(static_cast<size_t>(shape_numel(y)));
    for (size_t i = 0; i < out.size(); ++i) {
        int64_t rem = static_cast<int64_t>(i), ia = 0, ib = 0;
        for (size_t d = l.dims.size(); d-- > 0;) {
            const int64_t c = rem % l.dims[d];
            rem /= l.dims[d];
            ia += c * l.as[d];
            ib += c * l.bs[d];
        }
        const float r = apply_ref(op, a[static_cast<size_t>(ia)], b[static_cast<size_t>(ib)]);
        out[i] = act.is_none() ? r : static_cast<float>(activation_reference(act, r));
    }
    return out;
}

void record_binary(CommandRecorder& rec, const std::string& who, BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& y,
                   const Activation& act) {
    const Shape out = broadcast_shapes(a.shape(), b.shape(), who);
    if (y.shape() != out)
        throw Error(who + ": output tensor has shape " + shape_str(y.shape()) + ", expected " + shape_str(out));
    if (y.numel() == 0) return;
    Context& ctx = a.context();
    if (a.shape() == b.shape()) {
        if (!record_flat_texel(ctx, rec, who, op, ModeSame, act, BinaryPushConstants{}, a, &b, y))
            record_flat(ctx, rec, who, *binary_pipeline(ctx, op, ModeSame, act), BinaryPushConstants{}, a, &b, y);
        host::of(rec).barrier();
        return;
    }
    const Layout l = broadcast_layout(a.shape(), b.shape(), out);
    if (l.dims.size() > kMaxDims)
        throw Error(who + ": broadcasting " + shape_str(a.shape()) + " with " + shape_str(b.shape()) + " needs " +
                    std::to_string(l.dims.size()) + " strided dims after merging; at most 5 are supported");
    if (y.numel() > int64_t(UINT32_MAX)) throw Error(who + ": more than 2^32-1 output elements");
    // Broadcast reads wander over the operands: they are bound whole (a clear error beyond
    // maxStorageBufferRange rather than a chunked plan).
    for (const Tensor* t : {&a, &b, &y})
        if (t->bytes() > ctx.info().max_storage_buffer_range)
            throw Error(who + ": a tensor of shape " + shape_str(t->shape()) + " (" + std::to_string(t->bytes()) +
                        " bytes) exceeds the device's maxStorageBufferRange (" +
                        std::to_string(ctx.info().max_storage_buffer_range) + " bytes) and cannot be broadcast in slices");
    BinaryPushConstants pc{};
    const size_t pad = kMaxDims - l.dims.size();
    for (size_t d = 0; d < kMaxDims; ++d) {
        pc.dims[d] = d < pad ? 1u : static_cast<uint32_t>(l.dims[d - pad]);
        pc.a_stride[d] = d < pad ? 0u : static_cast<uint32_t>(l.as[d - pad]);
        pc.b_stride[d] = d < pad ? 0u : static_cast<uint32_t>(l.bs[d - pad]);
    }
    pc.n = static_cast<uint32_t>(y.numel());
    const auto pipeline = binary_pipeline(ctx, op, ModeBroadcast, act, static_cast<uint32_t>(std::max<size_t>(l.dims.size(), 1)));
    const host::BufferBinding bindings[] = {detail::buffer_of(a), detail::buffer_of(b), detail::buffer_of(y)};
    const int64_t blocks = (y.numel() + kBlock - 1) / kBlock;
    detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
        pc.group_base = static_cast<uint32_t>(base[0]);
        host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
    });
    host::of(rec).barrier();
}

// ---- Binary ---------------------------------------------------------------------------------

Binary::Binary(Context& ctx, BinaryOp op) : Layer(ctx), op_(op), kind_(Operand::Tensor) {}

Binary::Binary(Context& ctx, BinaryOp op, double scalar, bool scalar_first)
    : Layer(ctx), op_(op), kind_(Operand::Scalar), scalar_(static_cast<float>(scalar)), scalar_given_(scalar),
      first_(scalar_first) {}

Binary::Binary(Context& ctx, BinaryOp op, std::string parameter_name, Shape parameter_shape, bool parameter_first)
    : Layer(ctx), op_(op), kind_(Operand::Parameter), first_(parameter_first), param_name_(std::move(parameter_name)) {
    if (param_name_.empty() || param_name_.find('.') != std::string::npos)
        throw Error(std::string(to_string(op)) + ": the parameter name must be non-empty and without dots, got '" +
                    param_name_ + "'");
    const int64_t n = shape_numel(parameter_shape);
    add_parameter(param_name_, std::move(parameter_shape), std::vector<float>(static_cast<size_t>(n), 1.0f));
}

std::string Binary::repr() const {
    std::string s = std::string(to_string(op_)) + "(";
    if (kind_ == Operand::Scalar) s += "other=" + python_float_repr(scalar_given_) + (first_ ? ", reverse=True" : "");
    if (kind_ == Operand::Parameter) s += "parameter=" + param_name_ + (first_ ? "" : ", reverse=True");
    return s + ")";
}

Shape Binary::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    switch (kind_) {
        case Operand::Tensor: return broadcast_shapes(inputs[0], inputs[1], type());
        case Operand::Scalar: shape_numel(inputs[0]); return inputs[0];
        case Operand::Parameter: {
            const Shape& p = parameters().at(param_name_).shape;
            return first_ ? broadcast_shapes(p, inputs[0], type()) : broadcast_shapes(inputs[0], p, type());
        }
    }
    return inputs[0];
}

void Binary::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_with_activation(rec, inputs, output, Activation::none());
}

void Binary::record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                    const Activation& a) {
    check_input_count(inputs.size());
    std::vector<Shape> shapes;
    for (const auto& t : inputs) shapes.push_back(t.shape());
    detail::check_output_shape(*this, output, output_shape(shapes));
    switch (kind_) {
        case Operand::Tensor: return record_binary(rec, type(), op_, inputs[0], inputs[1], output, a);
        case Operand::Scalar: return record_scalar(rec, type(), op_, scalar_, first_, inputs[0], output, a);
        case Operand::Parameter: {
            const Tensor& p = device_parameter(param_name_);
            host::of(rec).keep_alive(detail::storage_of(p));
            return first_ ? record_binary(rec, type(), op_, p, inputs[0], output, a)
                          : record_binary(rec, type(), op_, inputs[0], p, output, a);
        }
    }
}

std::vector<float> Binary::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes);
    detail::check_reference_input(*this, shapes[0], inputs[0], kind_ == Operand::Tensor ? "a" : "input");
    switch (kind_) {
        case Operand::Tensor:
            detail::check_reference_input(*this, shapes[1], inputs[1], "b");
            return binary_reference(op_, shapes[0], inputs[0], shapes[1], inputs[1]);
        case Operand::Scalar: {
            std::vector<float> out(inputs[0].size());
            for (size_t i = 0; i < out.size(); ++i)
                out[i] = first_ ? apply_ref(op_, scalar_, inputs[0][i]) : apply_ref(op_, inputs[0][i], scalar_);
            return out;
        }
        case Operand::Parameter: {
            const auto& p = parameters().at(param_name_);
            return first_ ? binary_reference(op_, p.shape, p.value, shapes[0], inputs[0])
                          : binary_reference(op_, shapes[0], inputs[0], p.shape, p.value);
        }
    }
    return {};
}

}  // namespace vkconv
