// Flatten and Dropout (eval): views whose output shares the input's storage; their shapes,
// record() as a copy when called directly, reprs, and refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.h"
#include "vkconv/internal.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::expect_error;

class Views : public test::VulkanTest {};

TEST_F(Views, FlattenShapesLikeTorchFlatten) {
    auto& ctx = test::context();
    struct S { int start, end; Shape in, out; };
    const S table[] = {
        {1, -1, {2, 3, 4, 5}, {2, 60}},
        {0, -1, {2, 3, 4, 5}, {120}},
        {1, 2, {2, 3, 4, 5}, {2, 12, 5}},
        {-3, -2, {2, 3, 4, 5}, {2, 12, 5}},
        {2, 2, {2, 3, 4, 5}, {2, 3, 4, 5}},  // one dim: unchanged
        {1, -1, {7, 1}, {7, 1}},
        {0, 0, {7}, {7}},
        {0, -1, {}, {1}},                    // a 0-d tensor becomes [1]
        {1, -1, {0, 3, 4}, {0, 12}},
    };
    for (const auto& t : table) {
        Flatten f(ctx, t.start, t.end);
        EXPECT_EQ(f.output_shape(t.in), t.out) << f.repr() << " " << shape_str(t.in);
    }
}

TEST_F(Views, OutputSharesTheInputStorage) {
    auto& ctx = test::context();
    const auto x = test::random_values(24, 1);
    const Tensor xt = Tensor::from_host(ctx, {2, 3, 4}, x);
    Flatten f(ctx);
    Dropout d(ctx, 0.3);
    EXPECT_TRUE(f.is_view());
    EXPECT_TRUE(d.is_view());
    const Tensor y = f.forward(xt);
    EXPECT_EQ(y.shape(), (Shape{2, 12}));
    EXPECT_EQ(&detail::buffer_of(y), &detail::buffer_of(xt));
    EXPECT_EQ(y.to_host(), x);
    const Tensor z = d.forward(xt);
    EXPECT_EQ(z.shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(&detail::buffer_of(z), &detail::buffer_of(xt));
    EXPECT_EQ(f.reference({2, 3, 4}, x), x);
    EXPECT_EQ(d.reference({2, 3, 4}, x), x);
}

// Called directly (a model never does), record() copies the input into the output tensor.
TEST_F(Views, RecordCopies) {
    for (Context* ctx : {&test::context(), &test::staging_context()}) {
        const auto x = test::random_values(24, 2);
        const Tensor xt = Tensor::from_host(*ctx, {2, 3, 4}, x);
        Flatten f(*ctx, 0);
        Dropout d(*ctx);
        const Tensor y(*ctx, {24}), z(*ctx, {2, 3, 4});
        CommandRecorder rec(*ctx);
        f.record(rec, std::span(&xt, 1), y);
        d.record(rec, std::span(&xt, 1), z);
        rec.submit_and_wait();
        EXPECT_EQ(y.to_host(), x);
        EXPECT_EQ(z.to_host(), x);
        CommandRecorder rec2(*ctx);
        expect_error([&] { f.record(rec2, std::span(&xt, 1), z); }, {"Flatten: output tensor has shape [2, 3, 4], expected [24]"});
    }
}

TEST_F(Views, PrintLikePyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(Flatten(ctx).repr(), "Flatten(start_dim=1, end_dim=-1)");
    EXPECT_EQ(Flatten(ctx, 0, 2).repr(), "Flatten(start_dim=0, end_dim=2)");
    EXPECT_EQ(Dropout(ctx).repr(), "Dropout(p=0.5, inplace=False)");
    EXPECT_EQ(Dropout(ctx, 0.25).repr(), "Dropout(p=0.25, inplace=False)");
    EXPECT_EQ(Dropout(ctx, 1.0).repr(), "Dropout(p=1.0, inplace=False)");
    EXPECT_EQ(Dropout(ctx, 0).repr(), "Dropout(p=0.0, inplace=False)");
    EXPECT_EQ(Flatten(ctx).type(), "Flatten");
    EXPECT_EQ(Dropout(ctx).type(), "Dropout");
    EXPECT_DOUBLE_EQ(Dropout(ctx, 0.25).p(), 0.25);
}

TEST_F(Views, Refusals) {
    auto& ctx = test::context();
    expect_error([&] { Dropout(ctx, 1.5); }, {"dropout probability has to be between 0 and 1, but got 1.5"});
    expect_error([&] { Dropout(ctx, -0.1); }, {"dropout probability has to be between 0 and 1, but got -0.1"});
    expect_error([&] { Dropout(ctx, std::nan("")); }, {"dropout probability has to be between 0 and 1, but got nan"});
    expect_error([&] { Flatten(ctx).output_shape({3}); }, {"Dimension out of range (expected to be in range of [-1, 0], but got 1)"});
    expect_error([&] { Flatten(ctx, 0, 3).output_shape({3, 4, 5}); },
                 {"Dimension out of range (expected to be in range of [-3, 2], but got 3)"});
    expect_error([&] { Flatten(ctx, 2, 1).output_shape({3, 4, 5}); }, {"flatten() has invalid args: start_dim cannot come after end_dim"});
    expect_error([&] { Flatten(ctx, -1, 0).output_shape({3, 4, 5}); }, {"start_dim cannot come after end_dim"});
    expect_error([&] { Flatten(ctx).output_shape(Shape{}); }, {"expected to be in range of [-1, 0], but got 1"});
    expect_error([&] { Flatten(ctx).forward(Tensor(ctx, {3})); }, {"Dimension out of range"});
}

}  // namespace
}  // namespace vkconv
