// The winograd algorithm (Winograd F(2x2, 3x3): pack_nc4hw4 + conv2d_winograd_input / _gemm /
// _output) forced, against the CPU reference: every padding mode; explicit, 'same' and 'valid'
// padding (and unequal h / w padding); odd and even sizes, images smaller than a 4 x 4 patch, 1x1
// images, outputs not a multiple of the 2 x 2 tile or of the GEMM's tile block; channel counts 1,
// 3, 5, 13, 64 (partial quads and channel blocks); batch 1 and 3 and unbatched input; bias on and
// off; fused ReLU; the knobs (VKCONV_WINOGRAD_OCT / _TT / _WG); dispatches split under a clamped
// workgroup count; the staging memory path; new weights after a forward. Also: Auto's choice, forcing winograd where it
// does not apply (the error names the algorithm and the reason), two recordings in one submission.
//
// Tolerance. Winograd F(m x m, 3x3) does not sum the products x * w of the direct convolution:
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
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "support/conv2d_sweep.h"
#include "support/test_support.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {

struct WinogradCase {
    Shape input;
    int out_channels;
    Conv2dOptions opt;
    bool relu = false;
    std::string knobs;  // "VKCONV_WINOGRAD_OCT=4,VKCONV_WINOGRAD_TT=3"
    uint32_t workgroup_limit = 0;  // set_layer_workgroup_count_limit_for_testing (0: the device's)
    bool staging = false;          // test::staging_context(): device-local memory, uploads through staging

    std::string str() const {
        Conv2dParams p{static_cast<int>(input[input.size() - 3]), out_channels, Pair(3), opt};
        std::ostringstream s;
        s << p.str() << " input=" << shape_str(input) << " algorithm=winograd" << (relu ? " +relu" : "")
          << (knobs.empty() ? "" : " " + knobs);
        if (workgroup_limit) s << " workgroup_limit=" << workgroup_limit;
        if (staging) s << " staging";
        return s.str();
    }
};

void PrintTo(const WinogradCase& c, std::ostream* os) { *os << c.str(); }

int64_t pad_index(int64_t i, int64_t n, PaddingMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case PaddingMode::Zeros: return -1;
        case PaddingMode::Reflect: return i < 0 ? -i : 2 * (n - 1) - i;
        case PaddingMode::Replicate: return i < 0 ? 0 : n - 1;
        case PaddingMode::Circular: return i < 0 ? i + n : i - n;
    }
    return -1;
}

// The output tile of the algorithm under the context's tile overrides: winograd_tile (2 or 4;
// the device class's default when unset).
int winograd_tile(const Context& ctx) {
    const auto& policy = ctx.policy();
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
                            const int64_t iy = pad_index(py - g.pad_top, g.h, p.options.padding_mode);
                            const int64_t ix = pad_index(px - g.pad_left, g.w, p.options.padding_mode);
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

class Conv2dWinograd : public test::VulkanTest, public ::testing::WithParamInterface<WinogradCase> {};

TEST_P(Conv2dWinograd, MatchesReference) {
    const WinogradCase& c = GetParam();
    struct LimitGuard {
        explicit LimitGuard(uint32_t l) { if (l) set_layer_workgroup_count_limit_for_testing(l); }
        ~LimitGuard() { set_layer_workgroup_count_limit_for_testing(0); }
    } limit(c.workgroup_limit);
    Context& ctx = c.staging ? test::staging_context() : test::context();
    test::ScopedKnobs knobs(ctx, c.knobs);
    const int in_channels = static_cast<int>(c.input[c.input.size() - 3]);
    Conv2d conv(ctx, in_channels, c.out_channels, 3, c.opt);
    conv.set_algorithm(Conv2dAlgorithm::Winograd);
    conv.set_fused_relu(c.relu);
    if (!conv.supports(Conv2dAlgorithm::Winograd, c.input))
        GTEST_SKIP() << "winograd is not available: " << conv.unsupported_reason(Conv2dAlgorithm::Winograd, c.input);
    ASSERT_EQ(conv.algorithm_for(c.input), Conv2dAlgorithm::Winograd) << c.str();
    const auto& p = conv.params();
    const uint64_t seed = std::hash<std::string>{}(c.str());
    const auto x = test::random_values(static_cast<size_t>(shape_numel(c.input)), seed);
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 1));
    if (c.opt.bias) conv.set_bias(test::random_values(static_cast<size_t>(c.out_channels), seed + 2));

    const Tensor xt = Tensor::from_host(ctx, c.input, x);
    const Tensor yt = conv.forward(xt);
    ASSERT_EQ(yt.shape(), conv.output_shape(c.input)) << c.str();
    auto check = [&](const std::vector<float>& got, const char* when) {
        const auto want = conv2d_reference(p, c.input, x, conv.weight(), conv.bias(), c.relu);
        const int mt = winograd_tile(ctx);
        const auto e = abs_winograd(p, c.input, x, conv.weight(), conv.bias(), mt);
        // terms + 1 = R, the roundings along a term's path (see the header).
        const int R = in_channels + (mt == 4 ? 16 : 8);
        EXPECT_TRUE(test::all_close(got, want, test::fp32_sum_tolerance(e, R - 1))) << c.str() << when;
    };
    check(yt.to_host(), "");
    // New weights after a forward: the transformed weights must follow.
    conv.set_weight(test::random_values(static_cast<size_t>(p.weight_numel()), seed + 3));
    check(conv.forward(xt).to_host(), " (after set_weight)");
}

