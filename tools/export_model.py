#!/usr/bin/python3
"""Exports a torch.nn.Module to vkconv: a JSON model description plus a .safetensors state_dict,
or an ONNX file (--onnx) that `vkconv run --model out.onnx` reads.

    /usr/bin/python3 tools/export_model.py --module mypkg.mymodule:ClassName \\
        --input-shape 1,3,32,32 --json out.json --weights out.safetensors [--state-dict sd.pt] [--name N]
    /usr/bin/python3 tools/export_model.py --module torchvision.models:resnet18 \\
        --input-shape 1,3,224,224 --onnx out.onnx [--opset 17] [--state-dict sd.pt]

--onnx writes the module with torch.onnx.export (eval mode, opset --opset, 17 by default, a
symbolic batch dimension): input "input", outputs "output" (a dict's keys, or "0", "1", ... for
a tuple or list). Both forms may be given in one call.

or from Python:

    import export_model
    export_model.export(model, torch.randn(1, 3, 32, 32), "out.json", "out.safetensors")

The module is traced with torch.fx.symbolic_trace, so nn.Sequential stacks and hand-written
forward() methods both work, including the functional calls tutorials use:

    modules     Conv2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, Linear,
                Flatten, Dropout, Softmax, ReLU6, Hardtanh, LeakyReLU, PReLU, ELU, Sigmoid, Tanh,
                SiLU, Hardswish, Hardsigmoid, GELU, LayerNorm, torchvision's StochasticDepth
                (identity) (a module without parameters may be called several times: every call
                becomes its own layer, the later ones named "<name>_1", ...)
    functions   F.relu / torch.relu / x.relu() (and the in-place spellings)
                torch.flatten(x, 1) / x.flatten(1)
                x.view(...) / x.reshape(...) / torch.reshape when the result is [N, features]
                F.max_pool2d / F.avg_pool2d / F.adaptive_avg_pool2d
                F.dropout (identity at inference)
                x + y, x - y, x * y, x / y / torch.add, sub, mul, div / x.add(y), ... and the
                in-place forms: two tensors with broadcasting, a tensor and a Python number on
                either side (x * 0.5, 1 - x), or a submodule's parameter and a tensor
                (self.layer_scale * x: a layer named after the submodule, holding the parameter)
                F.relu6, F.hardtanh, F.leaky_relu, F.elu, torch.sigmoid / x.sigmoid(), torch.tanh,
                F.silu, F.hardswish, F.hardsigmoid, F.gelu (and their in-place spellings)
                F.layer_norm (weight and bias None, or a submodule's "weight" and "bias")
                torchvision.ops.stochastic_depth in eval mode (identity)
                F.softmax(x, dim=...) / torch.softmax / x.softmax(...)
                x.contiguous() and nn.Identity (no layer)
    spatial     nn.ConvTranspose2d (forward's output_size becomes output_padding) / F.conv_transpose2d
                (its weight and bias parameters are exported as "<layer>.weight", "<layer>.bias"),
                nn.Upsample / nn.UpsamplingNearest2d / nn.UpsamplingBilinear2d / F.interpolate /
                F.upsample / F.upsample_nearest / F.upsample_bilinear (nearest, bilinear; a size
                computed at run time, such as skip.shape[2:], is fixed to the traced size),
                nn.AdaptiveMaxPool2d / F.adaptive_max_pool2d, None entries of adaptive output sizes,
                x.mean / torch.mean / x.amax / torch.amax over dims (2, 3) with keepdim
                torch.cat / torch.concat(tensors, dim) (Cat; written in place by vkconv)
                torch.chunk / x.chunk / torch.split / x.split(size or sizes, dim), the pieces
                taken by tuple unpacking or indexing (one Chunk/Split layer per piece used)
                x.view / x.reshape / torch.reshape to any shape (Reshape; a view that keeps
                the batch dimension first is written with -1 there, so any batch runs)
                x.permute / torch.permute, x.transpose / torch.transpose (Permute/Transpose)

forward() may return one tensor, or a dict / tuple / list of tensors (torchvision's
segmentation models return {"out": ..., "aux": ...}): the description then lists its
"outputs" by name (a tuple's by position, "0", "1", ...), and vkconv's Model::forward_all /
`vkconv run --output NAME=PATH` give each one.

When torch.fx.symbolic_trace cannot trace the module as written (ShuffleNet's
`b, c, h, w = x.size()`, a loop over a tensor's size), the export falls back to a
concrete-shape trace: the module runs eagerly on the example input while it is traced, and
every size (x.size(), x.shape, x.dim() and arithmetic on them) becomes the constant it has for
that input; tensor operations are recorded as usual. The description is then exact for the
example's height and width (views over the batch dimension are still written with -1, and the
export is verified on a batch one larger); control flow on tensor values still fails.

An in-place call (inplace=True, x.add_(...), F.relu_) overwrites its input as in PyTorch: later
readers of that tensor read the call's output.

Layers from modules carry the module's qualified name ("features.0", "conv1"), so that the
state_dict keys match vkconv's; layers from functions are named after the fx node ("relu_1",
"add"), made unique. Layers from functions, and a module's second and later calls, are marked
"functional": they run, but the model prints only the modules, as print(module) does. Anything else raises ExportError naming the node and its op.

The export is verified before anything is written: the JSON's layers are rebuilt in PyTorch from
the description alone and run on the example input (and on a batch one larger, which catches
views that hard-code the batch size); their output must match the module's.

Needs PyTorch and NumPy only (no safetensors package: the format is written by hand).
"""
import argparse
import importlib
import json
import math
import operator
import os
import struct
import sys
import warnings

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

__all__ = ["export", "export_onnx", "describe", "build_from_description", "save_safetensors", "ExportError"]


class ExportError(ValueError):
    """The module cannot be expressed as a vkconv model; the message names the node and op."""


# ---- argument binding for functional calls ------------------------------------------------------

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
    "contiguous": "alias",
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


# ---- modules ----------------------------------------------------------------------------------

def _module_layer(node, mod):
    """The JSON layer (without name/inputs) for a call_module node, or "alias" for nn.Identity."""
    t = type(mod)
    if t is nn.Identity:
        return "alias"
    if t is nn.Conv2d:
        if isinstance(mod.padding, str):
            padding = mod.padding
        else:
            padding = _pair_json(mod.padding)
        return {"type": "Conv2d", "in_channels": mod.in_channels, "out_channels": mod.out_channels,
                "kernel_size": _pair_json(mod.kernel_size), "stride": _pair_json(mod.stride), "padding": padding,
                "dilation": _pair_json(mod.dilation), "groups": mod.groups, "bias": mod.bias is not None,
                "padding_mode": mod.padding_mode}
    if t is nn.ReLU:
        return {"type": "ReLU", **({"inplace": True} if mod.inplace else {})}
    act = _activation_module_layer(mod)
    if act is not None:
        return act
    if t is nn.LayerNorm:
        return {"type": "LayerNorm", "normalized_shape": [int(d) for d in mod.normalized_shape], "eps": float(mod.eps),
                "elementwise_affine": bool(mod.elementwise_affine)}
    if _is_stochastic_depth(mod):
        return "alias"  # the identity in eval mode
    if t is nn.MaxPool2d:
        if mod.return_indices:
            raise ExportError(f"{_where(node)}: MaxPool2d(return_indices=True) is not supported")
        return {"type": "MaxPool2d", "kernel_size": _pair_json(mod.kernel_size),
                "stride": _pair_json(mod.stride if mod.stride is not None else mod.kernel_size),
                "padding": _pair_json(mod.padding), "dilation": _pair_json(mod.dilation), "ceil_mode": bool(mod.ceil_mode)}
    if t is nn.AvgPool2d:
        d = {"type": "AvgPool2d", "kernel_size": _pair_json(mod.kernel_size),
             "stride": _pair_json(mod.stride if mod.stride is not None else mod.kernel_size),
             "padding": _pair_json(mod.padding), "ceil_mode": bool(mod.ceil_mode),
             "count_include_pad": bool(mod.count_include_pad)}
        if mod.divisor_override is not None:
            d["divisor_override"] = int(mod.divisor_override)
        return d
    if t is nn.AdaptiveAvgPool2d:
        return {"type": "AdaptiveAvgPool2d", "output_size": _adaptive_size(node, mod.output_size)}
    if t is nn.BatchNorm2d:
        if not mod.track_running_stats or mod.running_mean is None:
            raise ExportError(f"{_where(node)}: BatchNorm2d(track_running_stats=False) normalizes with the batch's own "
                              "statistics even in eval mode; vkconv supports only running statistics")
        d = {"type": "BatchNorm2d", "num_features": mod.num_features, "eps": float(mod.eps)}
        if mod.momentum is not None:
            d["momentum"] = float(mod.momentum)
        d["affine"] = bool(mod.affine)
        d["track_running_stats"] = True
        return d
    if t is nn.Linear:
        return {"type": "Linear", "in_features": mod.in_features, "out_features": mod.out_features,
                "bias": mod.bias is not None}
    if t is nn.Flatten:
        return {"type": "Flatten", "start_dim": int(mod.start_dim), "end_dim": int(mod.end_dim)}
    if t is nn.Dropout:
        return {"type": "Dropout", "p": float(mod.p), **({"inplace": True} if mod.inplace else {})}
    if t is nn.Softmax:
        if mod.dim is None:
            raise ExportError(f"{_where(node)}: Softmax(dim=None) (implicit dim) is not supported; give dim")
        return {"type": "Softmax", "dim": int(mod.dim)}
    spatial = _spatial_module_layer(node, mod)
    if spatial is not None:
        return spatial
    raise ExportError(f"{_where(node)}: unsupported module type {t.__module__}.{t.__qualname__}; supported: Conv2d, ReLU, "
                      "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm2d, Linear, Flatten, Dropout, Softmax, Identity, "
                      "ConvTranspose2d, Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, AdaptiveMaxPool2d, LayerNorm, StochasticDepth, " + ", ".join(c.__name__ for c in _ACTIVATION_MODULES))


