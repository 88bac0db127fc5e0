"""vkconv.conv2d against the engine's CPU reference (derived fp32 tolerance) and PyTorch's own
outputs (tests/data/conv2d, made by tools/fixtures/gen_conv2d_fixtures.py); arguments, errors."""
import json
import os

import numpy as np
import pytest

import vkconv
from conftest import DATA, has_torch
from helpers import assert_close, conv_reference, conv_tolerance, rand

# (N, C, H, W), out_channels, kernel, stride, padding, dilation, groups, bias, padding_mode
SWEEP = [
    ((1, 1, 8, 8), 1, 3, 1, 0, 1, 1, True, "zeros"),
    ((2, 3, 9, 7), 4, (3, 2), (2, 1), (1, 0), 1, 1, True, "zeros"),
    ((1, 4, 10, 10), 6, 3, 1, "same", 2, 2, False, "zeros"),
    ((1, 6, 8, 8), 6, 3, 1, 1, 1, 6, True, "reflect"),
    ((1, 6, 8, 8), 12, 5, 2, 2, 1, 6, True, "replicate"),
    ((2, 4, 7, 9), 8, 1, 2, 1, 1, 1, True, "circular"),
    ((1, 3, 12, 12), 5, (4, 3), 1, "same", 1, 1, True, "reflect"),
    ((1, 2, 6, 5), 3, 2, (1, 2), "valid", 1, 1, False, "zeros"),
    ((3, 8, 6, 6), 8, 3, 1, 1, (1, 2), 4, True, "zeros"),
    ((1, 32, 14, 14), 32, 3, 1, 1, 1, 1, True, "zeros"),   # winograd-sized for Auto
    ((2, 16, 5, 5), 32, 1, 1, 0, 1, 1, False, "zeros"),    # 1x1
    ((4, 3, 8), 5, 3, 1, 1, 1, 1, True, "zeros"),          # unbatched [C, H, W]
]


def _case_id(c):
    return "in{}-out{}-k{}-s{}-p{}-d{}-g{}-b{}-{}".format(*c).replace(" ", "")