std::string case_name(const ::testing::TestParamInfo<WinogradCase>& info) { return "case" + std::to_string(info.index); }

Conv2dOptions opts(Padding padding, bool bias, PaddingMode mode) {
    Conv2dOptions o;
    o.padding = padding;
    o.bias = bias;
    o.padding_mode = mode;
    return o;
}

const PaddingMode kModes[] = {PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular};
const Padding kPaddings[] = {Padding(1), Padding(2, 1), Padding(0, 2), Padding::same(), Padding::valid()};

// Every padding mode x padding kind, with sizes, channels, batch, bias and ReLU varying along.
std::vector<WinogradCase> geometry_cases() {
    struct S { int c, k, h, w; };
    const S ss[] = {{5, 11, 11, 19}, {3, 8, 10, 12}, {13, 5, 7, 6}, {1, 3, 9, 4}, {4, 17, 6, 13}};
    std::vector<WinogradCase> cases;
    int i = 0;
    for (auto mode : kModes)
        for (const auto& pad : kPaddings) {
            const S& s = ss[i % 5];
            const Shape in = i % 3 == 0 ? Shape{s.c, s.h, s.w} : Shape{i % 3 == 1 ? 1 : 3, s.c, s.h, s.w};
            WinogradCase c{in, s.k, opts(pad, i % 2 == 0, mode)};
            c.relu = i % 4 == 1;
            cases.push_back(c);
            ++i;
        }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Geometry, Conv2dWinograd, ::testing::ValuesIn(geometry_cases()), case_name);

// Edge shapes: images smaller than a patch (1x1, 1 x n, 2 x 3), a single output pixel, outputs
// of one row / column, 64 channels (whole blocks) and 64 -> 13, a long reduction.
std::vector<WinogradCase> shape_cases() {
    std::vector<WinogradCase> cases;
    cases.push_back({{1, 1, 1, 1}, 1, opts(1, true, PaddingMode::Zeros)});
    cases.push_back({{1, 3, 1, 1}, 5, opts(1, true, PaddingMode::Circular)});
    cases.push_back({{3, 2, 1, 7}, 4, opts(1, false, PaddingMode::Replicate), true});
    cases.push_back({{1, 4, 2, 3}, 6, opts(Padding::same(), true, PaddingMode::Reflect)});
    cases.push_back({{1, 2, 3, 3}, 3, opts(Padding::valid(), true, PaddingMode::Zeros)});
    cases.push_back({{2, 5, 3, 9}, 7, opts(Padding::valid(), true, PaddingMode::Zeros)});
    cases.push_back({{1, 64, 14, 14}, 64, opts(1, true, PaddingMode::Zeros)});
    cases.push_back({{3, 64, 9, 8}, 13, opts(1, true, PaddingMode::Reflect), true});
    cases.push_back({{1, 200, 6, 5}, 20, opts(1, true, PaddingMode::Zeros)});
    cases.push_back({{1, 16, 30, 31}, 32, opts(2, false, PaddingMode::Circular)});
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dWinograd, ::testing::ValuesIn(shape_cases()), case_name);

