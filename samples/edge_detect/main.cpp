// edge_detect: the tutorials' fixed convolution kernels on a picture, with PyTorch's padding
// modes. The image is turned to grey (ITU-R BT.601 weights), convolved by one Conv2d(1, k, 3)
// whose weights are set by hand, and the response magnitude is written as a PNG.
//   edge_detect --input photo.png --kernel sobel --padding-mode reflect --output edges.png
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "vkconv/vkconv.h"

int main(int argc, char** argv) {
    using namespace vkconv;
    CLI::App app{"Edge detection with fixed 3x3 kernels on the GPU (vkconv)"};
    std::string input, output = "edges.png", kernel = "laplacian", mode = "reflect", device;
    app.add_option("--input", input, "PNG image (default: a built-in test pattern)");
    app.add_option("--output", output, "PNG to write")->capture_default_str();
    app.add_option("--kernel", kernel, "laplacian | sobel | prewitt | sobel-x | sobel-y | prewitt-x | prewitt-y")->capture_default_str();
    app.add_option("--padding-mode", mode, "zeros | reflect | replicate | circular")->capture_default_str();
    app.add_option("--device", device, "Vulkan device index or name substring");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    // The tutorials' kernels; "sobel"/"prewitt" combine the x and y responses as a magnitude.
    const std::map<std::string, std::vector<float>> kernels = {
        {"laplacian", {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
        {"sobel-x", {1, 0, -1, 2, 0, -2, 1, 0, -1}},
        {"sobel-y", {1, 2, 1, 0, 0, 0, -1, -2, -1}},
        {"prewitt-x", {1, 0, -1, 1, 0, -1, 1, 0, -1}},
        {"prewitt-y", {1, 1, 1, 0, 0, 0, -1, -1, -1}},
    };
    try {
        std::vector<float> weights;
        if (kernel == "sobel" || kernel == "prewitt") {
            weights = kernels.at(kernel + "-x");
            const auto& y = kernels.at(kernel + "-y");
            weights.insert(weights.end(), y.begin(), y.end());
        } else if (kernels.count(kernel)) {
            weights = kernels.at(kernel);
        } else {
            throw Error("--kernel must be one of laplacian, sobel, prewitt, sobel-x, sobel-y, prewitt-x, prewitt-y, but got '" + kernel + "'");
        }
        const int outputs = static_cast<int>(weights.size() / 9);

        HostArray rgb;
        if (input.empty()) {  // concentric rings and a square: edges in every direction
            rgb.shape = {3, 128, 128};
            rgb.data.resize(3 * 128 * 128);
            for (int y = 0; y < 128; ++y)
                for (int x = 0; x < 128; ++x) {
                    const float r = std::hypot(x - 64.0f, y - 64.0f);
                    float v = (static_cast<int>(r / 10) % 2) ? 0.85f : 0.2f;
                    if (x > 90 && x < 120 && y > 8 && y < 38) v = 1.0f;
                    for (int c = 0; c < 3; ++c) rgb.data[(c * 128 + y) * 128 + x] = v;
                }
        } else {
            rgb = load_image(input);
        }
        const int64_t h = rgb.shape[1], w = rgb.shape[2];
        std::vector<float> grey(static_cast<size_t>(h * w));
        for (int64_t i = 0; i < h * w; ++i)
            grey[static_cast<size_t>(i)] = 0.299f * rgb.data[i] + 0.587f * rgb.data[h * w + i] + 0.114f * rgb.data[2 * h * w + i];

        ContextOptions co;
        co.device = device;
        Context ctx(co);
        Conv2d conv(ctx, 1, outputs, 3, {.padding = 1, .bias = false, .padding_mode = parse_padding_mode(mode)});
        conv.set_weight(weights);
        const auto y = conv.forward(Tensor::from_host(ctx, {1, 1, h, w}, grey)).to_host();

        HostArray out;
        out.shape = {1, h, w};
        out.data.resize(static_cast<size_t>(h * w));
        for (int64_t i = 0; i < h * w; ++i) {
            double m = 0;
            for (int k = 0; k < outputs; ++k) m += double(y[k * h * w + i]) * y[k * h * w + i];
            out.data[static_cast<size_t>(i)] = static_cast<float>(std::sqrt(m));
        }
        // A fixed scale per kernel (the largest response an input in [0, 1] can give), so that
        // pictures made with different padding modes compare pixel for pixel.
        float positive = 0;
        for (int i = 0; i < 9; ++i) positive += std::max(weights[i], 0.0f);
        const float scale = positive * std::sqrt(static_cast<float>(outputs));
        const float peak = *std::max_element(out.data.begin(), out.data.end());
        for (auto& v : out.data) v /= scale;
        save_png(output, to_image8(out));
        std::printf("%s: %s, %lldx%lld, kernel %s, padding_mode=%s -> %s (peak response %.3f of %.3f)\n", argv[0], conv.repr().c_str(),
                    static_cast<long long>(w), static_cast<long long>(h), kernel.c_str(), mode.c_str(), output.c_str(), peak, scale);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}
