// tools/compile_report.cpp: `vkconv compile-report`.
//
//   vkconv compile-report                                  the suite's convolutions (S1..S11)
//   vkconv compile-report --model m.onnx --model m.json    a model's convolutions (at --batch for JSON)
//   vkconv compile-report --suite --check --min-waves 4    exit 1 when a pipeline is over budget
//
// Creates every pipeline Auto would use for each convolution, with the specialization constants
// record() would use (Conv2d::prepare on the model's planned steps, folding and fusion
// included), without allocating tensors or dispatching anything, so it runs on drivers with no
// GPU behind them: Mesa RADV's null devices compile for AMD chips, e.g.
//   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/radeon_icd.x86_64.json RADV_FORCE_FAMILY=gfx1100 vkconv compile-report
// For each distinct pipeline it prints the driver compiler's statistics where the device has
// VK_KHR_pipeline_executable_properties (host/pipeline_statistics.h): registers, spills, scratch,
// shared memory, waves per SIMD. --check fails on any spill or scratch use and on fewer than
// --min-waves waves per SIMD (and on validation messages when the layer is on).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench.h"
#include "vkconv/internal.h"
#include "cli_common.h"
#include "env_options.h"
#include "common/simple_cnn.h"
#include "host/context.h"
#include "host/pipeline.h"
#include "host/pipeline_statistics.h"

namespace vkconv::tools {
namespace {

struct ReportArgs {
    bool suite = false;
    std::string rows;
    std::vector<std::string> models;
    std::string input_shape;
    int64_t batch = 1;
    bool json = false;
    bool check = false;
    int min_waves = 0;
};

// One distinct pipeline, the convolutions that use it, and what the driver made of it.
struct Entry {
    std::shared_ptr<const host::ComputePipeline> pipeline;
    std::vector<std::string> users;  // "S4", "resnet18:layer1.0.conv1 (winograd)"
    std::vector<host::ExecutableStatistics> stats;
    host::CompileBudget budget;
};

class Report {
public:
    explicit Report(Context& ctx) : ctx_(ctx) {}

    // Prepares `conv` for `input` with `act` fused (and a folded channel scaling), as record()
    // would, and notes its pipelines.
    void add(const std::string& user, Conv2d& conv, const Shape& input, const Activation& act, bool scaled = false) {
        const std::string alg = to_string(conv.algorithm_for(input));
        for (const auto& p : detail::Conv2dAccess::prepare(conv, input, act, scaled)) {
            auto it = index_.find(p.get());
            if (it == index_.end()) {
                it = index_.emplace(p.get(), entries_.size()).first;
                Entry e;
                e.pipeline = p;
                e.stats = host::pipeline_statistics(host::of(ctx_), *p);
                if (!e.stats.empty()) e.budget = host::compile_budget(e.stats.front());
                entries_.push_back(std::move(e));
            }
            entries_[it->second].users.push_back(user + " (" + alg + ")");
        }
        ++convolutions_;
    }
    const std::vector<Entry>& entries() const { return entries_; }
    size_t convolutions() const { return convolutions_; }

private:
    Context& ctx_;
    std::vector<Entry> entries_;
    std::map<const host::ComputePipeline*, size_t> index_;
    size_t convolutions_ = 0;
};

// The suite's rows: each convolution as `vkconv bench` runs it; S11 SimpleCNN's planned steps.
void add_suite(Report& r, Context& ctx, const std::string& rows) {
    std::vector<std::string> wanted;
    for (std::stringstream ss(rows); ss.good();) {
        std::string t;
        std::getline(ss, t, ',');
        if (!t.empty()) wanted.push_back(t);
    }
    bool matched = wanted.empty();
    for (const auto& row : suite()) {
        if (!wanted.empty() && std::none_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
                return row.name == w || row.name.rfind(w + "/", 0) == 0;
            }))
            continue;
        matched = true;
        if (row.model) {
            auto model = make_simple_cnn(ctx);
            model->for_each_step(row.input, [&](const Model::PlannedStep& s) {
                if (auto* conv = dynamic_cast<Conv2d*>(&s.layer))
                    r.add(row.name + ":" + s.name, *conv, s.inputs[0], s.activation, s.scaled_input);
            });
            continue;
        }
        Conv2d conv(ctx, Conv2dParams{static_cast<int>(row.input[1]), row.out_channels, row.kernel, row.opt});
        r.add(row.name, conv, row.input, Activation{});
    }
    if (!matched) throw Error("--rows '" + rows + "' names no row of the suite (S1..S11)");
}

