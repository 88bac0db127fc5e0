// vkconv/internal.h: in-tree only (not installed). What the engine, the tools and the tests reach
// behind the public classes: the device buffer behind a Tensor, a tensor over existing storage,
// and the pipelines a Conv2d prepared. These name the Vulkan runtime's own types (host/), which
// are not a stable interface.
#pragma once

#include <memory>
#include <vector>

#include "host/buffer.h"
#include "vkconv/conv2d.h"
#include "vkconv/tensor.h"

namespace vkconv {

namespace host {
class ComputePipeline;
}

namespace detail {

struct TensorAccess {
    // Throws for an undefined (default-constructed) tensor.
    static host::Buffer& buffer(const Tensor& t);
    static const std::shared_ptr<host::Buffer>& storage(const Tensor& t) { return t.buffer_; }
    // A tensor over existing storage (at least shape's bytes), e.g. a buffer a model reuses.
    static Tensor over(std::shared_ptr<host::Buffer> storage, Shape shape);
};

inline host::Buffer& buffer_of(const Tensor& t) { return TensorAccess::buffer(t); }
inline const std::shared_ptr<host::Buffer>& storage_of(const Tensor& t) { return TensorAccess::storage(t); }

struct Conv2dAccess {
    // Conv2d::prepare, returning the pipelines the passes run, in order (compile reports, tests).
    // `scaled_input`: with the per-channel input factors a Model folds into the pack pass, where
    // the algorithm has one.
    static std::vector<std::shared_ptr<const host::ComputePipeline>> prepare(Conv2d& conv, const Shape& input_shape,
                                                                            const Activation& act = {}, bool scaled_input = false);
};

}  // namespace detail
}  // namespace vkconv
