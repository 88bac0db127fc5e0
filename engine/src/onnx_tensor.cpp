// TensorProto -> host values, with every size checked against the data actually present.
#include "onnx_tensor.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "vkconv/error.h"
#include "vkconv/onnx.h"

namespace vkconv::detail {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

// Elements a tensor may declare: far beyond any real model, small enough that element counts
// times 8 bytes never overflow.
constexpr int64_t kMaxElements = int64_t(1) << 40;

size_t element_bytes(int32_t t) {
    switch (t) {
        case TensorProto::FLOAT: case TensorProto::INT32: case TensorProto::UINT32: return 4;
        case TensorProto::DOUBLE: case TensorProto::INT64: case TensorProto::UINT64: return 8;
        case TensorProto::FLOAT16: case TensorProto::BFLOAT16: case TensorProto::INT16: case TensorProto::UINT16: return 2;
        case TensorProto::INT8: case TensorProto::UINT8: case TensorProto::BOOL: return 1;
        default: return 0;
    }
}

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { ++e; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_float(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Reads the external data of `t` (its location relative to base_dir, which it must stay in).
std::string read_external(const TensorProto& t, const std::string& base_dir, const std::string& what, size_t expected) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
        auto number = [&](const std::string& v) {
            size_t used = 0;
            long long n = -1;
            try { n = std::stoll(v, &used); } catch (...) { used = 0; }
            if (used != v.size() || n < 0)
                throw Error(what + ": external data " + kv.key() + " '" + v + "' is not a non-negative integer");
            return static_cast<int64_t>(n);
        };
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") offset = number(kv.value());
        else if (kv.key() == "length") length = number(kv.value());
    }
    if (location.empty()) throw Error(what + ": external data without a location");
    if (base_dir.empty()) throw Error(what + ": external data '" + location + "' but the model was not read from a file");
    const fs::path rel(location);
    if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
        throw Error(what + ": external data location '" + location + "' is absolute; it must be inside the model's folder");
    for (const auto& part : rel)
        if (part == "..")
            throw Error(what + ": external data location '" + location + "' leaves the model's folder");
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
    const fs::path full = fs::weakly_canonical(fs::path(base_dir) / rel, ec);
    if (ec) throw Error(what + ": external data '" + location + "': " + ec.message());
    // Symbolic links must not lead out of the folder either.
    auto b = base.begin();
    auto f = full.begin();
    for (; b != base.end(); ++b, ++f)
        if (f == full.end() || *f != *b)
            throw Error(what + ": external data location '" + location + "' resolves to " + full.string() +
                        ", outside the model's folder " + base.string());
    if (!fs::is_regular_file(full, ec)) throw Error(what + ": external data file " + full.string() + " is not a readable file");
    const auto size = static_cast<int64_t>(fs::file_size(full, ec));
    if (ec) throw Error(what + ": external data file " + full.string() + ": " + ec.message());
    if (offset > size) throw Error(what + ": external data offset " + std::to_string(offset) + " is past the end of " +
                                   full.string() + " (" + std::to_string(size) + " bytes)");
    if (length < 0) length = size - offset;
    if (length > size - offset)
        throw Error(what + ": external data length " + std::to_string(length) + " at offset " + std::to_string(offset) +
                    " runs past the end of " + full.string() + " (" + std::to_string(size) + " bytes)");
    if (static_cast<size_t>(length) != expected)
        throw Error(what + ": declares " + std::to_string(expected) + " bytes of data, external data holds " +
                    std::to_string(length));
    std::ifstream in(full, std::ios::binary);
    std::string bytes(static_cast<size_t>(length), '\0');
    in.seekg(offset);
    if (!in || !in.read(bytes.data(), length)) throw Error(what + ": cannot read external data from " + full.string());
    return bytes;
}

}  // namespace

std::vector<double> OnnxConst::values() const {
    std::vector<double> v(static_cast<size_t>(numel()));
    for (size_t k = 0; k < v.size(); ++k) v[k] = at(k);
    return v;
}

OnnxConst OnnxConst::from_values(bool is_int, Shape shape, const std::vector<double>& v) {
    OnnxConst c;
    c.is_int = is_int;
    c.shape = std::move(shape);
    if (is_int) {
        c.i.reserve(v.size());
        for (double x : v) {
            // int64 arithmetic on the host (shape computations) must stay in range.
            if (!(std::fabs(x) < 9.0e18)) throw Error("an integer constant computed on the host is out of range (" + std::to_string(x) + ")");
            c.i.push_back(static_cast<int64_t>(x));
        }
    } else {
        c.f.assign(v.begin(), v.end());
    }
    return c;
}

std::string onnx_type_name(int32_t t) {
    if (onnx::TensorProto_DataType_IsValid(t)) return onnx::TensorProto_DataType_Name(static_cast<TensorProto::DataType>(t));
    return "type " + std::to_string(t);
}

bool onnx_type_is_int(int32_t t) {
    switch (t) {
        case TensorProto::INT8: case TensorProto::UINT8: case TensorProto::INT16: case TensorProto::UINT16:
        case TensorProto::INT32: case TensorProto::UINT32: case TensorProto::INT64: case TensorProto::UINT64:
        case TensorProto::BOOL: return true;
        default: return false;
    }
}

bool onnx_type_is_float(int32_t t) {
    return t == TensorProto::FLOAT || t == TensorProto::DOUBLE || t == TensorProto::FLOAT16 || t == TensorProto::BFLOAT16;
}