@pytest.mark.parametrize("case", SWEEP, ids=_case_id)
def test_conv2d_matches_reference(case):
    shape, out_c, k, stride, padding, dilation, groups, bias, mode = case
    c = shape[-3]
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rand(shape, 1)
    w = rand((out_c, c // groups, kh, kw), 2)
    b = rand((out_c,), 3) if bias else None
    y = vkconv.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    want = conv_reference(x, w, b, stride, padding, dilation, groups, mode)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert_close(y, want, conv_tolerance(x, w, b, stride, padding, dilation, groups, mode), _case_id(case))


def _fixture_cases():
    with open(os.path.join(DATA, "conv2d", "manifest.json")) as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("case", _fixture_cases(), ids=lambda c: c["name"])
def test_conv2d_matches_pytorch_fixtures(case):
    d = os.path.join(DATA, "conv2d")
    x = np.load(os.path.join(d, case["name"] + "_input.npy"))
    w = np.load(os.path.join(d, case["name"] + "_weight.npy"))
    b = np.load(os.path.join(d, case["name"] + "_bias.npy")) if case["bias"] else None
    want = np.load(os.path.join(d, case["name"] + "_output.npy"))
    pad = case["padding"] if isinstance(case["padding"], str) else tuple(case["padding"])
    args = dict(stride=tuple(case["stride"]), padding=pad, dilation=tuple(case["dilation"]), groups=case["groups"],
                padding_mode=case["padding_mode"])
    y = vkconv.conv2d(x, w, b, **args)
    # PyTorch's own fp32 result has its own summation error: allow both bounds.
    assert_close(y, want, 2 * conv_tolerance(x, w, b, **args), case["repr"])


def test_int_and_pair_arguments_are_the_same():
    x, w = rand((1, 2, 7, 7), 4), rand((3, 2, 3, 3), 5)
    a = vkconv.conv2d(x, w, None, 2, 1, 1)
    b = vkconv.conv2d(x, w, None, (2, 2), [1, 1], (1, 1))
    np.testing.assert_array_equal(a, b)


def test_defaults_match_torch_signature():
    x, w = rand((1, 1, 5, 5), 6), rand((1, 1, 3, 3), 7)
    assert vkconv.conv2d(x, w).shape == (1, 1, 3, 3)  # stride 1, padding 0, no bias


def test_input_read_in_place_and_non_contiguous_accepted():
    x = rand((1, 3, 8, 16), 8)
    w = rand((2, 3, 3, 3), 9)
    strided = x[:, :, :, ::2]  # not C-contiguous: copied once
    assert not strided.flags.c_contiguous
    y = vkconv.conv2d(strided, w)
    np.testing.assert_array_equal(y, vkconv.conv2d(np.ascontiguousarray(strided), w))
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(vkconv.conv2d(fortran, w), vkconv.conv2d(x, w))


def test_repeated_calls_with_changing_weights():
    # The functional call reuses a layer per configuration: a changed weight must take effect.
    x = rand((1, 2, 6, 6), 10)
    w1, w2 = rand((2, 2, 3, 3), 11), rand((2, 2, 3, 3), 12)
    y1 = vkconv.conv2d(x, w1)
    y2 = vkconv.conv2d(x, w2)
    assert_close(y2, conv_reference(x, w2), conv_tolerance(x, w2))
    assert_close(vkconv.conv2d(x, w1), y1, 0)
    b = rand((2,), 13)
    assert_close(vkconv.conv2d(x, w1, b), conv_reference(x, w1, b), conv_tolerance(x, w1, b))
    w1[0, 0, 0, 0] += 1.0  # the caller's array changed in place
    assert_close(vkconv.conv2d(x, w1), conv_reference(x, w1), conv_tolerance(x, w1))


def test_nan_propagates():
    x = rand((1, 1, 5, 5), 14)
    x[0, 0, 2, 2] = np.nan
    y = vkconv.conv2d(x, np.ones((1, 1, 3, 3), np.float32))
    assert np.isnan(y).all()  # every 3x3 window of 5x5 covers the centre


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint8, np.complex64])
def test_other_dtypes_refused_naming_the_dtype(dtype):
    x = np.zeros((1, 1, 4, 4), dtype)
    w = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        vkconv.conv2d(x, w)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        vkconv.conv2d(w[None, 0], x[0, :, :3, :3][None].astype(dtype))


def test_big_endian_refused():
    x = np.zeros((1, 1, 4, 4), ">f4")
    with pytest.raises(TypeError, match=">f4"):
        vkconv.conv2d(x, np.zeros((1, 1, 3, 3), np.float32))


def test_not_an_array_refused():
    with pytest.raises(TypeError, match="argument 'input' must be a numpy.ndarray, a vkconv.Tensor or a PyTorch tensor, not list"):
        vkconv.conv2d([[1.0]], np.zeros((1, 1, 1, 1), np.float32))


