// Cat, Chunk/Split (Slice), Reshape, Permute/Transpose: the layers of vkconv/shape_ops.h,
// computed by shaders/strided_copy.comp.
#include <algorithm>
#include <limits>
#include <numeric>

#include "host/context.h"
#include "vkconv/internal.h"
#include "host/pipeline.h"
#include "layers_common.h"
#include "vkconv/error.h"
#include "vkconv/shape_ops.h"

namespace vkconv {
namespace {

constexpr int kMaxDims = 6;
constexpr uint32_t kItems = 4;            // elements per invocation
constexpr uint32_t kBlock = 64 * kItems;  // elements per workgroup

// Mirrors StridedCopyPushConstants in shaders/strided_copy.comp.
struct StridedCopyPushConstants {
    uint32_t n, group_base, src_offset, dst_offset, ndim;
    uint32_t size[kMaxDims], src_stride[kMaxDims], dst_stride[kMaxDims];
};

// One strided region copy (see strided_copy.comp), without a barrier. Both tensors are bound
// whole: each must fit maxStorageBufferRange (checked, with an error naming the limit).
struct Region {
    std::vector<int64_t> size, src_stride, dst_stride;
    int64_t src_offset = 0, dst_offset = 0;
};

void record_region(Context& ctx, CommandRecorder& rec, const Layer& who, const Tensor& src, const Tensor& dst, Region r) {
    // Dimensions of size 1 carry nothing; dropping them keeps any rank <= kMaxDims + ones.
    Region c;
    c.src_offset = r.src_offset;
    c.dst_offset = r.dst_offset;
    int64_t n = 1;
    for (size_t d = 0; d < r.size.size(); ++d) {
        n *= r.size[d];
        if (r.size[d] == 1) continue;
        c.size.push_back(r.size[d]);
        c.src_stride.push_back(r.src_stride[d]);
        c.dst_stride.push_back(r.dst_stride[d]);
    }
    if (n == 0) return;
    if (c.size.size() > kMaxDims)
        throw Error(who.type() + ": at most " + std::to_string(kMaxDims) + " dimensions of size > 1 are supported, got " +
                    std::to_string(c.size.size()));
    detail::check_buffer_range(who, src);
    detail::check_buffer_range(who, dst);
    StridedCopyPushConstants pc{};
    pc.n = static_cast<uint32_t>(n);
    pc.src_offset = static_cast<uint32_t>(c.src_offset);
    pc.dst_offset = static_cast<uint32_t>(c.dst_offset);
    pc.ndim = static_cast<uint32_t>(c.size.size());
    for (size_t d = 0; d < c.size.size(); ++d) {
        pc.size[d] = static_cast<uint32_t>(c.size[d]);
        pc.src_stride[d] = static_cast<uint32_t>(c.src_stride[d]);
        pc.dst_stride[d] = static_cast<uint32_t>(c.dst_stride[d]);
    }
    const auto pipeline = host::of(ctx).pipeline("strided_copy", {kItems});
    const host::BufferBinding bindings[] = {detail::buffer_of(src), detail::buffer_of(dst)};
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    detail::split_dispatch({blocks, 1, 1}, detail::workgroup_count_limit(ctx), [&](auto base, auto cnt) {
        pc.group_base = static_cast<uint32_t>(base[0]);
        host::of(rec).dispatch(*pipeline, bindings, pc, cnt[0], 1, 1);
    });
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int d = static_cast<int>(s.size()) - 2; d >= 0; --d) st[static_cast<size_t>(d)] = st[static_cast<size_t>(d) + 1] * s[static_cast<size_t>(d) + 1];
    return st;
}

int64_t product(const Shape& s, size_t from, size_t to) {
    int64_t p = 1;
    for (size_t d = from; d < to; ++d) p *= s[d];
    return p;
}

std::string list_str(const std::vector<int64_t>& v) { return shape_str(v); }

// Host copy of a region, for the references.
void copy_region(const std::vector<float>& src, std::vector<float>& dst, const Region& r) {
    int64_t n = 1;
    for (int64_t s : r.size) n *= s;
    std::vector<int64_t> c(r.size.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i, s = r.src_offset, d = r.dst_offset;
        for (int k = static_cast<int>(r.size.size()) - 1; k >= 0; --k) {
            const auto kk = static_cast<size_t>(k);
            const int64_t ck = rest % r.size[kk];
            rest /= r.size[kk];
            s += ck * r.src_stride[kk];
            d += ck * r.dst_stride[kk];
        }
        dst[static_cast<size_t>(d)] = src[static_cast<size_t>(s)];
    }
}

// Cat input k's region in the output: [outer, size_k * inner] at offset start_k * inner.
Region cat_region(const Shape& out, const Shape& in, int dim, int64_t start) {
    const int64_t outer = product(out, 0, static_cast<size_t>(dim));
    const int64_t inner = product(out, static_cast<size_t>(dim) + 1, out.size());
    const int64_t len = in[static_cast<size_t>(dim)] * inner;
    Region r;
    r.size = {outer, len};
    r.src_stride = {len, 1};
    r.dst_stride = {out[static_cast<size_t>(dim)] * inner, 1};
    r.dst_offset = start * inner;
    return r;
}

Region slice_region(const Shape& in, const Slice::Range& g) {
    const int64_t outer = product(in, 0, static_cast<size_t>(g.dim));
    const int64_t inner = product(in, static_cast<size_t>(g.dim) + 1, in.size());
    Region r;
    r.size = {outer, g.length * inner};
    r.src_stride = {in[static_cast<size_t>(g.dim)] * inner, 1};
    r.dst_stride = {g.length * inner, 1};
    r.src_offset = g.start * inner;
    return r;
}

Region permute_region(const Shape& in, const std::vector<int>& perm) {
    const auto st = contiguous_strides(in);
    Region r;
    for (int p : perm) {
        r.size.push_back(in[static_cast<size_t>(p)]);
        r.src_stride.push_back(st[static_cast<size_t>(p)]);
    }
    r.dst_stride = contiguous_strides(r.size);
    return r;
}

}  // namespace

