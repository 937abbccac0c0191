"""Run a program written with PyTorch's API on an engine and on PyTorch itself; compare.

A property is written once, as a function of a *module* ``T`` and some tensors, exactly as
a PyTorch user writes it::

    run(lambda T, x, ids: x[ids].exp().sum(), x_array, ids_array, engine="tensor")

``fn`` is called twice: with ``T`` the engine module (``scalar_engine``, ``tensor_engine``
or ``torch_engine``) and the inputs built as that engine's tensors, and with ``T`` the real
``torch`` module and torch tensors. Dtypes inside ``fn`` are spelled the way both accept:
torch's (``torch.float64``), which the engines read through ``engine_api.rules``.

Inputs
------
* a float ndarray becomes a float64 leaf that requires grad;
* an int ndarray becomes an int64 tensor, a bool ndarray a bool tensor;
* :class:`Const` wraps a float ndarray that becomes a float64 tensor *without* grad;
* anything else (a Python number, a list, a dim) is passed through unchanged.

What is compared
----------------
Every output tensor (a tensor, or tensors inside a tuple / named tuple such as
``(values, indices)``) against torch's: shape, dtype (ours is a ``numpy.dtype``; torch's is
mapped by its name), ``requires_grad``, and the values: exactly for int and bool tensors,
``|got - want| <= RTOL * |want| + ATOL * max(1, max|want|)`` for floats with NaN in the same
places (``shared_nn.testing.difference``). Non-tensor outputs (``size(d)``, ``tolist()``,
``type()``) must be equal, of the same kind of number. Then, if some float output requires
grad, both sides backpropagate the same scalar: the sum over float outputs of
``(out * upstream).sum()`` with a fixed random ``upstream`` per output (seeded by its index
and shape: an all-ones upstream would let a backward rule that forgets a transpose pass by
symmetry), and every float input's ``.grad`` must match torch's: both None, or both arrays
equal (same shape and dtype, same tolerance).

The scalar engine computes every float in float64 and reports float64 whatever was asked
(a documented difference): on ``engine="scalar"`` a float output must be a float, but its
width is not compared. Results torch computes in float32 (``tensor([1, 2]).exp()``) are
compared at float32's tolerance, :data:`RTOL32`.

:func:`raises_like` is for misuses: every engine must raise the same exception type with the
same message (each other's, not torch's: torch words its errors its own way).

Checking the tests themselves
-----------------------------
With ``DUALGRAD_TORCHLIKE_SELF_CHECK=1`` in the environment, every parametrised test runs
once, as engine ``"pytorch"``: torch itself on both sides. A property that fails then is
wrong about PyTorch, not about an engine. Tests of what only the engines promise (dtype
names torch does not accept, ``.grad``'s class) are marked :data:`ours_only` and skipped.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from shared_nn import testing

ENGINES = ("scalar", "tensor", "torch")
"""The engines compared with PyTorch (their modules: ``<name>_engine``)."""

SELF_CHECK = os.environ.get("DUALGRAD_TORCHLIKE_SELF_CHECK") == "1"
TESTED = ("pytorch",) if SELF_CHECK else ENGINES
"""What the tests run on: the engines, or torch alone in the self-check."""

engines = pytest.mark.parametrize("engine", TESTED)
"""Decorator: run a test once per engine (pytest ids "scalar", "tensor", "torch")."""

ours_only = pytest.mark.skipif(SELF_CHECK, reason="an engine promise torch does not make")
"""Decorator: a test of the engines' own surface, skipped in the self-check."""

RTOL, ATOL = testing.RTOL64, testing.ATOL64  # 1e-10, 1e-12: float64, one pass
RTOL32 = ATOL32 = 1e-5
"""float32 carries ~7 digits; the engines and torch may round a float32 op differently by an
ulp or two (1.2e-7 each), and the scalar engine computes it in float64. A wrong op is off by
O(1) relative."""


@dataclass(frozen=True)
class Const:
    """Wrap a float array to pass it as a float64 tensor that does not require grad."""

    value: np.ndarray


# --------------------------------------------------------------------------- modules


def module(engine: str) -> ModuleType:
    """The engine module ``<engine>_engine`` (imported on first use); ``"pytorch"`` is
    torch itself (the self-check)."""
    if engine == "pytorch":
        return torch
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return importlib.import_module(f"{engine}_engine")


def is_torch(T: Any) -> bool:
    """Whether ``T`` is PyTorch itself (the reference side of a run)."""
    return T is torch


def functional(T: Any) -> Any:
    """``torch.nn.functional`` for torch, ``shared_nn.functional`` for an engine (it picks
    the engine from the tensors it is given)."""
    if is_torch(T):
        return torch.nn.functional
    return importlib.import_module("shared_nn.functional")


def is_tensor(x: Any) -> bool:
    """A tensor of torch or of any engine."""
    return isinstance(x, torch.Tensor) or (hasattr(type(x), "engine")
                                           and hasattr(x, "backward"))


