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

from torch_route import require, run_matches_torch, seeded_model, tool_and_work_dir

require("torchvision")
import export_model  # noqa: E402
from tutorial_models import resnet18_transfer  # noqa: E402


def main():
    tool, work = tool_and_work_dir()
    model, x = seeded_model(resnet18_transfer, 64)
    js, st = os.path.join(work, "resnet18.json"), os.path.join(work, "resnet18.safetensors")
    export_model.export(model, x[:1], js, st, name="ResNet")
    failures = run_matches_torch(tool, ["--model", js, "--weights", st], model, x, work, "resnet18_transfer")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
