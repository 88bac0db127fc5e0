#include "host/pipeline.h"

#include <vector>

#include "host/context.h"
#include "host/shader_layout.h"
#include "host/shader_registry.h"
#include "vkconv/error.h"

namespace vkconv::host {

vk::DescriptorType descriptor_type(BindingType t) {
    switch (t) {
        case BindingType::StorageBuffer: return vk::DescriptorType::eStorageBuffer;
        case BindingType::UniformTexelBuffer: return vk::DescriptorType::eUniformTexelBuffer;
        case BindingType::StorageTexelBuffer: return vk::DescriptorType::eStorageTexelBuffer;
        case BindingType::SampledImage: return vk::DescriptorType::eCombinedImageSampler;
        case BindingType::StorageImage: return vk::DescriptorType::eStorageImage;
    }
    return vk::DescriptorType::eStorageBuffer;
}

ComputePipeline::ComputePipeline(Context& ctx, const std::string& shader, std::span<const uint32_t> specialization)
    : name_(shader), specialization_(specialization.begin(), specialization.end()) {
    const ShaderLayout& layout = embedded_shader_layout(shader);
    bindings_ = layout.bindings;
    push_constant_bytes_ = layout.push_constant_bytes;
    const auto code = embedded_shader(shader);
    if (code.empty()) throw Error("no embedded shader named '" + shader + "'");
    if (push_constant_bytes_ > ctx.info().max_push_constants)
        throw Error("shader '" + shader + "' needs " + std::to_string(push_constant_bytes_) +
                    " bytes of push constants; the device allows " + std::to_string(ctx.info().max_push_constants));
    const auto& dev = ctx.device();
    module_ = vk::raii::ShaderModule(dev, vk::ShaderModuleCreateInfo({}, code.size_bytes(), code.data()), ctx.allocator());

    std::vector<vk::DescriptorSetLayoutBinding> bindings;
    for (uint32_t i = 0; i < bindings_.size(); ++i)
        bindings.emplace_back(i, descriptor_type(bindings_[i]), 1, vk::ShaderStageFlagBits::eCompute);
    set_layout_ = vk::raii::DescriptorSetLayout(dev, vk::DescriptorSetLayoutCreateInfo({}, bindings), ctx.allocator());

    vk::PushConstantRange range(vk::ShaderStageFlagBits::eCompute, 0, push_constant_bytes_);
    vk::DescriptorSetLayout set_layout = *set_layout_;
    vk::PipelineLayoutCreateInfo li({}, set_layout);
    if (push_constant_bytes_) li.setPushConstantRanges(range);
    layout_ = vk::raii::PipelineLayout(dev, li, ctx.allocator());

    std::vector<vk::SpecializationMapEntry> entries;
    for (uint32_t i = 0; i < specialization.size(); ++i)
        entries.emplace_back(i, i * sizeof(uint32_t), sizeof(uint32_t));
    vk::SpecializationInfo spec(static_cast<uint32_t>(entries.size()), entries.data(), specialization.size_bytes(),
                                specialization.data());
    vk::PipelineShaderStageCreateInfo stage({}, vk::ShaderStageFlagBits::eCompute, *module_, "main",
                                            specialization.empty() ? nullptr : &spec);
    // Capturing statistics: compiled here, never taken from a cache entry made without them.
    const bool stats = ctx.pipeline_statistics_enabled();
    const vk::PipelineCreateFlags flags = stats ? vk::PipelineCreateFlagBits::eCaptureStatisticsKHR : vk::PipelineCreateFlags{};
    using Cache = vk::Optional<const vk::raii::PipelineCache>;
    pipeline_ = vk::raii::Pipeline(dev, stats ? Cache(nullptr) : Cache(ctx.pipeline_cache()),
                                   vk::ComputePipelineCreateInfo(flags, stage, *layout_), ctx.allocator());
}

}  // namespace vkconv::host
