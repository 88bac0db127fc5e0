#include "common/classifier_sample.h"
#include "common/feature_map.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace samples {
namespace {

using namespace vkconv;

// A 32x32-like test picture drawn in code: a sky gradient, green ground, a red disc (a sun?) and
// a dark vertical bar, so that the feature maps have edges and colours to respond to.
HostArray builtin_image(int64_t h, int64_t w) {
    HostArray img;
    img.shape = {3, h, w};
    img.data.resize(static_cast<size_t>(3 * h * w));
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            const float fy = (y + 0.5f) / h, fx = (x + 0.5f) / w;
            float r = 0.35f + 0.3f * fy, g = 0.55f + 0.25f * fy, b = 0.95f - 0.2f * fy;  // sky
            if (fy > 0.7f) r = 0.2f, g = 0.6f - 0.2f * (fy - 0.7f), b = 0.15f;          // ground
            if ((fx - 0.68f) * (fx - 0.68f) + (fy - 0.32f) * (fy - 0.32f) < 0.03f) r = 0.95f, g = 0.25f, b = 0.1f;
            if (fx > 0.2f && fx < 0.3f && fy > 0.3f) r = g = b = 0.12f;
            img.data[static_cast<size_t>((0 * h + y) * w + x)] = r;
            img.data[static_cast<size_t>((1 * h + y) * w + x)] = g;
            img.data[static_cast<size_t>((2 * h + y) * w + x)] = b;
        }
    return img;
}

