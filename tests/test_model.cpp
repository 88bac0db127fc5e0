// Model: layer graph, printed summary, state_dict, plans (folding, fusion, buffer reuse), one
// submission per forward, captured outputs, JSON descriptions and their refusals.
// Tolerance for device vs CPU reference forward: 1e-4 of the output's scale (max |y|), the bar the
// project sets against PyTorch; every layer is fp32 with sums far shorter than 1e4 terms.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/test_support.h"
#include "vkconv/model_json.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

using test::expect_error;

// A residual network with BatchNorm (folded), ReLU (fused), a view (Flatten) and two heads of the graph
// meeting in Add: exercises every planning rule.
std::unique_ptr<Model> residual_net(Context& ctx) {
    auto m = std::make_unique<Model>(ctx, "ResNetish");
    m->add("stem.conv", std::make_unique<Conv2d>(ctx, 3, 8, 3, Conv2dOptions{.padding = 1, .bias = false}));
    m->add("stem.bn", std::make_unique<BatchNorm2d>(ctx, 8));
    m->add("stem.relu", std::make_unique<ReLU>(ctx));
    m->add("block.conv1", std::make_unique<Conv2d>(ctx, 8, 8, 3, Conv2dOptions{.padding = 1}));
    m->add("block.relu1", std::make_unique<ReLU>(ctx));
    m->add("block.conv2", std::make_unique<Conv2d>(ctx, 8, 8, 3, Conv2dOptions{.padding = 1, .padding_mode = PaddingMode::Reflect}));
    m->add("block.bn2", std::make_unique<BatchNorm2d>(ctx, 8));
    m->add("block.add", std::make_unique<Add>(ctx), {"stem.relu", "block.bn2"});
    m->add("block.relu2", std::make_unique<ReLU>(ctx));
    m->add("pool", std::make_unique<AdaptiveAvgPool2d>(ctx, Pair(2)));
    m->add("flatten", std::make_unique<Flatten>(ctx));
    m->add("fc", std::make_unique<Linear>(ctx, 32, 5));
    m->reset_parameters(11);
    // Non-trivial BatchNorm statistics, so folding really changes the weights.
    for (const char* bn : {"stem.bn", "block.bn2"}) {
        auto& l = m->layer(bn);
        l.set_parameter("running_mean", test::random_values(8, 1));
        auto var = test::random_values(8, 2);
        for (auto& v : var) v = 0.5f + std::fabs(v);
        l.set_parameter("running_var", var);
        l.set_parameter("weight", test::random_values(8, 3));
        l.set_parameter("bias", test::random_values(8, 4));
    }
    return m;
}

class ModelTest : public test::VulkanTest {};

TEST_F(ModelTest, ForwardMatchesReferenceWithAndWithoutFusion) {
    Context& ctx = test::context();
    auto m = residual_net(ctx);
    const Shape shape{3, 3, 9, 7};
    const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 5);
    const auto want = m->reference_forward(shape, x);
    const Tensor xt = Tensor::from_host(ctx, shape, x);
    const auto fused = m->forward(xt).to_host();
    EXPECT_TRUE(test::all_close(fused, want, 1e-4f * test::max_abs(want)));
    const auto fused_stats = m->last_forward_stats();
    m->set_fusion(false);
    const auto plain = m->forward(xt).to_host();
    EXPECT_TRUE(test::all_close(plain, want, 1e-4f * test::max_abs(want)));
    // Folding BN and fusing ReLU removes dispatches: 2 BN + 3 ReLU here.
    EXPECT_EQ(m->last_forward_stats().dispatches, fused_stats.dispatches + 5);
}

TEST_F(ModelTest, OneSubmissionNoHostTransfersAndReusedBuffers) {
    Context& ctx = test::context();
    auto m = residual_net(ctx);
    const Tensor x = Tensor::from_host(ctx, {2, 3, 8, 8}, test::random_values(2 * 3 * 64, 6));
    m->forward(x);  // first forward uploads the parameters
    m->forward(x);
    const auto st = m->last_forward_stats();
    EXPECT_EQ(st.submissions, 1u);
    EXPECT_EQ(st.host_transfers, 0u);
    // 7 steps after fusion (stem.conv, block.conv1, block.conv2, add, pool, fc + output), but the
    // memory plan needs fewer buffers than intermediate values.
    EXPECT_GE(st.dispatches, 6u);
    EXPECT_LT(st.plan_buffers, 5u);
    EXPECT_GT(st.plan_buffers, 0u);
    // Device memory does not grow across forwards.
    const auto bytes = ctx.live_bytes();
    for (int i = 0; i < 5; ++i) m->forward(x);
    EXPECT_EQ(ctx.live_bytes(), bytes);
}

