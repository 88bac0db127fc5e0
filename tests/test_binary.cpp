// Element-wise a op b (vkconv/binary.h, shaders/binary.comp; Add's broadcast path) against the
// CPU reference: add, sub, mul, div x broadcast shape pairs (NCHW with NC11, N1HW, 1C11, 0-d
// and 1-d operands, 5-d, either operand the larger, empty) x special values, tensor-scalar in
// both operand orders, a stored parameter operand (ConvNeXt's layer scale), fused activations,
// split dispatches, and PyTorch's broadcast error.
//
// Tolerance: add, sub and mul are correctly rounded in Vulkan (OpFAdd, OpFSub, OpFMul) as in
// PyTorch, so they must match bit for bit (NaN as any NaN). Division is within 2.5 ulp in Vulkan
// for divisors of magnitude in [2^-126, 2^126]: |err| <= 3 * 2^-23 |y| (with the reference's own
// rounding); divisors are kept in that range (special values go to the dividend only).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "host/context.h"
#include "support/test_support.h"
#include "vkconv/activations.h"
#include "vkconv/binary.h"
#include "vkconv/layers.h"
#include "vkconv/model.h"
#include "vkconv/model_json.h"

namespace vkconv {
namespace {

using test::expect_error;

::testing::AssertionResult matches(std::span<const float> got, std::span<const float> want, BinaryOp op) {
    return test::each_element(got, want, [&](size_t, float g, float w) {
        if (std::isnan(w)) return std::isnan(g);
        if (op != BinaryOp::Div || std::isinf(w)) return std::memcmp(&g, &w, 4) == 0 || (g == 0 && w == 0 && op == BinaryOp::Div);
        return std::fabs(double(g) - double(w)) <= 3.0 / (1 << 23) * std::fabs(double(w));
    });
}

std::vector<float> with_specials(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -0.0f, 0.0f, 3.0e38f, -1e-30f};
    for (size_t i = 1; i < n; i += 6) v[i] = specials[(i / 6) % 7];
    return v;
}

// Divisors: magnitude in [0.25, 1.25].
std::vector<float> divisors(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    for (auto& e : v) e = e < 0 ? e - 0.25f : e + 0.25f;
    return v;
}

struct BinaryCase {
    BinaryOp op;
    Shape a, b;
    bool via_add = false;  // Add (layers.h) instead of Binary(Add)
    std::string str() const {
        std::ostringstream s;
        s << (via_add ? "Add layer" : to_string(op)) << " a=" << shape_str(a) << " b=" << shape_str(b);
        return s.str();
    }
};
void PrintTo(const BinaryCase& c, std::ostream* os) { *os << c.str(); }

class BinarySweep : public test::VulkanTest, public ::testing::WithParamInterface<BinaryCase> {};

TEST_P(BinarySweep, MatchesReference) {
    const auto& c = GetParam();
    auto& ctx = test::context();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto a = with_specials(static_cast<size_t>(shape_numel(c.a)), seed);
    const auto b = c.op == BinaryOp::Div ? divisors(static_cast<size_t>(shape_numel(c.b)), seed + 1)
                                         : with_specials(static_cast<size_t>(shape_numel(c.b)), seed + 1);
    std::unique_ptr<Layer> layer = c.via_add ? std::unique_ptr<Layer>(std::make_unique<Add>(ctx))
                                             : std::make_unique<Binary>(ctx, c.op);
    const Tensor y = layer->forward(Tensor::from_host(ctx, c.a, a), Tensor::from_host(ctx, c.b, b));
    const Shape shapes[] = {c.a, c.b};
    const std::vector<float> inputs[] = {a, b};
    ASSERT_EQ(y.shape(), layer->output_shape(shapes)) << c.str();
    const auto want = layer->reference(shapes, inputs);
    EXPECT_TRUE(matches(y.to_host(), want, c.op)) << c.str();
}

std::vector<BinaryCase> binary_cases() {
    const std::pair<Shape, Shape> pairs[] = {
        {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {2, 3, 1, 1}}, {{2, 3, 1, 1}, {2, 3, 4, 5}},
        {{2, 3, 4, 5}, {2, 1, 4, 5}}, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 3, 4, 5}, {}},
        {{}, {2, 3, 4, 5}},           {{2, 3, 4, 5}, {5}},          {{3, 1}, {1, 4}},
        {{2, 3, 2, 3, 4}, {1, 3, 1, 3, 1}}, {{2, 1, 3, 4, 5, 1}, {1, 2, 3, 4, 5, 2}}, {{0, 3}, {1, 3}},
        {{2, 3, 17, 19}, {2, 3, 1, 1}}, {{1}, {}}, {{7, 1, 33}, {7, 65, 1}}};
    std::vector<BinaryCase> out;
    for (auto op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div})
        for (const auto& [a, b] : pairs) out.push_back({op, a, b});
    for (const auto& [a, b] : pairs) out.push_back({BinaryOp::Add, a, b, true});
    return out;
}

