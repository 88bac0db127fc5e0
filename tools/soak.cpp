// tools/soak.cpp: `vkconv soak`, the long-running leak and stability check.
//
// Runs SimpleCNN (samples/simple_cnn) forward passes, alternating a batch of 1 and a batch of
// --large-batch (64), each with a fresh input tensor uploaded from the host and the logits
// downloaded. Every output is compared bit for bit with the first output of its batch size (the
// same device and shaders must give the same bits). After --warmup iterations it records the
// process's resident set (VmRSS from /proc/self/status) and the context's live device bytes and
// allocations; it prints them every --report-every iterations and at the end, and fails (exit 1)
// when, at any report after warm-up:
//   - live_bytes() or live_allocations() differ from the warm-up values (they must be exact: the
//     models' plans are cached per input shape, so nothing should be allocated per iteration), or
//   - VmRSS exceeds the warm-up value by more than --rss-tolerance-mib (default 16 MiB; drivers
//     and allocators keep some slack, a leak per iteration grows without bound), or
//   - the C heap in use (glibc's mallinfo2: bytes in live malloc blocks, including the driver's)
//     exceeds its warm-up value by more than --heap-tolerance-kib (default 256 KiB). This is the
//     sharper check: RSS hides a small leak under page and arena slack for thousands of
//     iterations (a leaked buffer view per pass, ~1 KiB, took 10000 passes to show as +9.5 MiB
//     of RSS), while the bytes in use grow by exactly the leak. Not checked where mallinfo2 says
//     nothing (sanitizer allocators report 0), or
//   - an output differs from the first output of its batch, or the validation layer (when on,
//     VKCONV_VALIDATION=1) reported anything.
#include "soak.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <memory>
#include <string>
#include <vector>

#include "vkconv/vkconv.h"
#include "common/simple_cnn.h"
#include "cli_common.h"
#include "env_options.h"

