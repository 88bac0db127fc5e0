// embed_postprocess: a small headless Vulkan graphics application that embeds vkconv.
//
// The application owns everything Vulkan: instance, device, queue, command buffer, images. It
// renders a scene into an offscreen RGBA8 image with a graphics pipeline, then, in the same
// command buffer, hands vkconv that image: vkconv converts it to an NCHW tensor, convolves it
// (an edge filter or a blur, with any of PyTorch's padding modes) and writes the result into a
// second image, which the application copies out and saves as a PNG. One submission, no host
// round trip between rendering and filtering, and vkconv never owns the device.
//
//   embed_postprocess --filter blur --padding-mode reflect --output blurred.png --scene scene.png
//   embed_postprocess --check      # also compares the GPU result with vkconv's CPU reference
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "scene_frag.spv.h"
#include "scene_vert.spv.h"
#include "vkconv/vkconv.h"

namespace {

// Validation messages the application's own messenger saw (with --validation).
std::mutex g_messages_mutex;
std::vector<std::string> g_messages;

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,
                                          const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
    std::lock_guard lock(g_messages_mutex);
    g_messages.emplace_back(data && data->pMessage ? data->pMessage : "");
    std::fprintf(stderr, "validation: %s\n", g_messages.back().c_str());
    return VK_FALSE;
}

uint32_t memory_type(const vk::raii::PhysicalDevice& pd, uint32_t bits, vk::MemoryPropertyFlags flags) {
    const auto mem = pd.getMemoryProperties();
    for (uint32_t t = 0; t < mem.memoryTypeCount; ++t)
        if ((bits & (1u << t)) && (mem.memoryTypes[t].propertyFlags & flags) == flags) return t;
    throw std::runtime_error("no memory type with " + vk::to_string(flags));
}

struct Image {
    vk::raii::Image image{nullptr};
    vk::raii::DeviceMemory memory{nullptr};
    vk::raii::ImageView view{nullptr};
};

Image make_image(const vk::raii::Device& dev, const vk::raii::PhysicalDevice& pd, uint32_t w, uint32_t h, vk::ImageUsageFlags usage) {
    Image img;
    img.image = vk::raii::Image(dev, vk::ImageCreateInfo({}, vk::ImageType::e2D, vk::Format::eR8G8B8A8Unorm, vk::Extent3D(w, h, 1), 1, 1,
                                                         vk::SampleCountFlagBits::e1, vk::ImageTiling::eOptimal, usage));
    const auto req = img.image.getMemoryRequirements();
    img.memory = vk::raii::DeviceMemory(dev, vk::MemoryAllocateInfo(req.size, memory_type(pd, req.memoryTypeBits, {})));
    img.image.bindMemory(*img.memory, 0);
    img.view = vk::raii::ImageView(dev, vk::ImageViewCreateInfo({}, *img.image, vk::ImageViewType::e2D, vk::Format::eR8G8B8A8Unorm, {},
                                                                vk::ImageSubresourceRange(vk::ImageAspectFlagBits::eColor, 0, 1, 0, 1)));
    return img;
}

struct HostBuffer {
    vk::raii::Buffer buffer{nullptr};
    vk::raii::DeviceMemory memory{nullptr};
    void* mapped = nullptr;
};

HostBuffer make_readback(const vk::raii::Device& dev, const vk::raii::PhysicalDevice& pd, uint64_t bytes) {
    HostBuffer b;
    b.buffer = vk::raii::Buffer(dev, vk::BufferCreateInfo({}, bytes, vk::BufferUsageFlagBits::eTransferDst));
    const auto req = b.buffer.getMemoryRequirements();
    b.memory = vk::raii::DeviceMemory(
        dev, vk::MemoryAllocateInfo(req.size, memory_type(pd, req.memoryTypeBits,
                                                          vk::MemoryPropertyFlagBits::eHostVisible | vk::MemoryPropertyFlagBits::eHostCoherent)));
    b.buffer.bindMemory(*b.memory, 0);
    b.mapped = b.memory.mapMemory(0, VK_WHOLE_SIZE);
    return b;
}

void image_barrier(vk::CommandBuffer cmd, vk::Image image, vk::ImageLayout from, vk::ImageLayout to, vk::PipelineStageFlags src_stage,
                   vk::AccessFlags src_access, vk::PipelineStageFlags dst_stage, vk::AccessFlags dst_access) {
    vk::ImageMemoryBarrier b(src_access, dst_access, from, to, VK_QUEUE_FAMILY_IGNORED, VK_QUEUE_FAMILY_IGNORED, image,
                             vk::ImageSubresourceRange(vk::ImageAspectFlagBits::eColor, 0, 1, 0, 1));
    cmd.pipelineBarrier(src_stage, dst_stage, {}, {}, {}, b);
}

