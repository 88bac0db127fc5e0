// ConvTranspose2d, Upsample (F.interpolate), AdaptiveMaxPool2d / AdaptiveAvgPool2d with None
// entries, Mean / Amax against PyTorch itself: fixtures in tests/data/spatial made by
// tools/fixtures/gen_spatial_fixtures.py (PyTorch 1.13), held out from the sweeps' reference.
// Then whole models using them (two small U-Nets and a pooling head), exported by
// tools/export_model.py (which verified its JSON by rebuilding it in PyTorch), run through
// load_model_json; and the JSON arguments of these layers, refused where wrong.
//
// Tolerances: nearest, max pooling and amax select a value: bit-exact. Others within 1e-5 of
// the output's scale (max |y|): fp32 sums of at most a few hundred terms in another order, and
// bilinear blends of four values (a few ulp); 1e-4 of the scale for whole models (the project's bar).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "vkconv/model_json.h"
#include "vkconv/npy.h"

namespace vkconv {
namespace {

using json = nlohmann::json;
using test::expect_error;

const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/spatial/";

json manifest() {
    std::ifstream f(kDir + "manifest.json");
    if (!f) return json::object();
    return json::parse(f);
}

std::vector<json> cases() {
    const json m = manifest();
    return m.contains("cases") ? m.at("cases").get<std::vector<json>>() : std::vector<json>{};
}

Pair json_pair(const json& j) { return j.is_array() ? Pair(j.at(0).get<int>(), j.at(1).get<int>()) : Pair(j.get<int>()); }

std::optional<int> json_opt(const json& j, int i) {
    const json& e = j.is_array() ? j.at(static_cast<size_t>(i)) : j;
    return e.is_null() ? std::nullopt : std::optional<int>(e.get<int>());
}

float scale_of(const std::vector<float>& v) {
    float s = 0;
    for (float x : v)
        if (!std::isnan(x)) s = std::max(s, std::fabs(x));
    return s;
}

::testing::AssertionResult bit_equal(std::span<const float> got, std::span<const float> want) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(got[i]) && std::isnan(want[i])) continue;
        if (std::memcmp(&got[i], &want[i], 4) != 0)
            return ::testing::AssertionFailure() << "[" << i << "] got " << got[i] << ", want " << want[i];
    }
    return ::testing::AssertionSuccess();
}

UpsampleOptions upsample_options(const json& args) {
    UpsampleOptions o;
    if (args.contains("size")) {
        const json& s = args.at("size");
        o.size = s.is_array() ? s.get<std::vector<int64_t>>() : std::vector<int64_t>{s.get<int64_t>()};
    }
    if (args.contains("scale_factor")) {
        const json& s = args.at("scale_factor");
        o.scale_factor = s.is_array() ? s.get<std::vector<double>>() : std::vector<double>{s.get<double>()};
    }
    o.mode = args.value("mode", "nearest");
    if (args.contains("align_corners")) o.align_corners = args.at("align_corners").get<bool>();
    if (args.contains("recompute_scale_factor")) o.recompute_scale_factor = args.at("recompute_scale_factor").get<bool>();
    return o;
}

class SpatialPyTorch : public test::VulkanTest, public ::testing::WithParamInterface<json> {};

