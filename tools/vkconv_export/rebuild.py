"""Verification: the described model rebuilt in PyTorch from the description alone
(build_from_description), and its outputs compared with the module's (_verify)."""
import operator

import torch
import torch.nn as nn

from .nodes import ExportError


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
