// tools/tune.cpp: `vkconv tune`: times every algorithm that can run each convolution of the
// benchmark suite (or a model's, tools/bench_model.cpp) and keeps the fastest (vkconv/tuning.h).
#include "bench.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "vkconv/vkconv.h"
#include "cli_common.h"
#include "env_options.h"

namespace vkconv::tools {

std::vector<AlgorithmTime> time_conv2d_algorithms(Context& ctx, const Conv2dParams& p, const Shape& input, int min_reps, double min_time) {
    Conv2d conv(ctx, p);
    conv.reset_parameters(1);
    const auto x = Tensor::from_host(ctx, input, std::vector<float>(static_cast<size_t>(shape_numel(input)), 0.5f));
    const Tensor y(ctx, conv.output_shape(input));
    std::vector<AlgorithmTime> out;
    for (auto alg : conv2d_algorithms()) {
        if (!conv.supports(alg, input)) continue;
        conv.set_algorithm(alg);
        const Timing t = time_recording(ctx, min_reps, min_time, [&](CommandRecorder& rec) { conv.record(rec, x, y); });
        out.push_back({alg, t.gpu_ms.median > 0 ? t.gpu_ms.median : t.wall_ms.median});
    }
    return out;
}

namespace {

struct TuneArgs {
    std::string rows;
    double min_time = 0.2;
    int min_reps = 5;
    bool dry_run = false;
    std::string model, input_shape, batches = "1";
    bool no_fusion = false;
};

// The convolutions a suite row stands for: itself, or the SimpleCNN's three for S11.
std::vector<RowSpec> tune_specs(const RowSpec& row) {
    if (!row.model) return {row};
    std::vector<RowSpec> out;
    const int channels[] = {3, 16, 32, 64};
    int64_t hw = 32;
    for (int b = 0; b < 3; ++b, hw /= 2)
        out.push_back({row.name + "/conv" + std::to_string(b + 1), "", {row.input[0], channels[b], hw, hw}, channels[b + 1], 3,
                       conv_opts(1, 1, 1, 1)});
    return out;
}

int cmd_tune(const TuneArgs& a, const std::string& device) {
    if (!a.model.empty()) {
        if (!a.rows.empty()) throw Error("tune: --rows and --model exclude each other");
        return cmd_tune_model(a.model, a.input_shape, a.batches, a.no_fusion, a.min_reps, a.min_time, a.dry_run, device);
    }
    if (!a.input_shape.empty() || a.batches != "1" || a.no_fusion) throw Error("tune: --input-shape, --batch and --no-fusion go with --model");
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    std::printf("device: %s (%s, driver %s %s)\n", ctx.info().name.c_str(), ctx.info().type.c_str(), ctx.info().driver_name.c_str(),
                ctx.info().driver_info.c_str());
    std::vector<std::string> wanted;
    for (std::stringstream ss(a.rows); ss.good();) {
        std::string r;
        std::getline(ss, r, ',');
        if (!r.empty()) wanted.push_back(r);
    }
    std::printf("%-14s %-24s %10s %10s\n", "row", "algorithm", "ms", "GFLOP/s");
    int tuned = 0;
    bool matched = wanted.empty();
    for (const auto& row : suite()) {
        if (!wanted.empty() && std::find_if(wanted.begin(), wanted.end(), [&](const std::string& w) {
                                   return row.name == w || row.name.rfind(w + "/", 0) == 0;
                               }) == wanted.end())
            continue;
        matched = true;
        for (const auto& spec : tune_specs(row)) {
            const Conv2dParams p{static_cast<int>(spec.input[1]), spec.out_channels, spec.kernel, spec.opt};
            double best_ms = -1;
            Conv2dAlgorithm best = Conv2dAlgorithm::Auto;
            for (const auto& t : time_conv2d_algorithms(ctx, p, spec.input, a.min_reps, a.min_time)) {
                std::printf("%-14s %-24s %10.3f %10.2f\n", spec.name.c_str(), to_string(t.algorithm).c_str(), t.ms,
                            t.ms > 0 ? conv_gflop(p, spec.input) / (t.ms * 1e-3) : 0.0);
                if (best_ms < 0 || t.ms < best_ms) best_ms = t.ms, best = t.algorithm;
            }
            if (best == Conv2dAlgorithm::Auto) continue;
            std::printf("%-14s -> %s\n", spec.name.c_str(), to_string(best).c_str());
            set_tuned_conv2d_algorithm(ctx, p, spec.input, best);
            ++tuned;
        }
    }
    if (!matched) throw Error("--rows '" + a.rows + "' names no row of the suite (S1..S11)");
    return save_tuned(ctx, tuned, a.dry_run);
}

}  // namespace

void register_tune(CLI::App& app, std::string& device) {
    auto a = std::make_shared<TuneArgs>();
    auto* t = app.add_subcommand("tune", "time every algorithm on the suite's (or a model's) convolutions and keep the fastest per device and shape");
    t->add_option("--rows", a->rows, "comma-separated rows (S1..S11); default: all");
    t->add_option("--min-time", a->min_time, "minimum seconds per algorithm and row")->capture_default_str();
    t->add_option("--reps", a->min_reps, "minimum repetitions per algorithm and row")->capture_default_str();
    t->add_flag("--dry-run", a->dry_run, "measure and print, do not save");
    t->add_option("--model", a->model, "tune this model's convolutions (JSON description or ONNX) instead of the suite's");
    t->add_option("--input-shape", a->input_shape, "--model's input C,H,W (default: the description's input_shape)");
    t->add_option("--batch", a->batches, "--model: comma-separated batch sizes to tune for")->capture_default_str();
    t->add_flag("--no-fusion", a->no_fusion, "--model: the convolutions as run without BatchNorm folding or activation fusion");
    t->add_option("--device", device, "device index or name substring");
    t->callback([a, &device]() { run_subcommand([&] { return cmd_tune(*a, device); }); });
}

}  // namespace vkconv::tools
