"""fx nodes as the exporter reads them: ExportError, the signatures of the functional calls it
accepts and their argument binding, the kind of each call_function / call_method node, and the
helpers that read a node's shape and its constant arguments."""
import operator

import torch
import torch.nn.functional as F


class ExportError(ValueError):
    """The module cannot be expressed as a vkconv model; the message names the node and op."""


_NO_DEFAULT = object()

# Python signatures of the functions we accept (several are C builtins without introspectable
# signatures), as (name, default) in positional order.
_SIGNATURES = {
    "relu": [("input", _NO_DEFAULT), ("inplace", False)],
    "flatten": [("input", _NO_DEFAULT), ("start_dim", 0), ("end_dim", -1)],
    "max_pool2d": [("input", _NO_DEFAULT), ("kernel_size", _NO_DEFAULT), ("stride", None), ("padding", 0),
                   ("dilation", 1), ("ceil_mode", False), ("return_indices", False)],
    "avg_pool2d": [("input", _NO_DEFAULT), ("kernel_size", _NO_DEFAULT), ("stride", None), ("padding", 0),
                   ("ceil_mode", False), ("count_include_pad", True), ("divisor_override", None)],
    "adaptive_avg_pool2d": [("input", _NO_DEFAULT), ("output_size", _NO_DEFAULT)],
    "dropout": [("input", _NO_DEFAULT), ("p", 0.5), ("training", True), ("inplace", False)],
    "softmax": [("input", _NO_DEFAULT), ("dim", None), ("_stacklevel", 3), ("dtype", None)],
    "add": [("input", _NO_DEFAULT), ("other", _NO_DEFAULT), ("alpha", 1)],
    "conv_transpose2d": [("input", _NO_DEFAULT), ("weight", _NO_DEFAULT), ("bias", None), ("stride", 1), ("padding", 0),
                         ("output_padding", 0), ("groups", 1), ("dilation", 1)],
    "interpolate": [("input", _NO_DEFAULT), ("size", None), ("scale_factor", None), ("mode", "nearest"),
                    ("align_corners", None), ("recompute_scale_factor", None), ("antialias", False)],
    "upsample_nearest": [("input", _NO_DEFAULT), ("size", None), ("scale_factor", None)],
    "upsample_bilinear": [("input", _NO_DEFAULT), ("size", None), ("scale_factor", None)],
    "adaptive_max_pool2d": [("input", _NO_DEFAULT), ("output_size", _NO_DEFAULT), ("return_indices", False)],
    "mean": [("input", _NO_DEFAULT), ("dim", None), ("keepdim", False), ("dtype", None)],
    "amax": [("input", _NO_DEFAULT), ("dim", ()), ("keepdim", False)],
    "sub": [("input", _NO_DEFAULT), ("other", _NO_DEFAULT), ("alpha", 1)],
    "mul": [("input", _NO_DEFAULT), ("other", _NO_DEFAULT)],
    "div": [("input", _NO_DEFAULT), ("other", _NO_DEFAULT), ("rounding_mode", None)],
    "relu6": [("input", _NO_DEFAULT), ("inplace", False)],
    "hardtanh": [("input", _NO_DEFAULT), ("min_val", -1.0), ("max_val", 1.0), ("inplace", False)],
    "leaky_relu": [("input", _NO_DEFAULT), ("negative_slope", 0.01), ("inplace", False)],
    "elu": [("input", _NO_DEFAULT), ("alpha", 1.0), ("inplace", False)],
    "sigmoid": [("input", _NO_DEFAULT)],
    "tanh": [("input", _NO_DEFAULT)],
    "silu": [("input", _NO_DEFAULT), ("inplace", False)],
    "hardswish": [("input", _NO_DEFAULT), ("inplace", False)],
    "hardsigmoid": [("input", _NO_DEFAULT), ("inplace", False)],
    "gelu": [("input", _NO_DEFAULT), ("approximate", "none")],
    "layer_norm": [("input", _NO_DEFAULT), ("normalized_shape", _NO_DEFAULT), ("weight", None), ("bias", None),
                   ("eps", 1e-5)],
    "stochastic_depth": [("input", _NO_DEFAULT), ("p", _NO_DEFAULT), ("mode", _NO_DEFAULT), ("training", True)],
    "cat": [("tensors", _NO_DEFAULT), ("dim", 0)],
    "chunk": [("input", _NO_DEFAULT), ("chunks", _NO_DEFAULT), ("dim", 0)],
    "split": [("tensor", _NO_DEFAULT), ("split_size_or_sections", _NO_DEFAULT), ("dim", 0)],
    "permute": [("input", _NO_DEFAULT), ("dims", _NO_DEFAULT)],
    "transpose": [("input", _NO_DEFAULT), ("dim0", _NO_DEFAULT), ("dim1", _NO_DEFAULT)],
}


