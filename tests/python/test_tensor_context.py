"""vkconv.devices, vkconv.Context, the default context, vkconv.Tensor and device-resident chains."""
import os

import numpy as np
import pytest

import vkconv
import vkconv.nn as nn
from conftest import has_torch
from helpers import rand


def test_devices():
    devs = vkconv.devices()
    assert devs and sum(d["chosen"] for d in devs) == 1
    for d in devs:
        for key in ["index", "name", "type", "driver", "api_version", "max_workgroup_count", "max_workgroup_size",
                    "max_storage_buffer_range", "max_memory_allocation_size", "subgroup_size", "device_local_bytes"]:
            assert key in d, key
    assert vkconv.default_context().info["name"] == next(d["name"] for d in devs if d["chosen"])


def test_context_arguments():
    ctx = vkconv.Context(device=0, validation=True)
    assert ctx.validation and ctx.info["index"] == 0
    assert repr(ctx).startswith("vkconv.Context(device=0 ")
    by_name = vkconv.Context(device=vkconv.devices()[0]["name"][:4])
    assert by_name.info["name"] == vkconv.devices()[0]["name"] or by_name.info["name"].startswith(vkconv.devices()[0]["name"][:4])
    with pytest.raises(ValueError, match="no_such_gpu"):
        vkconv.Context(device="no_such_gpu")
    with pytest.raises(ValueError, match=">= 0"):
        vkconv.Context(device=-1)
    with pytest.raises(TypeError):
        vkconv.Context(device=1.5)
    with pytest.raises(TypeError):
        vkconv.set_default_context("gpu")


def test_layers_on_their_own_context():
    ctx = vkconv.Context()
    conv = nn.Conv2d(2, 2, 3, context=ctx)
    assert conv.context is ctx
    x = rand((1, 2, 5, 5), 1)
    np.testing.assert_array_equal(conv(x), vkconv.conv2d(x, conv.weight, conv.bias))
    t = vkconv.Tensor.from_numpy(x)  # on the default context
    with pytest.raises(ValueError, match="different vkconv.Context"):
        conv(t)
    tc = vkconv.Tensor.from_numpy(x, ctx)
    assert tc.context is ctx and conv(tc).context is ctx
    assert vkconv.conv2d(tc, conv.weight).context is ctx


def test_tensor_round_trip():
    x = rand((2, 3, 4, 5), 2)
    t = vkconv.Tensor.from_numpy(x)
    assert t.shape == (2, 3, 4, 5) and t.ndim == 4 and t.size() == (2, 3, 4, 5) and t.size(1) == 3
    assert repr(t) == "vkconv.Tensor(shape=(2, 3, 4, 5))"
    np.testing.assert_array_equal(t.numpy(), x)
    np.testing.assert_array_equal(np.asarray(t), x)
    assert t.reshape(2, -1).shape == (2, 60) and t.view(-1).shape == (120,)
    np.testing.assert_array_equal(t.view(6, 20).numpy(), x.reshape(6, 20))
    with pytest.raises(RuntimeError, match="invalid for input of size 120"):
        t.view(7, -1)
    with pytest.raises(ValueError):
        t.reshape(7, 3)
    with pytest.raises(TypeError, match="float64"):
        vkconv.Tensor.from_numpy(x.astype(np.float64))
    empty = vkconv.Tensor.from_numpy(np.zeros((0, 3), np.float32))
    assert empty.numpy().shape == (0, 3)


def test_device_resident_chain_has_no_host_transfers():
    conv1, conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    x = rand((2, 3, 16, 16), 3)

    def chain(t):
        return pool(relu(conv2(pool(relu(conv1(t))))))

    want = chain(x)  # numpy in and out of every layer
    chain(vkconv.Tensor.from_numpy(x))  # warm-up: weights uploaded once
    ctx = vkconv.default_context()
    t = vkconv.Tensor.from_numpy(x)
    before = ctx.stats()
    y = chain(t)
    middle = ctx.stats()
    out = y.numpy()
    after = ctx.stats()
    assert middle["host_transfers"] == before["host_transfers"], "a Tensor chain must stay on the device"
    assert middle["submissions"] - before["submissions"] == 6
    assert after["host_transfers"] - middle["host_transfers"] <= 1
    np.testing.assert_array_equal(out, want)


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_tensor_from_torch():
    import torch
    x = torch.randn(2, 3, 4, 4)
    np.testing.assert_array_equal(vkconv.Tensor.from_numpy(x).numpy(), x.numpy())
    # through DLPack only (no __array__)
    class OnlyDLPack:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None):
            return self.t.__dlpack__()

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()
    np.testing.assert_array_equal(vkconv.Tensor.from_numpy(OnlyDLPack(x)).numpy(), x.numpy())
    with pytest.raises(TypeError, match="torch.int64"):
        vkconv.Tensor.from_numpy(torch.zeros(2, dtype=torch.int64))


def test_clean_exit_in_a_fresh_interpreter():
    # Objects left alive at exit (a layer, a tensor, the default context) are released without a
    # crash or a message; vkconv does not import torch.
    import subprocess
    import sys
    code = ("import numpy as np, vkconv\n"
            "conv = vkconv.nn.Conv2d(1, 2, 3)\n"
            "t = conv(vkconv.Tensor.from_numpy(np.ones((1, 1, 5, 5), np.float32)))\n"
            "print(t.shape)\n"
            "import sys; assert 'torch' not in sys.modules\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(vkconv.__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "(1, 2, 3, 3)\n" and r.stderr == ""
