// Every convolution algorithm of the registry against the CPU reference (conv2d_reference,
// double accumulation), forced (or chosen by Auto), in fp32 and, for the algorithms that store
// fp16, in fp16: one parameterised suite. RegistryShapes runs the same shapes through every
// algorithm of conv2d_algorithms() (an added algorithm is swept without touching this file);
// the per-algorithm sweeps cover the ranges each accepts: every padding mode, explicit / same /
// valid padding, strides, dilations, groups (dense, grouped, depthwise with multiplier), bias,
// fused ReLU, odd sizes and channel counts, batches, unbatched input, tiny images, the staging
// memory path, the tile overrides (knobs) and split dispatches. Each case also checks a forward
// after set_weight (the transformed weight copies must follow).
//
// Tolerance, fp32 direct algorithms: the fp32 recursive-summation bound per output
// (test::fp32_sum_tolerance over sum |x w| + |b|); it holds for any summation order.
//
// Tolerance, winograd. Winograd F(m x m, 3x3) does not sum the products x * w of the direct convolution:
// per input channel c it computes U = G g G^T (in double, rounded once to fp32), V = B^T d B (fp32,
// a row pass and a column pass), sums U * V over the C input channels (fp32 FMA, recursive), and
// transforms back, Y = A^T M A (a row pass and a column pass), then adds the bias. A pass that
// forms sum_i a_i x_i from k nonzero coefficients rounds at most k times along any term's path
// (k - 1 additions, and one product where a_i is not a power of two), so with
// gamma_r = r u / (1 - r u), u = 2^-24, and E = sum_c |A^T| (|G| |g_c| |G^T| o |B^T| |d_c| |B|) |A|
// (o: element-wise, |.| element-wise absolute values) the standard forward-error argument gives
//   |Y_gpu - Y| <= gamma_R * (E + |b|) + O(u^2),  R = 1 (U) + 2 r_B (V) + C (GEMM) + 2 r_A (Y) + 1 (bias)
// with r_B, r_A the roundings per pass: F(2x2): B^T and A^T rows of 2 and 3 terms with coefficients
// +-1 (r_B = 1, r_A = 2, R = C + 8); F(4x4): B^T rows of up to 4 terms (the 5s round: at most 3
// roundings per row), A^T rows of up to 5 terms with powers of two (r_B = 3, r_A = 4, R = C + 16).
// E bounds every intermediate term but is NOT bounded by the direct sum_taps |x| |w| (the
// transforms mix taps that cancel exactly: F(2x2) with g = (1, 0, 0) and d = (0, 1, 1, 0) gives
// E = 3 and a direct sum of 0), so the test computes E itself (abs_winograd, in double from the
// same padded patches the shaders read) instead of reusing the direct bound, and applies the
// suite's fp32_sum_tolerance convention, 2 * (terms + 1) * u * sum + 1e-6 with terms + 1 = R and
// sum = E + |b|: the factor 2 covers the second-order terms, as for the other paths.
//
// Tolerance, fp16 storage (precision=fp16). per output y = b + sum_i x_i w_i over the L = (cin/groups)*kh*kw taps:
//   The device stores x~ = fp16(x) (the pack pass's imageStore to RGBA16F; Vulkan leaves the
//   rounding mode of that conversion undefined, so either neighbour: |x~ - x| <= u_x |x| + eta_x
//   with u_x = 2^-10 and eta_x = 2^-14, which also covers a flush of fp16 subnormals to zero) and
//   w~ = fp16(w) (rounded to nearest even on the host: u_w = 2^-11, eta_w = 2^-25, half the
//   smallest subnormal). Then
//     |x~ w~ - x w| <= (u_x + u_w + u_x u_w) |x w| + eta_x (1 + u_w) |w| + eta_w (1 + u_x) |x| + eta_x eta_w.
//   x~ w~ is exact in fp32 (11-bit significands, a 22-bit product), so the only other error is the
//   fp32 summation of the L products and the bias: fp32_sum_tolerance (2 (L + 1) 2^-24 per unit
//   of sum|products| + |b|, + 1e-6) applied to (1 + 2^-9) (sum|x w| + |b|) >= sum|x~ w~| + |b|.
//   The bias stays fp32. ReLU is 1-Lipschitz, so the bound holds after it. Summed over the taps:
//     tol = (u_x + u_w + u_x u_w) S_xw + eta_x (1 + u_w) S_w + eta_w (1 + u_x) S_x + L eta_x eta_w
//           + fp32_sum_tolerance((1 + 2^-9) (S_xw + |b|), L)
//   with S_xw = sum |x||w|, S_w = sum |w|, S_x = sum |x| over the taps that read the input
//   (computed by the reference from |x|, |w| and ones; zero padding contributes nothing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <span>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

using test::Conv2dCase;
using test::abs_of;
constexpr StoragePrecision kF16 = StoragePrecision::Float16;

using testing::reference_pad_index;

// The output tile of the algorithm under the context's tile overrides: winograd_tile (2 or 4;
// the device class's default when unset).
int winograd_tile(const Context& ctx) {
    const auto& policy = testing::policy(ctx);
    return host::tile_or(policy.tiles.winograd_tile, 2, 4, static_cast<int>(policy.winograd_tile)) >= 4 ? 4 : 2;
}

