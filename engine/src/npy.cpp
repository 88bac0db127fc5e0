// npy.cpp: the .npy reader and writer, and the file helpers shared with safetensors.cpp.
//
// File layout (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0),
//   header (a Python dict literal, padded with spaces and ended by '\n'), then the raw data.
//
// Fuzzing: parse_npy does no I/O and must only ever throw vkconv::Error, so a libFuzzer
// harness is just
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//       try { vkconv::parse_npy({data, size}, "fuzz.npy"); } catch (const vkconv::Error&) {}
//       return 0;
//   }
// built with -fsanitize=fuzzer,address,undefined.
#include "vkconv/npy.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <system_error>

#include "vkconv/error.h"

namespace vkconv {

// Array data is copied to and from files with memcpy, which is only right on little-endian hosts.
static_assert(std::endian::native == std::endian::little, "vkconv assumes a little-endian host");

namespace {

constexpr std::array<uint8_t, 6> kMagic = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr size_t kMagicSize = kMagic.size() + 2;  // magic plus the two version bytes
// numpy 2 allows at most 64 dimensions; a header claiming more is not a real array.
constexpr size_t kMaxDims = 64;
constexpr uint64_t kMaxFileBytes = uint64_t{16} << 30;  // 16 GiB
constexpr size_t kHeaderAlign = 64;                      // what numpy.save pads to

[[noreturn]] void fail(std::string_view name, const std::string& rule) {
    throw Error(std::string(name) + ": " + rule);
}

std::string errno_text() {
    return std::error_code(errno, std::generic_category()).message();
}

// ---- header dict ------------------------------------------------------------------------------

struct NpyHeader {
    std::string descr;
    bool fortran_order = false;
    std::vector<int64_t> shape;
};

// A strict parser for the header dict. It accepts exactly the Python literals numpy writes
// (and hand-written equivalents): a dict with the keys 'descr' (a string), 'fortran_order'
// (True or False) and 'shape' (a tuple of non-negative ints), in any order, with optional
// trailing commas and whitespace. Anything else is refused, never guessed at.
class HeaderParser {
public:
    HeaderParser(std::string_view text, std::string_view name) : text_(text), name_(name) {}

    NpyHeader parse() {
        NpyHeader header;
        bool seen_descr = false, seen_fortran = false, seen_shape = false;

        expect('{', "'{' opening the header dict");
        skip_ws();
        while (!consume('}')) {
            const std::string key = parse_string();
            skip_ws();
            expect(':', "':' after a key");
            skip_ws();
            if (key == "descr") {
                mark_seen(seen_descr, key);
                header.descr = parse_descr();
            } else if (key == "fortran_order") {
                mark_seen(seen_fortran, key);
                header.fortran_order = parse_bool();
            } else if (key == "shape") {
                mark_seen(seen_shape, key);
                header.shape = parse_shape();
            } else {
                fail(name_, "unexpected key " + detail::quote_untrusted(key) +
                                " in the .npy header: only 'descr', 'fortran_order' and 'shape' "
                                "are allowed");
            }
            skip_ws();
            // Entries are separated by commas; a trailing comma before '}' is allowed.
            if (consume(',')) {
                skip_ws();
            } else if (peek() != '}') {
                syntax_error("',' or '}' after a value");
            }
        }
        skip_ws();
        if (pos_ != text_.size()) syntax_error("only whitespace after the header dict");

        if (!seen_descr) fail(name_, "the .npy header is missing the key 'descr'");
        if (!seen_fortran) fail(name_, "the .npy header is missing the key 'fortran_order'");
        if (!seen_shape) fail(name_, "the .npy header is missing the key 'shape'");
        return header;
    }

private:
    std::string_view text_;
    std::string_view name_;
    size_t pos_ = 0;

    static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    // '\0' past the end: no rule accepts it, so running out of text is a syntax error.
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    void skip_ws() {
        while (pos_ < text_.size() && is_ws(text_[pos_])) ++pos_;
    }

    bool consume(char c) {
        if (pos_ >= text_.size() || text_[pos_] != c) return false;
        ++pos_;
        return true;
    }

    void expect(char c, std::string_view what) {
        if (!consume(c)) syntax_error(what);
    }

    [[noreturn]] void syntax_error(std::string_view expected) const {
        const std::string found = pos_ < text_.size()
                                      ? "found " + detail::quote_untrusted(text_.substr(pos_, 16))
                                      : "found the end of the header";
        fail(name_, "malformed .npy header dict: expected " + std::string(expected) +
                        " at offset " + std::to_string(pos_) + ", " + found);
    }

