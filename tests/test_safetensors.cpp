// test_safetensors.cpp: .safetensors round trips, exact dtype conversions, and one test per
// refusal rule, checking that the message names the file, the tensor and the rule.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vkconv/error.h"
#include "vkconv/safetensors.h"
#include "support/test_support.h"

namespace {

using vkconv::HostArray;
using Tensors = std::map<std::string, HostArray>;

#define EXPECT_VKCONV_ERROR(statement, ...) vkconv::test::expect_error([&] { statement; }, {__VA_ARGS__})

// A .safetensors file with the given header text (verbatim) and data buffer.
std::vector<uint8_t> make_st(std::string_view header, const std::vector<uint8_t>& data = {}) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

using vkconv::test::raw_bytes;

Tensors parse(const std::vector<uint8_t>& bytes, std::map<std::string, std::string>* dtypes = nullptr) {
    return vkconv::parse_safetensors(bytes, "m.safetensors", dtypes);
}

// One F32 tensor "w" of shape [2, 3] holding 1..6: the base that the refusal tests break.
const std::vector<uint8_t> kSixFloats = raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6});
std::string entry(std::string_view dtype, std::string_view shape, std::string_view offsets) {
    return "{\"dtype\":\"" + std::string(dtype) + "\",\"shape\":" + std::string(shape) +
           ",\"data_offsets\":" + std::string(offsets) + "}";
}

std::string temp_path(const std::string& file) {
    return ::testing::TempDir() + "vkconv_st_" + file;
}

// ---- round trips ------------------------------------------------------------------------------

TEST(SafetensorsTest, RoundTrip) {
    Tensors tensors;
    tensors["conv.weight"] = HostArray{{2, 3, 2, 2}, {}};
    for (int i = 0; i < 24; ++i) tensors["conv.weight"].data.push_back(static_cast<float>(i) - 11.5f);
    tensors["conv.bias"] = HostArray{{2}, {0.5f, -0.25f}};
    tensors["bn.num_batches_tracked"] = HostArray{{}, {7.0f}};
    tensors["empty"] = HostArray{{3, 0}, {}};

    const std::string path = temp_path("round.safetensors");
    vkconv::save_safetensors(path, tensors);
    std::map<std::string, std::string> dtypes;
    const Tensors loaded = vkconv::load_safetensors(path, &dtypes);
    ASSERT_EQ(loaded.size(), tensors.size());
    for (const auto& [name, a] : tensors) {
        ASSERT_TRUE(loaded.count(name)) << name;
        EXPECT_EQ(loaded.at(name).shape, a.shape) << name;
        EXPECT_EQ(loaded.at(name).data, a.data) << name;
        EXPECT_EQ(dtypes.at(name), "F32");
    }
    std::filesystem::remove(path);
}

TEST(SafetensorsTest, RoundTripEmpty) {
    const std::string path = temp_path("empty.safetensors");
    vkconv::save_safetensors(path, {});
    EXPECT_TRUE(vkconv::load_safetensors(path).empty());
    std::filesystem::remove(path);
}

TEST(SafetensorsTest, SavedHeaderIsAlignedAndMinimal) {
    const std::string path = temp_path("layout.safetensors");
    vkconv::save_safetensors(path, {{"a", HostArray{{3}, {1, 2, 3}}}, {"b", HostArray{{}, {4}}}});
    const std::vector<uint8_t> bytes = vkconv::read_file_bytes(path);
    uint64_t header_size = 0;
    std::memcpy(&header_size, bytes.data(), 8);
    EXPECT_EQ(header_size % 8, 0u);
    ASSERT_EQ(bytes.size(), 8 + header_size + 16);

    const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
    EXPECT_EQ(header, nlohmann::json::parse(R"({
        "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
        "b": {"dtype": "F32", "shape": [], "data_offsets": [12, 16]}})"));
    std::filesystem::remove(path);
}

// ---- accepted files ---------------------------------------------------------------------------