# ---- activations, binary ops, LayerNorm (vkconv/activations.h, binary.h, layer_norm.h) ----------

_ACTIVATION_MODULES = (nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.Hardswish,
                       nn.Hardsigmoid, nn.GELU)


def _inplace(flag):
    return {"inplace": True} if flag else {}


def _activation_module_layer(mod):
    """The JSON layer for an activation module, or None."""
    t = type(mod)
    if t is nn.ReLU6:
        return {"type": "ReLU6", **_inplace(mod.inplace)}
    if t is nn.Hardtanh:
        return {"type": "Hardtanh", "min_val": float(mod.min_val), "max_val": float(mod.max_val), **_inplace(mod.inplace)}
    if t is nn.LeakyReLU:
        return {"type": "LeakyReLU", "negative_slope": float(mod.negative_slope), **_inplace(mod.inplace)}
    if t is nn.PReLU:
        return {"type": "PReLU", "num_parameters": int(mod.num_parameters)}
    if t is nn.ELU:
        return {"type": "ELU", "alpha": float(mod.alpha), **_inplace(mod.inplace)}
    if t is nn.Sigmoid:
        return {"type": "Sigmoid"}
    if t is nn.Tanh:
        return {"type": "Tanh"}
    if t in (nn.SiLU, nn.Hardswish, nn.Hardsigmoid):
        return {"type": t.__name__, **_inplace(mod.inplace)}
    if t is nn.GELU:
        return {"type": "GELU", "approximate": mod.approximate}
    return None


def _is_stochastic_depth(mod):
    t = type(mod)
    return t.__name__ == "StochasticDepth" and t.__module__.startswith("torchvision.")


_ACTIVATION_FUNCTIONS = {"relu6", "hardtanh", "leaky_relu", "elu", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid",
                         "gelu"}
_BINARY_TYPES = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}


def _activation_function_layer(node, kind):
    if node.op == "call_method":
        # x.sigmoid(), x.tanh() and their in-place forms take no arguments.
        if len(node.args) != 1 or node.kwargs:
            raise ExportError(f"{_where(node)}: unexpected arguments")
        b = {"input": node.args[0]}
    else:
        b = _bind(kind, node)
    x = [_tensor_arg(node, b["input"])]
    lit = {k: _literal(node, v, k) for k, v in b.items() if k != "input"}
    if kind == "relu6":
        return {"type": "ReLU6"}, x
    if kind == "hardtanh":
        lo, hi = float(lit["min_val"]), float(lit["max_val"])
        if (lo, hi) == (0.0, 6.0):
            return {"type": "ReLU6"}, x
        return {"type": "Hardtanh", "min_val": lo, "max_val": hi}, x
    if kind == "leaky_relu":
        return {"type": "LeakyReLU", "negative_slope": float(lit["negative_slope"])}, x
    if kind == "elu":
        return {"type": "ELU", "alpha": float(lit["alpha"])}, x
    if kind == "gelu":
        return {"type": "GELU", "approximate": str(lit["approximate"])}, x
    return {"type": {"sigmoid": "Sigmoid", "tanh": "Tanh", "silu": "SiLU", "hardswish": "Hardswish",
                     "hardsigmoid": "Hardsigmoid"}[kind]}, x


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _binary_function_layer(node, kind):
    """add/sub/mul/div of two tensors, a tensor and a Python number, or a parameter (get_attr) and a tensor."""
    if node.op == "call_method":
        if len(node.args) < 2 and "other" not in node.kwargs:
            raise ExportError(f"{_where(node)}: expected an operand")
        b = {"input": node.args[0], "other": node.args[1] if len(node.args) > 1 else node.kwargs["other"],
             "alpha": node.kwargs.get("alpha", node.args[2] if len(node.args) > 2 else 1),
             "rounding_mode": node.kwargs.get("rounding_mode")}
        if set(node.kwargs) - {"other", "alpha", "rounding_mode"}:
            raise ExportError(f"{_where(node)}: unsupported arguments {dict(node.kwargs)!r}")
    else:
        b = _bind(kind, node)
    if _literal(node, b.get("alpha", 1), "alpha") != 1:
        raise ExportError(f"{_where(node)}: {kind} with alpha != 1 is not supported")
    if _literal(node, b.get("rounding_mode"), "rounding_mode") is not None:
        raise ExportError(f"{_where(node)}: div with rounding_mode is not supported (true division only)")
    t = _BINARY_TYPES[kind]
    lhs, rhs = b["input"], b["other"]

    def is_param(v):
        return isinstance(v, torch.fx.Node) and v.op == "get_attr"

    def is_tensor(v):
        return isinstance(v, torch.fx.Node) and v.op != "get_attr" and _shape(v) is not None

    if is_tensor(lhs) and is_tensor(rhs):
        return {"type": t}, [lhs, rhs]
    if is_tensor(lhs) and _is_number(rhs):
        return {"type": t, "scalar": float(rhs)}, [lhs]
    if _is_number(lhs) and is_tensor(rhs):
        if kind in ("add", "mul"):  # IEEE + and * commute exactly
            return {"type": t, "scalar": float(lhs)}, [rhs]
        return {"type": t, "scalar": float(lhs), "scalar_first": True}, [rhs]
    if is_param(lhs) != is_param(rhs) and (is_tensor(lhs) or is_tensor(rhs)):
        p, x = (lhs, rhs) if is_param(lhs) else (rhs, lhs)
        owner, _, pname = p.target.rpartition(".")
        if not owner:
            raise ExportError(f"{_where(node)}: the parameter '{p.target}' belongs to the top module; vkconv names a "
                              "parameter layer after the submodule that owns it (move it into a submodule)")
        shape = _shape(p)
        if shape is None:
            raise ExportError(f"{_where(node)}: '{p.target}' is not a tensor")
        return {"type": t, "_name": owner, "parameter": pname, "parameter_shape": [int(d) for d in shape],
                "parameter_first": is_param(lhs)}, [x]
    raise ExportError(f"{_where(node)}: unsupported operands {lhs!r} and {rhs!r}; supported: two tensors, a tensor and a "
                      "Python number, or a parameter of a submodule and a tensor")


def _layer_norm_function_layer(node):
    b = _bind("layer_norm", node)
    x = _tensor_arg(node, b["input"])
    shape = _literal(node, b["normalized_shape"], "normalized_shape")
    shape = [int(shape)] if isinstance(shape, int) else [int(d) for d in shape]
    eps = float(_literal(node, b["eps"], "eps"))
    w, bias = b["weight"], b["bias"]
    if w is None and bias is None:
        return {"type": "LayerNorm", "normalized_shape": shape, "eps": eps, "elementwise_affine": False}, [x]
    # weight and bias of one submodule, named "weight" and "bias" (nn.LayerNorm subclasses such as
    # torchvision's LayerNorm2d): the layer takes the submodule's name, so its state_dict keys match.
    ok = (isinstance(w, torch.fx.Node) and w.op == "get_attr" and isinstance(bias, torch.fx.Node) and bias.op == "get_attr"
          and w.target.endswith(".weight") and bias.target.endswith(".bias")
          and w.target.rpartition(".")[0] == bias.target.rpartition(".")[0])
    if not ok:
        raise ExportError(f"{_where(node)}: layer_norm's weight and bias must both be None, or the 'weight' and 'bias' "
                          "parameters of one submodule")
    return {"type": "LayerNorm", "_name": w.target.rpartition(".")[0], "normalized_shape": shape, "eps": eps,
            "elementwise_affine": True}, [x]


def _adaptive_size(node, size):
    if isinstance(size, (tuple, list)) and len(size) == 2 and any(s is None for s in size):
        if not all(s is None or (isinstance(s, int) and not isinstance(s, bool)) for s in size):
            raise ExportError(f"{_where(node)}: adaptive pooling output_size must be an int or a pair, got {size!r}")
        return [None if s is None else int(s) for s in size]  # None keeps the input's size
    if not _is_pair_or_int(size):
        raise ExportError(f"{_where(node)}: adaptive pooling output_size must be an int or a pair, got {size!r}")
    return _pair_json(size)