def dtype_of(t: Any) -> np.dtype:
    """A tensor's dtype as a numpy dtype. An engine's ``t.dtype`` must already be one."""
    if isinstance(t, torch.Tensor):
        return np.dtype(str(t.dtype).removeprefix("torch."))
    if not isinstance(t.dtype, np.dtype):
        raise AssertionError(f"Tensor.dtype must be a numpy dtype, got {t.dtype!r} "
                             f"({type(t.dtype).__name__})")
    return t.dtype


def to_numpy(x: Any) -> np.ndarray:
    """The values of a tensor (torch's or an engine's) or an array, as an ndarray copy."""
    if isinstance(x, torch.Tensor):
        return x.detach().numpy().copy()
    if is_tensor(x):
        return np.array(x.numpy(), copy=True)
    return np.array(x, copy=True)


def tensor_input(T: Any, x: Any) -> Any:
    """One input of ``fn`` built on ``T`` (see the module docstring)."""
    if isinstance(x, Const):
        return T.tensor(np.array(x.value, dtype=np.float64), dtype=dtype(T, "float64"))
    if not isinstance(x, np.ndarray):
        return x
    if x.dtype.kind == "f":
        return T.tensor(np.array(x, dtype=np.float64), dtype=dtype(T, "float64"),
                        requires_grad=True)
    if x.dtype.kind in "iu":
        return T.tensor(np.array(x, dtype=np.int64), dtype=dtype(T, "int64"))
    if x.dtype.kind == "b":
        return T.tensor(np.array(x, dtype=np.bool_), dtype=dtype(T, "bool"))
    raise TypeError(f"unsupported input array dtype {x.dtype}")


def dtype(T: Any, name: str) -> Any:
    """The dtype called ``name`` as ``T`` spells it: ``torch.int64`` or ``np.dtype("int64")``."""
    return getattr(torch, name) if is_torch(T) else np.dtype(name)


# --------------------------------------------------------------------------- one side


@dataclass
class Output:
    """One output tensor: its values, dtype and whether it requires grad."""

    values: np.ndarray
    dtype: np.dtype
    requires_grad: bool


@dataclass
class Result:
    """What one side produced: flattened outputs (tensors as :class:`Output`, anything else
    as is) and the ``.grad`` of each float input (None or an ndarray)."""

    side: str
    outputs: list[Any] = field(default_factory=list)
    grads: list[np.ndarray | None] = field(default_factory=list)


def flatten(out: Any) -> list[Any]:
    """The tensors of ``out`` in order (a tuple or list holding tensors is opened, named
    tuples included); anything else, a list of numbers too, is one plain value."""
    if isinstance(out, (tuple, list)) and not isinstance(out, torch.Size) and _holds(out):
        return [leaf for o in out for leaf in flatten(o)]
    return [out]


def _holds(out: Any) -> bool:
    """Whether ``out`` is a tensor or a (nested) tuple / list with a tensor inside."""
    if is_tensor(out):
        return True
    return isinstance(out, (tuple, list)) and any(_holds(o) for o in out)


def upstream(shape: tuple[int, ...], index: int, seed: int) -> np.ndarray:
    """The fixed random upstream gradient of float output ``index`` (the same both sides)."""
    rng = np.random.default_rng([seed, index, len(shape), *shape])
    return rng.standard_normal(shape)