INSTANTIATE_TEST_SUITE_P(OpsShapes, BinarySweep, ::testing::ValuesIn(binary_cases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

class BinaryTest : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// 105 elements, and 140 (whole vec4s: binary_texel on CPU devices).
TEST_F(BinaryTest, TensorScalarBothOrders) {
    auto& ctx = test::context();
    for (const Shape& s : {Shape{3, 5, 7}, Shape{4, 5, 7}}) {
        const size_t n = static_cast<size_t>(shape_numel(s));
        const auto x = with_specials(n, 2);
        for (auto op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div})
            for (bool first : {false, true})
                for (double scalar : {0.5, -3.0, 0.1}) {
                    Binary layer(ctx, op, scalar, first);
                    const auto in = first && op == BinaryOp::Div ? divisors(n, 3) : x;
                    const Tensor y = layer.forward(Tensor::from_host(ctx, s, in));
                    EXPECT_TRUE(matches(y.to_host(), layer.reference(s, in), op)) << layer.repr() << " " << shape_str(s);
                }
    }
    // 1 / x and 1 - x by hand; 0.1 is rounded to float first, as PyTorch does.
    const std::vector<float> v{2, 4, -0.5f};
    EXPECT_EQ(Binary(ctx, BinaryOp::Div, 1.0, true).forward(Tensor::from_host(ctx, {3}, v)).to_host(),
              (std::vector<float>{0.5f, 0.25f, -2.0f}));
    EXPECT_EQ(Binary(ctx, BinaryOp::Sub, 1.0, true).forward(Tensor::from_host(ctx, {3}, v)).to_host(),
              (std::vector<float>{-1, -3, 1.5f}));
    EXPECT_EQ(Binary(ctx, BinaryOp::Mul, 0.1).forward(Tensor::from_host(ctx, {3}, v)).to_host(),
              (std::vector<float>{2 * 0.1f, 4 * 0.1f, -0.5f * 0.1f}));
}

// ConvNeXt's layer scale: a [C, 1, 1] parameter times [N, C, H, W], loaded by its state_dict name.
TEST_F(BinaryTest, ParameterOperand) {
    auto& ctx = test::context();
    Model m(ctx, "M");
    m.add("features.1.0", std::make_unique<Binary>(ctx, BinaryOp::Mul, "layer_scale", Shape{3, 1, 1}));
    std::map<std::string, HostArray> sd{{"features.1.0.layer_scale", HostArray{{3, 1, 1}, {0.5f, -2.0f, 1e-6f}}}};
    m.load_state_dict(sd);
    EXPECT_EQ(m.state_dict().count("features.1.0.layer_scale"), 1u);
    const Shape s{2, 3, 4, 5};
    const auto x = with_specials(120, 5);
    const auto y = m.forward(Tensor::from_host(ctx, s, x)).to_host();
    EXPECT_TRUE(matches(y, m.reference_forward(s, x), BinaryOp::Mul));
    EXPECT_EQ(y[0], 0.5f * x[0]);
    EXPECT_EQ(y[20], -2.0f * x[20]);
    EXPECT_EQ(m.layer("features.1.0").repr(), "Mul(parameter=layer_scale)");
    EXPECT_EQ(m.parameter_count(), 3);
    Binary rev(ctx, BinaryOp::Div, "w", Shape{5}, false);
    rev.set_parameter("w", std::vector<float>{1, 2, 4, 8, -16});
    const auto y2 = rev.forward(Tensor::from_host(ctx, s, x)).to_host();
    EXPECT_TRUE(matches(y2, rev.reference(s, x), BinaryOp::Div));
    expect_error([&] { rev.output_shape(Shape{2, 3}); }, {"must match the size of tensor b (5) at non-singleton dimension 1"});
    expect_error([&] { Binary(ctx, BinaryOp::Mul, "a.b", Shape{1}); }, {"without dots"});
}

// Model fusion: an activation after a binary op runs in its pass.
TEST_F(BinaryTest, FusedActivation) {
    auto& ctx = test::context();
    Model m(ctx, "M");
    m.add("pool", std::make_unique<AdaptiveAvgPool2d>(ctx, Pair(1)));
    m.add("gate", std::make_unique<Hardsigmoid>(ctx));
    m.add("mul", std::make_unique<Binary>(ctx, BinaryOp::Mul), {"input", "gate"});
    m.add("act", std::make_unique<ReLU6>(ctx));
    m.add("add", std::make_unique<Add>(ctx), {"act", "pool"});
    m.add("relu", std::make_unique<ReLU>(ctx));
    const Shape s{2, 4, 5, 6};
    const auto x = with_specials(240, 8);
    const Tensor xt = Tensor::from_host(ctx, s, x);
    const auto fused = m.forward(xt).to_host();
    EXPECT_EQ(m.last_forward_stats().dispatches, 4u);  // pool, gate, mul+relu6, add+relu
    m.set_fusion(false);
    const auto unfused = m.forward(xt).to_host();
    EXPECT_EQ(m.last_forward_stats().dispatches, 6u);
    EXPECT_EQ(std::memcmp(fused.data(), unfused.data(), fused.size() * 4), 0);
    const auto ref = m.reference_forward(s, x);
    for (size_t i = 0; i < ref.size(); ++i)
        if (!std::isnan(ref[i])) EXPECT_NEAR(fused[i], ref[i], 1e-6 * (1 + std::fabs(ref[i]))) << i;
}

TEST_F(BinaryTest, SplitDispatches) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(3);
    const Shape sa{2, 5, 25, 20}, sb{2, 5, 1, 1};
    const auto a = with_specials(5000, 1), b = with_specials(10, 2);
    for (bool broadcast : {false, true}) {
        Binary mul(ctx, BinaryOp::Mul);
        const Shape s2 = broadcast ? sb : sa;
        const auto b2 = broadcast ? b : with_specials(5000, 3);
        const Tensor in[] = {Tensor::from_host(ctx, sa, a), Tensor::from_host(ctx, s2, b2)};
        const Tensor y(ctx, sa);
        CommandRecorder rec(ctx);
        mul.record(rec, in, y);
        // 5000 outputs, 256 a workgroup, at most 3 workgroups a dispatch: 20 workgroups; flat on
        // CPU devices (binary_texel), 1250 vec4s: 5.
        const bool vec4 = !broadcast && testing::host(ctx).policy().layer_texel_inputs;
        EXPECT_EQ(rec.dispatch_count(), vec4 ? 2u : 7u);
        rec.submit_and_wait();
        const Shape shapes[] = {sa, s2};
        const std::vector<float> inputs[] = {a, b2};
        EXPECT_TRUE(matches(y.to_host(), mul.reference(shapes, inputs), BinaryOp::Mul));
    }
}

