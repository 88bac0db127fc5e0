"""Shared by the Python tests: seeded inputs, the engine's CPU reference, derived tolerances."""
import numpy as np

import vkconv


def rand(shape, seed):
    """Uniform values in [-1, 1), float32, from a seed."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)


def conv_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """The engine's CPU reference (vkconv::conv2d_reference: double accumulation) with these weights."""
    conv = vkconv.nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride, padding, dilation, groups,
                            b is not None, padding_mode)
    conv.weight = w
    if b is not None:
        conv.bias = b
    return conv._reference(x)


def conv_tolerance(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Per output: an fp32 sum of L products (plus the bias) differs from the exact sum by at most
    L * 2^-24 * sum|x w| (recursive summation, FMA or not); twice that plus 1e-6, as the C++ tests
    (fp32_sum_tolerance). sum|x w| is the reference convolution of |x| with |w| (padding is an index
    map, so it commutes with the absolute value)."""
    abs_sums = conv_reference(np.abs(x), np.abs(w), None if b is None else np.abs(b), stride, padding, dilation,
                              groups, padding_mode)
    terms = w.shape[1] * w.shape[2] * w.shape[3]
    return 2.0 * (terms + 1) * 2.0 ** -24 * abs_sums + 1e-6


def assert_close(got, want, tol, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != expected {want.shape}"
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    bad = ~((diff <= tol) | (np.isnan(got) & np.isnan(want)) | (got == want))
    if bad.any():
        idx = np.argwhere(bad)[:8]
        tol_arr = np.broadcast_to(tol, got.shape)
        lines = [f"  {tuple(i)}: got {got[tuple(i)]}, want {want[tuple(i)]}, tol {tol_arr[tuple(i)]}" for i in idx]
        raise AssertionError(f"{what}: {int(bad.sum())} of {got.size} elements differ:\n" + "\n".join(lines))


def scale_tolerance(want):
    """The criterion for whole models against PyTorch: within 1e-4 of the output's scale (max |y|)."""
    return 1e-4 * max(1.0, float(np.max(np.abs(want))) if np.size(want) else 1.0)
