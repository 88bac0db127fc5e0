"""The engine's further layers under vkconv.nn (activations, PReLU, ConvTranspose2d, Upsample,
AdaptiveMaxPool2d, LayerNorm) and their functional forms, against the CPU reference and PyTorch."""
import numpy as np
import pytest

import vkconv
import vkconv.nn as nn
import vkconv.nn.functional as F
from conftest import has_torch
from helpers import assert_close, rand, scale_tolerance

U = 2.0 ** -23  # one ulp is at most u |v|

# Tolerances as tests/test_activations.cpp derives them from Vulkan's precision rules (exp within
# 3 + 2|x| ulp, division within 2.5 ulp) and activation.glsl's formulas, plus the final rounding
# of the double reference (u |y|).
ACT_TOL = {
    "exact": lambda x, y: 0 * y,
    "product": lambda x, y: U * np.abs(y),
    "hardsigmoid": lambda x, y: U * (np.abs(x) + 3) / 6 + 2 * U * np.abs(y),
    "hardswish": lambda x, y: U * np.abs(x) * (np.abs(x) + 3) / 6 + 4 * U * np.abs(y),
    "sigmoid": lambda x, y: (8 + 2 * np.abs(x)) * U * np.abs(y),
    "elu": lambda x, y: 4 * U + U * np.abs(y),
    "tanh": lambda x, y: 11 * U + 0 * y,
    "gelu": lambda x, y: 0.5 * np.abs(x) * (1.5e-7 + 27 * U) + 3 * U * np.abs(y),
    "gelu_tanh": lambda x, y: 0.5 * np.abs(x) * 15 * U + 3 * U * np.abs(y),
}

ACTIVATIONS = [
    ("ReLU6()", lambda: nn.ReLU6(), "exact", lambda x: F.relu6(x)),
    ("ReLU6(inplace=True)", lambda: nn.ReLU6(inplace=True), "exact", None),
    ("Hardtanh(min_val=-0.5, max_val=0.5)", lambda: nn.Hardtanh(-0.5, 0.5), "exact", lambda x: F.hardtanh(x, -0.5, 0.5)),
    ("LeakyReLU(negative_slope=0.2)", lambda: nn.LeakyReLU(0.2), "product", lambda x: F.leaky_relu(x, 0.2)),
    ("ELU(alpha=1.0)", lambda: nn.ELU(), "elu", lambda x: F.elu(x)),
    ("Sigmoid()", lambda: nn.Sigmoid(), "sigmoid", lambda x: F.sigmoid(x)),
    ("Tanh()", lambda: nn.Tanh(), "tanh", lambda x: F.tanh(x)),
    ("SiLU()", lambda: nn.SiLU(), "sigmoid", lambda x: F.silu(x)),
    ("Hardswish()", lambda: nn.Hardswish(), "hardswish", lambda x: F.hardswish(x)),
    ("Hardsigmoid()", lambda: nn.Hardsigmoid(), "hardsigmoid", lambda x: F.hardsigmoid(x)),
    ("GELU(approximate='none')", lambda: nn.GELU(), "gelu", lambda x: F.gelu(x)),
    ("GELU(approximate='tanh')", lambda: nn.GELU("tanh"), "gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
]


@pytest.mark.parametrize("want_repr, make, tol, functional", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation(want_repr, make, tol, functional):
    layer = make()
    assert repr(layer) == want_repr
    x = rand((2, 3, 5, 7), 1) * 4  # [-4, 4)
    want = layer._reference(x)
    t = ACT_TOL[tol](x.astype(np.float64), want.astype(np.float64))
    assert_close(layer(x.copy()), want, t, want_repr)
    assert_close(layer(vkconv.Tensor.from_numpy(x)).numpy(), want, t, want_repr + " (Tensor)")
    if functional is not None:
        assert_close(functional(x), want, t, want_repr + " (functional)")
    nan = np.array([np.nan, -np.nan], np.float32)
    assert np.isnan(layer(nan)).all()


def test_prelu():
    p = nn.PReLU(3, init=0.1)
    assert repr(p) == "PReLU(num_parameters=3)"
    assert p.weight.shape == (3,) and np.allclose(p.weight, 0.1)
    p.weight = np.array([0.1, 0.2, 0.3], np.float32)
    x = rand((2, 3, 4, 4), 2)
    assert_close(p(x), p._reference(x), ACT_TOL["product"](x, p._reference(x)))
    assert list(p.state_dict()) == ["weight"]


def test_conv_transpose2d():
    ct = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert repr(ct) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), "
                        "groups=2)")
    assert ct.weight.shape == (4, 3, 3, 3) and ct.bias.shape == (6,)
    x = rand((2, 4, 5, 6), 3)
    want = ct._reference(x)
    assert want.shape == (2, 6, 10, 12)
    # An fp32 sum of at most L = (4/2) * 3 * 3 products: 2 (L + 1) 2^-24 sum|x w| (as Conv2d's), with
    # sum|x w| from the reference on |x| and |w|.
    absolute = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False)
    absolute.weight = np.abs(ct.weight)
    tol = 2.0 * 19 * 2.0 ** -24 * (absolute._reference(np.abs(x)) + np.abs(ct.bias)[None, :, None, None]) + 1e-6
    assert_close(ct(x), want, tol, repr(ct))
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)  # output padding must be smaller than stride or dilation