TEST(SafetensorsTest, ParsesHandBuiltFileWithMetadataAndPadding) {
    const std::string header = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":" +
                               entry("F32", "[2,3]", "[0,24]") + "}    ";
    std::map<std::string, std::string> dtypes;
    const Tensors t = parse(make_st(header, kSixFloats), &dtypes);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t.at("w").shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(t.at("w").data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(dtypes, (std::map<std::string, std::string>{{"w", "F32"}}));
}

TEST(SafetensorsTest, AcceptsTensorsInAnyBufferOrderAndZeroSize) {
    // "b" comes first in the buffer; "z" has no elements.
    const std::string header = "{\"a\":" + entry("F32", "[2]", "[8,16]") + ",\"b\":" +
                               entry("F32", "[2]", "[0,8]") + ",\"z\":" + entry("F32", "[0,5]", "[16,16]") + "}";
    const Tensors t = parse(make_st(header, raw_bytes(std::vector<float>{1, 2, 3, 4})));
    EXPECT_EQ(t.at("a").data, (std::vector<float>{3, 4}));
    EXPECT_EQ(t.at("b").data, (std::vector<float>{1, 2}));
    EXPECT_EQ(t.at("z").shape, (std::vector<int64_t>{0, 5}));
    EXPECT_TRUE(t.at("z").data.empty());
}

// ---- conversions ------------------------------------------------------------------------------

float only_value(const std::string& dtype, const std::vector<uint8_t>& data) {
    const std::string header = "{\"x\":" + entry(dtype, "[]", "[0," + std::to_string(data.size()) + "]") + "}";
    return parse(make_st(header, data)).at("x").data.at(0);
}

std::vector<float> values(const std::string& dtype, const std::vector<uint8_t>& data, size_t count) {
    const std::string header = "{\"x\":" + entry(dtype, "[" + std::to_string(count) + "]",
                                                 "[0," + std::to_string(data.size()) + "]") + "}";
    std::map<std::string, std::string> dtypes;
    Tensors t = parse(make_st(header, data), &dtypes);
    EXPECT_EQ(dtypes.at("x"), dtype);
    return t.at("x").data;
}

TEST(SafetensorsTest, ConvertsF16Exactly) {
    const std::vector<uint16_t> bits = {0x3C00, 0xC000, 0x0000, 0x8000, 0x0001, 0x03FF,
                                        0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x3555};
    const std::vector<float> v = values("F16", raw_bytes(bits), bits.size());
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[1], -2.0f);
    EXPECT_EQ(std::bit_cast<uint32_t>(v[2]), 0u);           // +0
    EXPECT_EQ(std::bit_cast<uint32_t>(v[3]), 0x80000000u);  // -0
    EXPECT_EQ(v[4], std::ldexp(1.0f, -24));                 // smallest subnormal
    EXPECT_EQ(v[5], std::ldexp(1023.0f, -24));              // largest subnormal
    EXPECT_EQ(v[6], std::ldexp(1.0f, -14));                 // smallest normal
    EXPECT_EQ(v[7], 65504.0f);                              // largest finite
    EXPECT_EQ(v[8], std::numeric_limits<float>::infinity());
    EXPECT_EQ(v[9], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(v[10], 0.333251953125f);

    const std::vector<float> nan = values("F16", raw_bytes(std::vector<uint16_t>{0x7E00, 0xFC01}), 2);
    EXPECT_TRUE(std::isnan(nan[0]));
    EXPECT_TRUE(std::isnan(nan[1]));
    EXPECT_TRUE(std::signbit(nan[1]));
}

TEST(SafetensorsTest, ConvertsBF16Exactly) {
    const std::vector<uint16_t> bits = {0x3F80, 0xC000, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x4049};
    const std::vector<float> v = values("BF16", raw_bytes(bits), bits.size());
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[1], -2.0f);
    EXPECT_EQ(std::bit_cast<uint32_t>(v[2]), 0x00010000u);  // a float subnormal
    EXPECT_EQ(v[3], std::numeric_limits<float>::infinity());
    EXPECT_EQ(v[4], -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(v[5]));
    EXPECT_EQ(v[6], 3.140625f);
}

TEST(SafetensorsTest, ConvertsF64ByRoundingToNearest) {
    const double flt_max = std::numeric_limits<float>::max();
    const std::vector<double> d = {1.0,
                                   -2.5,
                                   0.1,
                                   1e300,
                                   -1e300,
                                   flt_max,
                                   flt_max + std::ldexp(1.0, 102),  // just below the midpoint
                                   std::ldexp(1.0, 128) - std::ldexp(1.0, 103),  // the midpoint
                                   std::numeric_limits<double>::infinity(),
                                   1e-300,
                                   -std::numeric_limits<double>::quiet_NaN()};
    const std::vector<float> v = values("F64", raw_bytes(d), d.size());
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(v[0], 1.0f);
    EXPECT_EQ(v[1], -2.5f);
    EXPECT_EQ(v[2], 0.1f);
    EXPECT_EQ(v[3], inf);
    EXPECT_EQ(v[4], -inf);
    EXPECT_EQ(v[5], std::numeric_limits<float>::max());
    EXPECT_EQ(v[6], std::numeric_limits<float>::max());
    EXPECT_EQ(v[7], inf);
    EXPECT_EQ(v[8], inf);
    EXPECT_EQ(v[9], 0.0f);
    EXPECT_TRUE(std::isnan(v[10]));
    EXPECT_TRUE(std::signbit(v[10]));
}

