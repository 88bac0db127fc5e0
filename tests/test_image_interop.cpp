// Image <-> tensor conversions (shaders/image_sampled_to_tensor.comp, image_storage_*.comp)
// against their CPU references, for RGBA8 UNORM, RGBA8 SRGB, RGBA16F and RGBA32F images, through
// sampled and storage access, 1/3/4 channels, odd sizes, a batch index, scale and bias. Runs on
// a stand-in application's device (tests/support/test_app.h) with synchronization validation on.
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include <glm/gtc/packing.hpp>

#include "support/test_app.h"
#include "support/test_support.h"

namespace vkconv::test {
namespace {

enum class Fmt { Unorm8, Srgb8, Half, Float };

const char* name(Fmt f) {
    switch (f) {
        case Fmt::Unorm8: return "rgba8_unorm";
        case Fmt::Srgb8: return "rgba8_srgb";
        case Fmt::Half: return "rgba16f";
        case Fmt::Float: return "rgba32f";
    }
    return "?";
}

vk::Format vk_format(Fmt f) {
    switch (f) {
        case Fmt::Unorm8: return vk::Format::eR8G8B8A8Unorm;
        case Fmt::Srgb8: return vk::Format::eR8G8B8A8Srgb;
        case Fmt::Half: return vk::Format::eR16G16B16A16Sfloat;
        case Fmt::Float: return vk::Format::eR32G32B32A32Sfloat;
    }
    return vk::Format::eUndefined;
}

struct Case {
    Fmt format;
    ImageAccess access;
    int channels;
    uint32_t width, height;
    bool encode_srgb = false;  // tensor -> image into an sRGB image through a UNORM view
};

std::string describe(const Case& c) {
    std::ostringstream o;
    o << name(c.format) << (c.access == ImageAccess::Sampled ? " sampled" : " storage") << " channels=" << c.channels << " "
      << c.width << "x" << c.height << (c.encode_srgb ? " encode_srgb" : "");
    return o.str();
}

void PrintTo(const Case& c, std::ostream* os) { *os << describe(c); }

// Random texels as bytes, and the values a shader reads from them (decoded to float).
void make_pixels(Fmt f, size_t texels, uint64_t seed, std::vector<std::byte>& bytes, std::vector<float>& decoded) {
    const auto r = random_values(texels * 4, seed);
    decoded.resize(texels * 4);
    switch (f) {
        case Fmt::Unorm8:
        case Fmt::Srgb8: {
            bytes.resize(texels * 4);
            for (size_t i = 0; i < texels * 4; ++i) {
                const auto b = static_cast<uint8_t>(std::lround((r[i] + 1.0f) * 127.5f));
                bytes[i] = std::byte{b};
                decoded[i] = f == Fmt::Srgb8 && i % 4 != 3 ? srgb_to_linear(b / 255.0f) : b / 255.0f;
            }
            break;
        }
        case Fmt::Half: {
            bytes.resize(texels * 8);
            for (size_t i = 0; i < texels * 4; ++i) {
                decoded[i] = std::round(r[i] * 256.0f) / 64.0f;  // multiples of 1/64 in [-4, 4]: exact in fp16
                const uint16_t h = glm::packHalf1x16(decoded[i]);
                std::memcpy(&bytes[i * 2], &h, 2);
            }
            break;
        }
        case Fmt::Float: {
            bytes.resize(texels * 16);
            for (size_t i = 0; i < texels * 4; ++i) decoded[i] = r[i] * 3.0f;
            std::memcpy(bytes.data(), decoded.data(), bytes.size());
            break;
        }
    }
}

class ImageToTensor : public ::testing::TestWithParam<Case> {};

TEST_P(ImageToTensor, MatchesReference) {
    const Case c = GetParam();
    SCOPED_TRACE(describe(c));
    App app;
    {
        Context ctx(app.borrowed());
        const bool storage = c.access == ImageAccess::Storage;
        auto image = app.make_image(vk_format(c.format), c.width, c.height, storage);
        std::vector<std::byte> bytes;
        std::vector<float> pixels;
        make_pixels(c.format, size_t(c.width) * c.height, c.width * 31 + c.height, bytes, pixels);
        const auto layout = storage ? vk::ImageLayout::eGeneral : vk::ImageLayout::eShaderReadOnlyOptimal;
        app.upload_image(image, bytes, layout);

        ImageToTensorOptions o;
        o.scale = {2.0f, 0.5f, -1.0f, 1.0f};
        o.bias = {0.25f, -1.0f, 0.0f, 3.0f};
        o.batch_index = 1;
        const Shape shape{2, c.channels, c.height, c.width};
        const Tensor t = Tensor::zeros(ctx, shape);
        CommandRecorder rec(ctx);
        record_image_to_tensor(rec, image.ref(layout, c.access), t, o);
        rec.submit_and_wait();
        const auto got = t.to_host();
        const auto want = image_to_tensor_reference(pixels, c.height, c.width, c.channels, o);
        const size_t plane = want.size();
        // Image 0 of the batch is untouched.
        for (size_t i = 0; i < plane; ++i) ASSERT_EQ(got[i], 0.0f) << "batch 0 written at " << i;
        // Tolerance: one fp32 multiply-add (2 roundings) relative to the value; for sRGB also the
        // hardware's decode, which Vulkan does not require to be exact (implementations use
        // approximations: lavapipe's differs from the IEC 61966-2-1 function by up to 1.2e-3),
        // so 1.5e-3 per unit of |scale|.
        std::vector<float> tol(plane);
        for (size_t i = 0; i < plane; ++i) {
            const float s = std::fabs(o.scale[i / (plane / static_cast<size_t>(c.channels))]);
            tol[i] = 4e-7f * (std::fabs(want[i]) + 4.0f) + (c.format == Fmt::Srgb8 ? 1.5e-3f * s : 0.0f);
        }
        EXPECT_TRUE(all_close(std::span(got).subspan(plane), want, tol));
    }
    app.destroy_device();
    EXPECT_THAT(app.messages(), ::testing::IsEmpty());
}

std::vector<Case> image_to_tensor_cases() {
    std::vector<Case> out;
    const std::pair<Fmt, ImageAccess> fa[] = {
        {Fmt::Unorm8, ImageAccess::Sampled}, {Fmt::Unorm8, ImageAccess::Storage}, {Fmt::Srgb8, ImageAccess::Sampled},
        {Fmt::Half, ImageAccess::Sampled},   {Fmt::Half, ImageAccess::Storage},   {Fmt::Float, ImageAccess::Sampled},
        {Fmt::Float, ImageAccess::Storage}};
    for (auto [f, a] : fa)
        for (int ch : {1, 3, 4})
            for (auto [w, h] : {std::pair<uint32_t, uint32_t>{5, 3}, {19, 10}}) out.push_back({f, a, ch, w, h});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Formats, ImageToTensor, ::testing::ValuesIn(image_to_tensor_cases()),
                         [](const auto& info) {
                             std::string s = describe(info.param);
                             for (char& ch : s)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return s;
                         });

class TensorToImage : public ::testing::TestWithParam<Case> {};

TEST_P(TensorToImage, MatchesReference) {
    const Case c = GetParam();
    SCOPED_TRACE(describe(c));
    App app;
    {
        Context ctx(app.borrowed());
        const vk::Format image_format = c.encode_srgb ? vk::Format::eR8G8B8A8Srgb : vk_format(c.format);
        auto image = app.make_image(image_format, c.width, c.height, true, vk_format(c.format));
        const auto layout = vk::ImageLayout::eGeneral;
        app.run([&](vk::CommandBuffer cmd) { App::transition(cmd, *image.image, vk::ImageLayout::eUndefined, layout); });

        const size_t plane = size_t(c.channels) * c.height * c.width;
        auto values = random_values(2 * plane, c.width * 7 + c.channels);
        for (auto& v : values) v = v * 0.75f + 0.5f;  // [-0.25, 1.25): some clamp at both ends
        values[plane + 1] = std::numeric_limits<float>::quiet_NaN();
        values[plane + 2] = std::numeric_limits<float>::infinity();
        values[plane + 3] = -std::numeric_limits<float>::infinity();
        TensorToImageOptions o;
        o.scale = {1.0f, 0.5f, 2.0f, 1.0f};
        o.bias = {0.0f, 0.25f, -0.5f, 0.0f};
        o.batch_index = 1;
        o.encode_srgb = c.encode_srgb;
        const Tensor t = Tensor::from_host(ctx, {2, c.channels, c.height, c.width}, values);
        CommandRecorder rec(ctx);
        record_tensor_to_image(rec, t, image.ref(layout, ImageAccess::Storage), o);
        rec.submit_and_wait();
        const auto bytes = app.download_image(image, layout);
        const auto want = tensor_to_image_reference(std::span(values).subspan(plane), c.channels, c.height, c.width, o);
        for (size_t i = 0; i < want.size(); ++i) {
            float got = 0, expect = want[i], tol = 0;
            if (c.format == Fmt::Unorm8) {
                // UNORM8: round(clamp(v) * 255); Vulkan allows the conversion to be off by one
                // step, so the tolerance is 1 LSB.
                got = static_cast<float>(static_cast<uint8_t>(bytes[i]));
                expect = std::round(std::clamp(want[i], 0.0f, 1.0f) * 255.0f);
                tol = 1.0f;
            } else if (c.format == Fmt::Half) {
                uint16_t h;
                std::memcpy(&h, &bytes[i * 2], 2);
                got = glm::unpackHalf1x16(h);
                // fp16 keeps 11 significant bits; either rounding direction: 1 ULP = |v| * 2^-10.
                tol = std::isinf(expect) ? 0.0f : std::fabs(expect) * 0x1p-10f + 0x1p-24f;
            } else {
                std::memcpy(&got, &bytes[i * 4], 4);
                tol = std::isinf(expect) ? 0.0f : std::fabs(expect) * 4e-7f + 1e-7f;  // one multiply-add
            }
            if (std::isinf(expect)) {
                ASSERT_EQ(got, expect) << "texel component " << i;
            } else {
                ASSERT_NEAR(got, expect, tol) << "texel component " << i << " (x=" << (i / 4) % c.width
                                              << ", y=" << i / 4 / c.width << ", c=" << i % 4 << ")";
            }
        }
    }
    app.destroy_device();
    EXPECT_THAT(app.messages(), ::testing::IsEmpty());
}

std::vector<Case> tensor_to_image_cases() {
    std::vector<Case> out;
    for (Fmt f : {Fmt::Unorm8, Fmt::Half, Fmt::Float})
        for (int ch : {1, 3, 4})
            for (auto [w, h] : {std::pair<uint32_t, uint32_t>{5, 3}, {19, 10}}) out.push_back({f, ImageAccess::Storage, ch, w, h});
    for (int ch : {1, 3, 4}) out.push_back({Fmt::Unorm8, ImageAccess::Storage, ch, 13, 6, true});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Formats, TensorToImage, ::testing::ValuesIn(tensor_to_image_cases()),
                         [](const auto& info) {
                             std::string s = describe(info.param);
                             for (char& ch : s)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return s;
                         });

TEST(ImageInterop, ErrorsNameTheParameter) {
    App app;
    {
        Context ctx(app.borrowed());
        auto image = app.make_image(vk::Format::eR8G8B8A8Unorm, 8, 4, true);
        const auto ref = image.ref(vk::ImageLayout::eGeneral, ImageAccess::Storage);
        CommandRecorder rec(ctx);
        expect_error([&] { record_image_to_tensor(rec, ref, Tensor(ctx, {1, 3, 4, 7})); }, {"does not match the image", "W = 8"});
        expect_error([&] { record_image_to_tensor(rec, ref, Tensor(ctx, {1, 5, 4, 8})); }, {"channels (dim 1) must be 1 to 4"});
        expect_error([&] { record_image_to_tensor(rec, ref, Tensor(ctx, {3, 4, 8})); }, {"expected a 4-D tensor"});
        ImageToTensorOptions o;
        o.batch_index = 2;
        expect_error([&] { record_image_to_tensor(rec, ref, Tensor(ctx, {2, 3, 4, 8}), o); }, {"batch_index 2 is out of range"});
        auto srgb = app.make_image(vk::Format::eR8G8B8A8Srgb, 8, 4, false);
        expect_error([&] { record_image_to_tensor(rec, srgb.ref(vk::ImageLayout::eGeneral, ImageAccess::Storage), Tensor(ctx, {1, 3, 4, 8})); },
                     {"storage access reads", "ImageAccess::Sampled"});
        expect_error([&] { record_tensor_to_image(rec, Tensor(ctx, {1, 3, 4, 8}), srgb.ref(vk::ImageLayout::eGeneral, ImageAccess::Sampled)); },
                     {"image.access must be ImageAccess::Storage"});
        auto half = app.make_image(vk::Format::eR16G16B16A16Sfloat, 8, 4, true);
        TensorToImageOptions to;
        to.encode_srgb = true;
        expect_error([&] { record_tensor_to_image(rec, Tensor(ctx, {1, 3, 4, 8}), half.ref(vk::ImageLayout::eGeneral, ImageAccess::Storage), to); },
                     {"encode_srgb needs an R8G8B8A8_UNORM view"});
        expect_error([&] { (void)ImageToTensorOptions::normalize({0, 0, 0, 0}, {1, 0, 1, 1}); }, {"std[1] must be positive"});
        EXPECT_EQ(rec.dispatch_count(), 0u) << "a refused conversion recorded work";
    }
    app.destroy_device();
    EXPECT_THAT(app.messages(), ::testing::IsEmpty());
}

TEST(ImageInterop, NormalizeIsTorchvisionsNormalize) {
    const auto o = ImageToTensorOptions::normalize({0.485f, 0.456f, 0.406f, 0}, {0.229f, 0.224f, 0.225f, 1});
    const std::vector<float> px = {0.5f, 0.25f, 1.0f, 1.0f};
    const auto t = image_to_tensor_reference(px, 1, 1, 3, o);
    EXPECT_NEAR(t[0], (0.5f - 0.485f) / 0.229f, 1e-6f);
    EXPECT_NEAR(t[1], (0.25f - 0.456f) / 0.224f, 1e-6f);
    EXPECT_NEAR(t[2], (1.0f - 0.406f) / 0.225f, 1e-6f);
}

}  // namespace
}  // namespace vkconv::test
