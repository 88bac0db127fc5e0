// A read-only memory map of a whole file (weights files of hundreds of MB are parsed in place,
// not copied into a heap buffer first). Refuses what read_file_bytes refuses: non-regular files.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vkconv::detail {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    std::span<const uint8_t> bytes() const { return {data_, size_}; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

// The first `n` bytes of a file (fewer if it is shorter) and its size; for recognising a file's
// kind before reading it whole.
std::span<const uint8_t> read_file_head(const std::string& path, size_t n, std::string& buffer, uint64_t& size);

}  // namespace vkconv::detail
