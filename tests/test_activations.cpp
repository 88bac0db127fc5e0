// The activation modules (vkconv/activations.h, shaders/activation.comp) against the CPU
// reference vkconv::activation_reference and against PyTorch's outputs (tests/data/activations,
// tools/fixtures/gen_activation_fixtures.py): every kind x shapes (0-d to 5-d, empty, sizes
// around the 256-element workgroup block) x special values (NaN, +-inf, +-0.0, +-100, tiny),
// PReLU per channel, the staging memory path, split dispatches, reprs and argument checks,
// and the fused activation epilogues of Linear, Add and BatchNorm2d inside a Model.
//
// Tolerances (activation_tolerance below), u = 2^-23 (one ulp is at most u |v|), from the
// Vulkan precision rules the shaders rely on (OpFAdd/OpFMul correctly rounded, exp within
// 3 + 2|x| ulp, division within 2.5 ulp) and activation.glsl's formulas:
//   ReLU, ReLU6, Hardtanh   selections: exact.
//   LeakyReLU, PReLU        one product: u |y|.
//   Hardsigmoid             (x + 3) rounded, times 1/6 rounded: u (|x| + 3) / 6 + 2u |y|.
//   Hardswish               the same times x: u |x| (|x| + 3) / 6 + 4u |y|.
//   Sigmoid, SiLU           1 / (1 + e), e = exp(-x) within (3 + 2|x|) ulp; the result's relative
//                           error is at most (1 - s) rel(e) + 1 + 2.5 (+1 for SiLU's product) ulp:
//                           (8 + 2|x|) u |y|.
//   ELU                     alpha (exp(x) - 1) for x <= 0: exp's error (3 + 2|x|) ulp of a value
//                           e^x <= 1 is at most 3u absolute; with the subtraction 4u |alpha|, plus
//                           u |y| for the product.
//   Tanh                    (1 - t) / (1 + t), t = exp(-2|x|) within (4 + 6|x|) ulp (its argument
//                           rounded once); 2 t (4 + 6|x|) u <= 8u absolute, plus 3u for the
//                           division and subtraction: 11u absolute (tanh's values are <= 1).
//   GELU                    0.5 x (1 + erf(x / sqrt 2)); act_erf is A&S 7.1.26 (|error| <=
//                           1.5e-7) evaluated in fp32: p(t) exp(-x^2/2) with p's Horner sum and t
//                           within ~20u relative, exp's (3 + 4 z^2) ulp, (23 + 4 z^2) e^-z^2 <= 24.5:
//                           erf within 1.5e-7 + 26u; GELU within 0.5|x| (1.5e-7 + 27u) + 3u |y|.
//   GELU tanh               act_tanh within 11u plus its argument's 6u relative error times
//                           max z sech^2 z < 0.45: 14u; GELU within 0.5|x| 15u + 3u |y|.
//   Erf                     act_erf as in GELU above: 1.5e-7 + 26u absolute.
//   Sqrt                    1 / inversesqrt (inversesqrt 2 ulp, the division 2.5 ulp): 5u |y|.
//   Pow(e)                  e = 0, 1 exact; e = 2, 3 one and two products: u |y|, 2u |y|; e = -1 one
//                           division: 2.5u |y|; e = 0.5 for x >= 0 is Sqrt: 5u |y|; otherwise
//                           exp2(t), t = e log2|x| rounded: log2 is off by delta = max(3u |log2 x|,
//                           2^-21) absolute (Vulkan: 3 ulp outside [0.5, 2], 2^-21 inside), t by
//                           |e| delta + u |t|, and exp2 turns t's absolute error into a relative
//                           one times ln 2, plus its own (3 + 2|t|) ulp:
//                           |y| (ln 2 (|e| delta + u |t|) + (3 + 2|t|) u) (as test_unary_math.cpp).
// Every kind also gets the final rounding of the double reference (u |y|) and 2^-120 absolute
// for results that underflow (a device may flush denormals: sigmoid(-100) is 3.7e-44).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vkconv/activations.h"
#include "vkconv/layers.h"
#include "vkconv/model.h"
#include "vkconv/model_json.h"
#include "vkconv/unary_math.h"

