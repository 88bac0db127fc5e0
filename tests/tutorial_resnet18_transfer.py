#!/usr/bin/python3
"""The tutorial's transfer-learning model end to end: torchvision's resnet18 with its `fc` replaced
by nn.Linear(512, 10) (random weights and BatchNorm statistics: nothing is downloaded), exported with
tools/export_model.py and run by `vkconv run` at batch 1 and 2, must match PyTorch within 1e-4 of
the output's scale. Its weights (45 MB) are too large to commit as a fixture, so this test makes
them; it exits 77 (skipped) where PyTorch or torchvision is not installed.

    tests/tutorial_resnet18_transfer.py VKCONV_TOOL WORK_DIR
"""
import os
import sys

try:
    import numpy as np  # noqa: F401
    import torch
    import torchvision  # noqa: F401
except ImportError as e:
    print(f"skipped: {e} (Debian: apt-get install python3-torch python3-torchvision)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "fixtures"))
import export_model  # noqa: E402
from torch_route import run_matches_torch, seeded_model  # noqa: E402
from tutorial_models import resnet18_transfer  # noqa: E402


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    model, x = seeded_model(resnet18_transfer, 64)
    js, st = os.path.join(work, "resnet18.json"), os.path.join(work, "resnet18.safetensors")
    export_model.export(model, x[:1], js, st, name="ResNet")
    failures = run_matches_torch(tool, ["--model", js, "--weights", st], model, x, work, "resnet18_transfer")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
