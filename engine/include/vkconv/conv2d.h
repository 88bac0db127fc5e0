// vkconv/conv2d.h: nn.Conv2d with PyTorch's exact semantics, computed by Vulkan shaders.
//
//   vkconv::Conv2d conv(ctx, 3, 16, 3, {.padding = 1});          // nn.Conv2d(3, 16, 3, padding=1)
//   vkconv::Conv2d dw(ctx, 8, 16, {3, 5}, {.padding = vkconv::Padding::same(), .groups = 8,
//                                           .padding_mode = vkconv::PaddingMode::Reflect});
//   vkconv::Tensor y = conv.forward(x);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vkconv/activation.h"
#include "vkconv/context.h"
#include "vkconv/layer.h"
#include "vkconv/tensor.h"

namespace vkconv {

namespace detail {
struct Conv2dAccess;  // the engine's, tools' and tests' access to prepared pipelines (vkconv/internal.h)
}

// An (h, w) pair; a single int means the same for both, as in PyTorch.
struct Pair {
    int h = 0, w = 0;
    Pair() = default;
    Pair(int v) : h(v), w(v) {}  // NOLINT: implicit, like PyTorch's int-or-tuple
    Pair(int h_, int w_) : h(h_), w(w_) {}
    bool operator==(const Pair&) const = default;
};

enum class PaddingMode { Zeros = 0, Reflect = 1, Replicate = 2, Circular = 3 };
PaddingMode parse_padding_mode(const std::string& s);  // "zeros" | "reflect" | "replicate" | "circular"
std::string to_string(PaddingMode m);

// Conv2d's padding: explicit (h, w) sizes, "same" or "valid".
struct Padding {
    enum class Kind { Explicit, Same, Valid };
    Kind kind = Kind::Explicit;
    Pair size{0};
    Padding() = default;
    Padding(int v) : size(v) {}  // NOLINT
    Padding(Pair p) : size(p) {}  // NOLINT
    Padding(int h, int w) : size(h, w) {}
    Padding(const char* s) : Padding(parse(s)) {}  // NOLINT: "same" / "valid"
    static Padding same() { Padding p; p.kind = Kind::Same; return p; }
    static Padding valid() { Padding p; p.kind = Kind::Valid; return p; }
    static Padding parse(const std::string& s);  // "same", "valid", "n" or "h,w"
};

struct Conv2dOptions {
    Pair stride{1};
    Padding padding{0};
    Pair dilation{1};
    int groups = 1;
    bool bias = true;
    PaddingMode padding_mode = PaddingMode::Zeros;
};

// Every parameter of a convolution, as nn.Conv2d holds them.
struct Conv2dParams {
    int in_channels = 0, out_channels = 0;
    Pair kernel{1};
    Conv2dOptions options;

