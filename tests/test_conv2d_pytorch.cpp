// Conv2d against torch.nn.Conv2d itself: fixtures in tests/data/conv2d made by
// tools/fixtures/gen_conv2d_fixtures.py (PyTorch 1.13). Every padding mode, 'same'/'valid',
// asymmetric stride/dilation, grouped and depthwise, unbatched input.
// Tolerance: 1e-4 of the output's scale (max |y|), the bar the project promises; fp32 sums of
// at most a few hundred terms differ from PyTorch's order by far less.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "vkconv/npy.h"

namespace vkconv {
namespace {

const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/conv2d/";

Pair json_pair(const nlohmann::json& j) { return Pair(j.at(0).get<int>(), j.at(1).get<int>()); }

std::vector<nlohmann::json> load_cases() {
    std::ifstream f(kDir + "manifest.json");
    if (!f) return {};
    return nlohmann::json::parse(f).at("cases").get<std::vector<nlohmann::json>>();
}

class Conv2dPyTorch : public test::VulkanTest, public ::testing::WithParamInterface<nlohmann::json> {};

TEST_P(Conv2dPyTorch, MatchesTorchOutput) {
    const auto& c = GetParam();
    const std::string name = c.at("name");
    SCOPED_TRACE(name + ": " + c.at("repr").get<std::string>() + " padding_mode=" + c.at("padding_mode").get<std::string>());
    const HostArray x = load_npy(kDir + name + "_input.npy");
    const HostArray w = load_npy(kDir + name + "_weight.npy");
    const HostArray want = load_npy(kDir + name + "_output.npy");
    Conv2dOptions o;
    o.stride = json_pair(c.at("stride"));
    o.dilation = json_pair(c.at("dilation"));
    o.padding = c.at("padding").is_string() ? Padding::parse(c.at("padding").get<std::string>()) : Padding(json_pair(c.at("padding")));
    o.groups = c.at("groups");
    o.bias = c.at("bias");
    o.padding_mode = parse_padding_mode(c.at("padding_mode"));
    Conv2d conv(test::context(), static_cast<int>(w.shape[1]) * o.groups, static_cast<int>(w.shape[0]),
                Pair(static_cast<int>(w.shape[2]), static_cast<int>(w.shape[3])), o);
    EXPECT_EQ(conv.repr(), c.at("repr").get<std::string>());
    conv.set_weight(w.data);
    if (o.bias) conv.set_bias(load_npy(kDir + name + "_bias.npy").data);
    const Tensor y = conv.forward(Tensor::from_host(test::context(), x.shape, x.data));
    ASSERT_EQ(y.shape(), want.shape);
    float scale = 0;
    for (float v : want.data) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(test::all_close(y.to_host(), want.data, 1e-4f * scale));
    // The CPU reference must agree with PyTorch too.
    const auto ref = conv2d_reference(conv.params(), x.shape, x.data, conv.weight(), conv.bias());
    EXPECT_TRUE(test::all_close(ref, want.data, 1e-5f * scale));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Conv2dPyTorch, ::testing::ValuesIn(load_cases()),
                         [](const auto& info) { return info.param.at("name").template get<std::string>(); });

TEST(Conv2dPyTorchFixtures, ArePresent) { EXPECT_GE(load_cases().size(), 30u) << "missing " << kDir << "manifest.json"; }

}  // namespace
}  // namespace vkconv