@pytest.mark.parametrize("call, exc, message", [
    (lambda x, w: vkconv.conv2d(x[0, 0], w), RuntimeError,
     "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [8, 8]"),
    (lambda x, w: vkconv.conv2d(x, w[0]), ValueError,
     "Expected 4-dimensional weight for 4-dimensional input [1, 4, 8, 8], but got 3-dimensional weight of size [3, 3, 3] instead"),
    (lambda x, w: vkconv.conv2d(x, w), RuntimeError,
     "Given groups=1, weight of size [2, 3, 3, 3], expected input[1, 4, 8, 8] to have 3 channels, but got 4 channels instead"),
    (lambda x, w: vkconv.conv2d(x, w, np.zeros(3, np.float32), groups=1), ValueError,
     "Given weight of size [2, 3, 3, 3], expected bias to be 1-dimensional with 2 elements, but got bias of size [3] instead"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((3, 2, 3, 3), np.float32), groups=2), ValueError,
     "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [3, 2, 3, 3] instead"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), stride=0), ValueError, "stride must be positive"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), padding=-1), ValueError,
     "padding must be non-negative"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), padding="full"), ValueError,
     "Invalid padding string 'full', should be one of {'valid', 'same'}"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), stride=2, padding="same"), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), padding_mode="mirror"), ValueError,
     "padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='mirror'"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 3, 3), np.float32), padding=8, padding_mode="reflect"), RuntimeError,
     "Padding size should be less than the corresponding input dimension"),
    (lambda x, w: vkconv.conv2d(x, np.zeros((2, 4, 9, 9), np.float32)), RuntimeError,
     "Given input size: (4x8x8). Calculated output size: (2x0x0). Output size is too small"),
    (lambda x, w: vkconv.conv2d(x, w, stride="2"), TypeError, "argument 'stride' must be an int or a tuple of two ints"),
    (lambda x, w: vkconv.conv2d(x, w, groups=1.5), TypeError, "argument 'groups' must be int"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_bad_arguments_raise_with_the_engines_message(call, exc, message):
    x = np.zeros((1, 4, 8, 8), np.float32)
    w = np.zeros((2, 3, 3, 3), np.float32)
    with pytest.raises(exc) as e:
        call(x, w)
    assert message in str(e.value)


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_torch_tensors_accepted_and_match_torch():
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    cases = [(1, 0, 1, 1, "zeros"), (2, 1, 1, 2, "reflect"), (1, "same", 2, 1, "replicate"), (2, 2, 2, 2, "circular"),
             (1, "valid", 1, 2, "zeros"), (1, (1, 2), (2, 1), 1, "reflect")]
    for stride, padding, dilation, groups, mode in cases:
        x = torch.randn(2, 4, 9, 10)
        conv = torch.nn.Conv2d(4, 6, 3, stride, padding, dilation, groups, padding_mode=mode)
        want = conv(x).detach().numpy()
        # conv.weight requires grad: read without a copy through detach(), as torch's numpy() would.
        y = vkconv.conv2d(x, conv.weight, conv.bias, stride, padding, dilation, groups, mode)
        w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
        assert_close(y, want, 2 * conv_tolerance(x.numpy(), w, b, stride, padding, dilation, groups, mode),
                     f"stride={stride} padding={padding} dilation={dilation} groups={groups} mode={mode}")
    with pytest.raises(TypeError, match="torch.float64"):
        vkconv.conv2d(torch.zeros(1, 1, 4, 4, dtype=torch.float64), torch.zeros(1, 1, 3, 3))
    # A non-contiguous tensor works too.
    x = torch.randn(1, 2, 8, 8).transpose(2, 3)
    w = torch.randn(1, 2, 3, 3)
    assert_close(vkconv.conv2d(x, w), F.conv2d(x, w).numpy(), 2 * conv_tolerance(x.numpy(), w.numpy()))


def test_contiguous_float32_input_is_not_copied():
    # tracemalloc sees numpy's buffers: a 4 MiB input read in place adds about the output's
    # 16 KiB at peak; a Fortran-ordered one is copied once to C order (the peak shows it).
    import tracemalloc
    x = np.zeros((1, 4, 512, 512), np.float32)
    w = np.ones((1, 4, 8, 8), np.float32)
    vkconv.conv2d(x, w, stride=8)  # warm-up
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = vkconv.conv2d(x, w, stride=8)
        peak_in_place = tracemalloc.get_traced_memory()[1] - base
        fortran = np.asfortranarray(x)
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        vkconv.conv2d(fortran, w, stride=8)
        peak_copied = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert y.shape == (1, 1, 64, 64)
    assert peak_in_place < 1 << 20, f"{peak_in_place} bytes allocated for a call on a C-contiguous input"
    assert peak_copied >= x.nbytes
