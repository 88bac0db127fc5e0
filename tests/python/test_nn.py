"""vkconv.nn: every layer against the engine's CPU reference, PyTorch's reprs, parameters,
state_dict / load_state_dict and their errors, user-defined Modules."""
import collections

import numpy as np
import pytest

import vkconv
import vkconv.nn as nn
import vkconv.nn.functional as F
from conftest import has_torch
from helpers import assert_close, conv_tolerance, rand, scale_tolerance

EPS = 2.0 ** -24


# ---- Conv2d -----------------------------------------------------------------------------------

CONV_ARGS = [
    ((3, 16, 3), dict(padding=1)),
    ((1, 32, 5), dict(stride=2, padding=2)),
    ((10, 20, (3, 5)), dict(bias=False)),
    ((8, 16, 3), dict(padding="same", dilation=2, groups=8, padding_mode="reflect")),
    ((4, 4, 2), dict(padding="valid", padding_mode="circular")),
    ((6, 3, (1, 3)), dict(stride=(2, 1), padding=(0, 1), groups=3, padding_mode="replicate")),
]

CONV_REPRS = [
    "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
    "Conv2d(1, 32, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))",
    "Conv2d(10, 20, kernel_size=(3, 5), stride=(1, 1), bias=False)",
    "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=8, padding_mode=reflect)",
    "Conv2d(4, 4, kernel_size=(2, 2), stride=(1, 1), padding=valid, padding_mode=circular)",
    "Conv2d(6, 3, kernel_size=(1, 3), stride=(2, 1), padding=(0, 1), groups=3, padding_mode=replicate)",
]


