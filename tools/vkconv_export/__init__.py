"""The exporter behind tools/export_model.py (whose docstring is the user documentation): a
torch.nn.Module traced with torch.fx and written as a vkconv JSON description with its weights in
.safetensors, or written as ONNX.

    nodes            ExportError; fx nodes: signatures and binding of functional calls, kinds
    module_layers    layers of module calls (nn.Conv2d, ...) and the supported module types
    function_layers  layers of functional calls (F.relu, x.view, x + y, F.interpolate, ...)
    shape_ops        Cat, Chunk/Split, Reshape, Permute/Transpose
    trace            graph checks, dead code, shape propagation, the concrete-shape tracer
    description      describe(): the description and the state_dict entries it needs
    rebuild          build_from_description() and the verification against the module
    write            save_safetensors(), the JSON text, export(), export_onnx()

Its modules import one another relatively, so that the package works both from tools/ and as a
subpackage of the Python package vkconv (python/CMakeLists.txt copies it there).
"""
from .description import describe
from .nodes import ExportError
from .rebuild import build_from_description
from .write import export, export_onnx, save_safetensors

__all__ = ["export", "export_onnx", "describe", "build_from_description", "save_safetensors", "ExportError"]
