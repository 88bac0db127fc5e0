// test_npy.cpp: .npy round trips, hand-built headers of every version, and one test per
// refusal rule, checking that the message names the file and the rule.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "vkconv/error.h"
#include "vkconv/npy.h"

namespace {

using vkconv::HostArray;

// Passes if `f` throws vkconv::Error whose message contains every needle.
template <typename F>
testing::AssertionResult throws_error_mentioning(F&& f, std::initializer_list<std::string_view> needles) {
    try {
        f();
    } catch (const vkconv::Error& e) {
        const std::string message = e.what();
        for (const std::string_view needle : needles) {
            if (message.find(needle) == std::string::npos) {
                return testing::AssertionFailure()
                       << "message \"" << message << "\" does not mention \"" << needle << "\"";
            }
        }
        return testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return testing::AssertionFailure() << "threw a non-vkconv exception: " << e.what();
    }
    return testing::AssertionFailure() << "nothing was thrown";
}

#define EXPECT_VKCONV_ERROR(statement, ...) \
    EXPECT_TRUE(throws_error_mentioning([&] { statement; }, {__VA_ARGS__}))

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> float_bytes(const std::vector<float>& values) {
    std::vector<uint8_t> out(values.size() * sizeof(float));
    if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
    return out;
}

// A .npy file with the given version and header text (used verbatim, no padding) and data.
std::vector<uint8_t> make_npy(int major, std::string_view header, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
    const size_t length_size = major == 1 ? 2 : 4;
    for (size_t i = 0; i < length_size; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

std::vector<uint8_t> make_npy(std::string_view header, const std::vector<uint8_t>& data) {
    return make_npy(1, header, data);
}

HostArray parse(const std::vector<uint8_t>& bytes) { return vkconv::parse_npy(bytes, "w.npy"); }

const std::vector<uint8_t> kSixFloats = float_bytes({1, 2, 3, 4, 5, 6});

std::string temp_path(const std::string& file) { return ::testing::TempDir() + "vkconv_npy_" + file; }

void expect_round_trip(const HostArray& a, const std::string& file) {
    const std::string path = temp_path(file);
    vkconv::save_npy(path, a);
    const HostArray b = vkconv::load_npy(path);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.data, a.data);
    std::filesystem::remove(path);
}

// ---- round trips ------------------------------------------------------------------------------

TEST(NpyTest, RoundTrip4d) {
    HostArray a{{2, 3, 4, 5}, {}};
    for (int i = 0; i < 120; ++i) a.data.push_back(static_cast<float>(i) * 0.25f - 7.0f);
    expect_round_trip(a, "4d.npy");
}

TEST(NpyTest, RoundTrip1dAnd0d) {
    expect_round_trip(HostArray{{3}, {1.5f, -2.0f, 1e-30f}}, "1d.npy");
    expect_round_trip(HostArray{{}, {3.5f}}, "0d.npy");
}

TEST(NpyTest, RoundTripZeroSize) {
    expect_round_trip(HostArray{{2, 0, 3}, {}}, "zero.npy");
    expect_round_trip(HostArray{{0}, {}}, "zero1d.npy");
}

TEST(NpyTest, SavedFileMatchesNumpyByteForByte) {
    // What numpy.save writes for a (2, 3) float32 array: a v1.0 header padded with spaces and
    // '\n' so that the data starts at byte 128.
    const std::string path = temp_path("exact.npy");
    vkconv::save_npy(path, HostArray{{2, 3}, {1, 2, 3, 4, 5, 6}});
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    header.append(128 - 10 - header.size() - 1, ' ');
    header += '\n';
    EXPECT_EQ(vkconv::read_file_bytes(path), make_npy(header, kSixFloats));

    // numpy >= 1.23 adds 21 - len(str(shape[0])) spare spaces after the dict before aligning;
    // with 16 dims that pushes the data from byte 128 to 192.
    const HostArray ones{std::vector<int64_t>(16, 1), {1.0f}};
    vkconv::save_npy(path, ones);
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1";
    for (int i = 1; i < 16; ++i) header += ", 1";
    header += "), }";
    header.append(192 - 10 - header.size() - 1, ' ');
    header += '\n';
    EXPECT_EQ(vkconv::read_file_bytes(path), make_npy(header, std::vector<uint8_t>{0, 0, 0x80, 0x3f}));
    std::filesystem::remove(path);
}

TEST(NpyTest, SavedHeaderIsAlignedForAllRanks) {
    for (size_t rank = 0; rank <= 8; ++rank) {
        const std::string path = temp_path("align.npy");
        HostArray a{std::vector<int64_t>(rank, 1), {42.0f}};
        vkconv::save_npy(path, a);
        const std::vector<uint8_t> bytes = vkconv::read_file_bytes(path);
        EXPECT_EQ((bytes.size() - sizeof(float)) % 64, 0u) << "rank " << rank;
        EXPECT_EQ(bytes[bytes.size() - sizeof(float) - 1], '\n');
        EXPECT_EQ(parse(bytes).shape, a.shape);
        std::filesystem::remove(path);
    }
}

// ---- accepted headers -------------------------------------------------------------------------

TEST(NpyTest, ParsesVersion1Header) {
    const HostArray a = parse(make_npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n", kSixFloats));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(a.numel(), 6);
}

TEST(NpyTest, ParsesVersion2And3Headers) {
    for (const int major : {2, 3}) {
        const HostArray a = parse(make_npy(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n",
                                           kSixFloats));
        EXPECT_EQ(a.shape, (std::vector<int64_t>{6})) << "version " << major;
        EXPECT_EQ(a.data[5], 6.0f);
    }
}

TEST(NpyTest, AcceptsAnyKeyOrderQuotesWhitespaceAndCommas) {
    const char* headers[] = {
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"shape\": (2,3,), \"fortran_order\": False,}\n",
        "{ 'fortran_order' :False ,\n\t'shape':( 2 , 3 ) , 'descr':'<f4' }   \n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n",  // Python 2 longs
    };
    for (const char* header : headers) {
        const HostArray a = parse(make_npy(header, kSixFloats));
        EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3})) << header;
    }
}

