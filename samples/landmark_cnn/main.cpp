// LandmarkCNN: three blocks of Conv2d(3x3, padding 1) + BatchNorm2d + ReLU + MaxPool2d(2)
// (3 -> 32 -> 64 -> 128 channels, 32x32 -> 4x4), then Flatten, Linear(2048, 512), ReLU,
// Dropout(0.5), Linear(512, 10). Names follow an nn.Sequential `features` / `classifier`
// module, so its state_dict (num_batches_tracked included) loads as is. BatchNorm2d is folded
// into the convolution before it at run time.
#include "common/classifier_sample.h"

int main(int argc, char** argv) {
    using namespace vkconv;
    samples::ClassifierSample s;
    s.title = "LandmarkCNN";
    for (int i = 0; i < 10; ++i) s.class_names.push_back("landmark " + std::to_string(i));
    s.feature_layers = {"features.0", "features.4", "features.8"};
    s.build = [](Context& ctx) {
        auto m = std::make_unique<Model>(ctx, "LandmarkCNN");
        const int channels[] = {3, 32, 64, 128};
        int i = 0;
        auto name = [&](const char* group) { return std::string(group) + "." + std::to_string(i++); };
        for (int b = 0; b < 3; ++b) {
            m->add(name("features"), std::make_unique<Conv2d>(ctx, channels[b], channels[b + 1], 3, Conv2dOptions{.padding = 1}));
            m->add(name("features"), std::make_unique<BatchNorm2d>(ctx, channels[b + 1]));
            m->add(name("features"), std::make_unique<ReLU>(ctx));
            m->add(name("features"), std::make_unique<MaxPool2d>(ctx, 2));
        }
        i = 0;
        m->add(name("classifier"), std::make_unique<Flatten>(ctx));
        m->add(name("classifier"), std::make_unique<Linear>(ctx, 2048, 512));
        m->add(name("classifier"), std::make_unique<ReLU>(ctx));
        m->add(name("classifier"), std::make_unique<Dropout>(ctx, 0.5));
        m->add(name("classifier"), std::make_unique<Linear>(ctx, 512, 10));
        return m;
    };
    return samples::run_classifier_sample(s, argc, argv);
}
