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

from torch_route import require, run_matches_torch, seeded_model, tool_and_work_dir

require("onnx", "torchvision")  # tools/check_torchvision.py's models
from check_onnx_torchvision import export  # noqa: E402
from gen_onnx_fixtures import OnnxOps  # noqa: E402
from tutorial_models import SimpleCNN  # noqa: E402


def main():
    tool, work = tool_and_work_dir()
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
