// LandmarkCNN, the tutorial's landmark classifier: three blocks of Conv2d(3x3, padding 1) +
// BatchNorm2d + ReLU + MaxPool2d(2) (3 -> 32 -> 64 -> 128 channels, 32x32 -> 4x4), then Flatten,
// Linear(2048, 512), ReLU, Dropout(0.5), Linear(512, 10). Module names are the tutorial's
// (conv1, bn1, relu1, pool1, ..., flatten, fc1, dropout, fc2), so a state_dict saved from its
// class (num_batches_tracked included) loads as is. Its forward applies relu1 a second time
// after fc1: that call is functional (print(model) lists relu1 once). BatchNorm2d is folded
// into the convolution before it at run time.
#include "common/classifier_sample.h"

int main(int argc, char** argv) {
    using namespace vkconv;
    samples::ClassifierSample s;
    s.title = "LandmarkCNN";
    for (int i = 0; i < 10; ++i) s.class_names.push_back("landmark " + std::to_string(i));
    s.feature_layers = {"conv1", "conv2", "conv3"};
    s.build = [](Context& ctx) {
        auto m = std::make_unique<Model>(ctx, "LandmarkCNN");
        const int channels[] = {3, 32, 64, 128};
        for (int b = 1; b <= 3; ++b) {
            const std::string i = std::to_string(b);
            m->add("conv" + i, std::make_unique<Conv2d>(ctx, channels[b - 1], channels[b], 3, Conv2dOptions{.padding = 1}));
            m->add("bn" + i, std::make_unique<BatchNorm2d>(ctx, channels[b]));
            m->add("relu" + i, std::make_unique<ReLU>(ctx));
            m->add("pool" + i, std::make_unique<MaxPool2d>(ctx, 2));
        }
        m->add("flatten", std::make_unique<Flatten>(ctx));
        m->add("fc1", std::make_unique<Linear>(ctx, 128 * 4 * 4, 512));
        m->add_functional("relu1_1", std::make_unique<ReLU>(ctx));
        m->add("dropout", std::make_unique<Dropout>(ctx, 0.5));
        m->add("fc2", std::make_unique<Linear>(ctx, 512, 10));
        return m;
    };
    return samples::run_classifier_sample(s, argc, argv);
}
