"""Module, Sequential and ModuleList: PyTorch's nn.Module shape on either engine.

A Module remembers which engine it was built for (``self.engine``, a name) and its dtype.
Assigning an attribute registers it, as in PyTorch:

* an engine Tensor that requires grad becomes a *parameter*;
* a Module becomes a *child*, whose parameters are reached with dotted names
  (``"layers.0.weight"``), exactly the keys ``torch.nn`` uses for the same structure.

So ``state_dict()`` / ``load_state_dict()`` move weights 1:1 between a shared_nn model, a
``torch.nn`` model with the same attribute names, and a safetensors file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from engine_api.rules import float_dtype

from .engine import (
    _engine_of_class,
    as_numpy,
    check_engine_name,
    engine_name,
    engine_of,
    get_engine,
    is_tensor,
)
from .io import CheckpointError, load_state_dict_file, save_state_dict


def float_dtype_argument(dtype: Any) -> np.dtype | None:
    """A model's ``dtype=`` (float32 or float64, any spelling ``engine_api`` reads, or None).
    Anything else, an int64 or bool dtype included (parameters are floats), is a TypeError
    saying so."""
    try:
        return float_dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64 (a model's parameters are floats), "
                        f"got {dtype!r}") from None


def effective_dtype(engine: str, requested: np.dtype | None) -> np.dtype:
    """The dtype an engine really computes in: scalar is always float64, tensor float32 by
    default (float64 on request)."""
    if engine == "scalar":
        return np.dtype(np.float64)
    return requested if requested is not None else np.dtype(np.float32)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (as torch returns)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class StateDictKeyError(CheckpointError, KeyError):
    """A checkpoint lacks some of the model's keys or has keys the model does not know.

    A :class:`~shared_nn.io.CheckpointError` (so a ``ValueError``) and, as before, a
    ``KeyError``: code catching either keeps working."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class Module:
    """Base class of every layer and model: subclass it, assign parts in ``__init__`` (after
    ``super().__init__(engine=engine, dtype=dtype)``) and write ``forward``."""

    def __init__(self, engine: str | None = None, dtype: Any = None) -> None:
        name = engine_name() if engine is None else check_engine_name(engine)
        requested = float_dtype_argument(dtype)
        state = self.__dict__
        state["_parameters"] = {}
        state["_modules"] = {}
        state["engine"] = name
        state["_dtype_request"] = requested
        state["dtype"] = effective_dtype(name, requested)
        state["training"] = True

    # --- attribute registration -------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # Parameters and children are registered in two ordered dicts (what state_dict and
        # parameters() walk) and also kept in the instance dict under their names, so that
        # ``self.weight`` in a forward is a plain attribute read rather than a miss that falls
        # back to __getattr__, many times slower, on every layer call.
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, modules = self._parameters, self._modules
        if is_tensor(value) and value.requires_grad:
            self._check_same_engine(name, engine_of(value))
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            for p in value.parameters():
                self._check_same_engine(name, engine_of(p))
                break
            params.pop(name, None)
            modules[name] = value
        else:
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, which a registered name never does (it is
        # mirrored in the instance dict); the registries are still the source of truth.
        state = self.__dict__
        params = state.get("_parameters")
        if params is not None and name != "_modules":
            if name in params:
                return params[name]
            modules = state["_modules"]
            if name in modules:
                return modules[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        registered = name in self._parameters or name in self._modules
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if registered:
            self.__dict__.pop(name, None)
        else:
            object.__delattr__(self, name)

    def _check_same_engine(self, name: str, other: str | None) -> None:
        if other != self.engine:
            raise TypeError(
                f"{type(self).__name__} is built on the {self.engine} engine but {name!r} "
                f"holds {other} engine tensors; build it with engine={self.engine!r}"
            )

    def new_parameter(self, array: Any) -> Any:
        """Wrap an initialised array as a parameter on this module's engine and dtype (the
        engine copies it, so the parameter never shares memory with ``array``)."""
        return get_engine(self.engine).tensor(np.asarray(array), requires_grad=True,
                                              dtype=self.dtype)

    # --- calling ----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def as_input(self, x: Any, what: str = "input") -> Any:
        """Check that ``x`` is a Tensor of this module's engine and dtype; an ndarray or a
        nested list is converted (a convenience PyTorch does not offer)."""
        if _engine_of_class.get(type(x)) == self.engine and x.dtype == self.dtype:
            return x  # the usual case, checked without a call (every layer call asks)
        other = engine_of(x)
        name = type(self).__name__
        if other is None:
            if isinstance(x, (np.ndarray, list, tuple, float, int)):
                return get_engine(self.engine).tensor(np.asarray(x), dtype=self.dtype)
            raise TypeError(f"{name} expects a Tensor as {what}, got {type(x).__name__}")
        if other != self.engine:
            raise TypeError(
                f"{name} runs on the {self.engine} engine but its {what} is a {other} engine "
                f"tensor; convert one of them (module.to_engine({other!r}) or "
                f"shared_nn.get_engine({self.engine!r}).tensor(x.numpy()))"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{name} has dtype {self.dtype} but its {what} has dtype {x.dtype}; "
                f"build the input with dtype={self.dtype.name!r}"
            )
        return x

    # --- walking the tree -------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, child) for the direct children, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and all below it, each module once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            below = [(_join(name, n), m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(below))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """(dotted name, parameter) pairs in PyTorch's order; a shared (tied) parameter is
        listed once, under its first name. ``recurse=False``: this module's own only."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield _join(module_name, name), param

    def parameters(self, recurse: bool = True) -> Iterator[Any]:
        """Every parameter once (what optimizers take)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def apply(self, fn: Any) -> Module:
        """Call ``fn(module)`` on every child (depth first), then on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def num_parameters(self) -> int:
        """How many numbers the parameters hold."""
        return sum(int(np.prod(p.shape)) for p in self.parameters())

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every (name, parameter) under every name it has: tied weights appear under each
        name, as in ``torch.nn.Module.state_dict``."""
        for name, param in self._parameters.items():
            if param is not None:
                yield _join(prefix, name), param
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(_join(prefix, name))

    # --- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> a copy of the parameter's values as an ndarray."""
        return {name: np.array(p.numpy(), copy=True) for name, p in self._state_items()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy the arrays in ``state`` into the parameters of the same names.

        Values may be ndarrays, lists, engine Tensors or torch tensors; they are cast to this
        module's dtype. With ``strict`` any missing or unexpected key is a
        :class:`StateDictKeyError`; a shape mismatch always is a
        :class:`~shared_nn.io.CheckpointError` (both are ``ValueError``s). Nothing is written
        unless every tensor fits."""
        if not isinstance(state, Mapping):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected state_dict to be "
                            f"dict-like (names to arrays), got {type(state).__name__}")
        own = dict(self._state_items())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            raise StateDictKeyError(
                f"{type(self).__name__}.load_state_dict: " + "; ".join(problems)
            )
        updates = []
        for key, param in own.items():
            if key not in state:
                continue
            array = as_numpy(state[key], f"{type(self).__name__}.load_state_dict: {key!r}")
            if array.dtype.kind not in "fiub":
                raise TypeError(f"load_state_dict: {key!r} holds {array.dtype} values, not numbers")
            if tuple(array.shape) != tuple(param.shape):
                raise CheckpointError(
                    f"load_state_dict: {key!r} has shape {tuple(array.shape)} in the checkpoint "
                    f"but {tuple(param.shape)} in the model"
                )
            updates.append((param, array))
        for param, array in updates:
            param.assign_(array)  # the engine copies (and casts to the parameter's dtype)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``state_dict()`` to a safetensors file, atomically: the old file (if any)
        stays whole until the new one is complete. A symlink is written through; a
        directory, FIFO or device is refused (see :mod:`shared_nn.io`)."""
        save_state_dict(self.state_dict(), path)

    def load(self, path: str | os.PathLike, strict: bool = True) -> IncompatibleKeys:
        """Load weights saved with ``save`` (or any safetensors file with matching keys).

        ``FileNotFoundError`` if there is no file; otherwise every problem (corrupt file,
        wrong dtype, missing keys, wrong shapes) is a :class:`~shared_nn.io.CheckpointError`
        whose message starts with the file name."""
        state = load_state_dict_file(path)
        try:
            return self.load_state_dict(state, strict=strict)
        except CheckpointError as err:
            raise type(err)(f"{os.fspath(path)}: {err}") from err

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``p.grad = None`` (torch's default), or with
        ``set_to_none=False`` write zeros into the gradients that exist (None stays None)."""
        zero_grads(self.parameters(), set_to_none)

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all below it; returns self."""
        for module in self.modules():
            module.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def to_engine(self, name: str, dtype: Any = None) -> Module:
        """A copy of this module on engine ``name`` with the same weights (the original is
        untouched). ``dtype`` defaults to what this module was asked for, so a float32 tensor
        model that visits the scalar engine comes back float32."""
        check_engine_name(name)
        requested = float_dtype_argument(dtype)
        old_params = {id(p): p for _, p in self._state_items()}
        # Deep-copy the structure but not the parameters: they are rebuilt below, once each,
        # so tied weights stay tied.
        clone = copy.deepcopy(self, memo=dict(old_params))
        new_params: dict[int, Any] = {}
        for module in clone.modules():
            state = module.__dict__
            state["engine"] = name
            if requested is not None:
                state["_dtype_request"] = requested
            state["dtype"] = effective_dtype(name, state["_dtype_request"])
            for key, param in list(module._parameters.items()):
                if param is None:
                    continue
                if id(param) not in new_params:
                    new_params[id(param)] = module.new_parameter(param.numpy())
                module._parameters[key] = state[key] = new_params[id(param)]
            for key, value in list(state.items()):
                # A tensor attribute that is not a parameter: a buffer or a cache.
                if is_tensor(value) and key not in module._parameters:
                    state[key] = get_engine(name).tensor(value.numpy(), dtype=state["dtype"])
        return clone

    # --- printing ---------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        lines = [
            f"({name}): {child!r}".replace("\n", "\n  ") for name, child in self._modules.items()
        ]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def zero_grads(params: Iterable[Any], set_to_none: bool = True) -> None:
    """``p.grad = None`` for each parameter, or (``set_to_none=False``) zeros of the
    parameter's shape and dtype where a gradient exists, as ``torch``'s ``zero_grad``."""
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            p.grad = np.zeros(tuple(p.shape), dtype=p.dtype)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _infer_engine(
    modules: Iterable[Module], engine: str | None, dtype: Any
) -> tuple[str | None, Any]:
    """A container's engine and dtype: those asked for, else those of its first child that
    has parameters."""
    if engine is not None:
        return engine, dtype
    for module in modules:
        if not isinstance(module, Module):
            continue  # append() reports it
        for p in module.parameters():
            return engine_of(p), module._dtype_request if dtype is None else dtype
    return None, dtype


def _check_child_name(container: Module, name: Any) -> str:
    """A child's name must be a non-empty str without dots that is not already an
    attribute of the container (as torch's ``add_module``)."""
    if not isinstance(name, str):
        raise TypeError(f"{type(container).__name__}: module names must be str, got "
                        f"{type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{type(container).__name__}: module name can't be empty or contain "
                       f"'.', got {name!r}")
    if name not in container._modules and hasattr(container, name):
        raise KeyError(f"{type(container).__name__}: attribute {name!r} already exists")
    return name


def _add_child(container: Module, name: Any, module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__} takes Modules, got {type(module).__name__}")
    setattr(container, _check_child_name(container, name), module)


class Sequential(Module):
    """Apply children in order: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``. Children
    are named "0", "1", ... as in torch.nn.Sequential, or given names with
    ``Sequential(OrderedDict([("fc", Linear(2, 8)), ("act", ReLU())]))`` (state_dict keys
    "fc.weight", ...)."""

    def __init__(self, *modules: Any, engine: str | None = None, dtype: Any = None) -> None:
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            named = list(modules[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        engine, dtype = _infer_engine([m for _, m in named], engine, dtype)
        super().__init__(engine=engine, dtype=dtype)
        for name, module in named:
            _add_child(self, name, module)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end (named by its position); returns self."""
        _add_child(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]), engine=self.engine, dtype=self._dtype_request)
        return items[index][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleDict(Module):
    """A dict of named modules whose parameters are registered under their keys
    (``"encoder.weight"``), as torch.nn.ModuleDict. Keeps insertion order."""

    def __init__(
        self,
        modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        items = list(modules.items()) if isinstance(modules, Mapping) else list(modules or [])
        engine, dtype = _infer_engine([m for _, m in items], engine, dtype)
        super().__init__(engine=engine, dtype=dtype)
        self.update(items)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _add_child(self, key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """(name, module) pairs, in insertion order."""
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from (name, module) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update takes (name, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        module = self._modules[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        for key in list(self._modules):
            delattr(self, key)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict is a container; index it in forward()")


class ModuleList(Module):
    """A list of modules whose parameters are registered ("0.weight", "1.weight", ...)."""

    def __init__(
        self, modules: Iterable[Module] | None = None, engine: str | None = None, dtype: Any = None
    ) -> None:
        modules = list(modules or [])
        engine, dtype = _infer_engine(modules, engine, dtype)
        super().__init__(engine=engine, dtype=dtype)
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        _add_child(self, str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each module; returns self."""
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index], engine=self.engine, dtype=self._dtype_request)
        return items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList is a container; iterate over it in forward()")


class _ParameterMeta(type):
    """``isinstance(x, Parameter)`` is True for a leaf engine tensor that requires grad."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return is_tensor(obj) and obj.is_leaf and obj.requires_grad


class Parameter(metaclass=_ParameterMeta):
    """``Parameter(data, requires_grad=True)``: a new leaf tensor holding a *copy* of
    ``data`` (an ndarray, a list, an engine tensor or a torch tensor) on ``engine`` (default:
    the tensor's own engine, else the current one). Assigned to a Module attribute it is
    registered as a parameter, as in torch. The dtype follows the engine's rules (a float64
    array stays float64; a tensor keeps its dtype).

    Unlike torch it does not share memory with ``data``, it is a plain engine Tensor (there is
    no Parameter class; ``isinstance(t, Parameter)`` checks for a leaf that requires grad),
    and a tensor with ``requires_grad=False`` is stored as a plain attribute, not registered.
    """

    def __new__(  # type: ignore[misc]
        cls, data: Any = None, requires_grad: bool = True, engine: str | None = None
    ) -> Any:
        if data is None:
            data = np.empty(0)
        dtype = None
        if is_tensor(data):
            name = engine_of(data) if engine is None else check_engine_name(engine)
            dtype = data.dtype
        else:
            name = engine_name() if engine is None else check_engine_name(engine)
        values = np.array(as_numpy(data), copy=True)
        return get_engine(name).tensor(values, requires_grad=requires_grad, dtype=dtype)
