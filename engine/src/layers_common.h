// layers_common.h: helpers shared by the layers of vkconv/layers.h (private to engine/src).
#pragma once

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "host/buffer.h"
#include "host/command.h"
#include "host/context.h"
#include "vkconv/conv2d.h"
#include "vkconv/layer.h"

namespace vkconv::detail {

// "2" for a square pair, "(2, 3)" otherwise: PyTorch prints what the user gave, and a square
// Pair is most often an int.
std::string pair_repr(Pair p);
// "(2, 3)" always.
std::string pair_tuple(Pair p);
inline const char* py_bool(bool b) { return b ? "True" : "False"; }
// An adaptive pooling's output_size with None entries (std::nullopt): "3", "(2, 3)", "(None, 3)".
std::string optional_pair_repr(std::optional<int> h, std::optional<int> w);
// The output size for an input [..., H, W]: None entries take the input's size (0 for an input
// of rank below 2, which the layer then refuses).
Pair resolve_output_size(std::optional<int> h, std::optional<int> w, const Shape& input);

// PyTorch's maybe_wrap_dim: a dim in [-n, n-1] (n = max(ndim, 1)) made non-negative; throws
// "Dimension out of range (expected to be in range of [-2, 1], but got 2)" otherwise.
int wrap_dim(int64_t dim, size_t ndim, const std::string& who);

// Workgroups per dispatch along x, y, z: the device's maxComputeWorkGroupCount, or less under
// set_layer_workgroup_count_limit_for_testing().
std::array<uint32_t, 3> workgroup_count_limit(const Context& ctx);

// Issues the dispatches covering `groups` workgroups (x, y, z) without any dispatch exceeding
// `limit`; fn(base, count) records one dispatch of count[] workgroups whose first workgroup is
// base[] (the shader adds base to gl_WorkGroupID).
template <class F>
void split_dispatch(std::array<int64_t, 3> groups, std::array<uint32_t, 3> limit, F&& fn) {
    for (int64_t z = 0; z < groups[2]; z += limit[2])
        for (int64_t y = 0; y < groups[1]; y += limit[1])
            for (int64_t x = 0; x < groups[0]; x += limit[0]) {
                const std::array<int32_t, 3> base{static_cast<int32_t>(x), static_cast<int32_t>(y), static_cast<int32_t>(z)};
                const std::array<uint32_t, 3> count{
                    static_cast<uint32_t>(std::min<int64_t>(limit[0], groups[0] - x)),
                    static_cast<uint32_t>(std::min<int64_t>(limit[1], groups[1] - y)),
                    static_cast<uint32_t>(std::min<int64_t>(limit[2], groups[2] - z))};
                fn(base, count);
            }
}

// Records `groups` workgroups (x, y, z) of `pipeline`, split as split_dispatch does; each
// dispatch's first workgroup goes in the push constants' x_base, y_base and z_base.
template <class PushConstants>
void dispatch_xyz(const Context& ctx, CommandRecorder& rec, const host::ComputePipeline& pipeline,
                  std::span<const host::BufferBinding> bindings, PushConstants& pc, std::array<int64_t, 3> groups) {
    split_dispatch(groups, workgroup_count_limit(ctx), [&](auto base, auto count) {
        pc.x_base = base[0];
        pc.y_base = base[1];
        pc.z_base = base[2];
        host::of(rec).dispatch(pipeline, bindings, pc, count[0], count[1], count[2]);
    });
}

// The binding of `count` units of `unit_bytes` of t's buffer from unit `first` (a chunk of
// storage_chunk_units).
host::BufferBinding sub_range(const Tensor& t, int64_t first, int64_t count, uint64_t unit_bytes);

// An R32F uniform texel view of all of t, where the device policy reads layer inputs through
// texel views (DevicePolicy::layer_texel_inputs) and the view can cover t; nullopt otherwise
// (the layer binds t as a storage buffer).
std::optional<host::BufferBinding> texel_input(const Context& ctx, const Tensor& t);

// maxStorageBufferRange: how many consecutive units (images, planes, rows) of the tensors a
// layer binds can be bound at once, each tensor as a sub-range starting at a multiple of
// minStorageBufferOffsetAlignment. `unit_bytes` holds one unit's bytes in each such tensor;
// returns `units` when whole tensors fit, else the largest chunk that fits; throws (naming
// maxStorageBufferRange, the sizes and `unit`) when not even one unit can be bound alone.
int64_t storage_chunk_units(const Context& ctx, const std::string& who, const char* unit, int64_t units,
                            std::initializer_list<uint64_t> unit_bytes);

// maxStorageBufferRange: the `planes` planes of `input` and `output` (in_plane and out_plane
// bytes each) in chunks of whole planes bound as sub-ranges; fn(bindings, planes_in_chunk)
// records one chunk.
template <class F>
void for_each_plane_chunk(const Context& ctx, const std::string& who, const Tensor& input, const Tensor& output, int64_t planes,
                          uint64_t in_plane, uint64_t out_plane, F&& fn) {
    const int64_t chunk = storage_chunk_units(ctx, who, "plane", planes, {in_plane, out_plane});
    for (int64_t p0 = 0; p0 < planes; p0 += chunk) {
        const int64_t np = std::min(chunk, planes - p0);
        const host::BufferBinding bindings[] = {sub_range(input, p0, np, in_plane), sub_range(output, p0, np, out_plane)};
        fn(std::span<const host::BufferBinding>(bindings), np);
    }
}

// Throws unless `output` has shape `expected` and every tensor fits maxStorageBufferRange.
void check_output(const Layer& layer, const Tensor& output, const Shape& expected);
// The shape check alone (layers that split what exceeds maxStorageBufferRange).
void check_output_shape(const Layer& layer, const Tensor& output, const Shape& expected);
void check_buffer_range(const Layer& layer, const Tensor& t);

// Throws unless the host data has as many values as the shape needs (reference inputs).
void check_reference_input(const Layer& layer, const Shape& shape, const std::vector<float>& data, const char* what = "input");

// Copies `input` into `output` (same element count) and ends with a barrier: what a view
// layer's record() does when called directly.
void record_copy(CommandRecorder& rec, const Tensor& input, const Tensor& output);

// reset_parameters of nn.Conv2d, nn.ConvTranspose2d and nn.Linear: kaiming_uniform_(a=sqrt(5)),
// bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), i.e. 1 / sqrt(fan_in) (0 when
// fan_in is 0), for the weight's values and then the bias's (bias_numel, 0: none; the same
// bound), drawn from mt19937_64(seed) in that order.
std::pair<std::vector<float>, std::vector<float>> kaiming_uniform(int64_t weight_numel, int64_t bias_numel, int64_t fan_in,
                                                                  uint64_t seed);
// The layer's "bias" parameter, or an empty vector where it was made with bias=False.
const std::vector<float>& bias_or_none(const Layer& layer, bool has_bias);
// layer.set_parameter("bias", b), refused as PyTorch would where the layer has no bias.
void set_bias(Layer& layer, bool has_bias, std::span<const float> b);

}  // namespace vkconv::detail
