#!/usr/bin/python3
"""PyTorch CPU numbers for vkconv's benchmark rows (issue 4): S1..S11 or specs given as JSON.

    /usr/bin/python3 tools/bench_torch.py                  # every row, a table
    /usr/bin/python3 tools/bench_torch.py --rows S4,S5 --json
    vkconv bench --torch                                   # runs this with the same rows and prints ratios

Times F.conv2d (padding modes other than zeros as nn.Conv2d does them: F.pad then conv) under
torch.no_grad(), inputs allocated once; median over at least --reps runs and --min-time seconds.
GFLOP = 2*N*Cout*Hout*Wout*(Cin/groups)*kh*kw (S11: the SimpleCNN convolutions and Linear).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_row(name, n, cin, h, w, cout, k, stride=1, pad=1, dil=1, groups=1, mode="zeros"):
    return {"name": name, "model": False, "input": [n, cin, h, w], "out_channels": cout, "kernel": [k, k],
            "stride": [stride, stride], "dilation": [dil, dil], "groups": groups, "bias": True,
            "padding_mode": mode, "padding": [pad, pad]}


SUITE = [
    conv_row("S1", 64, 3, 32, 32, 16, 3),
    conv_row("S2", 64, 16, 16, 16, 32, 3),
    conv_row("S3", 1, 3, 224, 224, 64, 7, stride=2, pad=3),
    conv_row("S4", 1, 64, 56, 56, 64, 3),
    conv_row("S5", 1, 256, 14, 14, 256, 3),
    conv_row("S6", 1, 256, 28, 28, 512, 1, pad=0),
    conv_row("S7", 1, 144, 56, 56, 144, 3, groups=144),
    conv_row("S8", 1, 128, 56, 56, 128, 3, groups=32),
    conv_row("S9", 1, 64, 56, 56, 64, 3, pad=2, dil=2),
    conv_row("S10", 1, 64, 56, 56, 64, 3, mode="reflect"),
    {"name": "S11/b64", "model": True, "input": [64, 3, 32, 32]},
    {"name": "S11/b1", "model": True, "input": [1, 3, 32, 32]},
]


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return self.fc1(torch.flatten(x, 1))


def simple_cnn_gflop(b):
    ch = [3, 16, 32, 64]
    g, hw = 0.0, 32
    for i in range(3):
        g += 2.0 * b * ch[i + 1] * hw * hw * ch[i] * 9
        hw //= 2
    return (g + 2.0 * b * 1024 * 10) * 1e-9


def make_callable(spec):
    if spec["model"]:
        m = SimpleCNN().eval()
        x = torch.rand(spec["input"])
        return (lambda: m(x)), simple_cnn_gflop(spec["input"][0])
    n, cin, h, w = spec["input"]
    cout, (kh, kw) = spec["out_channels"], spec["kernel"]
    groups = spec["groups"]
    pad = spec["padding"]
    conv = nn.Conv2d(cin, cout, (kh, kw), stride=tuple(spec["stride"]), dilation=tuple(spec["dilation"]), groups=groups,
                     bias=spec.get("bias", True), padding=pad if isinstance(pad, str) else tuple(pad),
                     padding_mode=spec.get("padding_mode", "zeros")).eval()
    x = torch.rand(spec["input"])
    with torch.no_grad():
        y = conv(x)
    gflop = 2.0 * y.shape[0] * cout * y.shape[2] * y.shape[3] * (cin // groups) * kh * kw * 1e-9
    return (lambda: conv(x)), gflop


def time_spec(spec, min_reps, min_time):
    fn, gflop = make_callable(spec)
    with torch.no_grad():
        for _ in range(3):
            fn()
        times = []
        start = time.perf_counter()
        while len(times) < min_reps or time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
            if len(times) >= 100000:
                break
    med = statistics.median(times)
    return {"name": spec["name"], "median_ms": med, "min_ms": min(times), "max_ms": max(times), "reps": len(times),
            "gflop": gflop, "gflops": gflop / (med * 1e-3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="", help="comma-separated rows (S1..S11); default all")
    ap.add_argument("--specs", default="", help="JSON list of row specs (as vkconv bench --json prints them)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: os.cpu_count())")
    a = ap.parse_args()
    torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    if a.specs:
        specs = json.loads(a.specs)
    elif a.rows:
        want = a.rows.split(",")
        specs = [s for s in SUITE if s["name"] in want or s["name"].split("/")[0] in want]
    else:
        specs = SUITE
    rows = [time_spec(s, a.reps, a.min_time) for s in specs]
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'row':8} {'median ms':>10} {'min ms':>10} {'GFLOP/s':>10}")
    for r in rows:
        print(f"{r['name']:8} {r['median_ms']:10.3f} {r['min_ms']:10.3f} {r['gflops']:10.2f}")


if __name__ == "__main__":
    sys.exit(main())
