"""The torch engine's ``Tensor``: one ``torch.Tensor`` behind the engine protocol.

How it works
------------
A :class:`Tensor` holds a ``torch.Tensor`` (``to_torch()`` returns it) and forwards every
op to torch, so values, graph and gradients are PyTorch's. What the wrapper adds is the
protocol's surface, where it differs from torch's:

=============================  ======================================================
protocol                       torch
=============================  ======================================================
``x.max(dim)``, ``x.min(dim)``  ``.values`` only (torch returns values and indices)
``x.max()``                    the gradient goes to the first maximal element (torch's
                               ``max()`` shares it among ties)
``x.argmax()``                 a Python int, or an int ndarray with ``dim``
``x.grad``, ``x.numpy()``      ndarrays (on the CPU they share torch's memory)
``x < y``                      a bool ndarray
masks and index arrays         bool / int ndarrays or lists (converted here)
shape errors                   ValueError naming both shapes (torch: RuntimeError)
dims out of range              ValueError naming dim and ndim (torch: IndexError)
``log``/``sqrt`` off-domain     ValueError naming the value (torch: NaN or -inf)
``item()`` of many              ValueError (torch: RuntimeError)
=============================  ======================================================

The contract is written once, in :mod:`engine_api`: arguments are read by
``engine_api.rules`` and misuses get ``engine_api.errors``' messages, the same words on every
engine. Where a check would cost time on every call, torch is asked first and the rule only
runs once torch has refused (a shape that does not broadcast, a ``reshape`` that does not
fit); where torch words an error itself (backward twice, a graph whose saved values were
overwritten), that one call translates it.

:class:`Tensor` inherits the methods composed from primitives (``view``, ``flatten``, ``to``,
``item``, the in-place operators ...) from ``engine_api.TensorMethods``. An in-place op is its
out-of-place op written into the tensor with torch's ``copy_``, so torch's autograd records it
as it records its own in-place ops: a leaf that requires grad refuses in grad mode, a recorded
tensor takes the result's place in the graph, and a graph that saved the old values refuses
to backward (torch's version counter). Grad mode and ``.data`` are torch's own
(docs/architecture.md, "Grad mode, in-place ops and ``.data``").

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

from ._convert import (
    as_torch_dtype,
    c_array,
    check_device,
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
    """A Tensor around ``t`` for the engine's own bookkeeping: not an op result, not counted."""
    out = object.__new__(Tensor)
    out._t = t
    return out


def from_torch(t: torch.Tensor) -> Tensor:
    """Wrap a float32/float64 ``torch.Tensor`` without copying (it stays in its graph)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"from_torch expects a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"from_torch: tensors are float32 or float64, got {t.dtype}")
    return wrap(t)


# ---------------------------------------------------------------------------
# operands


def _operand(other: Any, like: torch.Tensor, op: str = "op") -> torch.Tensor | float:
    """The other side of an op: a torch tensor, or a Python float (numpy scalars included,
    so that they never promote a float32 tensor)."""
    if isinstance(other, Tensor):
        return other._t
    if rules.is_number(other):
        return float(other)
    if isinstance(other, torch.Tensor):
        return other
    if isinstance(other, (np.ndarray, list, tuple)):
        return from_data(other, device=like.device)
    if rules.foreign_tensor(other):
        raise errors.mixing_error(op, NAME, other)
    raise errors.operand_error(op, other)


def _as_torch(x: Any, op: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor operand of a module-level function (Tensor or array data, the latter put on
    ``like``'s device)."""
    if isinstance(x, Tensor):
        return x._t
    if rules.foreign_tensor(x):
        raise errors.mixing_error(op, NAME, x)
    return from_data(x, device=None if like is None else like.device)


def _bool_mask(mask: Any, op: str, device: torch.device) -> torch.Tensor:
    """A mask as a bool torch tensor: bool (or 0/1 integer) arrays and lists, or a Tensor
    (its nonzero entries)."""
    if isinstance(mask, Tensor):
        return mask._t.detach() != 0
    if rules.foreign_tensor(mask):
        raise errors.mixing_error(op, NAME, mask)
    return torch.from_numpy(c_array(rules.bool_mask(mask, op), bool)).to(device)