TEST(NpyTest, ParsesZeroDAndZeroSize) {
    const HostArray scalar = parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()}\n",
                                            float_bytes({-0.5f})));
    EXPECT_TRUE(scalar.shape.empty());
    EXPECT_EQ(scalar.numel(), 1);
    EXPECT_EQ(scalar.data, std::vector<float>{-0.5f});

    const HostArray empty = parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0)}\n", {}));
    EXPECT_EQ(empty.shape, (std::vector<int64_t>{4, 0}));
    EXPECT_EQ(empty.numel(), 0);
    EXPECT_TRUE(empty.data.empty());
}

// ---- refusals: preamble -----------------------------------------------------------------------

TEST(NpyTest, RefusesBadMagic) {
    std::vector<uint8_t> bytes = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats);
    bytes[1] = 'X';
    EXPECT_VKCONV_ERROR(parse(bytes), "w.npy", "bad magic");
    EXPECT_VKCONV_ERROR(parse({}), "w.npy", "bad magic");
    EXPECT_VKCONV_ERROR(parse(bytes_of("PK\x03\x04 a zip file")), "bad magic");
}

TEST(NpyTest, RefusesUnsupportedVersion) {
    std::vector<uint8_t> bytes = make_npy(4, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats);
    EXPECT_VKCONV_ERROR(parse(bytes), "version 4.0");
    bytes = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats);
    bytes[7] = 1;
    EXPECT_VKCONV_ERROR(parse(bytes), "version 1.1");
}

