// vkconv/npy.h: float32 host arrays and the NumPy .npy file format.
//
// .npy files come from untrusted sources (downloaded weights, test vectors), so the reader
// refuses anything it does not fully understand with a vkconv::Error naming the file and the
// rule it broke, e.g.
//   "weights.npy: unsupported dtype '<f8': only float32 ('<f4') is supported".
// Header claims (shape, header length) are checked against the actual file size, with
// overflow-checked arithmetic, before anything is allocated.
//
// Only what vkconv needs is supported: little-endian float32 ('<f4') in C order, with
// format versions 1.0, 2.0 and 3.0. The writer produces the same bytes as numpy.save (>= 1.23)
// for such an array: version 1.0, header padded with spaces to a multiple of 64 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vkconv {

// A float32 array on the host, in C (row-major) order.
struct HostArray {
    std::vector<int64_t> shape;
    std::vector<float> data;

    // Product of shape (1 for a 0-d array). Throws vkconv::Error if a dim is negative or the
    // product does not fit in int64_t.
    int64_t numel() const;
};

// Parses the bytes of a whole .npy file. `name` is only used in error messages.
HostArray parse_npy(std::span<const uint8_t> bytes, const std::string& name);

// Like parse_npy, but also accepts '<f8', '<i8' and '<i4' arrays, converted to float32, and reports
// the file's dtype ('<f4', ...) in `dtype` (for weights, where PyTorch buffers such as
// num_batches_tracked are int64).
HostArray parse_npy_converting(std::span<const uint8_t> bytes, const std::string& name, std::string* dtype);

// Reads `path` (see read_file_bytes) and parses it; errors name the path.
HostArray load_npy(const std::string& path);

// Writes `a` as an NPY 1.0 file ('<f4', fortran_order False). Throws if shape and data
// disagree or the file cannot be written.
void save_npy(const std::string& path, const HostArray& a);

// Reads a whole regular file. Throws vkconv::Error naming the path if it cannot be opened or
// read, is not a regular file, or is larger than 16 GiB.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Writes `bytes` to `path`, replacing it. Throws vkconv::Error naming the path on failure.
void write_file_bytes(const std::string& path, std::span<const uint8_t> bytes);

// Number of elements of `shape`, checked: every dim must be >= 0 and the product of the
// non-zero dims must fit in int64_t (so that any left-to-right running product fits too).
// Errors are prefixed with `context`, e.g. the file name.
int64_t shape_numel(std::span<const int64_t> shape, std::string_view context);

// Formats a shape as a Python tuple, e.g. "(2, 3)", "(5,)", "()".
std::string format_shape(std::span<const int64_t> shape);

namespace detail {
// Makes text taken from an untrusted file fit for an error message: control and non-ASCII
// bytes (and backslashes) escaped as \xNN, and text longer than `max_shown` bytes cut short
// with "...", so messages stay one readable line.
std::string printable_untrusted(std::string_view text, size_t max_shown);
// The same in single quotes, at most 64 bytes shown: 'like this'.
std::string quote_untrusted(std::string_view text);
}  // namespace detail

}  // namespace vkconv