void add_model(Report& r, Context& ctx, const std::string& path, const std::string& input_shape, int64_t batch) {
    const Shape sample = input_shape.empty() ? Shape{} : parse_chw(input_shape, "--input-shape");
    // Pipelines depend on shapes only: JSON models run on seeded parameters.
    Loaded l = load(ctx, path, "", !is_onnx_file(path), sample, batch);
    const Shape shape = l.fixed_batch ? l.onnx->input_shape : batched(l.sample, batch);
    const std::string name = l.model().name();
    l.model().for_each_step(shape, [&](const Model::PlannedStep& s) {
        if (auto* conv = dynamic_cast<Conv2d*>(&s.layer)) r.add(name + ":" + s.name, *conv, s.inputs[0], s.activation, s.scaled_input);
    });
}

std::string join(const std::vector<uint32_t>& v, size_t from) {
    std::string s;
    for (size_t i = from; i < v.size(); ++i) s += (i == from ? "" : ",") + std::to_string(v[i]);
    return s;
}

// "zeros+bias+relu": the shared specialization constants 2..4 (conv2d_epilogue.glsl).
std::string epilogue(const std::vector<uint32_t>& spec) {
    if (spec.size() < 5) return "-";
    std::string s = to_string(static_cast<PaddingMode>(spec[2]));
    if (spec[3]) s += "+bias";
    if (spec[4]) s += std::string("+") + to_string(static_cast<ActivationKind>(spec[4]));
    return s;
}

// Why `e` is over budget (empty when it is not).
std::vector<std::string> violations(const Entry& e, int min_waves) {
    std::vector<std::string> v;
    const auto& b = e.budget;
    if (b.spilled_vgprs > 0 || b.spilled_sgprs > 0)
        v.push_back("spills " + std::to_string(std::max<int64_t>(b.spilled_vgprs, 0)) + " VGPRs and " +
                    std::to_string(std::max<int64_t>(b.spilled_sgprs, 0)) + " SGPRs");
    if (b.scratch_bytes > 0) v.push_back("uses " + std::to_string(b.scratch_bytes) + " bytes of scratch");
    if (min_waves > 0 && b.waves_per_simd >= 0 && b.waves_per_simd < min_waves)
        v.push_back(std::to_string(b.waves_per_simd) + " waves per SIMD (at least " + std::to_string(min_waves) + " wanted)");
    return v;
}

