#!/usr/bin/python3
"""The PyTorch route through ONNX: torchvision's models (and the tutorials') exported with
torch.onnx.export at opsets 13 and 17 (random weights with random BatchNorm statistics, eval mode,
a symbolic batch), run by `vkconv run --model m.onnx` at batch 1 and 2 and compared with PyTorch.
A model passes when vkconv's output is within 1e-4 of the output's scale (max |y|) of PyTorch's.

    /usr/bin/python3 tools/check_onnx_torchvision.py [--vkconv build/tools/vkconv]
        [--models resnet18,convnext_tiny] [--opsets 13,17] [--size 64] [--work /tmp/vkconv-onnx] [--keep]

Prints one line a model and opset (worst error / scale, time) and exits non-zero if any fails.
The models are tools/check_torchvision.py's; nothing is downloaded.
"""
import argparse
import io
import os
import sys
import time
import warnings
from contextlib import redirect_stderr

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixtures"))
from check_torchvision import MODELS, report, worst_error  # noqa: E402
from gen_model_fixtures import seeded_model  # noqa: E402

DEFAULT = ("simple_cnn,landmark_cnn,resnet18_transfer,resnet18,resnet50,mobilenet_v2,mobilenet_v3_small,efficientnet_b0,"
           "densenet121,shufflenet_v2_x0_5,squeezenet1_1,googlenet,mnasnet0_5,regnet_x_400mf,vgg11,alexnet,convnext_tiny,"
           "fcn_resnet50,lraspp_mobilenet_v3_large")


# torch.onnx (1.13) exports AdaptiveAvgPool2d only when the feature map is a multiple of its
# output size (7 x 7 for VGG, 6 x 6 for AlexNet; 1 x 1 always): those two run at 224 x 224.
ONNX_SIZES = {"vgg11": 224, "alexnet": 224}


def export(model, x, path, opset):
    """torch.onnx.export with a symbolic batch; returns the output names (a dict's keys, or y)."""
    with torch.no_grad():
        y = model(x)
    names = list(y.keys()) if isinstance(y, dict) else ["y"]
    with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"], output_names=names,
                          dynamic_axes={"x": {0: "N"}, **{n: {0: "N"} for n in names}})
    return names


def run_one(name, tool, size, opset, work):
    make, fixed = MODELS[name]
    size = ONNX_SIZES.get(name) or fixed or size
    model, x = seeded_model(make, size)
    d = os.path.join(work, f"{name}_opset{opset}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    t0 = time.time()
    names = export(model, x[:1], path, opset)
    worst = worst_error(tool, ["--model", path], model, x, d, names)
    return worst, time.time() - t0, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vkconv", default=os.path.join(HERE, "..", "build", "tools", "vkconv"))
    ap.add_argument("--models", default=DEFAULT)
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--work", default="/tmp/vkconv-onnx")
    ap.add_argument("--keep", action="store_true", help="keep the exported files")
    a = ap.parse_args()
    failed = total = 0
    for name in a.models.split(","):
        for opset in (int(o) for o in a.opsets.split(",")):
            total += 1
            failed += report(f"{name:28s} opset {opset} ", lambda: run_one(name, a.vkconv, a.size, opset, a.work),
                             os.path.join(a.work, f"{name}_opset{opset}"), a.keep)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
