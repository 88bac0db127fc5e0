#!/usr/bin/python3
"""Runs torchvision's models (and the tutorials') through tools/export_model.py and `vkconv run`,
against PyTorch: random weights with random BatchNorm statistics, eval mode, batch 1 and 2. Each
model passes when vkconv's output is within 1e-4 of the output's scale (max |y|) of PyTorch's.

    /usr/bin/python3 tools/check_torchvision.py [--vkconv build/tools/vkconv] [--models resnet18,vgg16]
        [--size 64] [--work /tmp/vkconv-zoo] [--keep]

Prints one line a model (exported layers, error, time) and exits non-zero if any model fails.
Nothing is downloaded: every weight is random.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm
import torchvision.models.segmentation as seg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixtures"))
import export_model  # noqa: E402
from gen_model_fixtures import seeded_model  # noqa: E402
import tutorial_models  # noqa: E402


def _unet(depth, base):
    """A small U-Net: conv blocks down with max pooling, ConvTranspose2d up, torch.cat skips."""

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [base * 2 ** i for i in range(depth + 1)]
            self.downs = nn.ModuleList()
            cin = 3
            for c in chans[:-1]:
                self.downs.append(block(cin, c))
                cin = c
            self.bottom = block(chans[-2], chans[-1])
            self.ups = nn.ModuleList()
            self.up_blocks = nn.ModuleList()
            for c in reversed(chans[:-1]):
                self.ups.append(nn.ConvTranspose2d(c * 2, c, 2, stride=2))
                self.up_blocks.append(block(c * 2, c))
            self.head = nn.Conv2d(base, 2, 1)

        def forward(self, x):
            skips = []
            for d in self.downs:
                x = d(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.bottom(x)
            for up, blk, s in zip(self.ups, self.up_blocks, reversed(skips)):
                x = blk(torch.cat([up(x), s], dim=1))
            return self.head(x)

    return UNet()


def _unet_bilinear():
    """A U-Net variant that upsamples with F.interpolate(bilinear) instead of ConvTranspose2d."""

    class UNetB(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.enc2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.dec = nn.Sequential(nn.Conv2d(24, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            a = self.enc1(x)
            b = self.enc2(nn.functional.max_pool2d(a, 2))
            b = nn.functional.interpolate(b, scale_factor=2, mode="bilinear", align_corners=False)
            return torch.sigmoid(self.head(self.dec(torch.cat([a, b], 1))))

    return UNetB()


MODELS = {
    "simple_cnn": (tutorial_models.SimpleCNN, 32),
    "landmark_cnn": (tutorial_models.LandmarkCNN, 32),
    "resnet18_transfer": (tutorial_models.resnet18_transfer, None),
    "resnet18": (tvm.resnet18, None),
    "resnet50": (tvm.resnet50, None),
    "resnet101": (tvm.resnet101, None),
    "mobilenet_v2": (tvm.mobilenet_v2, None),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, None),
    "squeezenet1_1": (tvm.squeezenet1_1, None),
    "shufflenet_v2_x0_5": (tvm.shufflenet_v2_x0_5, None),
    "efficientnet_b0": (tvm.efficientnet_b0, None),
    "regnet_x_400mf": (tvm.regnet_x_400mf, None),
    "densenet121": (tvm.densenet121, None),
    "vgg11": (tvm.vgg11, None),
    "vgg16": (tvm.vgg16, None),
    "alexnet": (tvm.alexnet, 96),
    "googlenet": (lambda: tvm.googlenet(aux_logits=False, init_weights=False), None),
    "mnasnet0_5": (tvm.mnasnet0_5, None),
    "convnext_tiny": (tvm.convnext_tiny, None),
    "fcn_resnet50": (lambda: seg.fcn_resnet50(weights_backbone=None, aux_loss=True), None),
    "lraspp_mobilenet_v3_large": (lambda: seg.lraspp_mobilenet_v3_large(weights_backbone=None), None),
    "unet": (lambda: _unet(3, 8), None),
    "unet_bilinear": (_unet_bilinear, None),
}


def worst_error(tool, model_args, model, x, d, names=None):
    """Runs `vkconv run <model_args>` on x[:1] and x[:2] (files in d) and returns the worst
    max |vkconv - PyTorch| / max |y| over both batches and every output. names: the output's name
    on the command line where the model returns one tensor (None: the bare path)."""
    worst = 0.0
    for n in (1, 2):
        xin = os.path.join(d, f"x{n}.npy")
        np.save(xin, x[:n].numpy())
        with torch.no_grad():
            want = model(x[:n])
        wants = want if isinstance(want, dict) else {(names or [""])[0]: want}
        paths = {k: os.path.join(d, f"y{n}{'_' + k if k else ''}.npy") for k in wants}
        outs = []
        for k, path in paths.items():
            outs += ["--output", (f"{k}=" if k else "") + path]
        r = subprocess.run([tool, "run", *model_args, "--input", xin] + outs, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"vkconv run failed: {r.stderr.strip()}")
        for k, w in wants.items():
            got = np.load(paths[k])
            w = w.numpy()
            if got.shape != w.shape:
                raise RuntimeError(f"output {k or 0} shape {list(got.shape)}, PyTorch {list(w.shape)}")
            scale = float(np.abs(w).max()) or 1.0
            worst = max(worst, float(np.abs(got - w).max()) / scale)
    return worst


def report(label, run, work_dir, keep):
    """Prints one line for label from run() -> (error / scale, seconds, size), or the exception it
    raised, removes work_dir unless keep, and returns whether it failed (error above 1e-4)."""
    try:
        err, secs, size = run()
        ok = err <= 1e-4
        print(f"{label} {size:4d}px  max error / scale {err:.2e}  {'ok' if ok else 'FAILED'}  ({secs:.0f} s)", flush=True)
        return not ok
    except Exception as e:  # report and go on with the next model
        msg = str(e).strip().splitlines()
        print(f"{label} FAILED: {type(e).__name__}: {msg[-1] if msg else ''}", flush=True)
        if os.environ.get("VKCONV_CHECK_TRACEBACK"):
            traceback.print_exc()
        return True
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)


def run_one(name, tool, size, work):
    make, fixed = MODELS[name]
    size = fixed or size
    model, x = seeded_model(make, size)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    js, st = os.path.join(d, "model.json"), os.path.join(d, "model.safetensors")
    t0 = time.time()
    export_model.export(model, x[:1], js, st, name=name)
    worst = worst_error(tool, ["--model", js, "--weights", st], model, x, d)
    return worst, time.time() - t0, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vkconv", default=os.path.join(HERE, "..", "build", "tools", "vkconv"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--work", default="/tmp/vkconv-zoo")
    ap.add_argument("--keep", action="store_true", help="keep the exported files")
    a = ap.parse_args()
    failed = 0
    for name in a.models.split(","):
        failed += report(f"{name:28s}", lambda: run_one(name, a.vkconv, a.size, a.work), os.path.join(a.work, name), a.keep)
    print(f"{len(a.models.split(',')) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
