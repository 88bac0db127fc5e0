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
from gen_model_fixtures import randomize_batchnorm  # noqa: E402
from gen_onnx_fixtures import OnnxOps  # noqa: E402
from tutorial_models import SimpleCNN  # noqa: E402


def main():
    import subprocess
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = 0
    for name, make, size in (("onnx_ops", OnnxOps, 20), ("simple_cnn", SimpleCNN, 32)):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = make()
        randomize_batchnorm(model, gen)
        model.eval()
        x = torch.randn(2, 3, size, size, generator=gen)
        for opset in (13, 17):
            path = os.path.join(work, f"{name}_opset{opset}.onnx")
            names = export(model, x[:1], path, opset)
            for n in (1, 2):
                xin, yout = os.path.join(work, f"x{n}.npy"), os.path.join(work, f"y{n}.npy")
                np.save(xin, x[:n].numpy())
                with torch.no_grad():
                    want = model(x[:n]).numpy()
                r = subprocess.run([tool, "run", "--model", path, "--input", xin, "--output", f"{names[0]}={yout}"],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{name} opset {opset} batch {n}: vkconv run failed: {r.stderr.strip()}")
                    failures += 1
                    continue
                got = np.load(yout)
                scale = float(np.abs(want).max())
                err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
                ok = err <= 1e-4 * scale
                failures += not ok
                print(f"{name} opset {opset} batch {n}: output {list(got.shape)}, max |vkconv - torch| = {err:.3g}, "
                      f"1e-4 * scale = {1e-4 * scale:.3g}: {'ok' if ok else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
