#!/usr/bin/python3
"""Per-call overhead of the Python package (speed is measured here, never in tests):

  1. vkconv.conv2d on a tiny input against the same convolution called from C++ in a loop
     (upload, forward, download: what conv2d does, without Python in between);
  2. a chain of layers on a vkconv.Tensor (data stays on the device) against the same layers on
     numpy arrays (a host round trip per layer).

    PYTHONPATH=build/python /usr/bin/python3 tools/bench_python.py [--iterations 2000]

Runs without the validation layer (VKCONV_VALIDATION is cleared). Prints medians of --reps runs.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.pop("VKCONV_VALIDATION", None)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "python"))

import numpy as np  # noqa: E402

import vkconv  # noqa: E402
import vkconv.nn as nn  # noqa: E402
from vkconv import _vkconv  # noqa: E402


def per_call(f, n):
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    ctx = vkconv.default_context()
    print(f"device: {ctx.info['name']} ({ctx.info['driver']}); load average {os.getloadavg()[0]:.2f}")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 4, 4), np.float32)
    w = rng.standard_normal((1, 1, 3, 3), np.float32)
    for _ in range(50):
        vkconv.conv2d(x, w)
    py, cpp = [], []
    for _ in range(args.reps):  # alternating, so that a change in load hits both
        py.append(per_call(lambda: vkconv.conv2d(x, w), args.iterations))
        cpp.append(_vkconv._time_conv2d_cpp(ctx, x, w, args.iterations))
    py_m, cpp_m = statistics.median(py), statistics.median(cpp)
    print(f"conv2d 1x1x4x4 * 1x1x3x3, per call: Python {py_m * 1e6:.1f} us, C++ {cpp_m * 1e6:.1f} us, "
          f"Python / C++ {py_m / cpp_m:.2f}x (overhead {(py_m - cpp_m) * 1e6:.1f} us)")

    layers = [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
              nn.MaxPool2d(2), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)]
    a = rng.standard_normal((1, 16, 32, 32), np.float32)

    def numpy_chain():
        y = a
        for layer in layers:
            y = layer(y)
        return y

    def tensor_chain():
        y = vkconv.Tensor.from_numpy(a)
        for layer in layers:
            y = layer(y)
        return y.numpy()

    assert np.array_equal(numpy_chain(), tensor_chain())
    n = max(50, args.iterations // 10)
    host, dev = [], []
    for _ in range(args.reps):
        host.append(per_call(numpy_chain, n))
        dev.append(per_call(tensor_chain, n))
    host_m, dev_m = statistics.median(host), statistics.median(dev)
    print(f"8-layer chain on 1x16x32x32: numpy round trips {host_m * 1e3:.3f} ms, vkconv.Tensor {dev_m * 1e3:.3f} ms, "
          f"round trips / Tensor {host_m / dev_m:.2f}x")


if __name__ == "__main__":
    main()
