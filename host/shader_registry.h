// host/shader_registry.h: SPIR-V modules compiled from shaders/ at build time and embedded
// in the library (see cmake/Shaders.cmake). Looked up by the shader file's stem.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vkconv::host {

// Empty span when no shader has that name.
std::span<const uint32_t> embedded_shader(std::string_view name);
std::vector<std::string_view> embedded_shader_names();

}  // namespace vkconv::host
