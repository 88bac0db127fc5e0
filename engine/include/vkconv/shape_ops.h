// vkconv/shape_ops.h: layers that rearrange elements without computing, with PyTorch's (1.13)
// semantics and argument checks.
//
//   vkconv::Cat cat(ctx, 3, 1);               // torch.cat([a, b, c], dim=1)
//   vkconv::Chunk half(ctx, 2, 1, 0);         // x.chunk(2, dim=1)[0]
//   vkconv::Split part(ctx, {16, 8}, 1, 1);   // torch.split(x, [16, 8], dim=1)[1]
//   vkconv::Reshape r(ctx, {-1, 2, 8, 4, 4});  // x.view(-1, 2, 8, 4, 4)
//   vkconv::Permute p(ctx, {0, 2, 3, 1});     // x.permute(0, 2, 3, 1).contiguous()
//   vkconv::Transpose t(ctx, 1, 2);           // x.transpose(1, 2).contiguous()
//
// All of them compute with shaders/strided_copy.comp (one dispatch per copy); in a Model,
// Reshape is a view (no pass), and Chunk/Split slices and Cat inputs become views into one
// buffer where the memory layout allows (see Model: a concatenation written in place).
// Tensors are always contiguous here: a Permute materialises its result, so `.contiguous()`
// after it is the identity and `.view()` after it behaves as `.reshape()`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vkconv/layer.h"
#include "vkconv/tensor.h"

namespace vkconv {

// torch.cat(tensors, dim): every input has the same number of dimensions and the same sizes
// except along `dim` (negative dims wrap).
class Cat : public Layer {
public:
    Cat(Context& ctx, int num_inputs, int dim = 0);
    std::string type() const override { return "Cat"; }
    std::string repr() const override { return "Cat(dim=" + std::to_string(dim_) + ")"; }
    int num_inputs() const override { return num_inputs_; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    int dim() const { return dim_; }
    // Copies only the inputs whose in_place[k] is false (a model has the others' producers write
    // straight into their slices of `output`); ends with a barrier when it copied anything.
    void record_copies(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                       const std::vector<bool>& in_place);
    // Element offset of input k's slice in the output when the slices are contiguous ranges
    // (every dimension before `dim` has size 1); -1 otherwise.
    static std::vector<int64_t> contiguous_offsets(std::span<const Shape> inputs, int wrapped_dim);
    int wrapped_dim(size_t ndim) const;

private:
    int num_inputs_, dim_;
};

// A slice along one dimension: [start, start + length) of `dim` (what torch.narrow returns).
// Chunk and Split compute the range from the input's shape.
class Slice : public Layer {
public:
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;

    struct Range {
        int dim;  // wrapped
        int64_t start, length;
    };
    // The range for an input shape; throws with PyTorch's message when the arguments do not fit.
    virtual Range range(const Shape& input) const = 0;
    // Element offset of the slice in the input when it is one contiguous range (every
    // dimension before `dim` has size 1), else -1.
    int64_t contiguous_offset(const Shape& input) const;

protected:
    explicit Slice(Context& ctx) : Layer(ctx) {}
};

// x.chunk(chunks, dim)[index] (torch.chunk): pieces of ceil(size / chunks) along dim, the last
// one smaller; fewer than `chunks` pieces when the size does not allow more.
class Chunk : public Slice {
public:
    Chunk(Context& ctx, int chunks, int dim, int index);
    std::string type() const override { return "Chunk"; }
    std::string repr() const override;  // "Chunk(chunks=2, dim=1, index=0)"
    Range range(const Shape& input) const override;
    int chunks() const { return chunks_; }
    int dim() const { return dim_; }
    int index() const { return index_; }

private:
    int chunks_, dim_, index_;
};

// torch.split(x, split_size_or_sections, dim)[index]: with one size, pieces of that size (the
// last smaller); with a list, pieces of those sizes, which must sum to the size along dim.
class Split : public Slice {
public:
    Split(Context& ctx, int64_t split_size, int dim, int index);
    Split(Context& ctx, std::vector<int64_t> sections, int dim, int index);
    std::string type() const override { return "Split"; }
    std::string repr() const override;  // "Split(split_size=4, dim=1, index=0)" / "Split(sections=[2, 3], ...)"
    Range range(const Shape& input) const override;
    const std::vector<int64_t>& sections() const { return sections_; }
    int64_t split_size() const { return split_size_; }
    int dim() const { return dim_; }
    int index() const { return index_; }

private:
    int64_t split_size_ = -1;        // when sections_ is empty
    std::vector<int64_t> sections_;
    int dim_, index_;
};

// x.view(shape) / x.reshape(shape) / torch.flatten(x, a, b) on a contiguous tensor: the same
// elements with another shape (a view in a model). One entry may be -1 (inferred). An entry of
// 0 is a size of 0, as in PyTorch.
class Reshape : public Layer {
public:
    Reshape(Context& ctx, Shape shape);
    std::string type() const override { return "Reshape"; }
    std::string repr() const override;  // "Reshape(shape=[1, 2, -1])"
    bool is_view() const override { return true; }
    Shape output_shape(std::span<const Shape> inputs) const override;
    // A view computes nothing; called directly, copies the input's storage into `output`.
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
    const Shape& shape() const { return shape_; }

private:
    Shape shape_;
};

// x.permute(dims) materialised (.contiguous()): output dim i is input dim dims[i]. Up to 6
// dimensions.
class Permute : public Layer {
public:
    Permute(Context& ctx, std::vector<int> dims);
    std::string type() const override { return "Permute"; }
    std::string repr() const override;  // "Permute(dims=[0, 2, 3, 1])"
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
    // The wrapped permutation for an input of `ndim` dimensions (checked as PyTorch checks).
    virtual std::vector<int> permutation(size_t ndim) const;

protected:
    std::vector<int> dims_;
};

// x.transpose(dim0, dim1) materialised: a Permute swapping two dimensions (negative dims wrap
// against the input's rank).
class Transpose : public Permute {
public:
    Transpose(Context& ctx, int dim0, int dim1);
    std::string type() const override { return "Transpose"; }
    std::string repr() const override;  // "Transpose(dim0=1, dim1=2)"
    std::vector<int> permutation(size_t ndim) const override;
    int dim0() const { return dim0_; }
    int dim1() const { return dim1_; }

private:
    int dim0_, dim1_;
};

}  // namespace vkconv
