#include "vkconv/image.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "vkconv/error.h"

#define STBI_NO_STDIO  // decode from memory only: read_file_bytes does the file access
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

namespace vkconv {
namespace {
constexpr int kMaxSide = 16384;
// stb_image allocates its guess of the decompressed size (up to 8 bytes a pixel) from the header
// alone, so a 69-byte file declaring 16384 x 16384 RGBA16 asked for 2 GiB (its int overflowed);
// the result takes 12 bytes a pixel as floats on top. 2^26 pixels bounds both (8192 x 8192).
constexpr int64_t kMaxPixels = int64_t{1} << 26;

// Walks the chunks before stb_image sees the file, for two flaws of stb_image 2.27 (found by
// fuzz/fuzz_png):
// - it grows its buffer for the compressed data to fit the length each IDAT chunk claims before
//   reading the chunk, so a 100-byte file claiming a 1 GiB chunk made it allocate 2 GiB: chunks
//   that run past the end of the file are refused, which bounds that buffer by the file size;
// - a zero-length IDAT before any IDAT data makes it memcpy to its still-null buffer (undefined
//   behaviour): such chunks add no data, so `stripped` gets the file without them.
void check_png_chunks(const std::vector<uint8_t>& bytes, const std::string& name, std::vector<uint8_t>& stripped) {
    std::vector<std::pair<size_t, size_t>> empty_idats;  // [begin, end) of each chunk to drop
    bool idat_data = false;
    size_t pos = 8;  // after the signature
    while (bytes.size() - pos >= 8) {  // length and type; stb_image tolerates a missing CRC
        const uint32_t length = uint32_t{bytes[pos]} << 24 | uint32_t{bytes[pos + 1]} << 16 |
                                uint32_t{bytes[pos + 2]} << 8 | uint32_t{bytes[pos + 3]};
        if (length > bytes.size() - pos - 8)
            throw Error(name + ": corrupt PNG: a chunk of " + std::to_string(length) + " bytes runs past the end of the file");
        const auto type = bytes.begin() + static_cast<std::ptrdiff_t>(pos + 4);
        if (std::equal(type, type + 4, "IEND")) break;  // stb_image reads nothing after IEND
        const size_t begin = pos;
        pos += 8 + length;
        pos += std::min<size_t>(4, bytes.size() - pos);  // the CRC
        if (std::equal(type, type + 4, "IDAT")) {
            if (length == 0 && !idat_data) empty_idats.emplace_back(begin, pos);
            idat_data = idat_data || length > 0;
        }
    }
    if (empty_idats.empty()) return;
    stripped.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(empty_idats.front().first));
    for (size_t i = 0; i < empty_idats.size(); ++i) {
        const size_t next = i + 1 < empty_idats.size() ? empty_idats[i + 1].first : bytes.size();
        stripped.insert(stripped.end(), bytes.begin() + static_cast<std::ptrdiff_t>(empty_idats[i].second),
                        bytes.begin() + static_cast<std::ptrdiff_t>(next));
    }
}
}  // namespace

HostArray decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
    if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw Error(name + ": image file too large");
    // PNG only: one well-understood decoder path for untrusted files.
    static const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() < 8 || !std::equal(kPngMagic, kPngMagic + 8, bytes.begin()))
        throw Error(name + ": not a PNG file (only PNG images are read)");
    std::vector<uint8_t> stripped;
    check_png_chunks(bytes, name, stripped);
    const std::vector<uint8_t>& png = stripped.empty() ? bytes : stripped;
    int w = 0, h = 0, comp = 0;
    const auto* data = png.data();
    const int len = static_cast<int>(png.size());
    // Check the declared size before decoding anything.
    if (!stbi_info_from_memory(data, len, &w, &h, &comp))
        throw Error(name + ": not a readable image (" + std::string(stbi_failure_reason() ? stbi_failure_reason() : "unknown") + ")");
    if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide)
        throw Error(name + ": image size " + std::to_string(w) + "x" + std::to_string(h) + " is outside 1..16384 pixels per side");
    if (int64_t{w} * h > kMaxPixels)
        throw Error(name + ": image size " + std::to_string(w) + "x" + std::to_string(h) + " has more than " +
                    std::to_string(kMaxPixels) + " pixels");
    unsigned char* px = stbi_load_from_memory(data, len, &w, &h, &comp, 3);
    if (!px) throw Error(name + ": cannot decode image (" + std::string(stbi_failure_reason() ? stbi_failure_reason() : "unknown") + ")");
    HostArray out;
    out.shape = {3, h, w};
    out.data.resize(static_cast<size_t>(3) * h * w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                out.data[(static_cast<size_t>(c) * h + y) * w + x] = px[(static_cast<size_t>(y) * w + x) * 3 + c] / 255.0f;
    stbi_image_free(px);
    return out;
}

