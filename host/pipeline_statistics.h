// host/pipeline_statistics.h: what the driver's compiler made of a pipeline, read through
// VK_KHR_pipeline_executable_properties: registers, spills, scratch, shared memory, occupancy.
// Available for pipelines of a context made with ContextOptions::pipeline_statistics on a device
// that has the extension (Mesa RADV does, also on its null devices without a GPU:
// RADV_FORCE_FAMILY=navi21 with the RADV ICD). Used by `vkconv compile-report`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vkconv::host {

class Context;
class ComputePipeline;

// One executable of a pipeline (a compute pipeline has one) and every statistic the driver
// reports for it, by the driver's names, as numbers (booleans 0 / 1).
struct ExecutableStatistics {
    std::string name, description;
    std::vector<std::pair<std::string, double>> values;
    // The statistic named `name`, or `missing` where the driver does not report it.
    double get(const std::string& name, double missing = -1) const;
};

// The pipeline's statistics; empty when the context does not capture them.
std::vector<ExecutableStatistics> pipeline_statistics(const Context& ctx, const ComputePipeline& pipeline);

// The figures a compile report checks, from the drivers' own names (Mesa RADV/ACO, Intel ANV);
// -1 where the driver does not report one.
struct CompileBudget {
    int64_t vgprs = -1, sgprs = -1;                  // registers per invocation / per subgroup
    int64_t spilled_vgprs = -1, spilled_sgprs = -1;  // registers spilled to memory
    int64_t scratch_bytes = -1;                      // private (scratch) memory per invocation or subgroup
    int64_t shared_bytes = -1;                       // shared memory (LDS)
    int64_t waves_per_simd = -1;                     // occupancy: subgroups resident per SIMD
    int64_t instructions = -1;
};
CompileBudget compile_budget(const ExecutableStatistics& s);

}  // namespace vkconv::host
