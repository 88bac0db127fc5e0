// safetensors.cpp: the .safetensors reader and writer.
//
// Validation follows the reference implementation (huggingface/safetensors, Rust): header at
// most 100 MB, every tensor's byte range consistent with its dtype and shape, and the ranges
// tiling the data buffer exactly. On top of that, duplicate JSON keys are refused, since a
// file whose tensors mean different things to different readers is not one we want to load.
//
// Fuzzing: parse_safetensors does no I/O and must only ever throw vkconv::Error, so a libFuzzer
// harness is just
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//       try { vkconv::parse_safetensors({data, size}, "fuzz.safetensors"); }
//       catch (const vkconv::Error&) {}
//       return 0;
//   }
// built with -fsanitize=fuzzer,address,undefined.
#include "vkconv/safetensors.h"

#include "file_kind.h"
#include "mapped_file.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "vkconv/error.h"

namespace vkconv {

// Tensor data is decoded with memcpy into native integers, which is only right on
// little-endian hosts.
static_assert(std::endian::native == std::endian::little, "vkconv assumes a little-endian host");

namespace {

using nlohmann::json;

constexpr uint64_t kLengthFieldSize = 8;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr size_t kMaxDims = 64;
// A valid header nests at most: root object > tensor entry > shape array. A little slack
// keeps messages about wrong types specific, while hostile nesting stops early.
constexpr size_t kMaxJsonDepth = 8;
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(std::string_view name, const std::string& rule) {
    throw Error(std::string(name) + ": " + rule);
}

// ---- dtypes -----------------------------------------------------------------------------------

template <typename T>
T load(const uint8_t* p) {
    T value;
    std::memcpy(&value, p, sizeof value);
    return value;
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t{h & 0x8000u} << 16;
    const uint32_t exponent = (h >> 10) & 0x1f;
    const uint32_t mantissa = h & 0x3ff;
    if (exponent == 0x1f) {  // inf or NaN; the NaN payload is kept
        return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    }
    if (exponent != 0) {  // normal: rebias the exponent from 15 to 127
        return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    }
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(uint32_t{b} << 16); }

// double -> float with IEEE round-to-nearest-even, spelled out for the cases where a plain
// static_cast is undefined behaviour in C++ (values outside float's finite range, NaN).
float f64_to_f32(double d) {
    // Magnitudes from here up round to infinity: the midpoint between FLT_MAX (= 2^128 - 2^104)
    // and 2^128, where the tie goes to the "even" 2^128.
    constexpr double kRoundsToInf = 0x1.ffffffp127;
    constexpr float kInf = std::numeric_limits<float>::infinity();
    constexpr float kMax = std::numeric_limits<float>::max();
    if (std::isnan(d)) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        return std::signbit(d) ? -nan : nan;
    }
    const double magnitude = std::fabs(d);
    if (magnitude >= kRoundsToInf) return std::signbit(d) ? -kInf : kInf;
    if (magnitude > kMax) return std::signbit(d) ? -kMax : kMax;
    return static_cast<float>(d);
}

using Converter = void (*)(const uint8_t* src, float* dst, size_t count);

struct DType {
    std::string_view name;
    uint64_t size;  // bytes per element
    Converter convert;
};

constexpr DType kDTypes[] = {
    {"F32", 4, [](const uint8_t* src, float* dst, size_t n) { std::memcpy(dst, src, n * 4); }},
    {"F16", 2,
     [](const uint8_t* src, float* dst, size_t n) {
         for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load<uint16_t>(src + 2 * i));
     }},
    {"BF16", 2,
     [](const uint8_t* src, float* dst, size_t n) {
         for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<uint16_t>(src + 2 * i));
     }},
    {"F64", 8,
     [](const uint8_t* src, float* dst, size_t n) {
         for (size_t i = 0; i < n; ++i) dst[i] = f64_to_f32(load<double>(src + 8 * i));
     }},
    // Every int64 is within float's range, so this cast is always defined (it rounds).
    {"I64", 8,
     [](const uint8_t* src, float* dst, size_t n) {
         for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<int64_t>(src + 8 * i));
     }},
};

const DType* find_dtype(std::string_view name) {
    for (const DType& d : kDTypes) {
        if (d.name == name) return &d;
    }
    return nullptr;
}

// ---- header -----------------------------------------------------------------------------------

struct TensorInfo {
    std::string name;
    const DType* dtype = nullptr;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // within the data buffer, checked
};

std::string tensor_label(const std::string& key) { return "tensor " + detail::quote_untrusted(key); }

