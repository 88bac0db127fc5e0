"""vkconv.nn.functional: torch.nn.functional's names for the engine's operations, so that a
forward() written with F.relu / F.max_pool2d runs unchanged. Each call is one device pass; with
vkconv.Tensor arguments the data stays on the device between calls.
"""
import threading

import numpy as np

from .. import Tensor, _context, _pair, _vkconv, conv2d

__all__ = ["conv2d", "relu", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "linear", "flatten", "dropout", "softmax"]

# Layers made for functional calls, reused per (context, operation, arguments).
_cache = {}
_cache_lock = threading.Lock()


def _layer(input, key, make):
    ctx = _context(None, input)
    k = (id(ctx),) + key
    with _cache_lock:
        hit = _cache.get(k)
        if hit is not None and hit[0] is ctx:
            return hit[1]
    layer = make(ctx)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[k] = (ctx, layer)
    return layer


def _clear_cache():
    with _cache_lock:
        _cache.clear()


def relu(input, inplace=False):
    """F.relu; inplace=True writes into the input array."""
    y = _layer(input, ("relu",), _vkconv.make_relu).forward(input, "relu")
    if inplace and not isinstance(input, Tensor):
        np.asarray(input)[...] = y  # a numpy array or a PyTorch CPU tensor: its own memory
        return input
    return y


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    fn = "max_pool2d()"
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported by vkconv")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel_size
    args = (_pair(kernel_size, "kernel_size", fn), _pair(stride, "stride", fn), _pair(padding, "padding", fn),
            _pair(dilation, "dilation", fn), bool(ceil_mode))
    return _layer(input, ("max_pool2d",) + args,
                  lambda ctx: _vkconv.make_max_pool2d(ctx, *args)).forward(input, "max_pool2d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    fn = "avg_pool2d()"
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel_size
    args = (_pair(kernel_size, "kernel_size", fn), _pair(stride, "stride", fn), _pair(padding, "padding", fn),
            bool(ceil_mode), bool(count_include_pad), divisor_override)
    return _layer(input, ("avg_pool2d",) + args,
                  lambda ctx: _vkconv.make_avg_pool2d(ctx, *args)).forward(input, "avg_pool2d")


def adaptive_avg_pool2d(input, output_size):
    size = _pair(output_size, "output_size", "adaptive_avg_pool2d()")
    return _layer(input, ("adaptive_avg_pool2d", size),
                  lambda ctx: _vkconv.make_adaptive_avg_pool2d(ctx, size)).forward(input, "adaptive_avg_pool2d")


def flatten(input, start_dim=0, end_dim=-1):
    """torch.flatten (a view: no copy on the device)."""
    return _layer(input, ("flatten", start_dim, end_dim),
                  lambda ctx: _vkconv.make_flatten(ctx, start_dim, end_dim)).forward(input, "flatten")


def dropout(input, p=0.5, training=True, inplace=False):
    """F.dropout at inference (training=False): the identity. vkconv does not train."""
    if training:
        raise NotImplementedError("vkconv runs inference only: call dropout with training=False "
                                  "(F.dropout(x, training=self.training) in a vkconv.nn.Module does)")
    return input


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dtype is not None:
        raise TypeError(f"softmax(): vkconv computes in float32, got dtype {dtype}")
    if dim is None:
        dim = 0 if len(input.shape) in (0, 1, 3) else 1
    return _layer(input, ("softmax", dim), lambda ctx: _vkconv.make_softmax(ctx, dim)).forward(input, "softmax")


def linear(input, weight, bias=None):
    """F.linear: input [*, in], weight [out, in], bias [out] or None."""
    shape = tuple(weight.shape)
    if len(shape) != 2:
        raise ValueError(f"linear(): weight must be 2-D [out_features, in_features], got shape {shape}")
    layer = _vkconv.make_linear(_context(None, input), shape[1], shape[0], bias is not None)
    layer.set("weight", weight, "linear")
    if bias is not None:
        layer.set("bias", bias, "linear")
    return layer.forward(input, "linear")
