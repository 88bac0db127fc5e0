// The vkconv._vkconv extension: the engine's Context, Tensor, layers and models for Python.
// The public, PyTorch-shaped API (vkconv.conv2d, vkconv.nn.*, vkconv.load, ...) is written in
// Python on top of this (python/vkconv/); this file does what must be fast or must not hold the
// GIL: argument arrays read in place, GPU work with the GIL released, one lock per object.
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vkconv/activations.h"
#include "vkconv/adaptive_max_pool2d.h"
#include "vkconv/conv_transpose2d.h"
#include "vkconv/layer_norm.h"
#include "vkconv/model_json.h"
#include "vkconv/onnx.h"
#include "vkconv/upsample.h"
#include "vkconv/vkconv.h"

namespace py = pybind11;
using namespace vkconv;

namespace {

// ---- validation messages -------------------------------------------------------------------
// Every message the layer sends to any context this module made, in order, including those at a
// context's destruction (leaked objects); the test suite fails a test on any (tests/python).
std::mutex g_log_mutex;
std::vector<std::string> g_log;

void log_message(const std::string& m) {
    std::lock_guard lock(g_log_mutex);
    g_log.push_back(m);
}

// ---- objects ---------------------------------------------------------------------------------

// Releases the GIL for a destructor that waits for the device, where the GIL is held (not when
// the last reference goes in a thread that already released it).
struct ReleaseIfHeld {
    std::optional<py::gil_scoped_release> release;
    ReleaseIfHeld() {
        if (PyGILState_Check()) release.emplace();
    }
};

// A context with the functional conv2d's reusable layers. The layers are declared after the
// context, so they are destroyed before it.
struct PyVkContext {
    std::unique_ptr<Context> ctx;
    std::mutex pool_mutex;
    std::map<std::array<int, 14>, std::vector<std::unique_ptr<Conv2d>>> conv_pool;
    ~PyVkContext() {
        ReleaseIfHeld nogil;  // waits for the device
        conv_pool.clear();
        ctx.reset();
    }
};
using ContextPtr = std::shared_ptr<PyVkContext>;

// A device tensor and the context it lives on (destroyed before the context).
struct PyTensor {
    ContextPtr ctx;
    Tensor t;
};

struct PyModel;

// A layer: owned, or one of a model's (then the model is kept alive and its lock is shared).
struct PyLayer {
    ContextPtr ctx;
    std::shared_ptr<PyModel> model;
    std::unique_ptr<Layer> owned;
    Layer* layer = nullptr;
    std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
    ~PyLayer() {
        ReleaseIfHeld nogil;
        owned.reset();
    }
};

struct PyModel {
    ContextPtr ctx;
    std::unique_ptr<Model> model;
    Shape input_shape;
    std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
    ~PyModel() {
        ReleaseIfHeld nogil;
        model.reset();
    }
};

// ---- arguments -------------------------------------------------------------------------------

py::module_& numpy() {
    static py::module_* np = new py::module_(py::module_::import("numpy"));  // never destroyed: lives as long as the interpreter
    return *np;
}

bool is_float32(const py::dtype& d) {
    return d.kind() == 'f' && d.itemsize() == 4 && d.byteorder() != '>';
}

// What a caller passed where an array goes: a device tensor, or a C-contiguous float32 numpy
// array (the caller's own memory when it already was one; a converted copy otherwise).
struct Arg {
    PyTensor* tensor = nullptr;
    py::array array;  // holds the memory while the GIL is released
    Shape shape;
    const float* data() const { return static_cast<const float*>(array.data()); }
    size_t size() const { return static_cast<size_t>(array.size()); }
};

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>(); }

