"""The JSON layers of call_module nodes (nn.Conv2d, nn.ReLU, ..., the activation and spatial
modules), and the module types the exporter supports."""
import torch
import torch.fx
import torch.nn as nn

from .nodes import ExportError, _is_pair_or_int, _pair_json, _shape, _tensor_arg, _where


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


def _adaptive_size(node, size):
    if isinstance(size, (tuple, list)) and len(size) == 2 and any(s is None for s in size):
        if not all(s is None or (isinstance(s, int) and not isinstance(s, bool)) for s in size):
            raise ExportError(f"{_where(node)}: adaptive pooling output_size must be an int or a pair, got {size!r}")
        return [None if s is None else int(s) for s in size]  # None keeps the input's size
    if not _is_pair_or_int(size):
        raise ExportError(f"{_where(node)}: adaptive pooling output_size must be an int or a pair, got {size!r}")
    return _pair_json(size)


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


_SUPPORTED_MODULES = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d, nn.Linear,
                      nn.Flatten, nn.Dropout, nn.Softmax, nn.Identity, nn.LayerNorm) + _ACTIVATION_MODULES
_SUPPORTED_MODULES += (nn.ConvTranspose2d, nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d,
                       nn.AdaptiveMaxPool2d)
