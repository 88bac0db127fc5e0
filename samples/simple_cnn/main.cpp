// SimpleCNN, the network of the PyTorch CIFAR-10 tutorials, on the GPU:
//   three blocks of Conv2d(3x3, padding 1) + ReLU + MaxPool2d(2): 3 -> 16 -> 32 -> 64 channels,
//   32x32 -> 4x4, then flatten to 64*4*4 and Linear(1024, 10).
// Layer names match the tutorial module's attributes, so its state_dict loads as is.
#include "common/classifier_sample.h"
#include "common/simple_cnn.h"

int main(int argc, char** argv) {
    using namespace vkconv;
    samples::ClassifierSample s;
    s.title = "SimpleCNN";
    s.class_names = {"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    s.feature_layers = {"conv1", "conv2", "conv3"};
    s.build = [](Context& ctx) { return make_simple_cnn(ctx); };
    return samples::run_classifier_sample(s, argc, argv);
}
