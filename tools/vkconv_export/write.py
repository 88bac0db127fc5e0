"""Writing: the .safetensors format (by hand, no safetensors package), the description's JSON
text, export() and export_onnx()."""
import json
import struct
import warnings

import torch

from .description import _describe
from .rebuild import _verify


_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} as .safetensors: u64 LE header length, JSON header padded with spaces
    to a multiple of 8 bytes, then the raw little-endian data in the header's order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        if key == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise ValueError(f"tensor '{key}' has unsupported dtype {t.dtype}")
        if t.dtype == torch.bfloat16:
            data = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _json_text(desc):
    head = {k: v for k, v in desc.items() if k not in ("layers", "outputs")}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "layers": [')
    for i, l in enumerate(desc["layers"]):
        lines.append("    " + json.dumps(l) + ("," if i + 1 < len(desc["layers"]) else ""))
    lines.append("  ]" + ("," if "outputs" in desc else ""))
    if "outputs" in desc:
        lines.append(f'  "outputs": {json.dumps(desc["outputs"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def export(module, example_input, json_path, safetensors_path, name=None, verify=True):
    """Writes the vkconv JSON description of `module` to json_path and its state_dict (the entries
    of the modules forward() uses) to safetensors_path. `example_input` is one batch ([N, ...]);
    `name` defaults to the module's class name (the title of vkconv's printed summary).
    The module is put in eval mode. Returns the description (a dict). Raises ExportError when the
    module cannot be exported."""
    desc, state, reference = _describe(module, example_input, name)
    if verify:
        _verify(reference, desc, state, example_input)
    if json_path:
        with open(json_path, "w") as f:
            f.write(_json_text(desc))
    if safetensors_path:
        save_safetensors(state, safetensors_path, metadata={"format": "pt"})
    return desc


def export_onnx(module, example_input, path, opset=17):
    """Writes `module` (put in eval mode) to `path` with torch.onnx.export at `opset`, with the
    batch dimension symbolic ("N"): input "input"; outputs "output", or a dict's keys, or "0",
    "1", ... for a tuple or list. Returns the output names."""
    module.eval()
    with torch.no_grad():
        y = module(example_input)
    if isinstance(y, dict):
        names = [str(k) for k in y.keys()]
    elif isinstance(y, (tuple, list)):
        names = [str(i) for i in range(len(y))]
    else:
        names = ["output"]
    with warnings.catch_warnings():
        # torch.onnx's tracer warns about every Python-level size computation (x.size(), view(b, -1)),
        # which vkconv's loader folds to constants.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, example_input, path, opset_version=opset, input_names=["input"], output_names=names,
                          dynamic_axes={"input": {0: "N"}, **{n: {0: "N"} for n in names}})
    return names
