// vkconv/safetensors.h: reading and writing .safetensors files as float32 host arrays.
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, N bytes
// of JSON header, then the data buffer. The header maps tensor names to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the start of the data buffer, plus an optional "__metadata__"
// object of strings.
//
// Files come from untrusted sources, so the reader validates everything against the actual
// file size before allocating and refuses anything malformed with a vkconv::Error naming the
// file, the tensor and the rule, e.g.
//   "model.safetensors: tensor 'fc.weight' has unsupported dtype 'I8': ...".
// As the format specifies, the tensors must tile the data buffer exactly: overlapping tensors,
// holes between tensors and unindexed bytes at the end are all refused.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "vkconv/npy.h"

namespace vkconv {

// Parses the bytes of a whole .safetensors file and returns its tensors by name, converted
// to float32. Supported dtypes: F32, F16, BF16 (exact), F64 (rounded to nearest; values
// beyond float range become +-inf) and I64 (rounded to nearest; meant for BatchNorm's
// num_batches_tracked). `name` is only used in error messages. If `dtypes_out` is given, it
// receives each tensor's dtype as stored in the file (existing entries are overwritten); it
// is left untouched if parsing fails.
std::map<std::string, HostArray> parse_safetensors(std::span<const uint8_t> bytes,
                                                   const std::string& name,
                                                   std::map<std::string, std::string>* dtypes_out = nullptr);

// Reads `path` (see read_file_bytes) and parses it; errors name the path.
std::map<std::string, HostArray> load_safetensors(const std::string& path,
                                                  std::map<std::string, std::string>* dtypes_out = nullptr);

// Writes all tensors as F32, in name order, with no "__metadata__". The header is padded
// with spaces so that the data buffer starts at a multiple of 8 bytes. Throws if a tensor's
// shape and data disagree, a name is "__metadata__" or not valid UTF-8, or the file cannot
// be written.
void save_safetensors(const std::string& path, const std::map<std::string, HostArray>& tensors);

}  // namespace vkconv
