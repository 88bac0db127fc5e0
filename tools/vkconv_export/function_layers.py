"""The JSON layers of call_function / call_method nodes: relu, flatten and views, pooling,
dropout, softmax, the activations, add/sub/mul/div, layer_norm and the spatial functions
(conv_transpose2d, interpolate, adaptive_max_pool2d, mean/amax over (H, W))."""
import math
import operator
import warnings

import torch
import torch.fx

from .module_layers import _adaptive_size, _upsample_layer
from .nodes import (_FUNCTIONS, ExportError, _bind, _is_number, _literal, _pair_json, _shape, _tensor_arg,
                    _where)
from .shape_ops import _SHAPE_KINDS, _reshape_layer, _shape_op_layer


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
