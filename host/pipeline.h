// host/pipeline.h: a compute pipeline made from an embedded SPIR-V module, with the
// descriptor-set layout and push-constant range its SPIR-V declares (host/shader_layout.h) and
// specialization constants (constant_id i = specialization[i]).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

namespace vkconv::host {

class Context;

// What is bound at one binding of a pipeline's descriptor set.
enum class BindingType : uint8_t {
    StorageBuffer,       // a buffer range (std430 `buffer` block)
    UniformTexelBuffer,  // a VkBufferView (`uniform samplerBuffer`, read with texelFetch)
    SampledImage,        // an image view with the context's nearest sampler (`uniform sampler2D`)
    StorageImage,        // an image view (`uniform image2D`, imageLoad/imageStore)
    StorageTexelBuffer,  // a VkBufferView (`uniform imageBuffer`, written with imageStore)
};
vk::DescriptorType descriptor_type(BindingType t);

class ComputePipeline {
public:
    ComputePipeline(Context& ctx, const std::string& shader, std::span<const uint32_t> specialization);

    vk::Pipeline handle() const { return *pipeline_; }
    vk::PipelineLayout layout() const { return *layout_; }
    vk::DescriptorSetLayout set_layout() const { return *set_layout_; }
    // Number of bindings.
    uint32_t storage_buffers() const { return static_cast<uint32_t>(bindings_.size()); }
    const std::vector<BindingType>& bindings() const { return bindings_; }
    uint32_t push_constant_bytes() const { return push_constant_bytes_; }
    const std::string& name() const { return name_; }
    // The specialization constants it was made with (constant_id i = specialization()[i]).
    const std::vector<uint32_t>& specialization() const { return specialization_; }

private:
    std::string name_;
    std::vector<uint32_t> specialization_;
    std::vector<BindingType> bindings_;
    uint32_t push_constant_bytes_;
    vk::raii::ShaderModule module_{nullptr};
    vk::raii::DescriptorSetLayout set_layout_{nullptr};
    vk::raii::PipelineLayout layout_{nullptr};
    vk::raii::Pipeline pipeline_{nullptr};
};

}  // namespace vkconv::host