// E (see the header) + |bias| per output, in double, for F(m x m, 3x3): for an output in tile
// (ty, tx) the (m + 2) x (m + 2) patch of the padded input at (m ty - pad_top, m tx - pad_left),
// zero past the padded image (the pack pass's overrun).
std::vector<float> abs_winograd(const Conv2dParams& p, const Shape& in, std::span<const float> x, std::span<const float> w,
                                std::span<const float> bias, int mt) {
    const auto g = conv2d_geometry(p, in);
    const int64_t C = p.in_channels, K = p.out_channels;
    const int a = mt + 2, P = a * a;
    const int64_t PHr = g.h + g.pad_top + g.pad_bottom, PWr = g.w + g.pad_left + g.pad_right;
    const int64_t TH = (g.out_h + mt - 1) / mt, TW = (g.out_w + mt - 1) / mt;
    // |G|, |B^T|, |A^T| of F(2x2, 3x3) and F(4x4, 3x3) (points 0, +-1, +-2).
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 1}};
    static const double BT2[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
    static const double AT2[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
    static const double G4[6][3] = {{0.25, 0, 0}, {1. / 6, 1. / 6, 1. / 6}, {1. / 6, 1. / 6, 1. / 6},
                                    {1. / 24, 1. / 12, 1. / 6}, {1. / 24, 1. / 12, 1. / 6}, {0, 0, 1}};
    static const double BT4[6][6] = {{4, 0, 5, 0, 1, 0}, {0, 4, 4, 1, 1, 0}, {0, 4, 4, 1, 1, 0},
                                     {0, 2, 1, 2, 1, 0}, {0, 2, 1, 2, 1, 0}, {0, 4, 0, 5, 0, 1}};
    static const double AT4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, 1, 2, 2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, 1, 8, 8, 1}};
    auto Gm = [&](int i, int j) { return mt == 4 ? G4[i][j] : G2[i][j]; };
    auto BT = [&](int i, int j) { return mt == 4 ? BT4[i][j] : BT2[i][j]; };
    auto AT = [&](int i, int j) { return mt == 4 ? AT4[i][j] : AT2[i][j]; };
    // |U| per (k, c): |G| |g| |G^T|.
    std::vector<double> U(static_cast<size_t>(K * C * P));
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) {
            const float* gk = &w[static_cast<size_t>((k * C + c) * 9)];
            for (int i = 0; i < a; ++i)
                for (int j = 0; j < a; ++j) {
                    double s = 0;
                    for (int u = 0; u < 3; ++u)
                        for (int v = 0; v < 3; ++v) s += Gm(i, u) * std::fabs(gk[u * 3 + v]) * Gm(j, v);
                    U[static_cast<size_t>((k * C + c) * P + i * a + j)] = s;
                }
        }
    std::vector<float> out(static_cast<size_t>(g.n * K * g.out_h * g.out_w));
    std::vector<double> V(static_cast<size_t>(C * P));
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t ty = 0; ty < TH; ++ty)
            for (int64_t tx = 0; tx < TW; ++tx) {
                for (int64_t c = 0; c < C; ++c) {
                    double d[6][6];
                    for (int r = 0; r < a; ++r)
                        for (int s = 0; s < a; ++s) {
                            const int64_t py = mt * ty + r, px = mt * tx + s;
                            const int64_t iy = reference_pad_index(py - g.pad_top, g.h, p.options.padding_mode);
                            const int64_t ix = reference_pad_index(px - g.pad_left, g.w, p.options.padding_mode);
                            d[r][s] = (py < PHr && px < PWr && iy >= 0 && ix >= 0)
                                          ? std::fabs(x[static_cast<size_t>(((n * C + c) * g.h + iy) * g.w + ix)])
                                          : 0.0;
                        }
                    for (int i = 0; i < a; ++i)
                        for (int j = 0; j < a; ++j) {
                            double s = 0;
                            for (int u = 0; u < a; ++u)
                                for (int v = 0; v < a; ++v) s += BT(i, u) * d[u][v] * BT(j, v);
                            V[static_cast<size_t>(c * P + i * a + j)] = s;
                        }
                }
                for (int64_t k = 0; k < K; ++k) {
                    double m[36] = {};
                    for (int64_t c = 0; c < C; ++c)
                        for (int e = 0; e < P; ++e) m[e] += U[static_cast<size_t>((k * C + c) * P + e)] * V[static_cast<size_t>(c * P + e)];
                    for (int i = 0; i < mt; ++i)
                        for (int j = 0; j < mt; ++j) {
                            const int64_t oy = mt * ty + i, ox = mt * tx + j;
                            if (oy >= g.out_h || ox >= g.out_w) continue;
                            double s = bias.empty() ? 0.0 : std::fabs(bias[static_cast<size_t>(k)]);
                            for (int u = 0; u < a; ++u)
                                for (int v = 0; v < a; ++v) s += AT(i, u) * m[u * a + v] * AT(j, v);
                            out[static_cast<size_t>(((n * K + k) * g.out_h + oy) * g.out_w + ox)] = static_cast<float>(s);
                        }
                }
            }
    return out;
}

class Conv2dAlgorithms : public test::VulkanTest, public ::testing::WithParamInterface<Conv2dCase> {};

TEST_P(Conv2dAlgorithms, MatchesReference) {
    const Conv2dCase& c = GetParam();
    struct LimitGuard {
        explicit LimitGuard(uint32_t l) { if (l) set_layer_workgroup_count_limit_for_testing(l); }
        ~LimitGuard() { set_layer_workgroup_count_limit_for_testing(0); }
    } limit(c.workgroup_limit);
    Context& ctx = c.staging ? test::staging_context() : test::context();
    const bool fp16 = c.precision == StoragePrecision::Float16;
    if (fp16)
        if (auto why = fp16_storage_unsupported_reason(ctx); !why.empty()) GTEST_SKIP() << why;
    test::ScopedKnobs knobs(ctx, c.knobs);
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, c.kernel, c.opt);
    conv.set_fused_relu(c.relu);
    conv.set_storage_precision(c.precision);
    if (c.algorithm != Conv2dAlgorithm::Auto && !conv.supports(c.algorithm, c.input))
        GTEST_SKIP() << to_string(c.algorithm) << " is not available: " << conv.unsupported_reason(c.algorithm, c.input);
    conv.set_algorithm(c.algorithm);
    if (c.algorithm != Conv2dAlgorithm::Auto) ASSERT_EQ(conv.algorithm_for(c.input), c.algorithm) << c.str();
    const auto used = conv.algorithm_for(c.input);
    if (fp16) {
        ASSERT_TRUE(stores_fp16(used)) << c.str() << " ran " << to_string(used);
        ASSERT_EQ(conv.storage_precision_for(c.input), StoragePrecision::Float16) << c.str();
    }
    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    for (auto& v : x) v *= c.scale;
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) conv.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));

    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    const Tensor yt = conv.forward(xt);
    ASSERT_EQ(yt.shape(), conv.output_shape(c.input)) << c.str();
    auto check = [&](const std::vector<float>& got, const char* when) {
        const auto want = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
        std::vector<float> tol;
        if (fp16) {
            tol = test::fp16_tolerance(p, c.input, x, conv.weight(), conv.bias());
        } else if (used == Conv2dAlgorithm::Winograd) {
            const int mt = winograd_tile(ctx);
            // terms + 1 = R, the roundings along a term's path (see the header).
            const int R = in_channels + (mt == 4 ? 16 : 8);
            tol = test::fp32_sum_tolerance(abs_winograd(p, c.input, x, conv.weight(), conv.bias(), mt), R - 1);
        } else {
            const auto abs_sums = conv2d_reference(p, c.input, abs_of(x), abs_of(conv.weight()), abs_of(conv.bias()));
            tol = test::fp32_sum_tolerance(abs_sums, int64_t(in_channels / c.opt.groups) * c.kernel.h * c.kernel.w);
        }
        EXPECT_TRUE(test::all_close(got, want, tol)) << c.str() << " ran " << to_string(used) << when;
    };
    check(yt.to_host(), "");
    // New weights after a forward: the transformed copies must follow.
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 3));
    check(conv.forward(xt).to_host(), " (after set_weight)");
}

std::string case_name(const ::testing::TestParamInfo<Conv2dCase>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    return test::conv2d_options(stride, padding, dilation, groups, bias, mode);
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};

// A field of a sweep that varies with the case's index i: values[(i / every) % size].
template <class T>
struct Cycle {
    std::vector<T> values;
    int every = 1;
    Cycle(T v) : values{std::move(v)} {}  // NOLINT: one value for every case
    Cycle(std::initializer_list<T> v, int every_ = 1) : values(v), every(every_) {}
    T operator[](int i) const { return values[static_cast<size_t>(i / every) % values.size()]; }
};

struct Channels {
    int in = 0, out = 0, groups = 1;  // out 0: Sweep::out; groups 0: depthwise (groups = in)
};
struct StrideDil {
    Pair stride, dilation;
};

// One row of the sweep table. Its cases are the cross product, outermost first, of algorithms,
// channels, modes, paddings, stride_dils and `repeat` copies (an empty list: the cycled field
// instead). A padding='same' case with a stride is dropped (PyTorch refuses it) or, with
// same_runs_stride_1, run with stride 1. Every Cycle field follows the case's index: its position
// among the cases kept, or in the whole product with index_counts_dropped.
struct Sweep {
    std::vector<Conv2dAlgorithm> algorithms{Conv2dAlgorithm::Auto};
    std::vector<Channels> channels;
    std::vector<PaddingMode> modes{std::begin(kModes), std::end(kModes)};
    std::vector<Padding> paddings;
    std::vector<StrideDil> stride_dils;
    int repeat = 1;
    Cycle<Channels> channel = Channels{};
    Cycle<Padding> padding = Padding(1);
    Cycle<Pair> stride = Pair(1), dilation = Pair(1);
    Cycle<int64_t> batch = 2;  // 0: unbatched [C, H, W] input
    Cycle<int64_t> h = 10, w = 13;
    Cycle<int> out = 1;
    Cycle<Pair> kernel = Pair(3);
    Cycle<bool> bias = {true, false};
    Cycle<bool> relu = false;
    Cycle<std::string> knobs = std::string();
    bool same_runs_stride_1 = false;
    bool index_counts_dropped = false;
    std::optional<Conv2dAlgorithm> depthwise_also;  // each depthwise case (groups = in > 1) forced through it too
};