namespace vkconv::tools {
namespace {

struct SoakArgs {
    int64_t iterations = 10000;
    int64_t warmup = 100;
    int64_t report_every = 500;
    int large_batch = 64;
    double rss_tolerance_mib = 16;
    double heap_tolerance_kib = 256;
};

// Bytes in live malloc blocks (arenas and mmapped chunks), or -1 where the allocator does not say.
long long heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    const struct mallinfo2 mi = mallinfo2();
    const long long used = static_cast<long long>(mi.uordblks + mi.hblkhd);
    return used > 0 ? used : -1;
#else
    return -1;
#endif
}

// VmRSS in KiB, or -1 where /proc is unavailable.
long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

int cmd_soak(const SoakArgs& a, const std::string& device) {
    ContextOptions o;
    o.device = device;
    Context ctx(tools::with_env_tiles(o));
    auto model = make_simple_cnn(ctx);
    const int batches[2] = {1, a.large_batch};
    std::vector<float> inputs[2], first[2];
    for (int b = 0; b < 2; ++b) {
        inputs[b].resize(static_cast<size_t>(batches[b]) * 3 * 32 * 32);
        for (size_t i = 0; i < inputs[b].size(); ++i) inputs[b][i] = std::sin(0.001f * float(i) + float(b));
    }
    std::printf("vkconv soak: %lld SimpleCNN forward passes alternating batch 1 and %d on '%s'%s\n",
                static_cast<long long>(a.iterations), a.large_batch, ctx.info().name.c_str(),
                ctx.validation_enabled() ? " (validation on)" : "");
    std::printf("%10s %12s %12s %14s %12s %10s\n", "iteration", "VmRSS KiB", "heap KiB", "device bytes", "allocations", "seconds");
    const auto start = std::chrono::steady_clock::now();
    long base_rss = -1;
    long long base_heap = -1;
    uint64_t base_bytes = 0, base_allocs = 0;
    int failures = 0;
    auto report = [&](int64_t it) {
        const long rss = rss_kib();
        const long long heap = heap_in_use();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("%10lld %12ld %12lld %14llu %12llu %10.1f\n", static_cast<long long>(it), rss, heap >= 0 ? heap / 1024 : -1,
                    static_cast<unsigned long long>(ctx.live_bytes()), static_cast<unsigned long long>(ctx.live_allocations()), secs);
        std::fflush(stdout);
        if (base_rss < 0) return;
        if (ctx.live_bytes() != base_bytes || ctx.live_allocations() != base_allocs) {
            std::fprintf(stderr, "vkconv soak: device memory changed after warm-up: %llu bytes in %llu allocations, was %llu in %llu\n",
                         static_cast<unsigned long long>(ctx.live_bytes()), static_cast<unsigned long long>(ctx.live_allocations()),
                         static_cast<unsigned long long>(base_bytes), static_cast<unsigned long long>(base_allocs));
            ++failures;
        }
        if (rss >= 0 && double(rss - base_rss) > a.rss_tolerance_mib * 1024) {
            std::fprintf(stderr, "vkconv soak: VmRSS grew by %ld KiB after warm-up (tolerance %.1f MiB)\n", rss - base_rss,
                         a.rss_tolerance_mib);
            ++failures;
        }
        if (heap >= 0 && base_heap >= 0 && double(heap - base_heap) > a.heap_tolerance_kib * 1024) {
            std::fprintf(stderr, "vkconv soak: the heap in use grew by %lld KiB after warm-up (tolerance %.0f KiB)\n",
                         (heap - base_heap) / 1024, a.heap_tolerance_kib);
            ++failures;
        }
    };
    for (int64_t it = 1; it <= a.iterations && failures == 0; ++it) {
        const int b = (it % 2 == 1) ? 0 : 1;
        std::vector<float> y;
        {
            // The input and output tensors live for this iteration only (not at the reports).
            Tensor x = Tensor::from_host(ctx, {batches[b], 3, 32, 32}, inputs[b]);
            y = model->forward(x).to_host();
        }
        if (first[b].empty()) {
            first[b] = y;
        } else if (y.size() != first[b].size() || std::memcmp(y.data(), first[b].data(), y.size() * sizeof(float)) != 0) {
            std::fprintf(stderr, "vkconv soak: iteration %lld (batch %d): the logits differ from the first run's\n",
                         static_cast<long long>(it), batches[b]);
            ++failures;
        }
        if (!ctx.validation_messages().empty()) {
            for (const auto& m : ctx.validation_messages()) std::fprintf(stderr, "vkconv soak: %s\n", m.c_str());
            ++failures;
        }
        if (it == a.warmup) {
            base_rss = rss_kib();
            base_heap = heap_in_use();
            base_bytes = ctx.live_bytes();
            base_allocs = ctx.live_allocations();
            std::printf("%10s (warm-up done: the values below must hold: device bytes and allocations exactly, VmRSS within "
                        "+%.1f MiB, heap in use within +%.0f KiB)\n",
                        "", a.rss_tolerance_mib, a.heap_tolerance_kib);
        }
        if (it == 1 || it == a.warmup || it % a.report_every == 0 || it == a.iterations) report(it);
    }
    if (base_rss < 0) std::printf("vkconv soak: fewer iterations than the warm-up (%lld): nothing checked after warm-up\n",
                                  static_cast<long long>(a.warmup));
    if (failures) {
        std::fprintf(stderr, "vkconv soak: FAILED\n");
        return 1;
    }
    const long long heap_now = heap_in_use();
    std::printf("vkconv soak: OK (VmRSS %+ld KiB, heap %+lld KiB since warm-up)\n", base_rss >= 0 ? rss_kib() - base_rss : 0L,
                base_heap >= 0 && heap_now >= 0 ? (heap_now - base_heap) / 1024 : 0LL);
    return 0;
}

}  // namespace

void register_soak(CLI::App& app, std::string& device) {
    auto a = std::make_shared<SoakArgs>();
    auto* s = app.add_subcommand("soak", "leak and stability check: SimpleCNN forward passes, batch 1 and 64 alternating");
    s->add_option("--iterations", a->iterations, "forward passes")->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1) << 40));
    s->add_option("--warmup", a->warmup, "iterations before the baseline is taken")->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1) << 40));
    s->add_option("--report-every", a->report_every, "print every N iterations")->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1) << 40));
    s->add_option("--large-batch", a->large_batch, "the larger batch size")->capture_default_str()->check(CLI::Range(1, 4096));
    s->add_option("--rss-tolerance-mib", a->rss_tolerance_mib, "allowed VmRSS growth after warm-up")->capture_default_str();
    s->add_option("--heap-tolerance-kib", a->heap_tolerance_kib, "allowed growth of the C heap in use after warm-up")->capture_default_str();
    s->add_option("--device", device, "device index or name substring");
    s->callback([a, &device]() { run_subcommand([&] { return cmd_soak(*a, device); }); });
}

}  // namespace vkconv::tools
