// Model: views of views. A Split/Chunk slice that is one contiguous range is a view (an offset
// into its source's storage), and so are Reshape, Flatten and Dropout; a view taken of another
// view composes the first one's offset and shape: Split then Reshape, Slice then Flatten, Split
// of a Split, of 1-D tensors and of the model's input, as the last layer, captured or as named
// outputs, with fusion on and off. Each case is compared with its definition computed on the CPU
// here (index ranges of the input), independent of the layers' references.
//
// Tolerance: none. The layers used (views, Slice copies, ReLU, multiplication by -1) move or
// negate values without rounding, so results are bit-identical (NaN compared as NaN).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "support/test_support.h"
#include "vkconv/vkconv.h"

namespace vkconv {
namespace {

using test::bit_equal;

std::vector<float> relu(std::vector<float> v) {
    for (auto& x : v) x = std::isnan(x) ? x : std::max(x, 0.0f);
    return v;
}
std::vector<float> negate(std::vector<float> v) {
    for (auto& x : v) x = -x;
    return v;
}
// Elements [begin, end) of the flattened tensor.
std::vector<float> range(const std::vector<float>& v, size_t begin, size_t end) {
    return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end)};
}

struct Chain {
    std::string name;
    Shape input;
    std::function<void(Context&, Model&)> build;
    std::function<std::vector<float>(const std::vector<float>&)> want;
    Shape output;
};

std::ostream& operator<<(std::ostream& os, const Chain& c) { return os << c.name << " input " << shape_str(c.input); }

