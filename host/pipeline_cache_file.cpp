// host/pipeline_cache_file.cpp: the VkPipelineCache persisted between runs: vkconv's checked file format around the driver's data.
#include "host/context.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "host/buffer.h"
#include "host/command.h"
#include "host/context_internal.h"
#include "host/pipeline.h"
#include "vkconv/error.h"

namespace vkconv::host {
using namespace detail;  // context_internal.h
namespace detail {

// The persisted pipeline cache: vkconv's header, then the driver's data (which starts with
// VkPipelineCacheHeaderVersionOne). Checked field by field before the data reaches the driver.
struct CacheFileHeader {
    char magic[8];  // "VKCONVPC"
    uint32_t format_version;
    uint32_t vendor_id, device_id, driver_version;
    uint8_t uuid[VK_UUID_SIZE];
    uint64_t data_size;
    uint64_t checksum;  // FNV-1a 64 of the data
};
static_assert(sizeof(CacheFileHeader) == 56);
constexpr char kCacheMagic[8] = {'V', 'K', 'C', 'O', 'N', 'V', 'P', 'C'};
constexpr uint32_t kCacheFormatVersion = 1;
constexpr uint64_t kMaxCacheFileBytes = uint64_t(1) << 30;

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) s += {d[p[i] >> 4], d[p[i] & 15]};
    return s;
}

// The directory the cache goes in, or "" when persistence is off.
std::string cache_directory(const std::string& option) {
    std::string dir = option;
    if (dir.empty())
        if (const char* env = std::getenv("VKCONV_CACHE_DIR")) dir = env;
    if (dir == "off") return {};
    if (dir.empty()) {
        if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
            dir = std::string(xdg) + "/vkconv";
        else if (const char* home = std::getenv("HOME"); home && *home)
            dir = std::string(home) + "/.cache/vkconv";
    }
    return dir;
}


}  // namespace detail

std::vector<uint8_t> Context::load_pipeline_cache_file() {
    std::lock_guard lock(cache_status_mutex_);
    std::error_code ec;
    if (!std::filesystem::exists(cache_path_, ec)) {
        cache_status_ = "none yet";
        return {};
    }
    const auto size = std::filesystem::file_size(cache_path_, ec);
    if (ec || size > kMaxCacheFileBytes) {
        cache_status_ = "ignored: unreadable or larger than 1 GiB";
        return {};
    }
    std::ifstream f(cache_path_, std::ios::binary);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (!f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
        cache_status_ = "ignored: unreadable";
        return {};
    }
    CacheFileHeader h{};
    if (bytes.size() < sizeof h) {
        cache_status_ = "ignored: truncated header";
        return {};
    }
    std::memcpy(&h, bytes.data(), sizeof h);
    const uint8_t* data = bytes.data() + sizeof h;
    const uint64_t data_size = bytes.size() - sizeof h;
    if (std::memcmp(h.magic, kCacheMagic, sizeof kCacheMagic) != 0 || h.format_version != kCacheFormatVersion) {
        cache_status_ = "ignored: not a vkconv pipeline cache (or another format version)";
        return {};
    }
    if (h.vendor_id != info_.vendor_id || h.device_id != info_.device_id ||
        std::memcmp(h.uuid, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE) != 0) {
        cache_status_ = "ignored: written for another device";
        return {};
    }
    if (h.driver_version != info_.driver_version) {
        cache_status_ = "ignored: written by another driver version";
        return {};
    }
    if (h.data_size != data_size || h.checksum != fnv1a(data, data_size)) {
        cache_status_ = "ignored: corrupt (size or checksum mismatch)";
        return {};
    }
    // Vulkan's own header (VkPipelineCacheHeaderVersionOne), checked too: the driver would
    // ignore a foreign one, but not every driver is careful.
    uint32_t vk_header[4] = {0, 0, 0, 0};
    if (data_size < 16 + VK_UUID_SIZE) {
        cache_status_ = "ignored: the driver's header is truncated";
        return {};
    }
    std::memcpy(vk_header, data, sizeof vk_header);
    if (vk_header[0] < 16 + VK_UUID_SIZE || vk_header[0] > data_size || vk_header[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE ||
        vk_header[2] != info_.vendor_id || vk_header[3] != info_.device_id ||
        std::memcmp(data + 16, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE) != 0) {
        cache_status_ = "ignored: the driver's header does not match this device";
        return {};
    }
    cache_status_ = "loaded " + std::to_string(data_size) + " bytes";
    return std::vector<uint8_t>(data, data + data_size);
}

std::string Context::pipeline_cache_status() const {
    std::lock_guard lock(cache_status_mutex_);
    return cache_status_;
}

bool Context::save_pipeline_cache() {
    if (cache_path_.empty() || !*pipeline_cache_) return false;
    {
        std::lock_guard lock(pipelines_mutex_);
        if (!pipelines_created_) return true;  // nothing new since it was loaded
    }
    std::vector<uint8_t> data;
    try {
        data = pipeline_cache_.getData();
    } catch (const vk::SystemError& e) {
        std::lock_guard lock(cache_status_mutex_);
        cache_status_ = std::string("save failed: ") + e.what();
        return false;
    }
    CacheFileHeader h{};
    std::memcpy(h.magic, kCacheMagic, sizeof kCacheMagic);
    h.format_version = kCacheFormatVersion;
    h.vendor_id = info_.vendor_id;
    h.device_id = info_.device_id;
    h.driver_version = info_.driver_version;
    std::memcpy(h.uuid, info_.pipeline_cache_uuid.data(), VK_UUID_SIZE);
    h.data_size = data.size();
    h.checksum = fnv1a(data.data(), data.size());
    // Written to a temporary file and renamed over the old one: readers never see half a file.
    std::error_code ec;
    const std::filesystem::path path(cache_path_);
    std::filesystem::create_directories(path.parent_path(), ec);
    const std::string tmp = cache_path_ + ".tmp" + std::to_string(std::random_device{}());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(&h), sizeof h);
        f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
        if (!f) {
            std::filesystem::remove(tmp, ec);
            std::lock_guard lock(cache_status_mutex_);
            cache_status_ = "save failed: cannot write " + tmp;
            return false;
        }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        std::lock_guard lock(cache_status_mutex_);
        cache_status_ = "save failed: cannot rename to " + cache_path_;
        return false;
    }
    std::lock_guard lock(pipelines_mutex_);
    pipelines_created_ = false;
    return true;
}

}  // namespace vkconv::host
