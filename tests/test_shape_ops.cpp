// Cat, Chunk/Split, Reshape, Permute/Transpose (shaders/strided_copy.comp) against their CPU
// references: sweeps of ranks 1-6, every permutation of 4-D and a sample of 5-D/6-D ones, cats of
// 1-5 inputs along every dimension, every piece of chunk/split (odd sizes, empty pieces), split
// dispatches; then in models: concatenations written in place (dispatch counts: no copy pass
// where the producers write into their slices; one copy per input with batch > 1), DenseNet's
// growing concatenations as views, channel slices as views, ShuffleNet's channel shuffle; and
// every refusal with PyTorch's message.
//
// Tolerance: these layers move values without arithmetic, so results are bit-identical to the
// reference (NaN payloads aside: compared as NaN). Model outputs that include convolutions are
// compared with Model::reference_forward within the fp32 summation bound of the convolutions
// (test::fp32_sum_tolerance), here below 1e-4 for the small sums used.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/vkconv.h"

namespace vkconv {
namespace {

using test::expect_error;

using test::bit_equal;

std::vector<float> values(const Shape& s, uint64_t seed) {
    auto v = test::random_values(static_cast<size_t>(shape_numel(s)), seed);
    if (!v.empty()) v[0] = std::nanf("");  // NaN travels like any value
    return v;
}

// Runs `layer` on the device and compares with its reference; `what` names the case.
void check_layer(Layer& layer, const std::vector<Shape>& shapes, const std::string& what, uint64_t seed = 1) {
    SCOPED_TRACE(what);
    Context& ctx = test::context();
    std::vector<Tensor> ins;
    std::vector<std::vector<float>> host;
    for (size_t k = 0; k < shapes.size(); ++k) {
        host.push_back(values(shapes[k], seed + k));
        ins.push_back(Tensor::from_host(ctx, shapes[k], host.back()));
    }
    const Tensor y = layer.forward(std::span<const Tensor>(ins));
    const auto want = layer.reference(std::span<const Shape>(shapes), std::span<const std::vector<float>>(host));
    EXPECT_EQ(y.shape(), layer.output_shape(std::span<const Shape>(shapes)));
    EXPECT_TRUE(bit_equal(y.to_host(), want));
}

// The definition of permute, independent of the layer's reference: y[i] = x[j], j_{perm[d]} = i_d.
std::vector<float> permute_definition(const Shape& in, const std::vector<int>& perm, const std::vector<float>& x) {
    Shape out;
    for (int p : perm) out.push_back(in[static_cast<size_t>(p)]);
    std::vector<float> y(x.size());
    std::vector<int64_t> idx(out.size(), 0);
    for (size_t i = 0; i < y.size(); ++i) {
        int64_t rest = static_cast<int64_t>(i);
        for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
            idx[static_cast<size_t>(d)] = rest % out[static_cast<size_t>(d)];
            rest /= out[static_cast<size_t>(d)];
        }
        std::vector<int64_t> j(in.size());
        for (size_t d = 0; d < out.size(); ++d) j[static_cast<size_t>(perm[d])] = idx[d];
        int64_t src = 0;
        for (size_t d = 0; d < in.size(); ++d) src = src * in[d] + j[d];
        y[i] = x[static_cast<size_t>(src)];
    }
    return y;
}

std::string str(const std::vector<int>& v) { return shape_str(Shape(v.begin(), v.end())); }

class ShapeOps : public test::VulkanTest {};

TEST_F(ShapeOps, PermuteEveryPermutationOf4D) {
    Context& ctx = test::context();
    for (const Shape& in : {Shape{2, 3, 4, 5}, Shape{1, 6, 7, 1}, Shape{3, 1, 5, 9}}) {
        std::vector<int> perm{0, 1, 2, 3};
        do {
            Permute p(ctx, perm);
            check_layer(p, {in}, "permute " + str(perm) + " of " + shape_str(in));
            const auto x = values(in, 1);
            EXPECT_TRUE(bit_equal(p.reference(in, x), permute_definition(in, perm, x))) << str(perm) << " " << shape_str(in);
        } while (std::next_permutation(perm.begin(), perm.end()));
    }
}

TEST_F(ShapeOps, PermuteRanks1To6AndNegativeDims) {
    Context& ctx = test::context();
    struct Case {
        Shape in;
        std::vector<int> dims;
    };
    const Case cases[] = {{{7}, {0}},
                          {{3, 5}, {1, 0}},
                          {{3, 5}, {-1, -2}},
                          {{2, 3, 4}, {2, 0, 1}},
                          {{2, 3, 4, 5, 6}, {0, 2, 1, 3, 4}},  // ShuffleNet's transpose(1, 2) of [b, g, c/g, h, w]
                          {{2, 3, 4, 5, 6}, {4, 3, 2, 1, 0}},
                          {{2, 3, 2, 3, 2, 3}, {5, 0, 4, 1, 3, 2}},
                          {{1, 8, 5, 5}, {0, 2, 3, 1}},        // ConvNeXt NCHW -> NHWC
                          {{1, 5, 5, 8}, {0, 3, 1, 2}},        // and back
                          {{0, 3, 4}, {2, 1, 0}}};
    for (const auto& c : cases) {
        Permute p(ctx, c.dims);
        check_layer(p, {c.in}, "permute " + str(c.dims) + " of " + shape_str(c.in));
    }
    for (const auto& [a, b] : std::vector<std::pair<int, int>>{{1, 2}, {0, 3}, {-1, 1}, {2, 2}}) {
        Transpose t(ctx, a, b);
        check_layer(t, {{2, 3, 4, 5}}, "transpose " + std::to_string(a) + "," + std::to_string(b));
    }
}

TEST_F(ShapeOps, CatAlongEveryDimension) {
    Context& ctx = test::context();
    const Shape base{2, 3, 4, 5};
    for (int inputs = 1; inputs <= 5; ++inputs)
        for (int dim = -4; dim < 4; ++dim) {
            const int d = dim < 0 ? dim + 4 : dim;
            std::vector<Shape> shapes;
            for (int k = 0; k < inputs; ++k) {
                Shape s = base;
                s[static_cast<size_t>(d)] = (k * 2) % 5;  // 0 .. 4 along dim, empty pieces included
                shapes.push_back(s);
            }
            Cat cat(ctx, inputs, dim);
            check_layer(cat, shapes, "cat of " + std::to_string(inputs) + " along dim " + std::to_string(dim));
        }
}

TEST_F(ShapeOps, CatReferenceIsTheDefinition) {
    Context& ctx = test::context();
    Cat cat(ctx, 2, 1);
    const Shape a{2, 1, 2}, b{2, 2, 2};
    const std::vector<float> av{1, 2, 3, 4}, bv{5, 6, 7, 8, 9, 10, 11, 12};
    const std::vector<Shape> shapes{a, b};
    const std::vector<std::vector<float>> ins{av, bv};
    EXPECT_EQ(cat.reference(std::span<const Shape>(shapes), std::span<const std::vector<float>>(ins)),
              (std::vector<float>{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}));
}

TEST_F(ShapeOps, EveryChunkAndSplitPiece) {
    Context& ctx = test::context();
    for (const Shape& in : {Shape{2, 7, 3, 2}, Shape{1, 8, 2, 2}, Shape{3, 5}})
        for (int dim = 0; dim < static_cast<int>(in.size()); ++dim) {
            const int64_t size = in[static_cast<size_t>(dim)];
            for (int chunks = 1; chunks <= 4; ++chunks) {
                const int64_t split = (size + chunks - 1) / chunks;
                const int64_t pieces = std::max<int64_t>((size + split - 1) / split, 1);
                int64_t total = 0;
                for (int i = 0; i < pieces; ++i) {
                    Chunk c(ctx, chunks, dim, i);
                    check_layer(c, {in}, c.repr() + " of " + shape_str(in));
                    total += c.output_shape(in)[static_cast<size_t>(dim)];
                }
                EXPECT_EQ(total, size);
                expect_error([&] { Chunk(ctx, chunks, dim, static_cast<int>(pieces)).output_shape(in); }, {"tuple index out of range"});
            }
            for (int64_t ss = 1; ss <= size; ++ss) {
                const int64_t pieces = (size + ss - 1) / ss;
                for (int i = 0; i < pieces; ++i) {
                    Split sp(ctx, ss, dim, i);
                    check_layer(sp, {in}, sp.repr() + " of " + shape_str(in));
                }
            }
            std::vector<int64_t> sections{size / 2, 0, size - size / 2};
            for (int i = 0; i < 3; ++i) {
                Split sp(ctx, sections, dim, i);
                check_layer(sp, {in}, sp.repr() + " of " + shape_str(in));
            }
        }
    // torch.chunk of an empty dimension: `chunks` empty pieces.
    EXPECT_EQ(Chunk(ctx, 3, 0, 2).output_shape(Shape{0, 4}), (Shape{0, 4}));
}

TEST_F(ShapeOps, ReshapeShapesLikeView) {
    Context& ctx = test::context();
    EXPECT_EQ(Reshape(ctx, {-1, 2, 4, 3, 3}).output_shape(Shape{2, 8, 3, 3}), (Shape{2, 2, 4, 3, 3}));
    EXPECT_EQ(Reshape(ctx, {2, -1}).output_shape(Shape{2, 8, 3, 3}), (Shape{2, 72}));
    EXPECT_EQ(Reshape(ctx, {0, 5}).output_shape(Shape{0, 3}), (Shape{0, 5}));
    Reshape r(ctx, {4, -1});
    check_layer(r, {{2, 2, 3}}, "reshape");
    EXPECT_EQ(r.repr(), "Reshape(shape=[4, -1])");
}

TEST_F(ShapeOps, SplitDispatches) {
    Context& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(2);
    Permute p(ctx, {0, 3, 1, 2});
    check_layer(p, {{2, 6, 9, 11}}, "permute with dispatches of 2 workgroups");
    Cat c(ctx, 2, 1);
    check_layer(c, {{2, 5, 9, 11}, {2, 3, 9, 11}}, "cat with dispatches of 2 workgroups");
    set_layer_workgroup_count_limit_for_testing(0);
}

TEST_F(ShapeOps, Refusals) {
    Context& ctx = test::context();
    expect_error([&] { Cat(ctx, 0, 1); }, {"torch.cat(): expected a non-empty list of Tensors"});
    expect_error([&] { Cat(ctx, 2, 1).output_shape(std::vector<Shape>{{1, 2, 3, 3}, {1, 2, 3}}); },
                 {"Tensors must have same number of dimensions: got 4 and 3"});
    expect_error([&] { Cat(ctx, 2, 1).output_shape(std::vector<Shape>{{1, 2, 3, 3}, {1, 2, 4, 3}}); },
                 {"Sizes of tensors must match except in dimension 1. Expected size 3 but got size 4 for tensor number 1 in the list."});
    expect_error([&] { Cat(ctx, 2, 4).output_shape(std::vector<Shape>{{1, 2, 3, 3}, {1, 2, 3, 3}}); },
                 {"Dimension out of range (expected to be in range of [-4, 3], but got 4)"});
    expect_error([&] { Cat(ctx, 2, 0).output_shape(std::vector<Shape>{{}, {}}); },
                 {"zero-dimensional tensor (at position 0) cannot be concatenated"});
    expect_error([&] { Chunk(ctx, 0, 1, 0); }, {"chunk expects `chunks` to be greater than 0, got: 0"});
    expect_error([&] { Chunk(ctx, 2, 0, 0).output_shape(Shape{}); }, {"chunk expects at least a 1-dimensional tensor"});
    expect_error([&] { Chunk(ctx, 2, 2, 0).output_shape(Shape{1, 2}); },
                 {"Dimension out of range (expected to be in range of [-2, 1], but got 2)"});
    expect_error([&] { Chunk(ctx, 2, 1, 2).output_shape(Shape{1, 4}); }, {"tuple index out of range"});
    expect_error([&] { Split(ctx, int64_t(-1), 1, 0); }, {"split expects split_size be non-negative, but got split_size=-1"});
    expect_error([&] { Split(ctx, int64_t(0), 1, 0).output_shape(Shape{1, 4}); },
                 {"split_size can only be 0 if dimension size is 0, but got dimension size of 4"});
    expect_error([&] { Split(ctx, std::vector<int64_t>{1, 2}, 1, 0).output_shape(Shape{1, 4}); },
                 {"split_with_sizes expects split_sizes to sum exactly to 4 (input tensor's size at dimension 1), but got split_sizes=[1, 2]"});
    expect_error([&] { Split(ctx, std::vector<int64_t>{-1, 5}, 1, 0); },
                 {"split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=[-1, 5]"});
    expect_error([&] { Split(ctx, std::vector<int64_t>{2, 2}, 1, 2).output_shape(Shape{1, 4}); }, {"tuple index out of range"});
    expect_error([&] { Reshape(ctx, {2, -1, -1}); }, {"only one dimension can be inferred"});
    expect_error([&] { Reshape(ctx, {2, -2}); }, {"invalid shape dimension -2"});
    expect_error([&] { Reshape(ctx, {5, -1}).output_shape(Shape{1, 4, 2, 3}); }, {"shape '[5, -1]' is invalid for input of size 24"});
    expect_error([&] { Reshape(ctx, {5, 5}).output_shape(Shape{1, 4, 2, 3}); }, {"shape '[5, 5]' is invalid for input of size 24"});
    expect_error([&] { Reshape(ctx, {0, -1}).output_shape(Shape{0, 3}); },
                 {"cannot reshape tensor of 0 elements into shape [0, -1] because the unspecified dimension size -1 can be any value and is ambiguous"});
    expect_error([&] { Permute(ctx, {0, 1, 2}).output_shape(Shape{1, 4, 2, 3}); },
                 {"input.dim() = 4 is not equal to len(dims) = 3"});
    expect_error([&] { Permute(ctx, {0, 1, 1, 2}).output_shape(Shape{1, 4, 2, 3}); }, {"permute(): duplicate dims are not allowed."});
    expect_error([&] { Permute(ctx, {0, 1, 2, 4}).output_shape(Shape{1, 4, 2, 3}); },
                 {"Dimension out of range (expected to be in range of [-4, 3], but got 4)"});
    expect_error([&] { Transpose(ctx, 0, 4).output_shape(Shape{1, 4, 2, 3}); },
                 {"Dimension out of range (expected to be in range of [-4, 3], but got 4)"});
    expect_error([&] { Permute(ctx, {0, 1, 2, 3, 4, 5, 6}).forward(Tensor::zeros(ctx, {2, 2, 2, 2, 2, 2, 2})); },
                 {"at most 6 dimensions of size > 1"});
}

TEST_F(ShapeOps, RefusesTensorsBeyondMaxStorageBufferRange) {
    testing::ContextOptions o;
    o.limit_overrides.max_storage_buffer_range = 1024;  // 256 floats
    test::OwnedContext ctx(o);
    Permute p(*ctx, {1, 0});
    expect_error([&] { p.forward(Tensor::zeros(*ctx, {16, 17})); }, {"Permute", "maxStorageBufferRange (1024 bytes)"});
    Cat c(*ctx, 2, 0);
    expect_error([&] { c.forward(Tensor::zeros(*ctx, {8, 16}), Tensor::zeros(*ctx, {9, 16})); }, {"Cat", "maxStorageBufferRange"});
    // A tensor of exactly maxStorageBufferRange is bound whole.
    const auto x = test::random_values(256, 5);
    EXPECT_TRUE(bit_equal(p.forward(Tensor::from_host(*ctx, {16, 16}, x)).to_host(), p.reference(Shape{16, 16}, x)));
}

// ---- in models ----------------------------------------------------------------------------

void expect_model_matches_reference(Model& m, const Shape& in, const std::string& what, float tol = 0.0f) {
    SCOPED_TRACE(what);
    Context& ctx = test::context();
    auto x = test::random_values(static_cast<size_t>(shape_numel(in)), 7);
    const Tensor y = m.forward(Tensor::from_host(ctx, in, x));
    const auto want = m.reference_forward(in, x);
    if (tol == 0.0f)
        EXPECT_TRUE(bit_equal(y.to_host(), want));
    else
        EXPECT_TRUE(test::all_close(y.to_host(), want, tol));
}

// a = relu(x), b = avgpool1(x), c = relu(x) (one dispatch each): cat(a, b, c) then relu.
std::unique_ptr<Model> three_branch_model(Context& ctx) {
    auto m = std::make_unique<Model>(ctx, "Cat3");
    m->add("a", std::make_unique<ReLU>(ctx), {"input"});
    m->add("b", std::make_unique<AvgPool2d>(ctx, 1), {"input"});
    m->add("c", std::make_unique<ReLU>(ctx), {"input"});
    m->add("cat", std::make_unique<Cat>(ctx, 3, 1), {"a", "b", "c"});
    m->add("out", std::make_unique<ReLU>(ctx));
    return m;
}

TEST_F(ShapeOps, ModelCatWrittenInPlaceWithBatch1) {
    Context& ctx = test::context();
    auto m = three_branch_model(ctx);
    // 4 x 4 planes: every channel slice starts at a multiple of 64 bytes.
    expect_model_matches_reference(*m, {1, 4, 4, 4}, "batch 1");
    EXPECT_EQ(m->last_forward_stats().dispatches, 4u) << "the three producers and the final ReLU; no copy pass";
    EXPECT_EQ(m->last_forward_stats().submissions, 1u);
    // With batch 2 each input's slice is strided per image: one copy pass per input.
    expect_model_matches_reference(*m, {2, 4, 4, 4}, "batch 2");
    EXPECT_EQ(m->last_forward_stats().dispatches, 7u);
    // Without fusion every layer runs alone, and the result is the same.
    m->set_fusion(false);
    expect_model_matches_reference(*m, {1, 4, 4, 4}, "no fusion");
    EXPECT_EQ(m->last_forward_stats().dispatches, 7u);
}

TEST_F(ShapeOps, ModelCatOfTheInputAndMisalignedSlicesCopies) {
    Context& ctx = test::context();
    Model m(ctx, "CatInput");
    m.add("a", std::make_unique<ReLU>(ctx), {"input"});
    m.add("cat", std::make_unique<Cat>(ctx, 3, 1), {"input", "a", "a"});
    m.add("out", std::make_unique<ReLU>(ctx));
    expect_model_matches_reference(m, {1, 3, 4, 4}, "input and a repeated value");
    // 'a' in place once; the input and the repeat copied.
    EXPECT_EQ(m.last_forward_stats().dispatches, 4u);
    // One-element planes: channel offsets of 4 bytes are bindable only where the device allows
    // it; otherwise everything is copied.
    expect_model_matches_reference(m, {1, 3, 1, 1}, "misaligned");
    const bool bindable = ctx.info().min_storage_buffer_offset_alignment <= 4;
    EXPECT_EQ(m.last_forward_stats().dispatches, bindable ? 4u : 5u);
}

TEST_F(ShapeOps, ModelDenseBlockConcatenationsAreViews) {
    Context& ctx = test::context();
    // DenseNet's block: every layer reads cat(all before) and the block returns cat(all).
    Model m(ctx, "Dense");
    // direct_texel: one dispatch per convolution at any batch, so that dispatch counts compare.
    auto conv = [&](int cin, int cout, int k) {
        auto c = std::make_unique<Conv2d>(ctx, cin, cout, k, Conv2dOptions{.padding = k / 2});
        c->set_algorithm(Conv2dAlgorithm::DirectTexel);
        return c;
    };
    m.add("x0", conv(3, 8, 3));
    std::vector<std::string> feats{"x0"};
    for (int l = 1; l <= 3; ++l) {
        const std::string cat = "cat" + std::to_string(l), x = "x" + std::to_string(l);
        if (feats.size() > 1)
            m.add(cat, std::make_unique<Cat>(ctx, static_cast<int>(feats.size()), 1), feats);
        m.add(x + ".bn", std::make_unique<BatchNorm2d>(ctx, 8 * static_cast<int>(feats.size())), {feats.size() > 1 ? cat : feats[0]});
        m.add(x + ".relu", std::make_unique<ReLU>(ctx));
        m.add(x, conv(8 * static_cast<int>(feats.size()), 8, 3));
        feats.push_back(x);
    }
    m.add("block", std::make_unique<Cat>(ctx, 4, 1), feats);
    m.add("head", conv(32, 4, 1));
    m.reset_parameters(3);
    expect_model_matches_reference(m, {1, 3, 8, 8}, "dense block, batch 1", 1e-4f);
    const uint32_t in_place = m.last_forward_stats().dispatches;
    expect_model_matches_reference(m, {2, 3, 8, 8}, "dense block, batch 2", 1e-4f);
    const uint32_t copied = m.last_forward_stats().dispatches;
    // Batch 2 copies each Cat's inputs: 2 + 3 + 4 copies; batch 1 none.
    EXPECT_EQ(copied - in_place, 9u);
}

TEST_F(ShapeOps, ModelChunkViewsAndShuffleNetBlock) {
    Context& ctx = test::context();
    // ShuffleNet v2's stride-1 unit: x1, x2 = x.chunk(2, 1); cat(x1, branch(x2)); channel_shuffle.
    Model m(ctx, "Shuffle");
    m.add("stem", std::make_unique<Conv2d>(ctx, 3, 8, 1));
    m.add("x1", std::make_unique<Chunk>(ctx, 2, 1, 0), {"stem"});
    m.add("x2", std::make_unique<Chunk>(ctx, 2, 1, 1), {"stem"});
    m.add("branch.0", std::make_unique<Conv2d>(ctx, 4, 4, 1), {"x2"});
    m.add("branch.1", std::make_unique<ReLU>(ctx));
    m.add("branch.2", std::make_unique<Conv2d>(ctx, 4, 4, 3, Conv2dOptions{.padding = 1, .groups = 4}));
    m.add("cat", std::make_unique<Cat>(ctx, 2, 1), {"x1", "branch.2"});
    m.add("view1", std::make_unique<Reshape>(ctx, Shape{-1, 2, 4, 6, 6}));
    m.add("transpose", std::make_unique<Transpose>(ctx, 1, 2));
    m.add("view2", std::make_unique<Reshape>(ctx, Shape{-1, 8, 6, 6}));
    m.add("head", std::make_unique<Conv2d>(ctx, 8, 2, 1));
    m.reset_parameters(5);
    for (int64_t n : {1, 2, 3}) expect_model_matches_reference(m, {n, 3, 6, 6}, "batch " + std::to_string(n), 1e-4f);
    // The same model with the shuffle recorded layer by layer (fusion off) agrees exactly.
    m.set_fusion(false);
    expect_model_matches_reference(m, {1, 3, 6, 6}, "no fusion", 1e-4f);
}

TEST_F(ShapeOps, ModelCapturesSlicesAndPlacedValues) {
    Context& ctx = test::context();
    auto m = three_branch_model(ctx);
    m->add("half", std::make_unique<Chunk>(ctx, 2, 1, 1), {"cat"});
    m->add("last", std::make_unique<ReLU>(ctx));
    const Shape in{1, 4, 4, 4};
    auto x = test::random_values(64, 9);
    std::map<std::string, HostArray> got;
    m->forward(Tensor::from_host(ctx, in, x), {"a", "b", "cat", "half"}, &got);
    std::map<std::string, std::vector<float>> want;
    m->reference_forward(in, x, &want);
    for (const char* name : {"a", "b", "cat", "half"}) EXPECT_TRUE(bit_equal(got[name].data, want[name])) << name;
}

TEST_F(ShapeOps, ModelOutputsRefusals) {
    Context& ctx = test::context();
    auto m = three_branch_model(ctx);
    expect_error([&] { m->set_outputs({{"", "a"}}); }, {"an output name is empty"});
    expect_error([&] { m->set_outputs({{"x", "a"}, {"x", "b"}}); }, {"output 'x' is named twice"});
    expect_error([&] { m->set_outputs({{"x", "nope"}}); }, {"no layer named 'nope'"});
    EXPECT_EQ(m->outputs(), (std::vector<std::pair<std::string, std::string>>{{"output", "out"}}));
    // The first output need not be the last layer; forward() returns it.
    m->set_outputs({{"b", "b"}, {"out", "out"}});
    const Shape in{1, 4, 4, 4};
    const auto x = test::random_values(64, 4);
    std::map<std::string, std::vector<float>> want;
    m->reference_forward(in, x, &want);
    const Tensor xt = Tensor::from_host(ctx, in, x);
    EXPECT_TRUE(bit_equal(m->forward(xt).to_host(), want["b"]));
    const auto all = m->forward_all(xt);
    EXPECT_TRUE(bit_equal(all.at("b").to_host(), want["b"]));
    EXPECT_TRUE(bit_equal(all.at("out").to_host(), want["out"]));
}

}  // namespace
}  // namespace vkconv