std::vector<Conv2dCase> sweep(const Sweep& s) {
    auto n = [](size_t size) { return std::max<size_t>(size, 1); };
    std::vector<Conv2dCase> cases;
    int i = 0;
    for (auto algorithm : s.algorithms)
        for (size_t ci = 0; ci < n(s.channels.size()); ++ci)
            for (auto mode : s.modes)
                for (size_t pi = 0; pi < n(s.paddings.size()); ++pi)
                    for (size_t si = 0; si < n(s.stride_dils.size()); ++si)
                        for (int r = 0; r < s.repeat; ++r) {
                            const Channels ch = s.channels.empty() ? s.channel[i] : s.channels[ci];
                            const Padding pad = s.paddings.empty() ? s.padding[i] : s.paddings[pi];
                            Pair stride = s.stride_dils.empty() ? s.stride[i] : s.stride_dils[si].stride;
                            const Pair dilation = s.stride_dils.empty() ? s.dilation[i] : s.stride_dils[si].dilation;
                            if (pad.kind == Padding::Kind::Same && stride != Pair(1)) {
                                if (s.same_runs_stride_1) {
                                    stride = Pair(1);
                                } else {
                                    if (s.index_counts_dropped) ++i;
                                    continue;
                                }
                            }
                            const int groups = ch.groups ? ch.groups : ch.in;
                            const int64_t b = s.batch[i];
                            Conv2dCase c{b ? Shape{b, ch.in, s.h[i], s.w[i]} : Shape{ch.in, s.h[i], s.w[i]}, ch.out ? ch.out : s.out[i],
                                         s.kernel[i], opts(stride, pad, dilation, groups, s.bias[i], mode), algorithm};
                            c.relu = s.relu[i];
                            c.knobs = s.knobs[i];
                            cases.push_back(c);
                            if (s.depthwise_also && groups == ch.in && ch.in > 1) {
                                c.algorithm = *s.depthwise_also;
                                cases.push_back(c);
                            }
                            ++i;
                        }
    return cases;
}

// Cycles and lists the table's rows share.
const Cycle<Pair> kKernels = {Pair(3, 2), Pair(3), Pair(2, 4)};
const Cycle<Pair> kKernelsTall = {Pair(3), Pair(5, 3), Pair(2, 4)};
const Cycle<int> kOut3or11 = {3, 11};
const Cycle<int64_t> kBatch3or1 = {3, 1};
const Cycle<Pair> kStride2Every3 = {1, 1, 2};
const Cycle<Pair> kDilation21Every4 = {1, 1, 1, Pair(2, 1)};
const Cycle<bool> kReluEvery4 = {false, true, false, false};
const Cycle<bool> kReluEvery5 = {true, false, false, false, false};
const Padding kPaddings[] = {Padding(1), Padding(2, 1), Padding::same(), Padding::valid()};
const StrideDil kStrideDils[] = {{Pair(1), Pair(1)}, {Pair(2, 1), Pair(2, 1)}, {Pair(3), Pair(1, 2)}};
// Every stride of `strides` with every dilation of `dilations`, stride-major.
std::vector<StrideDil> cross(std::initializer_list<Pair> strides, std::initializer_list<Pair> dilations) {
    std::vector<StrideDil> out;
    for (auto s : strides)
        for (auto d : dilations) out.push_back({s, d});
    return out;
}

// The registry sweep: shapes that together reach every algorithm (dense 3x3, depthwise, 1x1,
// grouped with stride and dilation, unbatched, staging), each forced through every algorithm of
// the registry, in fp32 and, where the algorithm stores fp16, in fp16. Cases an algorithm does
// not accept are skipped with its reason.
std::vector<Conv2dCase> registry_cases() {
    const std::vector<Conv2dCase> shapes = {
        {{2, 8, 9, 11}, 12, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), Conv2dAlgorithm::Auto, true},
        {{1, 64, 10, 12}, 24, Pair(3), opts(1, Padding::same(), 1, 1, false, PaddingMode::Reflect)},
        {{1, 8, 10, 7}, 16, Pair(3), opts(1, Padding::same(), 1, 8, true, PaddingMode::Reflect)},
        {{3, 16, 6, 7}, 20, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), Conv2dAlgorithm::Auto, true},
        {{2, 6, 11, 9}, 9, Pair(3, 2), opts(2, Padding(2, 1), Pair(1, 2), 3, true, PaddingMode::Circular)},
        {{5, 12, 13}, 7, Pair(3), opts(1, Padding::valid(), 1, 1, false, PaddingMode::Replicate)},
        {{2, 8, 9, 10}, 8, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), Conv2dAlgorithm::Auto, false, true},
    };
    std::vector<Conv2dCase> cases;
    for (auto algorithm : conv2d_algorithms())
        for (auto precision : {StoragePrecision::Float32, StoragePrecision::Float16}) {
            if (precision == StoragePrecision::Float16 && !stores_fp16(algorithm)) continue;
            for (auto c : shapes) {
                c.algorithm = algorithm;
                c.precision = precision;
                cases.push_back(c);
            }
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(RegistryShapes, Conv2dAlgorithms, ::testing::ValuesIn(registry_cases()), case_name);

// One copy of `base` per setting of the tile overrides (environment-style knobs).
void add_knob_cases(std::vector<Conv2dCase>& cases, Conv2dCase base, std::span<const char* const> knobs) {
    for (const char* k : knobs) {
        base.knobs = k;
        cases.push_back(base);
    }
}
void add_knob_cases(std::vector<Conv2dCase>& cases, const Conv2dCase& base, std::initializer_list<const char*> knobs) {
    add_knob_cases(cases, base, std::span<const char* const>(knobs.begin(), knobs.size()));
}

namespace auto_choice {
// Padding modes x padding (symmetric, asymmetric (h, w), 'same', 'valid') x stride x dilation,
// with rectangular kernels, odd channel counts, a batch of 2, alternating bias.
const Sweep kPaddingStrideDilation{.channels = {{5, 3, 1}},
                                   .paddings = {Padding(1), Padding(2, 1), Padding::same(), Padding::valid(), Padding(0, 3)},
                                   .stride_dils = cross({Pair(1), Pair(2, 1), Pair(3)}, {Pair(1), Pair(1, 2), Pair(2)}),
                                   .h = 9,
                                   .w = 11,
                                   .kernel = kKernels};
INSTANTIATE_TEST_SUITE_P(AutoPaddingStrideDilation, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kPaddingStrideDilation)), case_name);

// Groups: dense, grouped, depthwise, depthwise with channel multiplier; every padding mode; the
// depthwise shapes also forced through the general tiled kernel.
// Padding (1, 2) and 'same' alternate; a strided case (every third) keeps (1, 2).
const Sweep kGroups{.channels = {{4, 6, 2}, {6, 9, 3}, {9, 3, 3}, {6, 6, 6}, {3, 6, 3}, {4, 12, 4}, {5, 5, 5}, {8, 16, 1}, {7, 21, 7}, {16, 16, 4}},
                    .padding = {Padding(1, 2), Padding::same(), Padding(1, 2), Padding::same(), Padding(1, 2), Padding(1, 2)},
                    .stride = kStride2Every3,
                    .dilation = kDilation21Every4,
                    .w = 7,
                    .depthwise_also = Conv2dAlgorithm::DirectTiled};