def _binary(op: str, fn: Callable[[Any, Any], torch.Tensor], a: torch.Tensor, b: Any,
            reflected: bool = False) -> Tensor:
    """``fn(a, b)`` (``fn(b, a)`` if reflected); shapes that do not broadcast get the
    protocol's message, looked for only once torch has refused."""
    other = _operand(b, a, op)
    first, second = (other, a) if reflected else (a, other)
    try:
        return wrap(fn(first, second))
    except RuntimeError as err:
        failure = err
    if isinstance(other, torch.Tensor):
        rules.broadcast_shape(op, tuple(first.shape), tuple(second.shape))
    raise failure


def _index_part(part: Any) -> Any:
    """One entry of an index: ndarrays and lists become torch index tensors."""
    if isinstance(part, Tensor):
        values = part._t.detach()
        as_long = values.long()
        if not torch.equal(as_long.to(values.dtype), values):
            raise IndexError("tensor used as an index must hold whole numbers")
        return as_long
    if isinstance(part, list):
        part = np.asarray(part)
        if part.size == 0:
            part = part.astype(np.int64)
    if isinstance(part, np.ndarray):
        if part.dtype.kind == "b":
            return torch.from_numpy(c_array(part, bool))
        if part.dtype.kind not in "iu":
            raise IndexError(f"index arrays must hold integers or bools, got dtype {part.dtype}")
        return torch.from_numpy(c_array(part, np.int64))
    if isinstance(part, np.integer):
        return int(part)
    return part


def _index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_part(p) for p in index)
    return _index_part(index)


