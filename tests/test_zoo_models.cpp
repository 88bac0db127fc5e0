// torchvision's architectures end to end against PyTorch: fixtures in tests/data/zoo made by
// tools/fixtures/gen_zoo_fixtures.py (MobileNetV2, EfficientNet, DenseNet and LRASPP at reduced
// width, a U-Net with ConvTranspose2d), exported with tools/export_model.py.
//
// For each: Model::forward_all on the device at batch 1 and 2, fusion on and off, within 1e-4 of
// each output's scale (max |y|) of PyTorch's output. The bound: every value is a chain of fp32
// sums of at most a few thousand products (the widest reduction is a Linear over 1280 inputs) and
// of normalisations, whose rounding stays below 1e-5 of the scale; 1e-4 leaves a margin of 10
// for the order in which vkconv sums. One queue submission and no host transfers per forward.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "vkconv/model_json.h"
#include "vkconv/npy.h"
#include "vkconv/vkconv.h"

namespace vkconv {
namespace {

using json = nlohmann::json;
const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/zoo/";

std::vector<json> zoo_models() {
    std::ifstream f(kDir + "manifest.json");
    if (!f) return {};
    return json::parse(f).at("models").get<std::vector<json>>();
}

class ZooModels : public test::VulkanTest, public ::testing::WithParamInterface<json> {};

TEST_P(ZooModels, MatchTorchFusedAndUnfused) {
    Context& ctx = test::context();
    const std::string dir = kDir + GetParam().at("dir").get<std::string>() + "/";
    ModelDescription d = load_model_json(ctx, dir + "model.json", dir + "model.safetensors");
    Model& m = *d.model;
    for (bool fusion : {true, false})
        for (int n : {1, 2}) {
            m.set_fusion(fusion);
            const std::string what = GetParam().at("dir").get<std::string>() + ", batch " + std::to_string(n) +
                                     (fusion ? "" : ", fusion off");
            const HostArray x = load_npy(dir + "input_b" + std::to_string(n) + ".npy");
            const Tensor xt = Tensor::from_host(ctx, x.shape, x.data);
            m.forward_all(xt);  // the first forward of a plan also uploads the parameters
            const auto ys = m.forward_all(xt);
            EXPECT_EQ(m.last_forward_stats().submissions, 1u) << what;
            EXPECT_EQ(m.last_forward_stats().host_transfers, 0u) << what;
            const auto names = GetParam().at("outputs").get<std::vector<std::string>>();
            ASSERT_EQ(ys.size(), names.size()) << what;
            for (const auto& name : names) {
                // A single output is the model's first; a dict's keep their names.
                const Tensor& y = names.size() == 1 && !ys.count(name) ? ys.begin()->second : ys.at(name);
                const HostArray want = load_npy(dir + name + "_b" + std::to_string(n) + ".npy");
                ASSERT_EQ(y.shape(), want.shape) << what << ", " << name;
                float scale = 0;
                for (float v : want.data) scale = std::max(scale, std::fabs(v));
                EXPECT_TRUE(test::all_close(y.to_host(), want.data, 1e-4f * scale)) << what << ", " << name << ", scale " << scale;
            }
        }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ZooModels, ::testing::ValuesIn(zoo_models()),
                         [](const auto& info) { return info.param.at("dir").template get<std::string>(); });

TEST(ZooModelsFixtures, ArePresent) {
    std::set<std::string> dirs;
    for (const auto& m : zoo_models()) dirs.insert(m.at("dir").get<std::string>());
    for (const char* d : {"mobilenet_v2", "efficientnet", "densenet", "unet", "lraspp"}) EXPECT_TRUE(dirs.count(d)) << d;
}

}  // namespace
}  // namespace vkconv
