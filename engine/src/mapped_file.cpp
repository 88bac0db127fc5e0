#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "vkconv/error.h"

namespace vkconv::detail {
namespace {
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
std::string errno_text() { return std::strerror(errno); }
}  // namespace

MappedFile::MappedFile(const std::string& path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (f.fd < 0) throw Error(path + ": cannot open: " + errno_text());
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) throw Error(path + ": cannot stat: " + errno_text());
    // FIFOs, devices and directories could block, never end or fail confusingly.
    if (!S_ISREG(st.st_mode)) throw Error(path + ": cannot read: not a regular file");
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;  // mmap of 0 bytes is an error; an empty span is the right answer
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
    if (p == MAP_FAILED) throw Error(path + ": cannot map " + std::to_string(size_) + " bytes: " + errno_text());
    data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::span<const uint8_t> read_file_head(const std::string& path, size_t n, std::string& buffer, uint64_t& size) {
    MappedFile m(path);
    size = m.bytes().size();
    const auto b = m.bytes().first(std::min(n, m.bytes().size()));
    buffer.assign(b.begin(), b.end());
    return {reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size()};
}

}  // namespace vkconv::detail