// ---- Cat ----------------------------------------------------------------------------------

Cat::Cat(Context& ctx, int num_inputs, int dim) : Layer(ctx), num_inputs_(num_inputs), dim_(dim) {
    if (num_inputs < 1) throw Error("Cat: torch.cat(): expected a non-empty list of Tensors");
}

int Cat::wrapped_dim(size_t ndim) const { return detail::wrap_dim(dim_, ndim, type()); }

Shape Cat::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    for (size_t k = 0; k < inputs.size(); ++k) {
        shape_numel(inputs[k]);
        if (inputs[k].empty())
            throw Error("Cat: zero-dimensional tensor (at position " + std::to_string(k) + ") cannot be concatenated");
    }
    const Shape& first = inputs[0];
    const int d = wrapped_dim(first.size());
    Shape out = first;
    for (size_t k = 1; k < inputs.size(); ++k) {
        const Shape& s = inputs[k];
        if (s.size() != first.size())
            throw Error("Cat: Tensors must have same number of dimensions: got " + std::to_string(first.size()) + " and " +
                        std::to_string(s.size()));
        for (size_t j = 0; j < s.size(); ++j)
            if (static_cast<int>(j) != d && s[j] != first[j])
                throw Error("Cat: Sizes of tensors must match except in dimension " + std::to_string(d) + ". Expected size " +
                            std::to_string(first[j]) + " but got size " + std::to_string(s[j]) + " for tensor number " +
                            std::to_string(k) + " in the list.");
        out[static_cast<size_t>(d)] += s[static_cast<size_t>(d)];
    }
    shape_numel(out);
    return out;
}

std::vector<int64_t> Cat::contiguous_offsets(std::span<const Shape> inputs, int d) {
    std::vector<int64_t> off(inputs.size(), -1);
    if (inputs.empty() || product(inputs[0], 0, static_cast<size_t>(d)) != 1) return off;
    const int64_t inner = product(inputs[0], static_cast<size_t>(d) + 1, inputs[0].size());
    int64_t start = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
        off[k] = start * inner;
        start += inputs[k][static_cast<size_t>(d)];
    }
    return off;
}

