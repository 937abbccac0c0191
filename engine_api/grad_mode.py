"""Grad mode: whether ops record a graph, one flag per thread, as in PyTorch.

Each engine owns one :class:`GradMode` and exports its four switches under torch's names::

    _grad = GradMode()
    no_grad, enable_grad = _grad.no_grad, _grad.enable_grad
    set_grad_enabled, is_grad_enabled = _grad.set_grad_enabled, _grad.is_enabled

An op asks ``_grad.flag.enabled`` (an attribute read, the cheapest check Python has). A new
thread starts with recording on, and one thread's ``no_grad`` never changes another's graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ContextDecorator
from typing import Any


class _Flag(threading.local):
    enabled = True


class _Switch(ContextDecorator):
    """Set the thread's flag on entry; on exit restore what *this* entry found."""

    _flag: _Flag
    _target = True

    def _recreate_cm(self) -> _Switch:
        return type(self)()  # a fresh manager per decorated call: calls may nest or race

    def __enter__(self) -> None:
        self._previous = self._flag.enabled
        self._flag.enabled = self._target

    def __exit__(self, *exc_info: object) -> None:
        self._flag.enabled = self._previous


class _NoGrad(_Switch):
    """Context manager (or decorator, with or without parentheses) that records no graph.

    Inside ``with no_grad():`` every op returns a plain leaf and keeps nothing alive for
    backward, which is what evaluation loops and optimizers want. Only this thread stops
    recording: another thread's training loop keeps building its graph.
    """

    _target = False

    def __new__(cls, func: Callable | None = None) -> Any:
        manager = super().__new__(cls)
        return manager if func is None else manager(func)


class _EnableGrad(_NoGrad):
    """Turn recording back on inside a ``no_grad`` block (context manager or decorator)."""

    _target = True


class _SetGradEnabled(_Switch):
    """``set_grad_enabled(False)`` switches now; used with ``with``, the exit restores the
    state from before the call (as ``torch.set_grad_enabled``)."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self._target = mode
        self._previous = self._flag.enabled
        self._flag.enabled = mode

    def _recreate_cm(self) -> _SetGradEnabled:
        return type(self)(self._target)

    def __enter__(self) -> None:
        pass  # already switched by __init__


class GradMode:
    """One engine's grad mode: a per-thread ``flag`` and torch's switches bound to it."""

    def __init__(self) -> None:
        self.flag = flag = _Flag()
        self.no_grad = type("no_grad", (_NoGrad,), {"_flag": flag, "__doc__": _NoGrad.__doc__})
        self.enable_grad = type("enable_grad", (_EnableGrad,),
                                {"_flag": flag, "__doc__": _EnableGrad.__doc__})
        self.set_grad_enabled = type("set_grad_enabled", (_SetGradEnabled,),
                                     {"_flag": flag, "__doc__": _SetGradEnabled.__doc__})

    def is_enabled(self) -> bool:
        """True unless this thread is inside ``no_grad()`` (or turned grad mode off)."""
        return self.flag.enabled