# ---- spatial layers: ConvTranspose2d, Upsample, AdaptiveMaxPool2d, Mean/Amax over (H, W) ---------

def _spatial_module_layer(node, mod):
    """The JSON layer for a spatial module, or None for other modules."""
    t = type(mod)
    if t is nn.ConvTranspose2d:
        if mod.padding_mode != "zeros":
            raise ExportError(f"{_where(node)}: ConvTranspose2d supports only padding_mode='zeros'")
        return {"type": "ConvTranspose2d", "in_channels": mod.in_channels, "out_channels": mod.out_channels,
                "kernel_size": _pair_json(mod.kernel_size), "stride": _pair_json(mod.stride),
                "padding": _pair_json(mod.padding), "output_padding": _pair_json(mod.output_padding),
                "groups": mod.groups, "bias": mod.bias is not None, "dilation": _pair_json(mod.dilation)}
    if t in (nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d):
        return _upsample_layer(node, t.__name__, mod.size, mod.scale_factor, mod.mode, mod.align_corners,
                               mod.recompute_scale_factor)
    if t is nn.AdaptiveMaxPool2d:
        if mod.return_indices:
            raise ExportError(f"{_where(node)}: AdaptiveMaxPool2d(return_indices=True) is not supported")
        return {"type": "AdaptiveMaxPool2d", "output_size": _adaptive_size(node, mod.output_size)}
    return None


def _upsample_layer(node, type_name, size, scale_factor, mode, align_corners, recompute, antialias=False):
    if mode not in ("nearest", "bilinear"):
        raise ExportError(f"{_where(node)}: interpolation mode {mode!r} is not supported; supported: 'nearest', 'bilinear'")
    if antialias:
        raise ExportError(f"{_where(node)}: interpolate(antialias=True) is not supported")
    shape = _shape(node)
    if shape is None or len(shape) != 4:
        raise ExportError(f"{_where(node)}: only 4-D (N, C, H, W) input is supported, got output shape {shape}")
    d = {"type": type_name}
    if size is not None:
        if isinstance(size, torch.fx.Node) or (isinstance(size, (tuple, list)) and
                                               any(isinstance(e, torch.fx.Node) for e in size)):
            d["size"] = [int(shape[2]), int(shape[3])]  # computed at run time: fixed to the traced size
        elif isinstance(size, (tuple, list)):
            d["size"] = [int(e) for e in size] if len(size) == 2 else [int(size[0]), int(size[0])]
        else:
            d["size"] = int(size)
    elif scale_factor is not None:
        if isinstance(scale_factor, torch.fx.Node):
            raise ExportError(f"{_where(node)}: scale_factor must be a constant")
        if isinstance(scale_factor, (tuple, list)):
            d["scale_factor"] = [float(e) for e in scale_factor] if len(scale_factor) == 2 else [float(scale_factor[0])] * 2
        else:
            d["scale_factor"] = float(scale_factor)
    d["mode"] = mode
    if align_corners is not None:
        d["align_corners"] = bool(align_corners)
    if recompute is not None:
        d["recompute_scale_factor"] = bool(recompute)
    return d


def _conv_transpose_module_call(node, mod):
    """(layer, inputs) for a ConvTranspose2d module call, forward's output_size mapped to output_padding."""
    layer = _spatial_module_layer(node, mod)
    if not node.args:
        raise ExportError(f"{_where(node)}: a module call must take a tensor")
    x = _tensor_arg(node, node.args[0])
    extra = list(node.args[1:]) + [v for k, v in node.kwargs.items()]
    if set(node.kwargs) - {"output_size"} or len(extra) > 1:
        raise ExportError(f"{_where(node)}: ConvTranspose2d takes one tensor and an optional output_size")
    if extra and extra[0] is not None:
        # output_size (often computed, e.g. skip.size()): the traced output's size fixes output_padding.
        in_shape, out_shape = _shape(x), _shape(node)
        pad = []
        for a in range(2):
            k, s, p, d = (v[a] for v in (mod.kernel_size, mod.stride, mod.padding, mod.dilation))
            min_size = (in_shape[-2 + a] - 1) * s - 2 * p + d * (k - 1) + 1
            pad.append(int(out_shape[-2 + a] - min_size))
        layer["output_padding"] = pad
    return layer, [x]


def _is_functional_param(node):
    """A get_attr node (a parameter) used only as F.conv_transpose2d's weight or bias."""
    if node.op != "get_attr" or not node.users:
        return False
    for u in node.users:
        entry = _FUNCTIONS.get(id(u.target)) if u.op == "call_function" else None
        if not entry or entry[0] != "conv_transpose2d" or entry[1] is not u.target:
            return False
        if node is u.args[0] or node is u.kwargs.get("input"):
            return False
    return True


def _fetch_attr(gm, target):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _spatial_function_layer(node, kind, gm):
    """(layer, inputs, {state suffix: tensor}) for the spatial functional kinds, or None."""
    if kind == "conv_transpose2d":
        b = _bind("conv_transpose2d", node)
        w = b["weight"]
        if not isinstance(w, torch.fx.Node) or w.op != "get_attr":
            raise ExportError(f"{_where(node)}: conv_transpose2d's weight must be a parameter of the module")
        weight = _fetch_attr(gm, w.target).detach()
        bias = b["bias"]
        state = {"weight": weight}
        if bias is not None:
            if not isinstance(bias, torch.fx.Node) or bias.op != "get_attr":
                raise ExportError(f"{_where(node)}: conv_transpose2d's bias must be a parameter of the module or None")
            state["bias"] = _fetch_attr(gm, bias.target).detach()
        groups = int(_literal(node, b["groups"], "groups"))
        layer = {"type": "ConvTranspose2d", "in_channels": int(weight.shape[0]), "out_channels": int(weight.shape[1]) * groups,
                 "kernel_size": [int(weight.shape[2]), int(weight.shape[3])],
                 "stride": _pair_json(_literal(node, b["stride"], "stride")),
                 "padding": _pair_json(_literal(node, b["padding"], "padding")),
                 "output_padding": _pair_json(_literal(node, b["output_padding"], "output_padding")),
                 "groups": groups, "bias": bias is not None,
                 "dilation": _pair_json(_literal(node, b["dilation"], "dilation"))}
        return layer, [_tensor_arg(node, b["input"])], state
    if kind in ("interpolate", "upsample_nearest", "upsample_bilinear"):
        b = _bind(kind, node)
        if kind == "interpolate":
            mode = _literal(node, b["mode"], "mode")
            layer = _upsample_layer(node, "Upsample", b["size"], _literal(node, b["scale_factor"], "scale_factor"), mode,
                                    _literal(node, b["align_corners"], "align_corners"),
                                    _literal(node, b["recompute_scale_factor"], "recompute_scale_factor"),
                                    _literal(node, b["antialias"], "antialias"))
        else:
            bilinear = kind == "upsample_bilinear"
            layer = _upsample_layer(node, "Upsample", b["size"], _literal(node, b["scale_factor"], "scale_factor"),
                                    "bilinear" if bilinear else "nearest", True if bilinear else None, None)
        return layer, [_tensor_arg(node, b["input"])], {}
    if kind == "adaptive_max_pool2d":
        b = _bind("adaptive_max_pool2d", node)
        if _literal(node, b["return_indices"], "return_indices"):
            raise ExportError(f"{_where(node)}: adaptive_max_pool2d(return_indices=True) is not supported")
        size = _adaptive_size(node, _literal(node, b["output_size"], "output_size"))
        return {"type": "AdaptiveMaxPool2d", "output_size": size}, [_tensor_arg(node, b["input"])], {}
    if kind in ("mean", "amax"):
        b = _bind(kind, node)
        x = _tensor_arg(node, b["input"])
        dim = _literal(node, b["dim"], "dim")
        if isinstance(dim, int):
            dim = [dim]
        rank = len(_shape(x))
        wrapped = sorted(d % rank for d in dim) if dim is not None and all(isinstance(d, int) for d in dim) else None
        if wrapped != [rank - 2, rank - 1]:
            raise ExportError(f"{_where(node)}: {kind} is supported over the last two dims (H, W) only, e.g. "
                              f"x.{kind}((2, 3)), got dim={dim!r}")
        if b.get("dtype") is not None:
            raise ExportError(f"{_where(node)}: {kind}(dtype=...) is not supported")
        return ({"type": "Mean" if kind == "mean" else "Amax", "dim": [int(d) for d in dim],
                 "keepdim": bool(_literal(node, b["keepdim"], "keepdim"))}, [x], {})
    return None


# ---- tracing ----------------------------------------------------------------------------------

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