TEST(SafetensorsTest, ConvertsI64) {
    EXPECT_EQ(only_value("I64", raw_bytes(std::vector<int64_t>{12345})), 12345.0f);
    const std::vector<int64_t> i = {0, -7, int64_t{1} << 40, std::numeric_limits<int64_t>::min(),
                                    std::numeric_limits<int64_t>::max()};
    const std::vector<float> v = values("I64", raw_bytes(i), i.size());
    EXPECT_EQ(v[0], 0.0f);
    EXPECT_EQ(v[1], -7.0f);
    EXPECT_EQ(v[2], std::ldexp(1.0f, 40));
    EXPECT_EQ(v[3], -std::ldexp(1.0f, 63));
    EXPECT_EQ(v[4], std::ldexp(1.0f, 63));
}

// ---- refusals: framing ------------------------------------------------------------------------

TEST(SafetensorsTest, RefusesFileTooShortForLength) {
    EXPECT_VKCONV_ERROR(parse({}), "m.safetensors", "too short");
    EXPECT_VKCONV_ERROR(parse({1, 2, 3}), "too short");
}

TEST(SafetensorsTest, RefusesHeaderLengthLargerThanFile) {
    std::vector<uint8_t> bytes = make_st("{}");
    bytes[0] = 3;  // claims 3 bytes of header, only 2 follow
    EXPECT_VKCONV_ERROR(parse(bytes), "m.safetensors", "truncated header", "header length is 3");
}

TEST(SafetensorsTest, RefusesHugeHeaderLength) {
    std::vector<uint8_t> bytes = make_st("{}");
    std::fill(bytes.begin(), bytes.begin() + 8, 0xff);
    EXPECT_VKCONV_ERROR(parse(bytes), "header length 18446744073709551615", "exceeds the limit");
    const uint64_t just_over = 100'000'001;
    std::memcpy(bytes.data(), &just_over, 8);
    EXPECT_VKCONV_ERROR(parse(bytes), "exceeds the limit of 100000000");
}

// ---- refusals: JSON ---------------------------------------------------------------------------

TEST(SafetensorsTest, RefusesBadJson) {
    EXPECT_VKCONV_ERROR(parse(make_st("")), "m.safetensors", "not valid JSON");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\": ")), "not valid JSON");
    EXPECT_VKCONV_ERROR(parse(make_st("{'w': 1}")), "not valid JSON");
    EXPECT_VKCONV_ERROR(parse(make_st("{} x")), "not valid JSON");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"\xff\": 1}")), "not valid JSON");  // invalid UTF-8
    EXPECT_VKCONV_ERROR(parse(make_st(std::string("{}\0", 3))), "not valid JSON");
}

TEST(SafetensorsTest, BadJsonMessagesStayShort) {
    // nlohmann's message quotes the bad token; a megabyte-long one must not end up in ours.
    try {
        parse(make_st("{\"w\": " + std::string(1000000, '1') + "}"));
        ADD_FAILURE() << "nothing was thrown";
    } catch (const vkconv::Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
        EXPECT_LT(message.size(), 400u) << message;
    }
}

TEST(SafetensorsTest, RefusesNonObjectHeader) {
    EXPECT_VKCONV_ERROR(parse(make_st("[]")), "m.safetensors", "header must be a JSON object");
    EXPECT_VKCONV_ERROR(parse(make_st("42")), "header must be a JSON object");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\": [1, 2]}")), "tensor 'w'", "entry must be an object");
}

TEST(SafetensorsTest, RefusesDeepNesting) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\": " + deep + "}")), "nested too deeply");
}

