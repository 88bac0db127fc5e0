// `vkconv bench --model`, `vkconv bench --peak` and `vkconv tune --model` on the committed
// SimpleCNN fixture: the report has its fields, --profile lists every step, tune writes the
// model's convolutions into the tuning file, and bad arguments are one-line errors. Timings
// are never asserted on (they are only required to be present and positive).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/models/simple_cnn/";
const std::string kModel = kDir + "model.json";
const std::string kWeights = kDir + "model.safetensors";
// Short runs: the fields matter here, not the numbers.
const std::string kQuick = " --min-time 0 --reps 2";

test::CommandResult run_tool(const std::string& args, const std::string& env = "") {
    return test::run_command(env + std::string(VKCONV_TOOL_PATH) + " " + args);
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(BenchModel, TextReportHasEveryField) {
    const auto r = run_tool("bench --model " + kModel + " --weights " + kWeights + " --batch 4" + kQuick);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("device: "));
    EXPECT_THAT(r.out, HasSubstr("model SimpleCNN"));
    EXPECT_THAT(r.out, HasSubstr("(3 convolutions)"));
    EXPECT_THAT(r.out, HasSubstr("first run: "));
    EXPECT_THAT(r.out, HasSubstr("device memory: "));
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  1 +[0-9.]+ )"))) << r.out;  // batch 1 row
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  4 +[0-9.]+ )"))) << r.out;  // batch 4 row
}

TEST(BenchModel, JsonAndProfileListEveryStep) {
    const auto r = run_tool("bench --json --profile --random-weights --model " + kModel + " --batch 2" + kQuick);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("models").size(), 1u);
    const auto& m = j["models"][0];
    EXPECT_EQ(m.at("name"), "SimpleCNN");
    EXPECT_EQ(m.at("convolutions"), 3);
    EXPECT_GT(m.at("first_run_ms").at("total").get<double>(), 0.0);
    EXPECT_GT(m.at("first_run_ms").at("first_forward").get<double>(), 0.0);
    // After the first forward the parameters and the plan live on the device.
    EXPECT_EQ(m.at("parameters"), 33834);
    EXPECT_EQ(m.at("device_bytes").at("parameters_fp32"), 33834 * 4);
    EXPECT_GT(m["device_bytes"].at("plan_batch1").get<uint64_t>(), 0u);
    EXPECT_GE(m["device_bytes"].at("model").get<uint64_t>(),
              m["device_bytes"]["parameters_fp32"].get<uint64_t>() + m["device_bytes"]["plan_batch1"].get<uint64_t>());
    ASSERT_EQ(m.at("batches").size(), 2u);
    EXPECT_EQ(m["batches"][0].at("batch"), 1);
    EXPECT_EQ(m["batches"][1].at("batch"), 2);
    for (const auto& b : m["batches"]) {
        EXPECT_GT(b.at("wall_ms").at("median").get<double>(), 0.0);
        EXPECT_GT(b.at("gflop").get<double>(), 0.0);
        EXPECT_GT(b.at("plan_bytes").get<uint64_t>(), 0u);
    }
    // SimpleCNN's GFLOP per image: convolutions 2*(16*32*32*3*9 + 32*16*16*16*9 + 64*8*8*32*9) + Linear 2*1024*10.
    EXPECT_NEAR(m["batches"][0]["gflop"].get<double>(), 2.0 * (442368 + 1179648 + 1179648 + 10240) * 1e-9, 1e-9);
    // Each step once, in order: the convolutions (their ReLUs fused), the pools, the Linear (Flatten is a view).
    ASSERT_TRUE(m.contains("profile"));
    std::vector<std::string> layers;
    for (const auto& s : m["profile"]) {
        layers.push_back(s.at("layer"));
        EXPECT_GE(s.at("gpu_ms").at("median").get<double>(), 0.0) << s.dump();
    }
    EXPECT_EQ(layers, (std::vector<std::string>{"conv1", "max_pool2d", "conv2", "max_pool2d_1", "conv3", "max_pool2d_2", "fc"}));
    EXPECT_EQ(m["profile"][0].at("activation"), "relu");
    EXPECT_EQ(m["profile"][0].at("type"), "Conv2d");
    EXPECT_FALSE(m["profile"][0].at("algorithm").get<std::string>().empty());
    EXPECT_EQ(m.at("steps"), 7);
}

TEST(BenchModel, TextProfileHasARowPerStep) {
    const auto r = run_tool("bench --profile --random-weights --model " + kModel + " --batch 1" + kQuick);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("profile at batch 1"));
    for (const char* layer : {"conv1", "max_pool2d", "conv2", "max_pool2d_1", "conv3", "max_pool2d_2", "fc"})
        EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string(R"(\n +[0-9]+ )") + layer + " +"))) << layer << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("by type and algorithm:"));
}

