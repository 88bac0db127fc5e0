#include "host/pipeline_statistics.h"

#include "host/context.h"
#include "host/pipeline.h"

namespace vkconv::host {

double ExecutableStatistics::get(const std::string& key, double missing) const {
    for (const auto& [k, v] : values)
        if (k == key) return v;
    return missing;
}

std::vector<ExecutableStatistics> pipeline_statistics(const Context& ctx, const ComputePipeline& pipeline) {
    std::vector<ExecutableStatistics> out;
    if (!ctx.pipeline_statistics_enabled()) return out;
    const auto& dev = ctx.device();
    const auto executables = dev.getPipelineExecutablePropertiesKHR(vk::PipelineInfoKHR(pipeline.handle()));
    for (uint32_t i = 0; i < executables.size(); ++i) {
        ExecutableStatistics e;
        e.name = executables[i].name.data();
        e.description = executables[i].description.data();
        for (const auto& s : dev.getPipelineExecutableStatisticsKHR(vk::PipelineExecutableInfoKHR(pipeline.handle(), i))) {
            double v = 0;
            switch (s.format) {
                case vk::PipelineExecutableStatisticFormatKHR::eBool32: v = s.value.b32 ? 1 : 0; break;
                case vk::PipelineExecutableStatisticFormatKHR::eInt64: v = static_cast<double>(s.value.i64); break;
                case vk::PipelineExecutableStatisticFormatKHR::eUint64: v = static_cast<double>(s.value.u64); break;
                case vk::PipelineExecutableStatisticFormatKHR::eFloat64: v = s.value.f64; break;
            }
            e.values.emplace_back(s.name.data(), v);
        }
        out.push_back(std::move(e));
    }
    return out;
}

CompileBudget compile_budget(const ExecutableStatistics& s) {
    // The first name a driver reports wins: RADV (ACO) first, then ANV.
    auto first = [&](std::initializer_list<const char*> names) -> int64_t {
        for (const char* n : names)
            if (const double v = s.get(n, -1); v >= 0) return static_cast<int64_t>(v);
        return -1;
    };
    CompileBudget b;
    b.vgprs = first({"VGPRs"});
    b.sgprs = first({"SGPRs"});
    b.spilled_vgprs = first({"Spilled VGPRs", "Spill count"});
    b.spilled_sgprs = first({"Spilled SGPRs"});
    b.scratch_bytes = first({"Scratch size", "Scratch Memory Size"});
    b.shared_bytes = first({"LDS size", "Workgroup Memory Size"});
    b.waves_per_simd = first({"Subgroups per SIMD"});
    b.instructions = first({"Instructions", "Instruction Count"});
    return b;
}

}  // namespace vkconv::host