def _bind(kind, node):
    sig = _SIGNATURES[kind]
    if len(node.args) > len(sig):
        raise ExportError(f"{_where(node)}: too many arguments")
    bound = {}
    for (name, _), value in zip(sig, node.args):
        bound[name] = value
    for k, v in node.kwargs.items():
        if k not in dict(sig):
            raise ExportError(f"{_where(node)}: unsupported argument '{k}'")
        bound[k] = v
    for name, default in sig:
        if name not in bound:
            if default is _NO_DEFAULT:
                raise ExportError(f"{_where(node)}: argument '{name}' is required")
            bound[name] = default
    return bound


def _where(node):
    if node.op == "call_module":
        what = f"module '{node.target}'"
    elif node.op == "call_method":
        what = f"method '.{node.target}()'"
    else:
        what = f"'{_target_name(node.target)}'"
    return f"node '{node.name}' ({node.op} {what})"


def _target_name(t):
    if isinstance(t, str):
        return t
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or repr(t)
    if mod in ("_operator", "operator"):
        return "operator." + name
    if name.startswith("_VariableFunctionsClass."):
        return "torch." + name.split(".", 1)[1]
    return f"{mod}.{name}" if mod else name


# Functional targets by kind. F.max_pool2d is a boolean_dispatch wrapper: compare by identity.
_FUNCTIONS = {}
for _kind, _fns in {
    "relu": [F.relu, torch.relu, getattr(F, "relu_", None), getattr(torch, "relu_", None)],
    "flatten": [torch.flatten],
    "reshape": [torch.reshape],
    "max_pool2d": [F.max_pool2d, torch.max_pool2d],
    "avg_pool2d": [F.avg_pool2d],
    "adaptive_avg_pool2d": [F.adaptive_avg_pool2d, getattr(torch._C._nn, "adaptive_avg_pool2d", None)],
    "dropout": [F.dropout, torch.dropout],
    "softmax": [F.softmax, torch.softmax],
    "add": [operator.add, operator.iadd, torch.add],
    "conv_transpose2d": [F.conv_transpose2d],
    "interpolate": [F.interpolate, getattr(F, "upsample", None)],
    "upsample_nearest": [getattr(F, "upsample_nearest", None)],
    "upsample_bilinear": [getattr(F, "upsample_bilinear", None)],
    "adaptive_max_pool2d": [F.adaptive_max_pool2d],
    "mean": [torch.mean],
    "amax": [torch.amax],
    "sub": [operator.sub, operator.isub, torch.sub, getattr(torch, "subtract", None)],
    "mul": [operator.mul, operator.imul, torch.mul, getattr(torch, "multiply", None)],
    "div": [operator.truediv, operator.itruediv, torch.div, getattr(torch, "divide", None), getattr(torch, "true_divide", None)],
    "relu6": [F.relu6],
    "hardtanh": [F.hardtanh, getattr(F, "hardtanh_", None), getattr(torch._C._nn, "hardtanh_", None),
                 getattr(torch._C._nn, "hardtanh", None)],
    "leaky_relu": [F.leaky_relu, getattr(F, "leaky_relu_", None), getattr(torch._C._nn, "leaky_relu_", None),
                   getattr(torch._C._nn, "leaky_relu", None)],
    "elu": [F.elu, getattr(F, "elu_", None), getattr(torch._C._nn, "elu_", None), getattr(torch._C._nn, "elu", None)],
    "sigmoid": [torch.sigmoid, getattr(torch, "sigmoid_", None), F.sigmoid],
    "tanh": [torch.tanh, getattr(torch, "tanh_", None), F.tanh],
    "silu": [F.silu],
    "hardswish": [F.hardswish],
    "hardsigmoid": [F.hardsigmoid],
    "gelu": [F.gelu, getattr(torch._C._nn, "gelu", None)],
    "layer_norm": [F.layer_norm, torch.layer_norm],
    "cat": [torch.cat, getattr(torch, "concat", None)],
    "chunk": [torch.chunk],
    "split": [torch.split, torch.functional.split],
    "permute": [torch.permute],
    "transpose": [torch.transpose, getattr(torch, "swapaxes", None)],
    "piece": [operator.getitem],
}.items():
    for _fn in _fns:
        if _fn is not None:
            _FUNCTIONS.setdefault(id(_fn), (_kind, _fn))