@pytest.mark.parametrize("args, kwargs, want", [(a, k, r) for (a, k), r in zip(CONV_ARGS, CONV_REPRS)], ids=CONV_REPRS)
def test_conv2d_module(args, kwargs, want):
    conv = nn.Conv2d(*args, **kwargs)
    assert repr(conv) == want
    cin, cout = args[0], args[1]
    groups = kwargs.get("groups", 1)
    k = args[2] if isinstance(args[2], tuple) else (args[2], args[2])
    assert conv.weight.shape == (cout, cin // groups) + k and conv.weight.dtype == np.float32
    assert (conv.bias is None) == (kwargs.get("bias", True) is False)
    assert conv.in_channels == cin and conv.out_channels == cout and conv.kernel_size == k
    x = rand((2, cin, 9, 11), 1)
    y = conv(x)
    functional_args = {k: v for k, v in kwargs.items() if k != "bias"}
    want_y = conv._reference(x)
    assert_close(y, want_y, conv_tolerance(x, conv.weight, conv.bias, **functional_args), want)
    # the same as the functional form with the module's parameters
    np.testing.assert_array_equal(vkconv.conv2d(x, conv.weight, conv.bias, **functional_args), y)


def test_conv2d_default_initialisation_is_pytorchs_distribution():
    import random
    random.seed(1)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1.0 / np.sqrt(16 * 9)  # kaiming_uniform(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), ..)
    assert np.abs(conv.weight).max() <= bound and np.abs(conv.bias).max() <= bound
    assert conv.weight.std() > bound / 3
    random.seed(1)
    np.testing.assert_array_equal(nn.Conv2d(16, 32, 3).weight, conv.weight)  # repeatable with random.seed


def test_conv2d_weight_and_bias_assignment():
    conv = nn.Conv2d(2, 3, 3)
    w, b = rand((3, 2, 3, 3), 2), rand((3,), 3)
    conv.weight, conv.bias = w, b
    np.testing.assert_array_equal(conv.weight, w)
    np.testing.assert_array_equal(conv.bias, b)
    with pytest.raises(ValueError, match=r"Conv2d.weight must have shape \(3, 2, 3, 3\), got \(3, 2, 3\)"):
        conv.weight = w[..., 0]
    with pytest.raises(TypeError, match="float64"):
        conv.weight = w.astype(np.float64)
    with pytest.raises(ValueError, match="read-only"):
        conv.weight[0, 0, 0, 0] = 1.0  # a copy: in-place edits would be lost, so they are refused
    no_bias = nn.Conv2d(2, 3, 3, bias=False)
    assert no_bias.bias is None
    with pytest.raises(ValueError, match="bias=False"):
        no_bias.bias = b


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(3, 16, 3, groups=2), "in_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), "out_channels must be divisible by groups"),
    (lambda: nn.Conv2d(3, 16, 3, stride=2, padding="same"), "padding='same' is not supported for strided convolutions"),
    (lambda: nn.Conv2d(3, 16, 3, padding="full"), "Invalid padding string 'full', should be one of {'valid', 'same'}"),
    (lambda: nn.Conv2d(3, 16, 3, padding_mode="mirror"),
     "padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='mirror'"),
    (lambda: nn.Conv2d(3, 16, 0), "kernel_size must be positive"),
    (lambda: nn.Conv2d(3, 16, 3, groups=0), "groups must be a positive integer"),
    (lambda: nn.Conv2d(3, 16, 3, dilation=0), "dilation must be positive"),
])
def test_conv2d_constructor_errors_are_value_errors(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert message in str(e.value)


def test_conv2d_forward_errors_are_runtime_errors():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(RuntimeError) as e:
        conv(np.zeros((1, 4, 8, 8), np.float32))
    assert str(e.value) == ("Given groups=1, weight of size [16, 3, 3, 3], expected input[1, 4, 8, 8] to have 3 channels, "
                            "but got 4 channels instead")
    with pytest.raises(TypeError, match="int32"):
        conv(np.zeros((1, 3, 8, 8), np.int32))
    with pytest.raises(TypeError, match="vkconv computes in float32, got dtype float64"):
        nn.Conv2d(3, 16, 3, dtype="float64")


# ---- the other layers -------------------------------------------------------------------------

def _window_tol(x, k):
    # A mean of k fp32 values: sum error <= k 2^-24 sum|x| (bounded by k max|x|), then one division.
    return 2.0 * (k + 1) * EPS * k * float(np.abs(x).max()) + 1e-6


LAYERS = [
    ("ReLU()", lambda: nn.ReLU(), (2, 3, 5, 5), lambda x: 0),
    ("ReLU(inplace=True)", lambda: nn.ReLU(inplace=True), (2, 3, 5, 5), lambda x: 0),
    ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)", lambda: nn.MaxPool2d(2),
     (2, 3, 8, 7), lambda x: 0),
    ("MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)",
     lambda: nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True), (1, 2, 9, 9), lambda x: 0),
    ("AvgPool2d(kernel_size=3, stride=2, padding=1)", lambda: nn.AvgPool2d(3, 2, 1), (2, 3, 9, 8),
     lambda x: _window_tol(x, 9)),
    ("AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0)",
     lambda: nn.AvgPool2d((2, 3), ceil_mode=True, count_include_pad=False), (1, 2, 7, 8), lambda x: _window_tol(x, 6)),
    ("AdaptiveAvgPool2d(output_size=1)", lambda: nn.AdaptiveAvgPool2d(1), (2, 4, 7, 7), lambda x: _window_tol(x, 49)),
    ("AdaptiveAvgPool2d(output_size=(2, 3))", lambda: nn.AdaptiveAvgPool2d((2, 3)), (1, 3, 7, 8),
     lambda x: _window_tol(x, 20)),
    ("Linear(in_features=20, out_features=7, bias=True)", lambda: nn.Linear(20, 7), (3, 20),
     lambda x: 2.0 * 21 * EPS * 20 * float(np.abs(x).max()) + 1e-6),   # |w| <= 1/sqrt(20) < 1
    ("Linear(in_features=12, out_features=5, bias=False)", lambda: nn.Linear(12, 5, bias=False), (2, 4, 12),
     lambda x: 2.0 * 13 * EPS * 12 * float(np.abs(x).max()) + 1e-6),
    ("Flatten(start_dim=1, end_dim=-1)", lambda: nn.Flatten(), (2, 3, 4, 5), lambda x: 0),
    ("Flatten(start_dim=0, end_dim=2)", lambda: nn.Flatten(0, 2), (2, 3, 4, 5), lambda x: 0),
    ("Dropout(p=0.5, inplace=False)", lambda: nn.Dropout(), (2, 6), lambda x: 0),
    ("Dropout(p=0.2, inplace=True)", lambda: nn.Dropout(0.2, inplace=True), (2, 6), lambda x: 0),
    # exp in Vulkan: at most 3 + 2|x| ulp (|x| <= 2 here), then a sum of n terms and a division.
    ("Softmax(dim=1)", lambda: nn.Softmax(dim=1), (3, 10), lambda x: (7 + 10 + 2) * 2.0 ** -23),
    ("Softmax(dim=None)", lambda: nn.Softmax(), (3, 4, 5), lambda x: (7 + 3 + 2) * 2.0 ** -23),
    ("Softmax(dim=-1)", lambda: nn.Softmax(-1), (2, 3, 6), lambda x: (7 + 6 + 2) * 2.0 ** -23),
]


