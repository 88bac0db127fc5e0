// tools/bench.h: `vkconv bench`, the convolution benchmark suite (rows S1..S11 of issue 4, or a
// custom shape), with GPU-timestamp and wall-clock medians, GFLOP/s, and optionally PyTorch's
// numbers for the same rows measured in the same run (tools/bench_torch.py).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkconv/onnx.h"
#include "vkconv/vkconv.h"

namespace CLI {
class App;
}

namespace vkconv::tools {

// Adds the `bench` subcommand to `app`; it runs from its own callback (errors: one line on
// stderr and exit status 1). `device` is the tool's --device option.
void register_bench(CLI::App& app, std::string& device);
// Adds `tune`: times every algorithm that can run each convolution of the suite (S11: the
// SimpleCNN's convolutions) with GPU timestamps and stores the fastest per device, driver and
// shape (vkconv/tuning.h), which Conv2d's Auto then uses.
void register_tune(CLI::App& app, std::string& device);

// Adds `tune --model` and `bench --model` options' work (tools/bench_model.cpp).
struct ModelBenchArgs {
    std::vector<std::string> models, weights, torch_modules;
    bool random_weights = false;
    std::string input_shape;  // C,H,W (without the batch): overrides the model's own
    int batch = 8;
    bool profile = false;
    bool no_fusion = false;
    bool json = false;
    bool torch = false;
    std::string torch_python, torch_script;
    int torch_threads = 0;
    int min_reps = 10;
    double min_time = 1.0;
    double peak_gflops = 0;  // > 0: the FMA peak measured in this run (--peak)
};
int cmd_bench_models(const ModelBenchArgs& a, const std::string& device);
// `tune --model`: the model's own convolutions (each step's resolved Conv2d, folded ones
// included) at the given batches, one progress line per convolution.
int cmd_tune_model(const std::string& model, const std::string& input_shape, const std::string& batches, bool no_fusion,
                   int min_reps, double min_time, bool dry_run, const std::string& device);

// Models as the model commands load them (tools/bench_model.cpp).
// "C,H,W" (1 to 3 positive integers) -> shape; `what` names the option in errors.
Shape parse_chw(const std::string& s, const std::string& what);
// A loaded model: JSON description or ONNX file. `sample` is the shape without the batch.
struct Loaded {
    std::unique_ptr<Model> json_model;
    std::optional<OnnxModel> onnx;
    Shape sample;
    bool fixed_batch = false;  // ONNX: the graph was built for its own batch
    Model& model() { return json_model ? *json_model : *onnx->model; }
};
// [n, sample...].
Shape batched(const Shape& sample, int64_t n);
// `sample`: --input-shape (C,H,W, empty: the model's own). An ONNX graph's shapes are fixed at
// load time, by its declared input or, given `sample`, by an input of shape [batch, sample...].
Loaded load(Context& ctx, const std::string& path, const std::string& weights, bool random_weights, const Shape& sample, int64_t batch = 1);

// A row of the suite: one convolution, or SimpleCNN's whole forward.
struct RowSpec {
    std::string name;
    std::string what;          // human description
    Shape input;               // [N, C, H, W]
    int out_channels = 0;
    Pair kernel{1};
    Conv2dOptions opt;
    bool model = false;        // SimpleCNN whole forward; input[0] is the batch
};
// The suite's rows S1..S11 (tools/bench.cpp).
std::vector<RowSpec> suite();
Conv2dOptions conv_opts(Pair stride, Padding pad, Pair dil, int groups, PaddingMode mode = PaddingMode::Zeros);

// `vkconv compile-report` (tools/compile_report.cpp).
void register_compile_report(CLI::App& app, std::string& device);

// Shared by the benchmark commands (tools/bench.cpp).
struct Stats {
    double median = -1, min = -1, max = -1, q1 = -1, q3 = -1;
};
Stats stats_of(std::vector<double> v);
std::string shell_quote(const std::string& s);
double conv_gflop(const Conv2dParams& p, const Shape& input);
struct Timing {
    int reps = 0;
    Stats gpu_ms, wall_ms;  // gpu_ms.median < 0 where the device has no timestamps
};
// Records with `record` and submits, once per repetition, between two GPU timestamps (after two
// warm-up runs), for at least `min_reps` repetitions and `min_time` seconds.
Timing time_recording(Context& ctx, int min_reps, double min_time, const std::function<void(CommandRecorder&)>& record);
struct AlgorithmTime {
    Conv2dAlgorithm algorithm;
    double ms;  // GPU median where the device has timestamps, wall median otherwise
};
// Every algorithm that can run the convolution `p` on `input`, timed.
std::vector<AlgorithmTime> time_conv2d_algorithms(Context& ctx, const Conv2dParams& p, const Shape& input, int min_reps, double min_time);

}  // namespace vkconv::tools
