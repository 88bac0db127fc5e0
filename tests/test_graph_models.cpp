// Networks built from concatenations, chunks, views and permutes against PyTorch: fixtures in
// tests/data/graph made by tools/fixtures/gen_graph_fixtures.py (a width-reduced DenseNet block,
// ShuffleNet v2 unit with torchvision's channel_shuffle, Inception-style block, channels-last
// permute round trip; forward returns {"out", "features"}), exported with tools/export_model.py.
//
// Model::forward_all on the device for batches 1 and 2, with fusion on and off, and
// `vkconv run --output NAME=PATH` for each named output, all within 1e-4 of each output's scale
// (max |y|) of PyTorch's: the convolutions sum at most 24 * 25 fp32 products of O(1) terms, so
// the fp32 summation error (test::fp32_sum_tolerance's bound) stays far below that. With batch 1
// the concatenations are written in place: fewer dispatches than with fusion off.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "support/test_support.h"
#include "vkconv/model_json.h"
#include "vkconv/npy.h"
#include "vkconv/vkconv.h"

namespace vkconv {
namespace {

const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/graph/dense_shuffle/";

::testing::AssertionResult close_to_scale(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size " << got.size() << " != " << want.size();
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    return test::all_close(got, want, 1e-4f * scale) << " (" << what << ", scale " << scale << ")";
}

class GraphModels : public test::VulkanTest {};

TEST_F(GraphModels, DenseShuffleMatchesPyTorch) {
    Context& ctx = test::context();
    auto desc = load_model_json(ctx, kDir + "model.json");
    Model& m = *desc.model;
    m.load_weights(kDir + "model.safetensors");
    ASSERT_EQ(m.outputs().size(), 2u);
    EXPECT_EQ(m.outputs()[0].first, "out");
    EXPECT_EQ(m.outputs()[1].first, "features");
    for (bool fusion : {true, false})
        for (int n : {1, 2}) {
            m.set_fusion(fusion);
            const HostArray x = load_npy(kDir + "input_b" + std::to_string(n) + ".npy");
            const auto ys = m.forward_all(Tensor::from_host(ctx, x.shape, x.data));
            for (const auto& [name, layer] : m.outputs()) {
                const HostArray want = load_npy(kDir + name + "_b" + std::to_string(n) + ".npy");
                const std::string what = name + ", batch " + std::to_string(n) + (fusion ? "" : ", no fusion");
                EXPECT_EQ(ys.at(name).shape(), want.shape) << what;
                EXPECT_TRUE(close_to_scale(ys.at(name).to_host(), want.data, what));
            }
            EXPECT_EQ(m.last_forward_stats().submissions, 1u);
            // forward() gives the first output.
            EXPECT_TRUE(close_to_scale(m.forward(Tensor::from_host(ctx, x.shape, x.data)).to_host(),
                                       load_npy(kDir + "out_b" + std::to_string(n) + ".npy").data, "forward()"));
        }
}

TEST_F(GraphModels, ConcatenationsInPlaceSaveDispatches) {
    Context& ctx = test::context();
    auto desc = load_model_json(ctx, kDir + "model.json");
    Model& m = *desc.model;
    m.load_weights(kDir + "model.safetensors");
    const HostArray x = load_npy(kDir + "input_b1.npy");
    const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
    m.forward(xt);
    const uint32_t fused = m.last_forward_stats().dispatches;
    // Every Cat input (3 dense + 1 transition + 2 shuffle + 4 inception = 13 copies without
    // placement) written in place except the shuffle unit's x1, a slice of another value.
    m.set_fusion(false);
    m.forward(xt);
    const uint32_t unfused = m.last_forward_stats().dispatches;
    EXPECT_LT(fused, unfused);
}

TEST_F(GraphModels, CliWritesEveryNamedOutput) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("vkconv_graph_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string out = (dir / "out.npy").string(), feat = (dir / "features.npy").string();
    const auto r = test::run_command(std::string(VKCONV_TOOL_PATH) + " run --model " + kDir + "model.json --weights " + kDir +
                                     "model.safetensors --input " + kDir + "input_b2.npy --output out=" + out +
                                     " --output features=" + feat);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(close_to_scale(load_npy(out).data, load_npy(kDir + "out_b2.npy").data, "cli out"));
    EXPECT_TRUE(close_to_scale(load_npy(feat).data, load_npy(kDir + "features_b2.npy").data, "cli features"));
    // A plain PATH is the first output; an unknown name is refused, naming the outputs.
    const auto first = test::run_command(std::string(VKCONV_TOOL_PATH) + " run --model " + kDir + "model.json --weights " + kDir +
                                         "model.safetensors --input " + kDir + "input_b1.npy --output " + out);
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_TRUE(close_to_scale(load_npy(out).data, load_npy(kDir + "out_b1.npy").data, "cli first output"));
    const auto bad = test::run_command(std::string(VKCONV_TOOL_PATH) + " run --model " + kDir + "model.json --weights " + kDir +
                                       "model.safetensors --input " + kDir + "input_b1.npy --output aux=" + out);
    EXPECT_NE(bad.status, 0);
    EXPECT_THAT(bad.err, ::testing::HasSubstr("out, features"));
    fs::remove_all(dir);
}

TEST_F(GraphModels, JsonRefusals) {
    Context& ctx = test::context();
    const std::string head = R"({"layers": [{"name": "a", "type": "ReLU"}, {"name": "b", "type": "ReLU"})";
    test::expect_error([&] { model_from_json(ctx, head + R"(], "outputs": [{"name": "x", "layer": "zz"}]})", "m.json"); },
                       {"m.json: 'outputs'", "no layer named 'zz'"});
    test::expect_error([&] { model_from_json(ctx, head + R"(], "outputs": [{"name": "x", "layer": "a"}, {"name": "x", "layer": "b"}]})", "m.json"); },
                       {"output 'x' is named twice"});
    test::expect_error([&] { model_from_json(ctx, head + R"(], "outputs": ["a"]})", "m.json"); },
                       {"'outputs' must be a non-empty list"});
    test::expect_error([&] { model_from_json(ctx, head + R"(, {"name": "p", "type": "Permute", "dims": 3}]})", "m.json"); },
                       {"argument 'dims' must be a list"});
    test::expect_error([&] { model_from_json(ctx, head + R"(, {"name": "c", "type": "Chunk", "chunks": 0, "index": 0}]})", "m.json"); },
                       {"chunk expects `chunks` to be greater than 0, got: 0"});
    test::expect_error([&] { model_from_json(ctx, head + R"(, {"name": "r", "type": "Reshape", "shape": [-1, -1]}]})", "m.json"); },
                       {"only one dimension can be inferred"});
    test::expect_error([&] { model_from_json(ctx, head + R"(, {"name": "s", "type": "Split", "split_size": [1, -2], "index": 0}]})", "m.json"); },
                       {"split_with_sizes expects split_sizes have only non-negative entries"});
    // A well-formed description with every shape layer loads and runs.
    auto d = model_from_json(ctx, R"({"layers": [
        {"name": "a", "type": "ReLU"},
        {"name": "c0", "type": "Chunk", "chunks": 2, "dim": 1, "index": 0},
        {"name": "c1", "type": "Split", "inputs": ["a"], "split_size": [1, 1], "dim": 1, "index": 1},
        {"name": "cat", "type": "Cat", "inputs": ["c1", "c0", "a"], "dim": 1},
        {"name": "r", "type": "Reshape", "shape": [-1, 4, 2, 2]},
        {"name": "t", "type": "Transpose", "dim0": 2, "dim1": 3},
        {"name": "p", "type": "Permute", "dims": [0, 2, 3, 1]}],
        "outputs": [{"name": "y", "layer": "p"}, {"name": "first", "layer": "a"}]})", "m.json");
    const Shape in{1, 2, 2, 2};
    const auto x = test::random_values(8, 3);
    const auto ys = d.model->forward_all(Tensor::from_host(ctx, in, x));
    EXPECT_EQ(ys.at("y").to_host(), d.model->reference_forward(in, x));
    EXPECT_EQ(ys.at("y").shape(), (Shape{1, 2, 2, 4}));
    EXPECT_EQ(ys.at("first").shape(), in);
}

}  // namespace
}  // namespace vkconv
