// tools/bench.cpp: `vkconv bench`.
//
//   vkconv bench                          every suite row (S1..S11)
//   vkconv bench --rows S4,S10 --json     chosen rows, JSON on stdout
//   vkconv bench --shape 1,64,56,56 --out-channels 64 --kernel 3 --padding 1   a custom row
//   vkconv bench --torch                  also PyTorch CPU (tools/bench_torch.py) and the ratio
//   vkconv bench --rows S4 --precision fp32,fp16   each row with fp32 then fp16 storage, back to back
//
// Each convolution row keeps its input, weights and output on the device and records one
// Conv2d per submission between two GPU timestamps; it reports the median (and min, max, IQR)
// of the timestamp interval and of the wall time of record + submit + wait, over at least
// --reps repetitions and --min-time seconds, and GFLOP/s = 2*N*Cout*Hout*Wout*(Cin/groups)*kh*kw
// / median time (GPU time where the device has timestamps, wall time otherwise).
// S11 is SimpleCNN (samples/simple_cnn) built with the public Model API, batch 64 and batch 1.
#include "bench.h"
#include "peak.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "vkconv/profiling.h"
#include "vkconv/vkconv.h"
#include "common/simple_cnn.h"
#include "cli_common.h"
#include "env_options.h"

#ifndef VKCONV_SOURCE_DIR
#define VKCONV_SOURCE_DIR "."
#endif

namespace vkconv::tools {

Conv2dOptions conv_opts(Pair stride, Padding pad, Pair dil, int groups, PaddingMode mode) {
    return {.stride = stride, .padding = pad, .dilation = dil, .groups = groups, .padding_mode = mode};
}

std::vector<RowSpec> suite() {
    std::vector<RowSpec> r;
    r.push_back({"S1", "N64 3->16 k3 p1 32x32", {64, 3, 32, 32}, 16, 3, conv_opts(1, 1, 1, 1)});
    r.push_back({"S2", "N64 16->32 k3 p1 16x16", {64, 16, 16, 16}, 32, 3, conv_opts(1, 1, 1, 1)});
    r.push_back({"S3", "N1 3->64 k7 s2 p3 224x224", {1, 3, 224, 224}, 64, 7, conv_opts(2, 3, 1, 1)});
    r.push_back({"S4", "N1 64->64 k3 p1 56x56", {1, 64, 56, 56}, 64, 3, conv_opts(1, 1, 1, 1)});
    r.push_back({"S5", "N1 256->256 k3 p1 14x14", {1, 256, 14, 14}, 256, 3, conv_opts(1, 1, 1, 1)});
    r.push_back({"S6", "N1 256->512 k1 28x28", {1, 256, 28, 28}, 512, 1, conv_opts(1, 0, 1, 1)});
    r.push_back({"S7", "N1 dw144 k3 p1 56x56", {1, 144, 56, 56}, 144, 3, conv_opts(1, 1, 1, 144)});
    r.push_back({"S8", "N1 128->128 k3 p1 g32 56x56", {1, 128, 56, 56}, 128, 3, conv_opts(1, 1, 1, 32)});
    r.push_back({"S9", "N1 64->64 k3 p2 d2 56x56", {1, 64, 56, 56}, 64, 3, conv_opts(1, 2, 2, 1)});
    r.push_back({"S10", "S4 reflect", {1, 64, 56, 56}, 64, 3, conv_opts(1, 1, 1, 1, PaddingMode::Reflect)});
    RowSpec m;
    m.model = true;
    m.name = "S11/b64";
    m.what = "SimpleCNN forward batch 64";
    m.input = {64, 3, 32, 32};
    r.push_back(m);
    m.name = "S11/b1";
    m.what = "SimpleCNN forward batch 1";
    m.input = {1, 3, 32, 32};
    r.push_back(m);
    return r;
}


double conv_gflop(const Conv2dParams& p, const Shape& input) {
    const Shape out = conv2d_output_shape(p, input);
    return 2.0 * double(out[0]) * p.out_channels * double(out[2]) * double(out[3]) * (p.in_channels / p.options.groups) *
           p.kernel.h * p.kernel.w * 1e-9;
}

Stats stats_of(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        const double pos = q * double(v.size() - 1);
        const size_t i = static_cast<size_t>(pos);
        const double f = pos - double(i);
        return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
    };
    s.median = at(0.5);
    s.q1 = at(0.25);
    s.q3 = at(0.75);
    s.min = v.front();
    s.max = v.back();
    return s;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Timing time_recording(Context& ctx, int min_reps, double min_time, const std::function<void(CommandRecorder&)>& record) {
    CommandRecorder rec(ctx);
    TimestampQueries ts(ctx, 2);
    for (int i = 0; i < 2; ++i) {  // warm-up: pipelines, plans, caches
        record(rec);
        rec.submit_and_wait();
    }
    std::vector<double> gpu, wall;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 100000; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        ts.reset(rec);
        ts.write(rec, 0);
        record(rec);
        ts.write(rec, 1);
        rec.submit_and_wait();
        const auto t1 = std::chrono::steady_clock::now();
        wall.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (ts.supported()) gpu.push_back(ts.elapsed_ns(0, 1) * 1e-6);
        if (i + 1 >= min_reps && std::chrono::duration<double>(t1 - start).count() >= min_time) break;
    }
    Timing t;
    t.reps = static_cast<int>(wall.size());
    t.gpu_ms = stats_of(gpu);
    t.wall_ms = stats_of(wall);
    return t;
}