INSTANTIATE_TEST_SUITE_P(AutoGroups, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kGroups)), case_name);

// Tiny inputs: 1x1 images with padding, single rows and columns, 1x1 kernels.
std::vector<Conv2dCase> tiny_cases() {
    std::vector<Conv2dCase> cases;
    for (auto mode : {PaddingMode::Zeros, PaddingMode::Replicate, PaddingMode::Circular}) {
        cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, mode)});
        cases.push_back({{3, 2, 1, 1}, 4, Pair(3), opts(1, Padding::same(), 1, 2, false, mode)});
        cases.push_back({{2, 3, 1, 9}, 2, Pair(3, 3), opts(1, 1, 1, 1, true, mode)});
        cases.push_back({{2, 3, 7, 1}, 2, Pair(1, 3), opts(Pair(2, 1), Padding(0, 1), 1, 1, true, mode)});
    }
    for (auto mode : kModes) {
        cases.push_back({{1, 1, 1, 1}, 1, Pair(1), opts(1, 0, 1, 1, true, mode)});
        cases.push_back({{1, 2, 2, 2}, 3, Pair(2), opts(1, Padding::valid(), 1, 1, true, mode)});
        cases.push_back({{1, 3, 2, 3}, 3, Pair(3), opts(1, 1, 1, 3, true, mode)});  // reflect pad 1 < 2 is allowed
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(AutoTiny, Conv2dAlgorithms, ::testing::ValuesIn(tiny_cases()), case_name);

// Sizes past the tiles: reduction longer than the shared-memory chunk, output channels not a
// multiple of the register tile, images not a multiple of the 8x8 tile, batch 3, unbatched 3-D
// input, fused ReLU, and the staging (non-host-visible) memory path.
std::vector<Conv2dCase> size_cases() {
    std::vector<Conv2dCase> cases;
    cases.push_back({{3, 37, 17, 23}, 19, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros)});
    cases.push_back({{1, 20, 33, 9}, 13, Pair(5, 3), opts(Pair(2, 1), Padding(2, 1), 1, 1, true, PaddingMode::Reflect)});
    cases.push_back({{2, 24, 12, 12}, 48, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros)});
    cases.push_back({{2, 32, 19, 21}, 64, Pair(3), opts(1, 1, 1, 32, true, PaddingMode::Circular)});
    cases.push_back({{5, 16, 16}, 8, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate)});
    cases.push_back({{1, 3, 40, 30}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros)});
    Conv2dCase relu{{2, 6, 13, 14}, 10, Pair(3), opts(1, 1, 1, 2, true, PaddingMode::Zeros)};
    relu.relu = true;
    cases.push_back(relu);
    Conv2dCase dw_relu{{2, 6, 13, 14}, 12, Pair(3), opts(1, 1, 1, 6, true, PaddingMode::Reflect)};
    dw_relu.relu = true;
    cases.push_back(dw_relu);
    for (auto c : {Conv2dCase{{2, 5, 9, 10}, 7, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect)},
                   Conv2dCase{{2, 4, 9, 10}, 8, Pair(3), opts(1, 1, 1, 4, false, PaddingMode::Circular)}}) {
        c.staging = true;
        cases.push_back(c);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(AutoSizes, Conv2dAlgorithms, ::testing::ValuesIn(size_cases()), case_name);
}  // namespace auto_choice

namespace direct {
const std::vector<Conv2dAlgorithm> kGeneral = {Conv2dAlgorithm::DirectTexel, Conv2dAlgorithm::DirectTiled};

// Padding modes x paddings x strides x dilations, rectangular kernels, batch 2, odd sizes,
// output channels not a multiple of the 8-channel block, alternating bias and ReLU.
const Sweep kGeometry{.algorithms = kGeneral,
                      .channels = {{5, 0, 1}},
                      .paddings = {std::begin(kPaddings), std::end(kPaddings)},
                      .stride_dils = cross({Pair(1), Pair(2, 1), Pair(3)}, {Pair(1), Pair(2, 1)}),
                      .h = 11,
                      .w = 19,
                      .out = kOut3or11,
                      .kernel = kKernels,
                      .relu = kReluEvery4};
INSTANTIATE_TEST_SUITE_P(DirectGeometry, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kGeometry)), case_name);

// Groups (grouped, depthwise with and without multiplier) and every padding mode.
const Sweep kGroups{.algorithms = kGeneral,
                    .channels = {{4, 6, 2}, {6, 9, 3}, {6, 6, 6}, {3, 6, 3}, {16, 16, 4}, {8, 40, 2}, {64, 64, 32}},
                    .stride = kStride2Every3,
                    .dilation = kDilation21Every4,
                    .relu = kReluEvery5};
INSTANTIATE_TEST_SUITE_P(DirectGroups, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kGroups)), case_name);

// Suite-like shapes (smaller): 1x1, 7x7 stride 2, long reductions, 3-D input, tiny images.
std::vector<Conv2dCase> shape_cases() {
    std::vector<Conv2dCase> cases;
    for (auto algo : kGeneral) {
        cases.push_back({{1, 64, 7, 9}, 72, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), algo});
        cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), algo});
        cases.push_back({{3, 3, 8, 8}, 16, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), algo, true});
        cases.push_back({{1, 40, 14, 14}, 24, Pair(3), opts(1, 2, 2, 1, false, PaddingMode::Reflect), algo});
        cases.push_back({{5, 9, 9}, 6, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate), algo});
        cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Circular), algo});
        cases.push_back({{2, 3, 1, 9}, 5, Pair(1, 3), opts(1, Padding(0, 1), 1, 1, true, PaddingMode::Reflect), algo});
        Conv2dCase st{{2, 7, 9, 10}, 13, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), algo, true, true};
        cases.push_back(st);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(DirectShapes, Conv2dAlgorithms, ::testing::ValuesIn(shape_cases()), case_name);

// direct_texel's variants (tuning knobs): pixels per invocation, channels per invocation, rows per
// workgroup, subgroup-shared weights (where the device has shuffles; skipped otherwise).
std::vector<Conv2dCase> variant_cases() {
    std::vector<Conv2dCase> cases;
    const char* knobs[] = {"VKCONV_TEXEL_PX=1", "VKCONV_TEXEL_PX=3,VKCONV_TEXEL_OCT=4", "VKCONV_TEXEL_PX=8,VKCONV_TEXEL_OCT=12",
                           "VKCONV_TEXEL_LY=4", "VKCONV_TEXEL_SG=1", "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=4",
                           "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=12,VKCONV_TEXEL_PX=2", "VKCONV_TEXEL_SG=1,VKCONV_TEXEL_OCT=16",
                           "VKCONV_TILE_CLASS=1"};  // the discrete GPU class's default tiles
    int i = 0;
    for (const char* k : knobs)
        for (auto mode : {PaddingMode::Zeros, PaddingMode::Reflect}) {
            Conv2dCase c{{2, 13, 12, 17}, 21, Pair(3), opts(i % 2 ? Pair(2, 1) : Pair(1), 1, 1, 1, true, mode), Conv2dAlgorithm::DirectTexel};
            c.knobs = k;
            c.relu = i % 2 == 0;
            cases.push_back(c);
            Conv2dCase gr{{1, 12, 9, 11}, 18, Pair(3, 2), opts(1, Padding::same(), Pair(1, 2), 3, false, mode), Conv2dAlgorithm::DirectTexel};
            gr.knobs = k;
            cases.push_back(gr);
            ++i;
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(DirectVariants, Conv2dAlgorithms, ::testing::ValuesIn(variant_cases()), case_name);
}  // namespace direct

namespace packed {

// packed_texel: padding modes x paddings x strides/dilations, rectangular kernels, batch 1 and 3,
// odd sizes, 5 input channels (one partial quad), output channels not multiples of 4 or 8.
const Sweep kPackedGeometry{.algorithms = {Conv2dAlgorithm::PackedTexel},
                            .channels = {{5, 0, 1}},
                            .paddings = {std::begin(kPaddings), std::end(kPaddings)},
                            .stride_dils = {std::begin(kStrideDils), std::end(kStrideDils)},
                            .batch = kBatch3or1,
                            .h = 11,
                            .w = 19,
                            .out = kOut3or11,
                            .kernel = kKernels,
                            .relu = kReluEvery4};
INSTANTIATE_TEST_SUITE_P(PackedGeometry, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kPackedGeometry)), case_name);

