// tools/bench_model.cpp: whole-model benchmarks (`vkconv bench --model M`) and tuning a model's
// own convolutions (`vkconv tune --model M`).
//
// Per model, in a fresh context: the first-run time (context creation, loading, and the first
// forward at batch 1, which creates the pipelines and the plan), the device memory the model
// holds, latency at batch 1 and at --batch (median wall time of record + submit + wait with the
// input resident, and the GPU time between two timestamps), and with --profile the GPU time of
// every step of the plan at batch 1 (a timestamp after each step, via Model::record's hook).
// --torch runs tools/bench_model_torch.py on the module named by --torch-module.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench.h"
#include "cli_common.h"
#include "env_options.h"
#include "vkconv/model_json.h"
#include "vkconv/internal.h"
#include "host/buffer.h"
#include "vkconv/onnx.h"
#include "vkconv/profiling.h"

namespace vkconv::tools {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

Shape parse_chw(const std::string& s, const std::string& what) {
    Shape out;
    std::stringstream ss(s);
    for (std::string t; std::getline(ss, t, ',');) {
        try {
            size_t used = 0;
            const long long v = std::stoll(t, &used);
            if (used != t.size() || v <= 0) throw std::invalid_argument(t);
            out.push_back(v);
        } catch (const std::exception&) {
            throw Error(what + " must be positive integers separated by commas (C,H,W), but got '" + s + "'");
        }
    }
    if (out.empty() || out.size() > 3) throw Error(what + " must be 1 to 3 positive integers (C,H,W, without the batch), but got '" + s + "'");
    return out;
}

Shape batched(const Shape& sample, int64_t n) {
    Shape s{n};
    s.insert(s.end(), sample.begin(), sample.end());
    return s;
}

Loaded load(Context& ctx, const std::string& path, const std::string& weights, bool random_weights, const Shape& sample, int64_t batch) {
    Loaded l;
    if (is_onnx_file(path)) {
        if (!weights.empty()) throw Error("--weights: " + path + " is an ONNX model, whose initializers are its weights");
        OnnxLoadOptions opts;
        if (!sample.empty()) {
            const Shape shape = batched(sample, batch);
            opts.inputs[""] = HostArray{shape, std::vector<float>(static_cast<size_t>(shape_numel(shape)), 0.0f)};
        }
        try {
            l.onnx = load_onnx(ctx, path, opts);
        } catch (const OnnxUnsupported&) {
            throw;
        } catch (const Error& e) {
            if (sample.empty() && std::string(e.what()).find("dynamic dimensions") != std::string::npos)
                throw Error(std::string(e.what()) + " (--input-shape C,H,W)");
            throw;
        }
        if (l.onnx->input_shape.size() < 2) throw Error(path + ": the ONNX input has shape " + shape_str(l.onnx->input_shape) + "; expected [N, ...]");
        l.sample.assign(l.onnx->input_shape.begin() + 1, l.onnx->input_shape.end());
        l.fixed_batch = true;
        return l;
    }
    if (weights.empty() && !random_weights)
        throw Error("--model " + path + ": --weights is required (a .safetensors file or a directory of .npy files); pass --random-weights "
                    "to run on seeded random parameters");
    if (!weights.empty() && random_weights) throw Error("--weights and --random-weights exclude each other");
    auto desc = weights.empty() ? load_model_json(ctx, path) : load_model_json(ctx, path, weights);
    l.json_model = std::move(desc.model);
    if (random_weights) l.json_model->reset_parameters(1);
    l.sample = sample.empty() ? desc.input_shape : sample;
    if (l.sample.empty()) throw Error("--model " + path + ": the description has no input_shape; give --input-shape C,H,W");
    return l;
}

namespace {

Tensor random_input(Context& ctx, const Shape& shape) {
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = u(gen);
    return Tensor::from_host(ctx, shape, v);
}

// What one step of the plan is, for the profile.
struct StepRow {
    std::string name, type, algorithm, activation;
    Shape output;
    double gflop = 0;  // convolutions and Linear
    std::vector<double> ms;
};

double step_gflop(const Model::StepInfo& s) {
    if (auto* conv = dynamic_cast<const Conv2d*>(&s.layer)) return conv_gflop(conv->params(), s.inputs[0].shape());
    if (auto* lin = dynamic_cast<const Linear*>(&s.layer)) {
        const int64_t rows = s.inputs[0].shape().empty() ? 0 : shape_numel(s.inputs[0].shape()) / lin->in_features();
        return 2.0 * double(rows) * lin->in_features() * lin->out_features() * 1e-9;
    }
    return 0;
}

StepRow describe(const Model::StepInfo& s) {
    StepRow r;
    r.name = s.name;
    r.type = s.layer.type();
    if (auto* conv = dynamic_cast<const Conv2d*>(&s.layer)) {
        r.algorithm = to_string(conv->algorithm_for(s.inputs[0].shape()));
        if (conv->storage_precision_for(s.inputs[0].shape()) == StoragePrecision::Float16) r.algorithm += "+fp16";
    }
    if (!s.activation.is_none()) r.activation = to_string(s.activation.kind);
    r.output = s.output.shape();
    r.gflop = step_gflop(s);
    return r;
}

struct BatchResult {
    int64_t batch = 0;
    std::string skipped;  // why this batch was not measured
    double first_forward_ms = 0;
    Timing t;
    uint64_t plan_bytes = 0;
    uint32_t plan_buffers = 0, dispatches = 0;
    double gflop = 0;  // per forward
    double torch_ms = -1;
    double ms() const { return t.wall_ms.median; }
};

struct ModelResult {
    std::string path, name, device, driver;
    Shape sample;
    int64_t parameters = 0;
    int steps = 0, convolutions = 0;
    double context_ms = 0, load_ms = 0, first_forward_ms = 0;
    uint64_t bytes_after_first = 0;  // device memory the model holds after its first forward (batch 1)
    uint64_t plan_bytes1 = 0;        // of which the plan's intermediates at batch 1
    std::vector<BatchResult> batches;
    std::vector<StepRow> profile;
    double profile_total_ms = 0;  // GPU time from the first timestamp to the last
    std::string torch_version;
    int torch_threads = 0;
};

void run_torch(const ModelBenchArgs& a, const std::string& module, ModelResult& m) {
    std::string shape, batches;
    for (auto d : m.sample) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    for (const auto& b : m.batches)
        if (b.skipped.empty()) batches += (batches.empty() ? "" : ",") + std::to_string(b.batch);
    std::string cmd = shell_quote(a.torch_python) + " " + shell_quote(a.torch_script) + " --json --module " + shell_quote(module) +
                      " --input-shape " + shape + " --batches " + batches + " --min-time " + std::to_string(a.min_time) + " --reps " +
                      std::to_string(a.min_reps);
    if (a.torch_threads > 0) cmd += " --threads " + std::to_string(a.torch_threads);
    const auto j = nlohmann::json::parse(run_capture(cmd, "the PyTorch benchmark"));
    m.torch_version = j.at("torch").get<std::string>();
    m.torch_threads = j.at("threads").get<int>();
    for (const auto& r : j.at("rows"))
        for (auto& b : m.batches)
            if (b.batch == r.at("batch").get<int64_t>()) b.torch_ms = r.at("median_ms").get<double>();
}

ModelResult bench_one(const ModelBenchArgs& a, const std::string& device, size_t index) {
    ModelResult m;
    m.path = a.models[index];
    const auto t0 = Clock::now();
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    m.context_ms = ms_since(t0);
    m.device = ctx.info().name;
    m.driver = ctx.info().driver_name + " " + ctx.info().driver_info;
    const uint64_t base = ctx.live_bytes();
    const auto t1 = Clock::now();
    const Shape sample = a.input_shape.empty() ? Shape{} : parse_chw(a.input_shape, "--input-shape");
    Loaded l = load(ctx, m.path, a.weights.empty() ? std::string() : a.weights[index], a.random_weights, sample);
    Model& model = l.model();
    model.set_fusion(!a.no_fusion);
    m.load_ms = ms_since(t1);
    m.name = model.name();
    m.sample = l.sample;
    m.parameters = model.parameter_count();

    std::vector<int64_t> sizes{1};
    if (a.batch != 1) sizes.push_back(a.batch);
    for (const int64_t n : sizes) {
        BatchResult b;
        b.batch = n;
        const Shape shape = batched(m.sample, n);
        // An ONNX graph is built for one input shape: another batch loads it again for that one.
        std::optional<Loaded> other;
        if (l.fixed_batch && shape != l.onnx->input_shape) {
            try {
                other = load(ctx, m.path, "", false, m.sample, n);
                other->model().set_fusion(!a.no_fusion);
            } catch (const Error& e) {
                b.skipped = e.what();
                m.batches.push_back(b);
                continue;
            }
        }
        Model& net = other ? other->model() : l.model();
        const Tensor x = random_input(ctx, shape);
        const auto tf = Clock::now();
        net.forward(x);  // builds the plan for this shape (and, the first time, the pipelines)
        b.first_forward_ms = ms_since(tf);
        const auto st = net.last_forward_stats();
        if (n == 1) {
            // Layers upload their parameters (and prepare transformed copies) on first use; the
            // forward's output is gone again, the input is not the model's.
            m.first_forward_ms = b.first_forward_ms;
            m.bytes_after_first = ctx.live_bytes() - base - detail::buffer_of(x).allocated();
            m.plan_bytes1 = st.plan_bytes;
        }
        b.plan_bytes = st.plan_bytes;
        b.plan_buffers = st.plan_buffers;
        b.dispatches = st.dispatches;
        const Tensor y(ctx, net.output_shape(shape));
        bool first = true;
        int steps = 0, convs = 0;
        b.t = time_recording(ctx, a.min_reps, a.min_time, [&](CommandRecorder& rec) {
            if (!first) return net.record(rec, x, y);
            first = false;
            net.record(rec, x, y, [&](CommandRecorder&, const Model::StepInfo& s) {
                ++steps;
                convs += dynamic_cast<const Conv2d*>(&s.layer) != nullptr;
                b.gflop += step_gflop(s);
            });
        });
        m.steps = steps;
        m.convolutions = convs;
        m.batches.push_back(b);
    }

    if (a.profile) {
        const Shape shape = batched(m.sample, 1);
        if (l.fixed_batch && shape != l.onnx->input_shape) throw Error("--profile: " + m.path + " is built for batch " + std::to_string(l.onnx->input_shape[0]));
        const Tensor x = random_input(ctx, shape);
        const Tensor y(ctx, model.output_shape(shape));
        const uint32_t queries = static_cast<uint32_t>(model.layer_names().size()) + 1;
        TimestampQueries ts(ctx, queries);
        if (!ts.supported()) throw Error("--profile: the device has no timestamp queries");
        CommandRecorder rec(ctx);
        const auto start = Clock::now();
        for (int rep = 0;; ++rep) {
            ts.reset(rec);
            ts.write(rec, 0);
            uint32_t written = 0;
            model.record(rec, x, y, [&](CommandRecorder& r, const Model::StepInfo& s) {
                if (rep == 0) m.profile.push_back(describe(s));
                ts.write(r, ++written);
            });
            rec.submit_and_wait();
            if (rep < 2) continue;  // warm-up
            for (uint32_t i = 0; i < written; ++i) m.profile[i].ms.push_back(ts.elapsed_ns(i, i + 1) * 1e-6);
            if (rep + 1 >= a.min_reps + 2 && std::chrono::duration<double>(Clock::now() - start).count() >= a.min_time) break;
        }
        for (const auto& p : m.profile) m.profile_total_ms += stats_of(p.ms).median;
    }
    if (a.torch) run_torch(a, a.torch_modules[index], m);
    return m;
}

std::string mib(uint64_t bytes) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f MiB", double(bytes) / (1 << 20));
    return b;
}

void print_text(const ModelBenchArgs& a, const ModelResult& m) {
    const double gflop1 = m.batches.empty() ? 0 : m.batches[0].gflop;
    std::printf("\nmodel %s (%s): input %s, %.2f M parameters, %d steps (%d convolutions), %.3f GFLOP per image\n", m.name.c_str(),
                m.path.c_str(), shape_str(m.sample).c_str(), double(m.parameters) * 1e-6, m.steps, m.convolutions, gflop1);
    std::printf("  first run: %.1f ms (context %.1f, load %.1f, first forward at batch 1 %.1f: pipelines and plan)\n",
                m.context_ms + m.load_ms + m.first_forward_ms, m.context_ms, m.load_ms, m.first_forward_ms);
    std::printf("  device memory: %s held after the first forward at batch 1 (parameters %s as fp32, their prepared copies, "
                "plan %s)\n",
                mib(m.bytes_after_first).c_str(), mib(uint64_t(m.parameters) * 4).c_str(), mib(m.plan_bytes1).c_str());
    std::printf("  %-6s %10s %10s %10s %9s%s %12s %11s%s\n", "batch", "ms", "gpu ms", "img/s", "GFLOP/s", a.peak_gflops > 0 ? "    % peak" : "",
                "plan memory", "dispatches", a.torch ? "   torch ms  vkconv/torch" : "");
    for (const auto& b : m.batches) {
        if (!b.skipped.empty()) {
            std::printf("  %-6lld skipped: %s\n", static_cast<long long>(b.batch), b.skipped.c_str());
            continue;
        }
        const double gflops = b.ms() > 0 ? b.gflop / (b.ms() * 1e-3) : 0;
        std::printf("  %-6lld %10.3f %10.3f %10.1f %9.2f", static_cast<long long>(b.batch), b.ms(), b.t.gpu_ms.median,
                    b.ms() > 0 ? double(b.batch) * 1e3 / b.ms() : 0, gflops);
        if (a.peak_gflops > 0) std::printf(" %8.1f%%", 100.0 * gflops / a.peak_gflops);
        std::printf(" %12s %11u", mib(b.plan_bytes).c_str(), b.dispatches);
        if (b.torch_ms > 0) std::printf(" %10.3f %12.2fx", b.torch_ms, b.ms() / b.torch_ms);
        std::printf("\n");
    }
    if (a.torch) std::printf("  torch %s, %d threads; vkconv/torch = vkconv ms / torch ms (< 1: vkconv faster)\n", m.torch_version.c_str(), m.torch_threads);
    if (m.profile.empty()) return;
    std::printf("  profile at batch 1: GPU ms per step (median), %.3f ms in all\n", m.profile_total_ms);
    std::printf("  %4s %-34s %-18s %-22s %-10s %-20s %9s %6s %8s\n", "#", "layer", "type", "algorithm", "+act", "output", "gpu ms", "%", "GFLOP/s");
    std::map<std::string, double> by_type;
    for (size_t i = 0; i < m.profile.size(); ++i) {
        const auto& p = m.profile[i];
        const double ms = stats_of(p.ms).median;
        by_type[p.type + (p.algorithm.empty() ? "" : " " + p.algorithm)] += ms;
        std::printf("  %4zu %-34s %-18s %-22s %-10s %-20s %9.3f %5.1f%% %8.2f\n", i, p.name.c_str(), p.type.c_str(), p.algorithm.c_str(),
                    p.activation.c_str(), shape_str(p.output).c_str(), ms, m.profile_total_ms > 0 ? 100.0 * ms / m.profile_total_ms : 0,
                    p.gflop > 0 && ms > 0 ? p.gflop / (ms * 1e-3) : 0.0);
    }
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto& [k, v] : by_type) sorted.emplace_back(v, k);
    std::sort(sorted.rbegin(), sorted.rend());
    std::printf("  by type and algorithm:");
    for (const auto& [v, k] : sorted)
        std::printf(" %s %.3f ms (%.0f%%);", k.c_str(), v, m.profile_total_ms > 0 ? 100.0 * v / m.profile_total_ms : 0);
    std::printf("\n");
}