namespace {

struct RowResult {
    RowSpec spec;
    std::string algorithm;
    std::string precision = "fp32";  // requested storage precision (algorithm says "+fp16" where used)
    double gflop = 0;
    int reps = 0;
    Stats gpu_ms, wall_ms;
    double gflops = 0;  // from the GPU median where available, else the wall median
    double torch_ms = -1, torch_gflops = -1;
};

struct BenchArgs {
    std::string rows;
    bool json = false;
    bool torch = false;
    std::string torch_python = "/usr/bin/python3";
    std::string torch_script = std::string(VKCONV_SOURCE_DIR) + "/tools/bench_torch.py";
    int torch_threads = 0;
    int min_reps = 10;
    double min_time = 1.0;
    std::string algorithm = "auto";
    // Storage precisions to run each row at, in order ("fp32", "fp16" or "fp32,fp16").
    std::string precision = "fp32";
    bool fp16 = false;                 // --fp16: precision "fp16"
    StoragePrecision current = StoragePrecision::Float32;  // the one run_row uses
    // Custom row.
    std::string shape, kernel = "3", stride = "1", padding = "0", dilation = "1", padding_mode = "zeros";
    int out_channels = 0, groups = 1;
    bool no_bias = false, relu = false;
    // --peak: the AVX2 FMA peak, measured before and after the rows; each row's GFLOP/s as a
    // fraction of the higher of the two.
    bool peak = false;
    int peak_threads = 0;
    double peak_seconds = 1.0;
    ModelBenchArgs model;  // --model M ...: whole-model benchmarks instead of the rows
};

Pair parse_pair(const std::string& s, const std::string& what) {
    try {
        const auto comma = s.find(',');
        if (comma == std::string::npos) return Pair(std::stoi(s));
        return Pair(std::stoi(s.substr(0, comma)), std::stoi(s.substr(comma + 1)));
    } catch (const std::exception&) {
        throw Error(what + " must be an integer or 'h,w', but got '" + s + "'");
    }
}

// Times `record` (one submission per repetition, between two timestamps).
void time_it(Context& ctx, const BenchArgs& a, const std::function<void(CommandRecorder&)>& record, RowResult& r) {
    const Timing t = time_recording(ctx, a.min_reps, a.min_time, record);
    r.reps = t.reps;
    r.gpu_ms = t.gpu_ms;
    r.wall_ms = t.wall_ms;
    const double ms = r.gpu_ms.median > 0 ? r.gpu_ms.median : r.wall_ms.median;
    r.gflops = ms > 0 ? r.gflop / (ms * 1e-3) : 0;
}

RowResult run_row(Context& ctx, const RowSpec& spec, const BenchArgs& a) {
    RowResult r;
    r.spec = spec;
    const uint64_t seed = 1234;
    if (spec.model) {
        auto model = make_simple_cnn(ctx, seed);
        const auto x = Tensor::from_host(ctx, spec.input, std::vector<float>(static_cast<size_t>(shape_numel(spec.input)), 0.5f));
        const Tensor y(ctx, model->output_shape(spec.input));
        r.algorithm = "model:";
        model->set_conv2d_storage_precision(a.current);
        for (const char* name : {"conv1", "conv2", "conv3"}) {
            auto& conv = dynamic_cast<Conv2d&>(model->layer(name));
            conv.set_algorithm(parse_conv2d_algorithm(a.algorithm));
            Shape in;
            for (const auto& [n, s] : model->layer_shapes(spec.input)) {
                if (n == name) break;
                in = s;
            }
            const Shape& cin = in.empty() ? spec.input : in;
            r.algorithm += std::string(name == std::string("conv1") ? "" : ",") + to_string(conv.algorithm_for(cin)) +
                           (conv.storage_precision_for(cin) == StoragePrecision::Float16 ? "+fp16" : "");
        }
        r.gflop = simple_cnn_gflop(spec.input[0]);
        time_it(ctx, a, [&](CommandRecorder& rec) { model->record(rec, x, y); }, r);
        return r;
    }
    Conv2dParams p{static_cast<int>(spec.input[1]), spec.out_channels, spec.kernel, spec.opt};
    Conv2d conv(ctx, p);
    conv.reset_parameters(seed);
    conv.set_algorithm(parse_conv2d_algorithm(a.algorithm));
    conv.set_fused_relu(a.relu);
    conv.set_storage_precision(a.current);
    std::vector<float> xv(static_cast<size_t>(shape_numel(spec.input)));
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = float((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    const auto x = Tensor::from_host(ctx, spec.input, xv);
    const Tensor y(ctx, conv.output_shape(spec.input));
    // "+fp16": fp16 storage in use (storage_precision_for; Auto may fall back to fp32).
    r.algorithm = to_string(conv.algorithm_for(spec.input)) +
                  (conv.storage_precision_for(spec.input) == StoragePrecision::Float16 ? "+fp16" : "");
    r.gflop = conv_gflop(p, spec.input);
    time_it(ctx, a, [&](CommandRecorder& rec) { conv.record(rec, x, y); }, r);
    return r;
}

nlohmann::json spec_json(const RowSpec& s) {
    nlohmann::json j;
    j["name"] = s.name;
    j["model"] = s.model;
    j["input"] = s.input;
    if (!s.model) {
        const auto& o = s.opt;
        j["out_channels"] = s.out_channels;
        j["kernel"] = {s.kernel.h, s.kernel.w};
        j["stride"] = {o.stride.h, o.stride.w};
        j["dilation"] = {o.dilation.h, o.dilation.w};
        j["groups"] = o.groups;
        j["bias"] = o.bias;
        j["padding_mode"] = to_string(o.padding_mode);
        if (o.padding.kind == Padding::Kind::Same) j["padding"] = "same";
        else if (o.padding.kind == Padding::Kind::Valid) j["padding"] = "valid";
        else j["padding"] = {o.padding.size.h, o.padding.size.w};
    }
    return j;
}

// Runs tools/bench_torch.py on the same rows; fills torch_ms / torch_gflops.
void run_torch(std::vector<RowResult>& rows, const BenchArgs& a) {
    nlohmann::json specs = nlohmann::json::array();
    for (const auto& r : rows) specs.push_back(spec_json(r.spec));
    std::string cmd = shell_quote(a.torch_python) + " " + shell_quote(a.torch_script) + " --json --min-time " +
                      std::to_string(a.min_time) + " --specs " + shell_quote(specs.dump());
    if (a.torch_threads > 0) cmd += " --threads " + std::to_string(a.torch_threads);
    const auto j = nlohmann::json::parse(run_capture(cmd, "bench_torch.py"));
    for (const auto& t : j.at("rows"))
        for (auto& r : rows)
            if (r.spec.name == t.at("name").get<std::string>()) {
                r.torch_ms = t.at("median_ms").get<double>();
                r.torch_gflops = t.at("gflops").get<double>();
            }
}

// Prints and returns the FMA peak (one line on stderr, or stdout for the text report).
FmaPeak run_peak(const BenchArgs& a, const char* when) {
    const FmaPeak p = measure_fma_peak(a.peak_threads, a.peak_seconds);
    std::fprintf(a.json ? stderr : stdout, "AVX2 FMA peak (%s): %.1f GFLOP/s on %d thread(s), %.1f per thread\n", when, p.gflops, p.threads,
                 p.gflops_per_thread);
    return p;
}

int cmd_bench(BenchArgs a, const std::string& device) {
    if (!a.model.models.empty()) {
        if (!a.shape.empty() || !a.rows.empty()) throw Error("--model: a whole-model benchmark takes no --rows or --shape");
        a.model.json = a.json;
        a.model.torch = a.torch;
        a.model.torch_python = a.torch_python;
        a.model.torch_threads = a.torch_threads;
        a.model.min_reps = a.min_reps;
        a.model.min_time = a.min_time;
        FmaPeak before;
        if (a.peak) a.model.peak_gflops = (before = run_peak(a, "before")).gflops;
        const int rc = cmd_bench_models(a.model, device);
        if (a.peak) {
            const FmaPeak after = run_peak(a, "after");
            // The model rows are printed as they finish, so their share is of the first peak.
            std::fprintf(a.json ? stderr : stdout, "%% peak above: of the peak measured before (%.1f GFLOP/s; after: %.1f)\n",
                         before.gflops, after.gflops);
        }
        return rc;
    }
    if (!a.model.weights.empty() || !a.model.torch_modules.empty() || a.model.random_weights || a.model.profile ||
        !a.model.input_shape.empty())
        throw Error("--weights, --random-weights, --torch-module, --profile and --input-shape go with --model");
    double peak = 0;
    if (a.peak) peak = run_peak(a, "before").gflops;
    std::vector<RowSpec> specs;
    if (!a.shape.empty()) {
        RowSpec s;
        s.name = "custom";
        std::stringstream ss(a.shape);
        std::string t;
        while (std::getline(ss, t, ',')) s.input.push_back(std::stoll(t));
        if (s.input.size() != 4) throw Error("--shape must be N,C,H,W");
        if (a.out_channels <= 0) throw Error("--out-channels is required with --shape");
        s.out_channels = a.out_channels;
        s.kernel = parse_pair(a.kernel, "--kernel");
        s.opt = conv_opts(parse_pair(a.stride, "--stride"), Padding::parse(a.padding), parse_pair(a.dilation, "--dilation"), a.groups,
                          parse_padding_mode(a.padding_mode));
        s.opt.bias = !a.no_bias;
        s.what = Conv2dParams{static_cast<int>(s.input[1]), s.out_channels, s.kernel, s.opt}.str() + " " + shape_str(s.input);
        specs.push_back(s);
    } else {
        const auto all = suite();
        if (a.rows.empty()) {
            specs = all;
        } else {
            std::stringstream ss(a.rows);
            std::string t;
            while (std::getline(ss, t, ',')) {
                bool found = false;
                for (const auto& s : all)
                    if (s.name == t || s.name.rfind(t + "/", 0) == 0) {
                        specs.push_back(s);
                        found = true;
                    }
                if (!found) throw Error("unknown bench row '" + t + "' (rows: S1..S11, S11/b64, S11/b1)");
            }
        }
    }
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    std::vector<StoragePrecision> precisions;
    {
        std::stringstream ss(a.fp16 ? std::string("fp16") : a.precision);
        for (std::string t; std::getline(ss, t, ',');) precisions.push_back(parse_storage_precision(t));
        if (precisions.empty()) throw Error("--precision names no precision (fp32, fp16)");
    }
    std::vector<RowResult> results;
    for (const auto& s : specs)
        for (const auto prec : precisions) {  // back to back per row, so the ratio sees the same machine load
            BenchArgs ap = a;
            ap.current = prec;
            results.push_back(run_row(ctx, s, ap));
            results.back().precision = to_string(prec);
            if (!a.json) {
                const auto& r = results.back();
                std::fprintf(stderr, "  %s %s done: %.3f ms\n", r.spec.name.c_str(), r.precision.c_str(),
                             r.gpu_ms.median > 0 ? r.gpu_ms.median : r.wall_ms.median);
            }
        }
    if (a.torch) run_torch(results, a);
    if (a.peak) peak = std::max(peak, run_peak(a, "after").gflops);

    if (a.json) {
        nlohmann::json j;
        j["device"] = ctx.info().name;
        j["driver"] = ctx.info().driver_name + " " + ctx.info().driver_info;
        j["timestamps"] = ctx.info().timestamps;
        if (peak > 0) j["peak_gflops"] = peak;
        auto& rows = j["rows"] = nlohmann::json::array();
        for (const auto& r : results) {
            auto s = [](const Stats& st) {
                return nlohmann::json{{"median", st.median}, {"min", st.min}, {"max", st.max}, {"q1", st.q1}, {"q3", st.q3}};
            };
            nlohmann::json row = spec_json(r.spec);
            row["what"] = r.spec.what;
            row["algorithm"] = r.algorithm;
            row["precision"] = r.precision;
            row["gflop"] = r.gflop;
            row["reps"] = r.reps;
            row["gpu_ms"] = s(r.gpu_ms);
            row["wall_ms"] = s(r.wall_ms);
            row["gflops"] = r.gflops;
            if (peak > 0) row["fraction_of_peak"] = r.gflops / peak;
            if (r.torch_ms > 0) {
                row["torch_ms"] = r.torch_ms;
                row["torch_gflops"] = r.torch_gflops;
                row["speedup_vs_torch"] = r.torch_ms / (r.gpu_ms.median > 0 ? r.gpu_ms.median : r.wall_ms.median);
            }
            rows.push_back(row);
        }
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("device: %s (%s %s)\n", ctx.info().name.c_str(), ctx.info().driver_name.c_str(), ctx.info().driver_info.c_str());
    std::printf("%-8s %-30s %-22s %-5s %6s %10s %10s %19s %10s %9s%s%s\n", "row", "shape", "algorithm", "prec", "reps", "gpu ms", "wall ms",
                "gpu min/max ms", "GFLOP/s", "IQR %", peak > 0 ? "   % peak" : "", a.torch ? "  torch ms  torch GF/s  speedup" : "");
    for (const auto& r : results) {
        const double iqr = r.gpu_ms.median > 0 ? 100.0 * (r.gpu_ms.q3 - r.gpu_ms.q1) / r.gpu_ms.median : 0;
        std::printf("%-8s %-30s %-22s %-5s %6d %10.3f %10.3f %9.3f/%9.3f %10.2f %8.1f%%", r.spec.name.c_str(), r.spec.what.c_str(),
                    r.algorithm.c_str(), r.precision.c_str(), r.reps, r.gpu_ms.median, r.wall_ms.median, r.gpu_ms.min, r.gpu_ms.max, r.gflops, iqr);
        if (peak > 0) std::printf(" %8.1f%%", 100.0 * r.gflops / peak);
        if (r.torch_ms > 0) {
            const double ms = r.gpu_ms.median > 0 ? r.gpu_ms.median : r.wall_ms.median;
            std::printf("  %8.3f  %10.2f  %6.2fx", r.torch_ms, r.torch_gflops, r.torch_ms / ms);
        }
        std::printf("\n");
    }
    if (a.torch) std::printf("speedup = torch median time / vkconv median time (>1: vkconv faster)\n");
    if (peak > 0) std::printf("%% peak = GFLOP/s / %.1f GFLOP/s, the higher of the two AVX2 FMA peaks above\n", peak);
    if (std::any_of(results.begin(), results.end(), [](const RowResult& r) { return r.precision == "fp16"; }))
        std::printf("prec = requested storage precision; +fp16 = fp16 storage in use (Auto keeps fp32 where it saves nothing)\n");
    return 0;
}

}  // namespace

void register_bench(CLI::App& app, std::string& device) {
    auto a = std::make_shared<BenchArgs>();
    auto* b = app.add_subcommand("bench", "benchmark suite S1..S11, a custom convolution, or whole models (--model)");
    b->add_option("--rows", a->rows, "comma-separated rows (S1..S11; S11 = S11/b64,S11/b1); default: all");
    b->add_flag("--json", a->json, "JSON on stdout");
    b->add_flag("--torch", a->torch, "also run tools/bench_torch.py (PyTorch CPU) and print the ratio");
    b->add_option("--torch-python", a->torch_python, "python with torch for --torch")->capture_default_str();
    b->add_option("--torch-script", a->torch_script, "path of bench_torch.py")->capture_default_str();
    a->model.torch_script = std::string(VKCONV_SOURCE_DIR) + "/tools/bench_model_torch.py";
    b->add_option("--torch-model-script", a->model.torch_script, "path of bench_model_torch.py (--model --torch)")->capture_default_str();
    b->add_option("--torch-threads", a->torch_threads, "torch.set_num_threads (default: os.cpu_count())");
    b->add_option("--reps", a->min_reps, "minimum repetitions per row")->capture_default_str();
    b->add_option("--min-time", a->min_time, "minimum seconds per row")->capture_default_str();
    b->add_option("--algorithm", a->algorithm, "force an algorithm for the convolution rows")->capture_default_str();
    b->add_option("--precision", a->precision,
                  "storage precision(s), each row run at each in turn: fp32, fp16 or fp32,fp16 (fp16: Conv2d::set_storage_precision)")
        ->capture_default_str();
    b->add_flag("--fp16", a->fp16, "fp16 storage (same as --precision fp16)");
    b->add_option("--shape", a->shape, "custom row: input N,C,H,W");
    b->add_option("--out-channels", a->out_channels, "custom row: output channels");
    b->add_option("--kernel", a->kernel, "custom row: n or h,w")->capture_default_str();
    b->add_option("--stride", a->stride, "custom row: n or h,w")->capture_default_str();
    b->add_option("--padding", a->padding, "custom row: n, h,w, same or valid")->capture_default_str();
    b->add_option("--dilation", a->dilation, "custom row: n or h,w")->capture_default_str();
    b->add_option("--groups", a->groups, "custom row")->capture_default_str();
    b->add_option("--padding-mode", a->padding_mode, "custom row: zeros|reflect|replicate|circular")->capture_default_str();
    b->add_flag("--no-bias", a->no_bias, "custom row: bias=False");
    b->add_flag("--relu", a->relu, "fused ReLU epilogue on the convolution rows");
    b->add_flag("--peak", a->peak, "measure the AVX2 FMA peak GFLOP/s before and after, and give each row's share of it");
    b->add_option("--peak-threads", a->peak_threads, "threads for --peak (default: LP_NUM_THREADS, else one per CPU, as lavapipe)");
    b->add_option("--model", a->model.models,
                  "whole-model benchmark of a JSON description or an ONNX file (repeatable: several models in one run)");
    b->add_option("--weights", a->model.weights, "--model's weights (.safetensors or a .npy directory), one per JSON --model, in order");
    b->add_flag("--random-weights", a->model.random_weights, "JSON models without --weights: seeded random parameters");
    b->add_option("--batch", a->model.batch, "the batch measured besides batch 1 (--model)")->capture_default_str()->check(CLI::Range(1, 65536));
    b->add_option("--input-shape", a->model.input_shape, "--model's input C,H,W (default: the description's input_shape)");
    b->add_flag("--profile", a->model.profile, "--model: GPU time per layer at batch 1 (timestamps between the plan's steps)");
    b->add_flag("--no-fusion", a->model.no_fusion, "--model: no BatchNorm folding or activation fusion");
    b->add_option("--torch-module", a->model.torch_modules,
                  "--model --torch: the PyTorch module, package.module:Name or file.py:Name called without arguments "
                  "(torchvision.models:resnet18), one per --model, in order");
    b->add_option("--device", device, "device index or name substring");
    b->callback([a, &device]() { run_subcommand([&] { return cmd_bench(*a, device); }); });
}

}  // namespace vkconv::tools
