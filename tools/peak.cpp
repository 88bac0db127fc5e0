// tools/peak.cpp: AVX2 FMA peak GFLOP/s (see peak.h).
#include "peak.h"

#include <immintrin.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "vkconv/error.h"

namespace vkconv::tools {
namespace {

// 12 independent accumulators: enough to cover FMA latency (4-5 cycles) on two FMA ports.
constexpr int kChains = 12;
constexpr int64_t kInner = 1 << 16;  // iterations between clock checks

__attribute__((target("avx2,fma"))) float fma_loop(int64_t outer, float seed) {
    __m256 acc[kChains];
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + float(c));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < kInner; ++i)
            for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    __m256 s = acc[0];
    for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
    alignas(32) float out[8];
    _mm256_store_ps(out, s);
    return out[0] + out[7];
}

constexpr double kFlopsPerOuter = double(kInner) * kChains * 8 * 2;

int default_threads() {
    if (const char* lp = std::getenv("LP_NUM_THREADS"); lp && std::atoi(lp) > 0) return std::atoi(lp);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        throw Error("--peak: this CPU has no AVX2 and FMA, which the peak measurement uses");
    if (threads <= 0) threads = default_threads();
    // Calibrate: outer iterations per ~50 ms on one thread.
    int64_t outer = 1;
    for (;;) {
        const auto t0 = std::chrono::steady_clock::now();
        volatile float sink = fma_loop(outer, 1.0f);
        (void)sink;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (s > 0.05 || outer > (int64_t(1) << 30)) {
            outer = std::max<int64_t>(1, int64_t(double(outer) * seconds / s));
            break;
        }
        outer *= 4;
    }
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            volatile float sink = fma_loop(outer, float(t));
            (void)sink;
        });
    const auto t0 = std::chrono::steady_clock::now();
    go = true;
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    FmaPeak p;
    p.threads = threads;
    // All the work over the wall time of all threads: threads that share a core (other load)
    // are not counted as running in parallel.
    p.gflops = kFlopsPerOuter * double(outer) * threads / s * 1e-9;
    p.gflops_per_thread = p.gflops / threads;
    return p;
}

}  // namespace vkconv::tools