def _is_batch_size(value):
    """x.size(0), x.shape[0], x.size()[0] on any tensor."""
    if not isinstance(value, torch.fx.Node):
        return False
    if value.op == "call_method" and value.target == "size" and len(value.args) >= 2 and value.args[1] == 0:
        return True
    if value.op == "call_function" and value.target is operator.getitem and value.args[1] == 0:
        src = value.args[0]
        if isinstance(src, torch.fx.Node):
            if src.op == "call_function" and src.target is getattr and src.args[1] == "shape":
                return True
            if src.op == "call_method" and src.target == "size" and len(src.args) == 1:
                return True
    return False


def _flatten_view(node, x, sizes):
    """A view/reshape to [N, features]; returns the Flatten layer or raises."""
    in_shape, out_shape = _shape(x), _shape(node)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = list(sizes[0])
    ok_shapes = (len(in_shape) >= 2 and len(out_shape) == 2 and out_shape[0] == in_shape[0]
                 and out_shape[1] == math.prod(in_shape[1:]))
    if not ok_shapes:
        raise ExportError(f"{_where(node)}: only a view/reshape that flattens to [N, features] is supported "
                          f"(here {in_shape} -> {out_shape})")
    if len(sizes) != 2:
        raise ExportError(f"{_where(node)}: only a view/reshape to two dims [N, features] is supported, got sizes {sizes!r}")
    first, second = sizes
    # The batch dim must follow the input: -1, or x.size(0) / x.shape[0]. A literal batch size
    # would only be right for the example's batch.
    if first == -1:
        if second != out_shape[1] or isinstance(second, torch.fx.Node):
            raise ExportError(f"{_where(node)}: view(-1, {second!r}) must give the features per sample as a constant")
    elif _is_batch_size(first):
        if not (second == -1 or second == out_shape[1]):
            raise ExportError(f"{_where(node)}: unsupported view sizes {sizes!r}")
    else:
        raise ExportError(f"{_where(node)}: view/reshape hard-codes the batch size ({first!r}); write x.view(x.size(0), -1), "
                          "x.view(-1, features) or torch.flatten(x, 1)")
    return {"type": "Flatten", "start_dim": 1, "end_dim": -1}


def _function_layer(node, kind, batch):
    """(layer dict or "alias", list of tensor input nodes) for a functional node."""
    if kind == "relu":
        b = _bind("relu", node) if node.op == "call_function" else {"input": node.args[0]}
        if node.op == "call_method" and (len(node.args) > 1 or node.kwargs):
            raise ExportError(f"{_where(node)}: unexpected arguments")
        return {"type": "ReLU"}, [_tensor_arg(node, b["input"])]
    if kind == "flatten":
        b = _bind("flatten", node)
        s, e = _literal(node, b["start_dim"], "start_dim"), _literal(node, b["end_dim"], "end_dim")
        return {"type": "Flatten", "start_dim": int(s), "end_dim": int(e)}, [_tensor_arg(node, b["input"])]
    if kind == "reshape":
        x = _tensor_arg(node, node.args[0])
        sizes = list(node.args[1:])
        if node.kwargs:
            if set(node.kwargs) == {"shape"} and not sizes:
                sizes = [node.kwargs["shape"]]
            else:
                raise ExportError(f"{_where(node)}: unsupported arguments {dict(node.kwargs)!r}")
        try:
            return _flatten_view(node, x, sizes), [x]
        except ExportError:
            if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                sizes = list(sizes[0])
            first = sizes[0] if sizes else None
            # A literal batch size is right only for the example's batch (a concrete-shape trace
            # has every size literal: there -1 stands for the batch dimension, see _reshape_layer).
            if (isinstance(first, int) and first != -1 and first == batch and _shape(x)[0] == batch
                    and not getattr(node.graph, "_vkconv_concrete", False)):
                raise ExportError(f"{_where(node)}: view/reshape hard-codes the batch size ({first!r}); write "
                                  "x.view(x.size(0), ...) or x.view(-1, ...)")
            return _reshape_layer(node, x, batch), [x]
    if kind in _SHAPE_KINDS:
        return _shape_op_layer(node, kind)
    if kind == "max_pool2d":
        b = _bind("max_pool2d", node)
        if _literal(node, b["return_indices"], "return_indices"):
            raise ExportError(f"{_where(node)}: max_pool2d(return_indices=True) is not supported")
        k = _literal(node, b["kernel_size"], "kernel_size")
        s = _literal(node, b["stride"], "stride")
        if s is None or (isinstance(s, (tuple, list)) and len(s) == 0):
            s = k
        return ({"type": "MaxPool2d", "kernel_size": _pair_json(k), "stride": _pair_json(s),
                 "padding": _pair_json(_literal(node, b["padding"], "padding")),
                 "dilation": _pair_json(_literal(node, b["dilation"], "dilation")),
                 "ceil_mode": bool(_literal(node, b["ceil_mode"], "ceil_mode"))}, [_tensor_arg(node, b["input"])])
    if kind == "avg_pool2d":
        b = _bind("avg_pool2d", node)
        k = _literal(node, b["kernel_size"], "kernel_size")
        s = _literal(node, b["stride"], "stride")
        if s is None or (isinstance(s, (tuple, list)) and len(s) == 0):
            s = k
        d = {"type": "AvgPool2d", "kernel_size": _pair_json(k), "stride": _pair_json(s),
             "padding": _pair_json(_literal(node, b["padding"], "padding")),
             "ceil_mode": bool(_literal(node, b["ceil_mode"], "ceil_mode")),
             "count_include_pad": bool(_literal(node, b["count_include_pad"], "count_include_pad"))}
        div = _literal(node, b["divisor_override"], "divisor_override")
        if div is not None:
            d["divisor_override"] = int(div)
        return d, [_tensor_arg(node, b["input"])]
    if kind == "adaptive_avg_pool2d":
        b = _bind("adaptive_avg_pool2d", node)
        size = _adaptive_size(node, _literal(node, b["output_size"], "output_size"))
        return {"type": "AdaptiveAvgPool2d", "output_size": size}, [_tensor_arg(node, b["input"])]
    if kind == "dropout":
        b = _bind("dropout", node)
        if _literal(node, b["training"], "training"):
            warnings.warn(f"{_where(node)}: F.dropout with training=True drops activations even when the module is in "
                          "eval mode; exported as the identity (pass training=self.training)", stacklevel=4)
            # Verification compares with the module as if it had said training=False.
            node.args = (b["input"],)
            node.kwargs = {"p": b["p"], "training": False, "inplace": b["inplace"]}
            node.meta["vkconv_patched"] = True
        return ({"type": "Dropout", "p": float(_literal(node, b["p"], "p"))}, [_tensor_arg(node, b["input"])])
    if kind == "softmax":
        if node.op == "call_method":
            b = {"input": node.args[0], "dim": node.args[1] if len(node.args) > 1 else node.kwargs.get("dim"),
                 "dtype": node.kwargs.get("dtype", node.args[2] if len(node.args) > 2 else None)}
            if set(node.kwargs) - {"dim", "dtype"}:
                raise ExportError(f"{_where(node)}: unsupported arguments {dict(node.kwargs)!r}")
        else:
            b = _bind("softmax", node)
        dim = _literal(node, b["dim"], "dim")
        if dim is None:
            raise ExportError(f"{_where(node)}: softmax without dim (implicit dim) is not supported; give dim")
        if b["dtype"] is not None:
            raise ExportError(f"{_where(node)}: softmax(dtype=...) is not supported")
        return {"type": "Softmax", "dim": int(dim)}, [_tensor_arg(node, b["input"])]
    if kind in _ACTIVATION_FUNCTIONS:
        return _activation_function_layer(node, kind)
    if kind == "layer_norm":
        return _layer_norm_function_layer(node)
    if kind == "stochastic_depth":
        b = _bind("stochastic_depth", node)
        if _literal(node, b["training"], "training") and _literal(node, b["p"], "p") != 0:
            raise ExportError(f"{_where(node)}: stochastic_depth with training=True is random; export the module in "
                              "eval mode")
        return "alias", [_tensor_arg(node, b["input"])]
    if kind in ("add", "sub", "mul", "div"):
        return _binary_function_layer(node, kind)
    if kind == "alias":
        if len(node.args) != 1 or node.kwargs:
            raise ExportError(f"{_where(node)}: unexpected arguments")
        return "alias", [_tensor_arg(node, node.args[0])]
    raise AssertionError(kind)


# ---- shape operations (Cat, Chunk/Split, Reshape, Permute/Transpose) ----------------------------

_SHAPE_KINDS = ("cat", "chunk", "split", "piece", "permute", "transpose")


def _constant(node, value, what):
    """A constant argument; a size computed from shapes (x.size(1) // 2) is the constant it has for
    the example input (recorded by _ValueProp)."""
    if isinstance(value, torch.fx.Node):
        if "vkconv_value" in value.meta:
            return value.meta["vkconv_value"]
        return _literal(node, value, what)
    if isinstance(value, (tuple, list)):
        return type(value)(_constant(node, v, what) for v in value)
    return value


