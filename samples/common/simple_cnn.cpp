#include "common/simple_cnn.h"

#include <string>

#include "vkconv/conv2d.h"
#include "vkconv/layers.h"

namespace vkconv {
namespace {
constexpr int kChannels[] = {3, 16, 32, 64};
}

std::unique_ptr<Model> make_simple_cnn(Context& ctx, uint64_t seed) {
    // The tutorial's forward: x = F.max_pool2d(F.relu(self.convN(x)), 2) three times, then
    // x.view(-1, 64 * 4 * 4) and self.fc(x). The functional calls carry torch.fx's node names,
    // as tools/export_model.py writes them for the tutorial's class.
    auto m = std::make_unique<Model>(ctx, "SimpleCNN");
    for (int b = 1; b <= 3; ++b) {
        const std::string suffix = b == 1 ? "" : "_" + std::to_string(b - 1);
        m->add("conv" + std::to_string(b),
               std::make_unique<Conv2d>(ctx, kChannels[b - 1], kChannels[b], 3, Conv2dOptions{.padding = 1}));
        m->add_functional("relu" + suffix, std::make_unique<ReLU>(ctx));
        m->add_functional("max_pool2d" + suffix, std::make_unique<MaxPool2d>(ctx, 2));
    }
    m->add_functional("view", std::make_unique<Flatten>(ctx));
    m->add("fc", std::make_unique<Linear>(ctx, 64 * 4 * 4, 10));
    m->reset_parameters(seed);
    return m;
}

double simple_cnn_gflop(int64_t batch) {
    double g = 0;
    int64_t hw = 32;
    for (int b = 0; b < 3; ++b, hw /= 2) g += 2.0 * double(batch) * kChannels[b + 1] * double(hw * hw) * kChannels[b] * 9;
    g += 2.0 * double(batch) * 1024 * 10;
    return g * 1e-9;
}

}  // namespace vkconv