TEST_F(ModelTest, CapturedOutputsMatchTheReferenceLayerByLayer) {
    Context& ctx = test::context();
    auto m = residual_net(ctx);
    const Shape shape{1, 3, 6, 6};
    const auto x = test::random_values(3 * 36, 7);
    std::map<std::string, std::vector<float>> ref;
    m->reference_forward(shape, x, &ref);
    std::map<std::string, HostArray> got;
    const std::vector<std::string> names{"stem.conv", "block.relu1", "block.add", "flatten"};
    m->forward(Tensor::from_host(ctx, shape, x), names, &got);
    for (const auto& n : names) {
        SCOPED_TRACE(n);
        EXPECT_TRUE(test::all_close(got.at(n).data, ref.at(n), 1e-4f * test::max_abs(ref.at(n))));
    }
    EXPECT_EQ(got.at("flatten").shape, (Shape{1, 32}));
}

TEST_F(ModelTest, BatchSizesShareTheModel) {
    Context& ctx = test::context();
    auto m = residual_net(ctx);
    for (int64_t n : {1, 4, 1, 2}) {
        const Shape shape{n, 3, 5, 5};
        const auto x = test::random_values(static_cast<size_t>(shape_numel(shape)), 8 + n);
        const auto want = m->reference_forward(shape, x);
        EXPECT_TRUE(test::all_close(m->forward(Tensor::from_host(ctx, shape, x)).to_host(), want, 1e-4f * test::max_abs(want)));
    }
}

TEST_F(ModelTest, SummaryNestsDottedNamesLikePyTorch) {
    auto m = residual_net(test::context());
    const std::string s = m->summary();
    EXPECT_THAT(s, HasSubstr("ResNetish(\n  (stem): Sequential(\n    (conv): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), "
                             "padding=(1, 1), bias=False)\n    (bn): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, "
                             "track_running_stats=True)\n    (relu): ReLU()\n  )\n"));
    EXPECT_THAT(s, HasSubstr("  (fc): Linear(in_features=32, out_features=5, bias=True)\n)"));
    // Conv 3*8*9, BN 2*8 (buffers excluded), conv 8*8*9+8, conv 8*8*9+8, BN 16, Linear 32*5+5.
    EXPECT_EQ(m->parameter_count(), 216 + 16 + 584 + 584 + 16 + 165);
}

TEST_F(ModelTest, FunctionalCallsRunButAreNotPrinted) {
    // F.relu / F.max_pool2d / a module's second call: layers of the graph, not submodules.
    Context& ctx = test::context();
    Model m(ctx, "Net");
    m.add("conv", std::make_unique<Conv2d>(ctx, 1, 2, 3, Conv2dOptions{.padding = 1}));
    m.add_functional("relu", std::make_unique<ReLU>(ctx));
    m.add_functional("max_pool2d", std::make_unique<MaxPool2d>(ctx, 2));
    m.add_functional("view", std::make_unique<Flatten>(ctx));
    m.add("fc", std::make_unique<Linear>(ctx, 2 * 2 * 2, 3));
    EXPECT_EQ(m.summary(), "Net(\n  (conv): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                           "  (fc): Linear(in_features=8, out_features=3, bias=True)\n)");
    EXPECT_TRUE(m.is_functional("relu"));
    EXPECT_FALSE(m.is_functional("conv"));
    EXPECT_THROW(m.is_functional("nope"), Error);
    EXPECT_EQ(m.output_shape({1, 1, 4, 4}), (Shape{1, 3}));
    // Functional calls compute like any layer: the forward equals the reference, ReLU included.
    m.reset_parameters(3);
    std::vector<float> x(16);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i)) * 2;
    const auto want = m.reference_forward({1, 1, 4, 4}, x);
    const auto got = m.forward(Tensor::from_host(ctx, {1, 1, 4, 4}, x)).to_host();
    EXPECT_TRUE(test::all_close(got, want, 1e-5f));
    Model only(ctx, "Only");
    only.add_functional("relu", std::make_unique<ReLU>(ctx));
    EXPECT_EQ(only.summary(), "Only()");
}

