"""The torch engine's ``Tensor``: one ``torch.Tensor`` behind the engine protocol.

How it works
------------
A :class:`Tensor` holds a ``torch.Tensor`` (``to_torch()`` returns it) and forwards every
op to torch, so values, graph and gradients are PyTorch's, and so are most of the
protocol's answers: comparisons give bool tensors, ``argmax`` int64 tensors, ``max(dim)``
the named tuple ``(values, indices)``, ``.grad`` a tensor. What the wrapper adds is the
protocol's surface where it differs from torch's:

================================  ====================================================
protocol                          here (and torch)
================================  ====================================================
``x.max()``                       the gradient goes to the first maximal element
                                  (torch's ``max()`` shares it among ties)
``sort``, ``argsort``, ``topk``   stable: ties keep their index order (torch's
                                  ``stable=True`` order; its default may differ)
``x.grad``                        a Tensor of this engine around torch's ``.grad``
                                  (no copy)
masks and index arrays            bool / int ndarrays and lists too (converted here)
``float - bool``, ``int - bool``  the bool counts as 0 / 1 (torch refuses every bool
                                  in ``-``; ``bool - bool`` is refused here too)
a float made up (``int * 0.5``)   engine_api's default float dtype (torch: its own)
float32 ``@`` float64             float64 (torch refuses)
``tensor(int32_array)``           int64: there is no int32 (``.int()`` gives int64)
``relu``, ``abs`` of bool         TypeError (torch: RuntimeError, NotImplementedError)
shape errors                      ValueError naming both shapes (torch: RuntimeError)
dims out of range                 ValueError naming dim and ndim (torch: IndexError)
``log``, ``sqrt``, ``log1p``      ValueError off the domain, naming the value (torch:
                                  NaN or -inf)
``item()`` of many                ValueError (torch: RuntimeError)
================================  ====================================================

dtypes
------
A tensor is float32, float64, int64 or bool; ``dtype`` is the numpy dtype
(``np.dtype('int64')``). ``tensor(data)`` infers the dtype as torch does
(``engine_api.rules.inferred_dtype``); an op's result dtype is torch's promotion, which
``engine_api.rules.result_dtype`` writes down, except that where a float has to be made up
(an int tensor times ``0.5``, ``int / int``, ``int_tensor.exp()``) it is engine_api's default
float dtype (``engine_api.dtypes.set_default_dtype``), not torch's: the operands are cast to
it before torch computes. Integer and bool tensors never require grad
(``errors.INT_GRAD``); a conversion to or from them is a constant, outside the graph.

The contract is written once, in :mod:`engine_api`: arguments are read by
``engine_api.rules`` and misuses get ``engine_api.errors``' messages, the same words on every
engine. Where a check would cost time on every call, torch is asked first and the rule only
runs once torch has refused (a shape that does not broadcast, a ``reshape`` that does not
fit); where torch words an error itself (backward twice, a graph whose saved values were
overwritten), that one call translates it. Misuses torch words its own way and that are
cheap to see (``bool - bool``, ``-bool``, ``int ** -1``, a float index, ``mean`` of ints,
``requires_grad`` on ints) are checked before torch is called.

:class:`Tensor` inherits the methods composed from primitives (``view``, ``flatten``, ``to``,
``item``, ``sort``, ``gather``, the in-place operators ...) from ``engine_api.TensorMethods``;
it overrides ``_nondiff`` (comparisons and logic by torch's functions, on the tensor's
device), ``argmax``/``argmin`` and ``any``/``all`` with torch's own, with the same results.
An in-place op is its out-of-place op written into the tensor with torch's ``copy_``, so
torch's autograd records it as it records its own in-place ops: a leaf that requires grad
refuses in grad mode, a recorded tensor takes the result's place in the graph, and a graph
that saved the old values refuses to backward (torch's version counter). Grad mode and
``.data`` are torch's own (docs/architecture.md, "Grad mode, in-place ops and ``.data``").

Node count
----------
:func:`nodes_created` counts the results this module hands out that torch recorded a graph
node for (``grad_fn`` set): one per protocol op, even where torch records several inside
(``cross_entropy`` is log_softmax + nll_loss in torch, one op here).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from engine_api import TensorMethods, errors, rules
from engine_api.dtypes import get_default_dtype

from ._convert import (
    as_torch_dtype,
    c_array,
    check_device,
    from_array,
    from_data,
    get_device,
    numpy_dtype,
    resolve_device,
    set_device,
    torch_dtype,
)

NAME = "torch"

_nodes_created = 0

__all__ = [
    "NAME", "Tensor", "tensor", "zeros", "ones", "from_torch", "cat", "stack", "where",
    "matmul", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "nodes_created", "reset_nodes_created", "set_device", "get_device",
]

_FLOATS = (torch.float32, torch.float64)
_PROTOCOL_DTYPES = (*_FLOATS, torch.int64, torch.bool)


def _default_float() -> torch.dtype:
    """engine_api's default float dtype, as torch's (what ``int / int`` gives)."""
    return as_torch_dtype(get_default_dtype())


# ---------------------------------------------------------------------------
# grad mode: torch's own (per thread) and the node counter

no_grad = torch.no_grad
"""No graph inside (context manager, or decorator with or without parentheses): torch's."""

enable_grad = torch.enable_grad
"""Record again inside a ``no_grad`` block: torch's."""

is_grad_enabled = torch.is_grad_enabled
"""Whether this thread records graphs: torch's flag."""