def test_upsample():
    x = rand((1, 2, 3, 4), 4)
    up = nn.Upsample(scale_factor=2, mode="nearest")
    assert repr(up) == "Upsample(scale_factor=2.0, mode=nearest)"
    np.testing.assert_array_equal(up(x), x.repeat(2, axis=2).repeat(2, axis=3))
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2), up(x))
    bil = nn.Upsample(size=(5, 7), mode="bilinear", align_corners=False)
    want = bil._reference(x)
    # y = l0h (l0w x00 + l1w x01) + l1h (l0w x10 + l1w x11): a few roundings of values <= max|x|
    assert_close(bil(x), want, 8 * U * float(np.abs(x).max()) + 1e-7, repr(bil))
    assert repr(nn.UpsamplingBilinear2d(scale_factor=2)) == "UpsamplingBilinear2d(scale_factor=2.0, mode=bilinear)"
    assert nn.UpsamplingNearest2d(size=6)(x).shape == (1, 2, 6, 6)


def test_adaptive_max_pool2d_and_none_sizes():
    x = rand((2, 3, 7, 9), 5)
    mp = nn.AdaptiveMaxPool2d((2, None))
    assert repr(mp) == "AdaptiveMaxPool2d(output_size=(2, None))"
    np.testing.assert_array_equal(mp(x), mp._reference(x))
    assert mp(x).shape == (2, 3, 2, 9)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(x, 1), x.max(axis=(2, 3), keepdims=True))
    assert nn.AdaptiveAvgPool2d((None, 3))(x).shape == (2, 3, 7, 3)


def test_layer_norm():
    ln = nn.LayerNorm(6)
    assert repr(ln) == "LayerNorm((6,), eps=1e-05, elementwise_affine=True)"
    assert list(ln.state_dict()) == ["weight", "bias"]
    ln.weight, ln.bias = rand((6,), 6), rand((6,), 7)
    x = rand((2, 5, 6), 8)
    want = ln._reference(x)
    # mean and variance as fp32 sums of 6 terms, a reciprocal square root, a product and a sum:
    # within 32 ulp of the output's scale (the normalized values are at most sqrt(6) in size).
    assert_close(ln(x), want, 32 * U * (np.abs(want) + 3), repr(ln))


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_against_torch():
    import torch
    tnn = torch.nn
    torch.manual_seed(0)
    pairs = [(tnn.ReLU6(), nn.ReLU6()), (tnn.Hardtanh(-2.0, 3.0), nn.Hardtanh(-2.0, 3.0)),
             (tnn.LeakyReLU(0.1), nn.LeakyReLU(0.1)), (tnn.ELU(0.5), nn.ELU(0.5)), (tnn.Sigmoid(), nn.Sigmoid()),
             (tnn.Tanh(), nn.Tanh()), (tnn.SiLU(), nn.SiLU()), (tnn.Hardswish(), nn.Hardswish()),
             (tnn.Hardsigmoid(), nn.Hardsigmoid()), (tnn.GELU(), nn.GELU()), (tnn.GELU("tanh"), nn.GELU("tanh")),
             (tnn.PReLU(4), nn.PReLU(4)), (tnn.ConvTranspose2d(4, 2, 3, 2, 1, 1), nn.ConvTranspose2d(4, 2, 3, 2, 1, 1)),
             (tnn.Upsample(scale_factor=1.5, mode="bilinear"), nn.Upsample(scale_factor=1.5, mode="bilinear")),
             (tnn.AdaptiveMaxPool2d((3, 2)), nn.AdaptiveMaxPool2d((3, 2))), (tnn.LayerNorm([5, 6]), nn.LayerNorm([5, 6]))]
    for t, v in pairs:
        assert repr(v) == repr(t)
        v.load_state_dict(t.state_dict())
        x = torch.randn(2, 4, 5, 6)
        with torch.no_grad():
            want = t(x).numpy()
        assert_close(v(x), want, scale_tolerance(want), repr(t))
