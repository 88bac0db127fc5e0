// The `vkconv` command-line tool: devices, conv2d (against PyTorch's fixtures), run, and its
// refusals: bad input gives exit status 1 and exactly one line "vkconv: error: ..." naming the
// problem, never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/npy.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Result = test::CommandResult;

Result run_tool(const std::string& args) { return test::run_command(std::string(VKCONV_TOOL_PATH) + " " + args); }

const std::string kConv = std::string(VKCONV_TEST_DATA_DIR) + "/conv2d/";
const std::string kModels = std::string(VKCONV_TEST_DATA_DIR) + "/models/";

std::string tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(Cli, DevicesMarksTheChosenOne) {
    const auto r = run_tool("devices");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("* [0]"));
    EXPECT_THAT(r.out, HasSubstr("shared memory"));
    EXPECT_THAT(r.out, HasSubstr("subgroup size"));
    EXPECT_THAT(r.out, HasSubstr("storage buffer range"));
    EXPECT_THAT(r.out, HasSubstr("fp16"));
    EXPECT_THAT(r.out, HasSubstr("class "));  // the device policy's class
}

// Cases from tests/data/conv2d/manifest.json: case01 = Conv2d(4, 6, (3,2), stride (2,1), padding (2,1),
// dilation (1,2), groups 2, no bias, zeros); case08 = depthwise x2 'same' dilation 2 reflect.
TEST(Cli, Conv2dReproducesPyTorch) {
    struct C { std::string name, args; bool bias; };
    const C cases[] = {
        {"case01", "--stride 2,1 --padding 2,1 --dilation 1,2 --groups 2", false},
        {"case08", "--padding same --dilation 2 --groups 6 --padding-mode reflect", true},
        {"case22", "--stride 1,2 --padding valid --padding-mode circular", true},
    };
    for (const auto& c : cases) {
        for (const char* extra : {"", " --reference"}) {
            SCOPED_TRACE(c.name + extra);
            const std::string out = tmp(c.name + "_y.npy");
            std::string args = "conv2d --input " + kConv + c.name + "_input.npy --weight " + kConv + c.name + "_weight.npy " + c.args +
                               " --output " + out + extra;
            if (c.bias) args += " --bias " + kConv + c.name + "_bias.npy";
            const auto r = run_tool(args);
            ASSERT_EQ(r.status, 0) << r.err;
            const auto got = load_npy(out), want = load_npy(kConv + c.name + "_output.npy");
            ASSERT_EQ(got.shape, want.shape);
            EXPECT_TRUE(test::all_close(got.data, want.data, 1e-4f * test::max_abs(want.data)));
        }
    }
}

TEST(Cli, RunReproducesPyTorchModel) {
    const std::string dir = kModels + "simple_cnn/", out = tmp("simple_cnn_y.npy");
    const auto r = run_tool("run --model " + dir + "model.json --weights " + dir + "model.safetensors --input " + dir +
                            "input_b2.npy --output " + out + " --batch-time --runs 2");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("1 submission(s), 0 host transfer(s)"));
    const auto got = load_npy(out), want = load_npy(dir + "output_b2.npy");
    ASSERT_EQ(got.shape, want.shape);
    EXPECT_TRUE(test::all_close(got.data, want.data, 1e-4f * test::max_abs(want.data)));
}

void expect_one_line_error(const Result& r, const std::string& part) {
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, StartsWith("vkconv: error: "));
    EXPECT_THAT(r.err, HasSubstr(part));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// compile-report on the test device: the pipelines Auto picks for suite rows and a model's
// convolutions (the statistics where the driver reports them; RADV: the CompileReport tests).
TEST(Cli, CompileReportListsAutosPipelines) {
    const auto r = run_tool("compile-report --rows S1,S6 --model " + kModels + "simple_cnn/model.json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("conv2d_grouped_texel"));  // S1
    EXPECT_THAT(r.out, HasSubstr("conv2d_gemm_1x1"));       // S6, after its pack pass
    EXPECT_THAT(r.out, HasSubstr("pack_nc4hw4"));
    EXPECT_THAT(r.out, HasSubstr("SimpleCNN:conv1 (grouped_texel)"));
    expect_one_line_error(run_tool("compile-report --model " + kModels + "simple_cnn/model.json --batch 0"), "--batch must be at least 1");
    expect_one_line_error(run_tool("compile-report --rows S99"), "--rows 'S99' names no row of the suite");
}

TEST(Cli, RefusesBadInputWithOneLine) {
    const std::string x = kConv + "case00_input.npy", w = kConv + "case00_weight.npy", y = tmp("bad_y.npy");
    // A float64 .npy, written by hand: descr '<f8'.
    {
        std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        header.append(64 - (10 + header.size() + 1) % 64, ' ');
        header += '\n';
        std::ofstream f(tmp("f64.npy"), std::ios::binary);
        f << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff) << char(header.size() >> 8) << header;
        const double v[2] = {1, 2};
        f.write(reinterpret_cast<const char*>(v), sizeof v);
    }
    {
        std::ofstream f(tmp("garbage.npy"), std::ios::binary);
        f << "this is not a numpy file";
    }
    const std::string base = "conv2d --input " + x + " --weight " + w + " --output " + y;
    expect_one_line_error(run_tool("conv2d --input /nonexistent.npy --weight " + w + " --output " + y), "/nonexistent.npy");
    expect_one_line_error(run_tool("conv2d --input " + tmp("f64.npy") + " --weight " + w + " --output " + y), "'<f8'");
    expect_one_line_error(run_tool("conv2d --input " + tmp("garbage.npy") + " --weight " + w + " --output " + y), "garbage.npy");
    expect_one_line_error(run_tool(base + " --padding-mode mirror"), "padding_mode must be one of");
    expect_one_line_error(run_tool(base + " --stride a"), "--stride must be an integer or 'h,w'");
    expect_one_line_error(run_tool(base + " --padding full"), "Invalid padding string 'full'");
    expect_one_line_error(run_tool(base + " --groups 2"), "to have 6 channels, but got 3 channels instead");  // weight [4, 3, 3, 3]
    expect_one_line_error(run_tool(base + " --stride 2 --padding same"), "padding='same' is not supported for strided convolutions");
    expect_one_line_error(run_tool("conv2d --input " + x + " --weight " + kConv + "case25_weight.npy --output " + y),
                          "to have 1 channels, but got 3 channels instead");
    expect_one_line_error(run_tool(base + " --bias " + w), "bias must be 1-D");
    expect_one_line_error(run_tool("conv2d --input " + kConv + "case00_bias.npy --weight " + w + " --output " + y), "Expected 3D");
    expect_one_line_error(run_tool(base + " --padding 2 --padding-mode reflect --dilation 9"), "Output size is too small");
    expect_one_line_error(run_tool("run --model /nonexistent.json --random-weights --input " + x), "/nonexistent.json");
    // Usage errors come from the argument parser: non-zero, no crash.
    const auto usage = run_tool("conv2d --input " + x);
    EXPECT_NE(usage.status, 0);
    EXPECT_GE(usage.status, 0);
}

