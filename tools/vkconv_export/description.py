"""describe(): a traced module as a vkconv description (layers, names, outputs) and the
state_dict entries it needs."""
import warnings

import torch
import torch.fx
import torch.nn as nn

from .function_layers import _function_layer, _is_functional_param, _spatial_function_layer
from .module_layers import _conv_transpose_module_call, _module_layer
from .nodes import ExportError, _function_kind, _shape, _tensor_arg, _where
from .shape_ops import _pieces
from .trace import _ValueProp, _check_supported, _concrete_trace, _eliminate_dead_code, _is_inplace, _is_size_node


def describe(module, example_input, name=None):
    """Traces `module` and returns (description dict, ordered state_dict to save).

    Raises ExportError for anything vkconv cannot run."""
    desc, state, _ = _describe(module, example_input, name)
    return desc, state


def _describe(module, example_input, name):
    if not isinstance(module, nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point():
        raise ExportError("example_input must be a floating-point torch.Tensor")
    if example_input.dim() < 2:
        raise ExportError(f"example_input must have a batch dimension (e.g. [N, C, H, W]), got shape "
                          f"{list(example_input.shape)}")
    module = module.eval()
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # sizes used as Python values, control flow on tensor values, ...
        try:
            gm = _concrete_trace(module, example_input.float())
        except Exception as e2:
            raise ExportError(f"torch.fx.symbolic_trace failed on {type(module).__name__}: {type(e).__name__}: {e}; "
                              f"the concrete-shape trace failed too: {type(e2).__name__}: {e2}") from e2
    _eliminate_dead_code(gm)
    gm.recompile()
    _check_supported(gm)
    with torch.no_grad():
        try:
            _ValueProp(gm).propagate(example_input.float())
        except Exception as e:
            raise ExportError(f"running the traced {type(module).__name__} on an input of shape "
                              f"{list(example_input.shape)} failed: {type(e).__name__}: {e}") from e
    batch = example_input.shape[0]
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ExportError(f"the model must take exactly one input tensor; forward() takes {len(placeholders)}")

    # Reserve the names of module calls (they must match the state_dict), then name the rest.
    used = {"input"}
    module_calls = {}
    for n in nodes:
        if n.op == "call_module":
            module_calls.setdefault(n.target, []).append(n)
    for target in module_calls:
        if target == "input":
            raise ExportError("a submodule named 'input' clashes with vkconv's name for the model input")
        used.add(target)

    def unique(base):
        base = base.strip(".") or "layer"
        cand, k = base, 1
        while cand in used:
            cand = f"{base}_{k}"
            k += 1
        used.add(cand)
        return cand

    call_index = {}
    functional_state = {}     # "<layer>.weight" -> tensor, for F.conv_transpose2d's parameters
    functional_params = set()  # their targets in the module's state_dict (exported under the layer's name)
    outputs = None  # forward() returning a dict/tuple/list: [{"name", "layer"}]
    value_of = {placeholders[0]: "input"}  # fx node -> vkconv layer name whose output it is
    layers = []
    used_modules = set()
    last = "input"
    for n in nodes:
        if n.op == "placeholder":
            continue
        if n.op == "output":
            out = n.args[0]
            if isinstance(out, torch.fx.Node) and value_of.get(out) == ("pieces",):
                # forward() returns chunk/split's tuple itself: one layer per piece.
                fields, x = _pieces(out)
                outputs = []
                for i in range(len(out.meta["vkconv_value"])):
                    lname = unique(f"{out.name}_{i}")
                    layers.append({"name": lname, "type": fields["type"], "inputs": [value_of[x]], "functional": True,
                                   **{k: v for k, v in fields.items() if k != "type"}, "index": i})
                    outputs.append({"name": str(i), "layer": lname})
                continue
            if isinstance(out, (dict, tuple, list)) and out:
                named = list(out.items()) if isinstance(out, dict) else [(str(i), o) for i, o in enumerate(out)]
                outputs = []
                for key, o in named:
                    if not isinstance(o, torch.fx.Node) or o not in value_of or isinstance(value_of[o], tuple):
                        raise ExportError(f"forward() returns {key!r}: {o!r}, which is not a tensor vkconv computes")
                    if value_of[o] == "input":
                        raise ExportError(f"forward() returns its input unchanged as {key!r}")
                    outputs.append({"name": str(key), "layer": value_of[o]})
                continue
            if not isinstance(out, torch.fx.Node):
                raise ExportError(f"forward() must return a tensor, or a dict, tuple or list of tensors, got "
                                  f"{type(out).__name__} {out!r}")
            if out not in value_of:
                raise ExportError(f"forward() returns node '{out.name}', which is not a tensor vkconv computes")
            if value_of[out] == "input":
                raise ExportError("forward() returns its input unchanged; there is nothing to export")
            if value_of[out] != last:
                raise ExportError(f"forward() returns the output of layer '{value_of[out]}', but layer '{last}' is "
                                  "computed after it; vkconv's model output is its last layer")
            continue
        if _is_functional_param(n):
            functional_params.add(n.target)
            continue
        if n.op == "get_attr":
            continue  # an operand of the layer that reads it (checked by _check_supported)
        if _is_size_node(n):
            continue
        if n.op == "call_module":
            mod = gm.get_submodule(n.target)
            if type(mod) is nn.ConvTranspose2d:
                layer, inputs = _conv_transpose_module_call(n, mod)
            else:
                layer = _module_layer(n, mod)
                inputs = [_tensor_arg(n, a) for a in n.args]
                if len(inputs) != 1 or n.kwargs:
                    raise ExportError(f"{_where(n)}: a module call must take exactly one tensor")
            k = call_index.get(n.target, 0)
            call_index[n.target] = k + 1
            has_state = any(True for _ in mod.parameters(recurse=False)) or any(True for _ in mod.buffers(recurse=False))
            if k > 0 and has_state:
                raise ExportError(f"{_where(n)}: module '{n.target}' is called more than once; vkconv layers do not "
                                  "share weights (use a separate module for each call)")
            lname = n.target if k == 0 else unique(f"{n.target}_{k}")
            functional = k > 0  # a second call is not another submodule: print(model) shows it once
            used_modules.add(n.target)
        elif n.op in ("call_function", "call_method"):
            kind = _function_kind(n)
            spatial = _spatial_function_layer(n, kind, gm)
            if spatial is not None:
                layer, inputs, own_state = spatial
                lname = unique(n.name)
                for suffix, tensor in own_state.items():
                    functional_state[f"{lname}.{suffix}"] = tensor
            else:
                layer, inputs = _function_layer(n, kind, batch)
                lname = None if layer in ("alias", ("pieces",)) else unique(n.name)
            if isinstance(layer, dict) and "_name" in layer:
                # A layer holding a submodule's parameters takes the submodule's name (state_dict keys).
                used.discard(lname)
                lname = layer.pop("_name")
                if lname in used:
                    raise ExportError(f"{_where(n)}: the parameters of '{lname}' are used by more than one operation "
                                      "(or the name is taken); vkconv layers do not share weights")
                used.add(lname)
                used_modules.add(lname)
            functional = True
        else:
            raise ExportError(f"node '{n.name}': unsupported fx op '{n.op}'")

        for i in inputs:
            if i not in value_of:
                raise ExportError(f"{_where(n)}: its input '{i.name}' is not a tensor vkconv computes")
        if layer == "alias":
            value_of[n] = value_of[inputs[0]]
            continue
        if layer == ("pieces",):
            value_of[n] = ("pieces",)  # a tuple: each piece used becomes a Chunk/Split layer
            continue
        in_names = [value_of[i] for i in inputs]
        entry = {"name": lname, "type": layer["type"]}
        if len(in_names) != 1 or in_names != [last]:
            entry["inputs"] = in_names
        if functional:
            entry["functional"] = True
        entry.update({k: v for k, v in layer.items() if k != "type"})
        if _shape(n) is None:
            raise ExportError(f"{_where(n)}: does not produce a tensor")
        layers.append(entry)
        value_of[n] = lname
        last = lname
        if _is_inplace(n, gm):
            # PyTorch's in-place op overwrote its input: later readers of that tensor see this output.
            value_of[inputs[0]] = lname

    if not layers:
        raise ExportError("the model has no layers")
    # The first layer reading the model input needs no "inputs"; others name it.
    if layers[0].get("inputs") == ["input"]:
        del layers[0]["inputs"]

    # The state_dict, restricted to the modules forward() calls.
    sd = module.state_dict()
    keep = {}
    dropped = []
    for key, value in sd.items():
        owner = key.rsplit(".", 1)[0] if "." in key else ""
        if owner in used_modules:
            keep[key] = value
        elif key not in functional_params:
            dropped.append(key)
    keep.update(functional_state)
    if dropped:
        warnings.warn("state_dict entries of modules forward() never calls are not exported: " + ", ".join(dropped),
                      stacklevel=2)

    desc = {"format": "vkconv-model", "version": 1, "name": name or type(module).__name__,
            "input_shape": [int(d) for d in example_input.shape[1:]], "layers": layers}
    if outputs is not None:
        desc["outputs"] = outputs
    # What the export is verified against: the module itself, unless F.dropout(training=True)
    # calls were read as the identity (then the trace with those calls made deterministic).
    reference = module
    if any(n.meta.get("vkconv_patched") for n in gm.graph.nodes):
        gm.recompile()
        reference = gm.eval()
    return desc, keep, reference
