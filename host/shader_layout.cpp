#include "host/shader_layout.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include "host/shader_registry.h"
#include "vkconv/error.h"

namespace vkconv::host {
namespace {

// The SPIR-V numbers this reader needs (SPIR-V 1.6 specification, section 3).
enum Op : uint32_t {
    OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeMatrix = 24, OpTypeImage = 25,
    OpTypeSampledImage = 27, OpTypeArray = 28, OpTypeRuntimeArray = 29, OpTypeStruct = 30,
    OpTypePointer = 32, OpConstant = 43, OpVariable = 59, OpDecorate = 71, OpMemberDecorate = 72,
};
enum Decoration : uint32_t { Block = 2, BufferBlock = 3, ArrayStride = 6, Binding = 33, DescriptorSet = 34, Offset = 35 };
enum StorageClass : uint32_t { UniformConstant = 0, Uniform = 2, PushConstant = 9, StorageBuffer = 12 };
constexpr uint32_t kDimBuffer = 5;

struct Type {
    uint32_t op = 0;
    std::vector<uint32_t> operands;  // the instruction's words after the result id
};

class Reader {
public:
    Reader(std::span<const uint32_t> words, const std::string& what) : what_(what) {
        if (words.size() < 5 || words[0] != 0x07230203u) fail("not a SPIR-V module");
        for (size_t i = 5; i < words.size();) {
            const uint32_t count = words[i] >> 16, op = words[i] & 0xffffu;
            if (count == 0 || i + count > words.size()) fail("truncated instruction at word " + std::to_string(i));
            read(op, words.subspan(i + 1, count - 1));
            i += count;
        }
    }

    ShaderLayout layout() const {
        ShaderLayout out;
        std::map<uint32_t, BindingType> bindings;
        for (const auto& [id, var] : variables_) {
            if (var.storage == PushConstant) {
                out.push_constant_bytes = std::max(out.push_constant_bytes, size_of(pointee(var.type)));
                continue;
            }
            if (var.storage != UniformConstant && var.storage != Uniform && var.storage != StorageBuffer) continue;
            const auto set = decoration(id, DescriptorSet), binding = decoration(id, Binding);
            if (!set || !binding) fail("resource variable %" + std::to_string(id) + " has no set/binding");
            if (*set != 0) fail("binding " + std::to_string(*binding) + " is in descriptor set " + std::to_string(*set) + "; only set 0 is built");
            // Aliases (two views of one buffer at one binding) are fine when the descriptor type agrees.
            const BindingType t = binding_type(var.storage, pointee(var.type));
            if (auto [it, added] = bindings.emplace(*binding, t); !added && it->second != t)
                fail("binding " + std::to_string(*binding) + " is declared twice with different descriptor types");
        }
        for (const auto& [b, t] : bindings) {
            if (b != out.bindings.size()) fail("binding " + std::to_string(out.bindings.size()) + " is missing (bindings must be 0..n-1)");
            out.bindings.push_back(t);
        }
        return out;
    }

private:
    struct Variable {
        uint32_t type;
        uint32_t storage;
    };

    [[noreturn]] void fail(const std::string& why) const { throw Error("shader '" + what_ + "': " + why); }

    void need(std::span<const uint32_t> w, size_t n, const char* op) const {
        if (w.size() < n) fail(std::string("short ") + op + " instruction");
    }

    void read(uint32_t op, std::span<const uint32_t> w) {
        switch (op) {
            case OpTypeInt: case OpTypeFloat: case OpTypeVector: case OpTypeMatrix: case OpTypeImage:
            case OpTypeSampledImage: case OpTypeArray: case OpTypeRuntimeArray: case OpTypeStruct: case OpTypePointer:
                need(w, 1, "type");
                types_[w[0]] = Type{op, {w.begin() + 1, w.end()}};
                break;
            case OpConstant:
                need(w, 3, "OpConstant");
                constants_[w[1]] = w[2];
                break;
            case OpVariable:
                need(w, 3, "OpVariable");
                variables_[w[1]] = Variable{w[0], w[2]};
                break;
            case OpDecorate:
                need(w, 2, "OpDecorate");
                decorations_[{w[0], w[1]}] = w.size() > 2 ? w[2] : 0;
                break;
            case OpMemberDecorate:
                need(w, 3, "OpMemberDecorate");
                if (w[2] == Offset && w.size() > 3) offsets_[{w[0], w[1]}] = w[3];
                break;
            default: break;
        }
    }

