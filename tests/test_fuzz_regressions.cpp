// test_fuzz_regressions.cpp: every file in tests/data/fuzz_regressions/<format>/ goes through the
// entry point its fuzz target (fuzz/fuzz_<format>.cpp) calls, which must either succeed or throw
// vkconv::Error; any other exception fails the test, and a crash fails the test binary (run it
// under VKCONV_SANITIZE to also catch what only a sanitizer sees).
//
// The files are inputs the fuzzers found to crash (kept after the fix, named after the bug) and
// the seed edge cases. A file's name prefix also states the expected outcome:
//   valid_...    must be accepted            refused_...  must be refused with vkconv::Error
//   convert_...  (npy) accepted only by parse_npy_converting, refused by parse_npy
// any other prefix (e.g. crash_...) may go either way. To add a regression: copy the crashing
// input from build-fuzz/artifacts/ into the format's folder with a descriptive name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "vkconv/error.h"
#include "vkconv/image.h"
#include "vkconv/model_json.h"
#include "vkconv/npy.h"
#include "vkconv/onnx.h"
#include "vkconv/safetensors.h"

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = fs::path(VKCONV_TEST_DATA_DIR) / "fuzz_regressions";

std::vector<std::string> files_of(const std::string& format) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kRoot / format, ec))
        if (e.is_regular_file()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<uint8_t> read(const std::string& format, const std::string& file) {
    return vkconv::read_file_bytes((kRoot / format / file).string());
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// What the file name promises: accepted (true), refused (false) or either (nullopt).
std::optional<bool> expected_outcome(const std::string& file) {
    if (starts_with(file, "valid_")) return true;
    if (starts_with(file, "refused_")) return false;
    return std::nullopt;
}

// Runs `f`: success -> true, vkconv::Error -> false; any other exception fails the test.
template <typename F>
std::optional<bool> outcome(F&& f, std::string* message) {
    try {
        f();
        return true;
    } catch (const vkconv::Error& e) {
        *message = e.what();
        return false;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "threw an exception that is not vkconv::Error: " << e.what();
    } catch (...) {
        ADD_FAILURE() << "threw something that is not a std::exception";
    }
    return std::nullopt;
}

void expect_outcome(const std::optional<bool>& got, const std::optional<bool>& want, const std::string& what,
                    const std::string& message) {
    if (!got || !want) return;
    if (*want) EXPECT_TRUE(*got) << what << " refused a file named valid_/convert_: " << message;
    else EXPECT_FALSE(*got) << what << " accepted a file named refused_";
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

// ---- per format -------------------------------------------------------------------------------

class NpyRegression : public testing::TestWithParam<std::string> {};

TEST_P(NpyRegression, SucceedsOrThrowsVkconvError) {
    const std::string file = GetParam();
    const auto bytes = read("npy", file);
    std::string message;
    const auto plain = outcome(
        [&] {
            const auto a = vkconv::parse_npy(bytes, file);
            EXPECT_EQ(static_cast<uint64_t>(a.numel()), a.data.size());
        },
        &message);
    const bool converting_only = starts_with(file, "convert_");
    expect_outcome(plain, converting_only ? std::optional(false) : expected_outcome(file), "parse_npy", message);
    const auto converting = outcome(
        [&] {
            std::string dtype;
            const auto a = vkconv::parse_npy_converting(bytes, file, &dtype);
            EXPECT_EQ(static_cast<uint64_t>(a.numel()), a.data.size());
        },
        &message);
    expect_outcome(converting, converting_only ? std::optional(true) : expected_outcome(file), "parse_npy_converting",
                   message);
}

INSTANTIATE_TEST_SUITE_P(Files, NpyRegression, testing::ValuesIn(files_of("npy")), test_name);

class SafetensorsRegression : public testing::TestWithParam<std::string> {};

TEST_P(SafetensorsRegression, SucceedsOrThrowsVkconvError) {
    const std::string file = GetParam();
    const auto bytes = read("safetensors", file);
    std::string message;
    const auto got = outcome(
        [&] {
            std::map<std::string, std::string> dtypes;
            const auto tensors = vkconv::parse_safetensors(bytes, file, &dtypes);
            EXPECT_EQ(dtypes.size(), tensors.size());
            for (const auto& [name, a] : tensors) EXPECT_EQ(static_cast<uint64_t>(a.numel()), a.data.size()) << name;
        },
        &message);
    expect_outcome(got, expected_outcome(file), "parse_safetensors", message);
}

INSTANTIATE_TEST_SUITE_P(Files, SafetensorsRegression, testing::ValuesIn(files_of("safetensors")), test_name);

class PngRegression : public testing::TestWithParam<std::string> {};

TEST_P(PngRegression, SucceedsOrThrowsVkconvError) {
    const std::string file = GetParam();
    const auto bytes = read("png", file);
    std::string message;
    const auto got = outcome(
        [&] {
            const auto a = vkconv::decode_image(bytes, file);
            ASSERT_EQ(a.shape.size(), 3u);
            EXPECT_EQ(a.shape[0], 3);
            EXPECT_EQ(static_cast<uint64_t>(a.numel()), a.data.size());
        },
        &message);
    expect_outcome(got, expected_outcome(file), "decode_image", message);
}

INSTANTIATE_TEST_SUITE_P(Files, PngRegression, testing::ValuesIn(files_of("png")), test_name);

// Model descriptions build layers on the test context (validation on); like the fuzz target,
// an accepted model is also summarised and, given an input_shape, shape-checked (no forward).
class ModelJsonRegression : public vkconv::test::VulkanTest, public testing::WithParamInterface<std::string> {};

TEST_P(ModelJsonRegression, SucceedsOrThrowsVkconvError) {
    const std::string file = GetParam();
    const auto bytes = read("model_json", file);
    const std::string text(bytes.begin(), bytes.end());
    std::string message;
    vkconv::ModelDescription desc;
    const auto got = outcome([&] { desc = vkconv::model_from_json(vkconv::test::context(), text, file, double(1 << 25)); }, &message);
    expect_outcome(got, expected_outcome(file), "model_from_json", message);
    if (!desc.model) return;
    outcome([&] { (void)desc.model->summary(); }, &message);
    outcome([&] { (void)desc.model->parameter_count(); }, &message);
    if (!desc.input_shape.empty()) {
        outcome([&] { (void)desc.model->layer_shapes(desc.input_shape); }, &message);
        vkconv::Shape batched = desc.input_shape;
        batched.insert(batched.begin(), 2);
        outcome([&] { (void)desc.model->layer_shapes(batched); }, &message);
    }
}

INSTANTIATE_TEST_SUITE_P(Files, ModelJsonRegression, testing::ValuesIn(files_of("model_json")), test_name);

// ONNX models: loaded on the test context (validation on), no external data, like fuzz_onnx; an
// accepted model is summarised and shape-checked for the input it was built for.
class OnnxRegression : public vkconv::test::VulkanTest, public testing::WithParamInterface<std::string> {};

TEST_P(OnnxRegression, SucceedsOrThrowsVkconvError) {
    const std::string file = GetParam();
    const auto bytes = read("onnx", file);
    std::string message;
    std::optional<vkconv::OnnxModel> m;
    const auto got = outcome([&] { m.emplace(vkconv::load_onnx_bytes(vkconv::test::context(), bytes, "", file)); }, &message);
    expect_outcome(got, expected_outcome(file), "load_onnx_bytes", message);
    if (!m) return;
    outcome([&] { (void)m->model->summary(); }, &message);
    outcome([&] { (void)m->model->layer_shapes(m->input_shape); }, &message);
}

INSTANTIATE_TEST_SUITE_P(Files, OnnxRegression, testing::ValuesIn(files_of("onnx")), test_name);

// An empty or missing folder would silently instantiate nothing.
TEST(FuzzRegressions, EveryFormatHasFiles) {
    for (const char* format : {"npy", "safetensors", "png", "model_json", "onnx"})
        EXPECT_FALSE(files_of(format).empty()) << (kRoot / format).string() << " has no files";
}

}  // namespace