std::vector<Chain> chains() {
    std::vector<Chain> c;
    c.push_back({"split_1d_input_last", {12},
                 [](Context& ctx, Model& m) { m.add("s", std::make_unique<Split>(ctx, std::vector<int64_t>{5, 7}, 0, 1), {"input"}); },
                 [](const auto& x) { return range(x, 5, 12); }, {7}});
    c.push_back({"split_1d_input_then_reshape", {12},
                 [](Context& ctx, Model& m) {
                     m.add("s", std::make_unique<Split>(ctx, std::vector<int64_t>{4, 8}, 0, 1), {"input"});
                     m.add("r", std::make_unique<Reshape>(ctx, Shape{2, 4}));
                 },
                 [](const auto& x) { return range(x, 4, 12); }, {2, 4}});
    c.push_back({"first_piece_at_offset_0_then_reshape", {12},
                 [](Context& ctx, Model& m) {
                     m.add("s", std::make_unique<Split>(ctx, std::vector<int64_t>{4, 8}, 0, 0), {"input"});
                     m.add("r", std::make_unique<Reshape>(ctx, Shape{2, 2}));
                 },
                 [](const auto& x) { return range(x, 0, 4); }, {2, 2}});
    c.push_back({"split_1d_input_then_relu", {16},
                 [](Context& ctx, Model& m) {
                     m.add("s", std::make_unique<Split>(ctx, std::vector<int64_t>{8, 8}, 0, 1), {"input"});
                     m.add("r", std::make_unique<ReLU>(ctx));
                 },
                 [](const auto& x) { return relu(range(x, 8, 16)); }, {8}});
    c.push_back({"split_of_split_1d", {20},
                 [](Context& ctx, Model& m) {
                     m.add("a", std::make_unique<Split>(ctx, std::vector<int64_t>{4, 16}, 0, 1), {"input"});
                     m.add("b", std::make_unique<Split>(ctx, std::vector<int64_t>{8, 8}, 0, 1));
                     m.add("r", std::make_unique<ReLU>(ctx));
                 },
                 [](const auto& x) { return relu(range(x, 12, 20)); }, {8}});
    c.push_back({"split_of_split_of_a_step", {1, 12, 2, 2},
                 [](Context& ctx, Model& m) {
                     m.add("relu", std::make_unique<ReLU>(ctx), {"input"});
                     m.add("a", std::make_unique<Split>(ctx, std::vector<int64_t>{4, 8}, 1, 1));
                     m.add("b", std::make_unique<Split>(ctx, std::vector<int64_t>{2, 6}, 1, 1));
                     m.add("neg", std::make_unique<Binary>(ctx, BinaryOp::Mul, -1.0));
                 },
                 [](const auto& x) { return negate(relu(range(x, 24, 48))); }, {1, 6, 2, 2}});
    c.push_back({"slice_then_flatten_last", {1, 12, 2, 2},
                 [](Context& ctx, Model& m) {
                     m.add("relu", std::make_unique<ReLU>(ctx), {"input"});
                     m.add("a", std::make_unique<Chunk>(ctx, 3, 1, 1));
                     m.add("f", std::make_unique<Flatten>(ctx));
                 },
                 [](const auto& x) { return relu(range(x, 16, 32)); }, {1, 16}});
    c.push_back({"split_reshape_split_reshape", {1, 24},
                 [](Context& ctx, Model& m) {
                     m.add("relu", std::make_unique<ReLU>(ctx), {"input"});
                     m.add("a", std::make_unique<Split>(ctx, std::vector<int64_t>{8, 16}, 1, 1));
                     m.add("r1", std::make_unique<Reshape>(ctx, Shape{1, 4, 4}));
                     m.add("b", std::make_unique<Split>(ctx, std::vector<int64_t>{1, 3}, 1, 1));
                     m.add("r2", std::make_unique<Reshape>(ctx, Shape{12}));
                 },
                 [](const auto& x) { return relu(range(x, 12, 24)); }, {12}});
    c.push_back({"reshape_split_reshape_of_the_input", {24},
                 [](Context& ctx, Model& m) {
                     m.add("r1", std::make_unique<Reshape>(ctx, Shape{1, 2, 12}), {"input"});
                     m.add("a", std::make_unique<Split>(ctx, 1, 1, 1));
                     m.add("r2", std::make_unique<Reshape>(ctx, Shape{3, 4}));
                     m.add("d", std::make_unique<Dropout>(ctx, 0.5));
                     m.add("neg", std::make_unique<Binary>(ctx, BinaryOp::Mul, -1.0));
                 },
                 [](const auto& x) { return negate(range(x, 12, 24)); }, {3, 4}});
    c.push_back({"slice_of_a_concatenation_then_flatten", {1, 4, 2, 2},
                 [](Context& ctx, Model& m) {
                     m.add("a", std::make_unique<ReLU>(ctx), {"input"});
                     m.add("b", std::make_unique<Binary>(ctx, BinaryOp::Mul, -1.0), {"input"});
                     m.add("cat", std::make_unique<Cat>(ctx, 2, 1), {"a", "b"});
                     m.add("s", std::make_unique<Split>(ctx, std::vector<int64_t>{2, 6}, 1, 1));
                     m.add("f", std::make_unique<Flatten>(ctx));
                     m.add("r", std::make_unique<ReLU>(ctx));
                 },
                 [](const auto& x) {
                     auto y = range(relu(x), 8, 16);
                     const auto b = relu(negate(x));
                     y.insert(y.end(), b.begin(), b.end());
                     return y;
                 },
                 {1, 24}});
    // Batch 2: the channel slices are strided (copies, not views); the chain still composes.
    c.push_back({"strided_slice_then_reshape", {2, 6, 2},
                 [](Context& ctx, Model& m) {
                     m.add("relu", std::make_unique<ReLU>(ctx), {"input"});
                     m.add("a", std::make_unique<Split>(ctx, std::vector<int64_t>{2, 4}, 1, 1));
                     m.add("r", std::make_unique<Reshape>(ctx, Shape{2, 8}));
                 },
                 [](const auto& x) {
                     auto y = relu(range(x, 4, 12));
                     const auto b = relu(range(x, 16, 24));
                     y.insert(y.end(), b.begin(), b.end());
                     return y;
                 },
                 {2, 8}});
    return c;
}

class ModelViews : public test::VulkanTest, public ::testing::WithParamInterface<Chain> {};

TEST_P(ModelViews, ChainMatchesItsDefinition) {
    const Chain& c = GetParam();
    Context& ctx = test::context();
    Model m(ctx, c.name);
    c.build(ctx, m);
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), 3);
    x[1] = std::nanf("");  // NaN travels like any value
    const auto want = c.want(x);
    for (bool fusion : {true, false}) {
        SCOPED_TRACE(std::string("fusion ") + (fusion ? "on" : "off"));
        m.set_fusion(fusion);
        const Tensor y = m.forward(Tensor::from_host(ctx, c.input, x));
        EXPECT_EQ(y.shape(), c.output);
        EXPECT_TRUE(bit_equal(y.to_host(), want));
        // The CPU forward agrees with the definition too.
        EXPECT_TRUE(bit_equal(m.reference_forward(c.input, x), want));
    }
}