    const Type& type(uint32_t id) const {
        auto it = types_.find(id);
        if (it == types_.end()) fail("type %" + std::to_string(id) + " is not declared");
        return it->second;
    }
    uint32_t pointee(uint32_t pointer) const {
        const Type& t = type(pointer);
        if (t.op != OpTypePointer || t.operands.size() < 2) fail("a variable's type %" + std::to_string(pointer) + " is not a pointer");
        return t.operands[1];
    }
    std::optional<uint32_t> decoration(uint32_t id, uint32_t d) const {
        auto it = decorations_.find({id, d});
        if (it == decorations_.end()) return std::nullopt;
        return it->second;
    }

    BindingType binding_type(uint32_t storage, uint32_t id) const {
        const Type& t = type(id);
        if (t.op == OpTypeArray || t.op == OpTypeRuntimeArray) fail("arrays of descriptors are not built");
        if (storage == StorageBuffer) return BindingType::StorageBuffer;
        if (storage == Uniform) {
            if (decoration(id, BufferBlock)) return BindingType::StorageBuffer;
            fail("uniform blocks are not built (use a buffer block or push constants)");
        }
        if (t.op == OpTypeSampledImage) {
            // GLSL's samplerBuffer is a sampled image of a buffer: a uniform texel buffer.
            if (t.operands.empty()) fail("short OpTypeSampledImage");
            const Type& image = type(t.operands[0]);
            const bool buffer = image.op == OpTypeImage && image.operands.size() >= 2 && image.operands[1] == kDimBuffer;
            return buffer ? BindingType::UniformTexelBuffer : BindingType::SampledImage;
        }
        if (t.op == OpTypeImage && t.operands.size() >= 6) {
            const uint32_t dim = t.operands[1], sampled = t.operands[5];
            if (dim == kDimBuffer) return sampled == 2 ? BindingType::StorageTexelBuffer : BindingType::UniformTexelBuffer;
            if (sampled == 2) return BindingType::StorageImage;
        }
        fail("a uniform-constant resource of SPIR-V type op " + std::to_string(t.op) + " is not built");
    }

    // Bytes a push-constant member of type `id` occupies (std430 offsets are decorated).
    uint32_t size_of(uint32_t id, int depth = 0) const {
        if (depth > 16) fail("push-constant types nest too deep");
        const Type& t = type(id);
        const auto& o = t.operands;
        switch (t.op) {
            case OpTypeInt:
            case OpTypeFloat:
                if (o.empty()) break;
                return o[0] / 8;
            case OpTypeVector:
                if (o.size() < 2) break;
                return o[1] * size_of(o[0], depth + 1);
            case OpTypeMatrix:
                if (o.size() < 2) break;
                return o[1] * size_of(o[0], depth + 1);
            case OpTypeArray: {
                if (o.size() < 2) break;
                auto len = constants_.find(o[1]);
                if (len == constants_.end()) fail("a push-constant array's length is not a constant");
                const auto stride = decoration(id, ArrayStride);
                return len->second * (stride ? *stride : size_of(o[0], depth + 1));
            }
            case OpTypeStruct: {
                uint32_t end = 0;
                for (uint32_t m = 0; m < o.size(); ++m) {
                    auto off = offsets_.find({id, m});
                    if (off == offsets_.end()) fail("push-constant member " + std::to_string(m) + " has no offset");
                    end = std::max(end, off->second + size_of(o[m], depth + 1));
                }
                return end;
            }
            default: break;
        }
        fail("push constants of SPIR-V type op " + std::to_string(t.op) + " are not sized");
    }

    std::string what_;
    std::map<uint32_t, Type> types_;
    std::map<uint32_t, uint32_t> constants_;
    std::map<uint32_t, Variable> variables_;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> decorations_;  // (id, decoration) -> first literal
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> offsets_;      // (struct, member) -> Offset
};

}  // namespace

ShaderLayout reflect_shader_layout(std::span<const uint32_t> spirv, const std::string& what) {
    return Reader(spirv, what).layout();
}

const ShaderLayout& embedded_shader_layout(const std::string& name) {
    // Embedded modules never change: each is read once, and the map's nodes never move.
    static std::mutex mutex;
    static std::map<std::string, ShaderLayout, std::less<>> layouts;
    std::lock_guard lock(mutex);
    if (auto it = layouts.find(name); it != layouts.end()) return it->second;
    const auto code = embedded_shader(name);
    if (code.empty()) throw Error("no embedded shader named '" + name + "'");
    return layouts.emplace(name, reflect_shader_layout(code, name)).first->second;
}

}  // namespace vkconv::host
