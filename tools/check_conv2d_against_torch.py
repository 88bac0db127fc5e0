#!/usr/bin/python3
"""Random sweep: `vkconv conv2d` against torch.nn.Conv2d for many argument combinations.

Needs PyTorch (Debian python3-torch) and a built `vkconv` tool. Not part of ctest (the tests must
not need torch); run it by hand after changing a convolution path:
    /usr/bin/python3 tools/check_conv2d_against_torch.py --tool build/tools/vkconv --cases 200
Prints one line per failure and a summary; exits 1 if any case differs by more than 1e-4 of the
output's scale or vkconv refuses a combination PyTorch accepts (or the other way round).
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch


def random_case(rng):
    modes = ["zeros", "reflect", "replicate", "circular"]
    groups = rng.choice([1, 1, 2, 3, "dw"])
    cin_g = rng.randint(1, 5)
    mult = rng.randint(1, 3)
    if groups == "dw":
        c = rng.randint(1, 12)
        groups, cin, cout = c, c, c * mult
    else:
        cin, cout = cin_g * groups, rng.randint(1, 6) * groups
    kh, kw = rng.randint(1, 5), rng.randint(1, 5)
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    dil = (rng.randint(1, 3), rng.randint(1, 3))
    if rng.random() < 0.3 and stride == (1, 1):
        padding = rng.choice(["same", "valid"])
    else:
        padding = (rng.randint(0, 3), rng.randint(0, 3))
    n = rng.randint(1, 3)
    h, w = rng.randint(1, 17), rng.randint(1, 17)
    return dict(n=n, cin=cin, cout=cout, k=(kh, kw), stride=stride, padding=padding, dilation=dil, groups=groups,
                bias=rng.random() < 0.7, mode=rng.choice(modes), h=h, w=w, algorithm=rng.choice(["auto", "direct_tiled"]))


def arg(v):
    return v if isinstance(v, str) else f"{v[0]},{v[1]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="build/tools/vkconv")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    ok = bad = refused_both = 0
    with tempfile.TemporaryDirectory() as d:
        for i in range(a.cases):
            c = random_case(rng)
            x = torch.randn(c["n"], c["cin"], c["h"], c["w"])
            try:
                conv = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], stride=c["stride"], padding=c["padding"],
                                       dilation=c["dilation"], groups=c["groups"], bias=c["bias"], padding_mode=c["mode"])
                with torch.no_grad():
                    want = conv(x).numpy()
                torch_error = None
            except Exception as e:  # PyTorch refuses this combination
                torch_error = str(e).splitlines()[0]
                conv = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], groups=c["groups"], bias=c["bias"])
            np.save(f"{d}/x.npy", x.numpy())
            np.save(f"{d}/w.npy", conv.weight.detach().numpy())
            cmd = [a.tool, "conv2d", "--input", f"{d}/x.npy", "--weight", f"{d}/w.npy", "--output", f"{d}/y.npy",
                   "--stride", arg(c["stride"]), "--padding", arg(c["padding"]), "--dilation", arg(c["dilation"]),
                   "--groups", str(c["groups"]), "--padding-mode", c["mode"], "--algorithm", c["algorithm"]]
            if c["bias"]:
                np.save(f"{d}/b.npy", conv.bias.detach().numpy())
                cmd += ["--bias", f"{d}/b.npy"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if torch_error is not None:
                if r.returncode == 0:
                    bad += 1
                    print(f"case {i}: PyTorch refuses ({torch_error}) but vkconv accepted: {c}")
                else:
                    refused_both += 1
                continue
            if r.returncode != 0:
                bad += 1
                print(f"case {i}: vkconv refused what PyTorch accepts: {r.stderr.strip()} {c}")
                continue
            got = np.load(f"{d}/y.npy")
            scale = max(float(np.abs(want).max()), 1e-30)
            err = float(np.abs(got - want).max()) / scale if got.shape == want.shape else float("inf")
            if err > 1e-4:
                bad += 1
                print(f"case {i}: max error {err:.3g} of scale (shapes {got.shape} vs {want.shape}): {c}")
            else:
                ok += 1
    print(f"{ok} matched PyTorch within 1e-4 of scale, {refused_both} refused by both, {bad} failed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