namespace vkconv {
namespace {

using test::expect_error;
constexpr double kU = 1.0 / (1 << 23);

double activation_tolerance(const Activation& a, double x, double y) {
    // At x = +-inf every function gives its exact limit: no x-dependent term (it would be inf * 0).
    const double ax = std::isfinite(x) ? std::fabs(x) : 0.0, ay = std::fabs(y);
    double tol = 0;
    switch (a.kind) {
        case ActivationKind::None:
        case ActivationKind::ReLU:
        case ActivationKind::Hardtanh: return 0;
        case ActivationKind::LeakyReLU: tol = kU * ay; break;
        case ActivationKind::Hardsigmoid: tol = kU * (ax + 3) / 6 + 2 * kU * ay; break;
        case ActivationKind::Hardswish: tol = kU * ax * (ax + 3) / 6 + 4 * kU * ay; break;
        case ActivationKind::Sigmoid:
        case ActivationKind::SiLU: tol = (8 + 2 * ax) * kU * ay; break;
        case ActivationKind::ELU: tol = 4 * kU * std::fabs(a.alpha) + kU * ay; break;
        case ActivationKind::Tanh: tol = 11 * kU; break;
        case ActivationKind::GELU: tol = 0.5 * ax * (1.5e-7 + 27 * kU) + 3 * kU * ay; break;
        case ActivationKind::GELUTanh: tol = 0.5 * ax * 15 * kU + 3 * kU * ay; break;
        case ActivationKind::Erf: tol = 1.5e-7 + 26 * kU; break;
        case ActivationKind::Sqrt: tol = 5 * kU * ay; break;
        case ActivationKind::Pow: {
            const double e = a.alpha;
            if (e == 0 || e == 1) return 0;
            if (e == 2) tol = kU * ay;
            else if (e == 3) tol = 2 * kU * ay;
            else if (e == -1) tol = 2.5 * kU * ay;
            else if (e == 0.5 && !(x < 0)) tol = 5 * kU * ay;
            else if (std::isfinite(x) && x != 0) {
                const double l = std::log2(std::fabs(x)), t = e * l;
                const double delta = std::max(3 * kU * std::fabs(l), std::ldexp(1.0, -21));
                tol = ay * (std::log(2.0) * (std::fabs(e) * delta + kU * std::fabs(t)) + (3 + 2 * std::fabs(t)) * kU);
            }
            break;
        }
    }
    return tol + kU * ay + std::ldexp(1.0, -120);
}

// NaN where the reference is NaN, the same infinity where it is infinite, else within tol(x, y).
::testing::AssertionResult close_to(std::span<const float> got, std::span<const float> want, std::span<const float> x,
                                    const std::function<double(double, double)>& tol) {
    return test::each_element(
        got, want,
        [&](size_t i, float g, float w) {
            if (std::isnan(w)) return std::isnan(g);
            if (std::isinf(w)) return g == w;
            return !std::isnan(g) && std::fabs(double(g) - double(w)) <= tol(x[i], w);
        },
        [&](size_t i) { return " x=" + std::to_string(x[i]) + " (tol " + std::to_string(tol(x[i], want[i])) + ")"; });
}

// Random values (normal-ish, spread over [-8, 8]) with the special values in every 5th place.
std::vector<float> activation_inputs(size_t n, uint64_t seed) {
    auto v = test::random_values(n, seed);
    for (auto& e : v) e *= 8.0f;
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, 0.0f, -0.0f, 100.0f, -100.0f,
                              1e-30f, -1e-30f, 3.0f, -3.0f, 6.0f, -6.0f, 1e-3f, -1e-3f, 89.0f, -89.0f};
    constexpr size_t k = sizeof(specials) / sizeof(specials[0]);
    for (size_t i = 2; i < n; i += 5) v[i] = specials[(i / 5) % k];
    return v;
}

// One module of the sweep: how to make it, and its Activation (none: PReLU).
struct Kind {
    std::string name;
    std::function<std::unique_ptr<Layer>(Context&)> make;
};

std::vector<Kind> kinds() {
    return {
        {"ReLU6", [](Context& c) { return std::make_unique<ReLU6>(c); }},
        {"Hardtanh(-2.5,0.5)", [](Context& c) { return std::make_unique<Hardtanh>(c, -2.5, 0.5); }},
        {"LeakyReLU(0.2)", [](Context& c) { return std::make_unique<LeakyReLU>(c, 0.2); }},
        {"ELU(0.7)", [](Context& c) { return std::make_unique<ELU>(c, 0.7); }},
        {"Sigmoid", [](Context& c) { return std::make_unique<Sigmoid>(c); }},
        {"Tanh", [](Context& c) { return std::make_unique<Tanh>(c); }},
        {"SiLU", [](Context& c) { return std::make_unique<SiLU>(c); }},
        {"Hardswish", [](Context& c) { return std::make_unique<Hardswish>(c); }},
        {"Hardsigmoid", [](Context& c) { return std::make_unique<Hardsigmoid>(c); }},
        {"GELU", [](Context& c) { return std::make_unique<GELU>(c); }},
        {"GELU(tanh)", [](Context& c) { return std::make_unique<GELU>(c, "tanh"); }},
        {"Erf", [](Context& c) { return std::make_unique<Erf>(c); }},
        {"Sqrt", [](Context& c) { return std::make_unique<Sqrt>(c); }},
        {"Pow(3)", [](Context& c) { return std::make_unique<Pow>(c, 3.0f); }},
        {"Pow(2.5)", [](Context& c) { return std::make_unique<Pow>(c, 2.5f); }},
        {"Pow(-2)", [](Context& c) { return std::make_unique<Pow>(c, -2.0f); }},
        // PReLU last (the fusion test skips it: it has a weight of its own).
        {"PReLU(1)", [](Context& c) {
             auto p = std::make_unique<PReLU>(c, 1, -0.3);
             return p;
         }},
    };
}

struct SweepCase {
    size_t kind;
    Shape shape;
    bool staging = false;
    std::string str() const {
        std::ostringstream s;
        s << kinds()[kind].name << " shape=" << shape_str(shape) << (staging ? " staging" : "");
        return s.str();
    }
};
void PrintTo(const SweepCase& c, std::ostream* os) { *os << c.str(); }

class ActivationSweep : public test::VulkanTest, public ::testing::WithParamInterface<SweepCase> {};

TEST_P(ActivationSweep, MatchesReference) {
    const auto& c = GetParam();
    Context& ctx = c.staging ? test::staging_context() : test::context();
    auto layer = kinds()[c.kind].make(ctx);
    const size_t n = static_cast<size_t>(shape_numel(c.shape));
    const auto x = activation_inputs(n, std::hash<std::string>{}(c.str()));
    const Tensor y = layer->forward(Tensor::from_host(ctx, c.shape, x));
    ASSERT_EQ(y.shape(), c.shape) << c.str();
    const Activation act = activation_of(*layer);
    const Activation tol_act = act.is_none() ? Activation::leaky_relu() : act;  // PReLU: one product
    EXPECT_TRUE(close_to(y.to_host(), layer->reference(c.shape, x), x,
                         [&](double xv, double yv) { return activation_tolerance(tol_act, xv, yv); }))
        << c.str();
}

std::vector<SweepCase> sweep_cases() {
    const Shape shapes[] = {{}, {0}, {7}, {255}, {257}, {1031}, {3, 5}, {2, 3, 7}, {2, 3, 4, 5}, {2, 3, 2, 3, 4}, {2, 0, 3}};
    std::vector<SweepCase> out;
    for (size_t k = 0; k < kinds().size(); ++k) {
        for (const auto& s : shapes) out.push_back({k, s});
        out.push_back({k, {3, 100}, true});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(KindsShapes, ActivationSweep, ::testing::ValuesIn(sweep_cases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

class Activations : public test::VulkanTest {
protected:
    void TearDown() override {
        set_layer_workgroup_count_limit_for_testing(0);
        test::VulkanTest::TearDown();
    }
};

// PReLU with one slope per channel (dim 1) on 2-d to 5-d inputs, against the reference and a
// hand-computed value.
TEST_F(Activations, PReLUPerChannel) {
    auto& ctx = test::context();
    for (const Shape& s : std::vector<Shape>{{4, 3}, {2, 3, 5}, {2, 3, 4, 5}, {1, 3, 2, 2, 3}, {0, 3, 2}}) {
        PReLU p(ctx, 3);
        p.set_parameter("weight", std::vector<float>{0.25f, -0.5f, 2.0f});
        const auto x = activation_inputs(static_cast<size_t>(shape_numel(s)), 7);
        const Tensor y = p.forward(Tensor::from_host(ctx, s, x));
        EXPECT_TRUE(close_to(y.to_host(), p.reference(s, x), x,
                             [](double xv, double yv) { return activation_tolerance(Activation::leaky_relu(), xv, yv); }))
            << shape_str(s);
    }
    PReLU p(ctx, 2);
    p.set_parameter("weight", std::vector<float>{0.5f, -2.0f});
    const std::vector<float> x{-2, 3, -2, 3};  // [1, 2, 2]: channel 0 then channel 1
    EXPECT_EQ(p.forward(Tensor::from_host(ctx, {1, 2, 2}, x)).to_host(), (std::vector<float>{-1, 3, 4, 3}));
    EXPECT_EQ(p.parameters().at("weight").shape, (Shape{2}));
    EXPECT_EQ(PReLU(ctx).parameter("weight"), (std::vector<float>{0.25f}));
}

// PyTorch's outputs (tests/data/activations): the CPU reference and the shaders both agree
// with them within the tolerance above.
TEST_F(Activations, MatchPyTorch) {
    auto& ctx = test::context();
    const std::string dir = std::string(VKCONV_TEST_DATA_DIR) + "/activations/";
    const HostArray x = load_npy(dir + "input.npy"), out = load_npy(dir + "output.npy");
    std::ifstream f(dir + "manifest.json");
    const auto manifest = nlohmann::json::parse(f)["modules"];
    ASSERT_EQ(out.shape, (Shape{int64_t(manifest.size()), int64_t(x.data.size())}));
    const size_t n = x.data.size();
    for (size_t k = 0; k < manifest.size(); ++k) {
        const auto& m = manifest[k];
        const std::string type = m["type"];
        nlohmann::json layer_json = m["args"];
        layer_json["name"] = "act";
        layer_json["type"] = type;
        const nlohmann::json model{{"layers", nlohmann::json::array({layer_json})}};
        auto desc = model_from_json(ctx, model.dump(), "manifest");
        Layer& layer = desc.model->layer("act");
        EXPECT_EQ(layer.repr(), m["repr"].get<std::string>());
        const std::span<const float> want(out.data.data() + k * n, n);
        const Activation act = activation_of(layer);
        auto tol = [&](double xv, double yv) { return activation_tolerance(act, xv, yv); };
        std::vector<float> ref(n);
        for (size_t i = 0; i < n; ++i) ref[i] = static_cast<float>(activation_reference(act, x.data[i]));
        EXPECT_TRUE(close_to(ref, want, x.data, tol)) << "activation_reference vs PyTorch: " << m["repr"];
        const Tensor y = layer.forward(Tensor::from_host(ctx, {int64_t(n)}, x.data));
        EXPECT_TRUE(close_to(y.to_host(), want, x.data, tol)) << "shader vs PyTorch: " << m["repr"];
    }
    const HostArray px = load_npy(dir + "prelu_input.npy"), pw = load_npy(dir + "prelu_weight.npy"),
                    py = load_npy(dir + "prelu_output.npy");
    PReLU p(ctx, 3);
    p.set_parameter("weight", pw.data);
    const auto tol = [](double xv, double yv) { return activation_tolerance(Activation::leaky_relu(), xv, yv); };
    EXPECT_TRUE(close_to(p.reference(px.shape, px.data), py.data, px.data, tol));
    EXPECT_TRUE(close_to(p.forward(Tensor::from_host(ctx, px.shape, px.data)).to_host(), py.data, px.data, tol));
}

// 20 blocks of 256 elements under a cap of 3 workgroups per dispatch: 7 dispatches.
TEST_F(Activations, SplitDispatchesCoverEveryElement) {
    auto& ctx = test::context();
    set_layer_workgroup_count_limit_for_testing(3);
    const auto x = activation_inputs(5000, 3);
    for (auto& make : {kinds()[6].make, kinds().back().make}) {  // SiLU, PReLU
        auto layer = make(ctx);
        const Tensor xt = Tensor::from_host(ctx, {5000}, x), y(ctx, {5000});
        CommandRecorder rec(ctx);
        layer->record(rec, std::span(&xt, 1), y);
        EXPECT_EQ(rec.dispatch_count(), 7u) << layer->repr();
        rec.submit_and_wait();
        const Activation act = activation_of(*layer);
        const Activation tol_act = act.is_none() ? Activation::leaky_relu() : act;
        EXPECT_TRUE(close_to(y.to_host(), layer->reference({5000}, x), x,
                             [&](double xv, double yv) { return activation_tolerance(tol_act, xv, yv); }));
    }
}

TEST_F(Activations, ReprsAsPyTorch) {
    auto& ctx = test::context();
    EXPECT_EQ(ReLU6(ctx).repr(), "ReLU6()");
    EXPECT_EQ(ReLU6(ctx, true).repr(), "ReLU6(inplace=True)");
    EXPECT_EQ(Hardtanh(ctx).repr(), "Hardtanh(min_val=-1.0, max_val=1.0)");
    EXPECT_EQ(Hardtanh(ctx, -2.5, 1e-5, true).repr(), "Hardtanh(min_val=-2.5, max_val=1e-05, inplace=True)");
    EXPECT_EQ(LeakyReLU(ctx).repr(), "LeakyReLU(negative_slope=0.01)");
    EXPECT_EQ(LeakyReLU(ctx, 0.2, true).repr(), "LeakyReLU(negative_slope=0.2, inplace=True)");
    EXPECT_EQ(ELU(ctx).repr(), "ELU(alpha=1.0)");
    EXPECT_EQ(ELU(ctx, 0.5, true).repr(), "ELU(alpha=0.5, inplace=True)");
    EXPECT_EQ(Sigmoid(ctx).repr(), "Sigmoid()");
    EXPECT_EQ(Tanh(ctx).repr(), "Tanh()");
    EXPECT_EQ(SiLU(ctx).repr(), "SiLU()");
    EXPECT_EQ(SiLU(ctx, true).repr(), "SiLU(inplace=True)");
    EXPECT_EQ(Hardswish(ctx, true).repr(), "Hardswish()");
    EXPECT_EQ(Hardsigmoid(ctx, true).repr(), "Hardsigmoid()");
    EXPECT_EQ(GELU(ctx).repr(), "GELU(approximate='none')");
    EXPECT_EQ(GELU(ctx, "tanh").repr(), "GELU(approximate='tanh')");
    EXPECT_EQ(PReLU(ctx).repr(), "PReLU(num_parameters=1)");
    EXPECT_EQ(PReLU(ctx, 3, 0.1).repr(), "PReLU(num_parameters=3)");
    EXPECT_EQ(PReLU(ctx, 3).parameter_count(), 3);
    EXPECT_EQ(SiLU(ctx).type(), "SiLU");
    EXPECT_EQ(activation_of(ReLU6(ctx)), Activation::relu6());
    EXPECT_EQ(activation_of(ReLU(ctx)), Activation::relu());
    EXPECT_TRUE(activation_of(PReLU(ctx)).is_none());
}

TEST_F(Activations, RefusesBadArguments) {
    auto& ctx = test::context();
    expect_error([&] { Hardtanh(ctx, 1.0, 1.0); }, {"Hardtanh", "max_val must be greater than min_val", "min_val=1.0, max_val=1.0"});
    expect_error([&] { Hardtanh(ctx, 2.0, -1.0); }, {"max_val must be greater than min_val"});
    expect_error([&] { GELU(ctx, "fast"); }, {"approximate argument must be either none or tanh.", "'fast'"});
    expect_error([&] { PReLU(ctx, -1); }, {"PReLU", "negative dimension -1"});
    expect_error([&] { LeakyReLU(ctx, std::nan("")); }, {"negative_slope must be a number"});
    expect_error([&] { ELU(ctx, std::nan("")); }, {"alpha must be a number"});
    PReLU p(ctx, 3);
    expect_error([&] { p.output_shape(Shape{2, 4}); },
                 {"Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and channel size = 4."});
    expect_error([&] { p.output_shape(Shape{3}); }, {"Found parameter numbers = 3 and channel size = 1."});
    expect_error([&] { p.forward(Tensor(ctx, {2, 4, 2})); }, {"channel size = 4"});
    expect_error([&] { p.set_parameter("weight", std::vector<float>{1, 2}); }, {"weight"});
    SiLU s(ctx);
    expect_error([&] { s.forward(std::span<const Tensor>{}); }, {"expected 1 input(s), got 0"});
}

// A small network exported from PyTorch (tools/fixtures/gen_activation_fixtures.py: MiniMobile)
// using every activation, squeeze-excitation, scalars, a layer scale parameter and LayerNorm:
// device and CPU reference within 1e-4 of the output's scale of PyTorch's output, fused or not.
TEST_F(Activations, ExportedModelMatchesPyTorch) {
    auto& ctx = test::context();
    const std::string dir = std::string(VKCONV_TEST_DATA_DIR) + "/activations/model/";
    auto d = load_model_json(ctx, dir + "model.json");
    d.model->load_weights(dir + "model.safetensors");
    const HostArray x = load_npy(dir + "input.npy"), want = load_npy(dir + "output.npy");
    float scale = 0;
    for (float v : want.data) scale = std::max(scale, std::fabs(v));
    const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
    auto check = [&](const std::vector<float>& got, const std::string& what) {
        ASSERT_EQ(got.size(), want.data.size()) << what;
        for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want.data[i], 1e-4 * scale) << what << " [" << i << "]";
    };
    const auto fused = d.model->forward(xt);
    EXPECT_EQ(fused.shape(), want.shape);
    check(fused.to_host(), "fused");
    const uint32_t fused_dispatches = d.model->last_forward_stats().dispatches;
    EXPECT_EQ(d.model->last_forward_stats().submissions, 1u);
    d.model->set_fusion(false);
    check(d.model->forward(xt).to_host(), "unfused");
    EXPECT_LT(fused_dispatches, d.model->last_forward_stats().dispatches);
    check(d.model->reference_forward(x.shape, x.data), "reference");
}

// The JSON forms: defaults, every argument, and refusals naming the layer and the rule.
TEST_F(Activations, JsonLayers) {
    auto& ctx = test::context();
    const auto d = model_from_json(ctx, R"({"layers": [
        {"name": "a", "type": "ReLU6", "inplace": true},
        {"name": "b", "type": "Hardtanh", "min_val": -2.5, "max_val": 0.5},
        {"name": "c", "type": "LeakyReLU"},
        {"name": "d", "type": "PReLU", "num_parameters": 1, "init": 0.1},
        {"name": "e", "type": "ELU", "alpha": 0.5, "inplace": true},
        {"name": "f", "type": "Sigmoid"}, {"name": "g", "type": "Tanh"}, {"name": "h", "type": "SiLU"},
        {"name": "i", "type": "Hardswish", "inplace": true}, {"name": "j", "type": "Hardsigmoid"},
        {"name": "k", "type": "GELU", "approximate": "tanh"}]})",
                                   "t.json");
    std::string reprs;
    for (const auto& n : d.model->layer_names()) reprs += d.model->layer(n).repr() + ";";
    EXPECT_EQ(reprs,
              "ReLU6(inplace=True);Hardtanh(min_val=-2.5, max_val=0.5);LeakyReLU(negative_slope=0.01);PReLU(num_parameters=1);"
              "ELU(alpha=0.5, inplace=True);Sigmoid();Tanh();SiLU();Hardswish();Hardsigmoid();GELU(approximate='tanh');");
    EXPECT_EQ(d.model->layer("d").parameter("weight"), (std::vector<float>{0.1f}));
    auto bad = [&](const std::string& layer, std::initializer_list<const char*> parts) {
        expect_error([&] { model_from_json(ctx, R"({"layers": [)" + layer + "]}", "t.json"); }, parts);
    };
    bad(R"({"name": "g", "type": "GELU", "approximate": "fast"})", {"'g' (GELU)", "approximate argument must be either none or tanh."});
    bad(R"({"name": "h", "type": "Hardtanh", "min_val": 2})", {"'h' (Hardtanh)", "max_val must be greater than min_val"});
    bad(R"({"name": "h", "type": "Hardtanh", "min_val": "x"})", {"argument 'min_val' must be a number"});
    bad(R"({"name": "p", "type": "PReLU", "num_parameters": -3})", {"'p' (PReLU)", "negative dimension -3"});
    bad(R"({"name": "s", "type": "Sigmoid", "inplace": true})", {"unknown argument 'inplace'", "takes none"});
    bad(R"({"name": "s", "type": "SiLU", "alpha": 1})", {"unknown argument 'alpha'"});
    bad(R"({"name": "s", "type": "Swish"})", {"unknown layer type 'Swish'", "Hardswish", "GELU"});
}

// ---- fusion into the epilogue of the layer before -------------------------------------------

// Every kind after Linear, Add and BatchNorm2d in a Model: fused (one dispatch fewer per
// activation) and unfused results agree; selections and single products bit for bit.
TEST_F(Activations, FusedIntoLinearAddBatchNorm) {
    auto& ctx = test::context();
    const auto all = kinds();
    for (size_t k = 0; k + 1 < all.size(); ++k) {  // not PReLU: it has its own weight
        for (int producer = 0; producer < 3; ++producer) {
            Model m(ctx, "M");
            Shape in_shape;
            if (producer == 0) {
                in_shape = {3, 40};
                m.add("fc", std::make_unique<Linear>(ctx, 40, 70));
                m.add("act", all[k].make(ctx));
            } else if (producer == 1) {
                in_shape = {2, 3, 5, 7};
                m.add("a", std::make_unique<ReLU6>(ctx), {"input"});
                m.add("add", std::make_unique<Add>(ctx), {"a", "input"});
                m.add("act", all[k].make(ctx));
            } else {
                in_shape = {2, 3, 5, 7};
                auto bn = std::make_unique<BatchNorm2d>(ctx, 3);
                bn->set_parameter("running_mean", std::vector<float>{0.5f, -1.0f, 2.0f});
                bn->set_parameter("running_var", std::vector<float>{2.0f, 0.5f, 1.0f});
                bn->set_parameter("weight", std::vector<float>{1.5f, -2.0f, 0.75f});
                m.add("bn", std::move(bn));
                m.add("act", all[k].make(ctx));
            }
            m.reset_parameters(k + 1);
            const std::string pre_name = producer == 0 ? "fc" : producer == 1 ? "add" : "bn";
            const size_t count = static_cast<size_t>(shape_numel(in_shape));
            // Special values would make whole rows of a Linear NaN: plain values there.
            auto x = producer == 0 ? test::random_values(count, k) : activation_inputs(count, k * 3 + producer);
            if (producer == 0)
                for (auto& v : x) v *= 8.0f;
            const Tensor xt = Tensor::from_host(ctx, in_shape, x);
            const auto fused = m.forward(xt).to_host();
            const uint32_t fused_dispatches = m.last_forward_stats().dispatches;
            m.set_fusion(false);
            std::map<std::string, HostArray> captured;
            const auto unfused = m.forward(xt, {pre_name}, &captured).to_host();
            const uint32_t unfused_dispatches = m.last_forward_stats().dispatches;
            const std::string what = all[k].name + " after " + pre_name;
            EXPECT_EQ(fused_dispatches + 1, unfused_dispatches) << what;
            // Both against the activation of the producer's fp32 output.
            const auto& pre = captured.at(pre_name).data;
            const Activation act = activation_of(m.layer("act"));
            std::vector<float> want(pre.size());
            for (size_t i = 0; i < pre.size(); ++i) want[i] = static_cast<float>(activation_reference(act, pre[i]));
            auto tol = [&](double xv, double yv) { return activation_tolerance(act, xv, yv); };
            EXPECT_TRUE(close_to(fused, want, pre, tol)) << what << " (fused)";
            EXPECT_TRUE(close_to(unfused, want, pre, tol)) << what << " (unfused)";
            // Selections and single products are the same arithmetic in both passes.
            if (act.kind == ActivationKind::Hardtanh || act.kind == ActivationKind::LeakyReLU)
                EXPECT_EQ(std::memcmp(fused.data(), unfused.data(), fused.size() * 4), 0) << what;
        }
    }
}

// ReLU keeps its fusion exactly: Linear + ReLU is one dispatch and bit-identical to the
// unfused pair.
TEST_F(Activations, ReLUFusionUnchanged) {
    auto& ctx = test::context();
    Model m(ctx, "M");
    m.add("fc1", std::make_unique<Linear>(ctx, 16, 32));
    m.add("relu", std::make_unique<ReLU>(ctx));
    m.add("fc2", std::make_unique<Linear>(ctx, 32, 8));
    m.add("silu", std::make_unique<SiLU>(ctx));
    m.reset_parameters(3);
    const auto x = test::random_values(4 * 16, 9);
    const Tensor xt = Tensor::from_host(ctx, {4, 16}, x);
    const auto fused = m.forward(xt).to_host();
    EXPECT_EQ(m.last_forward_stats().dispatches, 2u);
    EXPECT_EQ(m.last_forward_stats().submissions, 1u);
    m.set_fusion(false);
    const auto unfused = m.forward(xt).to_host();
    EXPECT_EQ(m.last_forward_stats().dispatches, 4u);
    EXPECT_TRUE(close_to(fused, unfused, unfused,
                         [](double, double yv) { return activation_tolerance(Activation::of(ActivationKind::SiLU), 10, yv); }));
}

// A value read by two layers is not fused (the other reader needs it without the activation).
TEST_F(Activations, NotFusedWhenTheValueHasOtherReaders) {
    auto& ctx = test::context();
    Model m(ctx, "M");
    m.add("fc", std::make_unique<Linear>(ctx, 8, 8));
    m.add("act", std::make_unique<Hardswish>(ctx));
    m.add("add", std::make_unique<Add>(ctx), {"act", "fc"});
    m.reset_parameters(1);
    const auto x = test::random_values(2 * 8, 4);
    const Tensor xt = Tensor::from_host(ctx, {2, 8}, x);
    const auto y = m.forward(xt).to_host();
    EXPECT_EQ(m.last_forward_stats().dispatches, 3u);
    const auto ref = m.reference_forward({2, 8}, x);
    EXPECT_TRUE(close_to(y, ref, ref, [](double, double yv) { return 1e-5 * (1 + std::fabs(yv)); }));
}

TEST_F(Activations, LayerFusionRules) {
    auto& ctx = test::context();
    Linear fc(ctx, 4, 4);
    EXPECT_TRUE(fc.can_fuse_activation(Activation::of(ActivationKind::GELU)));
    fc.set_fused_relu(true);
    EXPECT_FALSE(fc.can_fuse_activation(Activation::of(ActivationKind::GELU)));
    EXPECT_TRUE(fc.can_fuse_activation(Activation::relu()));
    const Tensor x(ctx, {1, 4}), y(ctx, {1, 4});
    CommandRecorder rec(ctx);
    expect_error([&] { fc.record_with_activation(rec, std::span(&x, 1), y, Activation::of(ActivationKind::GELU)); },
                 {"cannot fuse gelu"});
    EXPECT_TRUE(Add(ctx).can_fuse_activation(Activation::elu()));
    EXPECT_FALSE(Add(ctx, true).can_fuse_activation(Activation::elu()));
    EXPECT_TRUE(BatchNorm2d(ctx, 3).can_fuse_activation(Activation::of(ActivationKind::Sigmoid)));
    EXPECT_FALSE(SiLU(ctx).can_fuse_activation(Activation::relu()));
}

}  // namespace
}  // namespace vkconv
