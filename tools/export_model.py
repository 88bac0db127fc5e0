#!/usr/bin/python3
"""Exports a torch.nn.Module to vkconv: a JSON model description plus a .safetensors state_dict,
or an ONNX file (--onnx) that `vkconv run --model out.onnx` reads.

    /usr/bin/python3 tools/export_model.py --module mypkg.mymodule:ClassName \\
        --input-shape 1,3,32,32 --json out.json --weights out.safetensors [--state-dict sd.pt] [--name N]
    /usr/bin/python3 tools/export_model.py --module torchvision.models:resnet18 \\
        --input-shape 1,3,224,224 --onnx out.onnx [--opset 17] [--state-dict sd.pt]

--onnx writes the module with torch.onnx.export (eval mode, opset --opset, 17 by default, a
symbolic batch dimension): input "input", outputs "output" (a dict's keys, or "0", "1", ... for
a tuple or list). Both forms may be given in one call. --module may also name a file,
path/to/file.py:ClassName.

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
import importlib.util
import os
import sys

import torch

# The exporter itself is the package vkconv_export next to this file; in the Python package this
# file is vkconv._export_model and the package is vkconv.vkconv_export (python/CMakeLists.txt).
if __package__:
    from . import vkconv_export
else:
    import vkconv_export

ExportError = vkconv_export.ExportError
describe = vkconv_export.describe
build_from_description = vkconv_export.build_from_description
save_safetensors = vkconv_export.save_safetensors
export = vkconv_export.export
export_onnx = vkconv_export.export_onnx
# What vkconv.from_torch runs (python/vkconv/__init__.py): the trace, the verification, the JSON text.
_describe = vkconv_export.description._describe
_verify = vkconv_export.rebuild._verify
_json_text = vkconv_export.write._json_text

__all__ = ["export", "export_onnx", "describe", "build_from_description", "save_safetensors", "ExportError"]


# ---- command line -------------------------------------------------------------------------------

def load_class(spec):
    """What --module names: package.module:Name (imported with the working directory on sys.path)
    or path/to/file.py:Name (its folder put on sys.path); Name may be dotted (Outer.Inner)."""
    if ":" not in spec:
        raise SystemExit(f"--module must be package.module:Name or path/to/file.py:Name, got {spec!r}")
    mod_name, attr = spec.rsplit(":", 1)
    if mod_name.endswith(".py"):
        s = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(mod_name))[0], mod_name)
        if s is None or not os.path.isfile(mod_name):
            raise SystemExit(f"--module: no file {mod_name!r}")
        mod = importlib.util.module_from_spec(s)
        sys.path.insert(0, os.path.dirname(os.path.abspath(mod_name)))
        s.loader.exec_module(mod)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        mod = importlib.import_module(mod_name)
    obj = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a torch.nn.Module to a vkconv JSON model + safetensors weights, "
                                             "or to an ONNX file (--onnx).")
    ap.add_argument("--module", required=True, help="package.module:ClassName or path/to/file.py:ClassName (constructed "
                    "with no arguments)")
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
    cls = load_class(args.module)
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