// The knobs (output tile, GEMM channel block, tiles per invocation, workgroup size) and split
// dispatches.
std::vector<WinogradCase> knob_cases() {
    std::vector<WinogradCase> cases;
    const char* knobs[] = {"VKCONV_WINOGRAD_OCT=4", "VKCONV_WINOGRAD_OCT=8,VKCONV_WINOGRAD_TT=3", "VKCONV_WINOGRAD_OCT=32,VKCONV_WINOGRAD_TT=16",
                           "VKCONV_WINOGRAD_TT=1,VKCONV_WINOGRAD_WG=5", "VKCONV_WINOGRAD_OCT=12,VKCONV_WINOGRAD_WG=64,VKCONV_PACK_PX=3",
                           "VKCONV_WINOGRAD_TILE=2", "VKCONV_WINOGRAD_TILE=2,VKCONV_WINOGRAD_OCT=4,VKCONV_WINOGRAD_TT=5",
                           "VKCONV_WINOGRAD_TILE=4,VKCONV_WINOGRAD_TT=2",
                           // The discrete (1) and integrated (2) GPU classes' default tiles.
                           "VKCONV_TILE_CLASS=1", "VKCONV_TILE_CLASS=2"};
    for (const char* k : knobs) {
        WinogradCase c{{3, 13, 12, 17}, 21, opts(1, true, PaddingMode::Reflect), true};
        c.knobs = k;
        cases.push_back(c);
    }
    // 144 tiles (F(4x4)) or 216 (F(2x2)): split over x and y; the GEMM's positions over z.
    WinogradCase split{{72, 6, 4, 5}, 9, opts(1, true, PaddingMode::Replicate)};
    split.workgroup_limit = 8;
    cases.push_back(split);
    for (const char* k : {"VKCONV_WINOGRAD_TILE=2", "VKCONV_WINOGRAD_TILE=4"}) {
        WinogradCase st{{2, 7, 9, 10}, 13, opts(1, true, PaddingMode::Reflect), true, k};
        st.staging = true;
        cases.push_back(st);
    }
    return cases;
}
INSTANTIATE_TEST_SUITE_P(Knobs, Conv2dWinograd, ::testing::ValuesIn(knob_cases()), case_name);

class Conv2dWinogradChoice : public test::VulkanTest {};

TEST_F(Conv2dWinogradChoice, ForcedWhereItDoesNotApplyNamesTheReason) {
    Context& ctx = test::context();
    const Shape x{1, 4, 12, 12};
    struct Bad { Pair kernel; Conv2dOptions opt; const char* what; };
    const Bad bad[] = {{Pair(3), {.stride = 2, .padding = 1}, "stride=(2, 2)"},
                       {Pair(5), {.padding = 2}, "kernel_size=(5, 5)"},
                       {Pair(3), {.padding = 2, .dilation = 2}, "dilation=(2, 2)"},
                       {Pair(3, 1), {}, "kernel_size=(3, 1)"},
                       {Pair(3), {.groups = 2}, "groups=2"}};
    for (const auto& b : bad) {
        Conv2d conv(ctx, 4, 8, b.kernel, b.opt);
        EXPECT_FALSE(conv.supports(Conv2dAlgorithm::Winograd, x)) << b.what;
        conv.set_algorithm(Conv2dAlgorithm::Winograd);
        test::expect_error([&] { (void)conv.algorithm_for(x); }, {"'winograd'", "3x3 kernels with stride 1", b.what});
        test::expect_error([&] { (void)conv.forward(Tensor::from_host(ctx, x, std::vector<float>(576, 1.0f))); },
                           {"'winograd'", b.what});
    }
}

