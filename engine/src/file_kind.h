// What a file's first bytes say it is, so that a file of one kind given where another is expected
// (weights as --model, a torch.save checkpoint as weights) gets an error naming what was seen.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vkconv::detail {

enum class FileKind { Unknown, Json, Safetensors, TorchZip, Pickle, Npy, Png, Jpeg, Onnx };

// `head`: the file's first bytes (at least 16 where the file has them); `size`: the whole file's.
FileKind sniff_file_kind(std::span<const uint8_t> head, uint64_t size, const std::string& path);

// "a safetensors file (weights)", "a PyTorch pickle (torch.save)", ...
std::string describe(FileKind k);

}  // namespace vkconv::detail
