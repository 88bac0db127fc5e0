// The samples as a user runs them: simple_cnn reproduces PyTorch's SimpleCNN from a state_dict
// and writes feature-map pictures; landmark_cnn runs; edge_detect applies its kernels with each
// padding mode. Tolerance against PyTorch: 1e-4 of the output's scale, as everywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_support.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

test::CommandResult run_sample(const std::string& name, const std::string& args) {
    return test::run_command(std::string(VKCONV_SAMPLES_DIR) + "/" + name + " " + args);
}

#define SKIP_IF_NOT_BUILT(name)                                                          \
    if (!std::filesystem::exists(std::string(VKCONV_SAMPLES_DIR) + "/" + name)) GTEST_SKIP() << name << " not built"

const std::string kModels = std::string(VKCONV_TEST_DATA_DIR) + "/models/";

TEST(Samples, SimpleCnnReproducesPyTorchFromItsStateDict) {
    SKIP_IF_NOT_BUILT("simple_cnn");
    const std::string dir = kModels + "simple_cnn/", out = ::testing::TempDir() + "/simple_cnn_logits.npy";
    const std::string fm = ::testing::TempDir() + "/simple_cnn_fm";
    std::filesystem::remove_all(fm);
    const auto r = run_sample("simple_cnn", "--weights " + dir + "model.safetensors --input " + dir + "input_b2.npy --output " + out +
                                                " --feature-maps " + fm + " --runs 2");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("SimpleCNN(\n  (conv1): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"));
    EXPECT_THAT(r.out, HasSubstr("predicted class"));
    EXPECT_THAT(r.out, HasSubstr("time per forward pass (batch 2)"));
    EXPECT_THAT(r.out, HasSubstr("1 submission(s), 0 host transfer(s)"));
    const auto got = load_npy(out), want = load_npy(dir + "output_b2.npy");
    ASSERT_EQ(got.shape, want.shape);
    float scale = 0;
    for (float v : want.data) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(test::all_close(got.data, want.data, 1e-4f * scale));
    // One picture per convolution: conv1 is 16 tiles of 32x32 magnified 4x in a 4x4 grid.
    for (const char* conv : {"conv1", "conv2", "conv3"}) EXPECT_TRUE(std::filesystem::exists(fm + "/" + conv + ".png")) << conv;
    const auto img = load_image(fm + "/conv1.png");
    EXPECT_EQ(img.shape, (Shape{3, 4 * 128 + 3, 4 * 128 + 3}));
}

TEST(Samples, SimpleCnnDefaultRunAndBadInput) {
    SKIP_IF_NOT_BUILT("simple_cnn");
    const auto r = run_sample("simple_cnn", "--runs 2 --batch 3");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("input: [3, 3, 32, 32] (built-in test picture"));
    EXPECT_THAT(r.out, HasSubstr("fc             [3, 10]"));
    const auto bad = run_sample("simple_cnn", "--input " + kModels + "tiny_resnet/input_b2.npy");
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, HasSubstr("SimpleCNN expects [N, 3, 32, 32]"));
    const auto missing = run_sample("simple_cnn", "--weights /nonexistent.safetensors");
    EXPECT_EQ(missing.status, 1);
    EXPECT_THAT(missing.err, HasSubstr("/nonexistent.safetensors"));
}

TEST(Samples, LandmarkCnnRunsWithBatchNormFolded) {
    SKIP_IF_NOT_BUILT("landmark_cnn");
    const auto r = run_sample("landmark_cnn", "--runs 1 --batch 2");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("LandmarkCNN(\n  (conv1): Conv2d(3, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                                 "  (bn1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                                 "  (relu1): ReLU()\n"));
    EXPECT_THAT(r.out, HasSubstr("  (fc1): Linear(in_features=2048, out_features=512, bias=True)\n"
                                 "  (dropout): Dropout(p=0.5, inplace=False)\n"
                                 "  (fc2): Linear(in_features=512, out_features=10, bias=True)\n)"));
    // 3 convs (BN and ReLU folded in), 3 pools, 2 Linear (ReLU fused): 8 dispatches, plus one pack
    // pass per convolution where Auto picks packed_texel, or a pack and two transform passes where
    // it picks winograd (32 -> 64 at 16x16) (devices with texel buffers; not for the 3-channel
    // first one): 8 to 12. Without the folding there would be at least 3 more.
    EXPECT_THAT(r.out, ::testing::ContainsRegex(" (8|9|10|11|12) dispatches"));
}