// An ONNX graph is built for one input shape: --input-shape fixes its symbolic batch, and the
// second batch is a second load of the graph for that shape.
TEST(BenchModel, OnnxModelAtTwoBatches) {
    const std::string onnx = std::string(VKCONV_TEST_DATA_DIR) + "/onnx/tiny_resnet_opset17.onnx";
    const auto r = run_tool("bench --json --model " + onnx + " --input-shape 3,64,64 --batch 2" + kQuick);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& m = j.at("models").at(0);
    EXPECT_GT(m.at("convolutions").get<int>(), 0);
    ASSERT_EQ(m.at("batches").size(), 2u);
    for (const auto& b : m["batches"]) {
        EXPECT_FALSE(b.contains("skipped")) << b.dump();
        EXPECT_GT(b.at("wall_ms").at("median").get<double>(), 0.0);
    }
    const auto dynamic = run_tool("bench --model " + onnx + kQuick);
    EXPECT_EQ(dynamic.status, 1);
    EXPECT_THAT(dynamic.err, HasSubstr("(--input-shape C,H,W)"));
    EXPECT_EQ(count_lines(dynamic.err), 1) << dynamic.err;
}

TEST(BenchModel, PeakIsPrintedWithTheSuite) {
    const auto r = run_tool("bench --peak --peak-threads 1 --rows S4" + kQuick);
    if (r.status != 0 && r.err.find("no AVX2") != std::string::npos) GTEST_SKIP() << r.err;
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(AVX2 FMA peak \(before\): [0-9.]+ GFLOP/s on 1 thread)"))) << r.out;
    EXPECT_THAT(r.out, HasSubstr("% peak"));
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\nS4 .* [0-9.]+%\n)"))) << r.out;
}

TEST(BenchModel, TuneModelWritesItsConvolutions) {
    const std::string cache = ::testing::TempDir() + "/bench_model_tune_cache";
    std::filesystem::remove_all(cache);
    const auto r = run_tool("tune --model " + kModel + " --batch 1,2" + kQuick, "VKCONV_CACHE_DIR=" + cache + " ");
    ASSERT_EQ(r.status, 0) << r.err;
    // One progress line per convolution step: 3 convolutions at 2 batch sizes.
    for (const char* p : {"[1/6] conv1", "[2/6] conv2", "[3/6] conv3", "[6/6] conv3"}) EXPECT_THAT(r.out, HasSubstr(p)) << r.out;
    EXPECT_THAT(r.out, HasSubstr("6 choices saved to "));
    std::string file;
    for (const auto& e : std::filesystem::directory_iterator(cache))
        if (e.path().filename().string().rfind("tuning-", 0) == 0) file = e.path().string();
    ASSERT_FALSE(file.empty());
    std::ifstream f(file);
    const auto j = nlohmann::json::parse(f);
    const auto& entries = j.at("conv2d");
    EXPECT_EQ(entries.size(), 6u) << entries.dump(2);
    // The keys are those Conv2d's Auto looks up (vkconv::conv2d_tuning_key): one per convolution and batch.
    for (const char* key : {"in=3 out=16 k=3x3 s=1x1 p=1,1,1,1 d=1x1 g=1 zeros bias=1 input=[1, 3, 32, 32]",
                            "in=16 out=32 k=3x3 s=1x1 p=1,1,1,1 d=1x1 g=1 zeros bias=1 input=[2, 16, 16, 16]",
                            "in=32 out=64 k=3x3 s=1x1 p=1,1,1,1 d=1x1 g=1 zeros bias=1 input=[1, 32, 8, 8]"})
        EXPECT_TRUE(entries.contains(key)) << key << "\n" << entries.dump(2);
    std::filesystem::remove_all(cache);
}

TEST(BenchModel, BadArgumentsAreOneLineErrors) {
    struct C {
        std::string args, message;
    };
    const C cases[] = {
        {"bench --model " + kModel, "--weights is required"},
        {"bench --model " + kModel + " --weights " + kWeights + " --random-weights", "--weights and --random-weights exclude each other"},
        {"bench --model " + kModel + " --random-weights --torch", "needs one --torch-module per --model"},
        {"bench --model " + kModel + " --random-weights --torch --torch-module resnet18", "--torch-module must be package.module:Name"},
        {"bench --model " + kModel + " --random-weights --torch-module a:b", "--torch-module goes with --torch"},
        {"bench --model " + kModel + " --model " + kModel + " --weights " + kWeights, "--weights: give one per --model"},
        {"bench --model " + kModel + " --random-weights --input-shape 3,x", "--input-shape must be positive integers"},
        {"bench --model " + kModel + " --random-weights --rows S4", "takes no --rows or --shape"},
        {"bench --model /nonexistent/model.json --random-weights", "/nonexistent/model.json"},
        {"bench --profile", "go with --model"},
        {"tune --model " + kModel + " --batch 0", "--batch must be positive integers"},
        {"tune --model " + kModel + " --rows S4", "--rows and --model exclude each other"},
        {"tune --batch 2", "go with --model"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.args);
        const auto r = run_tool(c.args + kQuick, "VKCONV_CACHE_DIR=off ");
        EXPECT_EQ(r.status, 1);
        EXPECT_THAT(r.err, StartsWith("vkconv: error: "));
        EXPECT_THAT(r.err, HasSubstr(c.message));
        EXPECT_EQ(count_lines(r.err), 1) << r.err;
    }
}

}  // namespace
}  // namespace vkconv
