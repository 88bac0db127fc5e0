#!/usr/bin/python3
"""PyTorch CPU latency of a whole model, for `vkconv bench --model M --torch`.

    /usr/bin/python3 tools/bench_model_torch.py --module torchvision.models:resnet18 \\
        --input-shape 3,224,224 --batches 1,8 [--weights model.safetensors] [--json]

--module is package.module:Name or path/to/file.py:Name (as tools/export_model.py takes it); it is
called with no arguments (torchvision's builders then give random weights). With --weights the
state_dict is loaded from a .safetensors file (the one exported with the model). The model runs
in eval mode under torch.no_grad(); median over at least --reps runs and --min-time seconds per
batch, input allocated once, after 3 warm-up runs.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

from export_model import load_class  # the same --module spellings (this folder is on sys.path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "BF16": torch.bfloat16}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v["dtype"]]) if b > a else torch.empty(0, dtype=dtypes[v["dtype"]])
        out[k] = t.reshape(v["shape"])
    return out


def time_batch(model, shape, min_reps, min_time):
    x = torch.rand(shape)
    with torch.no_grad():
        for _ in range(3):
            model(x)
        times = []
        start = time.perf_counter()
        while len(times) < min_reps or time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
            if len(times) >= 100000:
                break
    return {"batch": shape[0], "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "reps": len(times)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", required=True)
    ap.add_argument("--input-shape", required=True, help="input shape without the batch, e.g. 3,224,224")
    ap.add_argument("--batches", default="1")
    ap.add_argument("--weights", default="", help=".safetensors state_dict to load (strict)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: os.cpu_count())")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    model = load_class(a.module)()
    if a.weights:
        model.load_state_dict(load_safetensors(a.weights))
    model.eval()
    shape = [int(s) for s in a.input_shape.split(",") if s]
    rows = [time_batch(model, [int(b)] + shape, a.reps, a.min_time) for b in a.batches.split(",") if b]
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for r in rows:
        print(f"batch {r['batch']}: median {r['median_ms']:.3f} ms (min {r['min_ms']:.3f}, max {r['max_ms']:.3f}, {r['reps']} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