TEST_F(ModelTest, StateDictRoundTripAndKeyErrors) {
    Context& ctx = test::context();
    auto a = residual_net(ctx);
    auto sd = a->state_dict();
    EXPECT_TRUE(sd.count("stem.bn.num_batches_tracked"));
    EXPECT_EQ(sd.at("block.conv1.weight").shape, (Shape{8, 8, 3, 3}));
    auto b = residual_net(ctx);
    b->reset_parameters(99);
    b->load_state_dict(sd);
    EXPECT_EQ(b->state_dict().at("fc.weight").data, sd.at("fc.weight").data);

    auto bad = sd;
    bad.erase("fc.bias");
    bad["fc.extra"] = HostArray{{1}, {0}};
    bad["block.conv1.weight"].shape = {8, 8, 9};
    expect_error([&] { b->load_state_dict(bad); },
                 {"Error(s) in loading state_dict for ResNetish", "Missing key(s) in state_dict: \"fc.bias\"",
                  "Unexpected key(s) in state_dict: \"fc.extra\"",
                  "size mismatch for block.conv1.weight: copying a param with shape [8, 8, 9] from checkpoint, the shape in "
                  "current model is [8, 8, 3, 3]"});
    // Non-strict loading ignores missing/unexpected keys but never a wrong shape.
    bad["block.conv1.weight"].shape = {8, 8, 3, 3};
    b->load_state_dict(bad, false);
}

TEST_F(ModelTest, GraphErrors) {
    Context& ctx = test::context();
    Model m(ctx, "M");
    m.add("a", std::make_unique<ReLU>(ctx));
    expect_error([&] { m.add("a", std::make_unique<ReLU>(ctx)); }, {"a layer named 'a' already exists"});
    expect_error([&] { m.add("b", std::make_unique<ReLU>(ctx), {"nope"}); }, {"takes input 'nope', which is not an earlier layer"});
    expect_error([&] { m.add("c", std::make_unique<Add>(ctx)); }, {"takes 2 input(s), given 1"});
    expect_error([&] { m.add("input", std::make_unique<ReLU>(ctx)); }, {"cannot be named 'input'"});
    m.add("fc", std::make_unique<Linear>(ctx, 10, 2));
    expect_error([&] { m.output_shape({1, 3, 4}); }, {"layer 'fc'", "mat1 and mat2 shapes cannot be multiplied"});
}

ModelDescription from_json(const std::string& text) { return model_from_json(test::context(), text, "m.json"); }

TEST_F(ModelTest, JsonDescriptionBuildsTheModel) {
    auto d = from_json(R"({"format": "vkconv-model", "version": 1, "name": "Tiny", "input_shape": [3, 8, 8], "layers": [
        {"name": "conv", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": [3, 1], "padding": "same",
         "padding_mode": "circular", "dilation": [1, 1]},
        {"name": "relu", "type": "ReLU", "inplace": true},
        {"name": "skip", "type": "Add", "inputs": ["conv", "relu"]},
        {"name": "pool", "type": "MaxPool2d", "kernel_size": 2, "stride": null, "ceil_mode": true},
        {"name": "flat", "type": "Flatten"},
        {"name": "drop", "type": "Dropout", "p": 0.25},
        {"name": "fc", "type": "Linear", "in_features": 64, "out_features": 3},
        {"name": "softmax", "type": "Softmax", "dim": 1}]})");
    EXPECT_EQ(d.input_shape, (Shape{3, 8, 8}));
    EXPECT_EQ(d.model->name(), "Tiny");
    EXPECT_EQ(d.model->output_shape({2, 3, 8, 8}), (Shape{2, 3}));
    EXPECT_EQ(d.model->layer("conv").repr(),
              "Conv2d(3, 4, kernel_size=(3, 1), stride=(1, 1), padding=same, padding_mode=circular)");
    d.model->reset_parameters(1);
    const auto x = test::random_values(2 * 3 * 64, 9);
    const auto want = d.model->reference_forward({2, 3, 8, 8}, x);
    EXPECT_TRUE(test::all_close(d.model->forward(Tensor::from_host(test::context(), {2, 3, 8, 8}, x)).to_host(), want, 1e-5f));
}

