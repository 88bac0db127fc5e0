"""vkconv.nn: the engine's layers with torch.nn's names, constructor signatures, reprs and
state_dicts (inference: every module is in eval mode).

    conv = vkconv.nn.Conv2d(3, 16, 3, padding=1)   # PyTorch's default initialisation, seeded from `random`
    conv.weight = w                                # numpy array (or PyTorch tensor) of shape (16, 3, 3, 3)
    y = conv(x)                                    # x: [N, 3, H, W] float32 array or vkconv.Tensor

Parameters read as numpy arrays (read-only copies: assign a whole array to change them).
Constructors also take `context=` (a vkconv.Context; `device=` is accepted as a synonym); the
default is vkconv.default_context().
"""
import collections
import random

import numpy as np

from .. import (Context, Tensor, _IncompatibleKeys, _context, _entry_key, _pair, _padding, _state_dict_out, _state_value,
               _vkconv)

__all__ = ["Module", "Conv2d", "ReLU", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d", "Linear", "Flatten",
           "Dropout", "Softmax", "Sequential"]


def _module_context(device, context):
    if device is not None and context is not None:
        raise ValueError("give either device= or context=, not both")
    ctx = context if context is not None else device
    if ctx is not None and not isinstance(ctx, Context):
        raise ValueError(f"device must be a vkconv.Context or None, got {ctx!r}")
    return _context(ctx)


def _check_dtype(dtype, name):
    if dtype is None or dtype in ("float32",) or str(dtype) in ("float32", "torch.float32", "<class 'numpy.float32'>"):
        return
    raise TypeError(f"{name}: vkconv computes in float32, got dtype {dtype}")


def _int(v, name, fn):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{fn}: argument '{name}' must be int, not {type(v).__name__}")
    return v


def _addindent(s, n):
    lines = s.split("\n")
    return lines[0] + "".join("\n" + " " * n + line for line in lines[1:])


def _seed():
    return random.getrandbits(63)


def _parameter(name, optional=False):
    def get(self):
        if optional and not self._has(name):
            return None
        a = self._layer.get(name)
        a.flags.writeable = False  # a copy: in-place edits would not reach the layer
        return a

    def set(self, value):
        if optional and not self._has(name):
            raise ValueError(f"{type(self).__name__} was made with {name}=False: it has no {name}")
        self._layer.set(name, value, type(self).__name__)

    return property(get, set, doc=f"the layer's '{name}' as a numpy array (PyTorch's shape); assignable")


