// A stand-in for an application that embeds vkconv (tests of issue 5's embedding API): its own
// instance with the validation layer and synchronization validation, its own debug messenger,
// a device with one graphics+compute queue (timeline semaphores on), a command pool, and
// helpers to make buffers and images and to move bytes in and out of them. It records every
// validation message; embedding tests fail on any.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <vulkan/vulkan_raii.hpp>

#include "vkconv/interop.h"

namespace vkconv::test {

class App {
public:
    App();
    ~App();
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    // The handles as vkconv borrows them (debug_utils_enabled set: vkconv adds its messenger).
    BorrowedDevice borrowed() const;
    std::vector<std::string> messages() const;

    // Records with `record` into a one-time command buffer, submits it and waits.
    void run(const std::function<void(vk::CommandBuffer)>& record);

    struct HostBuffer {
        vk::raii::Buffer buffer{nullptr};
        vk::raii::DeviceMemory memory{nullptr};
        void* mapped = nullptr;
        uint64_t size = 0;
    };
    // Host-visible, coherent, mapped; storage + transfer usage.
    HostBuffer make_buffer(uint64_t bytes);

    struct Image {
        vk::raii::Image image{nullptr};
        vk::raii::DeviceMemory memory{nullptr};
        vk::raii::ImageView view{nullptr};
        vk::Format format = vk::Format::eUndefined;       // the image's format
        vk::Format view_format = vk::Format::eUndefined;  // the view's
        uint32_t width = 0, height = 0;
        uint32_t texel_bytes = 0;
        ImageRef ref(vk::ImageLayout layout, ImageAccess access) const {
            return ImageRef{*view, view_format, width, height, layout, access};
        }
    };
    // An optimal-tiling 2-D image (sampled, storage where `storage`, transfer src/dst) in
    // UNDEFINED layout; `view_format` other than `format` makes it MUTABLE_FORMAT.
    Image make_image(vk::Format format, uint32_t width, uint32_t height, bool storage,
                     vk::Format view_format = vk::Format::eUndefined);
    // Copies `bytes` (width*height texels) into the image, leaving it in `layout`.
    void upload_image(const Image& image, std::span<const std::byte> bytes, vk::ImageLayout layout);
    // The image's texels; it must be in `layout`, and is left in it.
    std::vector<std::byte> download_image(const Image& image, vk::ImageLayout layout);
    // Destroys the device (the messenger stays, so messages about objects left alive on the
    // device, reported at vkDestroyDevice, are recorded).
    void destroy_device() {
        pool.clear();
        queue = vk::raii::Queue(nullptr);
        device.clear();
    }
    // Records a layout transition of the whole image with a full barrier around it.
    static void transition(vk::CommandBuffer cmd, vk::Image image, vk::ImageLayout from, vk::ImageLayout to);

    vk::raii::Context context;
    vk::raii::Instance instance{nullptr};
    vk::raii::DebugUtilsMessengerEXT messenger{nullptr};
    vk::raii::PhysicalDevice physical_device{nullptr};
    uint32_t queue_family = 0;
    vk::raii::Device device{nullptr};
    vk::raii::Queue queue{nullptr};
    vk::raii::CommandPool pool{nullptr};

private:
    static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,
                                                     const VkDebugUtilsMessengerCallbackDataEXT*, void*);
    uint32_t memory_type(uint32_t bits, vk::MemoryPropertyFlags flags) const;
    mutable std::mutex mutex_;
    std::vector<std::string> messages_;
};

}  // namespace vkconv::test