TEST(Samples, LandmarkCnnLoadsTheTutorialStateDict) {
    // A state_dict saved from the tutorial's LandmarkCNN class, unchanged (num_batches_tracked
    // as int64 included), gives PyTorch's logits.
    SKIP_IF_NOT_BUILT("landmark_cnn");
    const std::string dir = kModels + "landmark_cnn/", out = ::testing::TempDir() + "/landmark_cnn_logits.npy";
    const auto r = run_sample("landmark_cnn", "--weights " + dir + "model.safetensors --input " + dir + "input_b2.npy --output " +
                                                  out + " --runs 1");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto got = load_npy(out), want = load_npy(dir + "output_b2.npy");
    ASSERT_EQ(got.shape, want.shape);
    float scale = 0;
    for (float v : want.data) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(test::all_close(got.data, want.data, 1e-4f * scale));
}

TEST(Samples, EdgeDetectPaddingModesDifferOnlyAtTheBorder) {
    SKIP_IF_NOT_BUILT("edge_detect");
    std::map<std::string, HostArray> out;
    for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
        const std::string png = ::testing::TempDir() + "/edges_" + mode + ".png";
        const auto r = run_sample("edge_detect", std::string("--kernel laplacian --padding-mode ") + mode + " --output " + png);
        ASSERT_EQ(r.status, 0) << r.err;
        out[mode] = load_image(png);
        ASSERT_EQ(out[mode].shape, (Shape{3, 128, 128}));
    }
    // The built-in picture has a bright background ring at the border: zero padding sees an edge
    // there, replicate padding does not; away from the border all modes agree exactly.
    auto at = [](const HostArray& a, int y, int x) { return a.data[static_cast<size_t>(y * 128 + x)]; };
    int border_diff = 0;
    for (int x = 0; x < 128; ++x) border_diff += at(out["zeros"], 0, x) != at(out["replicate"], 0, x);
    EXPECT_GT(border_diff, 64);
    for (int y = 1; y < 127; ++y)
        for (int x = 1; x < 127; ++x) ASSERT_EQ(at(out["zeros"], y, x), at(out["reflect"], y, x)) << y << "," << x;
    const auto bad = run_sample("edge_detect", "--kernel blur");
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, HasSubstr("--kernel must be one of"));
}

// The embedding sample: an application renders a frame, and vkconv filters it in the same command
// buffer on the application's device. --check compares with the CPU reference (1 LSB), and
// --validation fails on any message of the validation layer with synchronization validation.
TEST(Samples, EmbedPostprocessFiltersTheRenderedFrameInEveryPaddingMode) {
    SKIP_IF_NOT_BUILT("embed_postprocess");
    std::map<std::string, HostArray> out;
    for (const char* filter : {"edge", "blur"})
        for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
            const std::string key = std::string(filter) + "_" + mode;
            const std::string png = ::testing::TempDir() + "/embed_" + key + ".png", scene = ::testing::TempDir() + "/embed_scene.png";
            const auto r = run_sample("embed_postprocess", std::string("--check --validation --width 96 --height 64 --filter ") + filter +
                                                               " --padding-mode " + mode + " --output " + png + " --scene " + scene);
            ASSERT_EQ(r.status, 0) << key << "\n" << r.out << r.err;
            EXPECT_THAT(r.out, HasSubstr("max difference")) << key;
            EXPECT_THAT(r.out, HasSubstr("validation messages: 0")) << key;
            EXPECT_THAT(r.out, HasSubstr("vkconv submitted 0 of its own")) << key;
            out[key] = load_image(png);
            ASSERT_EQ(out[key].shape, (Shape{3, 64, 96})) << key;
            if (std::string(filter) == "blur") {
                // A blur keeps the picture: close to the rendered scene away from edges.
                const auto sc = load_image(scene);
                double diff = 0;
                for (size_t i = 0; i < sc.data.size(); ++i) diff += std::fabs(sc.data[i] - out[key].data[i]);
                EXPECT_LT(diff / static_cast<double>(sc.data.size()), 0.05) << key;
            }
        }
    // The padding modes change the border only.
    auto at = [](const HostArray& a, int y, int x) { return a.data[static_cast<size_t>(y * 96 + x)]; };
    int border_diff = 0;
    for (int x = 0; x < 96; ++x) border_diff += at(out["edge_zeros"], 0, x) != at(out["edge_replicate"], 0, x);
    EXPECT_GT(border_diff, 10);
    for (int y = 1; y < 63; ++y)
        for (int x = 1; x < 95; ++x) ASSERT_EQ(at(out["edge_zeros"], y, x), at(out["edge_circular"], y, x)) << y << "," << x;
    const auto bad = run_sample("embed_postprocess", "--filter sharpen");
    EXPECT_EQ(bad.status, 1);
    EXPECT_THAT(bad.err, HasSubstr("--filter must be edge or blur"));
}

}  // namespace
}  // namespace vkconv