    void mark_seen(bool& seen, const std::string& key) const {
        if (seen) fail(name_, "duplicate key '" + key + "' in the .npy header");
        seen = true;
    }

    // A Python string literal in single or double quotes, without escapes (no key or dtype
    // numpy writes needs one).
    std::string parse_string() {
        const char quote = peek();
        if (quote != '\'' && quote != '"') syntax_error("a quoted string");
        const size_t begin = ++pos_;
        while (pos_ < text_.size() && text_[pos_] != quote) {
            const char c = text_[pos_];
            if (c == '\\' || c == '\n' || c == '\r') syntax_error("a string without escapes");
            ++pos_;
        }
        if (pos_ >= text_.size()) syntax_error("a closing quote");
        return std::string(text_.substr(begin, pos_++ - begin));
    }

    std::string parse_descr() {
        // Structured dtypes are written as a list of fields, e.g. [('x', '<f4'), ...].
        if (peek() == '[') {
            fail(name_, "structured dtypes are not supported: only float32 ('<f4', "
                        "little-endian, C order) is supported");
        }
        return parse_string();
    }

    bool parse_bool() {
        for (const auto& [word, value] : {std::pair{std::string_view("True"), true},
                                          std::pair{std::string_view("False"), false}}) {
            if (text_.substr(pos_, word.size()) == word) {
                const size_t after = pos_ + word.size();
                // "Truex" is an identifier, not True.
                if (after < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[after])) ||
                                             text_[after] == '_')) {
                    break;
                }
                pos_ = after;
                return value;
            }
        }
        syntax_error("True or False");
    }

    // A tuple of dims: "()", "(3,)", "(2, 3)", "(2, 3,)". "(3)" is an int in Python, not a
    // tuple, so it is refused like numpy does.
    std::vector<int64_t> parse_shape() {
        std::vector<int64_t> shape;
        expect('(', "'(' opening the shape tuple");
        skip_ws();
        if (consume(')')) return shape;
        while (true) {
            shape.push_back(parse_dim());
            if (shape.size() > kMaxDims) {
                fail(name_, "shape has more than " + std::to_string(kMaxDims) + " dimensions");
            }
            skip_ws();
            if (consume(',')) {
                skip_ws();
                if (consume(')')) return shape;
            } else if (consume(')')) {
                if (shape.size() == 1) {
                    fail(name_, "malformed .npy header dict: shape (" + std::to_string(shape[0]) +
                                    ") is not a tuple; a 1-d shape is written (" +
                                    std::to_string(shape[0]) + ",)");
                }
                return shape;
            } else {
                syntax_error("',' or ')' in the shape tuple");
            }
        }
    }

    int64_t parse_dim() {
        if (peek() == '-') {
            fail(name_, "negative dimension in shape " +
                            detail::quote_untrusted(text_.substr(pos_, 24)));
        }
        if (!is_digit(peek())) syntax_error("a non-negative integer dimension");
        // Python 3 refuses leading zeros ("07" is a syntax error), so a dim is "0" or [1-9]...
        if (peek() == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
            syntax_error("an integer without leading zeros");
        }
        const size_t begin = pos_;
        int64_t value = 0;
        while (is_digit(peek())) {
            const int digit = text_[pos_] - '0';
            if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
                fail(name_, "dimension " + detail::quote_untrusted(text_.substr(begin, 24)) +
                                " in shape does not fit in int64");
            }
            value = value * 10 + digit;
            ++pos_;
        }
        // Files written by numpy under Python 2 spell dims as longs, e.g. (3L, 4L); numpy still
        // reads those, so we do too.
        if (peek() == 'L' || peek() == 'l') ++pos_;
        return value;
    }
};

// ---- preamble and dtype -----------------------------------------------------------------------

struct Preamble {
    size_t header_begin = 0;  // offset of the header dict text
    size_t header_size = 0;   // its length; checked to lie within the file
};

