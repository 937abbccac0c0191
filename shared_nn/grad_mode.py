"""Grad mode for every engine at once: ``shared_nn.no_grad()`` and friends.

Each engine keeps its own per-thread grad-mode flag (``scalar_engine.no_grad()`` switches only
the scalar engine). Model code that should run on any engine uses these instead, so that an
evaluation loop written once turns recording off whichever engine the model lives on::

    with nn.no_grad():
        accuracy = evaluate(model)

As in PyTorch, the state is per thread, and each exit restores what its own entry found.

The optional torch engine is switched too, but only once ``torch_engine`` has been imported
(by building something on it): these functions never import PyTorch themselves. A block
entered before the first import of ``torch_engine`` does not switch it.
"""

from __future__ import annotations

from contextlib import ContextDecorator, ExitStack
from typing import Any

from .engine import loaded_engines

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


def _engines() -> list[Any]:
    return loaded_engines()


class _EveryEngine(ContextDecorator):
    """Enter one engine-level grad-mode manager per engine; exit them all."""

    def _managers(self) -> list[Any]:
        raise NotImplementedError

    def _recreate_cm(self) -> _EveryEngine:
        return type(self)()  # a fresh manager per decorated call: calls may nest or race

    def __enter__(self) -> None:
        with ExitStack() as stack:
            for manager in self._managers():
                stack.enter_context(manager)
            self._stack = stack.pop_all()

    def __exit__(self, *exc_info: object) -> None:
        self._stack.__exit__(*exc_info)


class no_grad(_EveryEngine):
    """No engine records a graph inside the block (context manager or decorator)."""

    def __new__(cls, func: Any = None) -> Any:
        manager = super().__new__(cls)
        return manager if func is None else manager(func)

    def _managers(self) -> list[Any]:
        return [engine.no_grad() for engine in _engines()]


class enable_grad(no_grad):
    """Every engine records again inside the block, even within ``no_grad``."""

    def _managers(self) -> list[Any]:
        return [engine.enable_grad() for engine in _engines()]


class set_grad_enabled(_EveryEngine):
    """``set_grad_enabled(False)`` switches every engine now; used with ``with``, the exit
    restores each engine's state from before the call."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self._mode = mode
        self._switches = [engine.set_grad_enabled(mode) for engine in _engines()]

    def _recreate_cm(self) -> set_grad_enabled:
        return type(self)(self._mode)

    def _managers(self) -> list[Any]:
        return self._switches


def is_grad_enabled() -> bool:
    """True when every (loaded) engine records graphs in this thread."""
    return all(engine.is_grad_enabled() for engine in _engines())