// .npy ([C,H,W] or [N,C,H,W], used as is) or PNG (resized to the model's size and normalised
// with mean 0.5, std 0.5 per channel, as the CIFAR-10 tutorials' transforms do).
HostArray load_input(const ClassifierSample& s, const std::string& path, int batch) {
    HostArray x;
    bool normalise = false;
    if (path.empty()) {
        x = builtin_image(s.height, s.width);
        normalise = true;
    } else if (path.size() >= 4 && path.substr(path.size() - 4) == ".npy") {
        x = load_npy(path);
    } else {
        x = load_image(path);
        if (x.shape[1] != s.height || x.shape[2] != s.width) x = resize_bilinear(x, static_cast<int>(s.height), static_cast<int>(s.width));
        normalise = true;
    }
    if (normalise)
        for (auto& v : x.data) v = (v - 0.5f) / 0.5f;
    if (x.shape.size() == 3) x.shape.insert(x.shape.begin(), 1);
    if (x.shape.size() != 4 || x.shape[1] != s.channels || x.shape[2] != s.height || x.shape[3] != s.width)
        throw Error("input " + (path.empty() ? std::string("(built-in)") : path) + " has shape " + shape_str(x.shape) + "; " + s.title +
                    " expects [N, " + std::to_string(s.channels) + ", " + std::to_string(s.height) + ", " + std::to_string(s.width) + "]");
    if (batch > 1 && x.shape[0] == 1) {  // repeat the one sample to make a batch
        const auto one = x.data;
        for (int i = 1; i < batch; ++i) x.data.insert(x.data.end(), one.begin(), one.end());
        x.shape[0] = batch;
    }
    return x;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int run_classifier_sample(const ClassifierSample& s, int argc, char** argv) {
    CLI::App app{s.title + " forward pass on the GPU with vkconv"};
    std::string weights, input, output, feature_dir, device;
    int batch = 1, runs = 20;
    uint64_t seed = 0;
    bool no_fusion = false;
    app.add_option("--weights", weights, "PyTorch state_dict as .safetensors, or a directory of <key>.npy (default: seeded init)");
    app.add_option("--input", input, ".npy [N,C,H,W] / [C,H,W], or a PNG image (default: a built-in test picture)");
    app.add_option("--output", output, "write the logits as .npy");
    app.add_option("--feature-maps", feature_dir, "write each convolution's feature maps as PNG grids into this directory");
    app.add_option("--batch", batch, "repeat a single input to this batch size")->check(CLI::Range(1, 4096));
    app.add_option("--runs", runs, "forward passes to time")->check(CLI::Range(1, 100000));
    app.add_option("--seed", seed, "seed of the default initialisation");
    app.add_option("--device", device, "Vulkan device index or name substring");
    app.add_flag("--no-fusion", no_fusion, "run every layer separately (no BatchNorm folding or ReLU fusion)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        ContextOptions co;
        co.device = device;
        const auto t_start = std::chrono::steady_clock::now();
        Context ctx(co);
        auto model = s.build(ctx);
        model->reset_parameters(seed);
        if (!weights.empty()) model->load_weights(weights);
        model->set_fusion(!no_fusion);
        const HostArray x = load_input(s, input, batch);

        std::printf("device: %s (%s)\n\n%s\n\n", ctx.info().name.c_str(), ctx.info().type.c_str(), model->summary().c_str());
        std::printf("parameters: %lld%s\n", static_cast<long long>(model->parameter_count()),
                    weights.empty() ? " (seeded default initialisation; pass --weights for trained ones)" : (" from " + weights).c_str());
        std::printf("input: %s%s\n\nlayer output shapes:\n", shape_str(x.shape).c_str(),
                    input.empty() ? " (built-in test picture, normalised with mean 0.5, std 0.5)" : (" from " + input).c_str());
        for (const auto& [name, shape] : model->layer_shapes(x.shape)) std::printf("  %-14s %s\n", name.c_str(), shape_str(shape).c_str());

        const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
        std::map<std::string, HostArray> maps;
        const Tensor y = feature_dir.empty() ? model->forward(xt) : model->forward(xt, s.feature_layers, &maps);
        const auto logits = y.to_host();
        const double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
        const int64_t classes = y.shape().back();
        std::printf("\noutput: %s\n", shape_str(y.shape()).c_str());
        const int64_t shown = std::min<int64_t>(y.shape()[0], 4);
        for (int64_t n = 0; n < shown; ++n) {
            std::printf("sample %lld logits:", static_cast<long long>(n));
            const float* l = logits.data() + n * classes;
            for (int64_t k = 0; k < classes; ++k) std::printf(" %.4f", l[k]);
            const auto best = std::max_element(l, l + classes) - l;
            const std::string label = best < static_cast<int64_t>(s.class_names.size()) ? s.class_names[static_cast<size_t>(best)] : "";
            std::printf("\n  predicted class %lld (%s)\n", static_cast<long long>(best), label.c_str());
        }
        if (y.shape()[0] > shown) std::printf("(%lld more samples not shown)\n", static_cast<long long>(y.shape()[0] - shown));
        if (!output.empty()) {
            save_npy(output, HostArray{y.shape(), logits});
            std::printf("logits written to %s\n", output.c_str());
        }
        if (!feature_dir.empty()) {
            std::filesystem::create_directories(feature_dir);
            for (const auto& name : s.feature_layers) {
                const HostArray& m = maps.at(name);
                const Image8 grid = feature_map_grid(m.data.data(), m.shape[1], m.shape[2], m.shape[3], m.shape[2] >= 16 ? 4 : 8);
                const std::string file = feature_dir + "/" + name + ".png";
                save_png(file, grid);
                std::printf("feature maps of %s (%lld channels of %lldx%lld, sample 0) -> %s\n", name.c_str(),
                            static_cast<long long>(m.shape[1]), static_cast<long long>(m.shape[2]), static_cast<long long>(m.shape[3]),
                            file.c_str());
            }
        }

        // Timing: input resident on the device, output left there; each forward is one submission.
        model->forward(xt);  // warm-up (plan and pipelines exist already)
        std::vector<double> ms;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            model->forward(xt);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        const auto st = model->last_forward_stats();
        std::printf("\nfirst forward pass, from making the context (pipelines built, or loaded from the pipeline cache): %.1f ms; "
                    "pipeline cache: %s%s%s\n",
                    first_ms, ctx.pipeline_cache_status().c_str(), ctx.pipeline_cache_path().empty() ? "" : " at ",
                    ctx.pipeline_cache_path().c_str());
        std::printf("\ntime per forward pass (batch %lld): median %.3f ms over %d runs (min %.3f ms)\n",
                    static_cast<long long>(x.shape[0]), median(ms), runs, *std::min_element(ms.begin(), ms.end()));
        std::printf("per forward: %llu submission(s), %llu host transfer(s), %u dispatches; %u intermediate buffers, %.1f KiB\n",
                    static_cast<unsigned long long>(st.submissions), static_cast<unsigned long long>(st.host_transfers), st.dispatches,
                    st.plan_buffers, st.plan_bytes / 1024.0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}

}  // namespace samples
