// Shared pieces of the Conv2d sweep tests (test_conv2d*.cpp): one case of the sweep over the
// algorithms (tests/test_conv2d_algorithms.cpp), tile knobs set per test case, the options of a
// sweep row, and the fp16-storage error bound (derived in tests/test_conv2d_algorithms.cpp).
#pragma once

#include <cmath>
#include <cstdlib>
#include <ostream>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"
#include "support/test_support.h"

namespace vkconv::test {

// Conv2dOptions from every field, for the sweep tables.
inline Conv2dOptions conv2d_options(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return {.stride = stride, .padding = padding, .dilation = dilation, .groups = groups, .bias = bias, .padding_mode = mode};
}

// One case of the convolution sweeps: a convolution, the algorithm it is forced to (Auto: the
// engine's choice), and how it runs. Failures print every field (str()).
struct Conv2dCase {
    Shape input;  // [N, C, H, W] or [C, H, W]
    int out_channels = 1;
    Pair kernel{1};
    Conv2dOptions opt;
    Conv2dAlgorithm algorithm = Conv2dAlgorithm::Auto;
    bool relu = false;
    bool staging = false;  // test::staging_context(): device-local memory, uploads through staging
    std::string knobs;     // tile overrides, "VKCONV_PACKED_PX=3,VKCONV_PACKED_OCT=4"
    StoragePrecision precision = StoragePrecision::Float32;
    float scale = 1.0f;             // inputs uniform in [-scale, scale)
    uint32_t workgroup_limit = 0;   // set_layer_workgroup_count_limit_for_testing (0: the device's)

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, kernel, opt};
        std::ostringstream s;
        s << p.str() << " bias=" << (opt.bias ? "True" : "False") << " padding_mode=" << to_string(opt.padding_mode)
          << " input=" << shape_str(input) << " algorithm=" << to_string(algorithm) << " precision=" << to_string(precision)
          << (relu ? " +relu" : "") << (scale != 1.0f ? " scale=" + std::to_string(scale) : "") << (staging ? " staging" : "")
          << (knobs.empty() ? "" : " " + knobs);
        if (workgroup_limit) s << " workgroup_limit=" << workgroup_limit;
        return s.str();
    }
};
inline void PrintTo(const Conv2dCase& c, std::ostream* os) { *os << c.str(); }

inline std::vector<float> abs_of(std::vector<float> v) {
    for (auto& e : v) e = std::fabs(e);
    return v;
}

// The fp16-storage bound per output (see tests/test_conv2d_algorithms.cpp) for inputs x and
// weights w (bias b, possibly empty): the device rounds the activations (u_x = 2^-10, eta_x =
// 2^-14), the host the weights (u_w, 2^-11 by default; eta_w = 2^-25).
constexpr double kFp16Ux = 1.0 / 1024, kFp16EtaX = 1.0 / 16384;
constexpr double kFp16Uw = 1.0 / 2048, kFp16EtaW = 1.0 / (1 << 25);
inline std::vector<float> fp16_tolerance(const Conv2dParams& p, const Shape& shape, const std::vector<float>& x,
                                         const std::vector<float>& w, const std::vector<float>& b, double u_w = kFp16Uw) {
    const auto ax = abs_of(x), aw = abs_of(w);
    const std::vector<float> ones_x(ax.size(), 1.0f), ones_w(aw.size(), 1.0f), none;
    const auto s_xw = conv2d_reference(p, shape, ax, aw, none);
    const auto s_w = conv2d_reference(p, shape, ones_x, aw, none);
    const auto s_x = conv2d_reference(p, shape, ax, ones_w, none);
    const int64_t L = int64_t(p.in_channels / p.options.groups) * p.kernel.h * p.kernel.w;
    const int64_t per_channel = static_cast<int64_t>(s_xw.size()) / (shape.size() == 4 ? shape[0] : 1) / p.out_channels;
    std::vector<float> sums(s_xw.size());
    for (size_t i = 0; i < sums.size(); ++i) {
        const double bias = b.empty() ? 0.0 : std::fabs(b[(i / static_cast<size_t>(per_channel)) % static_cast<size_t>(p.out_channels)]);
        sums[i] = static_cast<float>((1.0 + 1.0 / 512) * (double(s_xw[i]) + bias));
    }
    auto tol = fp32_sum_tolerance(sums, L);
    for (size_t i = 0; i < tol.size(); ++i)
        tol[i] += static_cast<float>((kFp16Ux + u_w + kFp16Ux * u_w) * s_xw[i] + kFp16EtaX * (1 + u_w) * s_w[i] +
                                     kFp16EtaW * (1 + kFp16Ux) * s_x[i] + double(L) * kFp16EtaX * kFp16EtaW);
    return tol;
}

}  // namespace vkconv::test