std::string format_range(uint64_t begin, uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Returns the header length after checking it against the limit and the file size.
uint64_t read_header_length(std::span<const uint8_t> bytes, std::string_view name) {
    if (bytes.size() < kLengthFieldSize) {
        fail(name, "not a safetensors file: it is " + std::to_string(bytes.size()) +
                       " bytes, too short for the 8-byte header length");
    }
    const uint64_t length = load<uint64_t>(bytes.data());
    if (length > kMaxHeaderBytes) {
        fail(name, "header length " + std::to_string(length) + " exceeds the limit of " +
                       std::to_string(kMaxHeaderBytes) + " bytes");
    }
    const uint64_t left = bytes.size() - kLengthFieldSize;
    if (length > left) {
        fail(name, "truncated header: the header length is " + std::to_string(length) +
                       " bytes but only " + std::to_string(left) + " bytes follow");
    }
    return length;
}

// Checks made while the header JSON is parsed, so that hostile input is stopped before its
// whole document is built in memory: nesting depth, array lengths (the only arrays in a valid
// header are shapes and data_offsets, all short) and duplicate keys (which would make the
// file mean different things to different readers).
class HeaderGuard {
public:
    explicit HeaderGuard(std::string_view name) : name_(name) {}

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            count_element();
            if (open_.size() >= kMaxJsonDepth) fail(name_, "header JSON is nested too deeply");
            open_.push_back({event == json::parse_event_t::array_start, 0, {}});
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            open_.pop_back();
            break;
        case json::parse_event_t::key:
            if (!open_.back().keys.insert(parsed.get<std::string>()).second) {
                fail(name_, "header JSON has the key " +
                                detail::quote_untrusted(parsed.get<std::string>()) +
                                " twice in one object");
            }
            break;
        case json::parse_event_t::value:
            count_element();
            break;
        }
        return true;  // keep everything; refusals throw
    }

private:
    struct Container {
        bool is_array;
        size_t length;               // elements so far, for arrays
        std::set<std::string> keys;  // keys so far, for objects
    };
    std::string_view name_;
    std::vector<Container> open_;  // innermost last

    void count_element() {
        if (open_.empty() || !open_.back().is_array) return;
        if (++open_.back().length > kMaxDims) {
            fail(name_, "header JSON has an array with more than " + std::to_string(kMaxDims) +
                            " elements (a shape has at most " + std::to_string(kMaxDims) +
                            " dimensions)");
        }
    }
};

json parse_header_json(std::span<const uint8_t> text, std::string_view name) {
    // nlohmann treats a NUL byte as the end of input, so "{...}\0anything" would parse. A NUL
    // is never valid in JSON text (outside strings it is not whitespace; inside, control
    // characters must be escaped), so refuse it here.
    if (const auto nul = std::find(text.begin(), text.end(), uint8_t{0}); nul != text.end()) {
        fail(name, "header is not valid JSON: NUL byte at offset " +
                       std::to_string(nul - text.begin()));
    }
    try {
        return json::parse(text.begin(), text.end(), HeaderGuard(name));
    } catch (const json::exception& e) {
        // nlohmann quotes the offending token, which can be megabytes long.
        fail(name, "header is not valid JSON: " + detail::printable_untrusted(e.what(), 300));
    }
}

void check_metadata(const json& metadata, std::string_view name) {
    if (!metadata.is_object()) fail(name, "\"__metadata__\" must be an object of strings");
    for (const auto& [key, value] : metadata.items()) {
        if (!value.is_string()) {
            fail(name, "\"__metadata__\" value for " + detail::quote_untrusted(key) +
                           " must be a string");
        }
    }
}

// A JSON number that is an integer in [0, INT64_MAX]; `what` names it in errors.
uint64_t read_index(const json& v, std::string_view name, const std::string& what) {
    // nlohmann parses non-negative integers up to 2^64-1 as unsigned; negative ones as signed;
    // anything else (fractions, exponents, larger integers) as float.
    if (v.is_number_integer() && !v.is_number_unsigned()) fail(name, what + " must not be negative");
    if (!v.is_number_unsigned()) fail(name, what + " must be a non-negative integer");
    const uint64_t value = v.get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(name, what + " " + std::to_string(value) + " does not fit in int64");
    }
    return value;
}

const json& require(const json& entry, const char* field, std::string_view name,
                    const std::string& label) {
    const auto it = entry.find(field);
    if (it == entry.end()) fail(name, label + " is missing \"" + field + "\"");
    return *it;
}

