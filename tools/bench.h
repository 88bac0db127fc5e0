// tools/bench.h: `vkconv bench`, the convolution benchmark suite (rows S1..S11 of issue 4, or a
// custom shape), with GPU-timestamp and wall-clock medians, GFLOP/s, and optionally PyTorch's
// numbers for the same rows measured in the same run (tools/bench_torch.py).
#pragma once

#include <string>

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

}  // namespace vkconv::tools