int cmd_compile_report(ReportArgs a, const std::string& device) {
    if (a.batch < 1) throw Error("--batch must be at least 1, but got " + std::to_string(a.batch));
    if (!a.rows.empty()) a.suite = true;
    if (!a.suite && a.models.empty()) a.suite = true;
    ContextOptions co;
    co.device = device;
    co.pipeline_statistics = true;
    Context ctx(tools::with_env_tiles(co));
    const auto& info = ctx.info();
    if (a.check && !ctx.pipeline_statistics_enabled())
        throw Error("--check: '" + info.name + "' does not report pipeline statistics (no VK_KHR_pipeline_executable_properties)");
    Report report(ctx);
    if (a.suite) add_suite(report, ctx, a.rows);
    for (const auto& m : a.models) add_model(report, ctx, m, a.input_shape, a.batch);

    std::vector<std::string> over;
    for (const auto& e : report.entries())
        for (const auto& why : violations(e, a.min_waves))
            over.push_back(e.pipeline->name() + " [" + join(e.pipeline->specialization(), 0) + "] (" + e.users.front() + "): " + why);
    const auto messages = ctx.validation_messages();

    if (a.json) {
        nlohmann::json j;
        j["device"] = info.name;
        j["driver"] = info.driver_name + " " + info.driver_info;
        j["class"] = host::to_string(host::of(ctx).policy().device_class);
        j["statistics"] = ctx.pipeline_statistics_enabled();
        j["convolutions"] = report.convolutions();
        auto& ps = j["pipelines"] = nlohmann::json::array();
        for (const auto& e : report.entries()) {
            nlohmann::json p;
            p["shader"] = e.pipeline->name();
            p["specialization"] = e.pipeline->specialization();
            p["users"] = e.users;
            p["over_budget"] = violations(e, a.min_waves);
            for (const auto& x : e.stats)
                for (const auto& [k, v] : x.values) p["statistics"][k] = v;
            ps.push_back(p);
        }
        j["validation_messages"] = messages;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("device: %s (%s, %s %s), class %s; %zu convolutions, %zu distinct pipelines\n", info.name.c_str(), info.type.c_str(),
                    info.driver_name.c_str(), info.driver_info.c_str(), host::to_string(host::of(ctx).policy().device_class), report.convolutions(),
                    report.entries().size());
        if (!ctx.pipeline_statistics_enabled())
            std::printf("the device does not report pipeline statistics (no VK_KHR_pipeline_executable_properties): pipelines only\n");
        std::printf("%-26s %4s %-22s %-22s %5s %5s %6s %6s %7s %6s %5s %6s  %s\n", "shader", "wg", "tiles (spec 7..)", "epilogue", "VGPRs",
                    "SGPRs", "spillV", "spillS", "scratch", "LDS", "waves", "instrs", "used by");
        auto num = [](int64_t v) { return v < 0 ? std::string("-") : std::to_string(v); };
        for (const auto& e : report.entries()) {
            const auto& spec = e.pipeline->specialization();
            const auto& b = e.budget;
            std::string users = e.users.front();
            if (e.users.size() > 1) users += " and " + std::to_string(e.users.size() - 1) + " more";
            std::printf("%-26s %4u %-22s %-22s %5s %5s %6s %6s %7s %6s %5s %6s  %s\n", e.pipeline->name().c_str(), spec.empty() ? 0u : spec[0],
                        join(spec, 7).c_str(), epilogue(spec).c_str(), num(b.vgprs).c_str(), num(b.sgprs).c_str(),
                        num(b.spilled_vgprs).c_str(), num(b.spilled_sgprs).c_str(), num(b.scratch_bytes).c_str(), num(b.shared_bytes).c_str(),
                        num(b.waves_per_simd).c_str(), num(b.instructions).c_str(), users.c_str());
        }
        if (ctx.pipeline_statistics_enabled() && !report.entries().empty()) {
            const auto& es = report.entries();
            const auto most = std::max_element(es.begin(), es.end(), [](const Entry& x, const Entry& y) { return x.budget.vgprs < y.budget.vgprs; });
            const auto fewest = std::min_element(es.begin(), es.end(), [](const Entry& x, const Entry& y) {
                return x.budget.waves_per_simd < y.budget.waves_per_simd;
            });
            int64_t spills = 0, scratch = 0;
            for (const auto& e : es) {
                spills += std::max<int64_t>(e.budget.spilled_vgprs, 0) + std::max<int64_t>(e.budget.spilled_sgprs, 0);
                scratch = std::max(scratch, e.budget.scratch_bytes);
            }
            std::printf("worst: %s VGPRs (%s), %lld registers spilled in all, %lld bytes of scratch at most, %s waves per SIMD (%s)\n",
                        num(most->budget.vgprs).c_str(), most->pipeline->name().c_str(), static_cast<long long>(spills),
                        static_cast<long long>(scratch), num(fewest->budget.waves_per_simd).c_str(), fewest->pipeline->name().c_str());
        }
    }
    for (const auto& m : messages) std::fprintf(stderr, "%s\n", m.c_str());
    if (a.check) {
        for (const auto& o : over) std::fprintf(stderr, "over budget: %s\n", o.c_str());
        if (!over.empty() || !messages.empty()) {
            std::fprintf(stderr, "vkconv: error: compile-report --check: %zu pipeline budget violation(s), %zu validation message(s) on '%s'\n",
                         over.size(), messages.size(), info.name.c_str());
            return 1;
        }
    }
    return 0;
}

}  // namespace

void register_compile_report(CLI::App& app, std::string& device) {
    auto a = std::make_shared<ReportArgs>();
    auto* c = app.add_subcommand("compile-report",
                                 "create the pipelines Auto uses for the suite's or a model's convolutions (nothing allocated or "
                                 "dispatched) and print the driver's statistics per pipeline (VGPRs, spills, scratch, LDS, waves)");
    c->add_flag("--suite", a->suite, "the suite's convolutions (S1..S11; the default without --model)");
    c->add_option("--rows", a->rows, "comma-separated suite rows (implies --suite)");
    c->add_option("--model", a->models, "a model's convolutions: JSON description or ONNX file (repeatable)");
    c->add_option("--input-shape", a->input_shape, "--model's input C,H,W (default: the model's own)");
    c->add_option("--batch", a->batch, "--model's batch (JSON models; an ONNX graph keeps its own)")->capture_default_str();
    c->add_flag("--json", a->json, "JSON on stdout, with every statistic the driver reports");
    c->add_flag("--check", a->check,
                "exit 1 when a pipeline spills registers, uses scratch or runs fewer than --min-waves waves per SIMD, or the "
                "validation layer (VKCONV_VALIDATION=1) reported anything");
    c->add_option("--min-waves", a->min_waves, "--check: the fewest waves (subgroups) per SIMD allowed")->capture_default_str();
    c->add_option("--device", device, "device index or name substring");
    c->callback([a, &device]() {
        int rc = 0;
        try {
            rc = cmd_compile_report(*a, device);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "vkconv: error: %s\n", e.what());
            rc = 1;
        }
        std::fflush(stdout);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace vkconv::tools