TEST(Cli, ModelFileMixUpsNameWhatWasGiven) {
    // Each a one-line error naming the file's real kind, never a parser's confusion.
    const std::string dir = kModels + "simple_cnn/", json = dir + "model.json", st = dir + "model.safetensors";
    const std::string x = dir + "input_b2.npy", y = tmp("mixup_y.npy");
    // torch.save(state_dict) as written by PyTorch 1.13 (zip) and the legacy pickle format.
    const std::string pt = kModels + "torch_save/state_dict.pt", legacy = kModels + "torch_save/state_dict_legacy.pt";
    for (const auto& p : {pt, legacy})
        expect_one_line_error(run_tool("run --model " + json + " --weights " + p + " --input " + x),
                              "this is a PyTorch pickle, not safetensors: export it with tools/export_model.py");
    expect_one_line_error(run_tool("run --model " + st + " --weights " + json + " --input " + x),
                          "not a JSON model description: this is a safetensors file (weights): were --model and --weights swapped?");
    expect_one_line_error(run_tool("run --model " + json + " --weights " + json + " --input " + x),
                          "this is a JSON document (a model description?), not safetensors weights");
    expect_one_line_error(run_tool("run --model " + pt + " --random-weights --input " + x),
                          "not a JSON model description: this is a PyTorch pickle (torch.save zip archive)");
    expect_one_line_error(run_tool("run --model " + x + " --random-weights --input " + x), "this is a NumPy .npy array");
    // No weights: refused unless random parameters are asked for.
    expect_one_line_error(run_tool("run --model " + json + " --input " + x), "--weights is required");
    const auto r = run_tool("run --model " + json + " --random-weights --input " + x + " --output " + y);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(load_npy(y).shape, (Shape{2, 10}));
    // A description declaring more parameters than its weights file can hold is refused before
    // anything is allocated.
    {
        std::ofstream f(tmp("huge.json"));
        f << R"({"format": "vkconv-model", "version": 1, "layers": [
                 {"name": "fc", "type": "Linear", "in_features": 40000, "out_features": 40000}]})";
    }
    expect_one_line_error(run_tool("run --model " + tmp("huge.json") + " --weights " + st + " --input " + x),
                          "declares more parameter values than what the weights file");
}

// `vkconv tune` measures every algorithm that can run a row, keeps the fastest in the cache
// directory, and a later Conv2d on that device and shape uses it.
TEST(Cli, TuneStoresTheFastestAlgorithmPerShape) {
    const std::string dir = ::testing::TempDir() + "/vkconv_cli_tune";
    std::filesystem::remove_all(dir);
    const auto r = test::run_command("VKCONV_CACHE_DIR=" + dir + " " + std::string(VKCONV_TOOL_PATH) +
                                     " tune --rows S11 --reps 1 --min-time 0");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("S11/b1/conv1"));
    EXPECT_THAT(r.out, HasSubstr("direct_tiled"));
    EXPECT_THAT(r.out, HasSubstr("6 choices saved to " + dir + "/tuning-"));
    ContextOptions o;
    o.cache_dir = dir;
    Context ctx(o);
    Conv2dParams p;
    p.in_channels = 16, p.out_channels = 32, p.kernel = 3, p.options.padding = 1;
    const auto tuned = tuned_conv2d_algorithm(ctx, p, {1, 16, 16, 16});
    ASSERT_TRUE(tuned.has_value());
    EXPECT_THAT(r.out, HasSubstr("S11/b1/conv2   -> " + to_string(*tuned)));
    const auto bad = run_tool("tune --rows S99");
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, HasSubstr("names no row of the suite"));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vkconv