// `what` names the argument in errors ("conv2d(): argument 'input'").
Arg to_arg(py::handle obj, const std::string& what, bool allow_tensor = true) {
    Arg a;
    if (py::isinstance<PyTensor>(obj)) {
        auto& t = obj.cast<PyTensor&>();
        if (allow_tensor) {
            a.tensor = &t;
            a.shape = t.t.shape();
            return a;
        }
        // A host copy where the engine takes host values (weights).
        auto out = py::array_t<float>(std::vector<py::ssize_t>(t.t.shape().begin(), t.t.shape().end()));
        if (t.t.numel() > 0) {
            py::gil_scoped_release nogil;
            t.t.to_host(std::span<float>(out.mutable_data(), static_cast<size_t>(t.t.numel())));
        }
        a.array = out;
        a.shape = t.t.shape();
        return a;
    }
    py::object arr;
    if (py::isinstance<py::array>(obj)) {
        arr = py::reinterpret_borrow<py::object>(obj);
    } else if (py::hasattr(obj, "__array__") || py::hasattr(obj, "__dlpack__")) {
        // A PyTorch tensor (or anything array-like): refuse other dtypes before converting, and
        // read it without importing torch: __array__ gives a view of a CPU tensor's memory.
        py::object src = py::reinterpret_borrow<py::object>(obj);
        if (py::hasattr(src, "requires_grad") && py::hasattr(src, "detach") && src.attr("requires_grad").cast<bool>())
            src = src.attr("detach")();
        if (py::hasattr(src, "dtype")) {
            const std::string dt = py::str(src.attr("dtype")).cast<std::string>();
            if (dt != "torch.float32" && dt != "float32" && dt.rfind("torch.", 0) == 0)
                throw py::type_error(what + " must be float32, got dtype " + dt);
        }
        if (py::hasattr(src, "__array__"))
            arr = numpy().attr("asarray")(src);
        else
            arr = numpy().attr("from_dlpack")(src);
    } else {
        throw py::type_error(what + " must be a numpy.ndarray, a vkconv.Tensor or a PyTorch tensor, not " + type_name(obj));
    }
    py::array np_arr = arr.cast<py::array>();
    if (!is_float32(np_arr.dtype()))
        throw py::type_error(what + " must be float32, got dtype " + py::str(np_arr.dtype()).cast<std::string>());
    if (!(np_arr.flags() & py::array::c_style)) np_arr = numpy().attr("ascontiguousarray")(np_arr).cast<py::array>();
    a.array = np_arr;
    for (py::ssize_t i = 0; i < np_arr.ndim(); ++i) a.shape.push_back(np_arr.shape(i));
    return a;
}

py::array new_array(const Shape& shape) {
    return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

// Device tensor -> new numpy array (GIL released during the copy).
py::array download(const Tensor& t) {
    py::array out = new_array(t.shape());
    if (t.numel() > 0) {
        float* dst = static_cast<float*>(out.mutable_data());
        py::gil_scoped_release nogil;
        t.to_host(std::span<float>(dst, static_cast<size_t>(t.numel())));
    }
    return out;
}

void check_same_context(const PyTensor& t, const ContextPtr& ctx, const std::string& who) {
    if (t.ctx.get() != ctx.get())
        throw py::value_error(who + ": the tensor is on a different vkconv.Context than the " + (who.empty() ? "layer" : who));
}

// Runs `compute` (device tensor in, device tensor out) on the argument with the GIL released and
// `mutex` held: a vkconv.Tensor gives a vkconv.Tensor, an array an array (uploaded from the
// caller's memory, downloaded into a new array of `out_shape`).
template <class F>
py::object run(const ContextPtr& ctx, std::mutex& mutex, const Arg& x, const Shape& out_shape, F&& compute) {
    if (x.tensor) {
        PyTensor result{ctx, {}};
        {
            py::gil_scoped_release nogil;
            std::lock_guard lock(mutex);
            result.t = compute(x.tensor->t);
        }
        return py::cast(std::move(result));
    }
    py::array out = new_array(out_shape);
    float* dst = static_cast<float*>(out.mutable_data());
    const float* src = x.data();
    const size_t n = x.size();
    {
        py::gil_scoped_release nogil;
        std::lock_guard lock(mutex);
        Tensor in = Tensor::from_host(*ctx->ctx, x.shape, std::span<const float>(src, n));
        Tensor y = compute(in);
        if (y.shape() != out_shape) throw Error("internal: output shape " + shape_str(y.shape()) + " != " + shape_str(out_shape));
        if (y.numel() > 0) y.to_host(std::span<float>(dst, static_cast<size_t>(y.numel())));
    }
    return out;
}

// vkconv::Error raised as ValueError (constructors and arguments, as PyTorch's modules do).
template <class F>
auto as_value_error(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        throw py::value_error(e.what());
    }
}

Pair to_pair(const std::pair<int, int>& p) { return Pair(p.first, p.second); }

Padding to_padding(py::handle p) {
    if (py::isinstance<py::str>(p)) {
        const std::string s = p.cast<std::string>();
        if (s == "same") return Padding::same();
        if (s == "valid") return Padding::valid();
        throw py::value_error("Invalid padding string '" + s + "', should be one of {'valid', 'same'}");
    }
    auto t = p.cast<std::pair<int, int>>();
    return Padding(t.first, t.second);
}

Conv2dParams conv_params(int in, int out, std::pair<int, int> k, std::pair<int, int> stride, py::handle padding,
                         std::pair<int, int> dilation, int groups, bool bias, const std::string& mode) {
    Conv2dParams p;
    p.in_channels = in;
    p.out_channels = out;
    p.kernel = to_pair(k);
    p.options.stride = to_pair(stride);
    p.options.padding = to_padding(padding);
    p.options.dilation = to_pair(dilation);
    p.options.groups = groups;
    p.options.bias = bias;
    p.options.padding_mode = parse_padding_mode(mode);
    p.validate();
    return p;
}

