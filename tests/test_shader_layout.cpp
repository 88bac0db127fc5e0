// host/shader_layout: pipeline layouts read from SPIR-V. Every embedded shader's layout is read
// and used to build its pipeline; known shaders give the bindings their GLSL declares; malformed
// modules and layouts the runtime does not build are refused with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "host/shader_layout.h"
#include "host/shader_registry.h"
#include "support/test_support.h"
#include "vkconv/testing.h"

namespace vkconv {
namespace {

using host::BindingType;
using ::testing::HasSubstr;

TEST(ShaderLayout, EveryEmbeddedShaderHasAReadableLayout) {
    const auto names = host::embedded_shader_names();
    ASSERT_FALSE(names.empty());
    for (auto n : names) {
        const std::string name(n);
        const auto& layout = host::embedded_shader_layout(name);
        EXPECT_FALSE(layout.bindings.empty()) << name;
        EXPECT_EQ(layout.push_constant_bytes % 4, 0u) << name;
        EXPECT_LE(layout.push_constant_bytes, 128u) << name << ": more than Vulkan's guaranteed maxPushConstantsSize";
    }
}

TEST(ShaderLayout, KnownShadersMatchTheirGlsl) {
    using B = BindingType;
    // softmax.comp: buffer X, buffer Y.
    EXPECT_EQ(host::embedded_shader_layout("softmax").bindings, (std::vector<B>{B::StorageBuffer, B::StorageBuffer}));
    // conv2d_direct_texel.comp reads input and weights through uniform texel buffers.
    const auto& texel = host::embedded_shader_layout("conv2d_direct_texel").bindings;
    ASSERT_FALSE(texel.empty());
    EXPECT_EQ(texel[0], B::UniformTexelBuffer);
    EXPECT_THROW(host::embedded_shader_layout("no_such_shader"), Error);
}

// The capabilities a SPIR-V module declares (the operand of each OpCapability, opcode 17).
std::vector<uint32_t> capabilities(std::span<const uint32_t> spirv) {
    std::vector<uint32_t> caps;
    for (size_t i = 5; i < spirv.size();) {
        const uint32_t count = spirv[i] >> 16, op = spirv[i] & 0xffffu;
        if (count == 0 || i + count > spirv.size()) {
            ADD_FAILURE() << "truncated instruction at word " << i;
            break;
        }
        if (op == 17 && count == 2) caps.push_back(spirv[i + 1]);
        i += count;
    }
    return caps;
}
// SPIR-V's Capability numbers (SPIR-V 1.6 specification, section 3.31).
constexpr uint32_t kCapGroupNonUniform = 61, kCapGroupNonUniformShuffle = 65;

bool declares(const std::string& shader, uint32_t capability) {
    const auto caps = capabilities(host::embedded_shader(shader));
    return std::find(caps.begin(), caps.end(), capability) != caps.end();
}

// conv2d_direct_texel_nosg (conv2d_direct_texel.comp built with NO_SUBGROUP_SHUFFLE) declares no
// subgroup capability: devices without subgroup shuffles in compute shaders accept it. The full
// module declares the shuffle (the reader above finds it), the variant the same layout.
TEST(ShaderLayout, DirectTexelVariantWithoutShuffles) {
    ASSERT_FALSE(host::embedded_shader("conv2d_direct_texel_nosg").empty());
    EXPECT_TRUE(declares("conv2d_direct_texel", kCapGroupNonUniformShuffle));
    EXPECT_FALSE(declares("conv2d_direct_texel_nosg", kCapGroupNonUniformShuffle));
    EXPECT_FALSE(declares("conv2d_direct_texel_nosg", kCapGroupNonUniform));
    EXPECT_EQ(host::embedded_shader_layout("conv2d_direct_texel_nosg").bindings, host::embedded_shader_layout("conv2d_direct_texel").bindings);
    EXPECT_EQ(host::embedded_shader_layout("conv2d_direct_texel_nosg").push_constant_bytes,
              host::embedded_shader_layout("conv2d_direct_texel").push_constant_bytes);
}

// The kernels' _sg variants (built with SUBGROUP_WEIGHTS: weight texels shared through
// shuffles) declare the shuffle; the plain modules, which devices without shuffles run, declare
// no subgroup capability. Each pair has one layout.
TEST(ShaderLayout, SharedWeightShuffleVariants) {
    for (const std::string plain : {"conv2d_winograd_gemm", "conv2d_packed_texel", "conv2d_gemm_1x1", "conv2d_grouped_texel"}) {
        const std::string sg = plain + "_sg";
        EXPECT_TRUE(declares(sg, kCapGroupNonUniformShuffle)) << sg;
        EXPECT_FALSE(declares(plain, kCapGroupNonUniformShuffle)) << plain;
        EXPECT_FALSE(declares(plain, kCapGroupNonUniform)) << plain;
        EXPECT_EQ(host::embedded_shader_layout(sg).bindings, host::embedded_shader_layout(plain).bindings) << sg;
        EXPECT_EQ(host::embedded_shader_layout(sg).push_constant_bytes, host::embedded_shader_layout(plain).push_constant_bytes) << sg;
    }
}

// Every embedded shader's pipeline builds from its reflected layout, with its default
// specialization constants, and the validation layer (on in tests) reports nothing. A module
// declaring GroupNonUniformShuffle is one a device without subgroup shuffles in compute shaders
// must refuse, so it is built only where the device has them; the engine runs the variants
// without subgroup code elsewhere (test_conv2d_no_subgroup_shuffle).
class ShaderLayoutPipelines : public test::VulkanTest {};
TEST_F(ShaderLayoutPipelines, BuildFromTheReflectedLayout) {
    host::Context& ctx = testing::host(test::context());
    for (auto n : host::embedded_shader_names()) {
        const std::string name(n);
        if (declares(name, kCapGroupNonUniformShuffle) && !ctx.info().subgroup_shuffle) {
            EXPECT_FALSE(ctx.policy().subgroup_shuffle) << name << ": the engine would build it";
            continue;
        }
        const auto p = ctx.pipeline(name, {});
        EXPECT_EQ(p->bindings(), host::embedded_shader_layout(name).bindings) << name;
        EXPECT_EQ(p->push_constant_bytes(), host::embedded_shader_layout(name).push_constant_bytes) << name;
    }
}

// A minimal module: header, then `uint`, a struct of it, a pointer and a variable in `storage`,
// decorated with set/binding (or Block for push constants).
std::vector<uint32_t> module(uint32_t storage, uint32_t set, uint32_t binding, bool buffer_block = true) {
    auto op = [](uint32_t code, std::initializer_list<uint32_t> operands) {
        std::vector<uint32_t> w{static_cast<uint32_t>((operands.size() + 1) << 16) | code};
        w.insert(w.end(), operands);
        return w;
    };
    std::vector<uint32_t> m{0x07230203u, 0x00010300u, 0, 10, 0};
    for (const auto& ins : {op(71, {2, buffer_block ? 3u : 2u}),  // OpDecorate %struct BufferBlock|Block
                            op(72, {2, 0, 35, 0}),                 // OpMemberDecorate %struct 0 Offset 0
                            op(71, {4, 34, set}),                  // OpDecorate %var DescriptorSet
                            op(71, {4, 33, binding}),              // OpDecorate %var Binding
                            op(21, {1, 32, 0}),                    // %1 = OpTypeInt 32 0
                            op(30, {2, 1}),                        // %2 = OpTypeStruct %1
                            op(32, {3, storage, 2}),               // %3 = OpTypePointer storage %2
                            op(59, {3, 4, storage})})              // %4 = OpVariable %3 storage
        m.insert(m.end(), ins.begin(), ins.end());
    return m;
}

void expect_refused(const std::vector<uint32_t>& spirv, const std::string& why) {
    try {
        host::reflect_shader_layout(spirv, "probe");
        ADD_FAILURE() << "expected an error containing: " << why;
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("shader 'probe': " + why));
    }
}

TEST(ShaderLayout, ReadsAHandWrittenModule) {
    const auto layout = host::reflect_shader_layout(module(12, 0, 0), "probe");
    EXPECT_EQ(layout.bindings, std::vector<BindingType>{BindingType::StorageBuffer});
    EXPECT_EQ(layout.push_constant_bytes, 0u);
    const auto legacy = host::reflect_shader_layout(module(2, 0, 0, true), "probe");  // Uniform + BufferBlock
    EXPECT_EQ(legacy.bindings, std::vector<BindingType>{BindingType::StorageBuffer});
    EXPECT_EQ(host::reflect_shader_layout(module(9, 0, 0, false), "probe").push_constant_bytes, 4u);  // one uint
    // The same buffer seen twice at one binding (as conv2d_implicit_gemm reads scalars and quads).
    auto twice = module(12, 0, 0);
    for (const auto& ins : std::vector<std::vector<uint32_t>>{{(4u << 16) | 71, 5, 34, 0}, {(4u << 16) | 71, 5, 33, 0}, {(4u << 16) | 59, 3, 5, 12}})
        twice.insert(twice.end(), ins.begin(), ins.end());
    EXPECT_EQ(host::reflect_shader_layout(twice, "probe").bindings, std::vector<BindingType>{BindingType::StorageBuffer});
}

TEST(ShaderLayout, RefusesWhatItDoesNotBuild) {
    expect_refused(module(12, 1, 0), "binding 0 is in descriptor set 1; only set 0 is built");
    expect_refused(module(12, 0, 1), "binding 0 is missing (bindings must be 0..n-1)");
    expect_refused(module(2, 0, 0, false), "uniform blocks are not built");
    // A second variable at binding 0 (an alias) of another descriptor type: a uniform texel buffer.
    auto alias = module(12, 0, 0);
    for (const auto& ins : std::vector<std::vector<uint32_t>>{
             {(4u << 16) | 71, 9, 34, 0},             // OpDecorate %9 DescriptorSet 0
             {(4u << 16) | 71, 9, 33, 0},             // OpDecorate %9 Binding 0
             {(3u << 16) | 22, 5, 32},                // %5 = OpTypeFloat 32
             {(9u << 16) | 25, 6, 5, 5, 0, 0, 0, 1, 0},  // %6 = OpTypeImage %5 Buffer sampled=1 Unknown
             {(3u << 16) | 27, 7, 6},                 // %7 = OpTypeSampledImage %6
             {(4u << 16) | 32, 8, 0, 7},              // %8 = OpTypePointer UniformConstant %7
             {(4u << 16) | 59, 8, 9, 0}})             // %9 = OpVariable %8 UniformConstant
        alias.insert(alias.end(), ins.begin(), ins.end());
    expect_refused(alias, "binding 0 is declared twice with different descriptor types");
}

TEST(ShaderLayout, RefusesMalformedModules) {
    expect_refused({}, "not a SPIR-V module");
    expect_refused({0x12345678u, 0, 0, 0, 0}, "not a SPIR-V module");
    auto zero = module(12, 0, 0);
    zero[5] = 0;  // an instruction of zero words would never advance
    expect_refused(zero, "truncated instruction at word 5");
    auto cut = module(12, 0, 0);
    cut.pop_back();
    expect_refused(cut, "truncated instruction");
    auto dangling = module(12, 0, 0);
    dangling.back() = 12;
    dangling[dangling.size() - 3] = 99;  // the variable's pointer type is not declared
    expect_refused(dangling, "type %99 is not declared");
}

}  // namespace
}  // namespace vkconv