TEST(SafetensorsTest, RefusesDuplicateKeys) {
    const std::string header = "{\"w\":" + entry("F32", "[6]", "[0,24]") + ",\"w\":" + entry("F32", "[6]", "[0,24]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(header, kSixFloats)), "the key 'w' twice");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I8\",\"shape\":[6],"
                                      "\"data_offsets\":[0,24]}}",
                                      kSixFloats)),
                        "the key 'dtype' twice");
}

TEST(SafetensorsTest, RefusesBadMetadata) {
    EXPECT_VKCONV_ERROR(parse(make_st("{\"__metadata__\": [1]}")), "\"__metadata__\" must be an object");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"__metadata__\": {\"epoch\": 3}}")), "'epoch' must be a string");
}

// ---- refusals: entries ------------------------------------------------------------------------

TEST(SafetensorsTest, RefusesMissingFields) {
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"shape\":[6],\"data_offsets\":[0,24]}}", kSixFloats)),
                        "m.safetensors", "tensor 'w' is missing \"dtype\"");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}", kSixFloats)),
                        "tensor 'w' is missing \"shape\"");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[6]}}", kSixFloats)),
                        "tensor 'w' is missing \"data_offsets\"");
}

TEST(SafetensorsTest, RefusesBadDtypeField) {
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"dtype\":32,\"shape\":[6],\"data_offsets\":[0,24]}}", kSixFloats)),
                        "tensor 'w'", "\"dtype\" must be a string");
}

TEST(SafetensorsTest, RefusesUnsupportedDtypes) {
    for (const std::string dtype : {"I8", "BOOL", "U8", "I32", "F8_E4M3", "f32", "Q7"}) {
        EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":" + entry(dtype, "[6]", "[0,6]") + "}", std::vector<uint8_t>(6))),
                            "m.safetensors", "tensor 'w' has unsupported dtype '" + dtype + "'",
                            "F32, F16, BF16, F64 and I64");
    }
}

TEST(SafetensorsTest, RefusesBadShapes) {
    const auto with_shape = [](const std::string& shape) {
        return make_st("{\"w\":" + entry("F32", shape, "[0,24]") + "}", kSixFloats);
    };
    EXPECT_VKCONV_ERROR(parse(with_shape("6")), "tensor 'w'", "\"shape\" must be an array");
    EXPECT_VKCONV_ERROR(parse(with_shape("[-6]")), "shape dimension must not be negative");
    EXPECT_VKCONV_ERROR(parse(with_shape("[6.0]")), "shape dimension must be a non-negative integer");
    EXPECT_VKCONV_ERROR(parse(with_shape("[\"6\"]")), "shape dimension must be a non-negative integer");
    EXPECT_VKCONV_ERROR(parse(with_shape("[1e30]")), "shape dimension must be a non-negative integer");
    EXPECT_VKCONV_ERROR(parse(with_shape("[18446744073709551615]")), "does not fit in int64");
    std::string many = "[1";
    for (int i = 0; i < 64; ++i) many += ",1";
    EXPECT_VKCONV_ERROR(parse(with_shape(many + "]")), "more than 64 elements");
    // Long arrays are refused wherever they are, before the whole header is parsed.
    std::string long_array = "[1";
    for (int i = 0; i < 1000000; ++i) long_array += ",1";
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":{\"junk\":" + long_array + "]}}")), "more than 64 elements");
}

TEST(SafetensorsTest, RefusesShapeProductOverflow) {
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":" + entry("F32", "[1099511627776,1099511627776]", "[0,24]") + "}",
                                      kSixFloats)),
                        "tensor 'w'", "overflows int64");
    // numel fits in int64 but numel * 8 bytes does not fit in uint64.
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":" + entry("F64", "[9223372036854775807]", "[0,24]") + "}",
                                      kSixFloats)),
                        "tensor 'w'", "byte size overflows");
}

TEST(SafetensorsTest, RefusesBadOffsets) {
    const auto with_offsets = [](const std::string& offsets) {
        return make_st("{\"w\":" + entry("F32", "[2,3]", offsets) + "}", kSixFloats);
    };
    EXPECT_VKCONV_ERROR(parse(with_offsets("0")), "tensor 'w'", "\"data_offsets\" must be an array [begin, end]");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[0]")), "must be an array [begin, end]");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[0,12,24]")), "must be an array [begin, end]");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[-1,24]")), "data_offsets begin must not be negative");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[0,24.0]")), "data_offsets end must be a non-negative integer");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[24,0]")), "data_offsets [24, 0] has begin > end");
}

