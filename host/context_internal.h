// host/context_internal.h: what the files of host::Context share (private to host/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/context.h"

namespace vkconv::host::detail {

// DeviceInfo of a physical device (device_choice.cpp).
DeviceInfo describe(const vk::raii::PhysicalDevice& pd, uint32_t index);
// Index of the device the selector names (ContextOptions::device, else VKCONV_DEVICE), or the
// best by type. Throws when nothing matches.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, const std::string& selector_option);

// The pipeline-cache file's directory (ContextOptions::cache_dir resolved), or "" when
// persistence is off; lower-case hex of bytes (pipeline_cache_file.cpp).
std::string cache_directory(const std::string& option);
std::string hex(const uint8_t* p, size_t n);

}  // namespace vkconv::host::detail
