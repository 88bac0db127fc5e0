// host/texel_formats.cpp: which texel-buffer formats the device reads and writes.
#include "host/context.h"

#include <algorithm>

#include "host/context_internal.h"
#include "vkconv/error.h"

namespace vkconv::host {

namespace {
bool hidden_format(const ContextOptions& o, vk::Format format) {
    const auto& h = o.limit_overrides.hidden_texel_formats;
    return std::find(h.begin(), h.end(), format) != h.end();
}
}  // namespace

bool Context::uniform_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eUniformTexelBuffer);
}

bool Context::storage_texel_format(vk::Format format) const {
    if (hidden_format(options_, format)) return false;
    const auto props = physical_device_.getFormatProperties(format);
    return static_cast<bool>(props.bufferFeatures & vk::FormatFeatureFlagBits::eStorageTexelBuffer);
}

}  // namespace vkconv::host