class Module:
    """torch.nn.Module for inference: subclass it and assign vkconv.nn layers (or other Modules) as
    attributes in __init__ (after super().__init__()), write forward(); state_dict(),
    load_state_dict() and repr() then work as PyTorch's, with the same names. The built-in layers
    are callable on a float32 NCHW array (numpy array out) or a vkconv.Tensor (vkconv.Tensor out)."""

    _layer = None
    training = False

    def __init__(self):
        object.__setattr__(self, "_modules", collections.OrderedDict())

    def __setattr__(self, name, value):
        if isinstance(value, Module):
            if "_modules" not in self.__dict__:
                object.__setattr__(self, "_modules", collections.OrderedDict())
            self._modules[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            del self._modules[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        object.__delattr__(self, name)

    def _children(self):
        return self.__dict__.get("_modules", {})

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, input):
        if self._layer is None:
            raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')
        return self._layer.forward(input, type(self).__name__)

    def extra_repr(self):
        return ""

    def __repr__(self):
        if self._layer is not None:
            return self._layer.repr()
        # PyTorch's Module.__repr__.
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._children().items()]
        lines = extra_lines + child_lines
        s = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"

    @property
    def context(self):
        if self._layer is not None:
            return self._layer.context
        for m in self._children().values():
            return m.context
        return _context(None)

    def eval(self):
        return self

    def train(self, mode=True):
        if mode:
            raise NotImplementedError("vkconv runs inference only: modules are always in eval mode")
        return self

    def children(self):
        return iter(self._children().values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._children().items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def _has(self, name):
        return self._layer is not None and any(n == name for n, _ in self._layer.parameter_names())

    def _own_entries(self):
        """(name, is_buffer) of this module's own entries, in PyTorch's order."""
        if self._layer is None:
            return []
        return sorted(self._layer.parameter_names(), key=lambda p: _entry_key(p[0]))

    def _entries(self, prefix=""):
        """(full key, module, own name, is_buffer) of every entry of this module and its children."""
        for name, buffer in self._own_entries():
            yield prefix + name, self, name, buffer
        for cname, m in self._children().items():
            yield from m._entries(prefix + cname + ".")

    def state_dict(self):
        """PyTorch's state_dict: an OrderedDict of numpy arrays (copies) under PyTorch's names."""
        out = collections.OrderedDict()
        for key, m, name, _ in self._entries():
            out[key] = _state_dict_out(name, m._layer.get(name))
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Loads entries by PyTorch's names (numpy arrays or PyTorch tensors; other dtypes converted
        to float32 as PyTorch's copy does). Errors as PyTorch's: RuntimeError naming every missing
        or unexpected key (with strict) and every size mismatch; nothing is loaded then. Returns
        (missing_keys, unexpected_keys)."""
        entries = list(self._entries())
        own = {key for key, *_ in entries}
        missing = [key for key, *_ in entries if key not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        values = []
        for key, m, name, _ in entries:
            if key not in state_dict:
                continue
            v = _state_value(key, state_dict[key])
            expected = tuple(m._layer.parameter_shape(name))
            if tuple(v.shape) != expected:
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(v.shape)} from checkpoint, "
                              f"the shape in current model is {expected}.")
            values.append((m, name, v))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for m, name, v in values:
            m._layer.set(name, v, type(m).__name__)
        return _IncompatibleKeys(missing, unexpected)

    def parameters(self):
        """The trainable parameters' values (numpy copies), in PyTorch's order."""
        return [m._layer.get(name) for _, m, name, buffer in self._entries() if not buffer]

    def _reference(self, input):
        """The CPU reference forward (double accumulation), for tests."""
        if self._layer is None:
            raise NotImplementedError(f"{type(self).__name__} has no CPU reference")
        return self._layer.reference(input)


class Conv2d(Module):
    """torch.nn.Conv2d: same arguments, defaults, checks and messages (ValueError)."""

    weight = _parameter("weight")
    bias = _parameter("bias", optional=True)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None, *, context=None):
        fn = "Conv2d"
        _check_dtype(dtype, fn)
        ctx = _module_context(device, context)
        self.in_channels = _int(in_channels, "in_channels", fn)
        self.out_channels = _int(out_channels, "out_channels", fn)
        self.kernel_size = _pair(kernel_size, "kernel_size", fn)
        self.stride = _pair(stride, "stride", fn)
        self.padding = _padding(padding, fn)
        self.dilation = _pair(dilation, "dilation", fn)
        self.groups = _int(groups, "groups", fn)
        self.padding_mode = padding_mode
        if not isinstance(padding_mode, str):
            raise TypeError(f"{fn}: argument 'padding_mode' must be str, not {type(padding_mode).__name__}")
        self._layer = _vkconv.make_conv2d(ctx, in_channels, out_channels, self.kernel_size, self.stride, self.padding,
                                          self.dilation, groups, bool(bias), padding_mode)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's initialisation (kaiming_uniform weight, uniform bias), from a seed drawn from
        Python's `random` (random.seed makes it repeatable; torch.manual_seed does not apply)."""
        self._layer.reset_parameters(_seed())


class ReLU(Module):
    """torch.nn.ReLU. inplace=True writes the result into the input array (a vkconv.Tensor input
    gives a new tensor)."""

    def __init__(self, inplace=False, *, context=None):
        self.inplace = bool(inplace)
        self._layer = _vkconv.make_relu(_context(context))

    def forward(self, input):
        y = self._layer.forward(input, "ReLU")
        if self.inplace and not isinstance(input, Tensor):
            np.asarray(input)[...] = y  # a numpy array or a PyTorch CPU tensor: its own memory
            return input
        return y

    def __repr__(self):
        return "ReLU(inplace=True)" if self.inplace else "ReLU()"


class MaxPool2d(Module):
    """torch.nn.MaxPool2d (return_indices=True is not supported)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False, *,
                 context=None):
        fn = "MaxPool2d"
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported by vkconv")
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = stride if stride is not None else kernel_size
        self.return_indices, self.ceil_mode = return_indices, ceil_mode
        self._layer = _vkconv.make_max_pool2d(_context(context), _pair(kernel_size, "kernel_size", fn),
                                              None if stride is None else _pair(stride, "stride", fn),
                                              _pair(padding, "padding", fn), _pair(dilation, "dilation", fn),
                                              bool(ceil_mode))


class AvgPool2d(Module):
    """torch.nn.AvgPool2d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, *, context=None):
        fn = "AvgPool2d"
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        if divisor_override is not None:
            _int(divisor_override, "divisor_override", fn)
        self._layer = _vkconv.make_avg_pool2d(_context(context), _pair(kernel_size, "kernel_size", fn),
                                              None if stride is None else _pair(stride, "stride", fn),
                                              _pair(padding, "padding", fn), bool(ceil_mode), bool(count_include_pad),
                                              divisor_override)


class AdaptiveAvgPool2d(Module):
    """torch.nn.AdaptiveAvgPool2d (output_size an int or a pair of ints; None entries are not supported)."""

    def __init__(self, output_size, *, context=None):
        fn = "AdaptiveAvgPool2d"
        if output_size is None or (isinstance(output_size, (tuple, list)) and None in output_size):
            raise ValueError("AdaptiveAvgPool2d: output_size with None is not supported by vkconv")
        self.output_size = output_size
        self._layer = _vkconv.make_adaptive_avg_pool2d(_context(context), _pair(output_size, "output_size", fn))