@pytest.mark.parametrize("want_repr, make, shape, tol", LAYERS, ids=[l[0] for l in LAYERS])
def test_layer_matches_reference(want_repr, make, shape, tol):
    layer = make()
    assert repr(layer) == want_repr
    x = rand(shape, 7)
    want = layer._reference(x.copy())
    y = layer(x.copy())
    assert_close(y, want, tol(x), want_repr)
    # and from device tensors
    t = layer(vkconv.Tensor.from_numpy(x))
    assert isinstance(t, vkconv.Tensor)
    assert_close(t.numpy(), want, tol(x), want_repr + " (Tensor)")


def test_batchnorm2d():
    bn = nn.BatchNorm2d(4)
    assert repr(bn) == "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.state_dict()["num_batches_tracked"].dtype == np.int64
    sd = collections.OrderedDict(weight=rand((4,), 1), bias=rand((4,), 2), running_mean=rand((4,), 3),
                                 running_var=rand((4,), 4) + 1.5, num_batches_tracked=np.array(7))
    bn.load_state_dict(sd)
    x = rand((2, 4, 5, 6), 5)
    mean, var = sd["running_mean"].astype(np.float64), sd["running_var"].astype(np.float64)
    scale = sd["weight"] / np.sqrt(var + 1e-5)
    shift = sd["bias"] - mean * scale
    # y = x * scale + shift in fp32 with scale, shift rounded once: a few ulp of |x scale| + |shift|
    tol = 4 * EPS * (np.abs(x) * np.abs(scale)[None, :, None, None] + np.abs(shift)[None, :, None, None]) + 1e-7
    assert_close(bn(x), bn._reference(x), tol, "BatchNorm2d")
    np.testing.assert_array_equal(bn.running_var, sd["running_var"])
    assert repr(nn.BatchNorm2d(8, eps=1e-3, momentum=None, affine=False)).startswith("BatchNorm2d(8, eps=0.001")


@pytest.mark.parametrize("make, message", [
    (lambda: nn.MaxPool2d(0), "kernel_size"),
    (lambda: nn.MaxPool2d(2, return_indices=True), "return_indices=True is not supported"),
    (lambda: nn.AvgPool2d(2, padding=2), "pad should be at most half of kernel size"),
    (lambda: nn.Linear(-1, 3), "in_features must be non-negative"),
    (lambda: nn.Dropout(1.5), "dropout probability has to be between 0 and 1"),
    (lambda: nn.AdaptiveAvgPool2d((None, 3)), "None is not supported"),
    (lambda: nn.BatchNorm2d(-1), "num_features must be non-negative"),
])
def test_layer_constructor_errors(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert message in str(e.value)


def test_relu_inplace_writes_into_the_array():
    x = rand((1, 2, 3, 3), 9)
    out = nn.ReLU(inplace=True)(x)
    assert out is x and (x >= 0).all()


# ---- state_dict -------------------------------------------------------------------------------

def test_state_dict_round_trip_and_errors():
    conv = nn.Conv2d(2, 3, 3)
    sd = conv.state_dict()
    assert list(sd) == ["weight", "bias"]
    other = nn.Conv2d(2, 3, 3)
    r = other.load_state_dict(sd)
    assert r.missing_keys == [] and r.unexpected_keys == []
    np.testing.assert_array_equal(other.weight, conv.weight)
    with pytest.raises(RuntimeError) as e:
        other.load_state_dict({"weight": sd["weight"], "extra": sd["bias"]})
    assert str(e.value) == ('Error(s) in loading state_dict for Conv2d:\n\tMissing key(s) in state_dict: "bias". '
                            '\n\tUnexpected key(s) in state_dict: "extra". ')
    with pytest.raises(RuntimeError) as e:
        other.load_state_dict({"weight": sd["weight"][:2], "bias": sd["bias"]})
    assert ("size mismatch for weight: copying a param with shape (2, 2, 3, 3) from checkpoint, the shape in current "
            "model is (3, 2, 3, 3).") in str(e.value)
    r = other.load_state_dict({"bias": np.zeros(3, np.float64), "extra": 1}, strict=False)  # converted as torch's copy_
    assert r.missing_keys == ["weight"] and r.unexpected_keys == ["extra"]
    assert (other.bias == 0).all()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(self.flatten(self.features(x)))


NET_REPR = """Net(
  (features): Sequential(
    (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (2): ReLU(inplace=True)
    (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  )
  (flatten): Flatten(start_dim=1, end_dim=-1)
  (fc): Linear(in_features=128, out_features=5, bias=True)
)"""

NET_KEYS = ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias", "features.1.running_mean",
            "features.1.running_var", "features.1.num_batches_tracked", "fc.weight", "fc.bias"]


