#!/usr/bin/python3
"""The PyTorch route through ONNX end to end, small enough for every test run: a model with the
operators and patterns torch.onnx emits for CNNs (Conv+BatchNorm+ReLU, reflect padding before a
convolution, bilinear and nearest F.interpolate, a ConvNeXt-style channels-last block with
LayerNorm and GELU, x ** 2 and sqrt, global pooling, a Linear head, LogSoftmax) and the
tutorial's SimpleCNN, exported with torch.onnx.export at opsets 13 and 17 (random weights and
BatchNorm statistics, eval mode, a symbolic batch) and run by `vkconv run --model m.onnx` at batch 1
and 2: each must match PyTorch within 1e-4 of the output's scale. Exits 77 (skipped) where PyTorch
is not installed.

    tests/onnx_torch_export.py VKCONV_TOOL WORK_DIR
"""
import os
import sys

try:
    import numpy as np  # noqa: F401
    import torch
    import onnx  # noqa: F401
    import torchvision  # noqa: F401 (tools/check_torchvision.py's models)
except ImportError as e:
    print(f"skipped: {e} (Debian: apt-get install python3-torch python3-torchvision python3-onnx)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "fixtures"))
from check_onnx_torchvision import export  # noqa: E402
from gen_onnx_fixtures import OnnxOps  # noqa: E402
from torch_route import run_matches_torch, seeded_model  # noqa: E402
from tutorial_models import SimpleCNN  # noqa: E402


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = 0
    for name, make, size in (("onnx_ops", OnnxOps, 20), ("simple_cnn", SimpleCNN, 32)):
        model, x = seeded_model(make, size)
        for opset in (13, 17):
            path = os.path.join(work, f"{name}_opset{opset}.onnx")
            names = export(model, x[:1], path, opset)
            failures += run_matches_torch(tool, ["--model", path], model, x, work, f"{name} opset {opset}", names[0])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
