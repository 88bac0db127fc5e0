"""vkconv: convolution and small CNNs on any Vulkan GPU, with PyTorch's semantics.

    import numpy as np, vkconv
    y = vkconv.conv2d(x, w, b, stride=2, padding=1)            # torch.nn.functional.conv2d
    conv = vkconv.nn.Conv2d(3, 16, 3, padding=1)                # torch.nn.Conv2d
    model = vkconv.load("net.json", weights="net.safetensors")  # or vkconv.from_torch(module, x)

Arrays are NCHW float32 numpy arrays (PyTorch CPU tensors are accepted too and read in place);
a vkconv.Tensor keeps data on the device between calls. Every call releases the GIL while the
GPU works, and objects may be shared between threads.
"""
import collections
import os
import threading

from . import _vkconv
from ._vkconv import Context, Tensor

__all__ = ["Context", "Tensor", "Model", "devices", "default_context", "set_default_context", "conv2d", "load",
           "from_torch", "nn"]

_default = None
_default_lock = threading.Lock()


def devices():
    """Every Vulkan device: a list of dicts with its name, type, driver, the limits `vkconv devices`
    prints, and "chosen" (True for the device a Context() without arguments takes)."""
    return _vkconv.devices()


def default_context():
    """The context calls use when none is given; made on first use (VKCONV_DEVICE picks the device,
    VKCONV_VALIDATION=1 turns the validation layer on)."""
    global _default
    ctx = _default
    if ctx is None:
        with _default_lock:
            if _default is None:
                _default = Context()
            ctx = _default
    return ctx


def set_default_context(context):
    """Makes `context` (a vkconv.Context, or None to make a new one on next use) the default."""
    global _default
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"set_default_context(): expected a vkconv.Context or None, not {type(context).__name__}")
    with _default_lock:
        _default = context


def _context(context, *args):
    """The context of the first vkconv.Tensor among args, else `context`, else the default."""
    for a in args:
        if isinstance(a, Tensor):
            return a.context
    if context is None:
        return default_context()
    if not isinstance(context, Context):
        raise TypeError(f"context must be a vkconv.Context, not {type(context).__name__}")
    return context


def _pair(v, name, fn):
    if isinstance(v, bool):
        raise TypeError(f"{fn}: argument '{name}' must be an int or a tuple of two ints, not bool")
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(e, int) and not isinstance(e, bool) for e in v):
        return (v[0], v[1])
    if isinstance(v, (tuple, list)) and len(v) == 1 and isinstance(v[0], int):
        return (v[0], v[0])
    if hasattr(v, "__index__") and not isinstance(v, (tuple, list, str)):
        return (v.__index__(), v.__index__())
    raise TypeError(f"{fn}: argument '{name}' must be an int or a tuple of two ints, not {v!r}")


def _padding(v, fn):
    if isinstance(v, str):
        if v not in ("same", "valid"):
            raise ValueError(f"Invalid padding string '{v}', should be one of {{'valid', 'same'}}")
        return v
    return _pair(v, "padding", fn)


def _tensor_from_numpy(a, context=None):
    """A device tensor holding a copy of `a` (float32; a numpy array or a PyTorch CPU tensor)."""
    return Tensor._from_numpy(_context(context), a)


def _tensor_repr(self):
    return f"vkconv.Tensor(shape={tuple(self.shape)})"


def _tensor_array(self, dtype=None, copy=None):
    a = self.numpy()
    return a if dtype is None else a.astype(dtype)