TEST_F(ModelTest, JsonFunctionalFlag) {
    auto d = from_json(R"({"layers": [{"name": "r", "type": "ReLU", "functional": true}, {"name": "s", "type": "ReLU"}]})");
    EXPECT_TRUE(d.model->is_functional("r"));
    EXPECT_FALSE(d.model->is_functional("s"));
    EXPECT_EQ(d.model->summary(), "Model(\n  (s): ReLU()\n)");
    try {
        from_json(R"({"layers": [{"name": "r", "type": "ReLU", "functional": 1}]})");
        ADD_FAILURE() << "a non-boolean 'functional' was accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("'functional' must be true or false"));
    }
}

TEST_F(ModelTest, JsonParameterBudget) {
    // The declared parameters are checked before any layer allocates them.
    const std::string big = R"({"layers": [{"name": "fc", "type": "Linear", "in_features": 1000, "out_features": 1000}]})";
    try {
        model_from_json(test::context(), big, "m.json", 999999.0);
        ADD_FAILURE() << "1000000 values accepted under a budget of 999999";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("declares more parameter values than the limit of 999999"));
    }
    EXPECT_NO_THROW(model_from_json(test::context(), big, "m.json", 1001000.0));
}

TEST_F(ModelTest, JsonRefusals) {
    const std::string head = R"({"layers": [)";
    expect_error([&] { from_json("{"); }, {"m.json: not valid JSON"});
    expect_error([&] { from_json("[]"); }, {"must be a JSON object"});
    expect_error([&] { from_json(R"({"layers": []})"); }, {"'layers' must be a non-empty list"});
    expect_error([&] { from_json(R"({"layers": [], "extra": 1})"); }, {"unknown key 'extra'"});
    expect_error([&] { from_json(R"({"version": 2, "layers": [{}]})"); }, {"unsupported 'version' 2"});
    expect_error([&] { from_json(head + R"({"type": "ReLU"}]})"); }, {"layers[0]: 'name' (a string) is required"});
    expect_error([&] { from_json(head + R"({"name": "x", "type": "Conv3d"}]})"); }, {"unknown layer type 'Conv3d'"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernal_size": 3}]})"); },
                 {"'c' (Conv2d)", "argument 'kernel_size' is required"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "kernal": 1}]})"); },
                 {"'c' (Conv2d)", "unknown argument 'kernal'"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3.5, "out_channels": 4, "kernel_size": 3}]})"); },
                 {"argument 'in_channels' must be an integer"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": [3, 3, 3]}]})"); },
                 {"argument 'kernel_size' must be an integer or a list of two integers"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 99999999999}]})"); },
                 {"out of range"});
    expect_error([&] { from_json(head + R"({"name": "c", "type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}]})"); },
                 {"'c' (Conv2d)", "in_channels must be divisible by groups"});
    expect_error([&] { from_json(head + R"({"name": "a", "type": "Add", "inputs": ["input", "zzz"]}]})"); }, {"'zzz'"});
    expect_error([&] { from_json(std::string(100, '[') + std::string(100, ']')); }, {"nested deeper than"});
}

}  // namespace
}  // namespace vkconv

namespace vkconv {
namespace {

// A recording keeps the device copies it uses alive: changing a layer's parameters between
// recording and submission must neither free memory the GPU still reads (validation/ASan would
// report it) nor change what the earlier recording computes.
TEST_F(ModelTest, ParametersChangedBeforeSubmitKeepTheRecordedValues) {
    Context& ctx = test::context();
    for (auto algorithm : {Conv2dAlgorithm::DirectTiled, Conv2dAlgorithm::Auto}) {
        Conv2d conv(ctx, 3, 4, 3, {.padding = 1});
        conv.set_algorithm(algorithm);
        const Shape shape{1, 3, 5, 5};
        const auto x = test::random_values(75, 21);
        const auto w1 = test::random_values(108, 22), w2 = test::random_values(108, 23);
        conv.set_weight(w1);
        const Tensor xt = Tensor::from_host(ctx, shape, x);
        const Tensor y(ctx, conv.output_shape(shape));
        CommandRecorder rec(ctx);
        conv.record(rec, xt, y);
        conv.set_weight(w2);
        conv.forward(xt);  // uploads w2, replacing the device copy the recording uses
        rec.submit_and_wait();
        const auto want = conv2d_reference(conv.params(), shape, x, w1, conv.bias());
        EXPECT_TRUE(test::all_close(y.to_host(), want, 1e-5f)) << to_string(algorithm);
    }
}

}  // namespace
}  // namespace vkconv
