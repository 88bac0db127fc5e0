"""Shape operations (Cat, Chunk/Split, Reshape, Permute/Transpose): their JSON layers, with the
sizes a trace computes read as constants."""
import torch
import torch.fx

from .nodes import (_NO_DEFAULT, ExportError, _bind, _function_kind, _function_kind_or_none, _literal, _shape,
                    _tensor_arg, _where)


_SHAPE_KINDS = ("cat", "chunk", "split", "piece", "permute", "transpose")


def _constant(node, value, what):
    """A constant argument; a size computed from shapes (x.size(1) // 2) is the constant it has for
    the example input (recorded by _ValueProp)."""
    if isinstance(value, torch.fx.Node):
        if "vkconv_value" in value.meta:
            return value.meta["vkconv_value"]
        return _literal(node, value, what)
    if isinstance(value, (tuple, list)):
        return type(value)(_constant(node, v, what) for v in value)
    return value


def _int_list(node, value, what):
    value = _constant(node, value, what)
    if isinstance(value, int) and not isinstance(value, bool):
        return [int(value)]
    if not isinstance(value, (tuple, list, torch.Size)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ExportError(f"{_where(node)}: argument '{what}' must be an int or a list of ints, got {value!r}")
    return [int(v) for v in value]


def _reshape_layer(node, x, batch):
    """Any view/reshape: its shape as traced, with -1 for a batch dimension that stays first."""
    in_shape, out_shape = _shape(x), _shape(node)
    shape = [int(d) for d in out_shape]
    if shape and in_shape and shape[0] == batch and in_shape[0] == batch and -1 not in shape:
        shape[0] = -1
    return {"type": "Reshape", "shape": shape}


def _pieces(node):
    """(layer fields without 'index', input node) of a chunk/split node."""
    kind = _function_kind(node)
    if kind == "chunk":
        if node.op == "call_method":
            args = list(node.args)
            b = {"input": args[0], "chunks": args[1] if len(args) > 1 else node.kwargs.get("chunks", _NO_DEFAULT),
                 "dim": args[2] if len(args) > 2 else node.kwargs.get("dim", 0)}
            if b["chunks"] is _NO_DEFAULT:
                raise ExportError(f"{_where(node)}: argument 'chunks' is required")
        else:
            b = _bind("chunk", node)
        return ({"type": "Chunk", "chunks": int(_constant(node, b["chunks"], "chunks")), "dim": int(_constant(node, b["dim"], "dim"))},
                _tensor_arg(node, b["input"]))
    if node.op == "call_method":
        args = list(node.args)
        b = {"tensor": args[0],
             "split_size_or_sections": args[1] if len(args) > 1 else node.kwargs.get("split_size", _NO_DEFAULT),
             "dim": args[2] if len(args) > 2 else node.kwargs.get("dim", 0)}
        if b["split_size_or_sections"] is _NO_DEFAULT:
            raise ExportError(f"{_where(node)}: argument 'split_size' is required")
    else:
        b = _bind("split", node)
    size = _constant(node, b["split_size_or_sections"], "split_size_or_sections")
    size = int(size) if isinstance(size, int) else _int_list(node, size, "split_size_or_sections")
    return ({"type": "Split", "split_size": size, "dim": int(_constant(node, b["dim"], "dim"))}, _tensor_arg(node, b["tensor"]))


def _shape_op_layer(node, kind):
    """(layer dict, or ("pieces",) for a chunk/split whose pieces are layers, input nodes)."""
    if kind == "cat":
        b = _bind("cat", node)
        tensors = b["tensors"]
        if not isinstance(tensors, (tuple, list)) or not tensors:
            raise ExportError(f"{_where(node)}: torch.cat needs a list of tensors, got {tensors!r}")
        return ({"type": "Cat", "dim": int(_constant(node, b["dim"], "dim"))},
                [_tensor_arg(node, t, f"tensor {i} of the list") for i, t in enumerate(tensors)])
    if kind in ("chunk", "split"):
        fields, x = _pieces(node)
        return ("pieces",), [x]
    if kind == "piece":
        src, index = node.args[0], _constant(node, node.args[1], "index")
        if not (isinstance(src, torch.fx.Node) and src.op in ("call_function", "call_method")
                and _function_kind_or_none(src) in ("chunk", "split")):
            raise ExportError(f"{_where(node)}: indexing or slicing a tensor is not supported (only the pieces of "
                              "chunk/split)")
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExportError(f"{_where(node)}: a piece of chunk/split must be taken by an int index, got {index!r}")
        fields, x = _pieces(src)
        count = len(src.meta["vkconv_value"]) if "vkconv_value" in src.meta else None
        if count is None:
            tm = src.meta.get("tensor_meta")
            count = len(tm) if isinstance(tm, (tuple, list)) else None
        if count is not None and index < 0:
            index += count
        return {**fields, "index": int(index)}, [x]
    if kind == "permute":
        if node.op == "call_method":
            dims = node.args[1:] if len(node.args) > 2 else node.args[1] if len(node.args) == 2 else node.kwargs.get("dims")
            x = node.args[0]
        else:
            b = _bind("permute", node)
            dims, x = b["dims"], b["input"]
        return {"type": "Permute", "dims": _int_list(node, dims, "dims")}, [_tensor_arg(node, x)]
    if kind == "transpose":
        if node.op == "call_method":
            args = list(node.args) + [node.kwargs.get(k) for k in ("dim0", "dim1") if k in node.kwargs]
            if len(args) != 3:
                raise ExportError(f"{_where(node)}: transpose needs dim0 and dim1")
            x, d0, d1 = args
        else:
            b = _bind("transpose", node)
            x, d0, d1 = b["input"], b["dim0"], b["dim1"]
        return ({"type": "Transpose", "dim0": int(_constant(node, d0, "dim0")), "dim1": int(_constant(node, d1, "dim1"))},
                [_tensor_arg(node, x)])
    raise AssertionError(kind)