HostArray load_image(const std::string& path) { return decode_image(read_file_bytes(path), path); }

HostArray resize_bilinear(const HostArray& in, int oh, int ow) {
    if (in.shape.size() != 3) throw Error("resize_bilinear: expected a [C, H, W] array, got " + format_shape(in.shape));
    if (oh <= 0 || ow <= 0) throw Error("resize_bilinear: output size must be positive");
    const int64_t c = in.shape[0], h = in.shape[1], w = in.shape[2];
    HostArray out;
    out.shape = {c, oh, ow};
    out.data.resize(static_cast<size_t>(c * oh * ow));
    auto src = [](int o, int64_t n_in, int n_out, int64_t& i0, int64_t& i1, float& t) {
        float s = (o + 0.5f) * static_cast<float>(n_in) / static_cast<float>(n_out) - 0.5f;
        if (s < 0) s = 0;
        i0 = std::min<int64_t>(static_cast<int64_t>(s), n_in - 1);
        i1 = std::min<int64_t>(i0 + 1, n_in - 1);
        t = s - static_cast<float>(i0);
    };
    for (int y = 0; y < oh; ++y) {
        int64_t y0, y1;
        float ty;
        src(y, h, oh, y0, y1, ty);
        for (int x = 0; x < ow; ++x) {
            int64_t x0, x1;
            float tx;
            src(x, w, ow, x0, x1, tx);
            for (int64_t ch = 0; ch < c; ++ch) {
                const float* p = in.data.data() + ch * h * w;
                const float top = p[y0 * w + x0] * (1 - tx) + p[y0 * w + x1] * tx;
                const float bot = p[y1 * w + x0] * (1 - tx) + p[y1 * w + x1] * tx;
                out.data[static_cast<size_t>((ch * oh + y) * ow + x)] = top * (1 - ty) + bot * ty;
            }
        }
    }
    return out;
}

Image8 to_image8(const HostArray& in) {
    if (in.shape.size() != 3 || (in.shape[0] != 1 && in.shape[0] != 3))
        throw Error("to_image8: expected a [1 or 3, H, W] array, got " + format_shape(in.shape));
    Image8 img;
    img.channels = static_cast<int>(in.shape[0]);
    img.height = static_cast<int>(in.shape[1]);
    img.width = static_cast<int>(in.shape[2]);
    img.pixels.resize(in.data.size());
    const size_t plane = static_cast<size_t>(img.width) * img.height;
    for (size_t i = 0; i < plane; ++i)
        for (int c = 0; c < img.channels; ++c) {
            const float v = std::clamp(in.data[c * plane + i], 0.0f, 1.0f);
            img.pixels[i * img.channels + c] = static_cast<uint8_t>(std::lround(v * 255.0f));
        }
    return img;
}

void save_png(const std::string& path, const Image8& img) {
    if (img.width <= 0 || img.height <= 0 || img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
        throw Error("save_png: " + path + ": image size and pixel count disagree");
    if (!stbi_write_png(path.c_str(), img.width, img.height, img.channels, img.pixels.data(), img.width * img.channels))
        throw Error("cannot write " + path);
}

}  // namespace vkconv