def execute(T: Any, fn: Callable[..., Any], inputs: Sequence[Any], seed: int = 0) -> Result:
    """Call ``fn(T, *inputs built on T)``, backpropagate its float outputs, collect."""
    args = [tensor_input(T, x) for x in inputs]
    leaves = [a for x, a in zip(inputs, args, strict=True)
              if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    flat = flatten(fn(T, *args))
    result = Result("torch" if is_torch(T) else T.__name__)
    for o in flat:
        if is_tensor(o):
            result.outputs.append(Output(to_numpy(o), dtype_of(o), bool(o.requires_grad)))
        else:
            result.outputs.append(_plain(o))
    differentiable = [o for o in flat if is_tensor(o) and o.requires_grad]
    if differentiable:
        total = None
        for i, o in enumerate(differentiable):
            up = T.tensor(upstream(tuple(o.shape), i, seed), dtype=o.dtype)
            term = (o * up).sum()
            total = term if total is None else total + term
        total.backward()
    result.grads = [None if leaf.grad is None else to_numpy(leaf.grad) for leaf in leaves]
    return result


def _plain(x: Any) -> Any:
    """A non-tensor output in a comparable form (``torch.Size`` is a tuple)."""
    if isinstance(x, torch.Size):
        return tuple(x)
    return x


# --------------------------------------------------------------------------- comparing


def assert_values(what: str, got: np.ndarray, want: np.ndarray,
                  rtol: float = RTOL, atol: float = ATOL) -> None:
    """Same shape; exactly equal for int and bool, within tolerance (NaN where torch has
    NaN) for floats."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape}, torch {want.shape}")
    if want.dtype.kind != "f":
        if not np.array_equal(got, want):
            raise AssertionError(f"{what}: got\n{got}\ntorch\n{want}")
        return
    if got.dtype.kind != "f":
        raise AssertionError(f"{what}: got dtype {got.dtype}, torch {want.dtype}")
    _, _, passed, note = testing.difference(got, want, rtol, atol)
    if not passed:
        raise AssertionError(f"{what}: {note}\ngot\n{got}\ntorch\n{want}")


def assert_dtype(what: str, got: np.dtype, want: np.dtype, engine: str) -> None:
    """Equal dtypes; on the scalar engine a float result only has to be a float."""
    if engine == "scalar" and want.kind == "f" and got.kind == "f":
        return
    if got != want:
        raise AssertionError(f"{what}: dtype {got}, torch {want}")


def compare(engine: str, got: Result, want: Result, rtol: float = RTOL, atol: float = ATOL
            ) -> None:
    """Every output and every float input's gradient of ``got`` against torch's ``want``
    (``rtol`` / ``atol``: the float64 tolerances; float32 results keep float32's)."""
    if len(got.outputs) != len(want.outputs):
        raise AssertionError(f"{engine}: {len(got.outputs)} outputs, torch "
                             f"{len(want.outputs)}")
    for i, (g, w) in enumerate(zip(got.outputs, want.outputs, strict=True)):
        what = f"{engine}: output {i}"
        if isinstance(w, Output):
            if not isinstance(g, Output):
                raise AssertionError(f"{what}: got {g!r}, torch a tensor")
            assert_dtype(what, g.dtype, w.dtype, engine)
            tol = (rtol, atol) if w.dtype != np.float32 else (RTOL32, ATOL32)
            assert_values(what, g.values, w.values, *tol)
            if g.requires_grad != w.requires_grad:
                raise AssertionError(f"{what}: requires_grad {g.requires_grad}, torch "
                                     f"{w.requires_grad}")
        else:
            assert_plain(what, g, w)
    # a gradient that flowed through a float32 result carries float32's rounding
    through32 = any(isinstance(w, Output) and w.requires_grad and w.dtype == np.float32
                    for w in want.outputs)
    grad_tol = (RTOL32, ATOL32) if through32 else (rtol, atol)
    for i, (g, w) in enumerate(zip(got.grads, want.grads, strict=True)):
        what = f"{engine}: .grad of float input {i}"
        if g is None or w is None:
            if g is not w:
                raise AssertionError(f"{what}: got {g!r}, torch {w!r}")
            continue
        if g.dtype != w.dtype:
            raise AssertionError(f"{what}: dtype {g.dtype}, torch {w.dtype}")
        assert_values(what, g, w, *grad_tol)


def assert_plain(what: str, got: Any, want: Any) -> None:
    """A non-tensor output: strings and None equal; numbers (and nested lists of them) of
    the same kind (bool / int / float) and equal values."""
    if is_tensor(got):
        raise AssertionError(f"{what}: got a tensor, torch {want!r}")
    if isinstance(want, str) or want is None:
        if got != want or type(got) is not type(want):
            raise AssertionError(f"{what}: got {got!r}, torch {want!r}")
        return
    g, w = np.asarray(got), np.asarray(want)
    if g.dtype.kind != w.dtype.kind:
        raise AssertionError(f"{what}: got {got!r} ({g.dtype}), torch {want!r} ({w.dtype})")
    assert_values(what, g, w)


def run(fn: Callable[..., Any], *inputs: Any, engine: str, seed: int = 0,
        rtol: float = RTOL, atol: float = ATOL) -> tuple[Result, Result]:
    """Run ``fn`` on ``engine`` and on torch with the same inputs; compare (see the module
    docstring). Returns (ours, torch's) for further assertions."""
    want = execute(torch, fn, inputs, seed)
    got = execute(module(engine), fn, inputs, seed)
    compare(engine, got, want, rtol, atol)
    return got, want


def raises_like(fn: Callable[..., Any], *inputs: Any) -> type[BaseException]:
    """Assert that ``fn`` raises on every engine, the same exception type with the same
    message; return the type."""
    seen: dict[str, tuple[type[BaseException], str]] = {}
    for engine in TESTED:
        T = module(engine)
        args = [tensor_input(T, x) for x in inputs]
        try:
            out = fn(T, *args)
        except Exception as err:  # noqa: BLE001 (any exception is the subject here)
            seen[engine] = (type(err), str(err))
        else:
            raise AssertionError(f"{engine} did not raise; it returned {out!r:.200}")
    kinds = set(seen.values())
    if len(kinds) != 1:
        listed = "\n".join(f"  {e}: {t.__name__}: {m}" for e, (t, m) in seen.items())
        raise AssertionError(f"the engines raise differently:\n{listed}")
    return seen[TESTED[0]][0]


def torch_raises(fn: Callable[..., Any], *inputs: Any) -> type[BaseException]:
    """Assert that torch refuses ``fn`` too (any exception); return its type."""
    args = [tensor_input(torch, x) for x in inputs]
    try:
        fn(torch, *args)
    except Exception as err:  # noqa: BLE001
        return type(err)
    raise AssertionError(f"torch: {fn} did not raise")