// Sets a parameter from an array of its exact shape (weights read from the caller's memory).
void set_parameter(Layer& layer, std::mutex& mutex, const std::string& name, py::handle value, const std::string& who) {
    auto it = layer.parameters().find(name);
    if (it == layer.parameters().end()) throw py::key_error(who + " has no parameter '" + name + "'");
    Arg a = to_arg(value, who + "." + name, false);
    if (a.shape != it->second.shape)
        throw py::value_error(who + "." + name + " must have shape " + format_shape(it->second.shape) + ", got " +
                              format_shape(a.shape));
    const float* src = a.data();
    const size_t n = a.size();
    py::gil_scoped_release nogil;
    std::lock_guard lock(mutex);
    layer.set_parameter(name, std::span<const float>(src, n));
}

py::array get_parameter(const Layer& layer, std::mutex& mutex, const std::string& name) {
    auto it = layer.parameters().find(name);
    if (it == layer.parameters().end()) throw py::key_error(layer.type() + " has no parameter '" + name + "'");
    py::array out = new_array(it->second.shape);
    std::lock_guard lock(mutex);
    if (!it->second.value.empty()) std::memcpy(out.mutable_data(), it->second.value.data(), it->second.value.size() * sizeof(float));
    return out;
}

py::dict device_dict(const DeviceInfo& d, bool chosen) {
    auto ver = [](uint32_t v) {
        return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
               std::to_string(VK_API_VERSION_PATCH(v));
    };
    py::dict o;
    o["index"] = d.index;
    o["name"] = d.name;
    o["type"] = d.type;
    o["driver"] = d.driver_name;
    o["driver_info"] = d.driver_info;
    o["api_version"] = ver(d.api_version);
    o["max_workgroup_size"] = py::make_tuple(d.max_workgroup_size[0], d.max_workgroup_size[1], d.max_workgroup_size[2]);
    o["max_workgroup_invocations"] = d.max_workgroup_invocations;
    o["max_workgroup_count"] = py::make_tuple(d.max_workgroup_count[0], d.max_workgroup_count[1], d.max_workgroup_count[2]);
    o["max_shared_memory"] = d.max_shared_memory;
    o["subgroup_size"] = d.subgroup_size;
    o["min_subgroup_size"] = d.min_subgroup_size;
    o["max_subgroup_size"] = d.max_subgroup_size;
    o["max_push_constants"] = d.max_push_constants;
    o["shader_float16"] = d.shader_float16;
    o["storage_buffer_16bit"] = d.storage_buffer_16bit;
    o["max_storage_buffer_range"] = d.max_storage_buffer_range;
    o["max_memory_allocation_size"] = d.max_memory_allocation_size;
    o["device_local_bytes"] = d.device_local_bytes;
    o["unified_memory"] = d.unified_memory;
    o["timestamps"] = d.timestamps;
    o["chosen"] = chosen;
    return o;
}

// ---- functional conv2d -------------------------------------------------------------------------

using PoolKey = std::array<int, 14>;

PoolKey pool_key(const Conv2dParams& p) {
    const auto& o = p.options;
    return {p.in_channels, p.out_channels, p.kernel.h, p.kernel.w, o.stride.h, o.stride.w, int(o.padding.kind), o.padding.size.h,
            o.padding.size.w, o.dilation.h, o.dilation.w, o.groups, int(o.bias), int(o.padding_mode)};
}

// A Conv2d for these parameters from the context's pool (made when none is free); given back
// after the call, so that repeated calls reuse its pipelines and, for an unchanged weight, its
// uploaded and transformed weights.
struct PooledConv {
    PyVkContext& pc;
    PoolKey key;
    std::unique_ptr<Conv2d> conv;
    PooledConv(PyVkContext& c, const Conv2dParams& p) : pc(c), key(pool_key(p)) {
        {
            std::lock_guard lock(pc.pool_mutex);
            auto it = pc.conv_pool.find(key);
            if (it != pc.conv_pool.end() && !it->second.empty()) {
                conv = std::move(it->second.back());
                it->second.pop_back();
            }
        }
        if (!conv) conv = std::make_unique<Conv2d>(*pc.ctx, p);
    }
    ~PooledConv() {
        std::lock_guard lock(pc.pool_mutex);
        if (pc.conv_pool.size() > 64 && !pc.conv_pool.count(key)) pc.conv_pool.clear();  // bounded: many shapes
        auto& v = pc.conv_pool[key];
        if (v.size() < 4) v.push_back(std::move(conv));
    }
};

void set_if_changed(Conv2d& conv, const std::string& name, const float* data, size_t n) {
    const auto& cur = conv.parameter(name);
    if (cur.size() == n && (n == 0 || std::memcmp(cur.data(), data, n * sizeof(float)) == 0)) return;
    conv.set_parameter(name, std::span<const float>(data, n));
}

