"""Which autodiff engine shared_nn builds on.

Four ways to choose, strongest first:

1. ``engine=`` on a Module: ``Linear(3, 4, engine="scalar")``.
2. ``with use_engine("scalar"):`` for everything built inside the block.
3. ``set_engine("scalar")`` for the rest of the program.
4. The environment variable ``DUALGRAD_ENGINE`` (read whenever no flag is set).

Without any of them the engine is ``"tensor"`` (the fast numpy one).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

ENGINES = ("scalar", "tensor")
DEFAULT_ENGINE = "tensor"
ENV_VAR = "DUALGRAD_ENGINE"

_selected: str | None = None  # set_engine / use_engine; None falls back to the env var


def check_engine_name(name: object, source: str = "engine") -> str:
    """Return ``name`` if it names an engine, else raise a ValueError listing the valid ones."""
    if name not in ENGINES:
        valid = ", ".join(repr(e) for e in ENGINES)
        raise ValueError(f"unknown {source} {name!r}; valid engines are {valid}")
    return name  # type: ignore[return-value]


def engine_name() -> str:
    """The name of the engine new Modules use: the flag, else $DUALGRAD_ENGINE, else tensor."""
    if _selected is not None:
        return _selected
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return check_engine_name(from_env.strip().lower(), source=f"${ENV_VAR} value")
    return DEFAULT_ENGINE


def set_engine(name: str) -> None:
    """Make ``name`` ("scalar" or "tensor") the engine for everything built from now on."""
    global _selected
    _selected = check_engine_name(name)


@contextmanager
def use_engine(name: str) -> Iterator[ModuleType]:
    """Use engine ``name`` inside a ``with`` block; yields the engine module."""
    global _selected
    check_engine_name(name)
    previous = _selected
    _selected = name
    try:
        yield get_engine(name)
    finally:
        _selected = previous


def get_engine(name: str | None = None) -> ModuleType:
    """The engine module (``scalar_engine`` or ``tensor_engine``); the current one if no name."""
    name = engine_name() if name is None else check_engine_name(name)
    return importlib.import_module(f"{name}_engine")


def engine_of(x: object) -> str | None:
    """The engine name of an engine Tensor (its class attribute ``engine``), or None."""
    name = getattr(type(x), "engine", None)
    return name if name in ENGINES else None


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a Tensor of either engine."""
    return engine_of(x) is not None
