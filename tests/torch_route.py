"""What the PyTorch-route tests share: a seeded model with random BatchNorm statistics in eval
mode, and `vkconv run` on batches 1 and 2 of an input compared with PyTorch within 1e-4 of the
output's scale (max |y|)."""
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "fixtures"))
from gen_model_fixtures import randomize_batchnorm  # noqa: E402


def seeded_model(make, size):
    """make() with seed 0, BatchNorm statistics and a [2, 3, size, size] input from seed 1."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = make()
    randomize_batchnorm(model, gen)
    model.eval()
    return model, torch.randn(2, 3, size, size, generator=gen)


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