py::object conv2d(const ContextPtr& ctx, py::handle input, py::handle weight, py::handle bias, std::pair<int, int> stride,
                  py::handle padding, std::pair<int, int> dilation, int groups, const std::string& padding_mode) {
    Arg x = to_arg(input, "conv2d(): argument 'input'");
    Arg w = to_arg(weight, "conv2d(): argument 'weight'", false);
    std::optional<Arg> b;
    if (!bias.is_none()) b = to_arg(bias, "conv2d(): argument 'bias'", false);
    if (x.tensor) check_same_context(*x.tensor, ctx, "conv2d");
    if (w.shape.size() != 4)
        throw py::value_error("Expected 4-dimensional weight for " + std::to_string(x.shape.size()) + "-dimensional input " +
                              shape_str(x.shape) + ", but got " + std::to_string(w.shape.size()) + "-dimensional weight of size " +
                              shape_str(w.shape) + " instead");
    if (groups <= 0) throw py::value_error("non-positive groups is not supported");
    if (w.shape[0] % groups != 0)
        throw py::value_error("Given groups=" + std::to_string(groups) + ", expected weight to be divisible by " +
                              std::to_string(groups) + " at dimension 0, but got weight of size " + shape_str(w.shape) + " instead");
    if (b && (b->shape.size() != 1 || b->shape[0] != w.shape[0]))
        throw py::value_error("Given weight of size " + shape_str(w.shape) + ", expected bias to be 1-dimensional with " +
                              std::to_string(w.shape[0]) + " elements, but got bias of size " + shape_str(b->shape) + " instead");
    Conv2dParams p;
    Shape out_shape;
    // Bad arguments: ValueError; an input that does not fit them: RuntimeError (as PyTorch).
    p = as_value_error([&] {
        return conv_params(int(w.shape[1] * groups), int(w.shape[0]), {int(w.shape[2]), int(w.shape[3])}, stride, padding,
                           dilation, groups, b.has_value(), padding_mode);
    });
    out_shape = conv2d_output_shape(p, x.shape);
    const float* wd = w.data();
    const size_t wn = w.size();
    const float* bd = b ? b->data() : nullptr;
    const size_t bn = b ? b->size() : 0;
    // Weights are set inside run(), with the GIL released.
    std::unique_ptr<PooledConv> pooled;
    std::mutex unused;
    return run(ctx, unused, x, out_shape, [&](const Tensor& in) {
        pooled = std::make_unique<PooledConv>(*ctx, p);
        set_if_changed(*pooled->conv, "weight", wd, wn);
        if (bd) set_if_changed(*pooled->conv, "bias", bd, bn);
        Tensor y = pooled->conv->forward(in);
        pooled.reset();
        return y;
    });
}

}  // namespace

