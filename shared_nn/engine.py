"""Which autodiff engine shared_nn builds on.

Four ways to choose, strongest first:

1. ``engine=`` on a Module: ``Linear(3, 4, engine="scalar")``.
2. ``with use_engine("scalar"):`` for everything built inside the block (this thread or
   asyncio task only: the choice lives in a ``contextvars.ContextVar``).
3. ``set_engine("scalar")`` for the rest of the program (the process-wide default).
4. The environment variable ``DUALGRAD_ENGINE`` (read whenever no flag is set).

Without any of them the engine is ``"tensor"`` (the fast numpy one).

``"torch"`` (``torch_engine``: PyTorch behind the same protocol) is an *optional* third
engine: it is chosen the same ways, but it needs PyTorch (``pip install "dualgrad[torch]"``)
and is imported only when asked for, never just to switch grad mode or to list engines.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

import numpy as np

from engine_api.errors import mixing_error

ENGINES = ("scalar", "tensor", "torch")
CORE_ENGINES = ("scalar", "tensor")
"""The engines that are always installed (numpy only)."""
OPTIONAL_ENGINES = {"torch": "torch"}
"""Optional engine -> the package it needs."""
DEFAULT_ENGINE = "tensor"
ENV_VAR = "DUALGRAD_ENGINE"

_default: str | None = None  # set_engine; None falls back to the env var
_in_block: ContextVar[str | None] = ContextVar("dualgrad_engine", default=None)  # use_engine


def check_engine_name(name: object, source: str = "engine") -> str:
    """Return ``name`` if it names an engine, else raise a ValueError listing the valid ones."""
    if name not in ENGINES:
        valid = ", ".join(repr(e) for e in ENGINES)
        raise ValueError(f"unknown {source} {name!r}; valid engines are {valid}")
    return name  # type: ignore[return-value]


def engine_name() -> str:
    """The engine new Modules use: use_engine's, else set_engine's, else $DUALGRAD_ENGINE,
    else tensor."""
    chosen = _in_block.get()
    if chosen is None:
        chosen = _default
    if chosen is not None:
        return chosen
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return check_engine_name(from_env.strip().lower(), source=f"${ENV_VAR} value")
    return DEFAULT_ENGINE


def set_engine(name: str) -> None:
    """Make ``name`` ("scalar", "tensor" or "torch") the engine for everything built from now on."""
    global _default
    _default = check_engine_name(name)


@contextmanager
def use_engine(name: str) -> Iterator[ModuleType]:
    """Use engine ``name`` inside a ``with`` block; yields the engine module.

    The choice is context-local: other threads keep theirs while this block runs.
    """
    token = _in_block.set(check_engine_name(name))
    try:
        yield get_engine(name)
    finally:
        _in_block.reset(token)


def get_engine(name: str | None = None) -> ModuleType:
    """The engine module (``scalar_engine``, ``tensor_engine`` or ``torch_engine``); the
    current one if no name. The torch engine raises ImportError (with the install command)
    when PyTorch is missing."""
    name = engine_name() if name is None else check_engine_name(name)
    module = sys.modules.get(f"{name}_engine")  # every op asks: skip import_module's locks
    return module if module is not None else importlib.import_module(f"{name}_engine")


def engine_available(name: str) -> bool:
    """Whether engine ``name`` can be used here (its optional package is installed),
    without importing anything heavy."""
    check_engine_name(name)
    package = OPTIONAL_ENGINES.get(name)
    if package is None:
        return True
    if package in sys.modules:  # imported already (None: blocked, as in "not installed")
        return sys.modules[package] is not None
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def available_engines() -> tuple[str, ...]:
    """The engines usable here, in ``ENGINES`` order."""
    return tuple(name for name in ENGINES if engine_available(name))


def loaded_engines() -> list[ModuleType]:
    """The core engine modules, plus each optional engine that is already imported (what
    ``shared_nn.no_grad()`` and friends switch)."""
    modules = [get_engine(name) for name in CORE_ENGINES]
    for name in OPTIONAL_ENGINES:
        module = sys.modules.get(f"{name}_engine")
        if module is not None and hasattr(module, "is_grad_enabled"):  # fully imported
            modules.append(module)
    return modules


_engine_of_class: dict[type, str | None] = {}  # every layer and functional op asks


def engine_of(x: object) -> str | None:
    """The engine name of an engine Tensor (its class attribute ``engine``, on a class of
    that engine's package), or None."""
    cls = type(x)
    try:
        return _engine_of_class[cls]
    except KeyError:
        pass
    name = getattr(cls, "engine", None)
    if name not in ENGINES or cls.__module__.partition(".")[0] != f"{name}_engine":
        name = None
    _engine_of_class[cls] = name
    return name


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a Tensor of any engine."""
    return engine_of(x) is not None


def rectangular(value: Any, what: str) -> np.ndarray:
    """``np.asarray(value)``, with a ragged nested list (rows of different lengths) refused in
    words that name ``what`` rather than numpy's "inhomogeneous shape"."""
    try:
        return np.asarray(value)
    except ValueError:
        raise ValueError(f"{what}: nested lists of different lengths (ragged) make no array; "
                         f"every row needs the same length") from None


def as_numpy(value: Any, what: str = "value") -> np.ndarray:
    """An ndarray from an ndarray, a list, an engine Tensor or a torch tensor (for state dicts,
    and for a gradient: ``as_numpy(p.grad)`` reads a ``.grad`` Tensor without copying on the
    tensor and torch engines). ``what`` names the value in the error for a ragged list."""
    cls = type(value)
    if cls is np.ndarray:  # a gradient some code assigned as an array
        return value
    if _engine_of_class.get(cls) is not None or is_tensor(value):  # the dict: optimizers ask
        values = value.numpy()
        return values if type(values) is np.ndarray else np.asarray(values)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor (torch not imported)
        return value.detach().cpu().numpy()
    return rectangular(value, what)


def index_array(value: Any, what: str, engine: str | None = None) -> np.ndarray:
    """Integer indices (token ids, class targets, gather indices) as an int64 ndarray.

    ``value`` is an int64 Tensor (of ``engine``, when one is named), an integer ndarray or a
    nested list of ints. Indices are never differentiable, so a float or bool Tensor is a
    TypeError, as in torch ("expected Long"), and so is a Tensor of another engine. Any
    other dtype is left for the caller to refuse with its own message."""
    if is_tensor(value):
        other = engine_of(value)
        if engine is not None and other != engine:
            raise mixing_error(what, engine, value)
        if value.dtype.kind not in "iu":
            raise TypeError(f"{what}: indices must be an int64 tensor, got dtype {value.dtype}")
        return np.asarray(value.numpy(), dtype=np.int64)
    array = rectangular(value, what)
    return array.astype(np.int64, copy=False) if array.dtype.kind in "iu" else array