TEST_F(Conv2dWinogradChoice, AutoPicksWinogradWhereMeasuredFaster) {
    Context& ctx = test::context();
    Conv2d big(ctx, 64, 64, 3, {.padding = 1, .padding_mode = PaddingMode::Reflect});  // S4 / S10
    const Shape x{1, 64, 56, 56};
    if (!big.supports(Conv2dAlgorithm::Winograd, x)) GTEST_SKIP() << big.unsupported_reason(Conv2dAlgorithm::Winograd, x);
    EXPECT_EQ(big.algorithm_for(x), Conv2dAlgorithm::Winograd);
    Conv2d s5(ctx, 256, 256, 3, {.padding = 1});
    EXPECT_EQ(s5.algorithm_for({1, 256, 14, 14}), Conv2dAlgorithm::Winograd);
    Conv2d valid(ctx, 32, 64, 3);  // 'valid': 14x14 output from 16x16, batch 1
    EXPECT_EQ(valid.algorithm_for({1, 32, 16, 16}), Conv2dAlgorithm::Winograd);
    // Where it loses: few channels, a small output, and where it does not apply.
    EXPECT_EQ(big.algorithm_for({1, 64, 8, 8}), Conv2dAlgorithm::PackedTexel);
    Conv2d narrow(ctx, 64, 8, 3, {.padding = 1});
    EXPECT_EQ(narrow.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
    Conv2d c32(ctx, 32, 32, 3, {.padding = 1});
    EXPECT_EQ(c32.algorithm_for({1, 32, 28, 28}), Conv2dAlgorithm::PackedTexel);
    Conv2d few(ctx, 16, 64, 3, {.padding = 1});
    EXPECT_EQ(few.algorithm_for({1, 16, 56, 56}), Conv2dAlgorithm::GroupedTexel);
    Conv2d strided(ctx, 64, 64, 3, {.stride = 2, .padding = 1});
    EXPECT_EQ(strided.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
    // Forced off: set_algorithm wins over Auto's choice.
    big.set_algorithm(Conv2dAlgorithm::PackedTexel);
    EXPECT_EQ(big.algorithm_for(x), Conv2dAlgorithm::PackedTexel);
}

TEST_F(Conv2dWinogradChoice, NamesRoundTripAndListed) {
    EXPECT_EQ(to_string(Conv2dAlgorithm::Winograd), "winograd");
    EXPECT_EQ(parse_conv2d_algorithm("winograd"), Conv2dAlgorithm::Winograd);
    const auto all = conv2d_algorithms();
    EXPECT_NE(std::find(all.begin(), all.end(), Conv2dAlgorithm::Winograd), all.end());
}

// The same Conv2d recorded twice into one command buffer with different input sizes: the second
// recording's passes (and reallocated scratch buffers) must not disturb the first.
TEST_F(Conv2dWinogradChoice, TwoRecordsInOneSubmission) {
    Context& ctx = test::context();
    Conv2d conv(ctx, 4, 8, 3, {.padding = 1});
    conv.set_algorithm(Conv2dAlgorithm::Winograd);
    const Shape s1{1, 4, 6, 7}, s2{2, 4, 9, 15};
    if (!conv.supports(Conv2dAlgorithm::Winograd, s1)) GTEST_SKIP() << "no texel buffers";
    const auto x1 = test::random_values(static_cast<size_t>(shape_numel(s1)), 1);
    const auto x2 = test::random_values(static_cast<size_t>(shape_numel(s2)), 2);
    const Tensor t1 = Tensor::from_host(ctx, s1, x1), t2 = Tensor::from_host(ctx, s2, x2);
    const Tensor y1(ctx, conv.output_shape(s1)), y2(ctx, conv.output_shape(s2));
    CommandRecorder rec(ctx);
    conv.record(rec, t1, y1);
    conv.record(rec, t2, y2);
    rec.submit_and_wait();
    EXPECT_TRUE(test::all_close(y1.to_host(), conv2d_reference(conv.params(), s1, x1, conv.weight(), conv.bias()), 1e-4f));
    EXPECT_TRUE(test::all_close(y2.to_host(), conv2d_reference(conv.params(), s2, x2, conv.weight(), conv.bias()), 1e-4f));
}

}  // namespace
}  // namespace vkconv