    // Throws vkconv::Error, PyTorch-style, for parameters nn.Conv2d refuses.
    void validate() const;
    // "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))", as PyTorch prints it.
    std::string str() const;
    int64_t weight_numel() const { return int64_t(out_channels) * (in_channels / options.groups) * kernel.h * kernel.w; }
    Shape weight_shape() const { return {out_channels, in_channels / options.groups, kernel.h, kernel.w}; }
};

// A convolution applied to an input size: the padding on each side and the output size.
struct Conv2dGeometry {
    int64_t n = 0, h = 0, w = 0;  // input batch, height, width
    int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
    int64_t out_h = 0, out_w = 0;
};

// Checks `input_shape` (3-D unbatched [C,H,W] or 4-D [N,C,H,W]) against the parameters and
// returns the geometry; throws with PyTorch's messages for mismatched channels, reflect or
// circular padding too large for the input, and empty outputs.
Conv2dGeometry conv2d_geometry(const Conv2dParams& params, const Shape& input_shape);
Shape conv2d_output_shape(const Conv2dParams& params, const Shape& input_shape);

// The CPU reference: a plain loop nest with double accumulation, written from PyTorch's
// definition (F.pad with the padding mode, then a zero-padding-free convolution).
std::vector<float> conv2d_reference(const Conv2dParams& params, const Shape& input_shape,
                                    std::span<const float> input, std::span<const float> weight,
                                    std::span<const float> bias, bool relu = false);
// The same followed by an activation, as PyTorch's conv2d then the activation function: the
// convolution rounded to fp32, then activation_reference (in double) rounded to fp32.
std::vector<float> conv2d_reference(const Conv2dParams& params, const Shape& input_shape,
                                    std::span<const float> input, std::span<const float> weight,
                                    std::span<const float> bias, const Activation& activation);

// Which shader computes a convolution. Auto picks by the parameters and the device:
//   direct_tiled  conv2d_direct_tiled.comp: storage buffers only; any convolution (the portable
//                 fallback)
//   depthwise     conv2d_depthwise.comp: groups == in_channels
//   direct_texel  conv2d_direct_texel.comp: register-tiled direct convolution reading input and weights
//                 (transformed once at load time) through uniform texel buffers; any convolution,
//                 where the device reads R32F/RGBA32F uniform texel buffers and the tensors fit
//                 maxTexelBufferElements
//   packed_texel  pack_nc4hw4.comp + conv2d_packed_texel.comp: the input packed 4 channels per RGBA32F
//                 texel with its padding (every mode) materialised, then a register-tiled direct
//                 convolution (16 output channels on CPU devices, 8 on GPUs, 4 or 8 where
//                 cout/groups is smaller, x up to 8 pixels per invocation, a sliding input
//                 window along width, weights transformed once at
//                 load time); any groups, stride, dilation where the kernel's extent along width,
//                 (kw - 1) * dilation + 1, is at most 32; needs R32F/RGBA32F uniform and RGBA32F
//                 storage texel buffers and the tensors within maxTexelBufferElements
//   gemm_1x1      the same two shaders (conv2d_gemm_1x1, a build-time variant of conv2d_packed_texel) for 1x1 kernels (any stride, padding, padding mode,
//                 groups): the strided output grid is packed as one flat row and the convolution
//                 is a register-tiled GEMM (16 output channels x 8 pixels per invocation)
//   depthwise_texel  conv2d_depthwise_texel.comp: groups == in_channels (any channel multiplier),
//                 reading input and weights straight from their buffers through R32F texel views;
//                 one channel x 4 rows x 8 columns per invocation, the taps in registers; where
//                 the kernel's extents, (k - 1) * dilation + 1, are at most 16 along each axis
//   grouped_texel conv2d_grouped_texel.comp: any groups (meant for few input channels per group): NCHW
//                 input read through an R32F view of its buffer (no pack pass), 4 output channels
//                 x 8 rows x 4 columns per invocation (CPU devices); kernel extents at most 16 as depthwise_texel
//   winograd      Winograd F(4x4, 3x3) (F(2x2, 3x3) with the winograd_tile override): pack_nc4hw4.comp,
//                 then conv2d_winograd_input.comp (V = B^T d B), conv2d_winograd_gemm.comp (36
//                 batched register-tiled GEMMs, 16 output channels x 8 tiles per invocation, with
//                 the weights U = G g G^T transformed once at load time), conv2d_winograd_output.comp
//                 (A^T M A + bias, activation); 3x3 kernels, stride 1, dilation 1, groups 1, any padding
//                 and padding mode; the same texel-buffer needs as packed_texel
// Each is a kernel of engine/src/conv2d/, listed in Auto's order in conv2d/registry.cpp.
// Auto: depthwise_texel, else depthwise, for groups == in_channels > 1; gemm_1x1 for 1x1 kernels;
// grouped_texel where in_channels/groups <= 16 (dense or grouped); winograd where it applies with
// in_channels, out_channels >= 32, in_channels * out_channels >= 2048 and N * out_h * out_w >= 196
// (>= 49 where in_channels * out_channels >= 256 * 256; measured on lavapipe); then packed_texel, direct_texel,
// direct_tiled: the first the device supports for the input.
// Forcing one that cannot run throws, naming the algorithm and the reason (unsupported_reason).
enum class Conv2dAlgorithm { Auto, DirectTiled, Depthwise, DirectTexel, PackedTexel, Gemm1x1, DepthwiseTexel, GroupedTexel, Winograd };
std::string to_string(Conv2dAlgorithm a);
Conv2dAlgorithm parse_conv2d_algorithm(const std::string& s);
// Every algorithm but Auto, in the order Auto considers them.
std::vector<Conv2dAlgorithm> conv2d_algorithms();
// "auto", then every algorithm's name, joined by `separator` (CLI help).
std::string conv2d_algorithm_names(const char* separator = "|");

// How a convolution stores what it reads (opt-in; Float32 by default).
//   Float32  weights and activations as fp32.
//   Float16  the packed fast paths (packed_texel, gemm_1x1) keep their transformed weights as
//            fp16 (rounded to nearest even on the host, once per weight version) and their pack
//            pass writes the packed input as fp16 (each activation rounded once); both are read
//            through RGBA16F uniform texel buffers, which return fp32, so every product and sum
//            is fp32 (fp16 is a storage format only: nothing accumulates in fp16). The bias stays
//            fp32, and the output, like the API's tensors, is fp32 NCHW. Needs
//            R16G16B16A16_SFLOAT uniform and storage texel buffers (fp16_storage_unsupported_reason).
// With Float16 requested, Auto picks gemm_1x1 (1x1 kernels) or packed_texel (any other
// convolution, grouped and few-channel ones included) where they can run; where neither can (the
// device lacks the format, or the tensors exceed its limits), and for depthwise convolutions
// (groups == in_channels: depthwise_texel reads the fp32 tensor directly, so fp16 would save no
// traffic, and packed_texel pads each channel to a quad), it keeps the fp32 choice, and
// storage_precision_for() says Float32 (force packed_texel for fp16 depthwise). A forced
// algorithm that stores only fp32 (direct_tiled, depthwise, direct_texel, depthwise_texel,
// grouped_texel), or a forced packed one on a device without the format, makes algorithm_for
// (and so record and forward) throw, naming why; supports() / unsupported_reason() speak of the
// convolution alone, whatever the precision.
enum class StoragePrecision { Float32, Float16 };
std::string to_string(StoragePrecision p);           // "fp32" | "fp16"
StoragePrecision parse_storage_precision(const std::string& s);  // "fp32" | "fp16"
// Whether `a` honours StoragePrecision::Float16 (packed_texel, gemm_1x1).
bool stores_fp16(Conv2dAlgorithm a);
// Why this device cannot store convolutions in fp16 (empty when it can).
std::string fp16_storage_unsupported_reason(const Context& ctx);

class Conv2d : public Layer {
public:
    Conv2d(Context& ctx, int in_channels, int out_channels, Pair kernel_size, Conv2dOptions options = {});
    Conv2d(Context& ctx, Conv2dParams params);