void Cat::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    record_copies(rec, inputs, output, std::vector<bool>(inputs.size(), false));
}

void Cat::record_copies(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const std::vector<bool>& in_place) {
    check_input_count(inputs.size());
    std::vector<Shape> shapes;
    for (const auto& t : inputs) shapes.push_back(t.shape());
    const Shape out = output_shape(shapes);
    detail::check_output_shape(*this, output, out);
    const int d = wrapped_dim(out.size());
    int64_t start = 0;
    bool copied = false;
    for (size_t k = 0; k < inputs.size(); ++k) {
        if (!(k < in_place.size() && in_place[k])) {
            // An input already placed in the output's buffer is read through its own range, but
            // the copies before it bound (and, for the validation layer, wrote) the whole output.
            if (copied && detail::buffer_of(inputs[k]).handle() == detail::buffer_of(output).handle()) host::of(rec).barrier();
            record_region(*ctx_, rec, *this, inputs[k], output, cat_region(out, shapes[k], d, start));
            copied = true;
        }
        start += shapes[k][static_cast<size_t>(d)];
    }
    if (copied) host::of(rec).barrier();
}

std::vector<float> Cat::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape out = output_shape(shapes);
    const int d = wrapped_dim(out.size());
    std::vector<float> y(static_cast<size_t>(shape_numel(out)));
    int64_t start = 0;
    for (size_t k = 0; k < shapes.size(); ++k) {
        detail::check_reference_input(*this, shapes[k], inputs[k]);
        const Region r = cat_region(out, shapes[k], d, start);
        copy_region(inputs[k], y, r);
        start += shapes[k][static_cast<size_t>(d)];
    }
    return y;
}

// ---- Slice, Chunk, Split ------------------------------------------------------------------

Shape Slice::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);
    const Range g = range(inputs[0]);
    Shape out = inputs[0];
    out[static_cast<size_t>(g.dim)] = g.length;
    return out;
}

int64_t Slice::contiguous_offset(const Shape& input) const {
    const Range g = range(input);
    if (product(input, 0, static_cast<size_t>(g.dim)) != 1) return -1;
    return g.start * product(input, static_cast<size_t>(g.dim) + 1, input.size());
}

void Slice::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output_shape(*this, output, output_shape(inputs[0].shape()));
    record_region(*ctx_, rec, *this, inputs[0], output, slice_region(inputs[0].shape(), range(inputs[0].shape())));
    host::of(rec).barrier();
}

std::vector<float> Slice::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape out = output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    std::vector<float> y(static_cast<size_t>(shape_numel(out)));
    copy_region(inputs[0], y, slice_region(shapes[0], range(shapes[0])));
    return y;
}

namespace {
// torch.split(split_size)'s pieces: num = ceil(size / split_size) (1 when split_size is 0).
Slice::Range split_piece(const std::string& who, int dim, int64_t size, int64_t split_size, int index, const std::string& call) {
    const int64_t num = split_size == 0 ? 1 : std::max<int64_t>((size + split_size - 1) / split_size, 1);
    if (index < 0 || index >= num)
        throw Error(who + ": index " + std::to_string(index) + " is out of range: " + call + " of size " + std::to_string(size) +
                    " along dim " + std::to_string(dim) + " gives " + std::to_string(num) + " piece(s) (tuple index out of range)");
    const int64_t start = static_cast<int64_t>(index) * split_size;
    return {dim, start, std::min(split_size, size - start)};
}
}  // namespace

Chunk::Chunk(Context& ctx, int chunks, int dim, int index) : Slice(ctx), chunks_(chunks), dim_(dim), index_(index) {
    if (chunks <= 0) throw Error("Chunk: chunk expects `chunks` to be greater than 0, got: " + std::to_string(chunks));
}

std::string Chunk::repr() const {
    return "Chunk(chunks=" + std::to_string(chunks_) + ", dim=" + std::to_string(dim_) + ", index=" + std::to_string(index_) + ")";
}

