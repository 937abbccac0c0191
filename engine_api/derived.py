"""Tensor methods composed from an engine's primitives, written once for every engine.

An engine's ``Tensor`` inherits :class:`TensorMethods` and implements the primitives the
mixin calls (``shape``, ``dtype``, ``numpy()``, ``reshape``, ``clamp``, ``masked_fill``, the
arithmetic operators, ``_inplace(op, compute)`` and ``_to(dtype, device)``). Everything here
is then the same on every engine, down to the error messages, and adding a composed method to
all three engines is one definition in this file.

How to add one: write it below in terms of protocol methods only (see
``engine_api.protocol.EngineTensor``); the equivalence suite then checks it on every engine
against PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import errors, rules


def _scaled(other: Any, alpha: float) -> Any:
    """``alpha * other`` for ``add_``/``sub_``'s ``alpha=`` (a tensor, an array or a number)."""
    if alpha == 1:
        return other
    if isinstance(other, (list, tuple)):
        other = np.asarray(other, dtype=float)
    return other * float(alpha)


def _arg_extreme(x: np.ndarray, dim: Any, keepdim: bool, op: str) -> Any:
    """``argmax``/``argmin`` of the values ``x`` by numpy, whose rules are torch's: the first
    extreme element, and the first NaN if there is one."""
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    find = np.argmax if op == "argmax" else np.argmin
    if dim is None:
        return int(find(x))
    if x.ndim == 0:
        rules.normalize_dim(dim, 1, op)
        return 0
    return find(x, axis=rules.normalize_dim(dim, x.ndim, op), keepdims=keepdim)


class TensorMethods:
    """The derived half of the Tensor protocol (see the module docstring)."""

    __slots__ = ()

    # -- size and Python conversions --------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dim (as torch)."""
        shape = self.shape
        return shape if dim is None else shape[rules.normalize_dim(dim, len(shape), "size")]

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.numel() != 1:
            raise errors.item_error(self.shape)
        return float(self.numpy().reshape(()))

    def tolist(self) -> Any:
        """The values as nested Python lists (a float for a 0-d tensor)."""
        return self.numpy().tolist()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise errors.bool_error(self.shape)
        return bool(self.item())

    # -- indices of extremes (no gradient) ---------------------------------------------------

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first maximum: an int for ``dim=None``, else an int ndarray."""
        return _arg_extreme(self.numpy(), dim, keepdim, "argmax")

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first minimum: an int for ``dim=None``, else an int ndarray."""
        return _arg_extreme(self.numpy(), dim, keepdim, "argmin")

    # -- arithmetic spelled as methods -----------------------------------------------------

    def pow(self, exponent: float) -> Any:
        """``self ** exponent`` (a Python number; a tensor exponent is a TypeError)."""
        return self ** exponent

    def matmul(self, other: Any) -> Any:
        """``self @ other``: the matrix product with torch's rules (1-D, 2-D, batched with
        broadcast batch dims)."""
        return self @ other

    def square(self) -> Any:
        """``self ** 2``."""
        return self ** 2

    def clip(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 (torch's names)
        """torch's alias of :meth:`clamp`."""
        return self.clamp(min=min, max=max)

    def lerp(self, end: Any, weight: Any) -> Any:
        """``self + weight * (end - self)``: the point ``weight`` of the way from ``self`` to
        ``end`` (torch's ``lerp``; ``weight`` a number or a tensor, all three broadcast).

        The gradient is ``1 - weight`` towards ``self`` and ``weight`` towards ``end``, and
        every engine gets it from the ops the line below is made of: this method is the
        worked example of docs/architecture.md, "Adding an op to every engine".
        """
        return self + (end - self) * weight

    # -- shapes ------------------------------------------------------------------------------

    def view(self, *shape: Any) -> Any:
        """``reshape`` under torch's other name (the result may be a copy on an engine whose
        memory is not one strided array; the values and gradients are torch's)."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Any:
        """Dims ``start_dim..end_dim`` (inclusive) merged into one; a 0-d tensor becomes 1-d."""
        return self.reshape(rules.flattened_shape(self.shape, start_dim, end_dim))

    # -- dtype and device --------------------------------------------------------------------

    def float(self) -> Any:
        """This tensor as float32 (``self`` if it already is)."""
        return self.to(np.float32)

    def double(self) -> Any:
        """This tensor as float64 (``self`` if it already is)."""
        return self.to(np.float64)

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Any:
        """torch's ``to(dtype)``, ``to(device)``, ``to(device, dtype)``: ``self`` when nothing
        changes, else a copy recorded in the graph. Only float32 and float64 exist."""
        target, device = rules.to_arguments(args, dtype, device)
        return self._to(target, device)

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        """Set ``requires_grad`` and return ``self``. Only leaves can change it: on a non-leaf
        (which requires grad) ``True`` changes nothing and ``False`` is a RuntimeError, as in
        torch."""
        if self.is_leaf or not requires_grad:
            self.requires_grad = requires_grad
        return self

    # -- in-place ops: each is the out-of-place op, written into self by ``_inplace`` ---------

    def add_(self, other: Any, alpha: float = 1) -> Any:
        """``self += alpha * other`` in place."""
        return self._inplace("add_", lambda t: t + _scaled(other, alpha))

    def sub_(self, other: Any, alpha: float = 1) -> Any:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub_", lambda t: t - _scaled(other, alpha))

    def mul_(self, other: Any) -> Any:
        """``self *= other`` in place."""
        return self._inplace("mul_", lambda t: t * other)

    def div_(self, other: Any) -> Any:
        """``self /= other`` in place."""
        return self._inplace("div_", lambda t: t / other)

    def clamp_(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 (torch's names)
        """``clamp`` in place."""
        return self._inplace("clamp_", lambda t: t.clamp(min=min, max=max))

    def fill_(self, value: Any) -> Any:
        """Every element becomes ``value`` (a number or a one-element tensor)."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("fill_", lambda t: t.masked_fill(every, value))

    def zero_(self) -> Any:
        """Every element becomes 0."""
        return self.fill_(0.0)

    def copy_(self, src: Any) -> Any:
        """Copy ``src``'s values (broadcast to self's shape) into self; the gradient flows to
        ``src``."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("copy_", lambda t: t.masked_fill(every, 0.0) + src)

    def __iadd__(self, other: Any) -> Any:
        return self.add_(other)

    def __isub__(self, other: Any) -> Any:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Any:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Any:
        return self.div_(other)

    # -- what each engine provides (documented in engine_api.protocol) -----------------------

    def _inplace(self, op: str, compute: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def _to(self, dtype: np.dtype | None, device: Any) -> Any:
        raise NotImplementedError