// The filter as a Conv2d on the rendered RGB: "edge" is a Laplacian of the luminance (one grey
// output channel; shown around mid-grey), "blur" a 5x5 binomial (Gaussian-like) blur per channel.
struct Filter {
    vkconv::Conv2dParams params;
    std::vector<float> weight;
    vkconv::TensorToImageOptions to_image;
};

Filter make_filter(const std::string& name, vkconv::PaddingMode mode) {
    Filter f;
    f.params.in_channels = 3;
    f.params.options.bias = false;
    f.params.options.padding_mode = mode;
    if (name == "edge") {
        const float lap[9] = {-1, -1, -1, -1, 8, -1, -1, -1, -1};
        const float luma[3] = {0.299f, 0.587f, 0.114f};  // ITU-R BT.601
        f.params.out_channels = 1;
        f.params.kernel = 3;
        f.params.options.padding = 1;
        for (float l : luma)
            for (float k : lap) f.weight.push_back(l * k);
        f.to_image.scale = {1.5f, 1.5f, 1.5f, 1.0f};
        f.to_image.bias = {0.5f, 0.5f, 0.5f, 0.0f};
    } else if (name == "blur") {
        const float b[5] = {1, 4, 6, 4, 1};
        f.params.out_channels = 3;
        f.params.kernel = 5;
        f.params.options.padding = 2;
        f.params.options.groups = 3;
        for (int c = 0; c < 3; ++c)
            for (float y : b)
                for (float x : b) f.weight.push_back(y * x / 256.0f);
    } else {
        throw vkconv::Error("--filter must be edge or blur, but got '" + name + "'");
    }
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"A headless Vulkan renderer that filters its frame with vkconv in the same command buffer"};
    std::string filter_name = "edge", mode_name = "reflect", output = "embed_postprocess.png", scene_png;
    uint32_t width = 256, height = 192;
    bool check = false, validation = false;
    cli.add_option("--filter", filter_name, "edge | blur")->capture_default_str();
    cli.add_option("--padding-mode", mode_name, "zeros | reflect | replicate | circular")->capture_default_str();
    cli.add_option("--width", width, "frame width")->capture_default_str()->check(CLI::Range(1u, 4096u));
    cli.add_option("--height", height, "frame height")->capture_default_str()->check(CLI::Range(1u, 4096u));
    cli.add_option("--output", output, "PNG of the filtered frame")->capture_default_str();
    cli.add_option("--scene", scene_png, "also write the rendered frame before filtering as a PNG");
    cli.add_flag("--check", check, "compare the GPU result with vkconv's CPU reference (exit 1 on mismatch)");
    cli.add_flag("--validation", validation, "Khronos validation layer with synchronization validation (also VKCONV_VALIDATION=1); any message fails");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e);
    }
    if (const char* v = std::getenv("VKCONV_VALIDATION"); v && std::strcmp(v, "0") != 0 && *v) validation = true;

    try {
        const vkconv::PaddingMode mode = vkconv::parse_padding_mode(mode_name);
        const Filter filter = make_filter(filter_name, mode);

        // ---- The application's Vulkan setup (nothing of vkconv here) ----
        vk::raii::Context context;
        vk::ApplicationInfo app_info("embed_postprocess", 1, nullptr, 0, VK_API_VERSION_1_1);
        std::vector<const char*> layers, extensions;
        vk::ValidationFeatureEnableEXT sync[] = {vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
        vk::ValidationFeaturesEXT features(sync, {});
        vk::InstanceCreateInfo ici({}, &app_info, layers, extensions);
        if (validation) {
            layers.push_back("VK_LAYER_KHRONOS_validation");
            extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
            ici.setPEnabledLayerNames(layers).setPEnabledExtensionNames(extensions);
            ici.pNext = &features;
        }
        vk::raii::Instance instance(context, ici);
        vk::raii::DebugUtilsMessengerEXT messenger(nullptr);
        if (validation)
            messenger = vk::raii::DebugUtilsMessengerEXT(
                instance, vk::DebugUtilsMessengerCreateInfoEXT({}, vk::DebugUtilsMessageSeverityFlagBitsEXT::eWarning |
                                                                       vk::DebugUtilsMessageSeverityFlagBitsEXT::eError,
                                                               vk::DebugUtilsMessageTypeFlagBitsEXT::eValidation |
                                                                   vk::DebugUtilsMessageTypeFlagBitsEXT::eGeneral,
                                                               &on_message));
        uint32_t chosen = 0;
        (void)vkconv::list_devices({}, &chosen);  // the same rule vkconv uses (VKCONV_DEVICE or best by type)
        vk::raii::PhysicalDevices pds(instance);
        if (chosen >= pds.size()) chosen = 0;
        vk::raii::PhysicalDevice pd = std::move(pds[chosen]);
        const auto families = pd.getQueueFamilyProperties();
        uint32_t family = UINT32_MAX;
        const auto want = vk::QueueFlagBits::eGraphics | vk::QueueFlagBits::eCompute;
        for (uint32_t i = 0; i < families.size(); ++i)
            if ((families[i].queueFlags & want) == want) {
                family = i;
                break;
            }
        if (family == UINT32_MAX) throw std::runtime_error("the device has no graphics+compute queue family");
        const float priority = 1.0f;
        vk::DeviceQueueCreateInfo qi({}, family, 1, &priority);
        vk::raii::Device device(pd, vk::DeviceCreateInfo({}, qi));
        vk::raii::Queue queue = device.getQueue(family, 0);
        std::printf("device: %s\n", pd.getProperties().deviceName.data());

        // Offscreen frame (rendered, then sampled by vkconv) and the filtered image (written by vkconv).
        Image scene = make_image(device, pd, width, height,
                                 vk::ImageUsageFlagBits::eColorAttachment | vk::ImageUsageFlagBits::eSampled |
                                     vk::ImageUsageFlagBits::eTransferSrc);
        Image filtered = make_image(device, pd, width, height, vk::ImageUsageFlagBits::eStorage | vk::ImageUsageFlagBits::eTransferSrc);
        const uint64_t frame_bytes = uint64_t(width) * height * 4;
        HostBuffer scene_readback = make_readback(device, pd, frame_bytes), filtered_readback = make_readback(device, pd, frame_bytes);

        // A render pass whose final layout is what vkconv samples from; its external dependency
        // orders the colour writes before later compute-shader reads.
        vk::AttachmentDescription color({}, vk::Format::eR8G8B8A8Unorm, vk::SampleCountFlagBits::e1, vk::AttachmentLoadOp::eClear,
                                        vk::AttachmentStoreOp::eStore, vk::AttachmentLoadOp::eDontCare, vk::AttachmentStoreOp::eDontCare,
                                        vk::ImageLayout::eUndefined, vk::ImageLayout::eShaderReadOnlyOptimal);
        vk::AttachmentReference color_ref(0, vk::ImageLayout::eColorAttachmentOptimal);
        vk::SubpassDescription subpass({}, vk::PipelineBindPoint::eGraphics, {}, color_ref);
        vk::SubpassDependency deps[] = {
            {VK_SUBPASS_EXTERNAL, 0, vk::PipelineStageFlagBits::eColorAttachmentOutput, vk::PipelineStageFlagBits::eColorAttachmentOutput,
             {}, vk::AccessFlagBits::eColorAttachmentWrite},
            {0, VK_SUBPASS_EXTERNAL, vk::PipelineStageFlagBits::eColorAttachmentOutput,
             vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer, vk::AccessFlagBits::eColorAttachmentWrite,
             vk::AccessFlagBits::eShaderRead | vk::AccessFlagBits::eTransferRead}};
        vk::raii::RenderPass render_pass(device, vk::RenderPassCreateInfo({}, color, subpass, deps));
        vk::ImageView fb_view = *scene.view;
        vk::raii::Framebuffer framebuffer(device, vk::FramebufferCreateInfo({}, *render_pass, fb_view, width, height, 1));

        vk::raii::ShaderModule vert(device, vk::ShaderModuleCreateInfo({}, sizeof(scene_vert_spv), scene_vert_spv));
        vk::raii::ShaderModule frag(device, vk::ShaderModuleCreateInfo({}, sizeof(scene_frag_spv), scene_frag_spv));
        vk::PushConstantRange pcr(vk::ShaderStageFlagBits::eFragment, 0, 2 * sizeof(float));
        vk::raii::PipelineLayout gfx_layout(device, vk::PipelineLayoutCreateInfo({}, {}, pcr));
        vk::PipelineShaderStageCreateInfo stages[] = {{{}, vk::ShaderStageFlagBits::eVertex, *vert, "main"},
                                                      {{}, vk::ShaderStageFlagBits::eFragment, *frag, "main"}};
        vk::PipelineVertexInputStateCreateInfo vertex_input;
        vk::PipelineInputAssemblyStateCreateInfo assembly({}, vk::PrimitiveTopology::eTriangleList);
        vk::Viewport viewport(0, 0, float(width), float(height), 0, 1);
        vk::Rect2D scissor({0, 0}, {width, height});
        vk::PipelineViewportStateCreateInfo viewport_state({}, viewport, scissor);
        vk::PipelineRasterizationStateCreateInfo raster({}, false, false, vk::PolygonMode::eFill, vk::CullModeFlagBits::eNone,
                                                        vk::FrontFace::eCounterClockwise, false, 0, 0, 0, 1.0f);
        vk::PipelineMultisampleStateCreateInfo multisample;
        vk::PipelineColorBlendAttachmentState blend_attachment;
        blend_attachment.colorWriteMask = vk::ColorComponentFlagBits::eR | vk::ColorComponentFlagBits::eG |
                                          vk::ColorComponentFlagBits::eB | vk::ColorComponentFlagBits::eA;
        vk::PipelineColorBlendStateCreateInfo blend({}, false, vk::LogicOp::eCopy, blend_attachment);
        vk::raii::Pipeline gfx(device, nullptr,
                               vk::GraphicsPipelineCreateInfo({}, stages, &vertex_input, &assembly, nullptr, &viewport_state, &raster,
                                                              &multisample, nullptr, &blend, nullptr, *gfx_layout, *render_pass, 0));

        // ---- vkconv on the application's device ----
        vkconv::BorrowedDevice borrowed;
        borrowed.instance = static_cast<VkInstance>(*instance);
        borrowed.physical_device = static_cast<VkPhysicalDevice>(*pd);
        borrowed.device = static_cast<VkDevice>(*device);
        borrowed.queue_family = family;
        borrowed.instance_api_version = VK_API_VERSION_1_1;
        vkconv::Context ctx(borrowed);
        vkconv::Conv2d conv(ctx, filter.params);
        conv.set_weight(filter.weight);
        std::printf("filter: %s\n", conv.repr().c_str());
        const vkconv::Tensor x(ctx, {1, 3, height, width}), y(ctx, {1, filter.params.out_channels, height, width});

        // ---- One command buffer: render, then vkconv, then the copies out ----
        vk::raii::CommandPool pool(device, vk::CommandPoolCreateInfo({}, family));
        vk::raii::CommandBuffers cbs(device, vk::CommandBufferAllocateInfo(*pool, vk::CommandBufferLevel::ePrimary, 1));
        vk::CommandBuffer cmd = *cbs[0];
        cmd.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
        vk::ClearValue clear(vk::ClearColorValue(std::array<float, 4>{0, 0, 0, 1}));
        cmd.beginRenderPass(vk::RenderPassBeginInfo(*render_pass, *framebuffer, scissor, clear), vk::SubpassContents::eInline);
        cmd.bindPipeline(vk::PipelineBindPoint::eGraphics, *gfx);
        const float size[2] = {float(width), float(height)};
        cmd.pushConstants<float>(*gfx_layout, vk::ShaderStageFlagBits::eFragment, 0, size);
        cmd.draw(9, 1, 0, 0);
        cmd.endRenderPass();  // scene is now SHADER_READ_ONLY_OPTIMAL
        image_barrier(cmd, *filtered.image, vk::ImageLayout::eUndefined, vk::ImageLayout::eGeneral,
                      vk::PipelineStageFlagBits::eTopOfPipe, {}, vk::PipelineStageFlagBits::eComputeShader,
                      vk::AccessFlagBits::eShaderWrite);

        vkconv::CommandRecorder rec(ctx, cmd);
        rec.acquire(vk::PipelineStageFlagBits::eColorAttachmentOutput, vk::AccessFlagBits::eColorAttachmentWrite);
        vkconv::record_image_to_tensor(rec, {*scene.view, vk::Format::eR8G8B8A8Unorm, width, height,
                                             vk::ImageLayout::eShaderReadOnlyOptimal, vkconv::ImageAccess::Sampled}, x);
        conv.record(rec, x, y);
        vkconv::record_tensor_to_image(rec, y, {*filtered.view, vk::Format::eR8G8B8A8Unorm, width, height,
                                                vk::ImageLayout::eGeneral, vkconv::ImageAccess::Storage}, filter.to_image);
        rec.release_to(vk::PipelineStageFlagBits::eTransfer, vk::AccessFlagBits::eTransferRead);

        image_barrier(cmd, *filtered.image, vk::ImageLayout::eGeneral, vk::ImageLayout::eTransferSrcOptimal,
                      vk::PipelineStageFlagBits::eComputeShader, vk::AccessFlagBits::eShaderWrite, vk::PipelineStageFlagBits::eTransfer,
                      vk::AccessFlagBits::eTransferRead);
        image_barrier(cmd, *scene.image, vk::ImageLayout::eShaderReadOnlyOptimal, vk::ImageLayout::eTransferSrcOptimal,
                      vk::PipelineStageFlagBits::eComputeShader, vk::AccessFlagBits::eShaderRead, vk::PipelineStageFlagBits::eTransfer,
                      vk::AccessFlagBits::eTransferRead);
        vk::BufferImageCopy region(0, 0, 0, vk::ImageSubresourceLayers(vk::ImageAspectFlagBits::eColor, 0, 0, 1), {0, 0, 0},
                                   {width, height, 1});
        cmd.copyImageToBuffer(*filtered.image, vk::ImageLayout::eTransferSrcOptimal, *filtered_readback.buffer, region);
        cmd.copyImageToBuffer(*scene.image, vk::ImageLayout::eTransferSrcOptimal, *scene_readback.buffer, region);
        vk::MemoryBarrier to_host(vk::AccessFlagBits::eTransferWrite, vk::AccessFlagBits::eHostRead);
        cmd.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer, vk::PipelineStageFlagBits::eHost, {}, to_host, {}, {});
        cmd.end();

        vk::raii::Fence fence(device, vk::FenceCreateInfo());
        queue.submit(vk::SubmitInfo({}, {}, cmd), *fence);
        rec.retire_after(*fence);  // vkconv frees its descriptor sets once the fence is signalled
        if (device.waitForFences(*fence, true, UINT64_MAX) != vk::Result::eSuccess) throw std::runtime_error("fence wait failed");
        ctx.collect_retired();
        std::printf("one submission: render pass, %s, %s; vkconv submitted %llu of its own\n", "image->tensor, conv2d, tensor->image",
                    "copies out", static_cast<unsigned long long>(ctx.submissions()));

        auto save = [&](const std::string& path, const void* rgba) {
            vkconv::Image8 img{int(width), int(height), 3, std::vector<uint8_t>(size_t(width) * height * 3)};
            const auto* p = static_cast<const uint8_t*>(rgba);
            for (size_t i = 0; i < size_t(width) * height; ++i)
                for (int c = 0; c < 3; ++c) img.pixels[i * 3 + size_t(c)] = p[i * 4 + size_t(c)];
            vkconv::save_png(path, img);
            std::printf("wrote %s (%ux%u)\n", path.c_str(), width, height);
        };
        save(output, filtered_readback.mapped);
        if (!scene_png.empty()) save(scene_png, scene_readback.mapped);

        int status = 0;
        if (check) {
            // The same pipeline on the CPU from the rendered bytes: UNORM decode, the Conv2d
            // reference, tensor->image reference, UNORM encode; 1 LSB tolerance (the fp32 GPU
            // convolution differs from the double reference by far less than one 8-bit step, but
            // a value near a rounding boundary may round the other way).
            const auto* sp = static_cast<const uint8_t*>(scene_readback.mapped);
            std::vector<float> rgba(size_t(width) * height * 4);
            for (size_t i = 0; i < rgba.size(); ++i) rgba[i] = sp[i] / 255.0f;
            const auto xs = vkconv::image_to_tensor_reference(rgba, height, width, 3);
            const vkconv::Shape shape{1, 3, height, width};
            const auto ys = vkconv::conv2d_reference(filter.params, shape, xs, filter.weight, {});
            const auto out = vkconv::tensor_to_image_reference(ys, filter.params.out_channels, height, width, filter.to_image);
            const auto* fp = static_cast<const uint8_t*>(filtered_readback.mapped);
            int worst = 0;
            for (size_t i = 0; i < out.size(); ++i) {
                const int want = static_cast<int>(std::lround(std::clamp(out[i], 0.0f, 1.0f) * 255.0f));
                worst = std::max(worst, std::abs(want - int(fp[i])));
            }
            std::printf("check against the CPU reference: max difference %d LSB (tolerance 1)\n", worst);
            if (worst > 1) status = 1;
        }
        if (validation) {
            std::lock_guard lock(g_messages_mutex);
            std::printf("validation messages: %zu\n", g_messages.size());
            if (!g_messages.empty()) status = 1;
        }
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "embed_postprocess: %s\n", e.what());
        return 1;
    }
}