Slice::Range Chunk::range(const Shape& input) const {
    if (input.empty()) throw Error("Chunk: chunk expects at least a 1-dimensional tensor");
    const int d = detail::wrap_dim(dim_, input.size(), type());
    const int64_t size = input[static_cast<size_t>(d)];
    const int64_t split_size = (size + chunks_ - 1) / chunks_;
    const std::string call = "chunk(" + std::to_string(chunks_) + ")";
    // torch.chunk of an empty dimension returns `chunks` empty pieces.
    if (split_size == 0 && size == 0) {
        if (index_ < 0 || index_ >= chunks_)
            throw Error("Chunk: index " + std::to_string(index_) + " is out of range: " + call +
                        " gives " + std::to_string(chunks_) + " piece(s) (tuple index out of range)");
        return {d, 0, 0};
    }
    return split_piece(type(), d, size, split_size, index_, call);
}

Split::Split(Context& ctx, int64_t split_size, int dim, int index) : Slice(ctx), split_size_(split_size), dim_(dim), index_(index) {
    if (split_size < 0)
        throw Error("Split: split expects split_size be non-negative, but got split_size=" + std::to_string(split_size));
}

Split::Split(Context& ctx, std::vector<int64_t> sections, int dim, int index)
    : Slice(ctx), sections_(std::move(sections)), dim_(dim), index_(index) {
    for (int64_t s : sections_)
        if (s < 0)
            throw Error("Split: split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=" +
                        list_str(sections_));
    if (sections_.empty()) throw Error("Split: split_with_sizes expects a non-empty list of split_sizes");
}

std::string Split::repr() const {
    const std::string what = sections_.empty() ? "split_size=" + std::to_string(split_size_) : "sections=" + list_str(sections_);
    return "Split(" + what + ", dim=" + std::to_string(dim_) + ", index=" + std::to_string(index_) + ")";
}

Slice::Range Split::range(const Shape& input) const {
    if (input.empty()) throw Error("Split: split expects at least a 1-dimensional tensor");
    const int d = detail::wrap_dim(dim_, input.size(), type());
    const int64_t size = input[static_cast<size_t>(d)];
    if (sections_.empty()) {
        if (split_size_ == 0 && size != 0)
            throw Error("Split: split_size can only be 0 if dimension size is 0, but got dimension size of " + std::to_string(size));
        return split_piece(type(), d, size, split_size_, index_, "split(" + std::to_string(split_size_) + ")");
    }
    const int64_t sum = std::accumulate(sections_.begin(), sections_.end(), int64_t(0));
    if (sum != size)
        throw Error("Split: split_with_sizes expects split_sizes to sum exactly to " + std::to_string(size) +
                    " (input tensor's size at dimension " + std::to_string(d) + "), but got split_sizes=" + list_str(sections_));
    if (index_ < 0 || index_ >= static_cast<int>(sections_.size()))
        throw Error("Split: index " + std::to_string(index_) + " is out of range: split(" + list_str(sections_) + ") gives " +
                    std::to_string(sections_.size()) + " piece(s) (tuple index out of range)");
    const int64_t start = std::accumulate(sections_.begin(), sections_.begin() + index_, int64_t(0));
    return {d, start, sections_[static_cast<size_t>(index_)]};
}

// ---- Reshape ------------------------------------------------------------------------------

Reshape::Reshape(Context& ctx, Shape shape) : Layer(ctx), shape_(std::move(shape)) {
    int inferred = 0;
    for (int64_t s : shape_) {
        if (s == -1 && ++inferred > 1) throw Error("Reshape: only one dimension can be inferred");
        if (s < -1) throw Error("Reshape: invalid shape dimension " + std::to_string(s));
    }
}

std::string Reshape::repr() const { return "Reshape(shape=" + shape_str(shape_) + ")"; }