nlohmann::json to_json(const ModelResult& m, double peak) {
    auto st = [](const Stats& s) { return nlohmann::json{{"median", s.median}, {"min", s.min}, {"max", s.max}, {"q1", s.q1}, {"q3", s.q3}}; };
    nlohmann::json j{{"path", m.path},
                     {"name", m.name},
                     {"input_shape", m.sample},
                     {"parameters", m.parameters},
                     {"steps", m.steps},
                     {"convolutions", m.convolutions},
                     {"first_run_ms", {{"total", m.context_ms + m.load_ms + m.first_forward_ms}, {"context", m.context_ms}, {"load", m.load_ms},
                                       {"first_forward", m.first_forward_ms}}},
                     {"device_bytes", {{"model", m.bytes_after_first}, {"parameters_fp32", m.parameters * 4}, {"plan_batch1", m.plan_bytes1}}}};
    auto& bs = j["batches"] = nlohmann::json::array();
    for (const auto& b : m.batches) {
        nlohmann::json r{{"batch", b.batch}};
        if (!b.skipped.empty()) {
            r["skipped"] = b.skipped;
        } else {
            r["wall_ms"] = st(b.t.wall_ms);
            r["gpu_ms"] = st(b.t.gpu_ms);
            r["reps"] = b.t.reps;
            r["first_forward_ms"] = b.first_forward_ms;
            r["gflop"] = b.gflop;
            r["gflops"] = b.ms() > 0 ? b.gflop / (b.ms() * 1e-3) : 0;
            if (peak > 0) r["fraction_of_peak"] = b.ms() > 0 ? b.gflop / (b.ms() * 1e-3) / peak : 0;
            r["plan_bytes"] = b.plan_bytes;
            r["plan_buffers"] = b.plan_buffers;
            r["dispatches"] = b.dispatches;
            if (b.torch_ms > 0) r["torch_ms"] = b.torch_ms;
        }
        bs.push_back(r);
    }
    if (!m.torch_version.empty()) j["torch"] = {{"version", m.torch_version}, {"threads", m.torch_threads}};
    if (!m.profile.empty()) {
        auto& p = j["profile"] = nlohmann::json::array();
        for (const auto& s : m.profile)
            p.push_back({{"layer", s.name}, {"type", s.type}, {"algorithm", s.algorithm}, {"activation", s.activation}, {"output", s.output},
                         {"gflop", s.gflop}, {"gpu_ms", st(stats_of(s.ms))}});
        j["profile_total_ms"] = m.profile_total_ms;
    }
    return j;
}

}  // namespace