    std::string type() const override { return "Conv2d"; }
    std::string repr() const override { return params_.str(); }
    Shape output_shape(std::span<const Shape> inputs) const override;
    void record(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override;
    std::vector<float> reference(std::span<const Shape> shapes, std::span<const std::vector<float>> inputs) const override;
    using Layer::output_shape;
    using Layer::reference;
    bool can_fuse_relu() const override { return true; }
    void record_with_relu(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output) override {
        record_impl(rec, inputs, output, Activation::relu());
    }
    // Every activation kind is applied in the shaders' epilogue (shaders/conv2d_epilogue.glsl).
    bool can_fuse_activation(const Activation&) const override { return true; }
    void record_with_activation(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output,
                                const Activation& a) override {
        record_impl(rec, inputs, output, a);
    }

    const Conv2dParams& params() const { return params_; }
    // Parameters, host copies in PyTorch's layout ([out, in/groups, kh, kw] and [out]; empty
    // bias when bias=False).
    const std::vector<float>& weight() const { return parameter("weight"); }
    const std::vector<float>& bias() const;
    void set_weight(std::span<const float> w) { set_parameter("weight", w); }
    void set_bias(std::span<const float> b);  // error when constructed with bias=False
    // nn.Conv2d.reset_parameters(): kaiming_uniform(a=sqrt(5)) weights and U(-1/sqrt(fan_in),
    // 1/sqrt(fan_in)) bias, from a seeded generator (not torch's RNG stream).
    void reset_parameters(uint64_t seed);

    // ReLU applied in the shader's epilogue (Conv2d followed by ReLU in one pass).
    void set_fused_relu(bool on) { fused_activation_ = on ? Activation::relu() : Activation::none(); }
    bool fused_relu() const { return fused_activation_.kind == ActivationKind::ReLU; }
    // Any activation applied in the epilogue (forward() and record() apply it; reference() too).
    void set_fused_activation(const Activation& a) { fused_activation_ = a; }
    const Activation& fused_activation() const { return fused_activation_; }
    void set_algorithm(Conv2dAlgorithm a);
    Conv2dAlgorithm algorithm() const { return algorithm_; }
    // The algorithm record() uses for this input shape (Auto resolved); throws when a forced
    // algorithm cannot run this convolution on this device.
    Conv2dAlgorithm algorithm_for(const Shape& input_shape) const;
    // Prepares what record() prepares on the first use of an input shape with `act` in the
    // epilogue (Auto resolved, the tiles, the pipelines), without allocating or recording
    // anything: pipeline warm-up before the first forward. Nothing for an empty batch.
    void prepare(const Shape& input_shape, const Activation& act = {});
    // Whether `a` (not Auto) can compute this convolution for `input_shape` on this device.
    bool supports(Conv2dAlgorithm a, const Shape& input_shape) const { return unsupported_reason(a, input_shape).empty(); }
    // Why `a` cannot (empty when it can).
    std::string unsupported_reason(Conv2dAlgorithm a, const Shape& input_shape) const;

    // Storage precision requested for the weights and packed activations (see
    // StoragePrecision); Float32 by default.
    void set_storage_precision(StoragePrecision p);
    StoragePrecision storage_precision() const { return storage_precision_; }
    // The precision record() uses for this input shape: Float16 only when requested and the
    // algorithm it uses (algorithm_for) stores fp16.
    StoragePrecision storage_precision_for(const Shape& input_shape) const;
    ~Conv2d() override;

    // Records into `rec` without submitting; `output` must have output_shape(input.shape()).
    void record(CommandRecorder& rec, const Tensor& input, const Tensor& output) {
        record(rec, std::span(&input, 1), output);
    }

private:
    // A Model folds a channel scaling x * s (s [N, C, 1, 1] or [1, C, 1, 1], a squeeze-and-excitation
    // block's) into the convolution reading it, where the algorithm for the input shape reads
    // its input through a pack pass.
    friend class Model;
    friend struct detail::Conv2dAccess;
    bool can_scale_input(const Shape& input_shape) const;
    void record_impl(CommandRecorder& rec, std::span<const Tensor> inputs, const Tensor& output, const Activation& act,
                     const Tensor* input_scale = nullptr);
    struct State;     // the kernels' device state and the plans prepared per input shape
    struct Prepared;  // one of those plans
    // The plan for the input shape, prepared on first use (nullptr for an empty batch).
    const Prepared* prepare_impl(const Shape& input_shape, const Activation& act, bool scaled);
    // Why `a` cannot honour the requested storage precision (empty when it can, or at Float32).
    std::string fp16_refusal(Conv2dAlgorithm a) const;

    std::unique_ptr<State> state_;
    Conv2dParams params_;
    Activation fused_activation_;
    Conv2dAlgorithm algorithm_ = Conv2dAlgorithm::Auto;
    StoragePrecision storage_precision_ = StoragePrecision::Float32;
};

}  // namespace vkconv
