// The persisted VkPipelineCache (issue 4): written when a context that made pipelines goes away,
// loaded by the next context on the same device and driver; a corrupt, truncated or foreign file
// is ignored (the driver never sees it) and replaced; "off" writes nothing.
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>

#include "support/test_support.h"

namespace vkconv::test {
namespace {

namespace fs = std::filesystem;

class PipelineCache : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fresh_test_dir("vkconv_pc_");
    }
    void TearDown() override { fs::remove_all(dir); }

    // A context with the cache in `dir`, which runs one convolution (so it makes pipelines).
    std::string run_once(std::string* path = nullptr) {
        ContextOptions o;
        o.validation = true;
        o.cache_dir = dir.string();
        Context ctx(o);
        Conv2d conv(ctx, 3, 4, 3, {.padding = 1});
        conv.reset_parameters(1);
        const auto x = random_values(3 * 5 * 5, 2);
        const auto y = conv.forward(Tensor::from_host(ctx, {1, 3, 5, 5}, x)).to_host();
        EXPECT_TRUE(all_close(y, conv2d_reference(conv.params(), {1, 3, 5, 5}, x, conv.weight(), conv.bias()), 1e-5f));
        EXPECT_THAT(ctx.validation_messages(), ::testing::IsEmpty());
        if (path) *path = ctx.pipeline_cache_path();
        return ctx.pipeline_cache_status();
    }

    std::vector<char> read(const std::string& path) {
        std::ifstream f(path, std::ios::binary);
        return std::vector<char>(std::istreambuf_iterator<char>(f), {});
    }
    void write(const std::string& path, const std::vector<char>& bytes) {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }

    fs::path dir;
};

TEST_F(PipelineCache, WrittenThenLoaded) {
    std::string path;
    EXPECT_EQ(run_once(&path), "none yet");
    ASSERT_FALSE(path.empty());
    ASSERT_TRUE(fs::exists(path)) << path;
    const auto bytes = read(path);
    ASSERT_GE(bytes.size(), 56u + 32u);  // vkconv's header + the driver's (at least its 32-byte header)
    EXPECT_EQ(std::string(bytes.data(), 8), "VKCONVPC");
    EXPECT_THAT(run_once(), ::testing::StartsWith("loaded "));
}

TEST_F(PipelineCache, CorruptFilesAreIgnoredAndReplaced) {
    std::string path;
    run_once(&path);
    const auto good = read(path);
    struct Damage {
        const char* what;
        std::function<void(std::vector<char>&)> apply;
        const char* status;
    };
    const std::vector<Damage> damages = {
        {"flipped data byte", [](auto& b) { b[b.size() - 1] ^= 0x5a; }, "ignored: corrupt"},
        {"truncated data", [](auto& b) { b.resize(b.size() - 3); }, "ignored: corrupt"},
        {"truncated header", [](auto& b) { b.resize(20); }, "ignored: truncated header"},
        {"empty file", [](auto& b) { b.clear(); }, "ignored: truncated header"},
        {"wrong magic", [](auto& b) { b[0] = 'X'; }, "ignored: not a vkconv pipeline cache"},
        {"another device", [](auto& b) { b[16] ^= 1; }, "ignored: written for another device"},        // device_id
        {"another uuid", [](auto& b) { b[24] ^= 1; }, "ignored: written for another device"},          // uuid[0]
        {"another driver version", [](auto& b) { b[20] ^= 1; }, "ignored: written by another driver version"},
    };
    for (const auto& d : damages) {
        SCOPED_TRACE(d.what);
        auto bytes = good;
        d.apply(bytes);
        write(path, bytes);
        EXPECT_THAT(run_once(), ::testing::StartsWith(d.status));
        // The run replaced the file with a good one.
        EXPECT_THAT(run_once(), ::testing::StartsWith("loaded "));
    }
}

TEST_F(PipelineCache, ForeignDriverHeaderIsIgnoredEvenWithAValidChecksum) {
    std::string path;
    run_once(&path);
    auto bytes = read(path);
    // Change the driver's own header (its vendorID at data offset 8) and fix up the checksum, so
    // that only the second check can catch it.
    bytes[56 + 8] ^= 1;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 56; i < bytes.size(); ++i) h = (h ^ static_cast<uint8_t>(bytes[i])) * 1099511628211ull;
    std::memcpy(bytes.data() + 48, &h, 8);
    write(path, bytes);
    EXPECT_THAT(run_once(), ::testing::StartsWith("ignored: the driver's header does not match"));
}

TEST_F(PipelineCache, OffWritesNothing) {
    ContextOptions o;
    o.cache_dir = "off";
    {
        Context ctx(o);
        EXPECT_EQ(ctx.pipeline_cache_status(), "off");
        EXPECT_TRUE(ctx.pipeline_cache_path().empty());
        Conv2d conv(ctx, 3, 4, 3);
        (void)conv.forward(Tensor::zeros(ctx, {1, 3, 4, 4})).to_host();
        EXPECT_FALSE(ctx.save_pipeline_cache());
    }
    EXPECT_FALSE(fs::exists(dir));
}

}  // namespace
}  // namespace vkconv::test