try:  # torchvision's StochasticDepth calls this wrapped function (the identity in eval mode)
    import torchvision.ops
    _FUNCTIONS.setdefault(id(torchvision.ops.stochastic_depth), ("stochastic_depth", torchvision.ops.stochastic_depth))
except ImportError:
    pass

_METHODS = {
    "relu": "relu", "relu_": "relu", "flatten": "flatten", "view": "reshape", "reshape": "reshape",
    "softmax": "softmax", "add": "add", "add_": "add", "__add__": "add", "__iadd__": "add",
    "contiguous": "alias", "mean": "mean", "amax": "amax",
    "sub": "sub", "sub_": "sub", "mul": "mul", "mul_": "mul", "div": "div", "div_": "div",
    "true_divide": "div", "true_divide_": "div",
    "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh",
    "chunk": "chunk", "split": "split", "permute": "permute", "transpose": "transpose",
}

# Calls that produce sizes (x.size(0), x.shape[0]), used only as view arguments.
_SIZE_FUNCTIONS = {id(getattr), id(operator.getitem), id(operator.floordiv), id(operator.mul), id(operator.sub),
                   id(operator.truediv), id(operator.mod), id(operator.neg)}


def _pair_json(v):
    """An int stays an int (PyTorch prints it so); a tuple becomes [h, w]."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return [int(v[0]), int(v[0])]
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair, got {v!r}")
        return [int(v[0]), int(v[1])]
    return int(v)


def _is_pair_or_int(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, (tuple, list)) and len(v) in (1, 2) and all(isinstance(e, int) and not isinstance(e, bool) for e in v)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shape(node):
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return None
    return list(meta.shape)


def _tensor_arg(node, value, what="input"):
    if not isinstance(value, torch.fx.Node) or _shape(value) is None:
        raise ExportError(f"{_where(node)}: {what} must be a tensor computed by the model, got {value!r}")
    return value


def _literal(node, value, what):
    if isinstance(value, torch.fx.Node):
        raise ExportError(f"{_where(node)}: argument '{what}' must be a constant, but it is computed at run time "
                          f"(node '{value.name}')")
    return value


def _function_kind_or_none(n):
    try:
        return _function_kind(n)
    except ExportError:
        return None


def _function_kind(n):
    if n.op == "call_function":
        entry = _FUNCTIONS.get(id(n.target))
        kind = entry[0] if entry and entry[1] is n.target else None
    else:
        kind = _METHODS.get(n.target)
    if kind is None:
        raise ExportError(f"{_where(n)}: unsupported operation; supported: relu, flatten, view/reshape, "
                          "max_pool2d, avg_pool2d, adaptive_avg_pool2d, dropout, softmax, "
                          "conv_transpose2d, interpolate, adaptive_max_pool2d, mean/amax over (H, W), add/sub/mul/div (tensors with broadcasting, Python numbers, submodule parameters), "
                          "relu6, hardtanh, leaky_relu, elu, sigmoid, tanh, silu, hardswish, hardsigmoid, gelu, "
                          "layer_norm, stochastic_depth, cat, chunk/split (and their pieces), permute, transpose")
    return kind
