// model_plan.h: Model::Plan, a forward pass compiled for one input shape (model_plan.cpp
// compiles it; model.cpp runs it).
#pragma once

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "host/buffer.h"
#include "vkconv/internal.h"
#include "host/command.h"
#include "vkconv/model.h"

namespace vkconv {

// A forward pass compiled for one input shape.
struct Model::Plan {
    struct Step {
        Layer* layer;
        std::vector<int> inputs;  // value ids (node index, or -1 for the model input)
        int output;               // value id
        Activation act;           // fused into the layer's epilogue (none: not fused)
        std::vector<bool> in_place;  // Cat: inputs whose producers wrote into the output's slices
        // A Conv2d reading x * s (s [N or 1, C, 1, 1]) with the multiplication folded into its
        // input: the Mul's input nodes {x, s}, read in place of the Conv2d's own input node.
        std::vector<int> scaled_by;
    };
    std::vector<std::unique_ptr<Layer>> owned;  // folded Conv2d+BatchNorm2d layers
    std::vector<Step> steps;
    std::vector<Shape> shapes;       // per node
    std::vector<int> root;           // per node: the node whose storage holds its value (-1: the input)
    std::vector<int64_t> root_offset;  // per node: element offset into root's value (slice views)
    // Per value (a step's output node): the value whose storage holds it (itself, or a
    // concatenation it was placed into) and its element offset there.
    std::vector<int> home;
    std::vector<int64_t> home_offset;
    // Sub-range buffers of the intermediate storages: (storage, byte offset, bytes) -> buffer.
    std::map<std::tuple<int, uint64_t, uint64_t>, std::shared_ptr<host::Buffer>> views;
    std::vector<int> storage_of;     // per node root: index into storages, -1 for the model's output
    std::vector<std::shared_ptr<host::Buffer>> storages;
    std::vector<uint64_t> versions;  // parameter versions the plan was compiled with
    uint64_t bytes = 0;

    // Node `node`'s value in this forward (-1: the model's input): its storage, or a sub-range
    // of it (slices, values placed into a concatenation), with the node's shape. A sub-range is
    // a buffer borrowing the storage's VkBuffer at an offset (bound as a storage buffer range;
    // layers that read it through texel views copy it first). Those of the plan's own storages
    // are made once; the storage and the sub-range are kept alive by `rec`.
    Tensor tensor(int node, const Tensor& input, const Tensor& output, CommandRecorder* rec) {
        if (node < 0) return input;
        const Shape& shape = shapes[static_cast<size_t>(node)];
        const int r = root[static_cast<size_t>(node)];
        int64_t off = root_offset[static_cast<size_t>(node)];
        std::shared_ptr<host::Buffer> base;
        int storage = -1;
        if (r < 0) {
            base = detail::storage_of(input);
        } else {
            const int h = home[static_cast<size_t>(r)];
            off += home_offset[static_cast<size_t>(r)];
            if (h == root.back()) {
                base = detail::storage_of(output);
            } else {
                storage = storage_of[static_cast<size_t>(h)];
                base = storages[static_cast<size_t>(storage)];
            }
        }
        if (off == 0) return detail::TensorAccess::over(base, shape);
        const uint64_t boff = static_cast<uint64_t>(off) * sizeof(float), bytes = static_cast<uint64_t>(shape_numel(shape)) * sizeof(float);
        std::shared_ptr<host::Buffer> sub;
        auto make = [&] { return std::make_shared<host::Buffer>(base->context(), base->handle(), base->offset() + boff, bytes); };
        if (storage >= 0) {
            auto& cached = views[{storage, boff, bytes}];
            if (!cached) cached = make();
            sub = cached;
        } else {
            sub = make();
        }
        if (rec) {
            host::of(*rec).keep_alive(base);
            host::of(*rec).keep_alive(sub);
        }
        return detail::TensorAccess::over(sub, shape);
    }
};

}  // namespace vkconv
