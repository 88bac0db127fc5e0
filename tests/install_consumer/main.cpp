// Uses the installed library: one convolution on the device, compared with the CPU reference.
#include <vkconv/vkconv.h>

#include <cmath>
#include <cstdio>

int main() {
    if (vkconv::list_devices().empty()) return 1;
    vkconv::Context ctx;
    vkconv::Conv2d conv(ctx, 2, 3, 3, {.padding = vkconv::Padding::same(), .padding_mode = vkconv::PaddingMode::Reflect});
    std::vector<float> x(2 * 5 * 5);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i));
    const auto y = conv.forward(vkconv::Tensor::from_host(ctx, {1, 2, 5, 5}, x)).to_host();
    const auto want = vkconv::conv2d_reference(conv.params(), {1, 2, 5, 5}, x, conv.weight(), conv.bias());
    for (size_t i = 0; i < y.size(); ++i)
        if (std::fabs(y[i] - want[i]) > 1e-5f) {
            std::printf("mismatch at %zu: %f vs %f\n", i, y[i], want[i]);
            return 1;
        }
    ctx.wait_idle();
    std::printf("installed vkconv works: %s on %s\n", conv.repr().c_str(), ctx.info().name.c_str());
    return 0;
}
