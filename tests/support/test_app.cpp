#include "support/test_app.h"

#include <cstring>
#include <stdexcept>

namespace vkconv::test {

VKAPI_ATTR VkBool32 VKAPI_CALL App::on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
                                               const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    auto* self = static_cast<App*>(user);
    std::lock_guard lock(self->mutex_);
    self->messages_.push_back(std::string((severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error: " : "warning: ") +
                              (data && data->pMessage ? data->pMessage : ""));
    return VK_FALSE;
}

App::App() {
    vk::ApplicationInfo app_info("vkconv-test-app", 1, nullptr, 0, VK_API_VERSION_1_3);
    const char* layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    vk::ValidationFeatureEnableEXT enables[] = {vk::ValidationFeatureEnableEXT::eSynchronizationValidation};
    vk::ValidationFeaturesEXT features(enables, {});
    vk::InstanceCreateInfo ci({}, &app_info, layers, extensions);
    ci.pNext = &features;
    instance = vk::raii::Instance(context, ci);
    messenger = vk::raii::DebugUtilsMessengerEXT(
        instance, vk::DebugUtilsMessengerCreateInfoEXT(
                      {}, vk::DebugUtilsMessageSeverityFlagBitsEXT::eWarning | vk::DebugUtilsMessageSeverityFlagBitsEXT::eError,
                      vk::DebugUtilsMessageTypeFlagBitsEXT::eValidation | vk::DebugUtilsMessageTypeFlagBitsEXT::eGeneral,
                      &App::on_message, this));
    vk::raii::PhysicalDevices pds(instance);
    if (pds.empty()) throw std::runtime_error("no Vulkan device");
    physical_device = std::move(pds[0]);
    const auto families = physical_device.getQueueFamilyProperties();
    const auto want = vk::QueueFlagBits::eGraphics | vk::QueueFlagBits::eCompute;
    bool found = false;
    for (uint32_t i = 0; i < families.size() && !found; ++i)
        if ((families[i].queueFlags & want) == want) queue_family = i, found = true;
    if (!found) throw std::runtime_error("no graphics+compute queue family");
    const float priority = 1.0f;
    vk::DeviceQueueCreateInfo qi({}, queue_family, 1, &priority);
    vk::PhysicalDeviceVulkan12Features f12;
    f12.timelineSemaphore = true;
    vk::DeviceCreateInfo di({}, qi, {}, {});
    di.pNext = &f12;
    device = vk::raii::Device(physical_device, di);
    queue = device.getQueue(queue_family, 0);
    pool = vk::raii::CommandPool(device, vk::CommandPoolCreateInfo(vk::CommandPoolCreateFlagBits::eResetCommandBuffer, queue_family));
}

App::~App() = default;

BorrowedDevice App::borrowed() const {
    BorrowedDevice b;
    b.instance = static_cast<VkInstance>(*instance);
    b.physical_device = static_cast<VkPhysicalDevice>(*physical_device);
    b.device = static_cast<VkDevice>(*device);
    b.queue_family = queue_family;
    b.queue_index = 0;
    b.instance_api_version = VK_API_VERSION_1_3;
    b.debug_utils_enabled = true;
    return b;
}

std::vector<std::string> App::messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

void App::run(const std::function<void(vk::CommandBuffer)>& record) {
    vk::raii::CommandBuffers cbs(device, vk::CommandBufferAllocateInfo(*pool, vk::CommandBufferLevel::ePrimary, 1));
    auto& cb = cbs[0];
    cb.begin(vk::CommandBufferBeginInfo(vk::CommandBufferUsageFlagBits::eOneTimeSubmit));
    record(*cb);
    cb.end();
    vk::raii::Fence fence(device, vk::FenceCreateInfo());
    vk::CommandBuffer h = *cb;
    queue.submit(vk::SubmitInfo({}, {}, h), *fence);
    if (device.waitForFences(*fence, true, UINT64_MAX) != vk::Result::eSuccess) throw std::runtime_error("fence wait failed");
}

uint32_t App::memory_type(uint32_t bits, vk::MemoryPropertyFlags flags) const {
    const auto mem = physical_device.getMemoryProperties();
    for (uint32_t t = 0; t < mem.memoryTypeCount; ++t)
        if ((bits & (1u << t)) && (mem.memoryTypes[t].propertyFlags & flags) == flags) return t;
    throw std::runtime_error("no suitable memory type");
}

App::HostBuffer App::make_buffer(uint64_t bytes) {
    HostBuffer b;
    b.size = bytes;
    b.buffer = vk::raii::Buffer(device, vk::BufferCreateInfo({}, bytes,
                                                             vk::BufferUsageFlagBits::eStorageBuffer | vk::BufferUsageFlagBits::eTransferSrc |
                                                                 vk::BufferUsageFlagBits::eTransferDst));
    const auto req = b.buffer.getMemoryRequirements();
    b.memory = vk::raii::DeviceMemory(device, vk::MemoryAllocateInfo(req.size, memory_type(req.memoryTypeBits,
                                                                                       vk::MemoryPropertyFlagBits::eHostVisible |
                                                                                           vk::MemoryPropertyFlagBits::eHostCoherent)));
    b.buffer.bindMemory(*b.memory, 0);
    b.mapped = b.memory.mapMemory(0, VK_WHOLE_SIZE);
    return b;
}

namespace {
uint32_t texel_bytes(vk::Format f) {
    switch (f) {
        case vk::Format::eR8G8B8A8Unorm:
        case vk::Format::eR8G8B8A8Srgb: return 4;
        case vk::Format::eR16G16B16A16Sfloat: return 8;
        case vk::Format::eR32G32B32A32Sfloat: return 16;
        default: throw std::runtime_error("test App: unsupported format " + vk::to_string(f));
    }
}
}  // namespace

App::Image App::make_image(vk::Format format, uint32_t width, uint32_t height, bool storage, vk::Format view_format) {
    Image img;
    img.format = format;
    img.view_format = view_format == vk::Format::eUndefined ? format : view_format;
    img.width = width;
    img.height = height;
    img.texel_bytes = texel_bytes(format);
    vk::ImageUsageFlags usage = vk::ImageUsageFlagBits::eSampled | vk::ImageUsageFlagBits::eTransferSrc |
                                vk::ImageUsageFlagBits::eTransferDst;
    if (storage) usage |= vk::ImageUsageFlagBits::eStorage;
    // A view of another format (an sRGB image written through a UNORM storage view) needs
    // MUTABLE_FORMAT, and EXTENDED_USAGE so that storage usage is checked against the views.
    vk::ImageCreateInfo ci(img.view_format != format ? vk::ImageCreateFlagBits::eMutableFormat | vk::ImageCreateFlagBits::eExtendedUsage
                                                     : vk::ImageCreateFlags{},
                           vk::ImageType::e2D, format, vk::Extent3D(width, height, 1), 1, 1, vk::SampleCountFlagBits::e1,
                           vk::ImageTiling::eOptimal, usage);
    img.image = vk::raii::Image(device, ci);
    const auto req = img.image.getMemoryRequirements();
    img.memory = vk::raii::DeviceMemory(device, vk::MemoryAllocateInfo(req.size, memory_type(req.memoryTypeBits, {})));
    img.image.bindMemory(*img.memory, 0);
    img.view = vk::raii::ImageView(device, vk::ImageViewCreateInfo({}, *img.image, vk::ImageViewType::e2D, img.view_format, {},
                                                                   vk::ImageSubresourceRange(vk::ImageAspectFlagBits::eColor, 0, 1, 0, 1)));
    return img;
}

void App::transition(vk::CommandBuffer cmd, vk::Image image, vk::ImageLayout from, vk::ImageLayout to) {
    const auto all = vk::AccessFlagBits::eMemoryRead | vk::AccessFlagBits::eMemoryWrite;
    vk::ImageMemoryBarrier b(all, all, from, to, VK_QUEUE_FAMILY_IGNORED, VK_QUEUE_FAMILY_IGNORED, image,
                             vk::ImageSubresourceRange(vk::ImageAspectFlagBits::eColor, 0, 1, 0, 1));
    cmd.pipelineBarrier(vk::PipelineStageFlagBits::eAllCommands, vk::PipelineStageFlagBits::eAllCommands, {}, {}, {}, b);
}

void App::upload_image(const Image& image, std::span<const std::byte> bytes, vk::ImageLayout layout) {
    const uint64_t size = uint64_t(image.width) * image.height * image.texel_bytes;
    if (bytes.size() != size) throw std::runtime_error("upload_image: wrong byte count");
    auto staging = make_buffer(size);
    std::memcpy(staging.mapped, bytes.data(), size);
    run([&](vk::CommandBuffer cmd) {
        transition(cmd, *image.image, vk::ImageLayout::eUndefined, vk::ImageLayout::eTransferDstOptimal);
        vk::BufferImageCopy region(0, 0, 0, vk::ImageSubresourceLayers(vk::ImageAspectFlagBits::eColor, 0, 0, 1), {0, 0, 0},
                                   {image.width, image.height, 1});
        cmd.copyBufferToImage(*staging.buffer, *image.image, vk::ImageLayout::eTransferDstOptimal, region);
        transition(cmd, *image.image, vk::ImageLayout::eTransferDstOptimal, layout);
    });
}

std::vector<std::byte> App::download_image(const Image& image, vk::ImageLayout layout) {
    const uint64_t size = uint64_t(image.width) * image.height * image.texel_bytes;
    auto staging = make_buffer(size);
    run([&](vk::CommandBuffer cmd) {
        transition(cmd, *image.image, layout, vk::ImageLayout::eTransferSrcOptimal);
        vk::BufferImageCopy region(0, 0, 0, vk::ImageSubresourceLayers(vk::ImageAspectFlagBits::eColor, 0, 0, 1), {0, 0, 0},
                                   {image.width, image.height, 1});
        cmd.copyImageToBuffer(*image.image, vk::ImageLayout::eTransferSrcOptimal, *staging.buffer, region);
        transition(cmd, *image.image, vk::ImageLayout::eTransferSrcOptimal, layout);
        vk::MemoryBarrier host(vk::AccessFlagBits::eTransferWrite, vk::AccessFlagBits::eHostRead);
        cmd.pipelineBarrier(vk::PipelineStageFlagBits::eTransfer, vk::PipelineStageFlagBits::eHost, {}, host, {}, {});
    });
    std::vector<std::byte> out(size);
    std::memcpy(out.data(), staging.mapped, size);
    return out;
}

}  // namespace vkconv::test
