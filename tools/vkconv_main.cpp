// vkconv: the command-line tool.
//   vkconv devices                     list Vulkan devices and the limits that matter
//   vkconv conv2d --input X.npy ...    one convolution, torch.nn.functional.conv2d's arguments
//   vkconv run --model M.json ...      a whole model from a JSON description and PyTorch weights
//   vkconv run --model M.onnx ...      an ONNX model (its initializers are the weights)
//   vkconv bench [--rows S4,S5] ...   the performance suite (tools/bench.cpp)
//   vkconv soak [--iterations N]      leak and stability check (tools/soak.cpp)
//   vkconv compile-report [--model M] the driver's register/occupancy statistics per pipeline (tools/compile_report.cpp)
// Every failure is one line on stderr and exit status 1.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "host/device_policy.h"
#include "vkconv/model_json.h"
#include "vkconv/onnx.h"
#include "vkconv/vkconv.h"
#include "bench.h"
#include "soak.h"
#include "cli_common.h"
#include "env_options.h"

namespace {

using namespace vkconv;

// "n" or "h,w" -> Pair (Padding::parse's integers); `what` names the option in errors.
Pair parse_pair(const std::string& s, const std::string& what) {
    if (s != "same" && s != "valid") {
        try {
            return Padding::parse(s).size;
        } catch (const Error&) {
            // refused below with the option's name
        }
    }
    throw Error(what + " must be an integer or 'h,w', but got '" + s + "'");
}

std::string version_str(uint32_t v) {
    return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
           std::to_string(VK_API_VERSION_PATCH(v));
}

int cmd_devices(const std::string& selector) {
    uint32_t chosen = 0;
    const auto devices = list_devices(selector, &chosen);
    for (const auto& d : devices) {
        std::printf("%s [%u] %s\n", d.index == chosen ? "*" : " ", d.index, d.name.c_str());
        std::printf("      type %s, driver %s (%s), Vulkan %s\n", d.type.c_str(), d.driver_name.c_str(), d.driver_info.c_str(),
                    version_str(d.api_version).c_str());
        std::printf("      workgroup size max (%u, %u, %u), invocations %u, count max (%u, %u, %u)\n", d.max_workgroup_size[0],
                    d.max_workgroup_size[1], d.max_workgroup_size[2], d.max_workgroup_invocations, d.max_workgroup_count[0],
                    d.max_workgroup_count[1], d.max_workgroup_count[2]);
        std::printf("      shared memory %u bytes, subgroup size %u (min %u, max %u), push constants %u bytes\n",
                    d.max_shared_memory, d.subgroup_size, d.min_subgroup_size, d.max_subgroup_size, d.max_push_constants);
        std::printf("      fp16 arithmetic %s, 16-bit storage %s, storage buffer range %llu bytes, max allocation %llu bytes\n",
                    d.shader_float16 ? "yes" : "no", d.storage_buffer_16bit ? "yes" : "no",
                    static_cast<unsigned long long>(d.max_storage_buffer_range),
                    static_cast<unsigned long long>(d.max_memory_allocation_size));
        std::printf("      device-local memory %llu MiB%s, timestamps %s\n",
                    static_cast<unsigned long long>(d.device_local_bytes >> 20),
                    d.unified_memory ? " (host-visible: no staging)" : "", d.timestamps ? "yes" : "no");
        const auto policy = host::make_device_policy(d, {});
        std::printf("      class %s (kernel workgroup %u, pack pixels %u)\n", host::to_string(policy.device_class), policy.kernel_workgroup,
                    policy.pack_pixels);
        for (const auto& q : policy.quirks()) std::printf("      quirk %s: %s (%s)\n", q.name, q.reason, q.drivers);
    }
    std::printf("* = the device vkconv would choose (override with --device or VKCONV_DEVICE)\n");
    return 0;
}

struct Conv2dArgs {
    std::string input, weight, bias, output;
    std::string stride = "1", padding = "0", dilation = "1", padding_mode = "zeros", algorithm = "auto";
    int groups = 1;
    bool reference = false;
};

int cmd_conv2d(const Conv2dArgs& a, const std::string& device) {
    const HostArray x = load_npy(a.input);
    const HostArray w = load_npy(a.weight);
    std::optional<HostArray> b;
    if (!a.bias.empty()) b = load_npy(a.bias);
    if (w.shape.size() != 4)
        throw Error(a.weight + ": weight must be 4-D [out_channels, in_channels/groups, kh, kw], but got shape " + shape_str(w.shape));
    if (b && (b->shape.size() != 1 || b->shape[0] != w.shape[0]))
        throw Error(a.bias + ": bias must be 1-D with out_channels=" + std::to_string(w.shape[0]) + " elements, but got shape " +
                    shape_str(b->shape));
    if (x.shape.size() != 3 && x.shape.size() != 4)
        throw Error(a.input + ": Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: " + shape_str(x.shape));
    for (int64_t d : w.shape)
        if (d > INT32_MAX) throw Error(a.weight + ": dimension too large: " + shape_str(w.shape));
    if (w.shape[0] == 0 || w.shape[1] == 0) throw Error(a.weight + ": weight has an empty dimension: " + shape_str(w.shape));

    Conv2dParams p;
    p.options.groups = a.groups;
    p.out_channels = static_cast<int>(w.shape[0]);
    const int64_t in_channels = int64_t(w.shape[1]) * a.groups;
    if (in_channels > INT32_MAX) throw Error("--groups too large");
    p.in_channels = static_cast<int>(in_channels);
    p.kernel = Pair(static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3]));
    p.options.stride = parse_pair(a.stride, "--stride");
    p.options.dilation = parse_pair(a.dilation, "--dilation");
    p.options.padding = Padding::parse(a.padding);
    p.options.padding_mode = parse_padding_mode(a.padding_mode);
    p.options.bias = b.has_value();
    const Shape out_shape = conv2d_output_shape(p, x.shape);  // validates everything first

    HostArray y;
    y.shape = out_shape;
    if (a.reference) {
        y.data = conv2d_reference(p, x.shape, x.data, w.data, b ? std::span<const float>(b->data) : std::span<const float>());
    } else {
        ContextOptions co;
        co.device = device;
        Context ctx(tools::with_env_tiles(co));
        Conv2d conv(ctx, p);
        conv.set_algorithm(parse_conv2d_algorithm(a.algorithm));
        conv.set_weight(w.data);
        if (b) conv.set_bias(b->data);
        y.data = conv.forward(Tensor::from_host(ctx, x.shape, x.data)).to_host();
    }
    save_npy(a.output, y);
    return 0;
}