PYBIND11_MODULE(_vkconv, m) {
    m.doc() = "vkconv's engine (use the vkconv package, not this module)";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Error& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });

    m.def("devices", [](const std::string& selector) {
        uint32_t chosen = 0;
        std::vector<DeviceInfo> list;
        {
            py::gil_scoped_release nogil;
            list = list_devices(selector, &chosen);
        }
        py::list out;
        for (const auto& d : list) out.append(device_dict(d, d.index == chosen));
        return out;
    }, py::arg("selector") = "");

    m.def("validation_log", [] {
        std::lock_guard lock(g_log_mutex);
        return g_log;
    });
    m.def("clear_validation_log", [] {
        std::lock_guard lock(g_log_mutex);
        g_log.clear();
    });

    py::class_<PyVkContext, ContextPtr>(m, "Context")
        .def(py::init([](py::object device, bool validation, bool sync_validation) {
                 auto pc = std::make_shared<PyVkContext>();
                 ContextOptions o;
                 // An index or a substring of the device's name (vkconv.devices()); None: VKCONV_DEVICE or the best.
                 if (py::isinstance<py::bool_>(device)) throw py::type_error("Context(): device must be an int, a str or None, not bool");
                 if (py::isinstance<py::int_>(device)) {
                     if (device.cast<long long>() < 0) throw py::value_error("Context(): device index must be >= 0, got " + py::str(device).cast<std::string>());
                     o.device = py::str(device).cast<std::string>();
                 } else if (py::isinstance<py::str>(device)) {
                     o.device = device.cast<std::string>();
                     if (o.device.empty()) throw py::value_error("Context(): device must not be empty");
                 } else if (!device.is_none()) {
                     throw py::type_error("Context(): device must be an int, a str or None, not " + type_name(device));
                 }
                 o.validation = validation;
                 o.sync_validation = sync_validation;
                 if (const char* d = std::getenv("VKCONV_PYTHON_CACHE_DIR")) o.cache_dir = d;
                 o.on_validation_message = log_message;
                 py::gil_scoped_release nogil;
                 pc->ctx = as_value_error([&] { return std::make_unique<Context>(o); });
                 return pc;
             }),
             py::arg("device") = py::none(), py::arg("validation") = false, py::arg("sync_validation") = false)
        .def("__repr__", [](const PyVkContext& c) {
            return "vkconv.Context(device=" + std::to_string(c.ctx->info().index) + " '" + c.ctx->info().name + "', validation=" +
                   (c.ctx->validation_enabled() ? "True" : "False") + ")";
        })
        .def_property_readonly("info", [](const PyVkContext& c) { return device_dict(c.ctx->info(), true); })
        .def_property_readonly("validation", [](const PyVkContext& c) { return c.ctx->validation_enabled(); })
        .def("validation_messages", [](const PyVkContext& c) { return c.ctx->validation_messages(); })
        .def("clear_validation_messages", [](PyVkContext& c) { c.ctx->clear_validation_messages(); })
        .def("stats", [](const PyVkContext& c) {
            py::dict d;
            d["submissions"] = c.ctx->submissions();
            d["host_transfers"] = c.ctx->host_transfers();
            d["live_bytes"] = c.ctx->live_bytes();
            d["live_allocations"] = c.ctx->live_allocations();
            return d;
        });

    py::class_<PyTensor>(m, "Tensor")
        .def_static("_from_numpy", [](const ContextPtr& ctx, py::handle a) {
            Arg x = to_arg(a, "Tensor.from_numpy(): argument 'a'", false);
            PyTensor t{ctx, {}};
            const float* src = x.data();
            const size_t n = x.size();
            {
                py::gil_scoped_release nogil;
                t.t = Tensor::from_host(*ctx->ctx, x.shape, std::span<const float>(src, n));
            }
            return t;
        })
        .def("numpy", [](const PyTensor& t) { return download(t.t); })
        .def_property_readonly("shape", [](const PyTensor& t) {
            py::tuple s(t.t.shape().size());
            for (size_t i = 0; i < t.t.shape().size(); ++i) s[i] = t.t.shape()[i];
            return s;
        })
        .def_property_readonly("context", [](const PyTensor& t) { return t.ctx; })
        .def("_reshape", [](const PyTensor& t, std::vector<int64_t> shape) {
            return PyTensor{t.ctx, as_value_error([&] { return t.t.reshaped(shape); })};
        });

    py::class_<PyLayer, std::shared_ptr<PyLayer>>(m, "Layer")
        .def_property_readonly("context", [](const PyLayer& l) { return l.ctx; })
        .def("type", [](const PyLayer& l) { return l.layer->type(); })
        .def("repr", [](const PyLayer& l) { return l.layer->repr(); })
        .def("parameter_names", [](const PyLayer& l) {
            std::vector<std::pair<std::string, bool>> out;
            for (const auto& [k, p] : l.layer->parameters()) out.emplace_back(k, p.buffer);
            return out;
        })
        .def("parameter_shape", [](const PyLayer& l, const std::string& name) {
            auto it = l.layer->parameters().find(name);
            if (it == l.layer->parameters().end()) throw py::key_error(l.layer->type() + " has no parameter '" + name + "'");
            return it->second.shape;
        })
        .def("get", [](const PyLayer& l, const std::string& name) { return get_parameter(*l.layer, *l.mutex, name); })
        .def("set", [](PyLayer& l, const std::string& name, py::handle v, const std::string& who) {
            set_parameter(*l.layer, *l.mutex, name, v, who);
        })
        .def("output_shape", [](const PyLayer& l, std::vector<int64_t> shape) { return l.layer->output_shape(shape); })
        .def("forward", [](PyLayer& l, py::handle input, const std::string& who) {
            Arg x = to_arg(input, who + "(): argument 'input'");
            if (x.tensor) check_same_context(*x.tensor, l.ctx, who);
            const Shape out_shape = l.layer->output_shape(x.shape);
            Layer* layer = l.layer;
            return run(l.ctx, *l.mutex, x, out_shape, [&](const Tensor& in) { return layer->forward(in); });
        })
        .def("reference", [](const PyLayer& l, py::handle input) {
            Arg x = to_arg(input, "reference(): argument 'input'", false);
            std::vector<float> in(x.data(), x.data() + x.size());
            std::vector<float> out;
            Shape out_shape = l.layer->output_shape(x.shape);
            {
                py::gil_scoped_release nogil;
                std::lock_guard lock(*l.mutex);
                out = l.layer->reference(x.shape, in);
            }
            py::array a = new_array(out_shape);
            if (!out.empty()) std::memcpy(a.mutable_data(), out.data(), out.size() * sizeof(float));
            return a;
        })
        .def("reset_parameters", [](PyLayer& l, uint64_t seed) {
            std::lock_guard lock(*l.mutex);
            if (auto* c = dynamic_cast<Conv2d*>(l.layer)) c->reset_parameters(seed);
            else if (auto* f = dynamic_cast<Linear*>(l.layer)) f->reset_parameters(seed);
            else if (auto* t = dynamic_cast<ConvTranspose2d*>(l.layer)) t->reset_parameters(seed);
        });

    auto own = [](const ContextPtr& ctx, auto make) {
        auto l = std::make_shared<PyLayer>();
        l->ctx = ctx;
        l->owned = as_value_error(make);
        l->layer = l->owned.get();
        return l;
    };
    using IntPair = std::pair<int, int>;
    m.def("make_conv2d", [own](const ContextPtr& ctx, int in, int out, IntPair k, IntPair stride, py::object padding, IntPair dilation,
                               int groups, bool bias, const std::string& mode) {
        Conv2dParams p = as_value_error([&] { return conv_params(in, out, k, stride, padding, dilation, groups, bias, mode); });
        return own(ctx, [&] { return std::make_unique<Conv2d>(*ctx->ctx, p); });
    });
    m.def("make_relu", [own](const ContextPtr& ctx) { return own(ctx, [&] { return std::make_unique<ReLU>(*ctx->ctx); }); });
    m.def("make_max_pool2d", [own](const ContextPtr& ctx, IntPair k, std::optional<IntPair> s, IntPair p, IntPair d, bool ceil) {
        return own(ctx, [&] {
            std::optional<Pair> stride;
            if (s) stride = to_pair(*s);
            return std::make_unique<MaxPool2d>(*ctx->ctx, to_pair(k), MaxPool2dOptions{.stride = stride, .padding = to_pair(p), .dilation = to_pair(d), .ceil_mode = ceil});
        });
    });
    m.def("make_avg_pool2d", [own](const ContextPtr& ctx, IntPair k, std::optional<IntPair> s, IntPair p, bool ceil, bool include_pad,
                                   std::optional<int> divisor) {
        return own(ctx, [&] {
            std::optional<Pair> stride;
            if (s) stride = to_pair(*s);
            return std::make_unique<AvgPool2d>(*ctx->ctx, to_pair(k), AvgPool2dOptions{.stride = stride, .padding = to_pair(p), .ceil_mode = ceil, .count_include_pad = include_pad, .divisor_override = divisor});
        });
    });
    m.def("make_adaptive_avg_pool2d", [own](const ContextPtr& ctx, std::optional<int> h, std::optional<int> w) {
        return own(ctx, [&] { return std::make_unique<AdaptiveAvgPool2d>(*ctx->ctx, h, w); });
    });
    m.def("make_adaptive_max_pool2d", [own](const ContextPtr& ctx, std::optional<int> h, std::optional<int> w) {
        return own(ctx, [&] { return std::make_unique<AdaptiveMaxPool2d>(*ctx->ctx, h, w); });
    });
    // The element-wise activation modules by PyTorch's class name; a and b are their arguments
    // (Hardtanh min_val/max_val, LeakyReLU negative_slope, ELU alpha).
    m.def("make_activation", [own](const ContextPtr& ctx, const std::string& kind, double a, double b, bool inplace,
                                   const std::string& approximate) {
        return own(ctx, [&]() -> std::unique_ptr<Layer> {
            Context& c = *ctx->ctx;
            if (kind == "ReLU6") return std::make_unique<ReLU6>(c, inplace);
            if (kind == "Hardtanh") return std::make_unique<Hardtanh>(c, a, b, inplace);
            if (kind == "LeakyReLU") return std::make_unique<LeakyReLU>(c, a, inplace);
            if (kind == "ELU") return std::make_unique<ELU>(c, a, inplace);
            if (kind == "Sigmoid") return std::make_unique<Sigmoid>(c);
            if (kind == "Tanh") return std::make_unique<Tanh>(c);
            if (kind == "SiLU") return std::make_unique<SiLU>(c, inplace);
            if (kind == "Hardswish") return std::make_unique<Hardswish>(c, inplace);
            if (kind == "Hardsigmoid") return std::make_unique<Hardsigmoid>(c, inplace);
            if (kind == "GELU") return std::make_unique<GELU>(c, approximate);
            throw Error("unknown activation '" + kind + "'");
        });
    });
    m.def("make_prelu", [own](const ContextPtr& ctx, int n, double init) {
        return own(ctx, [&] { return std::make_unique<PReLU>(*ctx->ctx, n, init); });
    });
    m.def("make_conv_transpose2d", [own](const ContextPtr& ctx, int in, int out, IntPair k, IntPair stride, IntPair padding,
                                         IntPair output_padding, int groups, bool bias, IntPair dilation) {
        return own(ctx, [&] {
            ConvTranspose2dOptions o;
            o.stride = to_pair(stride);
            o.padding = to_pair(padding);
            o.output_padding = to_pair(output_padding);
            o.groups = groups;
            o.bias = bias;
            o.dilation = to_pair(dilation);
            return std::make_unique<ConvTranspose2d>(*ctx->ctx, in, out, to_pair(k), o);
        });
    });
    m.def("make_upsample", [own](const ContextPtr& ctx, std::vector<int64_t> size, std::vector<double> scale_factor,
                                 const std::string& mode, std::optional<bool> align_corners,
                                 std::optional<bool> recompute_scale_factor, const std::string& class_name) {
        return own(ctx, [&] {
            UpsampleOptions o;
            o.size = std::move(size);
            o.scale_factor = std::move(scale_factor);
            o.mode = mode;
            o.align_corners = align_corners;
            o.recompute_scale_factor = recompute_scale_factor;
            o.class_name = class_name;
            return std::make_unique<Upsample>(*ctx->ctx, o);
        });
    });
    m.def("make_layer_norm", [own](const ContextPtr& ctx, std::vector<int64_t> shape, double eps, bool affine) {
        return own(ctx, [&] { return std::make_unique<LayerNorm>(*ctx->ctx, shape, eps, affine); });
    });
    m.def("make_batch_norm2d", [own](const ContextPtr& ctx, int n, double eps, double momentum, bool affine, bool track) {
        return own(ctx, [&] { return std::make_unique<BatchNorm2d>(*ctx->ctx, n, eps, momentum, affine, track); });
    });
    m.def("make_linear", [own](const ContextPtr& ctx, int in, int out, bool bias) {
        return own(ctx, [&] { return std::make_unique<Linear>(*ctx->ctx, in, out, bias); });
    });
    m.def("make_flatten", [own](const ContextPtr& ctx, int start, int end) {
        return own(ctx, [&] { return std::make_unique<Flatten>(*ctx->ctx, start, end); });
    });
    m.def("make_dropout", [own](const ContextPtr& ctx, double p) {
        return own(ctx, [&] { return std::make_unique<Dropout>(*ctx->ctx, p); });
    });
    m.def("make_softmax", [own](const ContextPtr& ctx, int dim) {
        return own(ctx, [&] { return std::make_unique<Softmax>(*ctx->ctx, dim); });
    });

    m.def("conv2d", &conv2d);

    // For tools/bench_python.py: the same convolution as conv2d(x, w) (stride 1, no padding, no
    // bias), `iterations` times from C++ with no Python in between (upload, forward, download);
    // returns the seconds per call.
    m.def("_time_conv2d_cpp", [](const ContextPtr& ctx, py::array_t<float, py::array::c_style> x,
                                 py::array_t<float, py::array::c_style> w, int iterations) {
        const Shape xs(x.shape(), x.shape() + x.ndim()), ws(w.shape(), w.shape() + w.ndim());
        Conv2dParams p;
        p.in_channels = int(ws[1]);
        p.out_channels = int(ws[0]);
        p.kernel = Pair(int(ws[2]), int(ws[3]));
        p.options.bias = false;
        const float* xd = x.data();
        const float* wd = w.data();
        py::gil_scoped_release nogil;
        Conv2d conv(*ctx->ctx, p);
        conv.set_weight(std::span<const float>(wd, size_t(p.weight_numel())));
        const Shape ys = conv.output_shape(xs);
        std::vector<float> out(size_t(shape_numel(ys)));
        const std::span<const float> in(xd, size_t(shape_numel(xs)));
        auto once = [&] {
            Tensor y = conv.forward(Tensor::from_host(*ctx->ctx, xs, in));
            y.to_host(out);
        };
        for (int i = 0; i < 20; ++i) once();  // warm-up
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iterations; ++i) once();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iterations;
    });

    py::class_<PyModel, std::shared_ptr<PyModel>>(m, "Model")
        // With weights (a .safetensors file or a folder of .npy files), the description's size is
        // checked against what the weights can hold before anything is allocated, then they load.
        .def_static("from_json_file", [](const ContextPtr& ctx, const std::string& path, std::optional<std::string> weights) {
            auto pm = std::make_shared<PyModel>();
            pm->ctx = ctx;
            ModelDescription d;
            {
                py::gil_scoped_release nogil;
                d = as_value_error([&] {
                    return weights ? load_model_json(*ctx->ctx, path, *weights, true) : load_model_json(*ctx->ctx, path);
                });
            }
            pm->model = std::move(d.model);
            pm->input_shape = d.input_shape;
            return pm;
        })
        // An ONNX file; `input_shape` fixes the data input's dynamic dimensions (e.g. the batch).
        .def_static("from_onnx_file", [](const ContextPtr& ctx, const std::string& path,
                                          std::optional<std::vector<int64_t>> input_shape) {
            auto pm = std::make_shared<PyModel>();
            pm->ctx = ctx;
            OnnxModel om;
            {
                py::gil_scoped_release nogil;
                om = as_value_error([&] {
                    OnnxLoadOptions o;
                    if (input_shape) {
                        HostArray a;
                        a.shape = *input_shape;
                        a.data.assign(size_t(a.numel()), 0.0f);
                        o.inputs[""] = std::move(a);
                    }
                    return load_onnx(*ctx->ctx, path, o);
                });
            }
            pm->model = std::move(om.model);
            pm->input_shape = om.input_shape;
            return pm;
        }, py::arg("ctx"), py::arg("path"), py::arg("input_shape") = py::none())
        .def_static("from_json_text", [](const ContextPtr& ctx, const std::string& text, const std::string& source) {
            auto pm = std::make_shared<PyModel>();
            pm->ctx = ctx;
            ModelDescription d;
            {
                py::gil_scoped_release nogil;
                d = as_value_error([&] { return model_from_json(*ctx->ctx, text, source); });
            }
            pm->model = std::move(d.model);
            pm->input_shape = d.input_shape;
            return pm;
        })
        .def_property_readonly("name", [](const PyModel& m) { return m.model->name(); })
        .def_property_readonly("context", [](const PyModel& m) { return m.ctx; })
        .def_property_readonly("input_shape", [](const PyModel& m) { return m.input_shape; })
        .def("summary", [](const PyModel& m) { return m.model->summary(); })
        .def("layer_names", [](const PyModel& m) { return m.model->layer_names(); })
        .def("layer", [](const std::shared_ptr<PyModel>& m, const std::string& name) {
            auto l = std::make_shared<PyLayer>();
            l->ctx = m->ctx;
            l->model = m;
            l->layer = &m->model->layer(name);
            l->mutex = m->mutex;
            return l;
        })
        .def("output_shape", [](const PyModel& m, std::vector<int64_t> shape) { return m.model->output_shape(shape); })
        .def("load_weights", [](PyModel& m, const std::string& path, bool strict) {
            py::gil_scoped_release nogil;
            std::lock_guard lock(*m.mutex);
            m.model->load_weights(path, strict);
        })
        .def("state_dict", [](const PyModel& m) {
            std::map<std::string, HostArray> sd;
            {
                std::lock_guard lock(*m.mutex);
                sd = m.model->state_dict();
            }
            py::dict out;
            for (auto& [k, v] : sd) {
                py::array a = new_array(v.shape);
                if (!v.data.empty()) std::memcpy(a.mutable_data(), v.data.data(), v.data.size() * sizeof(float));
                out[py::str(k)] = a;
            }
            return out;
        })
        .def("load_state_dict", [](PyModel& m, py::dict state, bool strict) {
            std::map<std::string, HostArray> sd;
            for (auto [k, v] : state) {
                Arg a = to_arg(v, "load_state_dict(): entry '" + k.cast<std::string>() + "'", false);
                sd[k.cast<std::string>()] = HostArray{a.shape, std::vector<float>(a.data(), a.data() + a.size())};
            }
            py::gil_scoped_release nogil;
            std::lock_guard lock(*m.mutex);
            m.model->load_state_dict(sd, strict);
        })
        .def("forward", [](PyModel& m, py::handle input) {
            Arg x = to_arg(input, m.model->name() + "(): argument 'input'");
            if (x.tensor) check_same_context(*x.tensor, m.ctx, "model");
            const Shape out_shape = m.model->output_shape(x.shape);
            Model* model = m.model.get();
            return run(m.ctx, *m.mutex, x, out_shape, [&](const Tensor& in) { return model->forward(in); });
        })
        .def("reference", [](const PyModel& m, py::handle input) {
            Arg x = to_arg(input, "reference(): argument 'input'", false);
            std::vector<float> in(x.data(), x.data() + x.size());
            const Shape out_shape = m.model->output_shape(x.shape);
            std::vector<float> out;
            {
                py::gil_scoped_release nogil;
                std::lock_guard lock(*m.mutex);
                out = m.model->reference_forward(x.shape, in);
            }
            py::array a = new_array(out_shape);
            if (!out.empty()) std::memcpy(a.mutable_data(), out.data(), out.size() * sizeof(float));
            return a;
        })
        .def("last_forward_stats", [](const PyModel& m) {
            const auto s = m.model->last_forward_stats();
            py::dict d;
            d["submissions"] = s.submissions;
            d["host_transfers"] = s.host_transfers;
            d["dispatches"] = s.dispatches;
            return d;
        });
}