// packed_texel with groups: cin_g 2, 3, 4, 5 (quads padded with zero channels), cout_g below and
// above the 4 / 8 channel blocks; every padding mode.
const Sweep kPackedGroups{.algorithms = {Conv2dAlgorithm::PackedTexel},
                          .channels = {{4, 6, 2}, {6, 9, 3}, {12, 8, 4}, {16, 16, 4}, {8, 40, 2}, {32, 32, 8}, {10, 14, 2}},
                          .stride = kStride2Every3,
                          .dilation = kDilation21Every4,
                          .batch = kBatch3or1,
                          .relu = kReluEvery5};
INSTANTIATE_TEST_SUITE_P(PackedGroups, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kPackedGroups)), case_name);

// packed_texel on suite-like and edge shapes: 7x7 stride 2, a long reduction, 3-D input, a 1x1
// image, one-row images, a kernel wider than the input, the staging memory path, and the knobs.
std::vector<Conv2dCase> packed_shape_cases() {
    const auto A = Conv2dAlgorithm::PackedTexel;
    std::vector<Conv2dCase> cases;
    cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 40, 14, 14}, 24, Pair(3), opts(1, 2, 2, 1, false, PaddingMode::Reflect), A, true});
    cases.push_back({{5, 9, 9}, 6, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate), A});
    cases.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Circular), A});
    cases.push_back({{3, 3, 1, 9}, 5, Pair(1, 3), opts(1, Padding(0, 1), 1, 1, true, PaddingMode::Reflect), A});
    cases.push_back({{1, 2, 5, 3}, 4, Pair(3, 5), opts(1, Padding(1, 2), 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 4, 9, 40}, 9, Pair(1, 5), opts(Pair(1, 2), Padding(0, 8), Pair(1, 4), 1, true, PaddingMode::Circular), A});
    Conv2dCase st{{2, 7, 9, 10}, 13, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), A, true, true};
    cases.push_back(st);
    // VKCONV_TILE_CLASS: the discrete (1) and integrated (2) GPU classes' default tiles.
    const char* knobs[] = {"VKCONV_PACKED_PX=3", "VKCONV_PACKED_PX=16,VKCONV_PACKED_OCT=16", "VKCONV_PACKED_OCT=4,VKCONV_PACKED_WG=1",
                           "VKCONV_PACKED_WG=64,VKCONV_PACKED_OCT=12", "VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"};
    Conv2dCase knobbed{{3, 13, 12, 17}, 21, Pair(3), opts(Pair(1, 2), 1, 1, 1, true, PaddingMode::Reflect), A};
    knobbed.relu = true;
    add_knob_cases(cases, knobbed, knobs);
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedShapes, Conv2dAlgorithms, ::testing::ValuesIn(packed_shape_cases()), case_name);

// gemm_1x1: strides, paddings (every mode: the border of a padded 1x1 convolution), groups with
// cin_g 1, 3, 4, 13, output channels below, at and above the 16-channel block, batch 1 and 3,
// 3-D input, bias, ReLU, knobs.
std::vector<Conv2dCase> gemm_cases() {
    const auto A = Conv2dAlgorithm::Gemm1x1;
    auto cases = sweep({.algorithms = {A},
                        .channels = {{13, 21, 1}, {6, 4, 2}, {8, 40, 2}, {12, 12, 12}, {26, 7, 1}},
                        .padding = Cycle<Padding>({Padding(0), Padding(1), Padding::valid(), Padding(0, 2)}, 3),
                        .stride = {Pair(1), Pair(2), Pair(1, 3)},
                        .batch = kBatch3or1,
                        .h = {7, 8, 9},
                        .w = {9, 10, 11, 12},
                        .kernel = Pair(1),
                        .relu = {false, true, false}});
    cases.push_back({{64, 5, 6}, 33, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), A, true});
    cases.push_back({{1, 32, 28, 28}, 48, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), A, false, true});
    add_knob_cases(cases, {{2, 9, 5, 11}, 19, Pair(1), opts(Pair(2, 1), 1, 1, 1, true, PaddingMode::Replicate), A},
                   {"VKCONV_PACKED_PX=5,VKCONV_PACKED_OCT=8", "VKCONV_PACKED_OCT=4,VKCONV_PACKED_WG=3", "VKCONV_TILE_CLASS=1"});
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedGemm1x1, Conv2dAlgorithms, ::testing::ValuesIn(gemm_cases()), case_name);

// depthwise_texel: channel multipliers 1, 2, 3, channel counts 3, 5, 8, 6; every padding mode and
// padding kind, strides, dilations, rectangular kernels, batch 1 and 3, bias, ReLU, knobs.
std::vector<Conv2dCase> depthwise_cases() {
    const auto A = Conv2dAlgorithm::DepthwiseTexel;
    // Two cases per channel count and mode; the paddings' cycle is kPaddings[(i + i % 2) % 4].
    auto cases = sweep({.algorithms = {A},
                        .channels = {{5, 5, 0}, {8, 8, 0}, {6, 12, 0}, {3, 9, 0}},
                        .repeat = 2,
                        .padding = {kPaddings[0], kPaddings[2], kPaddings[2], kPaddings[0]},
                        .stride = {kStrideDils[0].stride, kStrideDils[1].stride, kStrideDils[2].stride},
                        .dilation = {kStrideDils[0].dilation, kStrideDils[1].dilation, kStrideDils[2].dilation},
                        .batch = kBatch3or1,
                        .h = {11, 12, 13},
                        .w = {13, 14, 15, 16, 17},
                        .kernel = kKernelsTall,
                        .relu = kReluEvery4,
                        .index_counts_dropped = true});
    cases.push_back({{7, 9, 9}, 14, Pair(3), opts(1, Padding::same(), 1, 7, true, PaddingMode::Reflect), A, true});
    cases.push_back({{1, 4, 1, 1}, 4, Pair(3), opts(1, 1, 1, 4, true, PaddingMode::Zeros), A});
    Conv2dCase st{{2, 6, 9, 10}, 6, Pair(3), opts(1, 1, 1, 6, true, PaddingMode::Circular), A, false, true};
    cases.push_back(st);
    add_knob_cases(cases, {{2, 10, 20, 17}, 10, Pair(3), opts(1, 1, 1, 10, true, PaddingMode::Reflect), A},
                   {"VKCONV_PACKED_PX=3,VKCONV_PACKED_PY=1", "VKCONV_PACKED_PY=8,VKCONV_PACKED_WG=5", "VKCONV_TILE_CLASS=1"});
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedDepthwiseTexel, Conv2dAlgorithms, ::testing::ValuesIn(depthwise_cases()), case_name);

