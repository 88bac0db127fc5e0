// conv2d/registry.cpp: every convolution kernel, once, in Auto's order: Auto takes the first
// kernel whose auto_candidate() holds and that can run the convolution (after a tuned choice,
// and the fp16-storing kernels first when fp16 storage is requested). to_string, parsing, the
// algorithm list (conv2d_algorithms(): the CLI's help, `vkconv tune`, the tests) come from here.
#include <array>
#include <string>

#include "conv2d/kernel.h"
#include "vkconv/error.h"

namespace vkconv::detail {

// The table: one line per kernel (its file defines `const Conv2dKernel& NAME_kernel()`).
#define VKCONV_CONV2D_KERNELS(X)                                                                  \
    X(depthwise_texel) /* groups == in_channels > 1 */                                             \
    X(depthwise)       /* groups == in_channels > 1 (always runs: ends Auto's depthwise search) */ \
    X(gemm_1x1)        /* 1x1 kernels */                                                           \
    X(implicit_gemm)   /* GPUs: dense convolutions with long reductions */                         \
    X(grouped_texel)   /* in_channels / groups <= 16 */                                            \
    X(winograd)        /* 3x3 with many channels and outputs (the measured rule) */                \
    X(packed_texel)                                                                                \
    X(direct_texel)                                                                                \
    X(direct_tiled) /* runs everything */

#define VKCONV_DECLARE(name) const Conv2dKernel& name##_kernel();
VKCONV_CONV2D_KERNELS(VKCONV_DECLARE)
#undef VKCONV_DECLARE

std::span<const Conv2dKernel* const> conv2d_kernels() {
#define VKCONV_ENTRY(name) &name##_kernel(),
    static const std::array kTable = [] {
        const std::array table = {VKCONV_CONV2D_KERNELS(VKCONV_ENTRY)};
        // Kernels without an enumerator in Conv2dAlgorithm pick a value of their own: two
        // kernels with one value would make forcing one run the other.
        for (size_t i = 0; i < table.size(); ++i)
            for (size_t j = 0; j < i; ++j)
                if (table[i]->algorithm() == table[j]->algorithm())
                    throw Error(std::string("Conv2d: kernels '") + table[j]->name() + "' and '" + table[i]->name() +
                                "' have the same Conv2dAlgorithm value");
        return table;
    }();
#undef VKCONV_ENTRY
    return kTable;
}

const Conv2dKernel& conv2d_kernel(Conv2dAlgorithm a) {
    for (const auto* k : conv2d_kernels())
        if (k->algorithm() == a) return *k;
    throw Error("Conv2d: no kernel for algorithm " + std::to_string(static_cast<int>(a)));
}

}  // namespace vkconv::detail