def _int_list(node, value, what):
    value = _constant(node, value, what)
    if isinstance(value, int) and not isinstance(value, bool):
        return [int(value)]
    if not isinstance(value, (tuple, list, torch.Size)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ExportError(f"{_where(node)}: argument '{what}' must be an int or a list of ints, got {value!r}")
    return [int(v) for v in value]


def _reshape_layer(node, x, batch):
    """Any view/reshape: its shape as traced, with -1 for a batch dimension that stays first."""
    in_shape, out_shape = _shape(x), _shape(node)
    shape = [int(d) for d in out_shape]
    if shape and in_shape and shape[0] == batch and in_shape[0] == batch and -1 not in shape:
        shape[0] = -1
    return {"type": "Reshape", "shape": shape}


def _pieces(node):
    """(layer fields without 'index', input node) of a chunk/split node."""
    kind = _function_kind(node)
    if kind == "chunk":
        if node.op == "call_method":
            args = list(node.args)
            b = {"input": args[0], "chunks": args[1] if len(args) > 1 else node.kwargs.get("chunks", _NO_DEFAULT),
                 "dim": args[2] if len(args) > 2 else node.kwargs.get("dim", 0)}
            if b["chunks"] is _NO_DEFAULT:
                raise ExportError(f"{_where(node)}: argument 'chunks' is required")
        else:
            b = _bind("chunk", node)
        return ({"type": "Chunk", "chunks": int(_constant(node, b["chunks"], "chunks")), "dim": int(_constant(node, b["dim"], "dim"))},
                _tensor_arg(node, b["input"]))
    if node.op == "call_method":
        args = list(node.args)
        b = {"tensor": args[0],
             "split_size_or_sections": args[1] if len(args) > 1 else node.kwargs.get("split_size", _NO_DEFAULT),
             "dim": args[2] if len(args) > 2 else node.kwargs.get("dim", 0)}
        if b["split_size_or_sections"] is _NO_DEFAULT:
            raise ExportError(f"{_where(node)}: argument 'split_size' is required")
    else:
        b = _bind("split", node)
    size = _constant(node, b["split_size_or_sections"], "split_size_or_sections")
    size = int(size) if isinstance(size, int) else _int_list(node, size, "split_size_or_sections")
    return ({"type": "Split", "split_size": size, "dim": int(_constant(node, b["dim"], "dim"))}, _tensor_arg(node, b["tensor"]))


def _shape_op_layer(node, kind):
    """(layer dict, or ("pieces",) for a chunk/split whose pieces are layers, input nodes)."""
    if kind == "cat":
        b = _bind("cat", node)
        tensors = b["tensors"]
        if not isinstance(tensors, (tuple, list)) or not tensors:
            raise ExportError(f"{_where(node)}: torch.cat needs a list of tensors, got {tensors!r}")
        return ({"type": "Cat", "dim": int(_constant(node, b["dim"], "dim"))},
                [_tensor_arg(node, t, f"tensor {i} of the list") for i, t in enumerate(tensors)])
    if kind in ("chunk", "split"):
        fields, x = _pieces(node)
        return ("pieces",), [x]
    if kind == "piece":
        src, index = node.args[0], _constant(node, node.args[1], "index")
        if not (isinstance(src, torch.fx.Node) and src.op in ("call_function", "call_method")
                and _function_kind_or_none(src) in ("chunk", "split")):
            raise ExportError(f"{_where(node)}: indexing or slicing a tensor is not supported (only the pieces of "
                              "chunk/split)")
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExportError(f"{_where(node)}: a piece of chunk/split must be taken by an int index, got {index!r}")
        fields, x = _pieces(src)
        count = len(src.meta["vkconv_value"]) if "vkconv_value" in src.meta else None
        if count is None:
            tm = src.meta.get("tensor_meta")
            count = len(tm) if isinstance(tm, (tuple, list)) else None
        if count is not None and index < 0:
            index += count
        return {**fields, "index": int(index)}, [x]
    if kind == "permute":
        if node.op == "call_method":
            dims = node.args[1:] if len(node.args) > 2 else node.args[1] if len(node.args) == 2 else node.kwargs.get("dims")
            x = node.args[0]
        else:
            b = _bind("permute", node)
            dims, x = b["dims"], b["input"]
        return {"type": "Permute", "dims": _int_list(node, dims, "dims")}, [_tensor_arg(node, x)]
    if kind == "transpose":
        if node.op == "call_method":
            args = list(node.args) + [node.kwargs.get(k) for k in ("dim0", "dim1") if k in node.kwargs]
            if len(args) != 3:
                raise ExportError(f"{_where(node)}: transpose needs dim0 and dim1")
            x, d0, d1 = args
        else:
            b = _bind("transpose", node)
            x, d0, d1 = b["input"], b["dim0"], b["dim1"]
        return ({"type": "Transpose", "dim0": int(_constant(node, d0, "dim0")), "dim1": int(_constant(node, d1, "dim1"))},
                [_tensor_arg(node, x)])
    raise AssertionError(kind)


def _function_kind_or_none(n):
    try:
        return _function_kind(n)
    except ExportError:
        return None


def _is_size_node(node):
    """Nodes computing Python values (sizes) rather than tensors: x.size(0), x.shape, x.shape[0]."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and id(node.target) in _SIZE_FUNCTIONS:
        return _shape(node) is None and not _holds_tensors(node)
    return False


def _holds_tensors(node):
    tm = node.meta.get("tensor_meta")
    return isinstance(tm, (tuple, list)) and len(tm) > 0


_SUPPORTED_MODULES = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d, nn.Linear,
                      nn.Flatten, nn.Dropout, nn.Softmax, nn.Identity, nn.LayerNorm) + _ACTIVATION_MODULES
_SUPPORTED_MODULES += (nn.ConvTranspose2d, nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d,
                       nn.AdaptiveMaxPool2d)


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


def _is_inplace(node, gm):
    """Whether the node overwrites its first tensor argument (inplace=True, x.add_(...), F.relu_, ...)."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.startswith("__")
    if node.op == "call_function":
        if node.target in (operator.iadd, operator.isub, operator.imul, operator.itruediv):
            return True
        if node.kwargs.get("inplace") is True:
            return True
        return getattr(node.target, "__name__", "").endswith("_")
    return False


def _eliminate_dead_code(gm):
    """fx's eliminate_dead_code, keeping in-place calls whose result is unused (`y.sigmoid_()` changes y)."""
    changed = True
    while changed:
        changed = False
        for node in reversed(list(gm.graph.nodes)):
            if node.op in ("placeholder", "output") or node.users or _is_inplace(node, gm):
                continue
            gm.graph.erase_node(node)
            changed = True


def _check_parameter_use(n):
    """A parameter used directly in forward() (get_attr) must feed add/sub/mul/div or layer_norm only."""
    for u in n.users:
        kind = None
        if u.op in ("call_function", "call_method"):
            try:
                kind = _function_kind(u)
            except ExportError:
                pass
        if kind not in ("add", "sub", "mul", "div", "layer_norm"):
            raise ExportError(f"node '{n.name}' (get_attr '{n.target}'): a parameter or buffer used directly in forward() "
                              f"is supported only as an operand of add/sub/mul/div or as layer_norm's weight/bias; "
                              f"here it feeds {_where(u)}")


def _check_supported(gm):
    """Refuses unsupported operations before anything runs (their errors are clearer than a failed run)."""
    for n in gm.graph.nodes:
        if _is_functional_param(n):
            continue
        if n.op == "get_attr":
            _check_parameter_use(n)
            continue
        if n.op == "call_module":
            mod = gm.get_submodule(n.target)
            if type(mod) not in _SUPPORTED_MODULES and not _is_stochastic_depth(mod):
                _module_layer(n, mod)  # raises with the list of supported modules
        elif n.op == "call_method" and n.target in ("size", "dim"):
            continue
        elif n.op == "call_function" and id(n.target) in _SIZE_FUNCTIONS:
            continue  # x.shape[0]; a getitem that slices a tensor is refused once shapes are known
        elif n.op in ("call_function", "call_method"):
            _function_kind(n)


def describe(module, example_input, name=None):
    """Traces `module` and returns (description dict, ordered state_dict to save).

    Raises ExportError for anything vkconv cannot run."""
    desc, state, _ = _describe(module, example_input, name)
    return desc, state


def _describe(module, example_input, name):
    if not isinstance(module, nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point():
        raise ExportError("example_input must be a floating-point torch.Tensor")
    if example_input.dim() < 2:
        raise ExportError(f"example_input must have a batch dimension (e.g. [N, C, H, W]), got shape "
                          f"{list(example_input.shape)}")
    module = module.eval()
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # sizes used as Python values, control flow on tensor values, ...
        try:
            gm = _concrete_trace(module, example_input.float())
        except Exception as e2:
            raise ExportError(f"torch.fx.symbolic_trace failed on {type(module).__name__}: {type(e).__name__}: {e}; "
                              f"the concrete-shape trace failed too: {type(e2).__name__}: {e2}") from e2
    _eliminate_dead_code(gm)
    gm.recompile()
    _check_supported(gm)
    with torch.no_grad():
        try:
            _ValueProp(gm).propagate(example_input.float())
        except Exception as e:
            raise ExportError(f"running the traced {type(module).__name__} on an input of shape "
                              f"{list(example_input.shape)} failed: {type(e).__name__}: {e}") from e
    batch = example_input.shape[0]
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ExportError(f"the model must take exactly one input tensor; forward() takes {len(placeholders)}")

    # Reserve the names of module calls (they must match the state_dict), then name the rest.
    used = {"input"}
    module_calls = {}
    for n in nodes:
        if n.op == "call_module":
            module_calls.setdefault(n.target, []).append(n)
    for target in module_calls:
        if target == "input":
            raise ExportError(f"a submodule named 'input' clashes with vkconv's name for the model input")
        used.add(target)

    def unique(base):
        base = base.strip(".") or "layer"
        cand, k = base, 1
        while cand in used:
            cand = f"{base}_{k}"
            k += 1
        used.add(cand)
        return cand

    call_index = {}
    functional_state = {}     # "<layer>.weight" -> tensor, for F.conv_transpose2d's parameters
    functional_params = set()  # their targets in the module's state_dict (exported under the layer's name)
    outputs = None  # forward() returning a dict/tuple/list: [{"name", "layer"}]
    value_of = {placeholders[0]: "input"}  # fx node -> vkconv layer name whose output it is
    layers = []
    used_modules = set()
    last = "input"
    for n in nodes:
        if n.op == "placeholder":
            continue
        if n.op == "output":
            out = n.args[0]
            if isinstance(out, torch.fx.Node) and value_of.get(out) == ("pieces",):
                # forward() returns chunk/split's tuple itself: one layer per piece.
                fields, x = _pieces(out)
                outputs = []
                for i in range(len(out.meta["vkconv_value"])):
                    lname = unique(f"{out.name}_{i}")
                    layers.append({"name": lname, "type": fields["type"], "inputs": [value_of[x]], "functional": True,
                                   **{k: v for k, v in fields.items() if k != "type"}, "index": i})
                    outputs.append({"name": str(i), "layer": lname})
                continue
            if isinstance(out, (dict, tuple, list)) and out:
                named = list(out.items()) if isinstance(out, dict) else [(str(i), o) for i, o in enumerate(out)]
                outputs = []
                for key, o in named:
                    if not isinstance(o, torch.fx.Node) or o not in value_of or isinstance(value_of[o], tuple):
                        raise ExportError(f"forward() returns {key!r}: {o!r}, which is not a tensor vkconv computes")
                    if value_of[o] == "input":
                        raise ExportError(f"forward() returns its input unchanged as {key!r}")
                    outputs.append({"name": str(key), "layer": value_of[o]})
                continue
            if not isinstance(out, torch.fx.Node):
                raise ExportError(f"forward() must return a tensor, or a dict, tuple or list of tensors, got "
                                  f"{type(out).__name__} {out!r}")
            if out not in value_of:
                raise ExportError(f"forward() returns node '{out.name}', which is not a tensor vkconv computes")
            if value_of[out] == "input":
                raise ExportError("forward() returns its input unchanged; there is nothing to export")
            if value_of[out] != last:
                raise ExportError(f"forward() returns the output of layer '{value_of[out]}', but layer '{last}' is "
                                  "computed after it; vkconv's model output is its last layer")
            continue
        if _is_functional_param(n):
            functional_params.add(n.target)
            continue
        if n.op == "get_attr":
            continue  # an operand of the layer that reads it (checked by _check_supported)
        if _is_size_node(n):
            continue
        if n.op == "call_module":
            mod = gm.get_submodule(n.target)
            if type(mod) is nn.ConvTranspose2d:
                layer, inputs = _conv_transpose_module_call(n, mod)
            else:
                layer = _module_layer(n, mod)
                inputs = [_tensor_arg(n, a) for a in n.args]
                if len(inputs) != 1 or n.kwargs:
                    raise ExportError(f"{_where(n)}: a module call must take exactly one tensor")
            k = call_index.get(n.target, 0)
            call_index[n.target] = k + 1
            has_state = any(True for _ in mod.parameters(recurse=False)) or any(True for _ in mod.buffers(recurse=False))
            if k > 0 and has_state:
                raise ExportError(f"{_where(n)}: module '{n.target}' is called more than once; vkconv layers do not "
                                  "share weights (use a separate module for each call)")
            lname = n.target if k == 0 else unique(f"{n.target}_{k}")
            functional = k > 0  # a second call is not another submodule: print(model) shows it once
            used_modules.add(n.target)
        elif n.op in ("call_function", "call_method"):
            kind = _function_kind(n)
            spatial = _spatial_function_layer(n, kind, gm)
            if spatial is not None:
                layer, inputs, own_state = spatial
                lname = unique(n.name)
                for suffix, tensor in own_state.items():
                    functional_state[f"{lname}.{suffix}"] = tensor
            else:
                layer, inputs = _function_layer(n, kind, batch)
                lname = None if layer in ("alias", ("pieces",)) else unique(n.name)
            if isinstance(layer, dict) and "_name" in layer:
                # A layer holding a submodule's parameters takes the submodule's name (state_dict keys).
                used.discard(lname)
                lname = layer.pop("_name")
                if lname in used:
                    raise ExportError(f"{_where(n)}: the parameters of '{lname}' are used by more than one operation "
                                      "(or the name is taken); vkconv layers do not share weights")
                used.add(lname)
                used_modules.add(lname)
            functional = True
        else:
            raise ExportError(f"node '{n.name}': unsupported fx op '{n.op}'")

        for i in inputs:
            if i not in value_of:
                raise ExportError(f"{_where(n)}: its input '{i.name}' is not a tensor vkconv computes")
        if layer == "alias":
            value_of[n] = value_of[inputs[0]]
            continue
        if layer == ("pieces",):
            value_of[n] = ("pieces",)  # a tuple: each piece used becomes a Chunk/Split layer
            continue
        in_names = [value_of[i] for i in inputs]
        entry = {"name": lname, "type": layer["type"]}
        if len(in_names) != 1 or in_names != [last]:
            entry["inputs"] = in_names
        if functional:
            entry["functional"] = True
        entry.update({k: v for k, v in layer.items() if k != "type"})
        if _shape(n) is None:
            raise ExportError(f"{_where(n)}: does not produce a tensor")
        layers.append(entry)
        value_of[n] = lname
        last = lname
        if _is_inplace(n, gm):
            # PyTorch's in-place op overwrote its input: later readers of that tensor see this output.
            value_of[inputs[0]] = lname

    if not layers:
        raise ExportError("the model has no layers")
    # The first layer reading the model input needs no "inputs"; others name it.
    if layers[0].get("inputs") == ["input"]:
        del layers[0]["inputs"]

    # The state_dict, restricted to the modules forward() calls.
    sd = module.state_dict()
    keep = {}
    dropped = []
    for key, value in sd.items():
        owner = key.rsplit(".", 1)[0] if "." in key else ""
        if owner in used_modules:
            keep[key] = value
        elif key not in functional_params:
            dropped.append(key)
    keep.update(functional_state)
    if dropped:
        warnings.warn("state_dict entries of modules forward() never calls are not exported: " + ", ".join(dropped),
                      stacklevel=2)

    desc = {"format": "vkconv-model", "version": 1, "name": name or type(module).__name__,
            "input_shape": [int(d) for d in example_input.shape[1:]], "layers": layers}
    if outputs is not None:
        desc["outputs"] = outputs
    # What the export is verified against: the module itself, unless F.dropout(training=True)
    # calls were read as the identity (then the trace with those calls made deterministic).
    reference = module
    if any(n.meta.get("vkconv_patched") for n in gm.graph.nodes):
        gm.recompile()
        reference = gm.eval()
    return desc, keep, reference


class _ValueProp(ShapeProp):
    """ShapeProp that also keeps every non-tensor value (sizes and arithmetic on them) as
    node.meta["vkconv_value"], so that they can be read as constants."""

    def run_node(self, n):
        result = super().run_node(n)
        if not isinstance(result, torch.Tensor) and not (isinstance(result, (tuple, list)) and
                                                         any(isinstance(r, torch.Tensor) for r in result)):
            n.meta["vkconv_value"] = result
        elif isinstance(result, (tuple, list)):
            n.meta["vkconv_value"] = tuple(None for _ in result)  # only the count is kept
        return result


_MODULE_CALL, _MODULE_GETATTR = torch.nn.Module.__call__, torch.nn.Module.__getattr__


class _ConcreteTracer(torch.fx.Tracer):
    """torch.fx tracing with the module running eagerly on a real input alongside: each proxy
    carries its real value, and whatever is not a tensor (x.size(), x.shape[i], x.dim(), and
    arithmetic on them) is returned as that concrete value instead of a proxy."""

    def __init__(self, example_input):
        super().__init__()
        self.example_input = example_input
        self.values = {}

    def _real(self, a):
        if isinstance(a, torch.fx.Proxy):
            return self.values[a.node]
        if isinstance(a, (tuple, list)):
            return type(a)(self._real(v) for v in a)
        if isinstance(a, dict):
            return {k: self._real(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self._real(a.start), self._real(a.stop), self._real(a.step))
        return a

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        if kind == "placeholder":
            value = self.example_input
        elif kind == "output":
            value = None
        else:
            rargs, rkwargs = self._real(args), self._real(kwargs)
            # Eagerly, with nn.Module's own __call__/__getattr__ (tracing patches them).
            patched = torch.nn.Module.__call__, torch.nn.Module.__getattr__
            torch.nn.Module.__call__, torch.nn.Module.__getattr__ = _MODULE_CALL, _MODULE_GETATTR
            try:
                if kind == "call_module":
                    value = self.root.get_submodule(target)(*rargs, **rkwargs)
                elif kind == "call_function":
                    value = target(*rargs, **rkwargs)
                elif kind == "call_method":
                    value = getattr(rargs[0], target)(*rargs[1:], **rkwargs)
                else:  # get_attr
                    value = self.root
                    for part in target.split("."):
                        value = getattr(value, part)
            finally:
                torch.nn.Module.__call__, torch.nn.Module.__getattr__ = patched

            def holds_tensor(v):
                return isinstance(v, torch.Tensor) or (isinstance(v, (tuple, list)) and any(holds_tensor(e) for e in v)) \
                    or (isinstance(v, dict) and any(holds_tensor(e) for e in v.values()))
            # A size is a constant for this input; getattr stays a proxy (x.shape is read lazily
            # through Attribute.node) and its uses become constants.
            if kind in ("call_function", "call_method") and not holds_tensor(value) and target is not getattr:
                return value
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        self.values[proxy.node] = value
        return proxy

    def proxy(self, node):
        return _ConcreteProxy(node, self)


class _ConcreteProxy(torch.fx.Proxy):
    def __iter__(self):
        # Unpacking a tuple of tensors (x1, x2 = x.chunk(2, 1)): as many pieces as it has
        # (torch.fx's own bytecode inspection fails on Python 3.11).
        value = self.tracer.values.get(self.node)
        if isinstance(value, (tuple, list)):
            return iter([self[i] for i in range(len(value))])
        return super().__iter__()


def _concrete_trace(module, example_input):
    tracer = _ConcreteTracer(example_input)
    with torch.no_grad():
        graph = tracer.trace(module)
    gm = torch.fx.GraphModule(tracer.root, graph, type(module).__name__)
    gm.graph._vkconv_concrete = True
    return gm


# ---- verification -----------------------------------------------------------------------------

def _pair(v):
    return tuple(v) if isinstance(v, list) else v


class _BinaryOp(nn.Module):
    """Add/Sub/Mul/Div as described: two tensors, a tensor and a scalar, or a parameter and a tensor."""

    _OPS = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.truediv}

    def __init__(self, t, a):
        super().__init__()
        self.op = self._OPS[t]
        self.scalar = a.get("scalar")
        self.scalar_first = a.get("scalar_first", False)
        self.pname = a.get("parameter")
        self.pfirst = a.get("parameter_first", True)
        if self.pname is not None:
            self.register_parameter(self.pname, nn.Parameter(torch.ones(a["parameter_shape"])))

    def forward(self, x, y=None):
        if y is not None:
            return self.op(x, y)
        if self.pname is not None:
            p = getattr(self, self.pname)
            return self.op(p, x) if self.pfirst else self.op(x, p)
        return self.op(self.scalar, x) if self.scalar_first else self.op(x, self.scalar)


class _Described(nn.Module):
    """The described model rebuilt in PyTorch from the JSON alone (for verification)."""

    def __init__(self, desc):
        super().__init__()
        self.order = []
        self.mods = nn.ModuleDict()
        self.names = {}
        for i, l in enumerate(desc["layers"]):
            a = {k: v for k, v in l.items() if k not in ("name", "type", "inputs")}
            t = l["type"]
            if t == "Conv2d":
                p = a.get("padding", 0)
                m = nn.Conv2d(a["in_channels"], a["out_channels"], _pair(a["kernel_size"]), stride=_pair(a.get("stride", 1)),
                              padding=p if isinstance(p, str) else _pair(p), dilation=_pair(a.get("dilation", 1)),
                              groups=a.get("groups", 1), bias=a.get("bias", True), padding_mode=a.get("padding_mode", "zeros"))
            elif t == "ReLU":
                m = nn.ReLU()
            elif t == "MaxPool2d":
                m = nn.MaxPool2d(_pair(a["kernel_size"]), _pair(a.get("stride")), _pair(a.get("padding", 0)),
                                 _pair(a.get("dilation", 1)), ceil_mode=a.get("ceil_mode", False))
            elif t == "AvgPool2d":
                m = nn.AvgPool2d(_pair(a["kernel_size"]), _pair(a.get("stride")), _pair(a.get("padding", 0)),
                                 ceil_mode=a.get("ceil_mode", False), count_include_pad=a.get("count_include_pad", True),
                                 divisor_override=a.get("divisor_override"))
            elif t == "AdaptiveAvgPool2d":
                m = nn.AdaptiveAvgPool2d(_pair(a["output_size"]))
            elif t == "BatchNorm2d":
                m = nn.BatchNorm2d(a["num_features"], eps=a.get("eps", 1e-5), momentum=a.get("momentum", 0.1),
                                   affine=a.get("affine", True), track_running_stats=a.get("track_running_stats", True))
            elif t == "Linear":
                m = nn.Linear(a["in_features"], a["out_features"], bias=a.get("bias", True))
            elif t == "Flatten":
                m = nn.Flatten(a.get("start_dim", 1), a.get("end_dim", -1))
            elif t == "Dropout":
                m = nn.Dropout(a.get("p", 0.5))
            elif t == "Softmax":
                m = nn.Softmax(a["dim"])
            elif t in ("Add", "Sub", "Mul", "Div"):
                m = None if t == "Add" and "scalar" not in a and "parameter" not in a else _BinaryOp(t, a)
            elif t == "LayerNorm":
                m = nn.LayerNorm(tuple(a["normalized_shape"]), eps=a.get("eps", 1e-5),
                                 elementwise_affine=a.get("elementwise_affine", True))
            elif t == "PReLU":
                m = nn.PReLU(a.get("num_parameters", 1))
            elif t in ("ReLU6", "Sigmoid", "Tanh", "SiLU", "Hardswish", "Hardsigmoid"):
                m = getattr(nn, t)()
            elif t == "Hardtanh":
                m = nn.Hardtanh(a.get("min_val", -1.0), a.get("max_val", 1.0))
            elif t == "LeakyReLU":
                m = nn.LeakyReLU(a.get("negative_slope", 0.01))
            elif t == "ELU":
                m = nn.ELU(a.get("alpha", 1.0))
            elif t == "GELU":
                m = nn.GELU(approximate=a.get("approximate", "none"))
            elif t in _DESCRIBED_SHAPE_OPS:
                m = _DescribedShapeOp(t, a)
            else:
                m = _spatial_module(t, a)
            prev = desc["layers"][i - 1]["name"] if i else "input"
            key = f"m{i}"
            if m is not None:
                self.mods[key] = m
            self.order.append((l["name"], key, l["type"], l.get("inputs", [prev])))
        self.outputs = desc.get("outputs")

    def load(self, state):
        for lname, key, _, _ in self.order:
            if key not in self.mods:
                continue
            m = self.mods[key]
            # The layer's own entries: "<name>.<param>" (a layer named after a submodule that owns a
            # parameter, e.g. ConvNeXt's "features.1.0" for layer_scale, shares the prefix with others).
            own = {k[len(lname) + 1:]: v for k, v in state.items()
                   if k.startswith(lname + ".") and "." not in k[len(lname) + 1:]}
            m.load_state_dict(own, strict=True)

    def forward(self, x):
        values = {"input": x}
        for lname, key, t, inputs in self.order:
            ins = [values[i] for i in inputs]
            values[lname] = ins[0] + ins[1] if key not in self.mods else self.mods[key](*ins)
        if self.outputs is not None:
            return {o["name"]: values[o["layer"]] for o in self.outputs}
        return values[self.order[-1][0]]


class _ReduceHW(nn.Module):
    """x.mean(dim, keepdim) / x.amax(dim, keepdim), for the rebuilt model."""

    def __init__(self, kind, dim, keepdim):
        super().__init__()
        self.kind, self.dim, self.keepdim = kind, tuple(dim), keepdim

    def forward(self, x):
        return (torch.mean if self.kind == "Mean" else torch.amax)(x, self.dim, keepdim=self.keepdim)


def _spatial_module(t, a):
    if t == "ConvTranspose2d":
        return nn.ConvTranspose2d(a["in_channels"], a["out_channels"], _pair(a["kernel_size"]), stride=_pair(a.get("stride", 1)),
                                  padding=_pair(a.get("padding", 0)), output_padding=_pair(a.get("output_padding", 0)),
                                  groups=a.get("groups", 1), bias=a.get("bias", True), dilation=_pair(a.get("dilation", 1)))
    if t in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):
        size, sf = a.get("size"), a.get("scale_factor")
        return nn.Upsample(size=_pair(size) if size is not None else None,
                           scale_factor=tuple(sf) if isinstance(sf, list) else sf,
                           mode=a.get("mode", "bilinear" if t == "UpsamplingBilinear2d" else "nearest"),
                           align_corners=a.get("align_corners", True if t == "UpsamplingBilinear2d" else None),
                           recompute_scale_factor=a.get("recompute_scale_factor"))
    if t == "AdaptiveMaxPool2d":
        return nn.AdaptiveMaxPool2d(_pair(a["output_size"]))
    if t in ("Mean", "Amax"):
        return _ReduceHW(t, a.get("dim", [2, 3]), a.get("keepdim", False))
    raise AssertionError(t)


_DESCRIBED_SHAPE_OPS = ("Cat", "Chunk", "Split", "Reshape", "Permute", "Transpose")


class _DescribedShapeOp(nn.Module):
    """Cat, Chunk, Split, Reshape, Permute, Transpose as PyTorch computes them."""

    def __init__(self, t, a):
        super().__init__()
        self.t, self.a = t, a

    def forward(self, *xs):
        t, a = self.t, self.a
        if t == "Cat":
            return torch.cat(xs, a.get("dim", 0))
        x = xs[0]
        if t == "Chunk":
            return x.chunk(a["chunks"], a.get("dim", 0))[a["index"]]
        if t == "Split":
            return torch.split(x, a["split_size"], a.get("dim", 0))[a["index"]]
        if t == "Reshape":
            return x.reshape(a["shape"])
        if t == "Permute":
            return x.permute(a["dims"]).contiguous()
        return x.transpose(a["dim0"], a["dim1"]).contiguous()


def _as_outputs(y):
    """A module's result as [(name, tensor)]: a dict's items, a tuple's by position."""
    if isinstance(y, dict):
        return [(str(k), v) for k, v in y.items()]
    if isinstance(y, (tuple, list)):
        return [(str(i), v) for i, v in enumerate(y)]
    return [("output", y)]


def build_from_description(desc, state=None):
    """A torch module computing what `desc` describes (eval mode), with `state` loaded if given."""
    m = _Described(desc)
    if state is not None:
        m.load(state)
    return m.eval()


def _verify(module, desc, state, example_input):
    try:
        rebuilt = build_from_description(desc, state)
    except Exception as e:
        raise ExportError(f"internal error: the exported description does not rebuild in PyTorch: {e}") from e
    inputs = [example_input]
    bigger = torch.cat([example_input, example_input[:1] * 0.5 + 0.25])
    with torch.no_grad():
        try:
            module(bigger)
            inputs.append(bigger)  # also a batch one larger, when the module itself takes it
        except Exception:
            pass
        for x in inputs:
            want = module(x)
            try:
                got = rebuilt(x)
            except Exception as e:
                raise ExportError(f"the exported model fails on an input of shape {list(x.shape)} on which the module "
                                  f"runs: {type(e).__name__}: {e}") from e
            got_all, want_all = _as_outputs(got), _as_outputs(want)
            if [k for k, _ in got_all] != [k for k, _ in want_all] and len(want_all) > 1:
                raise ExportError(f"the exported model returns {[k for k, _ in got_all]}, the module {[k for k, _ in want_all]}")
            for (key, got), (_, want) in zip(got_all, want_all):
                if got.shape != want.shape:
                    raise ExportError(f"the exported model gives shape {list(got.shape)} for an input of shape "
                                      f"{list(x.shape)}, the module {list(want.shape)} (output {key!r})")
                scale = max(float(want.abs().max()), 1e-30)
                err = float((got - want).abs().max())
                if not err <= 1e-5 * scale + 1e-7:
                    raise ExportError(f"the exported model does not compute what the module does on an input of shape "
                                      f"{list(x.shape)}: max |difference| {err:.3g} (output {key!r} scale {scale:.3g}); "
                                      "forward() may use something the trace does not capture")


# ---- writing ------------------------------------------------------------------------------------

_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} as .safetensors: u64 LE header length, JSON header padded with spaces
    to a multiple of 8 bytes, then the raw little-endian data in the header's order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        if key == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise ValueError(f"tensor '{key}' has unsupported dtype {t.dtype}")
        if t.dtype == torch.bfloat16:
            data = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _json_text(desc):
    head = {k: v for k, v in desc.items() if k not in ("layers", "outputs")}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "layers": [')
    for i, l in enumerate(desc["layers"]):
        lines.append("    " + json.dumps(l) + ("," if i + 1 < len(desc["layers"]) else ""))
    lines.append("  ]" + ("," if "outputs" in desc else ""))
    if "outputs" in desc:
        lines.append(f'  "outputs": {json.dumps(desc["outputs"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def export(module, example_input, json_path, safetensors_path, name=None, verify=True):
    """Writes the vkconv JSON description of `module` to json_path and its state_dict (the entries
    of the modules forward() uses) to safetensors_path. `example_input` is one batch ([N, ...]);
    `name` defaults to the module's class name (the title of vkconv's printed summary).
    The module is put in eval mode. Returns the description (a dict). Raises ExportError when the
    module cannot be exported."""
    desc, state, reference = _describe(module, example_input, name)
    if verify:
        _verify(reference, desc, state, example_input)
    if json_path:
        with open(json_path, "w") as f:
            f.write(_json_text(desc))
    if safetensors_path:
        save_safetensors(state, safetensors_path, metadata={"format": "pt"})
    return desc


def export_onnx(module, example_input, path, opset=17):
    """Writes `module` (put in eval mode) to `path` with torch.onnx.export at `opset`, with the
    batch dimension symbolic ("N"): input "input"; outputs "output", or a dict's keys, or "0",
    "1", ... for a tuple or list. Returns the output names."""
    module.eval()
    with torch.no_grad():
        y = module(example_input)
    if isinstance(y, dict):
        names = [str(k) for k in y.keys()]
    elif isinstance(y, (tuple, list)):
        names = [str(i) for i in range(len(y))]
    else:
        names = ["output"]
    with warnings.catch_warnings():
        # torch.onnx's tracer warns about every Python-level size computation (x.size(), view(b, -1)),
        # which vkconv's loader folds to constants.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, example_input, path, opset_version=opset, input_names=["input"], output_names=names,
                          dynamic_axes={"input": {0: "N"}, **{n: {0: "N"} for n in names}})
    return names


# ---- command line -------------------------------------------------------------------------------

def _load_class(spec):
    if ":" not in spec:
        raise SystemExit(f"--module must be package.module:ClassName, got {spec!r}")
    mod_name, cls_name = spec.split(":", 1)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    mod = importlib.import_module(mod_name)
    obj = mod
    for part in cls_name.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a torch.nn.Module to a vkconv JSON model + safetensors weights, "
                                             "or to an ONNX file (--onnx).")
    ap.add_argument("--module", required=True, help="package.module:ClassName (constructed with no arguments)")
    ap.add_argument("--input-shape", required=True, help="example input shape with batch, e.g. 1,3,32,32")
    ap.add_argument("--json", help="output model description (.json); with --weights")
    ap.add_argument("--weights", help="output weights (.safetensors); with --json")
    ap.add_argument("--onnx", help="output ONNX file (torch.onnx.export, eval mode, symbolic batch)")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset for --onnx (default 17; vkconv reads 6 to 17)")
    ap.add_argument("--state-dict", help="a state_dict saved with torch.save, loaded before export")
    ap.add_argument("--name", help="model name (default: the class name)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the random example input")
    args = ap.parse_args(argv)
    if (args.json is None) != (args.weights is None):
        ap.error("--json and --weights go together")
    if args.json is None and args.onnx is None:
        ap.error("nothing to write: give --json and --weights, or --onnx")
    try:
        shape = [int(s) for s in args.input_shape.replace("x", ",").split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--input-shape must be comma-separated integers, got {args.input_shape!r}")
    cls = _load_class(args.module)
    model = cls()
    if args.state_dict:
        sd = torch.load(args.state_dict, map_location="cpu")
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        model.load_state_dict(sd)
    torch.manual_seed(args.seed)
    x = torch.randn(*shape)
    if args.json is not None:
        try:
            desc = export(model, x, args.json, args.weights, name=args.name)
        except ExportError as e:
            print(f"export_model.py: error: {e}", file=sys.stderr)
            return 1
        print(f"wrote {args.json} ({len(desc['layers'])} layers) and {args.weights}")
    if args.onnx is not None:
        names = export_onnx(model, x, args.onnx, args.opset)
        print(f"wrote {args.onnx} (opset {args.opset}, outputs {', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
