// ReLU and Add (shaders/elementwise.comp) on the GPU against the CPU reference: any shape
// (0-d to 4-d, odd sizes, sizes around the 256-element workgroup block), special values
// (NaN, +-inf, -0.0), fused ReLU after Add, the staging memory path, dispatches split to fit
// maxComputeWorkGroupCount, and every refusal.
//
// Tolerance: none. ReLU is a selection and an fp32 a + b is correctly rounded in Vulkan as in
// PyTorch, so results must be bit-identical to the reference (NaN compares as NaN).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "host/context.h"
#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::bit_equal;

using test::expect_error;

// Random values with special values sprinkled in every 7th place.
std::vector<float> values_with_specials(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), -0.0f, 0.0f, 3.0e38f, -3.0e38f};
    for (size_t i = 3; i < n; i += 7) v[i] = specials[(i / 7) % 7];
    return v;
}

struct ElementwiseCase {
    Shape shape;
    bool add = false;  // Add instead of ReLU
    bool relu = false; // Add's fused ReLU
    bool staging = false;

    std::string str() const {
        std::ostringstream s;
        s << (add ? (relu ? "Add(relu=True)" : "Add()") : "ReLU()") << " shape=" << shape_str(shape) << (staging ? " staging" : "");
        return s.str();
    }
};

void PrintTo(const ElementwiseCase& c, std::ostream* os) { *os << c.str(); }

class ElementwiseSweep : public test::VulkanTest, public ::testing::WithParamInterface<ElementwiseCase> {};

TEST_P(ElementwiseSweep, MatchesReferenceExactly) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const size_t n = static_cast<size_t>(shape_numel(c.shape));
    const auto a = values_with_specials(n, seed);
    const Tensor at = Tensor::from_host(ctx, c.shape, a);
    test::for_each_input_path(ctx, [&](const std::string& knobs) {
        if (!c.add) {
            ReLU relu(ctx);
            const Tensor y = relu.forward(at);
            ASSERT_EQ(y.shape(), c.shape);
            EXPECT_TRUE(bit_equal(y.to_host(), relu.reference(c.shape, a))) << c.str() << " " << knobs;
        } else {
            Add add(ctx, c.relu);
            const auto b = values_with_specials(n, seed + 1);
            const Tensor bt = Tensor::from_host(ctx, c.shape, b);
            const Tensor y = add.forward(at, bt);
            ASSERT_EQ(y.shape(), c.shape);
            const Shape shapes[] = {c.shape, c.shape};
            const std::vector<float> inputs[] = {a, b};
            EXPECT_TRUE(bit_equal(y.to_host(), add.reference(shapes, inputs))) << c.str() << " " << knobs;
        }
    });
}

std::vector<ElementwiseCase> elementwise_cases() {
    const Shape shapes[] = {{}, {1}, {7}, {255}, {256}, {257}, {1025}, {2, 3}, {3, 5, 7}, {2, 5, 9, 11}, {4, 64, 17, 3}, {0, 3}, {2, 0, 4}};
    std::vector<ElementwiseCase> cases;
    for (const auto& s : shapes) {
        cases.push_back({s});
        cases.push_back({s, true, false});
        cases.push_back({s, true, true});
    }
    cases.push_back({{3, 100}, false, false, true});
    cases.push_back({{3, 100}, true, true, true});
    return cases;
}

std::string case_name(const ::testing::TestParamInfo<ElementwiseCase>& info) { return "case" + std::to_string(info.index); }

INSTANTIATE_TEST_SUITE_P(Shapes, ElementwiseSweep, ::testing::ValuesIn(elementwise_cases()), case_name);

class Elementwise : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

TEST_F(Elementwise, HandComputedValues) {
    auto& ctx = test::context();
    const std::vector<float> a{-2.0f, -0.0f, 0.0f, 1.5f, -1e-3f};
    const std::vector<float> b{1.0f, 0.0f, -0.0f, -2.0f, 2e-3f};
    EXPECT_EQ(ReLU(ctx).forward(Tensor::from_host(ctx, {5}, a)).to_host(), (std::vector<float>{0.0f, -0.0f, 0.0f, 1.5f, 0.0f}));
    const Tensor at = Tensor::from_host(ctx, {5}, a), bt = Tensor::from_host(ctx, {5}, b);
    EXPECT_EQ(Add(ctx).forward(at, bt).to_host(), (std::vector<float>{-1.0f, 0.0f, 0.0f, -0.5f, 1e-3f}));
    EXPECT_EQ(Add(ctx, true).forward(at, bt).to_host(), (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f, 1e-3f}));
}