int cmd_bench_models(const ModelBenchArgs& a, const std::string& device) {
    if (!a.weights.empty() && a.weights.size() != a.models.size())
        throw Error("--weights: give one per --model, in order (" + std::to_string(a.models.size()) + " models, " +
                    std::to_string(a.weights.size()) + " weights)");
    if (a.torch && a.torch_modules.size() != a.models.size())
        throw Error("--torch with --model needs one --torch-module per --model, in order (package.module:Name or file.py:Name, e.g. "
                    "torchvision.models:resnet18); got " + std::to_string(a.torch_modules.size()) + " for " +
                    std::to_string(a.models.size()) + " models");
    if (!a.torch && !a.torch_modules.empty()) throw Error("--torch-module goes with --torch");
    for (const auto& mod : a.torch_modules)
        if (mod.find(':') == std::string::npos)
            throw Error("--torch-module must be package.module:Name or file.py:Name (e.g. torchvision.models:resnet18), but got '" + mod + "'");
    nlohmann::json out{{"models", nlohmann::json::array()}};
    if (a.peak_gflops > 0) out["peak_gflops"] = a.peak_gflops;
    bool header = false;
    for (size_t i = 0; i < a.models.size(); ++i) {
        const ModelResult m = bench_one(a, device, i);
        if (!header) {
            out["device"] = m.device;
            out["driver"] = m.driver;
            if (!a.json) std::printf("device: %s (%s)\n", m.device.c_str(), m.driver.c_str());
            header = true;
        }
        if (a.json) out["models"].push_back(to_json(m, a.peak_gflops));
        else print_text(a, m);
        std::fflush(stdout);
    }
    if (a.json) std::printf("%s\n", out.dump(2).c_str());
    else
        std::printf("\nms = median wall time of one forward (record, submit, wait; input on the device); gpu ms = between two GPU "
                    "timestamps; GFLOP = convolutions and Linear\n");
    return 0;
}