struct RunArgs {
    std::string model, weights, input, output;
    std::vector<std::string> inputs, outputs;  // as given: [NAME=]path, repeatable for ONNX models
    bool batch_time = false;
    int runs = 20;
    bool no_fusion = false;
    bool random_weights = false;
};

HostArray load_run_input(const std::string& path) {
    if (path.size() >= 4 && path.substr(path.size() - 4) == ".png") {
        HostArray x = load_image(path);  // [3, H, W] in [0, 1], no normalisation
        x.shape.insert(x.shape.begin(), 1);
        return x;
    }
    return load_npy(path);
}

// "NAME=path" -> {NAME, path}; a bare path -> {"", path} (the first input or output).
std::pair<std::string, std::string> split_named(const std::string& s) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) return {"", s};
    return {s.substr(0, eq), s.substr(eq + 1)};
}

int cmd_run_onnx(const RunArgs& a, const std::string& device) {
    if (!a.weights.empty())
        throw Error("--weights: " + a.model + " is an ONNX model, whose initializers are its weights; --weights is for JSON models");
    if (a.random_weights) throw Error("--random-weights: " + a.model + " is an ONNX model, whose initializers are its weights");
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    OnnxLoadOptions opts;
    for (const auto& in : a.inputs) {
        auto [name, path] = split_named(in);
        if (opts.inputs.count(name)) throw Error("--input: " + (name.empty() ? "the first input" : "'" + name + "'") + " given twice");
        opts.inputs[name] = load_run_input(path);
    }
    OnnxModel m = load_onnx(ctx, a.model, opts);
    m.model->set_fusion(!a.no_fusion);
    const HostArray& x = opts.inputs.count(m.input_name) ? opts.inputs.at(m.input_name) : opts.inputs.at("");
    const auto outputs = m.run(x);
    std::map<std::string, std::string> wanted;  // graph output -> file
    for (const auto& o : a.outputs) {
        auto [name, path] = split_named(o);
        if (name.empty()) name = m.output_names.front();
        if (!outputs.count(name)) {
            std::string names;
            for (const auto& n : m.output_names) names += (names.empty() ? "'" : ", '") + n + "'";
            throw Error("--output: the model has no output '" + name + "' (outputs: " + names + ")");
        }
        wanted[name] = path;
    }
    for (const auto& [name, path] : wanted) save_npy(path, outputs.at(name));
    for (const auto& name : m.output_names) {
        auto w = wanted.find(name);
        std::fprintf(stderr, "%s: input '%s' %s -> output '%s' %s%s\n", m.model->name().c_str(), m.input_name.c_str(),
                     shape_str(x.shape).c_str(), name.c_str(), shape_str(outputs.at(name).shape).c_str(),
                     w == wanted.end() ? "" : (" written to " + w->second).c_str());
    }
    if (a.batch_time) {
        const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
        std::vector<double> ms;
        for (int r = 0; r < a.runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            m.model->forward(xt);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("batch %lld: median %.3f ms per forward over %d runs (min %.3f, max %.3f)\n",
                    static_cast<long long>(x.shape.empty() ? 0 : x.shape[0]), ms[ms.size() / 2], a.runs, ms.front(), ms.back());
    }
    return 0;
}

int cmd_run(RunArgs a, const std::string& device) {
    if (tools::is_onnx_file(a.model)) return cmd_run_onnx(a, device);
    if (a.inputs.size() != 1) throw Error("--input: a JSON model takes one input (given " + std::to_string(a.inputs.size()) + ")");
    a.input = a.inputs[0];
    ContextOptions co;
    co.device = device;
    Context ctx(tools::with_env_tiles(co));
    // Without weights a model would compute with its seeded initial values: only on request.
    if (a.weights.empty() && !a.random_weights)
        throw Error("run: --weights is required (a .safetensors file or a directory of .npy files); pass --random-weights "
                    "to run with seeded random parameters instead");
    if (!a.weights.empty() && a.random_weights) throw Error("run: --weights and --random-weights exclude each other");
    auto desc = a.weights.empty() ? load_model_json(ctx, a.model) : load_model_json(ctx, a.model, a.weights);
    Model& model = *desc.model;
    if (a.random_weights) model.reset_parameters(1);
    model.set_fusion(!a.no_fusion);
    HostArray x;
    if (a.input.size() >= 4 && a.input.substr(a.input.size() - 4) == ".png") {
        x = load_image(a.input);  // [3, H, W] in [0, 1], no normalisation
        x.shape.insert(x.shape.begin(), 1);
    } else {
        x = load_npy(a.input);
    }
    const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
    // --output PATH takes the first output; --output NAME=PATH a named one (Model::outputs()).
    std::string first_path;
    std::map<std::string, std::string> named;
    const auto model_outputs = model.outputs();
    for (const auto& o : a.outputs) {
        const auto eq = o.find('=');
        const std::string name = eq == std::string::npos ? "" : o.substr(0, eq);
        const bool known = std::any_of(model_outputs.begin(), model_outputs.end(), [&](const auto& m) { return m.first == name; });
        if (eq == std::string::npos || !known) {
            if (!first_path.empty() || eq != std::string::npos) {
                std::string names;
                for (const auto& m : model_outputs) names += (names.empty() ? "" : ", ") + m.first;
                throw Error("--output " + o + ": expected PATH (once) or NAME=PATH with NAME one of the model's outputs: " + names);
            }
            first_path = o;
        } else {
            named[name] = o.substr(eq + 1);
        }
    }
    const auto ys = model.forward_all(xt);
    const Tensor y = ys.at(model_outputs.front().first);
    if (!first_path.empty()) save_npy(first_path, HostArray{y.shape(), y.to_host()});
    for (const auto& [name, path] : named) save_npy(path, HostArray{ys.at(name).shape(), ys.at(name).to_host()});
    std::fprintf(stderr, "%s: input %s -> output %s%s\n", model.name().c_str(), shape_str(x.shape).c_str(), shape_str(y.shape()).c_str(),
                 first_path.empty() ? "" : (" written to " + first_path).c_str());
    for (const auto& [name, path] : named)
        std::fprintf(stderr, "%s: output '%s' %s written to %s\n", model.name().c_str(), name.c_str(), shape_str(ys.at(name).shape()).c_str(),
                     path.c_str());
    if (a.batch_time) {
        std::vector<double> ms;
        for (int r = 0; r < a.runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            model.forward(xt);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const auto st = model.last_forward_stats();
        std::printf("batch %lld: median %.3f ms per forward over %d runs (min %.3f, max %.3f); %llu submission(s), %llu host transfer(s), "
                    "%u dispatches per forward\n",
                    static_cast<long long>(x.shape.empty() ? 0 : x.shape[0]), ms[ms.size() / 2], a.runs, ms.front(), ms.back(),
                    static_cast<unsigned long long>(st.submissions), static_cast<unsigned long long>(st.host_transfers), st.dispatches);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vkconv: PyTorch-exact convolution on any Vulkan device"};
    app.require_subcommand(1);
    std::string device;
    app.add_option("--device", device, "device index or name substring (default: VKCONV_DEVICE or the best)");

    auto* devices = app.add_subcommand("devices", "list Vulkan devices, their limits, and the one vkconv would choose");

    Conv2dArgs c;
    auto* conv = app.add_subcommand("conv2d", "torch.nn.functional.conv2d on .npy files (float32, C order, little-endian)");
    conv->add_option("--input", c.input, "input [N, C, H, W] or [C, H, W]")->required();
    conv->add_option("--weight", c.weight, "weight [out_channels, in_channels/groups, kh, kw]")->required();
    conv->add_option("--bias", c.bias, "bias [out_channels]");
    conv->add_option("--output", c.output, "where to write the result")->required();
    conv->add_option("--stride", c.stride, "n or h,w")->capture_default_str();
    conv->add_option("--padding", c.padding, "n, h,w, same or valid")->capture_default_str();
    conv->add_option("--dilation", c.dilation, "n or h,w")->capture_default_str();
    conv->add_option("--groups", c.groups)->capture_default_str();
    conv->add_option("--padding-mode", c.padding_mode, "zeros|reflect|replicate|circular")->capture_default_str();
    conv->add_option("--algorithm", c.algorithm, conv2d_algorithm_names())->capture_default_str();
    conv->add_option("--device", device, "device index or name substring");
    conv->add_flag("--reference", c.reference, "compute with the CPU reference instead of the GPU");

    RunArgs r;
    auto* run = app.add_subcommand("run", "run a model description (JSON) with PyTorch weights on an input");
    run->add_option("--model", r.model, "model description (.json, see tools/export_model.py) or an ONNX model (.onnx)")->required();
    run->add_option("--weights", r.weights, "state_dict as .safetensors or a directory of <key>.npy (JSON models)");
    run->add_option("--input", r.inputs, "input .npy (float32), or a PNG read as [1, 3, H, W] in [0, 1]; ONNX: [NAME=]file, "
                    "repeatable (bare: the first input; other inputs are bound as constants)")->required();
    run->add_option("--output", r.outputs, "where to write the output .npy: [NAME=]file, repeatable (bare: the first output; NAME: one of the model's named outputs)");
    run->add_flag("--batch-time", r.batch_time, "also time the forward pass (input resident on the device)");
    run->add_option("--runs", r.runs, "forward passes to time with --batch-time")->check(CLI::Range(1, 100000));
    run->add_flag("--no-fusion", r.no_fusion, "no BatchNorm folding or ReLU fusion");
    run->add_flag("--random-weights", r.random_weights, "run without --weights, on seeded random parameters");
    run->add_option("--device", device, "device index or name substring");

    vkconv::tools::register_bench(app, device);  // `vkconv bench` (tools/bench.cpp)
    vkconv::tools::register_tune(app, device);   // `vkconv tune` (tools/tune.cpp)
    vkconv::tools::register_soak(app, device);   // `vkconv soak` (tools/soak.cpp)
    vkconv::tools::register_compile_report(app, device);  // `vkconv compile-report` (tools/compile_report.cpp)

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (*devices) return cmd_devices(device);
        if (*conv) return cmd_conv2d(c, device);
        if (*run) return cmd_run(r, device);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vkconv: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
