"""The README's "From Python" examples: each is a file under tests/python/examples/, the README holds
identical copies (checked here), and each runs here with its results checked."""
import os
import re
import runpy
import sys

import numpy as np
import pytest

from conftest import ROOT, has_torch
from helpers import assert_close, conv_reference, conv_tolerance, scale_tolerance

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
NAMES = ["edge_kernel.py", "simple_cnn.py", "depthwise_separable.py", "resnet18.py"]


def readme_examples():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return dict(re.findall(r"<!-- example: tests/python/examples/(\S+) -->\n```python\n(.*?)```", text, re.S))


def test_readme_holds_every_example_unchanged():
    blocks = readme_examples()
    assert sorted(blocks) == sorted(NAMES), "README examples: " + ", ".join(sorted(blocks))
    for name in NAMES:
        with open(os.path.join(EXAMPLES, name)) as f:
            assert blocks[name] == f.read(), f"README's copy of {name} differs from tests/python/examples/{name}"


def run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")


def test_edge_kernel(tmp_path, monkeypatch, capsys):
    g = run("edge_kernel.py", tmp_path, monkeypatch)
    x, w, b = g["input_tensor"], g["conv1"].weight, g["conv1"].bias
    assert g["output1"].shape == (1, 1, 6, 6) and g["output2"].shape == (1, 1, 4, 4)
    assert_close(g["output1"], conv_reference(x, w, b), conv_tolerance(x, w, b))
    assert_close(g["output2"], conv_reference(x, w, b, 2, 1), conv_tolerance(x, w, b, 2, 1))
    out = capsys.readouterr().out
    assert "Output shape (stride=1, padding=0): (1, 1, 6, 6)" in out
    assert "Output shape (stride=2, padding=1): (1, 1, 4, 4)" in out


def test_depthwise_separable(tmp_path, monkeypatch, capsys):
    g = run("depthwise_separable.py", tmp_path, monkeypatch)
    x, dw, pw = g["input_tensor"], g["depthwise"], g["pointwise"]
    mid = conv_reference(x, dw.weight, dw.bias, groups=3)
    assert_close(g["depthwise_output"], mid, conv_tolerance(x, dw.weight, dw.bias, groups=3))
    assert_close(g["final_output"], conv_reference(mid, pw.weight, pw.bias), 1e-5)
    out = capsys.readouterr().out
    for line in ["Depthwise output shape: (1, 3, 3, 3)", "Final output shape: (1, 1, 3, 3)",
                 "Standard Conv2d parameters: 73856", "Grouped Conv2d parameters: 36992",
                 "Depthwise Conv2d parameters: 640"]:
        assert line in out


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_simple_cnn_from_state_dict(tmp_path, monkeypatch, capsys):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
    from tutorial_models import SimpleCNN  # the tutorial's module, verbatim
    torch.manual_seed(0)
    reference = SimpleCNN().eval()
    torch.save(reference.state_dict(), tmp_path / "simple_cnn.pt")
    g = run("simple_cnn.py", tmp_path, monkeypatch)
    assert repr(g["model"]) == repr(reference)
    with torch.no_grad():
        want = reference(torch.from_numpy(g["images"])).numpy()
    assert_close(g["logits"], want, scale_tolerance(want), "SimpleCNN logits")
    assert repr(reference) in capsys.readouterr().out


@pytest.mark.skipif(not has_torch(), reason="PyTorch is not installed")
def test_resnet18_from_torch(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    g = run("resnet18.py", tmp_path, monkeypatch)
    assert repr(g["model"].conv1) == "Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)"
    assert repr(g["model"]) == repr(g["resnet"])
    with torch.no_grad():
        want = g["resnet"](g["x"]).numpy()
    assert g["y"].shape == (1, 10)
    assert_close(g["y"], want, scale_tolerance(want), "ResNet-18 logits")