TEST_P(SpatialPyTorch, MatchesTorchOutput) {
    const json& c = GetParam();
    const std::string name = c.at("name"), kind = c.at("kind");
    SCOPED_TRACE(name + " (" + kind + "): " + c.dump());
    Context& ctx = test::context();
    if (kind == "UpsampleRepr") {
        UpsampleOptions o = upsample_options(c.at("args"));
        o.class_name = c.at("class");
        if (o.class_name == "UpsamplingBilinear2d") {
            o.mode = "bilinear";
            o.align_corners = true;
        }
        EXPECT_EQ(Upsample(ctx, o).repr(), c.at("repr").get<std::string>());
        return;
    }
    const HostArray x = load_npy(kDir + name + "_input.npy");
    const HostArray want = load_npy(kDir + name + "_output.npy");
    std::unique_ptr<Layer> layer;
    bool exact = false;
    std::optional<std::vector<int64_t>> output_size;
    if (kind == "ConvTranspose2d") {
        ConvTranspose2dOptions o{.stride = json_pair(c.at("stride")), .padding = json_pair(c.at("padding")),
                                 .output_padding = json_pair(c.at("output_padding")), .groups = c.at("groups"),
                                 .bias = c.at("bias"), .dilation = json_pair(c.at("dilation"))};
        auto l = std::make_unique<ConvTranspose2d>(ctx, c.at("in_channels").get<int>(), c.at("out_channels").get<int>(),
                                                   json_pair(c.at("kernel_size")), o);
        EXPECT_EQ(l->repr(), c.at("repr").get<std::string>());
        l->set_weight(load_npy(kDir + name + "_weight.npy").data);
        if (o.bias) l->set_bias(load_npy(kDir + name + "_bias.npy").data);
        if (!c.at("output_size").is_null()) {
            output_size = c.at("output_size").get<std::vector<int64_t>>();
            const Pair op = conv_transpose2d_output_padding(l->params(), x.shape, *output_size);
            const auto ref = conv_transpose2d_reference(l->params(), x.shape, x.data, l->weight(), l->bias(), op);
            EXPECT_TRUE(test::all_close(ref, want.data, 1e-5f * scale_of(want.data)));
            const Tensor y = l->forward(Tensor::from_host(ctx, x.shape, x.data), *output_size);
            ASSERT_EQ(y.shape(), want.shape);
            EXPECT_TRUE(test::all_close(y.to_host(), want.data, 1e-5f * scale_of(want.data)));
            return;
        }
        layer = std::move(l);
    } else if (kind == "interpolate") {
        const auto o = upsample_options(c.at("args"));
        exact = o.mode == "nearest";
        layer = std::make_unique<Upsample>(ctx, o);
    } else if (kind == "AdaptiveMaxPool2d" || kind == "AdaptiveAvgPool2d") {
        const json& s = c.at("output_size");
        if (kind == "AdaptiveMaxPool2d") {
            layer = std::make_unique<AdaptiveMaxPool2d>(ctx, json_opt(s, 0), json_opt(s, 1));
            exact = true;
        } else {
            layer = std::make_unique<AdaptiveAvgPool2d>(ctx, json_opt(s, 0), json_opt(s, 1));
        }
        EXPECT_EQ(layer->repr(), c.at("repr").get<std::string>());
    } else if (kind == "Mean" || kind == "Amax") {
        const auto dim = c.at("dim").get<std::vector<int>>();
        if (kind == "Mean") layer = std::make_unique<Mean>(ctx, dim, c.at("keepdim").get<bool>());
        else layer = std::make_unique<Amax>(ctx, dim, c.at("keepdim").get<bool>());
        exact = kind == "Amax";
    } else {
        FAIL() << "unknown kind " << kind;
    }
    const Tensor y = layer->forward(Tensor::from_host(ctx, x.shape, x.data));
    ASSERT_EQ(y.shape(), want.shape);
    const auto got = y.to_host();
    const auto ref = layer->reference(x.shape, x.data);
    if (exact) {
        EXPECT_TRUE(bit_equal(got, want.data));
        EXPECT_TRUE(bit_equal(ref, want.data));
    } else {
        EXPECT_TRUE(test::all_close(got, want.data, 1e-5f * scale_of(want.data)));
        EXPECT_TRUE(test::all_close(ref, want.data, 1e-5f * scale_of(want.data)));
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpatialPyTorch, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.at("name").template get<std::string>(); });

TEST(SpatialPyTorchFixtures, ArePresent) {
    EXPECT_GE(cases().size(), 40u) << "missing " << kDir << "manifest.json";
    EXPECT_GE(manifest().value("models", json::array()).size(), 3u);
}

// Whole models exported by tools/export_model.py: device and CPU reference against PyTorch.
class SpatialModels : public test::VulkanTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SpatialModels, MatchTorchOutput) {
    const std::string dir = kDir + GetParam() + "/";
    Context& ctx = test::context();
    auto desc = load_model_json(ctx, dir + "model.json");
    desc.model->load_weights(dir + "model.safetensors");
    const HostArray x = load_npy(dir + "input.npy");
    const HostArray want = load_npy(dir + "output.npy");
    const float tol = 1e-4f * scale_of(want.data);
    const Tensor y = desc.model->forward(Tensor::from_host(ctx, x.shape, x.data));
    ASSERT_EQ(y.shape(), want.shape);
    EXPECT_TRUE(test::all_close(y.to_host(), want.data, tol));
    EXPECT_TRUE(test::all_close(desc.model->reference_forward(x.shape, x.data), want.data, tol));
}

INSTANTIATE_TEST_SUITE_P(Models, SpatialModels,
                         ::testing::ValuesIn(manifest().value("models", json::array()).get<std::vector<std::string>>()),
                         [](const auto& info) { return info.param; });

// The JSON arguments of these layers: what each becomes, and refusals naming the argument.
class SpatialModelJson : public test::VulkanTest {
protected:
    std::unique_ptr<Model> parse(const std::string& layer) {
        return model_from_json(test::context(), R"({"layers": [)" + layer + "]}", "m.json").model;
    }
};

