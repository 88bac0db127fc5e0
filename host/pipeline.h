// host/pipeline.h: a compute pipeline made from an embedded SPIR-V module, with its
// descriptor-set layout (N storage buffers at bindings 0..N-1), push-constant range and
// specialization constants (constant_id i = specialization[i]).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv::host {

class Context;

class ComputePipeline {
public:
    ComputePipeline(Context& ctx, const std::string& shader, std::span<const uint32_t> specialization,
                    uint32_t storage_buffers, uint32_t push_constant_bytes);

    vk::Pipeline handle() const { return *pipeline_; }
    vk::PipelineLayout layout() const { return *layout_; }
    vk::DescriptorSetLayout set_layout() const { return *set_layout_; }
    uint32_t storage_buffers() const { return storage_buffers_; }
    uint32_t push_constant_bytes() const { return push_constant_bytes_; }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    uint32_t storage_buffers_;
    uint32_t push_constant_bytes_;
    vk::raii::ShaderModule module_{nullptr};
    vk::raii::DescriptorSetLayout set_layout_{nullptr};
    vk::raii::PipelineLayout layout_{nullptr};
    vk::raii::Pipeline pipeline_{nullptr};
};

}  // namespace vkconv::host
