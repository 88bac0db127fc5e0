"""Tracing: the checks of a traced graph before it runs, dead-code elimination that keeps
in-place calls, the shape propagation that keeps sizes as constants, and the concrete-shape
tracer used when torch.fx.symbolic_trace cannot trace a module as written."""
import operator

import torch
import torch.fx
from torch.fx.passes.shape_prop import ShapeProp

from .function_layers import _is_functional_param
from .module_layers import _SUPPORTED_MODULES, _is_stochastic_depth, _module_layer
from .nodes import _SIZE_FUNCTIONS, ExportError, _function_kind, _shape, _where


def _is_size_node(node):
    """Nodes computing Python values (sizes) rather than tensors: x.size(0), x.shape, x.shape[0]."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and id(node.target) in _SIZE_FUNCTIONS:
        return _shape(node) is None and not _holds_tensors(node)
    return False


def _holds_tensors(node):
    tm = node.meta.get("tensor_meta")
    return isinstance(tm, (tuple, list)) and len(tm) > 0


def _is_inplace(node, gm):
    """Whether the node overwrites its first tensor argument (inplace=True, x.add_(...), F.relu_, ...)."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.startswith("__")
    if node.op == "call_function":
        if node.target in (operator.iadd, operator.isub, operator.imul, operator.itruediv):
            return True
        if node.kwargs.get("inplace") is True:
            return True
        return getattr(node.target, "__name__", "").endswith("_")
    return False


def _eliminate_dead_code(gm):
    """fx's eliminate_dead_code, keeping in-place calls whose result is unused (`y.sigmoid_()` changes y)."""
    changed = True
    while changed:
        changed = False
        for node in reversed(list(gm.graph.nodes)):
            if node.op in ("placeholder", "output") or node.users or _is_inplace(node, gm):
                continue
            gm.graph.erase_node(node)
            changed = True


def _check_parameter_use(n):
    """A parameter used directly in forward() (get_attr) must feed add/sub/mul/div or layer_norm only."""
    for u in n.users:
        kind = None
        if u.op in ("call_function", "call_method"):
            try:
                kind = _function_kind(u)
            except ExportError:
                pass
        if kind not in ("add", "sub", "mul", "div", "layer_norm"):
            raise ExportError(f"node '{n.name}' (get_attr '{n.target}'): a parameter or buffer used directly in forward() "
                              f"is supported only as an operand of add/sub/mul/div or as layer_norm's weight/bias; "
                              f"here it feeds {_where(u)}")


def _check_supported(gm):
    """Refuses unsupported operations before anything runs (their errors are clearer than a failed run)."""
    for n in gm.graph.nodes:
        if _is_functional_param(n):
            continue
        if n.op == "get_attr":
            _check_parameter_use(n)
            continue
        if n.op == "call_module":
            mod = gm.get_submodule(n.target)
            if type(mod) not in _SUPPORTED_MODULES and not _is_stochastic_depth(mod):
                _module_layer(n, mod)  # raises with the list of supported modules
        elif n.op == "call_method" and n.target in ("size", "dim"):
            continue
        elif n.op == "call_function" and id(n.target) in _SIZE_FUNCTIONS:
            continue  # x.shape[0]; a getitem that slices a tensor is refused once shapes are known
        elif n.op in ("call_function", "call_method"):
            _function_kind(n)


class _ValueProp(ShapeProp):
    """ShapeProp that also keeps every non-tensor value (sizes and arithmetic on them) as
    node.meta["vkconv_value"], so that they can be read as constants."""

    def run_node(self, n):
        result = super().run_node(n)
        if not isinstance(result, torch.Tensor) and not (isinstance(result, (tuple, list)) and
                                                         any(isinstance(r, torch.Tensor) for r in result)):
            n.meta["vkconv_value"] = result
        elif isinstance(result, (tuple, list)):
            n.meta["vkconv_value"] = tuple(None for _ in result)  # only the count is kept
        return result


_MODULE_CALL, _MODULE_GETATTR = torch.nn.Module.__call__, torch.nn.Module.__getattr__


class _ConcreteTracer(torch.fx.Tracer):
    """torch.fx tracing with the module running eagerly on a real input alongside: each proxy
    carries its real value, and whatever is not a tensor (x.size(), x.shape[i], x.dim(), and
    arithmetic on them) is returned as that concrete value instead of a proxy."""

    def __init__(self, example_input):
        super().__init__()
        self.example_input = example_input
        self.values = {}

    def _real(self, a):
        if isinstance(a, torch.fx.Proxy):
            return self.values[a.node]
        if isinstance(a, (tuple, list)):
            return type(a)(self._real(v) for v in a)
        if isinstance(a, dict):
            return {k: self._real(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self._real(a.start), self._real(a.stop), self._real(a.step))
        return a

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        if kind == "placeholder":
            value = self.example_input
        elif kind == "output":
            value = None
        else:
            rargs, rkwargs = self._real(args), self._real(kwargs)
            # Eagerly, with nn.Module's own __call__/__getattr__ (tracing patches them).
            patched = torch.nn.Module.__call__, torch.nn.Module.__getattr__
            torch.nn.Module.__call__, torch.nn.Module.__getattr__ = _MODULE_CALL, _MODULE_GETATTR
            try:
                if kind == "call_module":
                    value = self.root.get_submodule(target)(*rargs, **rkwargs)
                elif kind == "call_function":
                    value = target(*rargs, **rkwargs)
                elif kind == "call_method":
                    value = getattr(rargs[0], target)(*rargs[1:], **rkwargs)
                else:  # get_attr
                    value = self.root
                    for part in target.split("."):
                        value = getattr(value, part)
            finally:
                torch.nn.Module.__call__, torch.nn.Module.__getattr__ = patched

            def holds_tensor(v):
                return isinstance(v, torch.Tensor) or (isinstance(v, (tuple, list)) and any(holds_tensor(e) for e in v)) \
                    or (isinstance(v, dict) and any(holds_tensor(e) for e in v.values()))
            # A size is a constant for this input; getattr stays a proxy (x.shape is read lazily
            # through Attribute.node) and its uses become constants.
            if kind in ("call_function", "call_method") and not holds_tensor(value) and target is not getattr:
                return value
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        self.values[proxy.node] = value
        return proxy

    def proxy(self, node):
        return _ConcreteProxy(node, self)


class _ConcreteProxy(torch.fx.Proxy):
    def __iter__(self):
        # Unpacking a tuple of tensors (x1, x2 = x.chunk(2, 1)): as many pieces as it has
        # (torch.fx's own bytecode inspection fails on Python 3.11).
        value = self.tracer.values.get(self.node)
        if isinstance(value, (tuple, list)):
            return iter([self[i] for i in range(len(value))])
        return super().__iter__()


def _concrete_trace(module, example_input):
    tracer = _ConcreteTracer(example_input)
    with torch.no_grad():
        graph = tracer.trace(module)
    gm = torch.fx.GraphModule(tracer.root, graph, type(module).__name__)
    gm.graph._vkconv_concrete = True
    return gm
