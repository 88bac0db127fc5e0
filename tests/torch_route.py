"""What the PyTorch-route tests share: the skip (exit 77) where PyTorch is not installed, their
arguments (VKCONV_TOOL WORK_DIR), tools/ and tools/fixtures/ on the import path, a seeded model
with random BatchNorm statistics in eval mode (gen_model_fixtures.seeded_model), and `vkconv run`
on batches 1 and 2 of an input compared with PyTorch within 1e-4 of the output's scale (max |y|)."""
import importlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tools")
FIXTURES = os.path.join(TOOLS, "fixtures")


def require(*modules):
    """Imports `modules` or exits 77 (skipped), naming the one missing."""
    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError as e:
        print(f"skipped: {e} (Debian: apt-get install python3-torch python3-torchvision python3-onnx)")
        sys.exit(77)


require("numpy", "torch")
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, TOOLS)
sys.path.insert(0, FIXTURES)
from gen_model_fixtures import seeded_model  # noqa: E402,F401 (for the tests)


def tool_and_work_dir():
    """The command line's VKCONV_TOOL and WORK_DIR (made if missing)."""
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    return tool, work


def run_matches_torch(tool, model_args, model, x, work, label, output_name=None):
    """Runs `vkconv run <model_args> --input x[:n] --output y` for n = 1, 2; returns the failures."""
    failures = 0
    for n in (1, 2):
        xin, yout = os.path.join(work, f"x{n}.npy"), os.path.join(work, f"y{n}.npy")
        np.save(xin, x[:n].numpy())
        with torch.no_grad():
            want = model(x[:n]).numpy()
        out = f"{output_name}={yout}" if output_name else yout
        r = subprocess.run([tool, "run", *model_args, "--input", xin, "--output", out], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{label} batch {n}: vkconv run failed: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(yout)
        scale = float(np.abs(want).max())
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        ok = err <= 1e-4 * scale
        failures += not ok
        print(f"{label} batch {n}: output {list(got.shape)}, max |vkconv - torch| = {err:.3g}, "
              f"1e-4 * scale = {1e-4 * scale:.3g}: {'ok' if ok else 'FAILED'}")
    return failures
