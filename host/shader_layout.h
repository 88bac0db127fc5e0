// host/shader_layout.h: a compute shader's pipeline layout, read from its SPIR-V, so that each
// shader declares its bindings and push constants once (in GLSL) and no caller restates them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "host/pipeline.h"

namespace vkconv::host {

struct ShaderLayout {
    std::vector<BindingType> bindings;  // descriptor set 0, bindings 0..n-1
    uint32_t push_constant_bytes = 0;   // the push-constant block's size (0: none)
};

// Reads the descriptor bindings and the push-constant block of a SPIR-V module. Throws
// vkconv::Error, naming `what`, for a malformed module or a layout the runtime does not build:
// a set other than 0, gaps in the binding numbers, arrays of descriptors, uniform blocks.
ShaderLayout reflect_shader_layout(std::span<const uint32_t> spirv, const std::string& what);

// The layout of the embedded shader `name` (host/shader_registry.h), read once per process.
// Throws vkconv::Error when no shader has that name.
const ShaderLayout& embedded_shader_layout(const std::string& name);

}  // namespace vkconv::host
