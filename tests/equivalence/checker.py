"""The equivalence checker: run one function on every backend and compare.

A property is written **once**, as a function of a backend ``E`` and some input tensors::

    check(lambda E, x, y: (x @ y).tanh().sum(), a, b)

:func:`check` turns each float ndarray argument into a leaf that requires grad on every
backend (scalar engine, tensor engine in float64, optionally the tensor engine with fused
functional ops, and PyTorch in float64), calls the function, runs backward and compares,
against PyTorch, the output values and the gradient of **every leaf**.

Backward of a non-scalar output uses a fixed random upstream gradient (the same on every
backend) rather than ``ones``: with an all-ones upstream, a backward rule that forgets a
transpose or sums over the wrong axis can still produce the right numbers by symmetry.

Tolerances
----------
``|got - want| <= RTOL * |want| + ATOL * max(1, max|want|)`` elementwise, with
``RTOL = 1e-10`` and ``ATOL = 1e-12``. float64 carries ~16 digits; the engines sum in
different orders (the scalar engine one product at a time, numpy and torch blocked), so a
sum of ``n`` terms may differ by a few ``n * 2^-53`` relative to the *terms*. The relative
part covers ordinary results; the absolute floor, scaled to the size of the array, covers
entries that cancel to nearly zero (where the relative error of a correct result is
unbounded). A wrong derivative is off by O(1) relative, ten orders of magnitude above this.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared_nn import testing

from . import torch_adapter

RTOL = testing.RTOL64  # 1e-10: one tolerance for the suite and shared_nn.testing
ATOL = testing.ATOL64  # 1e-12

ENGINES = ("scalar", "tensor")
"""The default backends compared against torch: both engines, composed ops."""

WITH_FUSED = ("scalar", "tensor", "tensor-fused")
"""For shared_nn.functional ops: scalar (composed), tensor composed and tensor fused."""


class EquivalenceError(AssertionError):
    """A backend disagrees with PyTorch (the message says which, where and by how much)."""


@dataclass(frozen=True)
class Const:
    """Wrap a float array to pass it to the function as a plain ndarray, not as a leaf."""

    value: np.ndarray


# --------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class Backend:
    """One way to run a protocol function: an engine module (or the torch adapter) plus
    whether shared_nn.functional may use fused kernels. Attribute access falls through to
    the module, so ``E.cat``, ``E.where``, ``E.no_grad`` are the backend's own; ``E.tensor``,
    ``E.zeros`` and ``E.ones`` default to float64 so that constants never lower precision.
    """

    name: str
    module_name: str
    fused: bool = False

    @property
    def engine(self) -> str:
        """The engine name shared_nn knows this backend by: "scalar", "tensor" or "torch"."""
        return self.module_name.removesuffix("_engine")

    @property
    def module(self) -> Any:
        if self.module_name == "torch":
            return torch_adapter
        return importlib.import_module(self.module_name)

    @property
    def F(self) -> Any:  # noqa: N802 (mirrors `import shared_nn.functional as F`)
        """The functional namespace: shared_nn.functional, or torch's behind the adapter."""
        if self.module_name == "torch":
            return torch_adapter.functional
        return importlib.import_module("shared_nn.functional")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def tensor(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> Any:
        if dtype is None:  # a float ndarray keeps its dtype; anything else becomes float64
            floating = isinstance(data, np.ndarray) and data.dtype.kind == "f"
            dtype = data.dtype if floating else np.float64
        return self.module.tensor(data, requires_grad=requires_grad, dtype=dtype)

    def zeros(self, shape: Any, requires_grad: bool = False, dtype: Any = None) -> Any:
        return self.module.zeros(shape, requires_grad=requires_grad, dtype=dtype or np.float64)

    def ones(self, shape: Any, requires_grad: bool = False, dtype: Any = None) -> Any:
        return self.module.ones(shape, requires_grad=requires_grad, dtype=dtype or np.float64)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Inside: shared_nn.functional fuses ops exactly when this backend says so."""
        if self.module_name == "torch":
            yield
            return
        functional = importlib.import_module("shared_nn.functional")
        with functional.fused(self.fused):
            yield

    def __repr__(self) -> str:
        return self.name


BACKENDS = {
    "scalar": Backend("scalar", "scalar_engine"),
    "tensor": Backend("tensor", "tensor_engine"),
    "tensor-fused": Backend("tensor-fused", "tensor_engine", fused=True),
    "torch": Backend("torch", "torch"),
    # torch_engine (PyTorch behind the protocol), checked against the adapter like the others
    "torch-engine": Backend("torch-engine", "torch_engine"),
    "torch-engine-fused": Backend("torch-engine-fused", "torch_engine", fused=True),
}


def is_tensor(x: Any) -> bool:
    """True for a tensor of any backend (each tensor class carries ``engine``)."""
    return hasattr(x, "engine") and hasattr(x, "backward")


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """What one backend produced: output values (or raw non-tensor outputs) and leaf grads."""

    backend: str
    outputs: list[Any] = field(default_factory=list)
    grads: list[np.ndarray | None] = field(default_factory=list)


def upstream_gradient(shape: tuple[int, ...], index: int, seed: int = 0) -> np.ndarray:
    """A fixed random upstream gradient for output ``index`` (the same on every backend)."""
    rng = np.random.default_rng([seed, index, len(shape), *shape])
    return rng.standard_normal(shape)


def _flattened(result: Any) -> list[Any]:
    """The outputs of a property, nested tuples (``max(dim)``'s (values, indices)) unpacked."""
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _flattened(item)]
    return [result]


def run(backend: Backend, fn: Callable[..., Any], inputs: Sequence[Any], seed: int = 0) -> Run:
    """Call ``fn(backend, *leaves)``, backpropagate every differentiable output, collect.

    Float ndarrays become leaves that require grad; :class:`Const` unwraps to its ndarray;
    anything else (index arrays, masks, numbers) is passed through unchanged.
    """
    leaves: list[Any] = []
    args: list[Any] = []
    for x in inputs:
        if isinstance(x, Const):
            args.append(x.value)
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            leaf = backend.tensor(x.copy(), requires_grad=True)
            leaves.append(leaf)
            args.append(leaf)
        else:
            args.append(x)
    with backend.active():
        result = fn(backend, *args)
    outputs = _flattened(result)
    record = Run(backend.name)
    differentiable = [o for o in outputs if is_tensor(o) and o.requires_grad]
    for o in outputs:
        record.outputs.append(np.array(o.numpy(), copy=True) if is_tensor(o) else o)
    with backend.active():
        for i, o in enumerate(differentiable):
            keep = i < len(differentiable) - 1
            if o.shape == ():
                o.backward(retain_graph=keep)
            else:
                o.backward(upstream_gradient(o.shape, i, seed), retain_graph=keep)
    record.grads = [None if leaf.grad is None else np.array(leaf.grad) for leaf in leaves]
    return record


# --------------------------------------------------------------------------- comparing


def assert_close(
    what: str, got: Any, want: Any, rtol: float = RTOL, atol: float = ATOL
) -> None:
    """Raise :class:`EquivalenceError` unless ``got`` matches ``want`` (shape and values),
    by ``shared_nn.testing``'s rule: the suite and the public checker compare alike.

    The message names the worst entry, its index and both values.
    """
    max_abs, _, passed, note = testing.difference(got, want, rtol, atol)
    if not passed:
        want_arr = np.asarray(want)
        dump = (f"\n got:\n{np.asarray(got)}\n expected:\n{want_arr}"
                if want_arr.size <= 32 else "")
        raise EquivalenceError(f"{what}: {note} (max |diff| {max_abs:.3g}; rtol {rtol:g}, "
                               f"atol {atol:g} x scale){dump}")


def compare(got: Run, want: Run, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Compare every output and every leaf gradient of ``got`` with ``want``."""
    if len(got.outputs) != len(want.outputs):
        raise EquivalenceError(
            f"{got.backend}: {len(got.outputs)} outputs, {want.backend} {len(want.outputs)}"
        )
    for i, (g, w) in enumerate(zip(got.outputs, want.outputs, strict=True)):
        what = f"{got.backend} vs {want.backend}: output {i}"
        if isinstance(w, np.ndarray) and w.dtype.kind == "f":
            assert_same_dtype(f"{what} dtype", g, w)
            assert_close(f"{what} value", g, w, rtol, atol)
        elif not np.array_equal(np.asarray(g), np.asarray(w)):
            raise EquivalenceError(f"{what}: got {g!r}, expected {w!r}")
    for i, (g, w) in enumerate(zip(got.grads, want.grads, strict=True)):
        what = f"{got.backend} vs {want.backend}: gradient of input {i}"
        if w is None and g is None:
            continue
        if w is None:  # torch leaves an unreached leaf's grad at None; zeros mean the same
            w = np.zeros_like(g)
        if g is None:
            if np.any(w != 0):
                raise EquivalenceError(f"{what}: got None, expected\n{w}")
            continue
        assert_same_dtype(f"{what} dtype", g, w)
        assert_close(what, g, w, rtol, atol)


def assert_same_dtype(what: str, got: Any, want: np.ndarray) -> None:
    """Results keep the precision they were asked for (float64 here, float32 where tested)."""
    got_dtype = np.asarray(got).dtype
    if got_dtype != want.dtype:
        raise EquivalenceError(f"{what}: {got_dtype}, expected {want.dtype}")


def check(
    fn: Callable[..., Any],
    *inputs: Any,
    backends: Sequence[str] = ENGINES,
    rtol: float = RTOL,
    atol: float = ATOL,
    seed: int = 0,
) -> dict[str, Run]:
    """Run ``fn`` on torch (the reference) and on each of ``backends``; compare each.

    Returns every backend's :class:`Run` so a test can assert more (e.g. dtypes).
    Raises :class:`EquivalenceError` at the first disagreement.
    """
    reference = run(BACKENDS["torch"], fn, inputs, seed)
    runs = {"torch": reference}
    for name in backends:
        runs[name] = run(BACKENDS[name], fn, inputs, seed)
        compare(runs[name], reference, rtol, atol)
    return runs
