// conv2d/kernel.h: the seam between Conv2d and its algorithms (private to engine/src).
//
// Each algorithm is a Conv2dKernel in its own file of engine/src/conv2d/, listed once in the
// table of registry.cpp (in Auto's order). Conv2d asks the kernels, in that order, whether they
// can run a convolution (unsupported_reason) and whether Auto should take them (auto_candidate);
// the chosen kernel's prepare() turns one input shape into a plan (pipelines, push constants,
// workgroup grids, scratch sizes), which Conv2d caches per input shape; record() then only binds
// and dispatches (and uploads transformed weights when the weights changed).
//
// Adding an algorithm: its shader(s), a Conv2dKernel in a new file here, a Conv2dAlgorithm value
// and one line in the registry table.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "host/buffer.h"
#include "host/command.h"
#include "host/context.h"
#include "host/pipeline.h"
#include "vkconv/activation.h"
#include "vkconv/conv2d.h"

namespace vkconv::detail {

// Device state a Conv2d keeps between recordings, shared by its kernels. Replaced buffers stay
// alive while a pending recording holds them (CommandRecorder::keep_alive).
struct Conv2dState {
    // A texel-readable copy of the input, for buffers made without texel usage.
    std::shared_ptr<host::TexelBuffer> input_copy;
    // Weights transformed into a kernel's texel layout, for weight version `weights_version` and
    // the layout `weights_key` (a kernel's own encoding of its algorithm and tile).
    std::shared_ptr<host::TexelBuffer> weights;
    uint64_t weights_version = ~uint64_t(0);
    uint64_t weights_key = 0;
    // Scratch buffers (packed input, transformed input and output), grown as needed.
    std::shared_ptr<host::TexelBuffer> scratch[3];