def set_grad_enabled(mode: bool) -> Any:
    """Switch grad mode now; as a context manager, restore it on exit (torch's). Only a bool
    is accepted, as on the other engines."""
    if not isinstance(mode, bool):
        raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
    return torch.set_grad_enabled(mode)


def nodes_created() -> int:
    """How many op results with a torch graph node this engine has handed out since the
    last reset (see the module docstring)."""
    return _nodes_created


def reset_nodes_created() -> None:
    """Set the node counter back to zero."""
    global _nodes_created
    _nodes_created = 0


def wrap(t: torch.Tensor) -> Tensor:
    """A Tensor around ``t`` (no copy); counts a node when torch recorded one.

    Every op's result goes through here, which makes it the one place a profiler
    (``shared_nn.profile``) wraps to see each result and its autograd node."""
    global _nodes_created
    out = object.__new__(Tensor)
    out._t = t
    if t.grad_fn is not None:
        _nodes_created += 1
    return out


def _uncounted(t: torch.Tensor) -> Tensor:
    """A Tensor around ``t`` for the engine's own bookkeeping (a copy ``_inplace`` computes
    from, a ``.grad``): not an op result, not counted."""
    out = object.__new__(Tensor)
    out._t = t
    return out


def from_torch(t: torch.Tensor) -> Tensor:
    """Wrap a float32, float64, int64 or bool ``torch.Tensor`` without copying (it stays in
    its graph)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"from_torch expects a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _PROTOCOL_DTYPES:
        raise TypeError(f"from_torch: tensors are float32, float64, int64 or bool, got {t.dtype}")
    return wrap(t)


# ---------------------------------------------------------------------------
# operands


def _number(x: Any) -> bool | int | float:
    """A Python or numpy number as Python's bool, int or float (numpy scalars count as
    Python numbers in promotion: ``float32 * np.float64(2)`` stays float32)."""
    if type(x) in (float, int, bool):
        return x
    if isinstance(x, np.generic):
        return x.item()
    return x if isinstance(x, int) else float(x)


def _array_tensor(data: Any, device: torch.device) -> torch.Tensor:
    """Array data (an ndarray, a list) as a tensor of the dtype its ndarray has among the
    four (``rules.array_dtype``: a list of floats is float64, as ``result_dtype`` reads it)."""
    array = rules.numeric_array(data)
    return torch.from_numpy(c_array(array, rules.array_dtype(array.dtype))).to(device)


def _operand(other: Any, like: torch.Tensor, op: str = "op") -> torch.Tensor | bool | int | float:
    """The other side of an arithmetic op: a torch tensor (a Tensor's, a raw torch tensor,
    or array data converted), or a Python number."""
    if isinstance(other, Tensor):
        return other._t
    if rules.is_number(other):
        return _number(other)
    if isinstance(other, torch.Tensor):
        return other
    if isinstance(other, (np.ndarray, list, tuple)):
        return _array_tensor(other, like.device)
    if rules.foreign_tensor(other):
        raise errors.mixing_error(op, NAME, other)
    raise errors.operand_error(op, other)


def _bool_mask(mask: Any, op: str, device: torch.device) -> torch.Tensor:
    """A mask as a bool torch tensor: a bool Tensor, an int64 one (nonzero is True), bool
    (or 0/1 integer) arrays and lists; a float mask is a TypeError (``rules.bool_mask``)."""
    if isinstance(mask, Tensor):
        m = mask._t.detach()
        if m.dtype == torch.bool:
            return m
        if m.is_floating_point():
            rules.bool_mask(np.empty(0, dtype=mask.dtype), op)  # raises: rules' message
        return m != 0
    if rules.foreign_tensor(mask):
        raise errors.mixing_error(op, NAME, mask)
    return torch.from_numpy(c_array(rules.bool_mask(mask, op), bool)).to(device)


def _is_bool(x: Any) -> bool:
    return x is True or x is False or isinstance(x, torch.Tensor) and x.dtype is torch.bool


def _promoted(op: str, a: torch.Tensor, other: Any) -> tuple[torch.Tensor, Any]:
    """The operands of an op on an int64 / bool tensor ``a`` (or a subtraction with a bool),
    cast to the dtype ``rules.result_dtype`` gives (``rules.division_dtype`` for ``div``):
    torch's promotion, except that a float made up (an int tensor times 0.5, int / int) is
    engine_api's default float. ``bool - bool`` is a TypeError; in any other subtraction a
    bool counts as 0 / 1 (torch refuses every bool there)."""
    result = torch.result_type(a, other)
    if result.is_floating_point and not (
            a.is_floating_point() or isinstance(other, torch.Tensor) and other.is_floating_point()):
        result = _default_float()  # the float is a Python number's
    elif op == "div" and not result.is_floating_point:
        result = _default_float()
    if op == "sub":
        if result == torch.bool:
            raise TypeError(errors.BOOL_SUB)
        if other is True or other is False:
            other = int(other)
    if a.dtype != result:
        a = a.to(result)
    if isinstance(other, torch.Tensor) and other.dtype != result:
        other = other.to(result)
    return a, other


def _binary(op: str, fn: Callable[[Any, Any], torch.Tensor], a: torch.Tensor, b: Any,
            reflected: bool = False) -> Tensor:
    """``fn(a, b)`` (``fn(b, a)`` if reflected); shapes that do not broadcast get the
    protocol's message, looked for only once torch has refused. A float ``a`` goes straight
    to torch (its promotion is the protocol's); an int64 or bool one is promoted first."""
    other = _operand(b, a, op)
    if not a.is_floating_point() or op == "sub" and _is_bool(other):
        a, other = _promoted(op, a, other)
    first, second = (other, a) if reflected else (a, other)
    try:
        return wrap(fn(first, second))
    except RuntimeError as err:
        failure = err
    if isinstance(other, torch.Tensor):
        rules.broadcast_shape(op, tuple(first.shape), tuple(second.shape))
    raise failure


def _index_part(part: Any, device: torch.device) -> Any:
    """One entry of an index: a bool Tensor (or bool ndarray, list of bools) is a mask, an
    int64 one gathers; a float one is an IndexError (``errors.INDEX_DTYPE``)."""
    if isinstance(part, Tensor):
        values = part._t.detach()
        if values.is_floating_point():
            raise IndexError(errors.INDEX_DTYPE)
        return values
    if isinstance(part, list):
        part = np.asarray(part)
        if part.size == 0:
            part = part.astype(np.int64)
    if isinstance(part, np.ndarray):
        if part.dtype.kind == "b":
            return torch.from_numpy(c_array(part, bool)).to(device)
        if part.dtype.kind not in "iu":
            raise IndexError(errors.INDEX_DTYPE)
        return torch.from_numpy(c_array(part, np.int64)).to(device)
    if isinstance(part, np.integer):
        return int(part)
    if rules.foreign_tensor(part):
        raise errors.mixing_error("__getitem__", NAME, part)
    return part


def _index(index: Any, device: torch.device) -> Any:
    rules.positive_steps(index)  # torch refuses too; this is every engine's message
    if isinstance(index, tuple):
        return tuple(_index_part(p, device) for p in index)
    return _index_part(index, device)


def _reduced_count(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> int:
    """How many elements each result of a reduction over ``dims`` combines."""
    if dims is None or not shape:
        return math.prod(shape)
    return math.prod(shape[d] for d in dims)


def _float_only(t: torch.Tensor, op: str) -> None:
    """mean, var, std, softmax, log_softmax refuse int64 / bool input (as torch does, in
    engine_api's words)."""
    if not t.is_floating_point():
        raise errors.float_only_error(op, numpy_dtype(t.dtype))


def _floating(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the dtype a float function computes in: itself if float, else engine_api's
    default float (``rules.floating``)."""
    return t if t.is_floating_point() else t.to(_default_float())


def _grad_values(value: Any, op: str) -> torch.Tensor | np.ndarray:
    """A gradient given by the user (``.grad = ``, ``backward(grad)``): a Tensor's values or
    array-like data (another engine's tensor is a mixing error)."""
    if isinstance(value, Tensor):
        return value._t.detach()
    if rules.foreign_tensor(value):
        raise errors.mixing_error(op, NAME, value)
    return rules.numeric_array(value)


# ---------------------------------------------------------------------------
# torch's autograd errors in the protocol's words

_OVERWRITTEN_SHAPE = re.compile(r"\[torch\.[\w.]+ \[([\d, ]*)\]\]")
_TORCH_VIEW_REFUSALS = ("a view of a leaf Variable", "is a view and is being modified inplace",
                        "view was created in no_grad mode")
"""What torch says when it refuses an in-place write into a view of a tensor that requires
grad (a view of a leaf, one of several views an op returned, a view made under no_grad)."""


def _autograd_error(err: RuntimeError) -> RuntimeError:
    """engine_api's message for an error torch's backward raised (``err`` itself when the
    protocol has no word for it)."""
    message = str(err)
    if "backward through the graph a second time" in message:
        return RuntimeError(errors.BACKWARD_TWICE)
    overwritten = _OVERWRITTEN_SHAPE.search(message)
    if "modified by an inplace operation" in message and overwritten:
        sizes = overwritten.group(1).replace(" ", "")
        return errors.overwritten_error(tuple(int(n) for n in sizes.split(",") if n))
    return err


# ---------------------------------------------------------------------------
# the Tensor


def _torch_binary(op: str, fn: Callable[[Any, Any], torch.Tensor]) -> tuple[Callable, Callable]:
    """The operator ``op`` and its reflected form (``x - 1`` and ``1 - x``) as torch's."""

    def forward(self: Tensor, other: Any) -> Tensor:
        return _binary(op, fn, self._t, other)

    def reflected(self: Tensor, other: Any) -> Tensor:
        return _binary(op, fn, self._t, other, reflected=True)

    return forward, reflected


def _torch_unary(name: str, doc: str | None = None, floating: bool = True
                 ) -> Callable[[Tensor], Tensor]:
    """The method ``name`` of the protocol as torch's own method of that name; a float
    function (``floating``) computes int64 / bool input in the default float dtype, the
    others (relu, abs) keep int64 and refuse bool."""

    if floating:
        def method(self: Tensor) -> Tensor:
            t = self._t
            if not t.is_floating_point():
                t = t.to(_default_float())
            return wrap(getattr(t, name)())
    else:
        def method(self: Tensor) -> Tensor:
            t = self._t
            if t.dtype is torch.bool:
                raise errors.bool_refused(name)
            return wrap(getattr(t, name)())

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc or f"torch's ``{name}``, elementwise."
    return method


_REPR_DTYPE = re.compile(r",\s*dtype=torch\.\w+")
_REPR_TAIL = re.compile(r"(,\s*(grad_fn|requires_grad)=.*)?\)$", re.S)


class Tensor(TensorMethods):
    """An n-d tensor (float32, float64, int64 or bool) computed by PyTorch, with the engine
    protocol's interface.

    Build one with :func:`tensor`, :func:`zeros`, :func:`ones`, :func:`from_torch` (or
    ``Tensor(data)``); ``to_torch()`` gives the torch tensor behind it.
    """

    __slots__ = ("_t", "__weakref__")
    engine = NAME
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: Any = None) -> None:
        t = from_data(data._t if isinstance(data, Tensor) else data, dtype, device)
        if requires_grad:
            if not t.is_floating_point():
                raise RuntimeError(errors.INT_GRAD)
            t.requires_grad_(True)
        self._t = t

    def to_torch(self) -> torch.Tensor:
        """The ``torch.Tensor`` behind this one (no copy; it carries the graph)."""
        return self._t

    # -- data ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._t.shape)

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype: float32, float64, int64 or bool."""
        return numpy_dtype(self._t.dtype)

    @property
    def device(self) -> torch.device:
        return self._t.device

    def numpy(self) -> np.ndarray:
        """The values as an ndarray of this dtype (on the CPU it shares memory: do not mutate
        it)."""
        return self._t.detach().cpu().numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """numpy's protocol: the values, without a copy unless ``copy`` asks for one (as
        ``np.array(t)`` does) or ``dtype`` differs."""
        values = self.numpy()
        if dtype is not None:
            return values.astype(dtype, copy=bool(copy))
        return values.copy() if copy else values

    def __repr__(self) -> str:
        """torch's repr, with the dtype shown (numpy's name) when it is not the default
        float dtype."""
        text = _REPR_DTYPE.sub("", repr(self._t))
        dtype = self.dtype
        if dtype != get_default_dtype():
            text = _REPR_TAIL.sub(lambda m: f", dtype={dtype}{m.group(0)}", text, count=1)
        return text.replace("tensor(", "torch_engine.tensor(", 1)

    def _to(self, dtype: np.dtype | None, device: Any) -> Tensor:
        """``to(...)`` once engine_api has sorted its arguments: ``self`` when nothing
        changes, else torch's copy on ``device`` and in ``dtype``: in the graph from float to
        float, a constant when an int64 or bool dtype is involved (float to int truncates
        toward zero, to bool is ``!= 0``)."""
        t = self._t
        target = as_torch_dtype(dtype)
        where = None if device is None else check_device(device)
        if target is not None and target != t.dtype and not (
                t.is_floating_point() and target.is_floating_point):
            t = t.detach()
        moved = t.to(device=where, dtype=target)
        return self if moved is self._t else wrap(moved)

    def _new(self, values: np.ndarray) -> Tensor:
        """A constant on this tensor's device holding ``values`` in their dtype among the four
        (``rules.array_dtype``), sharing the array's memory on the CPU where torch can."""
        values = np.asarray(values)
        target = rules.array_dtype(values.dtype)
        if values.dtype != target:
            values = values.astype(target)
        return wrap(from_array(values, self._t.device))

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._t.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not self._t.is_floating_point():
            raise RuntimeError(errors.INT_GRAD)
        self._t.requires_grad = bool(value)  # torch refuses on non-leaves (RuntimeError)

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient, a Tensor of this tensor's shape and dtype (None before
        a backward). It wraps torch's ``.grad`` without a copy, and torch accumulates into
        it in place: a ``.grad`` read before a second backward shows the sum."""
        g = self._t.grad
        return None if g is None else _uncounted(g)

    @grad.setter
    def grad(self, value: Any) -> None:
        """Set the gradient: None, a Tensor or array-like data of this tensor's shape
        (copied, in this tensor's dtype and on its device)."""
        t = self._t
        if value is None:
            t.grad = None
            return
        values = _grad_values(value, "grad")
        if tuple(values.shape) != self.shape:
            raise errors.shape_mismatch("grad", "grad", tuple(values.shape), self.shape)
        t.grad = torch.as_tensor(values, dtype=t.dtype, device=t.device).clone()

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs, detached)."""
        return self._t.is_leaf

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this intermediate tensor during backward (leaves always do)."""
        self._t.retain_grad()

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's values, outside the graph."""
        return wrap(self._t.detach())

    def assign_(self, value: Any, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers do). ``copy``
        is accepted for the engine protocol: the values are always copied into the tensor's
        own storage, which views of it share."""
        values = value._t.detach() if isinstance(value, Tensor) else np.asarray(value)
        if tuple(values.shape) != self.shape:
            raise errors.shape_mismatch("assign_", "value", tuple(values.shape), self.shape)
        source = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device)
        with torch.no_grad():
            self._t.copy_(source)
        return self

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires grad (torch's backward).

        ``grad`` (a Tensor or array-like) may be omitted only when ``self`` has one element
        (then it is 1).
        """
        t = self._t
        if not t.requires_grad:
            raise RuntimeError(errors.NO_GRAD_FN)
        upstream = None
        if grad is not None:
            values = _grad_values(grad, "backward")
            if tuple(values.shape) != self.shape:
                raise errors.shape_mismatch("backward", "grad", tuple(values.shape), self.shape)
            upstream = torch.as_tensor(values, dtype=t.dtype, device=t.device)
        elif t.numel() != 1:
            raise errors.implicit_grad_error(self.shape)
        try:
            t.backward(upstream, retain_graph=retain_graph)
        except RuntimeError as err:
            raise _autograd_error(err) from None

    # -- in-place ops: torch's copy_ writes the out-of-place result -----------

    @property
    def data(self) -> Tensor:
        """The same storage outside the graph: in-place ops on it record nothing."""
        return wrap(self._t.data)

    @data.setter
    def data(self, value: Any) -> None:
        values = value._t.detach() if isinstance(value, Tensor) else np.asarray(value)
        if tuple(values.shape) != self.shape:
            raise errors.shape_mismatch("data", "new values", tuple(values.shape), self.shape)
        source = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device)
        self._t.data.copy_(source)

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op.

        The result is written with torch's ``copy_`` in the current grad mode, so torch keeps
        the books as for its own in-place ops: in grad mode a leaf that requires grad refuses
        (so does a view of one, in torch's words), a recorded tensor or a view of one takes
        the result's place in the graph, and a graph that saved the old values refuses to
        backward. In grad mode the result is computed from a copy of self, since the result's
        graph may save the values that ``copy_`` is about to overwrite. Where torch refuses
        to write into a view, the message is engine_api's.
        """
        t = self._t
        recording = torch.is_grad_enabled()
        if recording and t.requires_grad and t.is_leaf and not t._is_view():
            raise RuntimeError(errors.LEAF_INPLACE)
        result = compute(_uncounted(t.clone()) if recording else self)
        if result._t.shape != t.shape:
            raise ValueError(f"{op}: the result's shape {result.shape} does not match the "
                             f"in-place target's shape {self.shape}")
        try:
            t.copy_(result._t)
        except RuntimeError as err:
            if not any(words in str(err) for words in _TORCH_VIEW_REFUSALS):
                raise
            raise errors.view_inplace_error(op, self.shape) from None
        return self

    # -- arithmetic -----------------------------------------------------------

    __add__, __radd__ = _torch_binary("add", operator.add)
    __sub__, __rsub__ = _torch_binary("sub", operator.sub)
    __mul__, __rmul__ = _torch_binary("mul", operator.mul)
    __truediv__, __rtruediv__ = _torch_binary("div", operator.truediv)

    def __neg__(self) -> Tensor:
        if self._t.dtype is torch.bool:
            raise TypeError(errors.BOOL_NEG)
        return wrap(-self._t)

    def __pow__(self, exponent: Any) -> Tensor:
        """``self ** exponent`` (a Python number). An int64 / bool tensor to a non-negative
        int power stays int64 (a negative one is a ValueError); to a float power it computes
        in the default float dtype."""
        p = rules.exponent(exponent)
        t = self._t
        if not t.is_floating_point():
            if isinstance(exponent, (int, np.integer)):
                if exponent < 0:
                    raise ValueError(errors.NEGATIVE_INT_POWER)
                return wrap(t ** int(exponent))
            t = t.to(_default_float())
        negative = None if p.is_integer() else _first_outside(t, lambda x: x < 0)
        if negative is not None:
            raise errors.negative_base_error(negative, p, self.shape)
        return wrap(t ** p)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    # -- comparisons and logic: torch's functions, bool tensors on this device --

    def _nondiff(self, name: str, fn: Callable[..., Any], *others: Any) -> Tensor:
        """torch's function ``name`` (``eq``, ``logical_and``, ``bitwise_not``, ``isnan``
        ...) of this tensor and ``others``, outside the graph, on this tensor's device:
        engine_api's ``_nondiff`` without the trip through numpy (``fn``, numpy's twin, is
        not needed). Operands are read as engine_api reads them. What torch refuses (shapes
        that do not broadcast, ``&`` with a float array) engine_api's version answers, so
        the error is the same as on every engine (rules' broadcast message, numpy's dtype
        refusal)."""
        t = self._t.detach()
        args = [self._nondiff_operand(x, name) for x in others]
        try:
            return wrap(getattr(torch, name)(t, *args))
        except (RuntimeError, TypeError, NotImplementedError):
            return super()._nondiff(name, fn, *others)

    def _nondiff_operand(self, other: Any, op: str) -> Any:
        """The other side of a comparison or logic op (engine_api's ``_operand_array``, on
        torch): a Tensor's values, a number, or array data as a tensor on this device."""
        if isinstance(other, Tensor):
            return other._t.detach()
        if rules.foreign_tensor(other) or type(other).__name__ == "Tensor":
            raise errors.mixing_error(op, self.engine, other)
        device = self._t.device
        if rules.is_number(other):
            number = _number(other)
            if op in _TAKES_NUMBERS and not (
                    isinstance(number, float) and not self._t.is_floating_point()):
                return number
            # torch's logical ops want tensors; an int tensor meets a float in float64, as
            # numpy compares them
            kind = torch.float64 if isinstance(number, float) else None
            return torch.tensor(number, dtype=kind, device=device)
        if isinstance(other, (list, tuple, np.ndarray)):
            return _array_tensor(other, device)
        raise errors.operand_error(op, other)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Index of the first maximum (of the flattened tensor for ``dim=None``), an int64
        tensor on this device; the first NaN wins (torch's own argmax)."""
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Index of the first minimum, an int64 tensor (see :meth:`argmax`)."""
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        """engine_api's argmax / argmin (same results, same errors) by torch's kernels; torch
        has none for bool, so a bool tensor compares as 0 / 1."""
        t = self._t.detach()
        if t.numel() == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        if dim is None:
            index = getattr(t.reshape(-1), op)()
            return wrap(index.reshape((1,) * t.ndim) if keepdim else index)
        if t.ndim == 0:
            rules.normalize_dim(dim, 1, op)
            return wrap(torch.zeros((), dtype=torch.int64, device=t.device))
        return wrap(getattr(t, op)(dim=rules.normalize_dim(dim, t.ndim, op), keepdim=keepdim))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Whether any element (along ``dim``) is nonzero: a bool tensor (torch's ``any``)."""
        return self._torch_truth("any", dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Whether every element (along ``dim``) is nonzero: a bool tensor."""
        return self._torch_truth("all", dim, keepdim)

    def _torch_truth(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        t = self._t.detach()
        dims = rules.normalize_dims(dim, t.ndim, op)
        if dims is None:
            out = getattr(t, op)()
            return wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        if not dims:  # a 0-d tensor along dim 0: itself, as a truth value
            return wrap(t != 0)
        return wrap(getattr(t, op)(dim=dims, keepdim=keepdim))

    # -- elementwise ----------------------------------------------------------

    exp = _torch_unary("exp")
    tanh = _torch_unary("tanh")
    sigmoid = _torch_unary("sigmoid")
    sin = _torch_unary("sin")
    cos = _torch_unary("cos")
    erf = _torch_unary("erf")
    relu = _torch_unary("relu", "``max(x, 0)``; an int64 tensor stays int64.", floating=False)
    abs = _torch_unary("abs", "|x|; its gradient is sign(x), 0 at 0 (torch's); an int64 "
                       "tensor stays int64.", floating=False)

    def log(self) -> Tensor:
        """The natural logarithm; a value <= 0 is a ValueError naming it."""
        t = _floating(self._t)
        _check_domain(t, "log", lambda x: x <= 0, "> 0")
        return wrap(t.log())

    def log1p(self) -> Tensor:
        """``log(1 + x)``, precise for tiny ``x`` (torch's ``log1p``); gradient
        ``1 / (1 + x)``. A value <= -1 is a ValueError naming it."""
        t = _floating(self._t)
        _check_domain(t, "log1p", lambda x: x <= -1, "> -1")
        return wrap(t.log1p())

    def sqrt(self) -> Tensor:
        """The square root; a negative value is a ValueError naming it."""
        t = _floating(self._t)
        _check_domain(t, "sqrt", lambda x: x < 0, ">= 0")
        return wrap(t.sqrt())

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch's names)
        """Each value limited to ``[min, max]``; either bound may be None, not both. An int64
        (or bool) tensor with int bounds gives int64, with a float bound the default float."""
        lo, hi = rules.clamp_bounds(min, max)
        t = self._t
        if not t.is_floating_point():
            if all(b is None or isinstance(b, (int, np.integer)) for b in (min, max)):
                lo, hi = (None if min is None else int(min)), (None if max is None else int(max))
                t = t.to(torch.int64)
            else:
                t = t.to(_default_float())
        return wrap(t.clamp(min=lo, max=hi))

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim`` (torch's kernel)."""
        _float_only(self._t, "softmax")
        return wrap(self._t.softmax(rules.normalize_dim(dim, max(self._t.ndim, 1), "softmax")))

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim`` (torch's kernel)."""
        _float_only(self._t, "log_softmax")
        d = rules.normalize_dim(dim, max(self._t.ndim, 1), "log_softmax")
        return wrap(self._t.log_softmax(d))

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None / ``()`` for all); an int64 or
        bool tensor sums to int64."""
        return self._reduce("sum", dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None / ``()`` for all); float
        tensors only."""
        _float_only(self._t, "mean")
        return self._reduce("mean", dim, keepdim)

    def _reduce(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        t = self._t
        dims = rules.normalize_dims(dim, t.ndim, op)
        if op == "mean" and t.numel() == 0 and _reduced_count(self.shape, dims) == 0:
            raise ValueError(f"mean over an empty dimension (shape {self.shape}, dim {dim})")
        if dims is None:
            out = getattr(t, op)()
            return wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        return wrap(getattr(t, op)(dim=dims if t.ndim else None, keepdim=keepdim))

    def cumsum(self, dim: int) -> Tensor:
        """The running sums along ``dim`` (a 0-d tensor takes dim 0 or -1); int64 / bool
        input gives int64. The gradient is the reversed running sum of the upstream
        gradient (torch's)."""
        return wrap(self._t.cumsum(rules.normalize_dim(dim, max(self._t.ndim, 1), "cumsum")))

    def _extreme(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        """The values of ``max`` / ``min`` (``op``) over ``dim`` or everything. Over
        everything the gradient goes to the first extreme element (torch's ``max()`` shares
        it among ties), so the first one is indexed; with ``dim`` torch already does so."""
        t = self._t
        if t.numel() == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        if dim is None:
            flat = t.reshape(-1)
            keys = flat.detach() if flat.dtype != torch.bool else flat.to(torch.uint8)
            first = int(keys.argmax() if op == "max" else keys.argmin())
            out = flat[first]
            return wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        d = rules.normalize_dim(dim, max(t.ndim, 1), op)
        return wrap(getattr(t, op)(dim=d, keepdim=keepdim).values)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Variance over ``dim``, dividing by ``n - correction`` (torch's arguments)."""
        return self._spread("var", dim, unbiased, keepdim, correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments."""
        return self._spread("std", dim, unbiased, keepdim, correction)

    def _spread(self, op: str, dim: Any, unbiased: bool | None, keepdim: bool,
                correction: Any) -> Tensor:
        _float_only(self._t, op)
        dim, c = rules.var_arguments(dim, unbiased, correction)
        dims = rules.normalize_dims(dim, self._t.ndim, op)
        if self._t.ndim == 0:
            dims = None
        return wrap(getattr(self._t, op)(dim=dims, correction=c, keepdim=keepdim))

    # -- shape ----------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape; one entry may be -1."""
        sizes = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        try:
            return wrap(self._t.reshape(sizes))
        except (RuntimeError, TypeError) as err:
            failure = err
        rules.reshaped(self.shape, shape)  # the protocol's message for what torch refused
        raise failure

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        n = max(self._t.ndim, 1)
        d0 = rules.normalize_dim(dim0, n, "transpose")
        d1 = rules.normalize_dim(dim1, n, "transpose")
        return wrap(self._t.transpose(d0, d1))

    @property
    def T(self) -> Tensor:  # noqa: N802 (the protocol's name)
        """The transpose of a 2-D tensor (dims reversed in general; 0-d and 1-d unchanged)."""
        if self._t.ndim < 2:
            return self
        return self.permute(*reversed(range(self._t.ndim)))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions: result dim i is input dim ``dims[i]``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return wrap(self._t.permute(rules.permutation(dims, self.shape)))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
        return wrap(self._t.unsqueeze(rules.normalize_dim(dim, self._t.ndim + 1, "unsqueeze")))

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dimensions (all of them, or those of ``dim`` that have size 1)."""
        dims = rules.normalize_dims(dim, self._t.ndim, "squeeze")
        if dims is None or self._t.ndim == 0:
            return wrap(self._t.squeeze())
        return wrap(self._t.squeeze(dims))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast (read-only) view with ``sizes``: size-1 dims stretch, new leading dims
        may be added, -1 keeps a size."""
        return wrap(self._t.expand(rules.expanded_shape(self.shape, sizes)))

    def clone(self) -> Tensor:
        """A copy with its own memory, in the graph (identity gradient)."""
        return wrap(self._t.clone())

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into chunks of one size (the last may be smaller) or of the listed sizes."""
        sizes, d = rules.split_sizes(split_size_or_sections, self.shape, dim)
        return tuple(wrap(p) for p in self._t.split(sizes, dim=d))

    def __getitem__(self, index: Any) -> Tensor:
        """torch's indexing: a bool Tensor, ndarray or list is a mask, an int64 one gathers
        (a float one is an IndexError)."""
        return wrap(self._t[_index(index, self._t.device)])

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value`` (a number, a Tensor, array data; cast to this dtype): torch's
        own in-place write, recorded in the graph when ``x`` or ``value`` requires grad (a
        leaf that requires grad refuses in grad mode, as in torch)."""
        t = self._t
        source = _operand(value, t, "__setitem__")
        if isinstance(source, torch.Tensor) and source.dtype != t.dtype:
            source = source.to(t.dtype)
        key = _index(index, t.device)
        try:
            t[key] = source
        except RuntimeError as error:
            if "shape" not in str(error) and "size" not in str(error):
                raise
            shape = tuple(source.shape) if isinstance(source, torch.Tensor) else ()
            raise ValueError(f"__setitem__: a value of shape {shape} does not broadcast to the "
                             f"indexed shape {tuple(t[key].shape)}") from None

    # -- masks and scatters ---------------------------------------------------

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """Replace the values where ``mask`` (bool; it broadcasts) is True by ``value`` (a
        number or a one-element Tensor, cast to this tensor's dtype)."""
        t = self._t
        m = _bool_mask(mask, "masked_fill", t.device)
        rules.mask_shape(tuple(m.shape), self.shape, "masked_fill")
        if isinstance(value, Tensor):
            fill = value._t.reshape(())
            if fill.dtype != t.dtype:
                fill = fill.to(t.dtype)
        elif rules.foreign_tensor(value):
            raise errors.mixing_error("masked_fill", NAME, value)
        elif t.is_floating_point():
            fill = float(value)
        else:
            fill = bool(value) if t.dtype == torch.bool else int(value)
        return wrap(t.masked_fill(m, fill))

    def _scatter_add(self, positions: tuple[np.ndarray, ...], src: Any) -> Tensor:
        """A copy of self with ``src`` added at ``positions`` (a numpy advanced index, one
        int64 array per dim), repeated positions adding up: torch's ``index_put`` with
        ``accumulate=True``, out of place, so the gradient reaches self whole and ``src``
        gathered. The dtypes promote (an int64 self with an int64 src stays int64)."""
        t = self._t
        source = _operand(src, t, "scatter_add")
        if not isinstance(source, torch.Tensor):
            source = torch.tensor(source, device=t.device)
        common = torch.promote_types(t.dtype, source.dtype)
        index = tuple(torch.as_tensor(p, dtype=torch.int64, device=t.device) for p in positions)
        return wrap(t.to(common).index_put(index, source.to(common), accumulate=True))


_TAKES_NUMBERS = frozenset(("eq", "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or",
                            "bitwise_xor"))
"""torch's functions in ``_nondiff`` that take a Python number as the other side (the
logical ones want a tensor)."""


def _first_outside(t: torch.Tensor, outside: Callable[[torch.Tensor], torch.Tensor]
                   ) -> float | None:
    """The first value of ``t`` for which ``outside`` holds, or None (one vectorised test)."""
    with torch.no_grad():
        bad = outside(t)
        if not bool(bad.any()):
            return None
        return float(t[bad].reshape(-1)[0])


def _check_domain(t: torch.Tensor, op: str, outside: Callable[[torch.Tensor], torch.Tensor],
                  domain: str) -> None:
    """engine_api's domain error naming the first value of ``t`` outside ``op``'s domain."""
    value = _first_outside(t, outside)
    if value is not None:
        raise errors.domain_error(op, value, domain)


# ---------------------------------------------------------------------------
# functions of several tensors


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with torch's rules: 1-D operands are promoted to a row (left) or a
    column (right) and that dimension removed again; batch dims broadcast. Mixed dtypes
    promote (``rules.result_dtype``: a float32 and a float64 operand give float64, where
    torch would refuse); int64 operands give int64 (computed on the CPU where the device has
    no integer kernel), bool ones bool (``any(a & b)``)."""
    like = next((x._t for x in (a, b) if isinstance(x, Tensor)), None)
    A, B = _as_torch(a, "matmul", like), _as_torch(b, "matmul", like)
    if A.dtype != B.dtype:
        common = torch.promote_types(A.dtype, B.dtype)
        A, B = A.to(common), B.to(common)
    try:
        if A.is_floating_point():
            return wrap(torch.matmul(A, B))
        return wrap(_int_matmul(A, B))
    except RuntimeError as err:
        failure = err
    rules.matmul_shape(tuple(A.shape), tuple(B.shape))  # the shapes' message, if that was why
    raise failure


def _int_matmul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The product of two int64 or two bool tensors, exact (in int64)."""
    device = A.device
    out = torch.matmul(A.to("cpu", torch.int64), B.to("cpu", torch.int64)).to(device)
    return out != 0 if A.dtype == torch.bool else out


def _as_torch(x: Any, op: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor operand of a module-level function: a Tensor's, or array data as
    ``rules.result_dtype`` reads it, on ``like``'s device."""
    if isinstance(x, Tensor):
        return x._t
    if rules.foreign_tensor(x):
        raise errors.mixing_error(op, NAME, x)
    return _array_tensor(x, get_device() if like is None else like.device)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is True, else ``b``. ``cond`` is a bool Tensor or array (0/1
    ints read as bools, floats refused); ``a`` and ``b`` are Tensors, arrays or numbers, in
    the dtype ``rules.result_dtype`` gives them; the gradient reaches the float Tensors."""
    like = next((x._t for x in (cond, a, b) if isinstance(x, Tensor)), None)
    device = like.device if like is not None else get_device()
    mask = _bool_mask(cond, "where", device)
    for x in (a, b):
        if rules.foreign_tensor(x) and not isinstance(x, Tensor):
            raise errors.mixing_error("where", NAME, x)
    common = rules.result_dtype(a, b)
    operands = [_where_operand(x, common, device) for x in (a, b)]
    try:
        return wrap(torch.where(mask, operands[0], operands[1]))
    except RuntimeError as err:
        failure = err
    rules.broadcast_shape("where", tuple(mask.shape), *(tuple(x.shape) for x in operands))
    raise failure


def _where_operand(x: Any, dtype: np.dtype, device: torch.device) -> torch.Tensor:
    """One side of ``where`` as a torch tensor of ``dtype`` (a Tensor keeps its graph)."""
    target = as_torch_dtype(dtype)
    if isinstance(x, Tensor):
        return x._t if x._t.dtype == target else x._t.to(target)
    if rules.is_number(x):
        return torch.tensor(_number(x), dtype=target, device=device)
    return torch.from_numpy(c_array(rules.numeric_array(x), dtype)).to(device)


def _tensor_list(tensors: Any, op: str) -> list[torch.Tensor]:
    """``cat`` / ``stack``'s tensors as torch tensors of one dtype (``rules.result_dtype``
    of them all); another engine's tensor is a mixing error."""
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            if rules.foreign_tensor(t):
                raise errors.mixing_error(op, NAME, t)
            raise TypeError(f"{op}: expected torch_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    parts = [t._t for t in tensors]
    if len({p.dtype for p in parts}) > 1:
        common = as_torch_dtype(rules.result_dtype(*tensors))
        parts = [p.to(common) for p in parts]
    return parts


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension (mixed dtypes promote)."""
    parts = _tensor_list(tensors, "cat")
    _, d = rules.concatenated_shape([tuple(t.shape) for t in parts], dim)
    return wrap(torch.cat(parts, dim=d))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension (mixed dtypes promote)."""
    parts = _tensor_list(tensors, "stack")
    _, d = rules.stacked_shape([tuple(t.shape) for t in parts], dim)
    return wrap(torch.stack(parts, dim=d))


Tensor._where = staticmethod(where)


# ---------------------------------------------------------------------------
# constructors


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: Any = None) -> Tensor:
    """A new leaf holding a copy of ``data`` (numbers, nested lists, ndarrays, torch tensors,
    Tensors).

    The dtype is ``dtype`` (float32, float64, int64 or bool, any spelling), else torch's
    inference (``engine_api.rules.inferred_dtype``: ``[1, 2]`` is int64, ``[1.5]`` the
    default float, a float64 ndarray float64); on ``device``, or the default device
    (:func:`set_device`, CPU unless changed). Only a float tensor may require grad.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros(shape: Any, requires_grad: bool = False, dtype: Any = None,
          device: Any = None) -> Tensor:
    """A leaf of zeros; ``shape`` is an int or a tuple; the default float dtype unless
    ``dtype`` says otherwise."""
    return _filled(torch.zeros, "zeros", shape, requires_grad, dtype, device)


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None,
         device: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple (see :func:`zeros`)."""
    return _filled(torch.ones, "ones", shape, requires_grad, dtype, device)


def _filled(make: Callable[..., torch.Tensor], op: str, shape: Any, requires_grad: bool,
            dtype: Any, device: Any) -> Tensor:
    chosen = torch_dtype(dtype) or _default_float()
    if requires_grad and not chosen.is_floating_point:
        raise RuntimeError(errors.INT_GRAD)
    t = make(rules.new_shape(shape, op), dtype=chosen, device=resolve_device(device))
    return wrap(t.requires_grad_(bool(requires_grad)))