def test_user_module():
    net = Net()
    assert repr(net) == NET_REPR
    assert list(net.state_dict()) == NET_KEYS
    x = rand((2, 3, 8, 8), 3)
    y = net(x)
    want = net.fc._reference(net.flatten._reference(net.features._reference(x)))
    assert_close(y, want, scale_tolerance(want))
    assert_close(net(vkconv.Tensor.from_numpy(x)).numpy(), want, scale_tolerance(want))
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "fc.bias"'):
        net.load_state_dict({k: v for k, v in net.state_dict().items() if k != "fc.bias"})
    with pytest.raises(NotImplementedError):
        net.train()
    assert net.eval() is net


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_against_torch_modules():
    import torch
    tnn = torch.nn
    pairs = [(tnn.Conv2d(*a, **k), nn.Conv2d(*a, **k)) for a, k in CONV_ARGS]
    pairs += [(tnn.ReLU(), nn.ReLU()), (tnn.ReLU(inplace=True), nn.ReLU(inplace=True)),
              (tnn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
              (tnn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.AvgPool2d(3, 1, 1, count_include_pad=False)),
              (tnn.AdaptiveAvgPool2d((2, 3)), nn.AdaptiveAvgPool2d((2, 3))), (tnn.BatchNorm2d(4), nn.BatchNorm2d(4)),
              (tnn.Linear(11, 3), nn.Linear(11, 3)), (tnn.Flatten(), nn.Flatten()), (tnn.Dropout(0.3), nn.Dropout(0.3)),
              (tnn.Softmax(dim=1), nn.Softmax(dim=1))]
    torch.manual_seed(0)
    for t, v in pairs:
        t.eval()
        assert repr(v) == repr(t)
        if isinstance(t, tnn.BatchNorm2d):
            t.running_mean.uniform_(-1, 1)
            t.running_var.uniform_(0.5, 2)
        sd = t.state_dict()
        assert list(v.state_dict()) == list(sd)
        v.load_state_dict(sd)
        if isinstance(t, tnn.Conv2d):
            x = torch.randn(2, t.in_channels, 9, 11)
        elif isinstance(t, tnn.Linear):
            x = torch.randn(3, 11)
        else:
            x = torch.randn(2, 4, 7, 8)
        with torch.no_grad():
            want = t(x.clone()).numpy()
        got = v(x.clone())
        assert_close(got, want, scale_tolerance(want), repr(t))
    assert repr(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())) == repr(tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.ReLU()))


def test_functional():
    x = rand((2, 3, 8, 8), 4)
    np.testing.assert_array_equal(F.relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(F.max_pool2d(x, 2), x.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))
    assert_close(F.avg_pool2d(x, 2), x.reshape(2, 3, 4, 2, 4, 2).mean(axis=(3, 5)), _window_tol(x, 4))
    assert_close(F.adaptive_avg_pool2d(x, 1), x.mean(axis=(2, 3), keepdims=True), _window_tol(x, 64))
    assert F.flatten(x, 1).shape == (2, 192)
    e = np.exp(x[0, 0] - x[0, 0].max(axis=-1, keepdims=True))
    assert_close(F.softmax(x, dim=-1)[0, 0], e / e.sum(axis=-1, keepdims=True), 16 * 2.0 ** -23)
    w, b = rand((4, 192), 5), rand((4,), 6)
    flat = x.reshape(2, 192)
    assert_close(F.linear(flat, w, b), flat.astype(np.float64) @ w.T.astype(np.float64) + b,
                 2.0 * 193 * EPS * (np.abs(flat) @ np.abs(w).T + np.abs(b)) + 1e-6)
    assert F.dropout(x, training=False) is x
    with pytest.raises(NotImplementedError):
        F.dropout(x)
    t = F.max_pool2d(F.relu(vkconv.Tensor.from_numpy(x)), 2)
    assert isinstance(t, vkconv.Tensor) and t.shape == (2, 3, 4, 4)