    // Whether `weights` holds layout `key` of weight version `version`.
    bool weights_current(uint64_t version, uint64_t key) const { return weights && weights_version == version && weights_key == key; }
};

// What prepare() gets: one convolution on one input shape.
struct Conv2dProblem {
    const Conv2dParams& params;
    const Conv2dGeometry& g;
    const Shape& input_shape;
    const Activation& act;  // fused into the epilogue
    bool fp16;  // fp16 storage (only for kernels that store fp16, on devices with the format)
    // maxStorageBufferRange: images per dispatch for the kernels that bind sub-ranges.
    int64_t chunk;
    // Each input channel multiplied by a factor as the input is read (Conv2dIo::input_scale;
    // only for kernels whose scales_input()).
    bool scaled_input = false;
};

// What record() gets.
struct Conv2dIo {
    CommandRecorder& rec;
    Context& ctx;
    const Conv2dParams& params;
    const Tensor& input;
    const Tensor& output;
    const Tensor& weight_dev;  // the weights, [K, C/groups, kh, kw]
    const Tensor& bias_dev;    // the bias (the weights, unread, when bias=False)
    std::span<const float> weight;  // host copy of the weights
    uint64_t weight_version;
    Conv2dState& state;
    // Conv2dProblem::scaled_input: the factors, [N, C, 1, 1] or [1, C, 1, 1] (one set for the
    // batch); the convolution reads input * factor (one fp32 rounding, as a separate Mul).
    const Tensor* input_scale = nullptr;
};

// A kernel's prepared work for one input shape.
class Conv2dPlan {
public:
    virtual ~Conv2dPlan() = default;
    // The pipelines its passes run, in order (compile reports).
    virtual std::vector<std::shared_ptr<const host::ComputePipeline>> pipelines() const = 0;
};

class Conv2dKernel {
public:
    virtual ~Conv2dKernel() = default;
    virtual Conv2dAlgorithm algorithm() const = 0;
    // The algorithm's name ("packed_texel"), as to_string and the CLI spell it.
    virtual const char* name() const = 0;
    // Whether it honours StoragePrecision::Float16.
    virtual bool stores_fp16() const { return false; }
    // Whether it can multiply each input channel by a factor as it reads the input
    // (Conv2dProblem::scaled_input): the kernels with a pack pass.
    virtual bool scales_input() const { return false; }
    // Why it can never run these parameters, whatever the device and input (empty when it can):
    // what set_algorithm refuses at once.
    virtual std::string params_refusal(const Conv2dParams&) const { return ""; }
    // Why it cannot run this convolution on this device (its limits, formats and ctx.policy())
    // (empty when it can). `input_shape` null: only the shape-independent conditions.
    virtual std::string unsupported_reason(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const = 0;
    // Whether Auto takes it (where it can run) for this convolution on this device (its class:
    // ctx.policy()); `input_shape` null: no input shape is known.
    virtual bool auto_candidate(Context& ctx, const Conv2dParams& params, const Shape* input_shape) const = 0;
    // The plan for one input shape; throws (naming the algorithm) when it cannot run.
    virtual std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const = 0;
    // Records the plan's passes, ending with a barrier.
    virtual void record(const Conv2dPlan& plan, Conv2dIo& io) const = 0;
};

// The registry (registry.cpp): every kernel, in Auto's order.
std::span<const Conv2dKernel* const> conv2d_kernels();
// The kernel of `a` (not Auto).
const Conv2dKernel& conv2d_kernel(Conv2dAlgorithm a);

// ---- helpers shared by the kernels (kernel.cpp) ----------------------------------------------


// The specialization constants of a convolution shader, in the id layout every one shares
// (shaders/conv2d_epilogue.glsl): 0, 1 the workgroup size, 2 the padding mode, 3 the bias, 4-6
// the fused activation (kind, alpha, beta), then the shader's own `tiles` from id 7.
std::vector<uint32_t> conv2d_spec(uint32_t wg_x, uint32_t wg_y, PaddingMode pad, bool bias, const Activation& act,
                                  std::initializer_list<uint32_t> tiles);

// Mirrors shaders/conv2d_params.glsl.
struct Conv2dPushConstants {
    int32_t N, C, H, W;
    int32_t K, OH, OW;
    int32_t groups, cin_g, cout_g;
    int32_t kh, kw, sh, sw, pad_top, pad_left, dh, dw;
    int32_t z_base;
    int32_t x_base, y_base;
};
Conv2dPushConstants conv2d_push_constants(const Conv2dParams& params, const Conv2dGeometry& g);

// Mirrors shaders/pack_nc4hw4.comp.
struct PackPushConstants {
    int32_t C, H, W, G, cin_g, CP, M, Q4, plane, RS, XW, RH, CW, sy, sx, pad_top, pad_left, z_base;
    int32_t scale_n;
};

// The pack pass's pipeline (shaders/pack_nc4hw4.glsl): RGBA16F output for fp16 storage, the
// per-channel input factors where `scaled`, RGBA32F input reads where `vec4` (pack_vec4).
std::shared_ptr<const host::ComputePipeline> pack_pipeline(Context& ctx, uint32_t wg, uint32_t px, PaddingMode mode, bool fp16,
                                                           bool scaled, uint32_t vec4 = 0);
// The pack pass's VEC4 specialization constant for `pk` with `px` pixels per invocation: 1 + the
// first column's offset in its texel where the input can be read 4 columns a fetch (zeros padding,
// unit column step, rows a multiple of 4 wide, pixels per invocation a multiple of 4: CPU
// devices), else 0 (R32F reads).
uint32_t pack_vec4(Context& ctx, const PackPushConstants& pk, uint32_t px, PaddingMode mode);
// The VEC_STORE specialization constant of shaders/conv2d_output.glsl: 1 on CPU devices where
// output rows of `row` elements and an invocation's `px` consecutive columns are whole vec4s
// (lavapipe stores a vec4 in one pass over the lanes, each float in a pass of its own), else 0.
uint32_t vec_store(Context& ctx, int64_t row, uint32_t px);
// Records the pack pass of `io` into `packed` (`pc.scale_n` set from io.input_scale).
void record_pack(Conv2dIo& io, const host::ComputePipeline& pipeline, const host::BufferBinding& input_view,
                 const host::BufferBinding& packed, PackPushConstants pc, uint32_t gx, uint32_t gy, int64_t planes, int64_t max_z);

// "(2, 3)".
std::string pair_str(Pair p);
// The error of a kernel that cannot run what it was asked to.
[[noreturn]] void throw_cannot_run(const Conv2dKernel& k, const Conv2dParams& params, const std::string& reason);

// Dispatches a (gx, gy, gz) grid split so that no dispatch exceeds maxComputeWorkGroupCount
// along any axis; each piece gets its first workgroup in x_base / y_base / z_base.
void dispatch_conv(Context& ctx, CommandRecorder& rec, const host::ComputePipeline& pipeline, std::span<const host::BufferBinding> bindings,
                   Conv2dPushConstants pc, int64_t gx, int64_t gy, int64_t gz);
// Dispatches (gx, gy, total_z) in slices of at most `max_z` along z, setting `pc.z_base`.
template <class PC>
void dispatch_z(CommandRecorder& rec, const host::ComputePipeline& pipeline, std::span<const host::BufferBinding> bindings, PC pc,
                uint32_t gx, uint32_t gy, int64_t total_z, int64_t max_z) {
    for (int64_t z0 = 0; z0 < total_z; z0 += max_z) {
        pc.z_base = static_cast<int32_t>(z0);
        host::of(rec).dispatch(pipeline, bindings, pc, gx, gy, static_cast<uint32_t>(std::min(max_z, total_z - z0)));
    }
}

// The smallest power of two >= v, at most `cap`.
uint32_t pow2_at_least(int64_t v, uint32_t cap);
// Pixels per chunk: at most `max`, as even as possible (14 columns: 2 chunks of 7, not 8 + 6).
uint32_t even_chunk(int64_t extent, uint32_t max);
// Splits `groups` workgroups over x and y within maxComputeWorkGroupCount; false when they do not fit.
bool split_xy(int64_t groups, const host::DeviceInfo& info, uint32_t& gx, uint32_t& gy);

// An R32F uniform-texel view of `input`: its own buffer's view where it was made with texel
// usage, else a copy into the state's texel-readable scratch buffer, recorded with a barrier.
host::BufferBinding input_texel_view(CommandRecorder& rec, std::shared_ptr<host::TexelBuffer>& input_copy, const Tensor& input,
                                     bool rgba = false);
// Whether a kernel whose workgroup's lanes share their weight texels fetches them once per
// subgroup and shuffles them to the lanes (its _sg variant): where the device policy asks for it
// (DevicePolicy::subgroup_weights, with shuffles) and the workgroup is one whole subgroup.
bool shares_weights(Context& ctx, uint32_t wg);
// A scratch buffer of at least `bytes`, held by the recording.
host::TexelBuffer& scratch(CommandRecorder& rec, Context& ctx, std::shared_ptr<host::TexelBuffer>& b, uint64_t bytes);
// Uploads `t` into a new texel buffer: fp32 as is, or each value rounded to fp16.
std::shared_ptr<host::TexelBuffer> upload_texels(Context& ctx, const std::vector<float>& t, bool fp16);
// Why the device cannot read R32F / RGBA32F uniform texel buffers and write RGBA32F storage
// texel buffers (empty when it can): the needs of the packed and texel-window kernels.
std::string texel_formats_refusal(Context& ctx);

// The plan of the kernels that read and write storage buffers (direct_tiled, depthwise,
// implicit_gemm): one pipeline, the whole grid per chunk of images.
struct StoragePlan : Conv2dPlan {
    std::shared_ptr<const host::ComputePipeline> pipeline;
    std::vector<std::shared_ptr<const host::ComputePipeline>> pipelines() const override { return {pipeline}; }
    Conv2dPushConstants pc{};
    int64_t gx = 0, gy = 0, z_per_image = 0;
    int64_t n = 0, chunk = 0;
    uint64_t in_image = 0, out_image = 0;  // bytes per image
};
// Records a StoragePlan: each chunk of images bound as sub-ranges of the input and output.
void record_storage(const StoragePlan& pl, Conv2dIo& io);
// The StoragePlan fields every such kernel sets alike (push constants, chunks, image sizes).
void init_storage_plan(StoragePlan& pl, const Conv2dProblem& p);
// A kernel of that family: prepare() fills the fields they share and asks the kernel for its
// pipeline and grid (plan_storage); record() is record_storage.
class StorageKernel : public Conv2dKernel {
public:
    std::unique_ptr<Conv2dPlan> prepare(Context& ctx, const Conv2dProblem& p) const final {
        auto pl = std::make_unique<StoragePlan>();
        init_storage_plan(*pl, p);
        plan_storage(ctx, p, *pl);
        return pl;
    }
    void record(const Conv2dPlan& plan, Conv2dIo& io) const final { record_storage(static_cast<const StoragePlan&>(plan), io); }

protected:
    // Sets pl.pipeline, pl.gx, pl.gy and pl.z_per_image.
    virtual void plan_storage(Context& ctx, const Conv2dProblem& p, StoragePlan& pl) const = 0;
};

}  // namespace vkconv::detail