TEST_F(SpatialModelJson, BuildsEachType) {
    EXPECT_EQ(parse(R"({"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3,
                        "stride": 2, "padding": [1, 0], "output_padding": 1, "groups": 2, "bias": false, "dilation": 1})")
                  ->layer("up").repr(),
              "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 0), output_padding=(1, 1), groups=2, bias=False)");
    EXPECT_EQ(parse(R"({"name": "u", "type": "Upsample", "scale_factor": [2.0, 1.5], "mode": "bilinear", "align_corners": true})")
                  ->layer("u").repr(),
              "Upsample(scale_factor=(2.0, 1.5), mode=bilinear)");
    EXPECT_EQ(parse(R"({"name": "u", "type": "UpsamplingBilinear2d", "size": 5})")->layer("u").repr(),
              "UpsamplingBilinear2d(size=5, mode=bilinear)");
    EXPECT_EQ(parse(R"({"name": "u", "type": "UpsamplingNearest2d", "scale_factor": 2})")->layer("u").repr(),
              "UpsamplingNearest2d(scale_factor=2.0, mode=nearest)");
    EXPECT_EQ(parse(R"({"name": "p", "type": "AdaptiveMaxPool2d", "output_size": [2, null]})")->layer("p").repr(),
              "AdaptiveMaxPool2d(output_size=(2, None))");
    EXPECT_EQ(parse(R"({"name": "p", "type": "AdaptiveAvgPool2d", "output_size": [null, 3]})")->layer("p").repr(),
              "AdaptiveAvgPool2d(output_size=(None, 3))");
    EXPECT_EQ(parse(R"({"name": "m", "type": "Mean", "dim": [-1, -2], "keepdim": true})")->layer("m").repr(),
              "Mean(dim=(-1, -2), keepdim=True)");
    EXPECT_EQ(parse(R"({"name": "m", "type": "Amax"})")->layer("m").repr(), "Amax(dim=(2, 3), keepdim=False)");
    const auto up = parse(R"({"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "out_channels": 6, "kernel_size": 2, "groups": 2})");
    EXPECT_EQ(up->layer("up").parameters().at("weight").shape, (Shape{4, 3, 2, 2}));
}

TEST_F(SpatialModelJson, RefusesBadArguments) {
    expect_error([&] { parse(R"({"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3,
                                 "padding_mode": "reflect"})"); },
                 {"layers[0] 'up' (ConvTranspose2d)", "Only \"zeros\" padding mode is supported"});
    expect_error([&] { parse(R"({"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3,
                                 "output_padding": 1})"); },
                 {"output padding must be smaller than either stride or dilation"});
    expect_error([&] { parse(R"({"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "out_channels": 4})"); },
                 {"argument 'kernel_size' is required"});
    expect_error([&] { parse(R"({"name": "u", "type": "Upsample", "scale_factor": "x"})"); },
                 {"argument 'scale_factor' must be a number or a list of two numbers"});
    expect_error([&] { parse(R"({"name": "u", "type": "Upsample", "size": 3, "scale_factor": 2})"); },
                 {"only one of size or scale_factor should be defined"});
    expect_error([&] { parse(R"({"name": "u", "type": "Upsample", "mode": "bicubic", "size": 3})"); }, {"mode must be 'nearest' or 'bilinear'"});
    expect_error([&] { parse(R"({"name": "u", "type": "UpsamplingNearest2d", "mode": "bilinear", "size": 3})"); },
                 {"argument 'mode' must be 'nearest' for UpsamplingNearest2d"});
    expect_error([&] { parse(R"({"name": "u", "type": "Upsample", "size": 3, "antialias": true})"); }, {"unknown argument 'antialias'"});
    expect_error([&] { parse(R"({"name": "p", "type": "AdaptiveMaxPool2d", "output_size": 2, "return_indices": true})"); },
                 {"return_indices=True is not supported"});
    expect_error([&] { parse(R"({"name": "p", "type": "AdaptiveMaxPool2d", "output_size": [2, "a"]})"); }, {"argument 'output_size'"});
    expect_error([&] { parse(R"({"name": "p", "type": "AdaptiveMaxPool2d"})"); }, {"argument 'output_size' is required"});
    expect_error([&] { parse(R"({"name": "m", "type": "Mean", "dim": [2]})"); }, {"argument 'dim' must be a list of two integers"});
    expect_error([&] { parse(R"({"name": "m", "type": "Amax", "dim": [3, 3]})"); }, {"dim 3 appears multiple times in the list of dims"});
}

}  // namespace
}  // namespace vkconv
