// tools/peak.h: the machine's AVX2 FMA peak (`vkconv bench --peak`), the ceiling of lavapipe's
// 8-wide code, measured in the same run as the numbers it is compared with.
#pragma once

namespace vkconv::tools {

struct FmaPeak {
    int threads = 0;
    double gflops = 0;             // all threads together
    double gflops_per_thread = 0;  // the sum divided by the threads
};

// Runs a loop of independent 8-wide fp32 FMAs (2 FLOPs per lane) on `threads` threads (0: one
// per CPU the process may run on, as lavapipe starts one per CPU unless LP_NUM_THREADS says
// otherwise) for about `seconds`. Throws vkconv::Error where the CPU lacks AVX2 or FMA.
FmaPeak measure_fma_peak(int threads, double seconds);

}  // namespace vkconv::tools
