// model_plan.cpp: Model::plan_for (and make_plan, for_each_step), which compiles the layer graph
// for one input shape: folds, fusions, in-place concatenations and slice views, and the
// intermediate storages.
#include "model_plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <tuple>

#include "vkconv/activations.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/binary.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/layer_norm.h"
#include "vkconv/reduce.h"
#include "vkconv/upsample.h"
#include "vkconv/conv2d.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"
#include "vkconv/safetensors.h"
#include "vkconv/shape_ops.h"

namespace vkconv {

namespace {
// Layers known to bind their tensors at Tensor::buffer().offset() (host::BufferBinding of the
// whole buffer, or an explicit offset added to it), so that they may read or write a sub-range
// of a model's buffer: a slice view, or their slice of a concatenation written in place. A
// layer type added to vkconv joins this list once its record() honours the offset (and a test
// shows it); until then models give it buffers of its own and copy where needed.
bool binds_sub_ranges(const Layer& l) {
    return dynamic_cast<const Conv2d*>(&l) || dynamic_cast<const ReLU*>(&l) || dynamic_cast<const Add*>(&l) ||
           dynamic_cast<const BatchNorm2d*>(&l) || dynamic_cast<const MaxPool2d*>(&l) || dynamic_cast<const AvgPool2d*>(&l) ||
           dynamic_cast<const AdaptiveAvgPool2d*>(&l) || dynamic_cast<const Linear*>(&l) || dynamic_cast<const Softmax*>(&l) ||
           dynamic_cast<const Cat*>(&l) || dynamic_cast<const Slice*>(&l) || dynamic_cast<const Permute*>(&l) ||
           dynamic_cast<const ActivationLayer*>(&l) || dynamic_cast<const PReLU*>(&l) || dynamic_cast<const Binary*>(&l) ||
           dynamic_cast<const LayerNorm*>(&l) || dynamic_cast<const ReduceHW*>(&l) || dynamic_cast<const Upsample*>(&l) ||
           dynamic_cast<const AdaptiveMaxPool2d*>(&l) || dynamic_cast<const ConvTranspose2d*>(&l) || l.is_view();
}
}  // namespace

Model::Plan& Model::plan_for(const Shape& input_shape, const std::vector<std::string>& keep) {
    std::string key = shape_str(input_shape);
    for (const auto& k : keep) key += "|" + k;
    std::vector<uint64_t> versions;
    for (const auto& n : nodes_) versions.push_back(n.layer->version());
    auto it = plans_.find(key);
    if (it != plans_.end() && it->second->versions == versions) return *it->second;
    auto plan = make_plan(input_shape, keep, true);
    plan->versions = versions;
    auto& ref = plans_[key];
    ref = std::move(plan);
    return *ref;
}

std::unique_ptr<Model::Plan> Model::make_plan(const Shape& input_shape, const std::vector<std::string>& keep, bool allocate) {
    if (nodes_.empty()) throw Error(name_ + ": the model has no layers");
    auto plan = std::make_unique<Plan>();
    const int count = static_cast<int>(nodes_.size());
    const auto shapes = layer_shapes(input_shape);
    for (const auto& s : shapes) plan->shapes.push_back(s.second);

    // Who reads each node's value; kept values (the output, captured layers) count as read.
    std::vector<int> readers(static_cast<size_t>(count), 0);
    for (const auto& n : nodes_)
        for (int i : n.inputs)
            if (i >= 0) ++readers[static_cast<size_t>(i)];
    std::vector<bool> kept(static_cast<size_t>(count), false);
    kept.back() = true;
    for (const auto& k : keep) {
        auto f = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == k; });
        if (f == nodes_.end()) throw Error(name_ + " has no layer named '" + k + "' to capture");
        kept[static_cast<size_t>(f - nodes_.begin())] = true;
    }

    // Steps, with folding and fusion: a node that merges into the step producing its input
    // becomes an alias of that step's output.
    plan->root.assign(static_cast<size_t>(count), -1);
    plan->root_offset.assign(static_cast<size_t>(count), 0);
    // Whether every layer reading node v's value, directly or through views, binds sub-ranges.
    auto readers_bind_sub_ranges = [&](int v) {
        std::vector<int> pending{v};
        while (!pending.empty()) {
            const int u = pending.back();
            pending.pop_back();
            for (int j = u + 1; j < count; ++j) {
                const Node& r = nodes_[static_cast<size_t>(j)];
                if (std::find(r.inputs.begin(), r.inputs.end(), u) == r.inputs.end()) continue;
                if (!binds_sub_ranges(*r.layer)) return false;
                if (r.layer->is_view()) pending.push_back(j);
            }
        }
        return true;
    };
    const uint64_t storage_align = std::max<uint64_t>(1, ctx_->info().min_storage_buffer_offset_alignment);
    std::vector<int> step_of(static_cast<size_t>(count), -1);  // step producing a node's root
    std::vector<bool> fused_alias(static_cast<size_t>(count), false);
    for (int i = 0; i < count; ++i) {
        const Node& n = nodes_[static_cast<size_t>(i)];
        const int in0 = n.inputs[0];
        const bool sole_reader = in0 >= 0 && readers[static_cast<size_t>(in0)] == 1 && !kept[static_cast<size_t>(in0)];
        Plan::Step* producer = sole_reader && step_of[static_cast<size_t>(in0)] >= 0
                                   ? &plan->steps[static_cast<size_t>(step_of[static_cast<size_t>(in0)])]
                                   : nullptr;
        // Through a view the producer's value may have other readers: fuse only into a step's own
        // output or into an earlier fusion's alias (which had a sole reader itself).
        if (producer && plan->root[static_cast<size_t>(in0)] != in0 && !fused_alias[static_cast<size_t>(in0)]) producer = nullptr;
        // A slice that is one contiguous range at an offset the device can bind is a view too
        // (where its readers bind sub-ranges).
        bool slice_view = false;
        if (auto* slice = dynamic_cast<Slice*>(n.layer.get()); slice && readers_bind_sub_ranges(i)) {
            const Shape& in_shape = in0 < 0 ? input_shape : plan->shapes[static_cast<size_t>(in0)];
            const int64_t off = slice->contiguous_offset(in_shape);
            const int64_t base = in0 < 0 ? 0 : plan->root_offset[static_cast<size_t>(in0)];
            if (off >= 0 && i != count - 1 && static_cast<uint64_t>(base + off) * sizeof(float) % storage_align == 0) {
                slice_view = true;
                plan->root_offset[static_cast<size_t>(i)] = base + off;
            }
        }
        // A view composes its source's offset and shape: a view of a view (Reshape of a Split,
        // Split of a Split) lies at the source's offset within the same root. The model's last
        // layer is the forward's output tensor, which holds its root's value: a view of only
        // part of a root (a slice, or a view of one) there is a step of its own (a copy).
        const int src_root = in0 < 0 ? -1 : plan->root[static_cast<size_t>(in0)];
        const int64_t src_offset = in0 < 0 ? 0 : plan->root_offset[static_cast<size_t>(in0)];
        const int64_t root_numel = shape_numel(src_root < 0 ? input_shape : plan->shapes[static_cast<size_t>(src_root)]);
        const bool partial_last = i == count - 1 && (src_offset != 0 || shape_numel(plan->shapes[static_cast<size_t>(i)]) != root_numel);
        if ((n.layer->is_view() && !partial_last) || slice_view) {
            if (!slice_view && in0 >= 0) plan->root_offset[static_cast<size_t>(i)] = plan->root_offset[static_cast<size_t>(in0)];
            plan->root[static_cast<size_t>(i)] = in0 < 0 ? -1 : plan->root[static_cast<size_t>(in0)];
            step_of[static_cast<size_t>(i)] = in0 < 0 ? -1 : step_of[static_cast<size_t>(in0)];
            continue;
        }
        if (fusion_ && producer && producer->act.is_none()) {
            auto* bn = dynamic_cast<BatchNorm2d*>(n.layer.get());
            auto* conv = dynamic_cast<Conv2d*>(producer->layer);
            if (bn && conv) {
                // y = scale * conv(x) + shift  ==  conv'(x) with w' = w * scale[oc],
                // b' = b * scale[oc] + shift[oc]: exact up to fp32 rounding.
                const auto [scale, shift] = bn->scale_shift();
                Conv2dParams p = conv->params();
                p.options.bias = true;
                auto folded = std::make_unique<Conv2d>(*ctx_, p);
                std::vector<float> w = conv->weight(), b(static_cast<size_t>(p.out_channels), 0.0f);
                const size_t per_oc = w.size() / static_cast<size_t>(p.out_channels);
                for (size_t oc = 0; oc < static_cast<size_t>(p.out_channels); ++oc) {
                    for (size_t j = 0; j < per_oc; ++j) w[oc * per_oc + j] *= scale[oc];
                    const double b0 = conv->bias().empty() ? 0.0 : conv->bias()[oc];
                    b[oc] = static_cast<float>(b0 * scale[oc] + shift[oc]);
                }
                folded->set_weight(w);
                folded->set_bias(b);
                // The same choice as the original (a forced algorithm stays forced; Auto resolves
                // per input shape at record time). plan->shapes[i] is the convolution's output,
                // not its input, so it cannot be used to resolve Auto here.
                folded->set_algorithm(conv->algorithm());
                folded->set_storage_precision(conv->storage_precision());
                producer->layer = folded.get();
                plan->owned.push_back(std::move(folded));
                plan->root[static_cast<size_t>(i)] = plan->root[static_cast<size_t>(in0)];
                step_of[static_cast<size_t>(i)] = step_of[static_cast<size_t>(in0)];
                fused_alias[static_cast<size_t>(i)] = true;
                continue;
            }
            // An activation (ReLU, ReLU6, SiLU, ...) applied by the producer's epilogue.
            const Activation act = activation_of(*n.layer);
            if (!act.is_none() && producer->layer->can_fuse_activation(act)) {
                producer->act = act;
                plan->root[static_cast<size_t>(i)] = plan->root[static_cast<size_t>(in0)];
                step_of[static_cast<size_t>(i)] = step_of[static_cast<size_t>(in0)];
                fused_alias[static_cast<size_t>(i)] = true;
                continue;
            }
        }
        Plan::Step s{n.layer.get(), {}, i, {}};
        for (int in : n.inputs) s.inputs.push_back(in < 0 ? -1 : plan->root[static_cast<size_t>(in)]);
        plan->root[static_cast<size_t>(i)] = i;
        step_of[static_cast<size_t>(i)] = static_cast<int>(plan->steps.size());
        plan->steps.push_back(std::move(s));
    }

    // Channel scalings folded into the convolution that reads them: a Mul step x * s, s of shape
    // [N or 1, C, 1, 1] (a squeeze-and-excitation block's gate), whose only reader is the next
    // step, a Conv2d whose algorithm reads its input through a pack pass, becomes part of that
    // pass (the same one rounding of x * s per element).
    for (size_t k = 1; fusion_ && k < plan->steps.size(); ++k) {
        Plan::Step& conv_step = plan->steps[k];
        const Plan::Step& mul_step = plan->steps[k - 1];
        auto* conv = dynamic_cast<Conv2d*>(conv_step.layer);
        auto* mul = dynamic_cast<Binary*>(mul_step.layer);
        const int m = mul_step.output;
        const Node& cn = nodes_[static_cast<size_t>(conv_step.output)];
        if (!conv || !mul || mul->op() != BinaryOp::Mul || mul->operand() != Binary::Operand::Tensor || !mul_step.act.is_none() ||
            cn.inputs.size() != 1 || cn.inputs[0] != m || readers[static_cast<size_t>(m)] != 1 || kept[static_cast<size_t>(m)])
            continue;
        const auto& mn = nodes_[static_cast<size_t>(m)];
        auto shape_of = [&](int node) -> const Shape& { return node < 0 ? input_shape : plan->shapes[static_cast<size_t>(node)]; };
        const Shape& y = plan->shapes[static_cast<size_t>(m)];
        auto is_gate = [&](const Shape& s) { return s.size() == 4 && (s[0] == 1 || s[0] == y[0]) && s[1] == y[1] && s[2] == 1 && s[3] == 1; };
        int x = -1, s = -1;  // node ids (-1: the model's input)
        bool found = false;
        for (int a = 0; a < 2 && !found; ++a) {
            const int xa = mn.inputs[static_cast<size_t>(a)], sa = mn.inputs[static_cast<size_t>(1 - a)];
            if (shape_of(xa) == y && shape_of(sa) != y && is_gate(shape_of(sa))) {
                x = xa;
                s = sa;
                found = true;
            }
        }
        if (!found) continue;
        if (y.size() != 4 || !conv->can_scale_input(y)) continue;
        conv_step.scaled_by = {x, s};
        conv_step.inputs = mul_step.inputs;
        plan->steps.erase(plan->steps.begin() + static_cast<std::ptrdiff_t>(k - 1));
        for (auto& so : step_of) {
            if (so == static_cast<int>(k - 1)) so = -1;
            else if (so > static_cast<int>(k - 1)) --so;
        }
        --k;
    }

    // Concatenations written in place: a Cat's input whose value is a whole step output of its
    // own (not the model's input, not a slice, not placed elsewhere) is computed straight into
    // its slice of the Cat's output, and the Cat copies only the other inputs. Slices are
    // contiguous only when every dimension before the Cat's is 1 (NCHW with batch 1 along
    // channels); with batch N > 1 the Cat falls back to one copy pass per input (producers
    // write contiguous outputs only). A Cat whose inputs all lie, in order, in one buffer
    // already (DenseNet's growing concatenations are prefixes of the block's last one) is a
    // view. Later Cats are placed first, so a Cat placed into a later one carries its inputs.
    // The model's output and its captured values keep storages of their own.
    plan->home.resize(static_cast<size_t>(count));
    plan->home_offset.assign(static_cast<size_t>(count), 0);
    for (int i = 0; i < count; ++i) plan->home[static_cast<size_t>(i)] = i;
    auto numel_of = [&](int node) { return shape_numel(plan->shapes[static_cast<size_t>(node)]); };
    // Whether every step reading value r (through any alias or view of it) binds sub-ranges.
    auto value_readers_bind_sub_ranges = [&](int r) {
        for (int j = 0; j < count; ++j) {
            if (plan->root[static_cast<size_t>(j)] == r) continue;  // r itself, a fused alias or a view of it
            for (int src : nodes_[static_cast<size_t>(j)].inputs)
                if (src >= 0 && plan->root[static_cast<size_t>(src)] == r && !binds_sub_ranges(*nodes_[static_cast<size_t>(j)].layer))
                    return false;
        }
        return true;
    };
    for (int si = static_cast<int>(plan->steps.size()) - 1; si >= 0; --si) {
        Plan::Step& st = plan->steps[static_cast<size_t>(si)];
        auto* cat = dynamic_cast<Cat*>(st.layer);
        if (!cat) continue;
        const int c = st.output;
        const Node& cn = nodes_[static_cast<size_t>(c)];
        st.in_place.assign(cn.inputs.size(), false);
        if (!fusion_ || c == plan->root.back() || kept[static_cast<size_t>(c)]) continue;
        std::vector<Shape> in_shapes;
        for (int in : cn.inputs) in_shapes.push_back(in < 0 ? input_shape : plan->shapes[static_cast<size_t>(in)]);
        const auto offsets = Cat::contiguous_offsets(in_shapes, cat->wrapped_dim(in_shapes[0].size()));
        if (offsets[0] < 0) continue;  // strided slices (batch > 1): copies
        // Where each input's elements live now: (home value, element offset), or home -1.
        auto location = [&](int node) -> std::pair<int, int64_t> {
            const int r = node < 0 ? -1 : plan->root[static_cast<size_t>(node)];
            if (r < 0) return {-1, 0};
            return {plan->home[static_cast<size_t>(r)], plan->home_offset[static_cast<size_t>(r)] + plan->root_offset[static_cast<size_t>(node)]};
        };
        // Already laid out in order in one buffer: the Cat is a view of it.
        if (plan->home[static_cast<size_t>(c)] == c) {
            const auto first = location(cn.inputs[0]);
            bool consecutive = first.first >= 0 && first.first != c;
            for (size_t k = 0; consecutive && k < cn.inputs.size(); ++k) {
                const auto l = location(cn.inputs[k]);
                consecutive = l.first == first.first && l.second == first.second + offsets[k];
            }
            if (consecutive) {
                plan->home[static_cast<size_t>(c)] = first.first;
                plan->home_offset[static_cast<size_t>(c)] = first.second;
                st.in_place.assign(cn.inputs.size(), true);
                continue;
            }
        }
        const int c_home = plan->home[static_cast<size_t>(c)];
        const int64_t c_off = plan->home_offset[static_cast<size_t>(c)];
        for (size_t k = 0; k < cn.inputs.size(); ++k) {
            const int in = cn.inputs[k];
            const int r = in < 0 ? -1 : plan->root[static_cast<size_t>(in)];
            if (r < 0 || r == plan->root.back() || plan->home[static_cast<size_t>(r)] != r || plan->root_offset[static_cast<size_t>(in)] != 0 ||
                numel_of(r) != numel_of(in) || step_of[static_cast<size_t>(r)] < 0 ||
                !binds_sub_ranges(*plan->steps[static_cast<size_t>(step_of[static_cast<size_t>(r)])].layer) || !value_readers_bind_sub_ranges(r))
                continue;
            if (static_cast<uint64_t>(c_off + offsets[k]) * sizeof(float) % storage_align != 0) continue;
            // Values placed inside r (none yet: r's own Cat, if any, is planned later) move with it.
            plan->home[static_cast<size_t>(r)] = c_home;
            plan->home_offset[static_cast<size_t>(r)] = c_off + offsets[k];
            st.in_place[k] = true;
        }
    }
    // A value placed into a Cat that was itself placed later in the pass: resolve to the outermost.
    for (int v = 0; v < count; ++v) {
        int h = plan->home[static_cast<size_t>(v)];
        int64_t off = plan->home_offset[static_cast<size_t>(v)];
        while (plan->home[static_cast<size_t>(h)] != h) {
            off += plan->home_offset[static_cast<size_t>(h)];
            h = plan->home[static_cast<size_t>(h)];
        }
        plan->home[static_cast<size_t>(v)] = h;
        plan->home_offset[static_cast<size_t>(v)] = off;
    }

    if (!allocate) return plan;

    // Memory plan: each storage lives from the first step writing into it to the last reader of
    // any value it holds; a buffer whose values are dead is reused (best fit by size) for a later
    // one. Kept values are never reused; the model's output is a fresh tensor per forward.
    const int steps = static_cast<int>(plan->steps.size());
    std::vector<int> last_use(static_cast<size_t>(count), -1), first_write(static_cast<size_t>(count), -1);
    for (int s = 0; s < steps; ++s)
        for (int in : plan->steps[static_cast<size_t>(s)].inputs)
            if (in >= 0) last_use[static_cast<size_t>(plan->home[static_cast<size_t>(in)])] = s;
    for (int s = steps - 1; s >= 0; --s) {
        const int h = plan->home[static_cast<size_t>(plan->steps[static_cast<size_t>(s)].output)];
        first_write[static_cast<size_t>(h)] = s;
        last_use[static_cast<size_t>(h)] = std::max(last_use[static_cast<size_t>(h)], s);
    }
    for (int i = 0; i < count; ++i)
        if (kept[static_cast<size_t>(i)] && plan->root[static_cast<size_t>(i)] >= 0)
            last_use[static_cast<size_t>(plan->home[static_cast<size_t>(plan->root[static_cast<size_t>(i)])])] = steps;  // alive to the end
    const int out_root = plan->root.back();
    plan->storage_of.assign(static_cast<size_t>(count), -1);
    std::vector<std::pair<int, int>> live;  // (storage, last use)
    std::vector<int> free_list;
    for (int s = 0; s < steps; ++s) {
        for (auto l = live.begin(); l != live.end();)
            if (l->second < s) {
                free_list.push_back(l->first);
                l = live.erase(l);
            } else {
                ++l;
            }
        const int out = plan->home[static_cast<size_t>(plan->steps[static_cast<size_t>(s)].output)];
        if (out == out_root || first_write[static_cast<size_t>(out)] != s) continue;
        const uint64_t need = static_cast<uint64_t>(numel_of(out)) * sizeof(float);
        int best = -1;
        for (size_t f = 0; f < free_list.size(); ++f) {
            const auto sz = plan->storages[static_cast<size_t>(free_list[f])]->size();
            if (sz >= need && (best < 0 || sz < plan->storages[static_cast<size_t>(free_list[static_cast<size_t>(best)])]->size()))
                best = static_cast<int>(f);
        }
        int storage;
        if (best >= 0) {
            storage = free_list[static_cast<size_t>(best)];
            free_list.erase(free_list.begin() + best);
        } else {
            storage = static_cast<int>(plan->storages.size());
            plan->storages.push_back(std::make_shared<host::Buffer>(*ctx_, need));
            plan->bytes += plan->storages.back()->allocated();
        }
        plan->storage_of[static_cast<size_t>(out)] = storage;
        live.emplace_back(storage, last_use[static_cast<size_t>(out)]);
    }
    return plan;
}

void Model::for_each_step(const Shape& input_shape, const std::function<void(const PlannedStep&)>& f) {
    const auto plan = make_plan(input_shape, {}, false);
    for (const auto& s : plan->steps) {
        const auto& node = nodes_[static_cast<size_t>(s.output)];
        std::vector<Shape> ins;
        for (int src : node.inputs) ins.push_back(src < 0 ? input_shape : plan->shapes[static_cast<size_t>(src)]);
        f(PlannedStep{node.name, *s.layer, ins, plan->shapes[static_cast<size_t>(s.output)], s.act, !s.scaled_by.empty()});
    }
}

}  // namespace vkconv
