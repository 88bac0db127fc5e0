#!/usr/bin/python3
"""The one-command PyTorch route: `tools/export_model.py --onnx` writes the tutorial's SimpleCNN
(opsets 17, the default, and 13) and torchvision's resnet18 at 64 x 64 (random weights and
BatchNorm statistics given with --state-dict), and `vkconv run --model m.onnx` at batch 1 and 2
must match PyTorch within 1e-4 of the output's scale (max |y|). Exits 77 (skipped) where
PyTorch is not installed.

    tests/onnx_export_model.py VKCONV_TOOL WORK_DIR
"""
import os
import subprocess
import sys

from torch_route import FIXTURES, TOOLS, require, run_matches_torch, seeded_model, tool_and_work_dir

require("torchvision")
import torch  # noqa: E402
import torchvision  # noqa: E402
from tutorial_models import SimpleCNN  # noqa: E402

# (name, --module, constructor, input size, opsets: None is export_model.py's default)
CASES = (("simple_cnn", "tutorial_models:SimpleCNN", SimpleCNN, 32, (None, 13)),
         ("resnet18", "torchvision.models:resnet18", torchvision.models.resnet18, 64, (None,)))


def main():
    tool, work = tool_and_work_dir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([FIXTURES, os.environ.get("PYTHONPATH", "")]))
    failures = 0
    for name, module, make, size, opsets in CASES:
        model, x = seeded_model(make, size)
        sd = os.path.join(work, f"{name}.pt")
        torch.save(model.state_dict(), sd)
        for opset in opsets:
            label = f"{name} opset {opset or 'default'}"
            path = os.path.join(work, f"{name}_opset{opset or 'default'}.onnx")
            cmd = [sys.executable, os.path.join(TOOLS, "export_model.py"), "--module", module,
                   "--input-shape", f"1,3,{size},{size}", "--state-dict", sd, "--onnx", path]
            if opset:
                cmd += ["--opset", str(opset)]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0 or not os.path.exists(path):
                print(f"{label}: export_model.py failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
                failures += 1
                continue
            print(r.stdout.strip())
            failures += run_matches_torch(tool, ["--model", path], model, x, work, label)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