namespace vkconv {
namespace {

// Every layer family that binds sub-ranges writes its own slice of a concatenation in place:
// activation, binary op, Upsample, ConvTranspose2d, LayerNorm, then AdaptiveMaxPool2d reads it.
TEST_F(ShapeOps, ModelCatInPlaceFromEveryLayerFamily) {
    Context& ctx = test::context();
    Model m(ctx, "CatFamilies");
    m.add("a", std::make_unique<Sigmoid>(ctx), {"input"});
    m.add("b", std::make_unique<Binary>(ctx, BinaryOp::Mul), {"input", "input"});
    m.add("pool", std::make_unique<AvgPool2d>(ctx, 2), {"input"});
    UpsampleOptions up;
    up.scale_factor = {2.0};
    m.add("c", std::make_unique<Upsample>(ctx, up), {"pool"});
    ConvTranspose2dParams p;
    p.in_channels = 4;
    p.out_channels = 4;
    p.kernel = 2;
    p.options.stride = 2;
    m.add("d", std::make_unique<ConvTranspose2d>(ctx, p), {"pool"});
    m.add("e", std::make_unique<LayerNorm>(ctx, Shape{8}), {"input"});
    m.add("cat", std::make_unique<Cat>(ctx, 5, 1), {"a", "b", "c", "d", "e"});
    m.add("out", std::make_unique<AdaptiveMaxPool2d>(ctx, Pair(3)));
    m.reset_parameters(4);
    // Tolerance: LayerNorm and ConvTranspose2d sum in another order than the reference (fp32
    // rounding of sums of a few terms of size ~1: 1e-5 is over 50 ulps of margin).
    expect_model_matches_reference(m, {1, 4, 8, 8}, "batch 1", 1e-5f);
    const uint32_t in_place = m.last_forward_stats().dispatches;
    expect_model_matches_reference(m, {2, 4, 8, 8}, "batch 2", 1e-5f);
    EXPECT_EQ(m.last_forward_stats().dispatches, in_place + 5) << "batch 2 copies each of the 5 inputs; batch 1 none";
}

}  // namespace
}  // namespace vkconv
