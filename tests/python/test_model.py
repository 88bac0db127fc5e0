"""vkconv.load and vkconv.from_torch: PyTorch's outputs (tests/data/models, made by
tools/fixtures/gen_model_fixtures.py), the CPU reference, repr, state_dict, errors."""
import json
import os

import numpy as np
import pytest

import vkconv
from conftest import DATA, has_torch
from helpers import assert_close, rand, scale_tolerance

MODELS = os.path.join(DATA, "models")


def _manifest():
    with open(os.path.join(MODELS, "manifest.json")) as f:
        return json.load(f)["models"]


WITH_WEIGHTS = [m for m in _manifest() if m["weights"]]


@pytest.mark.parametrize("entry", WITH_WEIGHTS, ids=[m["dir"] for m in WITH_WEIGHTS])
def test_load_matches_pytorch(entry):
    d = os.path.join(MODELS, entry["dir"])
    model = vkconv.load(os.path.join(d, "model.json"), weights=os.path.join(d, entry["weights"]))
    assert model.input_shape == tuple(entry["sample_shape"])
    for case in entry["cases"]:
        x = np.load(os.path.join(d, case["input"]))
        want = np.load(os.path.join(d, case["output"]))
        assert_close(model(x), want, scale_tolerance(want), f"{entry['dir']} {case['input']}")
        assert_close(model(vkconv.Tensor.from_numpy(x)).numpy(), want, scale_tolerance(want), entry["dir"])
        assert_close(model._reference(x), want, scale_tolerance(want), entry["dir"] + " (CPU reference)")
    sd = model.state_dict()
    assert sum(v.size for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) \
        == entry["parameter_count"]
    if entry["summary"] == "exact":
        with open(os.path.join(d, "summary.txt")) as f:
            assert repr(model) == f.read().rstrip("\n")


def test_load_npy_folder_weights_and_state_dict_round_trip():
    d = os.path.join(MODELS, "simple_cnn")
    a = vkconv.load(os.path.join(d, "model.json"), weights=os.path.join(d, "npy"))
    b = vkconv.load(os.path.join(d, "model.json"))  # seeded default initialisation
    x = np.load(os.path.join(d, "input_b2.npy"))
    assert not np.allclose(a(x), b(x))
    sd = a.state_dict()
    assert list(sd)[:2] == ["conv1.weight", "conv1.bias"]  # layer order, weight before bias, as PyTorch
    r = b.load_state_dict(sd)
    assert r.missing_keys == [] and r.unexpected_keys == []
    np.testing.assert_array_equal(a(x), b(x))
    first = next(iter(sd))
    with pytest.raises(RuntimeError, match=first):
        b.load_state_dict({k: v for k, v in sd.items() if k != first})
    r = b.load_state_dict({first: sd[first], "nonsense.weight": sd[first]}, strict=False)
    assert r.unexpected_keys == ["nonsense.weight"] and first not in r.missing_keys
    assert repr(a).startswith("SimpleCNN(\n")
    # layers as attributes, sharing the model's weights
    conv1 = a.conv1
    assert repr(conv1) == "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    np.testing.assert_array_equal(conv1.weight, sd["conv1.weight"])
    conv1.weight = np.zeros_like(sd["conv1.weight"])
    assert (a.state_dict()["conv1.weight"] == 0).all()
    with pytest.raises(AttributeError):
        a.no_such_layer


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no_such.json"):
        vkconv.load(tmp_path / "no_such.json")
    (tmp_path / "bad.json").write_text('{"format": "vkconv-model", "version": 1, "layers": [{"name": "a", "type": "Nope"}]}')
    with pytest.raises(ValueError, match="Nope"):
        vkconv.load(tmp_path / "bad.json")
    d = os.path.join(MODELS, "simple_cnn")
    with pytest.raises(RuntimeError, match="no_such.safetensors"):
        vkconv.load(os.path.join(d, "model.json"), weights=tmp_path / "no_such.safetensors")
    model = vkconv.load(os.path.join(d, "model.json"))
    with pytest.raises(RuntimeError, match="expected input\\[2, 4, 32, 32\\] to have 3 channels"):
        model(np.zeros((2, 4, 32, 32), np.float32))
    with pytest.raises(TypeError, match="float64"):
        model(np.zeros((2, 3, 32, 32)))


def test_onnx(tmp_path):
    if hasattr(vkconv._vkconv.Model, "from_onnx_file"):
        pytest.skip("ONNX is supported by this build: tested with the ONNX models")
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="ONNX models are not supported"):
        vkconv.load(tmp_path / "m.onnx")


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_from_torch():
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
            self.bn = tnn.BatchNorm2d(8)
            self.dw = tnn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.head = tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(8, 4), tnn.Softmax(dim=1))

        def forward(self, x):
            x = F.relu(self.bn(self.conv(x)))
            x = x + self.dw(x)
            return self.head(F.max_pool2d(x, 2))

    torch.manual_seed(0)
    module = Block()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
    model = vkconv.from_torch(module, torch.randn(1, 3, 12, 12))
    assert repr(model) == repr(module)
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        want = module(x).numpy()
    assert_close(model(x), want, scale_tolerance(want))
    assert_close(model(x.numpy()), want, scale_tolerance(want))
    from_numpy = vkconv.from_torch(module, np.zeros((1, 3, 12, 12), np.float32))  # numpy example input
    assert_close(from_numpy(x), want, scale_tolerance(want))
    assert list(model.state_dict()) == [k for k in module.state_dict()]
    class Unsupported(tnn.Module):
        def forward(self, x):
            return torch.sigmoid(x) * 2

    with pytest.raises(ValueError, match="sigmoid"):  # the exporter's ExportError, a ValueError
        vkconv.from_torch(Unsupported(), torch.randn(1, 3, 4, 4))


def test_tensor_chain_through_model():
    d = os.path.join(MODELS, "tiny_resnet")
    model = vkconv.load(os.path.join(d, "model.json"), weights=os.path.join(d, "model.safetensors"))
    x = rand((2, 3, 16, 16), 1)
    t = model(vkconv.Tensor.from_numpy(x))
    assert isinstance(t, vkconv.Tensor) and t.shape == (2, 10)
    np.testing.assert_array_equal(t.numpy(), model(x))