TEST(SafetensorsTest, RefusesOffsetsOutOfRange) {
    const auto with_offsets = [](const std::string& offsets) {
        return make_st("{\"w\":" + entry("F32", "[2,3]", offsets) + "}", kSixFloats);
    };
    EXPECT_VKCONV_ERROR(parse(with_offsets("[4,28]")), "m.safetensors", "tensor 'w'",
                        "data_offsets [4, 28] extend past the end of the 24-byte data buffer");
    EXPECT_VKCONV_ERROR(parse(with_offsets("[0,9223372036854775807]")), "extend past the end");
}

TEST(SafetensorsTest, RefusesSizeMismatchWithShape) {
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":" + entry("F32", "[2,2]", "[0,24]") + "}", kSixFloats)),
                        "tensor 'w'", "span 24 bytes", "shape (2, 2) of dtype F32 needs 16");
    EXPECT_VKCONV_ERROR(parse(make_st("{\"w\":" + entry("F16", "[2,3]", "[0,24]") + "}", kSixFloats)),
                        "shape (2, 3) of dtype F16 needs 12");
}

// ---- refusals: buffer tiling ------------------------------------------------------------------

TEST(SafetensorsTest, RefusesOverlappingTensors) {
    const std::string header = "{\"a\":" + entry("F32", "[4]", "[0,16]") + ",\"b\":" +
                               entry("F32", "[4]", "[8,24]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(header, kSixFloats)), "m.safetensors", "tensor 'b'",
                        "[8, 24] overlap tensor 'a' at [0, 16]");
    const std::string same = "{\"a\":" + entry("F32", "[6]", "[0,24]") + ",\"b\":" +
                             entry("F32", "[6]", "[0,24]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(same, kSixFloats)), "overlap");
}

TEST(SafetensorsTest, RefusesHolesAndUnindexedBytes) {
    const std::string hole = "{\"a\":" + entry("F32", "[2]", "[0,8]") + ",\"b\":" +
                             entry("F32", "[2]", "[16,24]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(hole, kSixFloats)), "tensor 'b'", "leave a hole", "[8, 16)");
    const std::string short_of_end = "{\"a\":" + entry("F32", "[4]", "[0,16]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(short_of_end, kSixFloats)), "trailing data", "[16, 24)");
    EXPECT_VKCONV_ERROR(parse(make_st("{}", {0})), "trailing data", "[0, 1)");
}

// ---- files ------------------------------------------------------------------------------------

TEST(SafetensorsTest, LoadErrorsNameThePath) {
    const std::string path = temp_path("bad.safetensors");
    vkconv::write_file_bytes(path, make_st("{\"w\":" + entry("BOOL", "[6]", "[0,6]") + "}", std::vector<uint8_t>(6)));
    EXPECT_VKCONV_ERROR(vkconv::load_safetensors(path), path + ": tensor 'w' has unsupported dtype 'BOOL'");
    std::filesystem::remove(path);
    EXPECT_VKCONV_ERROR(vkconv::load_safetensors(path), path, "cannot open");
}

TEST(SafetensorsTest, DtypesOutUntouchedOnError) {
    std::map<std::string, std::string> dtypes = {{"keep", "F16"}};
    const std::string header = "{\"a\":" + entry("F32", "[4]", "[0,16]") + "}";
    EXPECT_VKCONV_ERROR(parse(make_st(header, kSixFloats), &dtypes), "trailing data");
    EXPECT_EQ(dtypes, (std::map<std::string, std::string>{{"keep", "F16"}}));
}

TEST(SafetensorsTest, SaveRefusals) {
    const std::string path = temp_path("refused.safetensors");
    EXPECT_VKCONV_ERROR(vkconv::save_safetensors(path, {{"w", HostArray{{2, 3}, {1, 2}}}}), "refused.safetensors",
                        "tensor 'w'", "6 elements but data has 2");
    EXPECT_VKCONV_ERROR(vkconv::save_safetensors(path, {{"__metadata__", HostArray{{}, {1}}}}), "reserved");
    EXPECT_VKCONV_ERROR(vkconv::save_safetensors(path, {{"\xff", HostArray{{}, {1}}}}), "cannot save", "UTF-8");
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_VKCONV_ERROR(vkconv::save_safetensors(temp_path("no_such_dir/x.safetensors"), {}), "cannot open for writing");
}

}  // namespace
