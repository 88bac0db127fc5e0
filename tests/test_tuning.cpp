// Tuned algorithm choices (vkconv/tuning.h, `vkconv tune`): a stored choice overrides Auto's
// heuristics for exactly its convolution and input shape on this device and driver; a choice the
// convolution cannot use, a foreign device's file and a malformed file are ignored.
#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace vkconv::test {
namespace {

namespace fs = std::filesystem;

class Tuning : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fresh_test_dir("vkconv_tuning_");
        opts.cache_dir = dir.string();
        opts.validation = true;
    }
    void TearDown() override { fs::remove_all(dir); }
    fs::path dir;
    ContextOptions opts;
};

Conv2dParams params() {
    Conv2dParams p;
    p.in_channels = 8, p.out_channels = 8, p.kernel = 3, p.options.padding = 1;
    return p;
}

TEST_F(Tuning, StoredChoiceOverridesTheHeuristicForItsShapeOnly) {
    const Shape shape{1, 8, 12, 12}, other{1, 8, 13, 12};
    Conv2dAlgorithm heuristic;
    {
        Context ctx(opts);
        Conv2d conv(ctx, params());
        heuristic = conv.algorithm_for(shape);
        ASSERT_NE(heuristic, Conv2dAlgorithm::DirectTiled) << "pick another shape: the heuristic already chooses direct_tiled";
        set_tuned_conv2d_algorithm(ctx, params(), shape, Conv2dAlgorithm::DirectTiled);
        ASSERT_TRUE(save_tuning(ctx));
        ASSERT_TRUE(fs::exists(tuning_path(ctx)));
    }
    // A later context (same device) reads the file; the tuned choice is used and correct.
    Context ctx(opts);
    Conv2d conv(ctx, params());
    conv.reset_parameters(3);
    EXPECT_EQ(conv.algorithm_for(shape), Conv2dAlgorithm::DirectTiled);
    EXPECT_EQ(conv.algorithm_for(other), heuristic);
    const auto x = random_values(8 * 144, 5);
    EXPECT_TRUE(all_close(conv.forward(Tensor::from_host(ctx, shape, x)).to_host(),
                          conv2d_reference(params(), shape, x, conv.weight(), conv.bias()), 1e-5f));
    // A forced algorithm still wins over the tuned one.
    conv.set_algorithm(heuristic);
    EXPECT_EQ(conv.algorithm_for(shape), heuristic);
}

TEST_F(Tuning, UnusableForeignOrMalformedEntriesAreIgnored) {
    Context ctx(opts);
    const Shape shape{1, 8, 10, 10};
    // Depthwise cannot run a dense convolution: the heuristic stays.
    Conv2d conv(ctx, params());
    const auto heuristic = conv.algorithm_for(shape);
    set_tuned_conv2d_algorithm(ctx, params(), shape, Conv2dAlgorithm::Depthwise);
    EXPECT_EQ(conv.algorithm_for(shape), heuristic);
    expect_error([&] { set_tuned_conv2d_algorithm(ctx, params(), shape, Conv2dAlgorithm::Auto); }, {"must not be auto"});
}

TEST_F(Tuning, FilesForAnotherDeviceOrMalformedAreSkipped) {
    const Shape shape{1, 8, 9, 9};
    const std::string key = conv2d_tuning_key(params(), shape);
    std::string device_name;
    uint32_t driver_version = 0;
    {
        Context probe(opts);
        device_name = probe.info().name;
        driver_version = probe.info().driver_version;
    }
    const std::string entry = R"(, "conv2d": {")" + key + R"(": "direct_tiled"}})";
    const std::string good = R"({"format": 1, "device": ")" + device_name + R"(", "driver_version": )" + std::to_string(driver_version) + entry;
    const std::vector<std::pair<std::string, bool>> files = {
        {good, true},  // the control: the same file for this device is used
        {R"({"format": 1, "device": "Some Other GPU", "driver_version": )" + std::to_string(driver_version) + entry, false},
        {R"({"format": 1, "device": ")" + device_name + R"(", "driver_version": )" + std::to_string(driver_version + 1) + entry, false},
        {R"({"format": 2, "device": ")" + device_name + R"(", "driver_version": )" + std::to_string(driver_version) + entry, false},
        {"{ not json", false},
        {R"({"format": 1, "device": 5, "conv2d": []})", false},
        {R"([1, 2, 3])", false},
        {R"({"format": 1, "device": ")" + device_name + R"(", "driver_version": )" + std::to_string(driver_version) +
             R"(, "conv2d": {")" + key + R"(": "no_such_algorithm"}})",
         false},
    };
    for (size_t i = 0; i < files.size(); ++i) {
        SCOPED_TRACE(files[i].first);
        // Each case in its own cache directory: tables are read once per file and process.
        ContextOptions o = opts;
        o.cache_dir = (dir / std::to_string(i)).string();
        fs::create_directories(o.cache_dir);
        Context ctx(o);
        std::ofstream(tuning_path(ctx), std::ios::trunc) << files[i].first;
        const auto tuned = tuned_conv2d_algorithm(ctx, params(), shape);
        EXPECT_EQ(tuned.has_value(), files[i].second);
        if (tuned) EXPECT_EQ(*tuned, Conv2dAlgorithm::DirectTiled);
    }
}

TEST(TuningKey, NamesEverythingThatMatters) {
    Conv2dParams p = params();
    p.options.padding = Padding::same();
    p.options.padding_mode = PaddingMode::Reflect;
    EXPECT_EQ(conv2d_tuning_key(p, {2, 8, 7, 7}), "in=8 out=8 k=3x3 s=1x1 p=1,1,1,1 d=1x1 g=1 reflect bias=1 input=[2, 8, 7, 7]");
}

}  // namespace
}  // namespace vkconv::test