// grouped_texel: groups with cin_g 1..5 and 13 (dense), cout_g below, at and above its 4-channel
// block; every padding mode and padding kind, strides, dilations, rectangular kernels, batch 1 and
// 3, bias, ReLU, 3-D input, staging, knobs.
std::vector<Conv2dCase> grouped_cases() {
    const auto A = Conv2dAlgorithm::GroupedTexel;
    auto cases = sweep({.algorithms = {A},
                        .channels = {{8, 8, 2}, {6, 9, 3}, {10, 14, 2}, {13, 5, 1}, {3, 16, 1}},
                        .padding = {kPaddings[0], kPaddings[1], kPaddings[2], kPaddings[3]},
                        .stride = {kStrideDils[0].stride, kStrideDils[1].stride, kStrideDils[2].stride},
                        .dilation = {kStrideDils[0].dilation, kStrideDils[1].dilation, kStrideDils[2].dilation},
                        .batch = kBatch3or1,
                        .h = {11, 12, 13},
                        .w = {13, 14, 15, 16, 17},
                        .kernel = kKernelsTall,
                        .relu = kReluEvery4,
                        .same_runs_stride_1 = true});
    cases.push_back({{4, 9, 9}, 8, Pair(3), opts(1, Padding::same(), 1, 2, true, PaddingMode::Reflect), A, true});
    cases.push_back({{1, 4, 1, 1}, 4, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), A});
    cases.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), A});
    Conv2dCase st{{2, 6, 9, 10}, 6, Pair(3), opts(1, 1, 1, 3, true, PaddingMode::Circular), A, false, true};
    cases.push_back(st);
    add_knob_cases(cases, {{2, 8, 20, 17}, 12, Pair(3), opts(1, 1, 1, 4, true, PaddingMode::Reflect), A},
                   {"VKCONV_PACKED_PX=3,VKCONV_PACKED_PY=1", "VKCONV_PACKED_PY=8,VKCONV_PACKED_WG=5", "VKCONV_TILE_CLASS=1",
                    "VKCONV_TILE_CLASS=2"});
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedGroupedTexel, Conv2dAlgorithms, ::testing::ValuesIn(grouped_cases()), case_name);
}  // namespace packed

namespace winograd {

Conv2dOptions wopts(Padding padding, bool bias, PaddingMode mode) {
    Conv2dOptions o;
    o.padding = padding;
    o.bias = bias;
    o.padding_mode = mode;
    return o;
}

Conv2dCase wino(Shape input, int out_channels, Conv2dOptions opt, bool relu = false, std::string knobs = {}) {
    return {std::move(input), out_channels, Pair(3), opt, Conv2dAlgorithm::Winograd, relu, false, std::move(knobs)};
}

const Padding kPaddings[] = {Padding(1), Padding(2, 1), Padding(0, 2), Padding::same(), Padding::valid()};

// Every padding mode x padding kind, with sizes, channels, batch, bias and ReLU varying along.
// (channels, size) cycle over five pairs, the input's batch over unbatched, 1 and 3.
const Sweep kWinogradGeometry{.algorithms = {Conv2dAlgorithm::Winograd},
                              .paddings = {std::begin(kPaddings), std::end(kPaddings)},
                              .channel = {{5, 11, 1}, {3, 8, 1}, {13, 5, 1}, {1, 3, 1}, {4, 17, 1}},
                              .batch = {0, 1, 3},
                              .h = {11, 10, 7, 9, 6},
                              .w = {19, 12, 6, 4, 13},
                              .relu = kReluEvery4};
INSTANTIATE_TEST_SUITE_P(WinogradGeometry, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kWinogradGeometry)), case_name);

// Edge shapes: images smaller than a patch (1x1, 1 x n, 2 x 3), a single output pixel, outputs
// of one row / column, 64 channels (whole blocks) and 64 -> 13, a long reduction.
std::vector<Conv2dCase> shape_cases() {
    std::vector<Conv2dCase> cases;
    cases.push_back(wino({1, 1, 1, 1}, 1, wopts(1, true, PaddingMode::Zeros)));
    cases.push_back(wino({1, 3, 1, 1}, 5, wopts(1, true, PaddingMode::Circular)));
    cases.push_back(wino({3, 2, 1, 7}, 4, wopts(1, false, PaddingMode::Replicate), true));
    cases.push_back(wino({1, 4, 2, 3}, 6, wopts(Padding::same(), true, PaddingMode::Reflect)));
    cases.push_back(wino({1, 2, 3, 3}, 3, wopts(Padding::valid(), true, PaddingMode::Zeros)));
    cases.push_back(wino({2, 5, 3, 9}, 7, wopts(Padding::valid(), true, PaddingMode::Zeros)));
    cases.push_back(wino({1, 64, 14, 14}, 64, wopts(1, true, PaddingMode::Zeros)));
    cases.push_back(wino({3, 64, 9, 8}, 13, wopts(1, true, PaddingMode::Reflect), true));
    cases.push_back(wino({1, 200, 6, 5}, 20, wopts(1, true, PaddingMode::Zeros)));
    cases.push_back(wino({1, 16, 30, 31}, 32, wopts(2, false, PaddingMode::Circular)));
    return cases;
}
INSTANTIATE_TEST_SUITE_P(WinogradShapes, Conv2dAlgorithms, ::testing::ValuesIn(shape_cases()), case_name);