def _reduced_count(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> int:
    """How many elements each result of a reduction over ``dims`` combines."""
    if dims is None or not shape:
        return math.prod(shape)
    return math.prod(shape[d] for d in dims)


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


def _torch_unary(name: str, doc: str | None = None) -> Callable[[Tensor], Tensor]:
    """The method ``name`` of the protocol as torch's own method of that name."""

    def method(self: Tensor) -> Tensor:
        return wrap(getattr(self._t, name)())

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc or f"torch's ``{name}``, elementwise."
    return method

class Tensor(TensorMethods):
    """An n-d float tensor computed by PyTorch, with the engine protocol's interface.

    Build one with :func:`tensor`, :func:`zeros`, :func:`ones`, :func:`from_torch` (or
    ``Tensor(data)``); ``to_torch()`` gives the torch tensor behind it.
    """

    __slots__ = ("_t", "__weakref__")
    engine = NAME
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data._t
        self._t = from_data(data, dtype, device).requires_grad_(bool(requires_grad))

    def to_torch(self) -> torch.Tensor:
        """The ``torch.Tensor`` behind this one (no copy; it carries the graph)."""
        return self._t

    # -- data ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._t.shape)

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self._t.dtype)

    @property
    def device(self) -> torch.device:
        return self._t.device

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (on the CPU it shares memory: do not mutate it)."""
        return self._t.detach().cpu().numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.numpy()
        return values if dtype is None else values.astype(dtype)

    def __repr__(self) -> str:
        return repr(self._t).replace("tensor(", "torch_engine.tensor(", 1)

    def _to(self, dtype: np.dtype | None, device: Any) -> Tensor:
        """``to(...)`` once engine_api has sorted its arguments: ``self`` when nothing
        changes, else torch's copy (in the graph) on ``device`` and in ``dtype``."""
        moved = self._t.to(device=None if device is None else check_device(device),
                           dtype=as_torch_dtype(dtype))
        return self if moved is self._t else wrap(moved)

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._t.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._t.requires_grad = bool(value)  # torch refuses on non-leaves (RuntimeError)

    @property
    def grad(self) -> np.ndarray | None:
        """The accumulated gradient as an ndarray of this tensor's shape and dtype, or None."""
        g = self._t.grad
        return None if g is None else g.detach().cpu().numpy()

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._t.grad = None
            return
        values = value._t.detach() if isinstance(value, Tensor) else np.asarray(value)
        if tuple(values.shape) != self.shape:
            raise ValueError(f"grad of shape {tuple(values.shape)} does not match tensor shape "
                             f"{self.shape}")
        self._t.grad = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device).clone()

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

        ``grad`` may be omitted only when ``self`` has one element (then it is 1).
        """
        t = self._t
        if not t.requires_grad:
            raise RuntimeError(errors.NO_GRAD_FN)
        upstream = None
        if grad is not None:
            values = grad._t.detach() if isinstance(grad, Tensor) else np.asarray(grad)
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
        return wrap(-self._t)

    def __pow__(self, exponent: Any) -> Tensor:
        p = rules.exponent(exponent)
        negative = None if p.is_integer() else _first_outside(self._t, lambda x: x < 0)
        if negative is not None:
            raise errors.negative_base_error(negative, p, self.shape)
        return wrap(self._t ** p)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    # -- comparisons (bool ndarrays, no graph) --------------------------------

    def _compare(self, op: str, fn: Callable[[Any, Any], torch.Tensor], other: Any) -> np.ndarray:
        b = _operand(other, self._t, op)
        try:
            return fn(self._t.detach(), b).cpu().numpy()
        except RuntimeError as err:
            failure = err
        if isinstance(b, torch.Tensor):
            rules.broadcast_shape(op, self.shape, tuple(b.shape))
        raise failure

    def __lt__(self, other: Any) -> np.ndarray:
        return self._compare("lt", torch.lt, other)

    def __le__(self, other: Any) -> np.ndarray:
        return self._compare("le", torch.le, other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self._compare("gt", torch.gt, other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self._compare("ge", torch.ge, other)

    __hash__ = object.__hash__

    # -- elementwise ----------------------------------------------------------

    exp = _torch_unary("exp")
    tanh = _torch_unary("tanh")
    relu = _torch_unary("relu")
    sigmoid = _torch_unary("sigmoid")
    abs = _torch_unary("abs", "|x|; its gradient is sign(x), 0 at 0 (torch's).")
    sin = _torch_unary("sin")
    cos = _torch_unary("cos")
    erf = _torch_unary("erf")

    def log(self) -> Tensor:
        _check_domain(self._t, "log", lambda x: x <= 0, "> 0")
        return wrap(self._t.log())

    def sqrt(self) -> Tensor:
        _check_domain(self._t, "sqrt", lambda x: x < 0, ">= 0")
        return wrap(self._t.sqrt())

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch's names)
        """Each value limited to ``[min, max]``; either bound may be None, not both."""
        lo, hi = rules.clamp_bounds(min, max)
        return wrap(self._t.clamp(min=lo, max=hi))

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim`` (torch's kernel)."""
        return wrap(self._t.softmax(rules.normalize_dim(dim, max(self._t.ndim, 1), "softmax")))

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim`` (torch's kernel)."""
        d = rules.normalize_dim(dim, max(self._t.ndim, 1), "log_softmax")
        return wrap(self._t.log_softmax(d))

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None / ``()`` for all)."""
        return self._reduce("sum", dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None / ``()`` for all)."""
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

    def max(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Largest values over ``dim`` (or of everything); values only. The gradient goes to
        the first maximal element."""
        return self._extreme("max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Smallest values over ``dim`` (or of everything); values only. The gradient goes to
        the first minimal element."""
        return self._extreme("min", dim, keepdim)

    def _extreme(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        t = self._t
        if t.numel() == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        if dim is None:  # index the first extreme element: torch's max() splits ties
            flat = t.reshape(-1)
            first = int(flat.argmax() if op == "max" else flat.argmin())
            out = flat[first]
            return wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        d = rules.normalize_dim(dim, max(t.ndim, 1), op)
        return wrap(getattr(t, op)(dim=d, keepdim=keepdim).values)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first maximum (no gradient): an int for dim=None, else an ndarray."""
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first minimum (no gradient): an int for dim=None, else an ndarray."""
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, op: str, dim: Any, keepdim: bool) -> Any:
        t = self._t.detach()
        if t.numel() == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        if dim is None:
            return int(getattr(t, op)())
        d = rules.normalize_dim(dim, max(t.ndim, 1), op)
        return getattr(t, op)(dim=d, keepdim=keepdim).cpu().numpy()

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
        """torch's indexing; index arrays may be ndarrays, lists or Tensors of whole numbers."""
        return wrap(self._t[_index(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``: torch's own in-place write (and its rules)."""
        source = _operand(value, self._t, "__setitem__")
        key = _index(index)
        try:
            self._t[key] = source
        except RuntimeError as error:
            if "shape" not in str(error) and "size" not in str(error):
                raise
            shape = tuple(source.shape) if isinstance(source, torch.Tensor) else ()
            raise ValueError(f"__setitem__: a value of shape {shape} does not broadcast to the "
                             f"indexed shape {tuple(self._t[key].shape)}") from None

    # -- masks ----------------------------------------------------------------

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """Replace the values where ``mask`` is True by ``value`` (the mask broadcasts)."""
        m = _bool_mask(mask, "masked_fill", self._t.device)
        rules.mask_shape(tuple(m.shape), self.shape, "masked_fill")
        fill = value._t.reshape(()) if isinstance(value, Tensor) else float(value)
        return wrap(self._t.masked_fill(m, fill))


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
    column (right) and that dimension removed again; batch dims broadcast; a float32 and a
    float64 operand give float64 (torch would refuse)."""
    like = next((x._t for x in (a, b) if isinstance(x, Tensor)), None)
    A, B = _as_torch(a, "matmul", like), _as_torch(b, "matmul", like)
    if A.dtype != B.dtype:
        common = torch.promote_types(A.dtype, B.dtype)
        A, B = A.to(common), B.to(common)
    try:
        return wrap(torch.matmul(A, B))
    except RuntimeError as err:
        failure = err
    rules.matmul_shape(tuple(A.shape), tuple(B.shape))  # the shapes' message, if that was why
    raise failure


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is True, else ``b``; a and b are tensors or numbers."""
    like = next((x._t for x in (a, b) if isinstance(x, Tensor)), None)
    device = like.device if like is not None else get_device()
    mask = _bool_mask(cond, "where", device)
    operands = [_where_operand(x, like) for x in (a, b)]
    if like is None and not any(isinstance(x, torch.Tensor) for x in operands):
        operands = [torch.tensor(x, dtype=torch.float32, device=device) for x in operands]
    try:
        return wrap(torch.where(mask, operands[0], operands[1]))
    except RuntimeError as err:
        failure = err
    shapes = [tuple(x.shape) if isinstance(x, torch.Tensor) else () for x in operands]
    rules.broadcast_shape("where", tuple(mask.shape), *shapes)
    raise failure


def _where_operand(x: Any, like: torch.Tensor | None) -> torch.Tensor | float:
    if isinstance(x, Tensor):
        return x._t
    if rules.is_number(x):
        return float(x)
    if rules.foreign_tensor(x):
        raise errors.mixing_error("where", NAME, x)
    return from_data(x, device=None if like is None else like.device)


def _tensor_list(tensors: Any, op: str) -> list[torch.Tensor]:
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected torch_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    return [t._t for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    parts = _tensor_list(tensors, "cat")
    _, d = rules.concatenated_shape([tuple(t.shape) for t in parts], dim)
    return wrap(torch.cat(parts, dim=d))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    parts = _tensor_list(tensors, "stack")
    _, d = rules.stacked_shape([tuple(t.shape) for t in parts], dim)
    return wrap(torch.stack(parts, dim=d))


# ---------------------------------------------------------------------------
# constructors


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: Any = None) -> Tensor:
    """A new leaf holding a copy of ``data`` (numbers, nested lists, ndarrays, torch tensors).

    float32 unless ``dtype`` says otherwise or ``data`` is float64; on ``device``, or the
    default device (:func:`set_device`, CPU unless changed).
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros(shape: Any, requires_grad: bool = False, dtype: Any = None,
          device: Any = None) -> Tensor:
    """A leaf of zeros; ``shape`` is an int or a tuple."""
    return _filled(torch.zeros, "zeros", shape, requires_grad, dtype, device)


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None,
         device: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple."""
    return _filled(torch.ones, "ones", shape, requires_grad, dtype, device)


def _filled(make: Callable[..., torch.Tensor], op: str, shape: Any, requires_grad: bool,
            dtype: Any, device: Any) -> Tensor:
    t = make(rules.new_shape(shape, op), dtype=torch_dtype(dtype) or torch.float32,
             device=resolve_device(device))
    return wrap(t.requires_grad_(bool(requires_grad)))