// 20 blocks of 256 elements under a cap of 3 workgroups per dispatch: 7 dispatches whose
// block offsets must tile the tensor exactly.
TEST_F(Elementwise, SplitDispatchesCoverEveryElement) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(3);
    const Shape shape{5000};
    const auto a = test::random_values(5000, 11), b = test::random_values(5000, 12);
    const Tensor at = Tensor::from_host(ctx, shape, a), bt = Tensor::from_host(ctx, shape, b);
    Add add(ctx, true);
    const Tensor y(ctx, shape);
    CommandRecorder rec(ctx);
    const Tensor in[] = {at, bt};
    add.record(rec, in, y);
    // 5000 elements, 256 a workgroup, at most 3 workgroups a dispatch: 20 workgroups; on CPU
    // devices (RGBA32F views, VEC4 in elementwise.comp) 1250 vec4s: 5.
    EXPECT_EQ(rec.dispatch_count(), testing::host(ctx).policy().layer_texel_inputs ? 2u : 7u);
    rec.submit_and_wait();
    const Shape shapes[] = {shape, shape};
    const std::vector<float> inputs[] = {a, b};
    EXPECT_TRUE(bit_equal(y.to_host(), add.reference(shapes, inputs)));
}

// More blocks than the device's real maxComputeWorkGroupCount[0] (65535 on lavapipe and most
// GPUs): 65535 * 256 + 1001 elements (not whole vec4s: one element an item on every device).
TEST_F(Elementwise, SplitAtTheDeviceLimit) {
    auto& ctx = test::context();
    const int64_t n = int64_t(ctx.info().max_workgroup_count[0]) * 256 + 1001;
    if (n * 4 * 2 > (int64_t(1) << 31)) GTEST_SKIP() << "the device's workgroup limit needs more than 2 GiB here";
    std::vector<float> a = test::random_values(static_cast<size_t>(n), 5);
    ReLU relu(ctx);
    const Tensor y = relu.forward(Tensor::from_host(ctx, {n}, a));
    EXPECT_TRUE(bit_equal(y.to_host(), relu.reference({n}, a)));
}

// A model fuses a ReLU that follows Add into Add's pass through record_with_relu().
TEST_F(Elementwise, RecordWithReluFusesTheReLU) {
    auto& ctx = test::context();
    Add add(ctx);
    EXPECT_TRUE(add.can_fuse_relu());
    EXPECT_FALSE(ReLU(ctx).can_fuse_relu());
    const std::vector<float> a{-2, 1, 3, -0.5f}, b{1, -3, 1, 0.25f};
    const Tensor in[] = {Tensor::from_host(ctx, {4}, a), Tensor::from_host(ctx, {4}, b)};
    const Tensor y(ctx, {4});
    CommandRecorder rec(ctx);
    add.record_with_relu(rec, in, y);
    rec.submit_and_wait();
    EXPECT_EQ(y.to_host(), (std::vector<float>{0, 0, 4, 0}));
    EXPECT_FALSE(add.relu());  // the layer's own setting is unchanged
    EXPECT_EQ(add.forward(in[0], in[1]).to_host(), (std::vector<float>{-1, -2, 4, -0.25f}));
}

TEST_F(Elementwise, ReprAndType) {
    auto& ctx = test::context();
    EXPECT_EQ(ReLU(ctx).repr(), "ReLU()");
    EXPECT_EQ(ReLU(ctx).type(), "ReLU");
    EXPECT_EQ(Add(ctx).repr(), "Add()");
    EXPECT_EQ(Add(ctx, true).repr(), "Add(relu=True)");
    EXPECT_EQ(Add(ctx).type(), "Add");
    EXPECT_EQ(Add(ctx).num_inputs(), 2);
    EXPECT_EQ(ReLU(ctx).num_inputs(), 1);
    EXPECT_EQ(ReLU(ctx).parameter_count(), 0);
}

// Add broadcasts as PyTorch does (tests/test_binary.cpp sweeps it); incompatible shapes get
// PyTorch's message.
TEST_F(Elementwise, AddRefusesIncompatibleShapes) {
    auto& ctx = test::context();
    Add add(ctx);
    const Shape s1[] = {{2, 3}, {2, 2}};
    expect_error([&] { add.output_shape(s1); },
                 {"The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"});
    const Shape s2[] = {{2, 3}, {4, 1, 2}};
    expect_error([&] { add.output_shape(s2); }, {"size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 2"});
    const Shape s3[] = {{4, 1}, {4, 5}};
    EXPECT_EQ(add.output_shape(s3), (Shape{4, 5}));
    const Tensor a(ctx, {2, 3}), b(ctx, {3, 2});
    expect_error([&] { add.forward(a, b); }, {"must match"});
}

TEST_F(Elementwise, InputCountAndOutputShapeChecked) {
    auto& ctx = test::context();
    Add add(ctx);
    ReLU relu(ctx);
    const Tensor a(ctx, {2, 3});
    expect_error([&] { add.forward(a); }, {"Add: expected 2 input(s), got 1"});
    expect_error([&] { relu.forward(a, a); }, {"ReLU: expected 1 input(s), got 2"});
    CommandRecorder rec(ctx);
    const Tensor wrong(ctx, {3, 2});
    expect_error([&] { relu.record(rec, std::span(&a, 1), wrong); }, {"ReLU: output tensor has shape [3, 2], expected [2, 3]"});
    const Tensor in[] = {a, a};
    expect_error([&] { add.record(rec, in, wrong); }, {"Add: output tensor has shape [3, 2], expected [2, 3]"});
    expect_error([&] { relu.reference({2, 3}, std::vector<float>(5)); }, {"input has 5 values, shape [2, 3] needs 6"});
}

}  // namespace
}  // namespace vkconv