class BatchNorm2d(Module):
    """torch.nn.BatchNorm2d in eval mode (normalises with running_mean / running_var)."""

    weight = _parameter("weight", optional=True)
    bias = _parameter("bias", optional=True)
    running_mean = _parameter("running_mean", optional=True)
    running_var = _parameter("running_var", optional=True)

    def __init__(self, num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, context=None):
        fn = "BatchNorm2d"
        _check_dtype(dtype, fn)
        self.num_features = _int(num_features, "num_features", fn)
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, momentum, affine, track_running_stats
        self._layer = _vkconv.make_batch_norm2d(_module_context(device, context), num_features, float(eps),
                                                float(momentum if momentum is not None else 0.1), bool(affine),
                                                bool(track_running_stats))


class Linear(Module):
    """torch.nn.Linear."""

    weight = _parameter("weight")
    bias = _parameter("bias", optional=True)

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *, context=None):
        fn = "Linear"
        _check_dtype(dtype, fn)
        self.in_features = _int(in_features, "in_features", fn)
        self.out_features = _int(out_features, "out_features", fn)
        self._layer = _vkconv.make_linear(_module_context(device, context), in_features, out_features, bool(bias))
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's initialisation, from a seed drawn from Python's `random`."""
        self._layer.reset_parameters(_seed())


class Flatten(Module):
    """torch.nn.Flatten (a view on the device)."""

    def __init__(self, start_dim=1, end_dim=-1, *, context=None):
        fn = "Flatten"
        self.start_dim, self.end_dim = _int(start_dim, "start_dim", fn), _int(end_dim, "end_dim", fn)
        self._layer = _vkconv.make_flatten(_context(context), start_dim, end_dim)


class Dropout(Module):
    """torch.nn.Dropout in eval mode: the identity."""

    def __init__(self, p=0.5, inplace=False, *, context=None):
        self.p, self.inplace = p, bool(inplace)
        self._layer = _vkconv.make_dropout(_context(context), float(p))

    def __repr__(self):
        r = self._layer.repr()
        return r.replace("inplace=False", "inplace=True") if self.inplace else r


class Softmax(Module):
    """torch.nn.Softmax; dim=None picks the dimension as PyTorch's (deprecated) implicit rule does."""

    def __init__(self, dim=None, *, context=None):
        self.dim = dim
        self._ctx = _context(context)
        self._layers = {}
        if dim is not None:
            self._layer = _vkconv.make_softmax(self._ctx, _int(dim, "dim", "Softmax"))

    def forward(self, input):
        if self.dim is not None:
            return self._layer.forward(input, "Softmax")
        ndim = len(input.shape)
        dim = 0 if ndim in (0, 1, 3) else 1
        if dim not in self._layers:
            self._layers[dim] = _vkconv.make_softmax(self._ctx, dim)
        return self._layers[dim].forward(input, "Softmax")

    def __repr__(self):
        return f"Softmax(dim={self.dim})"

    @property
    def context(self):
        return self._ctx

    def _reference(self, input):
        dim = self.dim if self.dim is not None else (0 if len(input.shape) in (0, 1, 3) else 1)
        return _vkconv.make_softmax(self._ctx, dim).reference(input)


class Sequential(Module):
    """torch.nn.Sequential: a numpy input goes to the device once, every module runs on device
    tensors, and the result comes back once."""

    def __init__(self, *args):
        super().__init__()
        items = args[0].items() if len(args) == 1 and isinstance(args[0], collections.OrderedDict) else \
            ((str(i), m) for i, m in enumerate(args))
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"{type(m).__name__} is not a vkconv.nn.Module subclass")
            setattr(self, name, m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, input):
        x = input if isinstance(input, Tensor) else Tensor.from_numpy(input, self.context)
        for m in self._modules.values():
            x = m(x)
        return x if isinstance(input, Tensor) else x.numpy()

    def _reference(self, input):
        import numpy as np
        x = input.numpy() if isinstance(input, Tensor) else np.asarray(input)
        for m in self._modules.values():
            x = m._reference(x)
        return x


_CLASSES = {c.__name__: c for c in (Conv2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, Linear, Flatten,
                                    Dropout)}


class _Layer(Module):
    """A model's layer of a type without a torch.nn class (Add)."""

    def __init__(self):
        raise TypeError("not constructible")


def _wrap(layer):
    """A model's layer as its vkconv.nn class (shares the model's weights and lock)."""
    cls = _CLASSES.get(layer.type(), _Layer)
    obj = cls.__new__(cls)
    obj._layer = layer
    if cls is ReLU or cls is Dropout:
        obj.inplace = "inplace=True" in layer.repr()
    return obj

from . import functional  # noqa: E402
