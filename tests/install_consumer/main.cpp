// Uses the installed library: one convolution on the device, compared with the CPU reference,
// run through forward() and again through the public recorder with GPU timestamps around it.
#include <vkconv/vkconv.h>

#include <cmath>
#include <cstdio>

namespace {

bool matches(const std::vector<float>& y, const std::vector<float>& want, const char* what) {
    for (size_t i = 0; i < y.size(); ++i)
        if (std::fabs(y[i] - want[i]) > 1e-5f) {
            std::printf("%s: mismatch at %zu: %f vs %f\n", what, i, y[i], want[i]);
            return false;
        }
    return true;
}

}  // namespace

int main() {
    if (vkconv::list_devices().empty()) return 1;
    vkconv::Context ctx;
    vkconv::Conv2d conv(ctx, 2, 3, 3, {.padding = vkconv::Padding::same(), .padding_mode = vkconv::PaddingMode::Reflect});
    std::vector<float> x(2 * 5 * 5);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i));
    const auto input = vkconv::Tensor::from_host(ctx, {1, 2, 5, 5}, x);
    const auto want = vkconv::conv2d_reference(conv.params(), {1, 2, 5, 5}, x, conv.weight(), conv.bias());
    if (!matches(conv.forward(input).to_host(), want, "forward")) return 1;

    vkconv::Tensor output(ctx, conv.output_shape(input.shape()));
    vkconv::CommandRecorder rec(ctx);
    vkconv::TimestampQueries ts(ctx, 2);
    ts.reset(rec);
    ts.write(rec, 0);
    conv.record(rec, input, output);
    ts.write(rec, 1);
    if (rec.empty() || rec.dispatch_count() == 0) {
        std::printf("the recorder recorded nothing\n");
        return 1;
    }
    rec.submit_and_wait();
    if (!matches(output.to_host(), want, "record")) return 1;
    if (ts.supported() && ts.elapsed_ns(0, 1) < 0) {
        std::printf("timestamps supported but unreadable\n");
        return 1;
    }
    ctx.wait_idle();
    std::printf("installed vkconv works: %s on %s\n", conv.repr().c_str(), ctx.info().name.c_str());
    return 0;
}