Preamble read_preamble(std::span<const uint8_t> bytes, std::string_view name) {
    if (bytes.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) {
        fail(name, "not a .npy file: bad magic (expected the file to start with \"\\x93NUMPY\")");
    }
    if (bytes.size() < kMagicSize) {
        fail(name, "truncated header: the file ends inside the .npy preamble");
    }
    const int major = bytes[6], minor = bytes[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        fail(name, "unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + ": only 1.0, 2.0 and 3.0 are supported");
    }
    // Version 1.0 stores the header length as u16, later versions as u32; both little-endian.
    const size_t length_size = major == 1 ? 2 : 4;
    Preamble p;
    p.header_begin = kMagicSize + length_size;
    if (bytes.size() < p.header_begin) {
        fail(name, "truncated header: the file ends inside the .npy header length field");
    }
    for (size_t i = 0; i < length_size; ++i) {
        p.header_size |= size_t{bytes[kMagicSize + i]} << (8 * i);
    }
    const size_t left = bytes.size() - p.header_begin;
    if (p.header_size > left) {
        fail(name, "truncated header: the header length is " + std::to_string(p.header_size) +
                       " bytes but only " + std::to_string(left) + " bytes follow");
    }
    return p;
}

void check_descr(const std::string& descr, std::string_view name) {
    if (descr == "<f4") return;
    const std::string hint =
        "only float32 ('<f4', little-endian, C order) is supported; convert with "
        "np.ascontiguousarray(a, dtype='<f4')";
    if (descr == ">f4") {
        fail(name, "unsupported dtype '>f4' (big-endian float32): " + hint);
    }
    fail(name, "unsupported dtype " + detail::quote_untrusted(descr) + ": " + hint);
}

// numpy.save's header dict for a C-order float32 array, before alignment padding.
std::string header_text(std::span<const int64_t> shape) {
    std::string text = "{'descr': '<f4', 'fortran_order': False, 'shape': " + format_shape(shape) + ", }";
    // numpy (>= 1.23) leaves room for the first dim to grow to 21 digits, so that appending
    // to the file can rewrite the header in place. Copied so that our files match byte for byte.
    constexpr size_t kGrowthAxisMaxDigits = 21;
    if (!shape.empty()) text.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
    return text;
}

void append_le(std::vector<uint8_t>& out, uint64_t value, size_t size) {
    for (size_t i = 0; i < size; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace

// ---- shapes and messages ----------------------------------------------------------------------

int64_t shape_numel(std::span<const int64_t> shape, std::string_view context) {
    // Checking the product of the non-zero dims (rather than stopping at a zero) keeps absurd
    // shapes such as (2^62, 2^62, 0) out, so every running product over the shape fits too.
    int64_t product = 1;
    bool has_zero = false;
    for (const int64_t d : shape) {
        if (d < 0) {
            fail(context, "negative dimension " + std::to_string(d) + " in shape " +
                              format_shape(shape));
        }
        if (d == 0) {
            has_zero = true;
        } else if (product > std::numeric_limits<int64_t>::max() / d) {
            fail(context, "shape " + format_shape(shape) + " has too many elements: the product "
                                                           "of its dimensions overflows int64");
        } else {
            product *= d;
        }
    }
    return has_zero ? 0 : product;
}

std::string format_shape(std::span<const int64_t> shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + (shape.size() == 1 ? ",)" : ")");
}

std::string detail::printable_untrusted(std::string_view text, size_t max_shown) {
    std::string s;
    for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            s += static_cast<char>(c);
        } else {
            constexpr char kHex[] = "0123456789abcdef";
            s += "\\x";
            s += kHex[c >> 4];
            s += kHex[c & 15];
        }
    }
    if (text.size() > max_shown) s += "...";
    return s;
}

std::string detail::quote_untrusted(std::string_view text) {
    constexpr size_t kMaxShown = 64;
    const bool cut = text.size() > kMaxShown;
    return "'" + printable_untrusted(text.substr(0, kMaxShown), kMaxShown) + "'" + (cut ? "..." : "");
}

int64_t HostArray::numel() const { return shape_numel(shape, "HostArray"); }

// ---- files ------------------------------------------------------------------------------------

std::vector<uint8_t> read_file_bytes(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec) fail(path, "cannot open: " + ec.message());
    // Refusing FIFOs, devices and directories up front: reading those could block forever,
    // never end (/dev/zero) or fail with a confusing message.
    if (!fs::is_regular_file(status)) fail(path, "cannot read: not a regular file");

    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open for reading: " + errno_text());
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0) fail(path, "cannot determine the file size");
    if (static_cast<uint64_t>(size) > kMaxFileBytes) {
        fail(path, "file is " + std::to_string(size) + " bytes, larger than the 16 GiB limit");
    }
    in.seekg(0, std::ios::beg);

    std::vector<uint8_t> bytes;
    try {
        bytes.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {
        fail(path, "not enough memory to read " + std::to_string(size) + " bytes");
    }
    in.read(reinterpret_cast<char*>(bytes.data()), size);
    if (in.gcount() != size) fail(path, "read failed (the file shrank while being read?)");
    return bytes;
}

void write_file_bytes(const std::string& path, std::span<const uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) fail(path, "cannot open for writing: " + errno_text());
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) fail(path, "write failed: " + errno_text());
}

// ---- .npy -------------------------------------------------------------------------------------