int cmd_tune_model(const std::string& path, const std::string& input_shape, const std::string& batches, bool no_fusion, int min_reps,
                   double min_time, bool dry_run, const std::string& device) {
    std::vector<int64_t> sizes;
    {
        std::stringstream ss(batches);
        for (std::string t; std::getline(ss, t, ',');) {
            size_t used = 0;
            long long v = 0;
            try {
                v = std::stoll(t, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != t.size() || v <= 0) throw Error("--batch must be positive integers separated by commas, but got '" + batches + "'");
            sizes.push_back(v);
        }
        if (sizes.empty()) throw Error("--batch must be positive integers separated by commas, but got '" + batches + "'");
    }
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    std::printf("device: %s (%s, driver %s %s)\n", ctx.info().name.c_str(), ctx.info().type.c_str(), ctx.info().driver_name.c_str(),
                ctx.info().driver_info.c_str());
    // Tuning depends on shapes only: JSON models run on seeded parameters.
    const Shape sample = input_shape.empty() ? Shape{} : parse_chw(input_shape, "--input-shape");
    Loaded l = load(ctx, path, "", !is_onnx_file(path), sample);

    struct Conv {
        std::string name;
        Conv2dParams params;
        Shape input;
    };
    std::vector<Conv> convs;
    for (const int64_t n : sizes) {
        const Shape shape = batched(l.sample, n);
        std::optional<Loaded> other;  // an ONNX graph at another batch: loaded for that shape
        if (l.fixed_batch && shape != l.onnx->input_shape) other = load(ctx, path, "", false, l.sample, n);
        Model& model = other ? other->model() : l.model();
        model.set_fusion(!no_fusion);
        const Tensor x = random_input(ctx, shape);
        const Tensor y(ctx, model.output_shape(shape));
        CommandRecorder rec(ctx);
        model.record(rec, x, y, [&](CommandRecorder&, const Model::StepInfo& s) {
            if (auto* c = dynamic_cast<const Conv2d*>(&s.layer)) convs.push_back({s.name, c->params(), s.inputs[0].shape()});
        });
        rec.submit_and_wait();
    }
    std::printf("%s: %zu convolution step(s) at batch %s\n", l.model().name().c_str(), convs.size(), batches.c_str());
    std::map<std::string, std::string> done;  // tuning key -> the layer first tuned with it
    int tuned = 0;
    for (size_t i = 0; i < convs.size(); ++i) {
        const auto& c = convs[i];
        const std::string key = conv2d_tuning_key(c.params, c.input);
        std::printf("[%zu/%zu] %s %s input %s: ", i + 1, convs.size(), c.name.c_str(), c.params.str().c_str(), shape_str(c.input).c_str());
        if (auto it = done.find(key); it != done.end()) {
            std::printf("same shape as %s\n", it->second.c_str());
            std::fflush(stdout);
            continue;
        }
        std::fflush(stdout);
        Conv2d probe(ctx, c.params);
        const Conv2dAlgorithm heuristic = probe.algorithm_for(c.input);  // Auto (an earlier entry of this run may count)
        const auto times = time_conv2d_algorithms(ctx, c.params, c.input, min_reps, min_time);
        double best_ms = -1, auto_ms = -1;
        Conv2dAlgorithm best = Conv2dAlgorithm::Auto;
        for (const auto& t : times) {
            if (best_ms < 0 || t.ms < best_ms) best_ms = t.ms, best = t.algorithm;
            if (t.algorithm == heuristic) auto_ms = t.ms;
        }
        done[key] = c.name;
        if (best == Conv2dAlgorithm::Auto) {
            std::printf("no algorithm can run it\n");
            continue;
        }
        std::printf("%s %.3f ms (of %zu algorithms; auto chose %s %.3f ms)\n", to_string(best).c_str(), best_ms, times.size(),
                    to_string(heuristic).c_str(), auto_ms);
        std::fflush(stdout);
        set_tuned_conv2d_algorithm(ctx, c.params, c.input, best);
        ++tuned;
    }
    return save_tuned(ctx, tuned, dry_run);
}

}  // namespace vkconv::tools