// The knobs (output tile, GEMM channel block, tiles per invocation, workgroup size) and split
// dispatches.
std::vector<Conv2dCase> knob_cases() {
    std::vector<Conv2dCase> cases;
    const char* knobs[] = {"VKCONV_WINOGRAD_OCT=4", "VKCONV_WINOGRAD_OCT=8,VKCONV_WINOGRAD_TT=3", "VKCONV_WINOGRAD_OCT=32,VKCONV_WINOGRAD_TT=16",
                           "VKCONV_WINOGRAD_TT=1,VKCONV_WINOGRAD_WG=5", "VKCONV_WINOGRAD_OCT=12,VKCONV_WINOGRAD_WG=64,VKCONV_PACK_PX=3",
                           "VKCONV_WINOGRAD_TILE=2", "VKCONV_WINOGRAD_TILE=2,VKCONV_WINOGRAD_OCT=4,VKCONV_WINOGRAD_TT=5",
                           "VKCONV_WINOGRAD_TILE=4,VKCONV_WINOGRAD_TT=2",
                           // The discrete (1) and integrated (2) GPU classes' default tiles.
                           "VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"};
    add_knob_cases(cases, wino({3, 13, 12, 17}, 21, wopts(1, true, PaddingMode::Reflect), true), knobs);
    // 144 tiles (F(4x4)) or 216 (F(2x2)): split over x and y; the GEMM's positions over z.
    Conv2dCase split = wino({72, 6, 4, 5}, 9, wopts(1, true, PaddingMode::Replicate));
    split.workgroup_limit = 8;
    cases.push_back(split);
    for (const char* k : {"VKCONV_WINOGRAD_TILE=2", "VKCONV_WINOGRAD_TILE=4"}) {
        Conv2dCase st = wino({2, 7, 9, 10}, 13, wopts(1, true, PaddingMode::Reflect), true, k);
        st.staging = true;
        cases.push_back(st);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(WinogradKnobs, Conv2dAlgorithms, ::testing::ValuesIn(knob_cases()), case_name);

// Zeros padding with rows a multiple of 4 wide: on CPU devices F(4x4)'s input transform reads
// the NCHW input itself, 4 columns a fetch (no pack pass), and F(2x2) (every third case) packs
// first, reading 4 columns a fetch. Every offset of a tile's first column in its texel
// (pad_left 0..3), taps above / left of / past the input, channels past the last whole quad,
// batches; the pack pass reads the same way for packed_texel and gemm_1x1 (PackedDirectRead).
std::vector<Conv2dCase> direct_read_cases() {
    std::vector<Conv2dCase> cases;
    const Padding pads[] = {Padding(1, 0), Padding(0, 1), Padding(2, 2), Padding(1, 3)};
    const Shape inputs[] = {{1, 5, 9, 8}, {3, 13, 6, 12}, {2, 4, 11, 4}, {1, 16, 7, 16}};
    int i = 0;
    for (const auto& pad : pads)
        for (const auto& in : inputs) {
            cases.push_back(wino(in, 3 + 4 * (i % 4), wopts(pad, i % 2 == 0, PaddingMode::Zeros), i % 4 == 1,
                                 i % 3 == 2 ? "VKCONV_WINOGRAD_TILE=2" : ""));
            ++i;
        }
    // The other padding modes: F(4x4) splits the tiles into interior columns (4 columns a fetch)
    // and border columns (each mapped column on its own); images of 1 to 4 tile columns, where
    // there may be no interior column at all.
    const Padding mode_pads[] = {Padding(1), Padding(2, 3), Padding(1, 2), Padding(3, 1)};
    const Shape mode_inputs[] = {{2, 5, 9, 16}, {1, 13, 7, 8}, {1, 4, 6, 12}, {3, 6, 5, 4}};
    const PaddingMode modes[] = {PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
    for (size_t k = 0; k < 12; ++k)
        cases.push_back(wino(mode_inputs[k % 4], 5 + int(k), wopts(mode_pads[(k / 4 + k) % 4], k % 2 == 0, modes[k % 3]), k % 5 == 0));
    return cases;
}
INSTANTIATE_TEST_SUITE_P(WinogradDirectRead, Conv2dAlgorithms, ::testing::ValuesIn(direct_read_cases()), case_name);
}  // namespace winograd

namespace packed {
// The pack pass reading 4 columns a fetch (zeros padding, unit column step, W % 4 == 0): every
// first-column offset, stride 2 (packed_texel packs the padded image at unit step), 1x1 with and
// without padding, channels past the last quad. gemm_1x1 at stride 1 without padding reads the
// input itself on CPU devices (no pack pass), here also where the last invocation's columns run
// past the plane (14 x 14 = 24.5 invocations of 8 pixels).
std::vector<Conv2dCase> pack_direct_read_cases() {
    std::vector<Conv2dCase> cases;
    int i = 0;
    for (int pw : {0, 1, 2, 3})
        for (int stride : {1, 2}) {
            const Shape in{1 + i % 2, 6 + i, 7, 8 + 4 * (i % 3)};
            cases.push_back({in, 5 + i, Pair(3), opts(stride, Padding(1, pw), 1, 1, i % 2 == 0, PaddingMode::Zeros),
                             Conv2dAlgorithm::PackedTexel, i % 3 == 0});
            cases.push_back({in, 9, Pair(1), opts(stride, Padding(0, pw), 1, 1, true, PaddingMode::Zeros), Conv2dAlgorithm::Gemm1x1});
            ++i;
        }
    cases.push_back({{1, 5, 14, 14}, 7, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), Conv2dAlgorithm::Gemm1x1, true});
    cases.push_back({{3, 9, 4, 6}, 13, Pair(1), opts(1, 0, 1, 1, false, PaddingMode::Zeros), Conv2dAlgorithm::Gemm1x1});
    return cases;
}
INSTANTIATE_TEST_SUITE_P(PackedDirectRead, Conv2dAlgorithms, ::testing::ValuesIn(pack_direct_read_cases()), case_name);

// grouped_texel and depthwise_texel reading input rows 4 columns a fetch (CPU devices: zeros
// padding, W % 4 == 0, columns per invocation x stride a multiple of 4): every first-column
// offset (pad_left 0..3), strides 1 and 2, kernels 3 to 7, dilation, groups, a channel
// multiplier, taps past every edge.
std::vector<Conv2dCase> window_direct_read_cases() {
    std::vector<Conv2dCase> cases;
    int i = 0;
    for (int pw : {0, 1, 2, 3})
        for (int stride : {1, 2})
            for (int k : {3, 5, 7}) {
                const int64_t w = 8 + 4 * (i % 3), n = 1 + i % 2;
                const Pair dil(1, i % 4 == 3 ? 2 : 1);
                cases.push_back({{n, 6, 9 + i % 3, w}, 8, Pair(k), opts(stride, Padding(k / 2, pw), dil, 2, i % 2 == 0, PaddingMode::Zeros),
                                 Conv2dAlgorithm::GroupedTexel, i % 3 == 0});
                cases.push_back({{n, 6, 7 + i % 3, w}, 6 * (1 + i % 2), Pair(k), opts(stride, Padding(1, pw), dil, 6, true, PaddingMode::Zeros),
                                 Conv2dAlgorithm::DepthwiseTexel, i % 3 == 1});
                ++i;
            }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(WindowDirectRead, Conv2dAlgorithms, ::testing::ValuesIn(window_direct_read_cases()), case_name);
}  // namespace packed

namespace implicit_gemm {
// Not a named enumerator: the registry's name.
const Conv2dAlgorithm A = parse_conv2d_algorithm("implicit_gemm");
// Each case under the CPU (0), discrete (1) and integrated (2) classes' tiles, in turn or all.
const Cycle<std::string> kClasses = {"VKCONV_TILE_CLASS=0", "VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"};

// Padding modes x paddings x strides / dilations, rectangular kernels, odd sizes, output
// channels below the tile, reductions not a multiple of 4 (scalar weight loads) and of the
// step, bias and ReLU alternating; the tile classes in turn.
const Sweep kImplicitGemmGeometry{.algorithms = {A},
                                  .channels = {{5, 0, 1}},
                                  .paddings = {std::begin(kPaddings), std::end(kPaddings)},
                                  .stride_dils = {{Pair(1), Pair(1)}, {Pair(2, 1), Pair(2, 1)}, {Pair(3), Pair(1, 2)}},
                                  .batch = {2, 1},
                                  .h = 11,
                                  .w = 19,
                                  .out = kOut3or11,
                                  .kernel = kKernels,
                                  .relu = kReluEvery4,
                                  .knobs = kClasses};
INSTANTIATE_TEST_SUITE_P(ImplicitGemmGeometry, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kImplicitGemmGeometry)), case_name);

// Groups (one GEMM per group): cin_g 1 (depthwise, with multiplier), 2, 3, 4, 8, cout_g below
// and above the channel tile; every padding mode; the tile classes in turn.
const Sweep kImplicitGemmGroups{.algorithms = {A},
                                .channels = {{4, 6, 2}, {6, 9, 3}, {16, 16, 4}, {8, 40, 2}, {32, 32, 8}, {9, 9, 9}, {6, 24, 6}, {16, 140, 2}},
                                .stride = kStride2Every3,
                                .dilation = kDilation21Every4,
                                .batch = kBatch3or1,
                                .relu = kReluEvery5,
                                .knobs = kClasses};
INSTANTIATE_TEST_SUITE_P(ImplicitGemmGroups, Conv2dAlgorithms, ::testing::ValuesIn(sweep(kImplicitGemmGroups)), case_name);

// Shapes past the tiles, each under every class's tiles: long reductions (aligned quads and
// not), output channels across several channel tiles, images across several pixel tiles, 1x1
// and 7x7 stride 2 kernels, a kernel wider than the input, 1x1 images, 3-D input, the staging
// memory path, and dispatches split to a small maxComputeWorkGroupCount.
std::vector<Conv2dCase> shape_cases() {
    std::vector<Conv2dCase> shapes;
    shapes.push_back({{1, 64, 10, 12}, 70, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Zeros), A});
    shapes.push_back({{2, 37, 9, 9}, 19, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), A, true});
    shapes.push_back({{1, 64, 7, 9}, 72, Pair(1), opts(1, 0, 1, 1, true, PaddingMode::Zeros), A});
    shapes.push_back({{1, 3, 30, 29}, 16, Pair(7), opts(2, 3, 1, 1, true, PaddingMode::Zeros), A});
    shapes.push_back({{1, 8, 33, 35}, 33, Pair(3), opts(1, Padding::same(), Pair(2), 1, false, PaddingMode::Circular), A});
    shapes.push_back({{5, 9, 9}, 6, Pair(3), opts(1, Padding::same(), Pair(2), 1, true, PaddingMode::Replicate), A});
    shapes.push_back({{1, 1, 1, 1}, 1, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Circular), A});
    shapes.push_back({{1, 2, 5, 3}, 4, Pair(3, 5), opts(1, Padding(1, 2), 1, 1, true, PaddingMode::Zeros), A});
    shapes.push_back({{2, 7, 9, 10}, 13, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Reflect), A, true, true});
    Conv2dCase split{{3, 8, 20, 20}, 70, Pair(3), opts(1, 1, 1, 1, true, PaddingMode::Replicate), A};
    split.workgroup_limit = 2;
    shapes.push_back(split);
    std::vector<Conv2dCase> cases;
    for (const auto& k : kClasses.values)
        for (auto c : shapes) {
            c.knobs = k;
            cases.push_back(c);
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(ImplicitGemmShapes, Conv2dAlgorithms, ::testing::ValuesIn(shape_cases()), case_name);
}  // namespace implicit_gemm