const DType* read_dtype(const json& entry, std::string_view name, const std::string& label) {
    const json& v = require(entry, "dtype", name, label);
    if (!v.is_string()) fail(name, label + ": \"dtype\" must be a string");
    const std::string& dtype = v.get_ref<const std::string&>();
    const DType* d = find_dtype(dtype);
    if (!d) {
        fail(name, label + " has unsupported dtype " + detail::quote_untrusted(dtype) +
                       ": supported dtypes are F32, F16, BF16, F64 and I64");
    }
    return d;
}

std::vector<int64_t> read_shape(const json& entry, std::string_view name, const std::string& label) {
    const json& v = require(entry, "shape", name, label);
    if (!v.is_array()) fail(name, label + ": \"shape\" must be an array of non-negative integers");
    if (v.size() > kMaxDims) {
        fail(name, label + ": shape has more than " + std::to_string(kMaxDims) + " dimensions");
    }
    std::vector<int64_t> shape;
    for (const json& d : v) {
        shape.push_back(static_cast<int64_t>(read_index(d, name, label + ": shape dimension")));
    }
    return shape;
}

TensorInfo read_tensor_info(const std::string& key, const json& entry, uint64_t buffer_size,
                            std::string_view name) {
    const std::string label = tensor_label(key);
    if (!entry.is_object()) {
        fail(name, label + ": entry must be an object with \"dtype\", \"shape\" and \"data_offsets\"");
    }
    // Other fields are ignored, so that files from newer writers still load.
    TensorInfo info;
    info.name = key;
    info.dtype = read_dtype(entry, name, label);
    info.shape = read_shape(entry, name, label);

    const json& offsets = require(entry, "data_offsets", name, label);
    if (!offsets.is_array() || offsets.size() != 2) {
        fail(name, label + ": \"data_offsets\" must be an array [begin, end]");
    }
    info.begin = read_index(offsets[0], name, label + ": data_offsets begin");
    info.end = read_index(offsets[1], name, label + ": data_offsets end");
    const std::string range = format_range(info.begin, info.end);
    if (info.begin > info.end) fail(name, label + ": data_offsets " + range + " has begin > end");
    if (info.end > buffer_size) {
        fail(name, label + ": data_offsets " + range + " extend past the end of the " +
                       std::to_string(buffer_size) + "-byte data buffer");
    }

    const int64_t numel = shape_numel(info.shape, std::string(name) + ": " + label);
    const uint64_t elem = info.dtype->size;
    const std::string typed_shape = "shape " + format_shape(info.shape) + " of dtype " +
                                    std::string(info.dtype->name);
    if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / elem) {
        fail(name, label + ": " + typed_shape + " is too large: its byte size overflows");
    }
    const uint64_t needed = static_cast<uint64_t>(numel) * elem;
    if (info.end - info.begin != needed) {
        fail(name, label + ": data_offsets " + range + " span " +
                       std::to_string(info.end - info.begin) + " bytes but " + typed_shape +
                       " needs " + std::to_string(needed));
    }
    return info;
}

// The spec requires the tensors to cover the data buffer exactly, in some order: no overlaps
// (two tensors sharing bytes), no holes, nothing unindexed at the end.
void check_tiling(std::vector<const TensorInfo*> infos, uint64_t buffer_size, std::string_view name) {
    std::sort(infos.begin(), infos.end(), [](const TensorInfo* a, const TensorInfo* b) {
        return std::pair(a->begin, a->end) < std::pair(b->begin, b->end);
    });
    uint64_t covered = 0;  // end of the bytes claimed so far
    const TensorInfo* last = nullptr;
    for (const TensorInfo* t : infos) {
        const std::string range = format_range(t->begin, t->end);
        if (t->begin < covered) {
            fail(name, tensor_label(t->name) + ": data_offsets " + range + " overlap " +
                           tensor_label(last->name) + " at " + format_range(last->begin, last->end));
        }
        if (t->begin > covered) {
            fail(name, tensor_label(t->name) + ": data_offsets " + range +
                           " leave a hole: bytes [" + std::to_string(covered) + ", " +
                           std::to_string(t->begin) + ") of the data buffer belong to no tensor");
        }
        covered = t->end;
        last = t;
    }
    if (covered != buffer_size) {
        fail(name, "trailing data: bytes [" + std::to_string(covered) + ", " +
                       std::to_string(buffer_size) + ") of the data buffer belong to no tensor");
    }
}

HostArray convert(const TensorInfo& info, std::span<const uint8_t> buffer) {
    HostArray a;
    a.shape = info.shape;
    const size_t count = static_cast<size_t>((info.end - info.begin) / info.dtype->size);
    a.data.resize(count);
    if (count > 0) info.dtype->convert(buffer.data() + info.begin, a.data.data(), count);
    return a;
}

}  // namespace