def _tensor_reshape(self, *shape):
    """The same device memory seen with another shape (one dimension may be -1), like torch's view."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    numel = 1
    for d in self.shape:
        numel *= d
    if list(shape).count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    return self._reshape(list(shape))


def _tensor_size(self, dim=None):
    return tuple(self.shape) if dim is None else self.shape[dim]


Tensor.reshape = _tensor_reshape
Tensor.view = _tensor_reshape
Tensor.size = _tensor_size
Tensor.from_numpy = staticmethod(_tensor_from_numpy)
Tensor.__repr__ = _tensor_repr
Tensor.__array__ = _tensor_array
Tensor.ndim = property(lambda self: len(self.shape))
Tensor.dtype = property(lambda self: "float32")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """torch.nn.functional.conv2d (plus padding_mode: "zeros", "reflect", "replicate", "circular").

    input [N, C, H, W] or [C, H, W]; weight [out, C/groups, kh, kw]; bias [out] or None; stride,
    padding, dilation an int or a pair; padding also "same" or "valid". A numpy array (or PyTorch
    tensor) in gives a numpy array out; a vkconv.Tensor gives a vkconv.Tensor."""
    fn = "conv2d()"
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"{fn}: argument 'groups' must be int, not {type(groups).__name__}")
    if not isinstance(padding_mode, str):
        raise TypeError(f"{fn}: argument 'padding_mode' must be str, not {type(padding_mode).__name__}")
    return _vkconv.conv2d(_context(None, input), input, weight, bias, _pair(stride, "stride", fn), _padding(padding, fn),
                          _pair(dilation, "dilation", fn), groups, padding_mode)


# ---- models -----------------------------------------------------------------------------------

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

# PyTorch's order of a layer's state_dict entries.
_ENTRY_ORDER = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def _entry_key(name):
    return (_ENTRY_ORDER.index(name), name) if name in _ENTRY_ORDER else (len(_ENTRY_ORDER), name)


def _state_value(key, v):
    """A state_dict value as the engine takes it: float32 (converted from other dtypes, as PyTorch's
    load_state_dict copies into float32 parameters)."""
    if isinstance(v, Tensor):
        return v
    import numpy as np
    if hasattr(v, "detach"):
        v = v.detach()
    a = np.asarray(v)
    if a.dtype != np.float32:
        if a.dtype.kind not in "fiub":
            raise TypeError(f"load_state_dict(): entry '{key}' has dtype {a.dtype}, not a number")
        a = a.astype(np.float32)
    return a


def _state_dict_out(key, a):
    import numpy as np
    if key == "num_batches_tracked" or key.endswith(".num_batches_tracked"):
        return a.astype(np.int64)  # int64 in PyTorch
    return a


class _Prefix:
    """model.layer1 where the model has layers "layer1.conv1", ...: attribute access continues."""

    def __init__(self, model, prefix):
        self._model, self._prefix = model, prefix

    def __getattr__(self, name):
        return self._model._get(self._prefix + "." + name)

    def __getitem__(self, i):
        return self._model._get(f"{self._prefix}.{i}")


class Model:
    """A whole network on the device (vkconv.load, vkconv.from_torch): call it on an NCHW float32
    array or a vkconv.Tensor; one queue submission per call, intermediates stay on the device.
    Layers are attributes under their state_dict names (model.conv1.weight)."""

    def __init__(self, impl, repr_text=None):
        self._impl = impl
        self._repr = repr_text

    @property
    def context(self):
        return self._impl.context if hasattr(self._impl, "context") else None

    @property
    def input_shape(self):
        """One sample's shape from the description (empty when it gives none)."""
        return tuple(self._impl.input_shape)

    def __call__(self, input):
        return self._impl.forward(input)

    forward = __call__

    def __repr__(self):
        return self._repr if self._repr is not None else self._impl.summary()

    def eval(self):
        return self

    def state_dict(self):
        """PyTorch's state_dict: an OrderedDict of numpy arrays under PyTorch's names, in layer order."""
        flat = self._impl.state_dict()
        out = collections.OrderedDict()
        for layer in self._impl.layer_names():
            keys = sorted((k[len(layer) + 1:] for k in flat if k.startswith(layer + ".") and
                           k[len(layer) + 1:].find(".") < 0), key=_entry_key)
            for k in keys:
                full = layer + "." + k
                if full in flat and full not in out:
                    out[full] = _state_dict_out(full, flat[full])
        for k, v in flat.items():  # (none expected)
            if k not in out:
                out[k] = _state_dict_out(k, v)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Loads PyTorch-named entries (numpy arrays or PyTorch tensors). With strict, missing or
        unexpected keys raise RuntimeError; wrong shapes always do. Returns (missing_keys,
        unexpected_keys)."""
        own = set(self._impl.state_dict().keys())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values = {k: _state_value(k, v) for k, v in state_dict.items() if strict or k in own}
        self._impl.load_state_dict(values, strict)
        return _IncompatibleKeys(missing, unexpected)

    def _reference(self, input):
        """The CPU reference forward (double accumulation), for tests."""
        return self._impl.reference(input)

    def _get(self, name):
        from . import nn
        if name in self._impl.layer_names():
            return nn._wrap(self._impl.layer(name))
        if any(n.startswith(name + ".") for n in self._impl.layer_names()):
            return _Prefix(self, name)
        raise AttributeError(f"'{self._impl.name}' has no layer '{name}'")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._get(name)


def load(path, weights=None, *, context=None):
    """A model from a description: a vkconv JSON file (tools/export_model.py writes them) with
    `weights` a .safetensors file or a folder of <key>.npy files (None: PyTorch's default
    initialisation, seeded), or an .onnx file."""
    path = os.fspath(path)
    ctx = _context(context)
    if path.lower().endswith(".onnx"):
        if not hasattr(_vkconv.Model, "from_onnx_file"):
            raise ValueError(f"vkconv.load: '{path}': ONNX models are not supported by this build of vkconv; "
                             "export the module with vkconv.from_torch or tools/export_model.py instead")
        impl = _vkconv.Model.from_onnx_file(ctx, path)
    else:
        impl = _vkconv.Model.from_json_file(ctx, path)
    if weights is not None:
        impl.load_weights(os.fspath(weights), True)
    return Model(impl)


def from_torch(module, example_input, *, context=None):
    """Exports a torch.nn.Module in-process (tools/export_model.py's tracer and verification, no
    files) and returns the vkconv Model with its weights. The module is put in eval mode;
    `example_input` is one batch, e.g. torch.randn(1, 3, 224, 224). repr() of the result is the
    module's own."""
    import numpy as np

    from . import _export_model as ex
    ctx = _context(context)
    if not hasattr(example_input, "detach"):  # a numpy array
        import torch
        example_input = torch.from_numpy(np.ascontiguousarray(example_input))
    desc, state, reference = ex._describe(module, example_input, None)
    ex._verify(reference, desc, state, example_input)
    impl = _vkconv.Model.from_json_text(ctx, ex._json_text(desc), f"<from_torch {type(module).__name__}>")
    impl.load_state_dict({k: _state_value(k, v) for k, v in state.items()}, True)
    return Model(impl, repr(module))


from . import nn  # noqa: E402  (needs the names above)