TEST_F(BinaryTest, ErrorsAndReprs) {
    auto& ctx = test::context();
    Binary mul(ctx, BinaryOp::Mul);
    const Shape bad[] = {{2, 3, 4}, {2, 2, 4}};
    expect_error([&] { mul.output_shape(bad); },
                 {"Mul: The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"});
    expect_error([&] { mul.forward(Tensor(ctx, {2, 3}), Tensor(ctx, {3, 2})); }, {"must match"});
    // Seven non-mergeable broadcast dims exceed the shader's five.
    const Tensor a(ctx, {2, 1, 2, 1, 2, 1, 2}), b(ctx, {1, 2, 1, 2, 1, 2, 1});
    expect_error([&] { mul.forward(a, b); }, {"at most 5"});
    EXPECT_EQ(mul.repr(), "Mul()");
    EXPECT_EQ(mul.num_inputs(), 2);
    EXPECT_EQ(Binary(ctx, BinaryOp::Sub, 1.0, true).repr(), "Sub(other=1.0, reverse=True)");
    EXPECT_EQ(Binary(ctx, BinaryOp::Div, 3.0).repr(), "Div(other=3.0)");
    EXPECT_EQ(Binary(ctx, BinaryOp::Div, 3.0).num_inputs(), 1);
    EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}, "x"), (Shape{2, 3, 4}));
    EXPECT_EQ(broadcast_shapes({}, {}, "x"), (Shape{}));
    EXPECT_EQ(broadcast_shapes({0, 1}, {1, 5}, "x"), (Shape{0, 5}));
}

// The JSON forms: tensor-tensor, scalar (both orders), parameter.
TEST_F(BinaryTest, JsonLayers) {
    auto& ctx = test::context();
    const std::string text = R"({"layers": [
        {"name": "half", "type": "Mul", "scalar": 0.5},
        {"name": "inv", "type": "Div", "scalar": 1.0, "scalar_first": true},
        {"name": "blk", "type": "Mul", "parameter": "layer_scale", "parameter_shape": [3, 1, 1]},
        {"name": "sub", "type": "Sub", "inputs": ["blk", "input"]},
        {"name": "plus1", "type": "Add", "scalar": 1.0},
        {"name": "add", "type": "Add", "inputs": ["plus1", "half"]}]})";
    auto d = model_from_json(ctx, text, "t.json");
    EXPECT_EQ(d.model->layer("inv").repr(), "Div(other=1.0, reverse=True)");
    EXPECT_EQ(d.model->state_dict().count("blk.layer_scale"), 1u);
    const Shape s{1, 3, 2, 2};
    const auto x = divisors(12, 4);
    const auto y = d.model->forward(Tensor::from_host(ctx, s, x)).to_host();
    const auto ref = d.model->reference_forward(s, x);
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-5 * (1 + std::fabs(ref[i])));
    expect_error([&] { model_from_json(ctx, R"({"layers": [{"name": "m", "type": "Mul", "scalar": "x"}]})", "t"); },
                 {"'scalar' must be a number"});
}

}  // namespace
}  // namespace vkconv