OnnxConst decode_onnx_tensor(const TensorProto& t, const std::string& base_dir, const std::string& what_in) {
    const std::string what = "tensor '" + what_in + "'";
    const int32_t type = t.data_type();
    if (!onnx_type_is_int(type) && !onnx_type_is_float(type))
        throw OnnxUnsupported(what + " has data type " + onnx_type_name(type) + "; vkconv reads float and integer tensors only");
    if (t.has_segment()) throw OnnxUnsupported(what + " is segmented; vkconv reads whole tensors only");
    OnnxConst c;
    c.is_int = onnx_type_is_int(type);
    int64_t n = 1;
    for (int64_t d : t.dims()) {
        if (d < 0) throw Error(what + " has a negative dimension (" + std::to_string(d) + ")");
        if (d != 0 && n > kMaxElements / d) throw Error(what + " declares more than 2^40 elements");
        n *= d;
        c.shape.push_back(d);
    }
    const size_t count = static_cast<size_t>(n), esize = element_bytes(type);
    std::string external;
    const std::string* raw = nullptr;
    if (t.data_location() == TensorProto::EXTERNAL) {
        external = read_external(t, base_dir, what, count * esize);
        raw = &external;
    } else if (t.has_raw_data()) {
        raw = &t.raw_data();
        if (raw->size() != count * esize)
            throw Error(what + " declares dims " + shape_str(c.shape) + " (" + std::to_string(count) + " x " + onnx_type_name(type) +
                        " = " + std::to_string(count * esize) + " bytes) but holds " + std::to_string(raw->size()) + " bytes");
    }
    auto field_count = [&](int64_t have, const char* field) {
        if (static_cast<size_t>(have) != count)
            throw Error(what + " declares dims " + shape_str(c.shape) + " (" + std::to_string(count) + " values) but holds " +
                        std::to_string(have) + " in " + field);
    };
    if (c.is_int) c.i.resize(count);
    else c.f.resize(count);
    if (raw) {
        const char* p = raw->data();
        for (size_t k = 0; k < count; ++k, p += esize) {
            switch (type) {
                case TensorProto::FLOAT: { float v; std::memcpy(&v, p, 4); c.f[k] = v; break; }
                case TensorProto::DOUBLE: { double v; std::memcpy(&v, p, 8); c.f[k] = static_cast<float>(v); break; }
                case TensorProto::FLOAT16: { uint16_t v; std::memcpy(&v, p, 2); c.f[k] = half_to_float(v); break; }
                case TensorProto::BFLOAT16: { uint16_t v; std::memcpy(&v, p, 2); c.f[k] = bf16_to_float(v); break; }
                case TensorProto::INT64: { int64_t v; std::memcpy(&v, p, 8); c.i[k] = v; break; }
                case TensorProto::UINT64: { uint64_t v; std::memcpy(&v, p, 8); c.i[k] = static_cast<int64_t>(v); break; }
                case TensorProto::INT32: { int32_t v; std::memcpy(&v, p, 4); c.i[k] = v; break; }
                case TensorProto::UINT32: { uint32_t v; std::memcpy(&v, p, 4); c.i[k] = v; break; }
                case TensorProto::INT16: { int16_t v; std::memcpy(&v, p, 2); c.i[k] = v; break; }
                case TensorProto::UINT16: { uint16_t v; std::memcpy(&v, p, 2); c.i[k] = v; break; }
                case TensorProto::INT8: c.i[k] = static_cast<int8_t>(*p); break;
                case TensorProto::UINT8: c.i[k] = static_cast<uint8_t>(*p); break;
                case TensorProto::BOOL: c.i[k] = *p != 0; break;
                default: break;
            }
        }
        return c;
    }
    switch (type) {
        case TensorProto::FLOAT:
            field_count(t.float_data_size(), "float_data");
            for (size_t k = 0; k < count; ++k) c.f[k] = t.float_data(static_cast<int>(k));
            break;
        case TensorProto::DOUBLE:
            field_count(t.double_data_size(), "double_data");
            for (size_t k = 0; k < count; ++k) c.f[k] = static_cast<float>(t.double_data(static_cast<int>(k)));
            break;
        case TensorProto::INT64:
            field_count(t.int64_data_size(), "int64_data");
            for (size_t k = 0; k < count; ++k) c.i[k] = t.int64_data(static_cast<int>(k));
            break;
        case TensorProto::UINT32: case TensorProto::UINT64:
            field_count(t.uint64_data_size(), "uint64_data");
            for (size_t k = 0; k < count; ++k) c.i[k] = static_cast<int64_t>(t.uint64_data(static_cast<int>(k)));
            break;
        case TensorProto::FLOAT16: case TensorProto::BFLOAT16:
            field_count(t.int32_data_size(), "int32_data");
            for (size_t k = 0; k < count; ++k) {
                const auto bits = static_cast<uint16_t>(t.int32_data(static_cast<int>(k)));
                c.f[k] = type == TensorProto::FLOAT16 ? half_to_float(bits) : bf16_to_float(bits);
            }
            break;
        default:
            field_count(t.int32_data_size(), "int32_data");
            for (size_t k = 0; k < count; ++k) c.i[k] = t.int32_data(static_cast<int>(k));
            break;
    }
    return c;
}

}  // namespace vkconv::detail