Shape Reshape::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    const int64_t numel = shape_numel(inputs[0]);
    Shape out = shape_;
    int64_t known = 1;
    int infer = -1;
    for (size_t d = 0; d < out.size(); ++d) {
        if (out[d] == -1)
            infer = static_cast<int>(d);
        else
            known *= out[d];
    }
    if (infer >= 0) {
        if (known == 0) {
            if (numel == 0)
                throw Error("Reshape: cannot reshape tensor of 0 elements into shape " + shape_str(shape_) +
                            " because the unspecified dimension size -1 can be any value and is ambiguous");
            throw Error("Reshape: shape '" + shape_str(shape_) + "' is invalid for input of size " + std::to_string(numel));
        }
        if (numel % known != 0)
            throw Error("Reshape: shape '" + shape_str(shape_) + "' is invalid for input of size " + std::to_string(numel));
        out[static_cast<size_t>(infer)] = numel / known;
    } else if (known != numel) {
        throw Error("Reshape: shape '" + shape_str(shape_) + "' is invalid for input of size " + std::to_string(numel));
    }
    return out;
}

void Reshape::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output(*this, output, output_shape(inputs[0].shape()));
    detail::record_copy(rec, inputs[0], output);
}

std::vector<float> Reshape::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    return inputs[0];
}

// ---- Permute, Transpose -------------------------------------------------------------------

Permute::Permute(Context& ctx, std::vector<int> dims) : Layer(ctx), dims_(std::move(dims)) {}

std::string Permute::repr() const {
    return "Permute(dims=" + shape_str(Shape(dims_.begin(), dims_.end())) + ")";
}

std::vector<int> Permute::permutation(size_t ndim) const {
    if (dims_.size() != ndim)
        throw Error("Permute: permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
                    "desired ordering of dimensions i.e. input.dim() = " + std::to_string(ndim) + " is not equal to len(dims) = " +
                    std::to_string(dims_.size()));
    std::vector<int> perm;
    std::vector<bool> seen(ndim, false);
    for (int d : dims_) {
        const int w = detail::wrap_dim(d, ndim, type());
        if (seen[static_cast<size_t>(w)]) throw Error("Permute: permute(): duplicate dims are not allowed.");
        seen[static_cast<size_t>(w)] = true;
        perm.push_back(w);
    }
    return perm;
}

Shape Permute::output_shape(std::span<const Shape> inputs) const {
    check_input_count(inputs.size());
    shape_numel(inputs[0]);
    const auto perm = permutation(inputs[0].size());
    Shape out;
    for (int p : perm) out.push_back(inputs[0][static_cast<size_t>(p)]);
    return out;
}

void Permute::record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) {
    check_input_count(inputs.size());
    detail::check_output_shape(*this, output, output_shape(inputs[0].shape()));
    record_region(*ctx_, rec, *this, inputs[0], output, permute_region(inputs[0].shape(), permutation(inputs[0].shape().size())));
    host::of(rec).barrier();
}

std::vector<float> Permute::reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const {
    check_input_count(shapes.size());
    const Shape out = output_shape(shapes[0]);
    detail::check_reference_input(*this, shapes[0], inputs[0]);
    // From the definition: y[i_0, ..., i_k] = x[j] with j_{perm[d]} = i_d.
    const auto perm = permutation(shapes[0].size());
    const auto in_st = contiguous_strides(shapes[0]);
    std::vector<float> y(static_cast<size_t>(shape_numel(out)));
    std::vector<int64_t> idx(out.size(), 0);
    for (size_t i = 0; i < y.size(); ++i) {
        int64_t rest = static_cast<int64_t>(i), src = 0;
        for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
            const auto dd = static_cast<size_t>(d);
            src += (rest % out[dd]) * in_st[static_cast<size_t>(perm[dd])];
            rest /= out[dd];
        }
        y[i] = inputs[0][static_cast<size_t>(src)];
    }
    return y;
}

Transpose::Transpose(Context& ctx, int dim0, int dim1) : Permute(ctx, {}), dim0_(dim0), dim1_(dim1) {}

std::string Transpose::repr() const {
    return "Transpose(dim0=" + std::to_string(dim0_) + ", dim1=" + std::to_string(dim1_) + ")";
}

std::vector<int> Transpose::permutation(size_t ndim) const {
    const int a = detail::wrap_dim(dim0_, ndim, type()), b = detail::wrap_dim(dim1_, ndim, type());
    std::vector<int> perm(std::max<size_t>(ndim, 1));
    std::iota(perm.begin(), perm.end(), 0);
    perm.resize(ndim);
    if (ndim) std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    return perm;
}

}  // namespace vkconv