TEST(NpyTest, RefusesTruncatedHeader) {
    const std::vector<uint8_t> full = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats);
    // Cut inside the version bytes, the length field and the header text.
    for (const size_t size : {size_t{7}, size_t{9}, size_t{30}}) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
        EXPECT_VKCONV_ERROR(parse(cut), "w.npy", "truncated header");
    }
}

TEST(NpyTest, RefusesHeaderLengthLargerThanFile) {
    // A v2 header claiming 4 GiB of header text in a tiny file.
    std::vector<uint8_t> bytes = make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats);
    bytes[8] = bytes[9] = bytes[10] = bytes[11] = 0xff;
    EXPECT_VKCONV_ERROR(parse(bytes), "truncated header", "4294967295");
}

// ---- refusals: data size ----------------------------------------------------------------------

TEST(NpyTest, RefusesTruncatedData) {
    const std::vector<uint8_t> five = float_bytes({1, 2, 3, 4, 5});
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", five)),
                        "w.npy", "truncated data", "(2, 3)", "24 bytes", "only 20");
}

TEST(NpyTest, RefusesTrailingData) {
    std::vector<uint8_t> data = kSixFloats;
    data.push_back(0);
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", data)),
                        "w.npy", "trailing data", "1 unexpected byte");
}

TEST(NpyTest, RefusesHugeDims) {
    // Product 2^80 overflows int64 even though each dim fits.
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, "
                                       "'shape': (1099511627776, 1099511627776)}", {})),
                        "w.npy", "overflows int64");
    // A zero dim does not excuse the others: (2^62, 2^62, 0) is refused too.
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, "
                                       "'shape': (4611686018427387904, 4611686018427387904, 0)}", {})),
                        "overflows int64");
    // A single dim beyond int64.
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, "
                                       "'shape': (99999999999999999999,)}", {})),
                        "does not fit in int64");
    // numel fits but the byte size is far larger than the file.
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, "
                                       "'shape': (2305843009213693951,)}", {})),
                        "truncated data");
}

TEST(NpyTest, RefusesNegativeDim) {
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 6)}", kSixFloats)),
                        "w.npy", "negative dimension");
}

TEST(NpyTest, RefusesTooManyDims) {
    std::string shape = "(";
    for (int i = 0; i < 65; ++i) shape += "1, ";
    shape += ")";
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + "}",
                                       float_bytes({1}))),
                        "more than 64 dimensions");
}

// ---- refusals: dtype and order ----------------------------------------------------------------

TEST(NpyTest, RefusesOtherDtypes) {
    for (const std::string dtype : {"<f8", "<i4", "|u1", "<f2", "|f4", "|b1"}) {
        EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (6,)}",
                                           kSixFloats)),
                            "w.npy", "unsupported dtype '" + dtype + "'", "float32 ('<f4'");
    }
}

TEST(NpyTest, RefusesBigEndianFloat32) {
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (6,)}", kSixFloats)),
                        "'>f4'", "big-endian", "little-endian");
}

TEST(NpyTest, RefusesStructuredDtype) {
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (6,)}",
                                       kSixFloats)),
                        "structured dtypes are not supported");
}

TEST(NpyTest, RefusesFortranOrder) {
    EXPECT_VKCONV_ERROR(parse(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", kSixFloats)),
                        "w.npy", "Fortran order is not supported", "np.ascontiguousarray");
}

// ---- refusals: malformed dict -----------------------------------------------------------------

TEST(NpyTest, RefusesMalformedDicts) {
    struct Case {
        const char* header;
        const char* mentions;
    };
    const Case cases[] = {
        {"", "malformed .npy header dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", "malformed .npy header dict"},
        {"'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "'{' opening"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (6,)}", "':' after a key"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", "'(' opening the shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6.0,)}", "',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", "integer dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (06,)}", "leading zeros"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", "only whitespace after"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}}", "only whitespace after"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,),,}", "a quoted string"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", "',' or '}' after a value"},
        {"{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': (6,)}", "without escapes"},
        {"{'descr': '<f4', 'fortran_order': False}", "missing the key 'shape'"},
        {"{'fortran_order': False, 'shape': (6,)}", "missing the key 'descr'"},
        {"{'descr': '<f4', 'shape': (6,)}", "missing the key 'fortran_order'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "duplicate key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", "unexpected key 'extra'"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (6,)}", "a quoted string"},
    };
    for (const Case& c : cases) {
        EXPECT_VKCONV_ERROR(parse(make_npy(c.header, kSixFloats)), "w.npy", c.mentions) << c.header;
    }
    // A NUL after the dict is not whitespace.
    const std::string with_nul = std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}") + '\0';
    EXPECT_VKCONV_ERROR(parse(make_npy(with_nul, kSixFloats)), "only whitespace after", "\\x00");
}

