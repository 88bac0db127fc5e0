#include "file_kind.h"

#include <cstring>

namespace vkconv::detail {

FileKind sniff_file_kind(std::span<const uint8_t> h, uint64_t size, const std::string& path) {
    auto starts = [&](const char* magic, size_t n) { return h.size() >= n && std::memcmp(h.data(), magic, n) == 0; };
    // First: a safetensors header length can begin with the byte '{' (a length of 123).
    if (h.size() >= 9) {
        uint64_t n = 0;
        for (int b = 7; b >= 0; --b) n = (n << 8) | h[b];
        if (n >= 2 && n <= size - 8 && h[8] == '{') return FileKind::Safetensors;
    }
    size_t i = 0;  // first non-blank byte (JSON may start with whitespace or a UTF-8 byte-order mark)
    if (starts("\xEF\xBB\xBF", 3)) i = 3;
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) ++i;
    if (i < h.size() && (h[i] == '{' || h[i] == '[')) return FileKind::Json;
    if (starts("PK\x03\x04", 4)) return FileKind::TorchZip;  // torch.save (zip) since PyTorch 1.6
    // Pickle protocol 2+ opens with PROTO (0x80) and the protocol number; torch.save's legacy
    // format is a sequence of such pickles.
    if (h.size() >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) return FileKind::Pickle;
    if (starts("\x93NUMPY", 6)) return FileKind::Npy;
    if (starts("\x89PNG\r\n\x1a\n", 8)) return FileKind::Png;
    if (starts("\xFF\xD8\xFF", 3)) return FileKind::Jpeg;
    // ONNX ModelProto: field 1 (ir_version, varint 1..20), then another field's tag.
    const bool onnx_name = path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
    if (onnx_name || (h.size() >= 3 && h[0] == 0x08 && h[1] >= 1 && h[1] <= 20 && (h[2] & 7) == 2 && h[2] >> 3 >= 2 &&
                      h[2] >> 3 <= 20))
        return FileKind::Onnx;
    return FileKind::Unknown;
}

std::string describe(FileKind k) {
    switch (k) {
        case FileKind::Json: return "a JSON document";
        case FileKind::Safetensors: return "a safetensors file (weights)";
        case FileKind::TorchZip: return "a PyTorch pickle (torch.save zip archive)";
        case FileKind::Pickle: return "a PyTorch pickle (torch.save)";
        case FileKind::Npy: return "a NumPy .npy array";
        case FileKind::Png: return "a PNG image";
        case FileKind::Jpeg: return "a JPEG image";
        case FileKind::Onnx: return "an ONNX model (protobuf)";
        case FileKind::Unknown: break;
    }
    return "of an unknown format";
}

}  // namespace vkconv::detail