std::map<std::string, HostArray> parse_safetensors(std::span<const uint8_t> bytes,
                                                   const std::string& name,
                                                   std::map<std::string, std::string>* dtypes_out) {
    // A file of another kind gets a message saying what it is rather than a header error.
    switch (const auto kind = detail::sniff_file_kind(bytes.first(std::min<size_t>(bytes.size(), 16)), bytes.size(), name)) {
        case detail::FileKind::TorchZip:
        case detail::FileKind::Pickle:
            fail(name, "this is a PyTorch pickle, not safetensors: export it with tools/export_model.py (or save the "
                       "state_dict with safetensors.torch.save_file)");
        case detail::FileKind::Json:
            fail(name, "this is a JSON document (a model description?), not safetensors weights: were --model and "
                       "--weights swapped?");
        case detail::FileKind::Npy:
        case detail::FileKind::Png:
        case detail::FileKind::Jpeg:
        case detail::FileKind::Onnx:
            fail(name, "this is " + detail::describe(kind) + ", not safetensors weights");
        default: break;
    }
    const uint64_t header_length = read_header_length(bytes, name);
    const json header = parse_header_json(bytes.subspan(kLengthFieldSize, header_length), name);
    const std::span<const uint8_t> buffer = bytes.subspan(kLengthFieldSize + header_length);
    if (!header.is_object()) fail(name, "header must be a JSON object");

    std::vector<TensorInfo> infos;
    for (const auto& [key, entry] : header.items()) {
        if (key == kMetadataKey) {
            check_metadata(entry, name);
        } else {
            infos.push_back(read_tensor_info(key, entry, buffer.size(), name));
        }
    }
    std::vector<const TensorInfo*> pointers;
    for (const TensorInfo& t : infos) pointers.push_back(&t);
    check_tiling(std::move(pointers), buffer.size(), name);

    // Every range is now proven to lie within the buffer and to match its shape, so the
    // allocations below are bounded by the file size (at most 2x, for 16-bit dtypes).
    std::map<std::string, HostArray> tensors;
    for (const TensorInfo& t : infos) tensors.emplace(t.name, convert(t, buffer));
    if (dtypes_out) {
        for (const TensorInfo& t : infos) (*dtypes_out)[t.name] = std::string(t.dtype->name);
    }
    return tensors;
}

std::map<std::string, HostArray> load_safetensors(const std::string& path,
                                                  std::map<std::string, std::string>* dtypes_out) {
    const detail::MappedFile file(path);
    return parse_safetensors(file.bytes(), path, dtypes_out);
}

void save_safetensors(const std::string& path, const std::map<std::string, HostArray>& tensors) {
    json header = json::object();
    uint64_t offset = 0;
    for (const auto& [key, a] : tensors) {
        const std::string label = tensor_label(key);
        if (key == kMetadataKey) fail(path, "cannot save: \"__metadata__\" is reserved, not a tensor name");
        const int64_t numel = shape_numel(a.shape, path + ": " + label);
        if (a.data.size() != static_cast<uint64_t>(numel)) {
            fail(path, "cannot save " + label + ": shape " + format_shape(a.shape) + " has " +
                           std::to_string(numel) + " elements but data has " +
                           std::to_string(a.data.size()));
        }
        const uint64_t size = a.data.size() * sizeof(float);
        json entry = json::object();
        entry["dtype"] = "F32";
        entry["shape"] = a.shape;
        entry["data_offsets"] = json::array({offset, offset + size});
        header[key] = std::move(entry);
        offset += size;
    }

    std::string text;
    try {
        text = header.dump();
    } catch (const json::exception& e) {  // e.g. a tensor name that is not valid UTF-8
        fail(path, std::string("cannot save: ") + e.what());
    }
    // Spaces are valid JSON whitespace; they align the data buffer to 8 bytes.
    text.append((8 - text.size() % 8) % 8, ' ');

    std::vector<uint8_t> out;
    out.reserve(kLengthFieldSize + text.size() + offset);
    for (size_t i = 0; i < kLengthFieldSize; ++i) {
        out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i)));
    }
    out.insert(out.end(), text.begin(), text.end());
    for (const auto& [key, a] : tensors) {  // same (name) order as the offsets above
        const auto* data = reinterpret_cast<const uint8_t*>(a.data.data());
        out.insert(out.end(), data, data + a.data.size() * sizeof(float));
    }
    write_file_bytes(path, out);
}

}  // namespace vkconv