namespace fp16 {

std::vector<Conv2dCase> as_fp16(std::vector<Conv2dCase> cases) {
    for (auto& c : cases) c.precision = StoragePrecision::Float16;
    return cases;
}

// packed_texel: every padding mode x 3 paddings x 3 stride/dilation pairs on a 5-channel input
// (a partial quad), 6 output channels, rectangular and square kernels, batch 2, bias alternating.
const Sweep kPacked{.algorithms = {Conv2dAlgorithm::PackedTexel},
                    .channels = {{5, 6, 1}},
                    .paddings = {Padding(1), Padding::same(), Padding(2, 1)},
                    .stride_dils = {{Pair(1), Pair(1)}, {Pair(2, 1), Pair(1, 2)}, {Pair(3), Pair(2, 1)}},
                    .h = 9,
                    .w = 11,
                    .kernel = {Pair(2, 3), Pair(3)},
                    .bias = {true, true, false},
                    .relu = kReluEvery4};
INSTANTIATE_TEST_SUITE_P(Fp16PackedTexel, Conv2dAlgorithms, ::testing::ValuesIn(as_fp16(sweep(kPacked))), case_name);

// packed_texel groups and shapes: grouped (cin_g 4 and 3), depthwise (multiplier 1 and 2),
// unbatched input, batch 3, many channels, valid padding, no bias, ReLU, inputs of magnitude 100,
// the staging path.
std::vector<Conv2dCase> packed_group_cases() {
    const auto P = Conv2dAlgorithm::PackedTexel;
    return {
        {{1, 8, 10, 10}, 6, 3, opts(1, 1, 1, 2, true, PaddingMode::Zeros), P},
        {{2, 9, 7, 8}, 12, 3, opts(2, 1, 1, 3, true, PaddingMode::Reflect), P, true},
        {{1, 6, 9, 9}, 6, 3, opts(1, 1, 1, 6, true, PaddingMode::Replicate), P},
        {{2, 6, 8, 7}, 12, {3, 5}, opts(1, Padding::same(), 1, 6, false, PaddingMode::Circular), P, true},
        {{5, 7, 12}, 8, 3, opts(1, Padding::valid(), 1, 1, true, PaddingMode::Zeros), P},
        {{3, 4, 6, 6}, 4, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P},
        {{1, 40, 8, 9}, 20, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P, true},
        {{1, 16, 7, 7}, 16, 3, opts(1, 1, 1, 1, true, PaddingMode::Reflect), P, false, false, "", kF16, 100.0f},
        {{2, 5, 9, 11}, 6, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), P, false, true},
    };
}
INSTANTIATE_TEST_SUITE_P(Fp16PackedGroups, Conv2dAlgorithms, ::testing::ValuesIn(as_fp16(packed_group_cases())), case_name);

// gemm_1x1: strides, padding (every mode), groups, odd channel counts, batch, bias, ReLU, staging.
std::vector<Conv2dCase> gemm_cases() {
    const auto G = Conv2dAlgorithm::Gemm1x1;
    return {
        {{1, 16, 8, 8}, 32, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G},
        {{2, 37, 7, 9}, 20, 1, opts(1, 0, 1, 1, false, PaddingMode::Zeros), G, true},
        {{1, 8, 9, 10}, 12, 1, opts(2, 0, 1, 1, true, PaddingMode::Zeros), G},
        {{1, 8, 6, 7}, 4, 1, opts({2, 3}, 1, 1, 1, true, PaddingMode::Reflect), G},
        {{1, 8, 6, 7}, 6, 1, opts(1, {1, 2}, 1, 2, true, PaddingMode::Circular), G, true},
        {{2, 12, 5, 5}, 9, 1, opts(1, 1, 1, 3, true, PaddingMode::Replicate), G},
        {{6, 11, 13}, 5, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G, false, false, "", kF16, 100.0f},
        {{1, 16, 8, 8}, 32, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), G, false, true},
    };
}
INSTANTIATE_TEST_SUITE_P(Fp16Gemm1x1, Conv2dAlgorithms, ::testing::ValuesIn(as_fp16(gemm_cases())), case_name);

// Auto with fp16 requested: an fp16-storing algorithm for dense, few-channel, grouped and 1x1
// convolutions (where the fp32 choice for the few-channel and grouped ones is grouped_texel).
// Depthwise keeps fp32 under Auto (ChoiceAndRefusals); forced packed_texel covers it above.
std::vector<Conv2dCase> auto_cases() {
    const auto A = Conv2dAlgorithm::Auto;
    return {
        {{1, 3, 16, 16}, 8, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), A},
        {{1, 20, 9, 9}, 16, 3, opts(1, 1, 1, 1, true, PaddingMode::Zeros), A, true},
        {{1, 16, 9, 9}, 16, 3, opts(1, 1, 1, 4, true, PaddingMode::Reflect), A},
        {{2, 8, 10, 10}, 16, 3, opts(2, 1, 1, 2, true, PaddingMode::Zeros), A, true},
        {{1, 16, 7, 7}, 24, 1, opts(1, 0, 1, 1, true, PaddingMode::Zeros), A},
    };
}
INSTANTIATE_TEST_SUITE_P(Fp16Auto, Conv2dAlgorithms, ::testing::ValuesIn(as_fp16(auto_cases())), case_name);
}  // namespace fp16

}  // namespace
}  // namespace vkconv