TEST(NpyTest, QuotesUntrustedTextSafely) {
    // Control bytes from the file are escaped, and long text is cut short.
    const std::string dtype = "<f4\x1b[2J" + std::string(200, 'A');
    try {
        parse(make_npy("{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (6,)}", kSixFloats));
        ADD_FAILURE() << "nothing was thrown";
    } catch (const vkconv::Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("\\x1b[2J"), std::string::npos) << message;
        EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
        EXPECT_NE(message.find("..."), std::string::npos) << message;
        EXPECT_LT(message.size(), 300u) << message;
    }
}

// ---- files ------------------------------------------------------------------------------------

TEST(NpyTest, LoadRefusesMissingFileAndDirectory) {
    EXPECT_VKCONV_ERROR(vkconv::load_npy(temp_path("does_not_exist.npy")), "does_not_exist.npy", "cannot open");
    EXPECT_VKCONV_ERROR(vkconv::load_npy(::testing::TempDir()), "not a regular file");
}

TEST(NpyTest, LoadErrorsNameThePath) {
    const std::string path = temp_path("f8.npy");
    {
        const std::vector<uint8_t> bytes =
            make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}", kSixFloats);
        vkconv::write_file_bytes(path, bytes);
    }
    EXPECT_VKCONV_ERROR(vkconv::load_npy(path), path + ": unsupported dtype '<f8'");
    std::filesystem::remove(path);
}

TEST(NpyTest, SaveRefusesShapeDataMismatch) {
    const std::string path = temp_path("mismatch.npy");
    EXPECT_VKCONV_ERROR(vkconv::save_npy(path, HostArray{{2, 3}, {1, 2, 3}}), "mismatch.npy", "(2, 3)",
                        "6 elements", "data has 3");
    EXPECT_VKCONV_ERROR(vkconv::save_npy(path, HostArray{{2, -3}, {}}), "negative dimension");
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(NpyTest, SaveRefusesUnwritablePath) {
    const std::string path = temp_path("no_such_dir/a.npy");
    EXPECT_VKCONV_ERROR(vkconv::save_npy(path, HostArray{{1}, {1}}), "no_such_dir/a.npy", "cannot open for writing");
}

TEST(NpyTest, NumelChecksShape) {
    EXPECT_EQ((HostArray{{}, {}}).numel(), 1);
    EXPECT_EQ((HostArray{{2, 0, 5}, {}}).numel(), 0);
    EXPECT_EQ((HostArray{{2, 3, 4}, {}}).numel(), 24);
    EXPECT_VKCONV_ERROR((HostArray{{1LL << 40, 1LL << 40}, {}}).numel(), "overflows int64");
    EXPECT_VKCONV_ERROR((HostArray{{-1}, {}}).numel(), "negative dimension -1");
    EXPECT_EQ(vkconv::format_shape(std::vector<int64_t>{}), "()");
    EXPECT_EQ(vkconv::format_shape(std::vector<int64_t>{5}), "(5,)");
    EXPECT_EQ(vkconv::format_shape(std::vector<int64_t>{2, 3}), "(2, 3)");
}

}  // namespace