namespace {
// Element size of the dtypes parse_npy_converting() accepts; 0 for others.
size_t convertible_size(const std::string& descr) {
    if (descr == "<f4" || descr == "<i4") return 4;
    if (descr == "<f8" || descr == "<i8") return 8;
    return 0;
}
}  // namespace

HostArray parse_npy(std::span<const uint8_t> bytes, const std::string& name) {
    return parse_npy_converting(bytes, name, nullptr);
}

HostArray parse_npy_converting(std::span<const uint8_t> bytes, const std::string& name, std::string* dtype) {
    const Preamble p = read_preamble(bytes, name);
    const std::string_view text(reinterpret_cast<const char*>(bytes.data() + p.header_begin),
                                p.header_size);
    NpyHeader header = HeaderParser(text, name).parse();
    const size_t elem = dtype ? convertible_size(header.descr) : sizeof(float);
    if (!dtype || elem == 0) check_descr(header.descr, name);
    if (dtype) *dtype = header.descr;
    if (header.fortran_order) {
        fail(name, "Fortran order is not supported; save with np.ascontiguousarray");
    }

    // numel <= INT64_MAX / 8 is checked here, so numel * elem cannot overflow uint64.
    const int64_t numel = shape_numel(header.shape, name);
    if (static_cast<uint64_t>(numel) > UINT64_MAX / 8) fail(name, "shape " + format_shape(header.shape) + " is too large");
    const uint64_t needed = static_cast<uint64_t>(numel) * elem;
    const size_t data_begin = p.header_begin + p.header_size;
    const uint64_t available = bytes.size() - data_begin;
    if (available < needed) {
        fail(name, "truncated data: shape " + format_shape(header.shape) + " needs " +
                       std::to_string(needed) + " bytes of float32 data but only " +
                       std::to_string(available) + " bytes follow the header");
    }
    if (available > needed) {
        fail(name, "trailing data: " + std::to_string(available - needed) +
                       " unexpected bytes after the " + std::to_string(needed) +
                       " bytes of data for shape " + format_shape(header.shape));
    }

    // Only now, with the size proven to match the file, is the array allocated.
    HostArray a;
    a.shape = std::move(header.shape);
    a.data.resize(static_cast<size_t>(numel));
    const uint8_t* src = bytes.data() + data_begin;
    if (numel > 0 && header.descr == "<f4") {
        std::memcpy(a.data.data(), src, needed);
    } else {
        for (int64_t i = 0; i < numel; ++i) {
            const uint8_t* e = src + static_cast<size_t>(i) * elem;
            if (header.descr == "<f8") { double v; std::memcpy(&v, e, 8); a.data[static_cast<size_t>(i)] = static_cast<float>(v); }
            else if (header.descr == "<i8") { int64_t v; std::memcpy(&v, e, 8); a.data[static_cast<size_t>(i)] = static_cast<float>(v); }
            else { int32_t v; std::memcpy(&v, e, 4); a.data[static_cast<size_t>(i)] = static_cast<float>(v); }
        }
    }
    return a;
}

HostArray load_npy(const std::string& path) { return parse_npy(read_file_bytes(path), path); }

void save_npy(const std::string& path, const HostArray& a) {
    const int64_t numel = shape_numel(a.shape, path);
    if (a.data.size() != static_cast<uint64_t>(numel)) {
        fail(path, "cannot save: shape " + format_shape(a.shape) + " has " + std::to_string(numel) +
                       " elements but data has " + std::to_string(a.data.size()));
    }

    // Pad like numpy: spaces then '\n' so that the data starts at a multiple of 64 bytes
    // (numpy always adds at least one space). Version 2.0 only if the header outgrows u16.
    std::string header = header_text(a.shape);
    int major = 1;
    size_t length_size = 2;
    for (;;) {
        const size_t unpadded = kMagicSize + length_size + header.size() + 1;
        const size_t pad = kHeaderAlign - unpadded % kHeaderAlign;
        if (major == 1 && header.size() + pad + 1 > std::numeric_limits<uint16_t>::max()) {
            major = 2;
            length_size = 4;
            continue;
        }
        header.append(pad, ' ');
        header += '\n';
        break;
    }

    std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
    out.push_back(static_cast<uint8_t>(major));
    out.push_back(0);
    append_le(out, header.size(), length_size);
    out.insert(out.end(), header.begin(), header.end());
    const auto* data = reinterpret_cast<const uint8_t*>(a.data.data());
    out.insert(out.end(), data, data + a.data.size() * sizeof(float));
    write_file_bytes(path, out);
}

}  // namespace vkconv