INSTANTIATE_TEST_SUITE_P(Chains, ModelViews, ::testing::ValuesIn(chains()),
                         [](const ::testing::TestParamInfo<Chain>& i) { return i.param.name; });

// ONNX's Split of a 1-D tensor: every piece a named output (forward_all) and a captured layer
// (forward with capture), the first piece at offset 0, the last one the model's last layer.
class ModelViewOutputs : public test::VulkanTest {};

TEST_F(ModelViewOutputs, EveryPieceOfA1DSplit) {
    Context& ctx = test::context();
    Model m(ctx, "Split3");
    const std::vector<int64_t> sections{2, 4, 6};
    for (int k = 0; k < 3; ++k) m.add("s" + std::to_string(k), std::make_unique<Split>(ctx, sections, 0, k), {"input"});
    m.set_outputs({{"o0", "s0"}, {"o1", "s1"}, {"o2", "s2"}});
    auto x = test::random_values(12, 5);
    const Tensor xt = Tensor::from_host(ctx, {12}, x);
    const std::vector<std::vector<float>> want{range(x, 0, 2), range(x, 2, 6), range(x, 6, 12)};
    const auto all = m.forward_all(xt);
    std::map<std::string, HostArray> captured;
    m.forward(xt, {"s0", "s1", "s2"}, &captured);
    for (int k = 0; k < 3; ++k) {
        SCOPED_TRACE("piece " + std::to_string(k));
        const auto& y = all.at("o" + std::to_string(k));
        EXPECT_EQ(y.shape(), (Shape{sections[static_cast<size_t>(k)]}));
        EXPECT_TRUE(bit_equal(y.to_host(), want[static_cast<size_t>(k)]));
        const auto& h = captured.at("s" + std::to_string(k));
        EXPECT_EQ(h.shape, (Shape{sections[static_cast<size_t>(k)]}));
        EXPECT_TRUE(bit_equal(h.data, want[static_cast<size_t>(k)]));
    }
}

// Views of views run nothing: ReLU, then Split, Reshape, Split views at offsets of 32 and 48 bytes
// (bindable where minStorageBufferOffsetAlignment divides them), then the final ReLU reading the
// composed range: two dispatches.
TEST_F(ModelViewOutputs, ViewsOfViewsAreNotCopied) {
    Context& ctx = test::context();
    Model m(ctx, "Views");
    m.add("relu", std::make_unique<ReLU>(ctx), {"input"});
    m.add("a", std::make_unique<Split>(ctx, std::vector<int64_t>{8, 16}, 1, 1));
    m.add("r", std::make_unique<Reshape>(ctx, Shape{1, 4, 4}));
    m.add("b", std::make_unique<Split>(ctx, std::vector<int64_t>{1, 3}, 1, 1));
    m.add("neg", std::make_unique<Binary>(ctx, BinaryOp::Mul, -1.0));
    const auto x = test::random_values(24, 8);
    EXPECT_TRUE(bit_equal(m.forward(Tensor::from_host(ctx, {1, 24}, x)).to_host(), negate(relu(range(x, 12, 24)))));
    const uint64_t align = ctx.info().min_storage_buffer_offset_alignment;
    if (32 % align == 0 && 48 % align == 0) EXPECT_EQ(m.last_forward_stats().dispatches, 2u);
}

// A model of views of the whole input recorded into the caller's own output tensor: the input's
// values are copied there (forward() returns the input's storage instead).
TEST_F(ModelViewOutputs, ViewsOfTheWholeInputRecordedIntoAnOutputTensor) {
    Context& ctx = test::context();
    Model m(ctx, "Views");
    m.add("r", std::make_unique<Reshape>(ctx, Shape{3, 4}), {"input"});
    m.add("f", std::make_unique<Flatten>(ctx, 0, -1));
    const auto x = test::random_values(12, 6);
    const Tensor xt = Tensor::from_host(ctx, {2, 6}, x);
    Tensor y(ctx, {12});
    CommandRecorder rec(ctx);
    m.record(rec, xt, y);
    rec.submit_and_wait();
    EXPECT_TRUE(bit_equal(y.to_host(), x));
    EXPECT_TRUE(bit_equal(m.forward(xt).to_host(), x));
}

}  // namespace
}  // namespace vkconv
