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

In-place ops, ``.data``, grad mode and the saved-values check are torch's own; they are what
docs/architecture.md's version-2 section describes, so nothing is translated there except
shape errors. ``assign_`` writes under ``no_grad`` and so, like torch, makes a graph that
saved the tensor refuse to backward (the other two engines differentiate the old values).

Node count
----------
:func:`nodes_created` counts the results this module hands out that torch recorded a graph
node for (``grad_fn`` set): one per protocol op, even where torch records several inside
(``cross_entropy`` is log_softmax + nll_loss in torch, one op here).
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ._convert import (
    broadcast_error,
    broadcast_shape,
    c_array,
    check_device,
    from_data,
    get_device,
    is_number,
    norm_dim,
    numpy_dtype,
    reduce_dims,
    reduced_count,
    resolve_device,
    set_device,
    shape_tuple,
    sizes_argument,
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


def _wrap(t: torch.Tensor) -> Tensor:
    """A Tensor around ``t`` (no copy); counts a node when torch recorded one."""
    global _nodes_created
    out = object.__new__(Tensor)
    out._t = t
    if t.grad_fn is not None:
        _nodes_created += 1
    return out


def from_torch(t: torch.Tensor) -> Tensor:
    """Wrap a float32/float64 ``torch.Tensor`` without copying (it stays in its graph)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"from_torch expects a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"from_torch: tensors are float32 or float64, got {t.dtype}")
    return _wrap(t)


# ---------------------------------------------------------------------------
# operands


def _foreign_error(op: str, other: Any) -> TypeError:
    return TypeError(f"{op}: cannot mix torch_engine.Tensor with {type(other).__module__}."
                     f"{type(other).__name__} in one op")


def _operand(other: Any, like: torch.Tensor, op: str = "op") -> torch.Tensor | float:
    """The other side of an op: a torch tensor, or a Python float (numpy scalars included,
    so that they never promote a float32 tensor)."""
    if isinstance(other, Tensor):
        return other._t
    if is_number(other):
        return float(other)
    if isinstance(other, torch.Tensor):
        return other
    if isinstance(other, (np.ndarray, list, tuple)):
        return from_data(other, device=like.device)
    if hasattr(type(other), "engine"):
        raise _foreign_error(op, other)
    raise TypeError(f"{op}: unsupported operand type for a Tensor op: {type(other).__name__}")


def _as_torch(x: Any, op: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor operand of a module-level function (Tensor or array data, the latter put on
    ``like``'s device)."""
    if isinstance(x, Tensor):
        return x._t
    if hasattr(type(x), "engine"):
        raise _foreign_error(op, x)
    return from_data(x, device=None if like is None else like.device)


def _bool_mask(mask: Any, op: str, device: torch.device) -> torch.Tensor:
    """A mask as a bool torch tensor: bool (or 0/1 integer) arrays and lists, or a Tensor
    (its nonzero entries)."""
    if isinstance(mask, Tensor):
        return mask._t.detach() != 0
    if hasattr(type(mask), "engine"):
        raise _foreign_error(op, mask)
    array = np.asarray(mask)
    if array.dtype.kind not in "biu":
        raise TypeError(f"{op}: mask must be a bool array, got dtype {array.dtype}")
    return torch.from_numpy(c_array(array, bool)).to(device)


def _binary(op: str, fn: Callable[[Any, Any], torch.Tensor], a: torch.Tensor, b: Any,
            reflected: bool = False) -> Tensor:
    """``fn(a, b)`` (``fn(b, a)`` if reflected) with shape errors as the protocol's."""
    other = _operand(b, a, op)
    if isinstance(other, torch.Tensor) and broadcast_shape(a.shape, other.shape) is None:
        first, second = (other, a) if reflected else (a, other)
        raise broadcast_error(op, first.shape, second.shape)
    return _wrap(fn(other, a) if reflected else fn(a, other))


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


def _clamp_bounds(lo: Any, hi: Any) -> tuple[float | None, float | None]:
    """clamp's bounds: numbers or None, not both None."""
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    for name, bound in (("min", lo), ("max", hi)):
        if bound is not None and not is_number(bound):
            raise TypeError(f"clamp: {name} must be a number or None, got {type(bound).__name__}")
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def _var_arguments(dim: Any, unbiased: bool | None, correction: Any) -> tuple[Any, float]:
    """var/std's arguments as torch reads them: ``x.var(False)`` passes ``unbiased`` in
    ``dim``'s place; ``correction`` defaults to 1 (Bessel's) and ``unbiased=False`` means 0."""
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError("var: unbiased given twice (as the first argument and by name)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var: give unbiased or correction, not both")
    if correction is None:
        return dim, 1.0 if unbiased is None or unbiased else 0.0
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise TypeError(f"var: correction must be a number, got {type(correction).__name__}")
    return dim, float(correction)


def _to_arguments(args: tuple, dtype: Any, device: Any) -> tuple[Any, Any]:
    """``to(...)``'s positional arguments sorted as torch does: a torch.device, or a string
    numpy cannot read as a dtype ("cpu", "cuda:0"), is a device; anything else a dtype."""
    if len(args) > 2:
        raise TypeError(f"to() takes a dtype and/or a device, got {len(args)} arguments")
    for arg in args:
        if _names_device(arg):
            device = arg
        else:
            dtype = arg
    return dtype, device


def _names_device(arg: Any) -> bool:
    if isinstance(arg, torch.device):
        return True
    if not isinstance(arg, str) or arg.startswith("torch.") or arg in ("float32", "float64"):
        return False
    try:
        np.dtype(arg)
    except TypeError:
        return True
    return False


# ---------------------------------------------------------------------------
# the Tensor


class Tensor:
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
    def ndim(self) -> int:
        return self._t.ndim

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self._t.dtype)

    @property
    def device(self) -> torch.device:
        return self._t.device

    def numel(self) -> int:
        """Number of elements."""
        return self._t.numel()

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dim (as torch)."""
        if dim is None:
            return self.shape
        return self.shape[norm_dim(dim, self.ndim, "size")]

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (on the CPU it shares memory: do not mutate it)."""
        return self._t.detach().cpu().numpy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.numpy()
        return values if dtype is None else values.astype(dtype)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self._t.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self._t.item())

    def tolist(self) -> Any:
        return self._t.tolist()

    def __len__(self) -> int:
        return len(self._t)  # torch: TypeError for a 0-d tensor

    def __iter__(self) -> Iterator[Tensor]:
        if self._t.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._t.shape[0]))

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        return bool(self._t)  # torch: RuntimeError unless exactly one element

    def __repr__(self) -> str:
        return repr(self._t).replace("tensor(", "torch_engine.tensor(", 1)

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._t.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._t.requires_grad = bool(value)  # torch refuses on non-leaves (RuntimeError)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` and return ``self`` (torch's rules for non-leaves)."""
        self._t.requires_grad_(requires_grad)
        return self

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
        return _wrap(self._t.detach())

    def assign_(self, value: Any, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers do). ``copy``
        is accepted for the engine protocol: the values are always copied into the tensor's
        own storage, which views of it share."""
        values = value._t.detach() if isinstance(value, Tensor) else np.asarray(value)
        if tuple(values.shape) != self.shape:
            raise ValueError(f"assign_: value of shape {tuple(values.shape)} does not match "
                             f"tensor shape {self.shape}")
        source = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device)
        with torch.no_grad():
            self._t.copy_(source)
        return self

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires grad (torch's backward).

        ``grad`` may be omitted only when ``self`` has one element (then it is 1).
        """
        upstream = None
        if grad is not None:
            values = grad._t.detach() if isinstance(grad, Tensor) else np.asarray(grad)
            if tuple(values.shape) != self.shape:
                raise ValueError(f"backward: grad of shape {tuple(values.shape)} does not match "
                                 f"tensor shape {self.shape}")
            upstream = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device)
        self._t.backward(upstream, retain_graph=retain_graph)

    # -- in-place ops (torch's rules) -----------------------------------------

    @property
    def data(self) -> Tensor:
        """The same storage outside the graph: in-place ops on it record nothing."""
        return _wrap(self._t.data)

    @data.setter
    def data(self, value: Any) -> None:
        values = value._t.detach() if isinstance(value, Tensor) else np.asarray(value)
        if tuple(values.shape) != self.shape:
            raise ValueError(f"data: new values of shape {tuple(values.shape)} do not match "
                             f"tensor shape {self.shape}")
        source = torch.as_tensor(values, dtype=self._t.dtype, device=self._t.device)
        self._t.data.copy_(source)

    def _inplace(self, op: str, method: str, *args: Any, **kwargs: Any) -> Tensor:
        """Call torch's in-place ``method`` with the protocol's shape check first."""
        for arg in args:
            if isinstance(arg, torch.Tensor):
                result = broadcast_shape(self.shape, tuple(arg.shape))
                if result != self.shape:
                    shown = result if result is not None else tuple(arg.shape)
                    raise ValueError(f"{op}: the result's shape {shown} does not match the "
                                     f"in-place target's shape {self.shape}")
        getattr(self._t, method)(*args, **kwargs)
        return self

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace("add_", "add_", _operand(other, self._t, "add_"), alpha=alpha)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub_", "sub_", _operand(other, self._t, "sub_"), alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace("mul_", "mul_", _operand(other, self._t, "mul_"))

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace("div_", "div_", _operand(other, self._t, "div_"))

    def fill_(self, value: Any) -> Tensor:
        """Every element becomes ``value`` (a number or a one-element tensor)."""
        if isinstance(value, Tensor):
            return self._inplace("fill_", "fill_", value._t.reshape(()))
        return self._inplace("fill_", "fill_", float(value))

    def zero_(self) -> Tensor:
        """Every element becomes 0."""
        return self._inplace("zero_", "zero_")

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast to self's shape) into self; gradient flows to src."""
        source = _operand(src, self._t, "copy_")
        if not isinstance(source, torch.Tensor):
            source = torch.tensor(source, dtype=self._t.dtype, device=self._t.device)
        return self._inplace("copy_", "copy_", source)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch's names)
        """``clamp`` in place."""
        lo, hi = _clamp_bounds(min, max)
        return self._inplace("clamp_", "clamp_", min=lo, max=hi)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # -- arithmetic -----------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _binary("add", operator.add, self._t, other)

    def __radd__(self, other: Any) -> Tensor:
        return _binary("add", operator.add, self._t, other, reflected=True)

    def __sub__(self, other: Any) -> Tensor:
        return _binary("sub", operator.sub, self._t, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _binary("sub", operator.sub, self._t, other, reflected=True)

    def __mul__(self, other: Any) -> Tensor:
        return _binary("mul", operator.mul, self._t, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _binary("mul", operator.mul, self._t, other, reflected=True)

    def __truediv__(self, other: Any) -> Tensor:
        return _binary("div", operator.truediv, self._t, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _binary("div", operator.truediv, self._t, other, reflected=True)

    def __neg__(self) -> Tensor:
        return _wrap(-self._t)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise TypeError(f"Tensor ** exponent needs a Python number exponent, "
                            f"got {type(exponent).__name__}")
        p = float(exponent)
        negative = None if p.is_integer() else _first_outside(self._t, lambda x: x < 0)
        if negative is not None:
            raise ValueError(f"pow: {negative} ** {p}: a negative base needs an integer "
                             f"exponent (tensor of shape {self.shape})")
        return _wrap(self._t ** p)

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent`` (a Python number; a tensor exponent is a TypeError)."""
        return self ** exponent

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with torch's rules (1-D, 2-D, batched)."""
        return matmul(self, other)

    # -- comparisons (bool ndarrays, no graph) --------------------------------

    def _compare(self, op: str, fn: Callable[[Any, Any], torch.Tensor], other: Any) -> np.ndarray:
        b = _operand(other, self._t, op)
        if isinstance(b, torch.Tensor) and broadcast_shape(self.shape, tuple(b.shape)) is None:
            raise broadcast_error(op, self.shape, tuple(b.shape))
        return fn(self._t.detach(), b).cpu().numpy()

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

    def exp(self) -> Tensor:
        return _wrap(self._t.exp())

    def log(self) -> Tensor:
        _check_domain(self._t, "log", lambda x: x <= 0, "log is only defined for values > 0")
        return _wrap(self._t.log())

    def sqrt(self) -> Tensor:
        _check_domain(self._t, "sqrt", lambda x: x < 0, "sqrt is only defined for values >= 0")
        return _wrap(self._t.sqrt())

    def tanh(self) -> Tensor:
        return _wrap(self._t.tanh())

    def relu(self) -> Tensor:
        return _wrap(self._t.relu())

    def sigmoid(self) -> Tensor:
        return _wrap(self._t.sigmoid())

    def abs(self) -> Tensor:
        """|x|; its gradient is sign(x), 0 at 0 (torch's)."""
        return _wrap(self._t.abs())

    def sin(self) -> Tensor:
        return _wrap(self._t.sin())

    def cos(self) -> Tensor:
        return _wrap(self._t.cos())

    def erf(self) -> Tensor:
        return _wrap(self._t.erf())

    def square(self) -> Tensor:
        return _wrap(self._t.square())

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch's names)
        """Each value limited to ``[min, max]``; either bound may be None, not both."""
        lo, hi = _clamp_bounds(min, max)
        return _wrap(self._t.clamp(min=lo, max=hi))

    clip = clamp

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim`` (torch's kernel)."""
        return _wrap(self._t.softmax(norm_dim(dim, max(self.ndim, 1), "softmax")))

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim`` (torch's kernel)."""
        return _wrap(self._t.log_softmax(norm_dim(dim, max(self.ndim, 1), "log_softmax")))

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None / ``()`` for all)."""
        return self._reduce("sum", dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None / ``()`` for all)."""
        return self._reduce("mean", dim, keepdim)

    def _reduce(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        dims = reduce_dims(dim, self.ndim, op)
        if op == "mean" and reduced_count(self.shape, dims) == 0:
            raise ValueError(f"mean over an empty dimension (shape {self.shape}, dim {dim})")
        t = self._t
        if dims is None:
            out = getattr(t, op)()
            return _wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        return _wrap(getattr(t, op)(dim=dims if t.ndim else None, keepdim=keepdim))

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
            return _wrap(out.reshape((1,) * t.ndim) if keepdim else out)
        d = norm_dim(dim, max(t.ndim, 1), op)
        return _wrap(getattr(t, op)(dim=d, keepdim=keepdim).values)

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
        d = norm_dim(dim, max(t.ndim, 1), op)
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
        dim, c = _var_arguments(dim, unbiased, correction)
        dims = reduce_dims(dim, self.ndim, op)
        if self.ndim == 0:
            dims = None
        out = getattr(self._t, op)(dim=dims, correction=c, keepdim=keepdim)
        return _wrap(out)

    # -- shape ----------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape; one entry may be -1."""
        shape = sizes_argument(shape)
        try:
            return _wrap(self._t.reshape(shape))
        except RuntimeError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {self.shape} "
                             f"into shape {shape}") from None

    view = reshape

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        n = max(self.ndim, 1)
        d0, d1 = norm_dim(dim0, n, "transpose"), norm_dim(dim1, n, "transpose")
        return _wrap(self._t.transpose(d0, d1))

    @property
    def T(self) -> Tensor:  # noqa: N802 (the protocol's name)
        """The transpose of a 2-D tensor (dims reversed in general; 0-d and 1-d unchanged)."""
        if self.ndim < 2:
            return self
        return self.permute(*reversed(range(self.ndim)))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions: result dim i is input dim ``dims[i]``."""
        dims = sizes_argument(dims)
        if len(dims) != self.ndim:
            raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor of shape "
                             f"{self.shape}")
        order = tuple(norm_dim(d, self.ndim, "permute") for d in dims)
        if len(set(order)) != len(order):
            raise ValueError(f"permute: dims {dims} repeat a dimension")
        return _wrap(self._t.permute(order))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
        return _wrap(self._t.unsqueeze(norm_dim(dim, self.ndim + 1, "unsqueeze")))

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dimensions (all of them, or those of ``dim`` that have size 1)."""
        dims = reduce_dims(dim, self.ndim, "squeeze")
        if dims is None or self.ndim == 0:
            return _wrap(self._t.squeeze())
        return _wrap(self._t.squeeze(dims))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims ``start_dim..end_dim`` (inclusive) merged into one; 0-d becomes 1-d."""
        n = max(self.ndim, 1)
        start, end = norm_dim(start_dim, n, "flatten"), norm_dim(end_dim, n, "flatten")
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"(shape {self.shape})")
        return _wrap(self._t.flatten(start, end))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast (read-only) view with ``sizes``: size-1 dims stretch, new leading dims
        may be added, -1 keeps a size."""
        sizes = sizes_argument(sizes)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise TypeError(f"expand: sizes must be integers, got {sizes!r}")
        try:
            return _wrap(self._t.expand(*(int(s) for s in sizes)))
        except RuntimeError as err:
            raise ValueError(f"expand: cannot expand shape {self.shape} to sizes "
                             f"{tuple(sizes)}: {err}") from None

    def clone(self) -> Tensor:
        """A copy with its own memory, in the graph (identity gradient)."""
        return _wrap(self._t.clone())

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into chunks of one size (the last may be smaller) or of the listed sizes."""
        d = norm_dim(dim, self.ndim, "split")
        length = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split size must be positive, got {size}")
            return tuple(_wrap(p) for p in self._t.split(size, dim=d))
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != length or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {length}, the size of "
                             f"dim {dim} of shape {self.shape}")
        return tuple(_wrap(p) for p in self._t.split(sizes, dim=d))

    def __getitem__(self, index: Any) -> Tensor:
        """torch's indexing; index arrays may be ndarrays, lists or Tensors of whole numbers."""
        return _wrap(self._t[_index(index)])

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
        if broadcast_shape(tuple(m.shape), self.shape) != self.shape:
            raise ValueError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast "
                             f"to tensor shape {self.shape}")
        fill = value._t.reshape(()) if isinstance(value, Tensor) else float(value)
        return _wrap(self._t.masked_fill(m, fill))

    # -- dtype and device -------------------------------------------------------

    def float(self) -> Tensor:
        """This tensor as float32 (``self`` if it already is)."""
        return self.to(np.float32)

    def double(self) -> Tensor:
        """This tensor as float64 (``self`` if it already is)."""
        return self.to(np.float64)

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
        """torch's ``to(dtype)``, ``to(device)``, ``to(device, dtype)``: ``self`` when nothing
        changes, else a copy in the graph. Only float32 / float64 dtypes exist."""
        dtype, device = _to_arguments(args, dtype, device)
        target = torch_dtype(dtype)
        moved = self._t.to(device=None if device is None else check_device(device),
                           dtype=target)
        return self if moved is self._t else _wrap(moved)


def _first_outside(t: torch.Tensor, outside: Callable[[torch.Tensor], torch.Tensor]
                   ) -> float | None:
    """The first value of ``t`` for which ``outside`` holds, or None (one vectorised test)."""
    with torch.no_grad():
        bad = outside(t)
        if not bool(bad.any()):
            return None
        return float(t[bad].reshape(-1)[0])


def _check_domain(t: torch.Tensor, op: str, outside: Callable[[torch.Tensor], torch.Tensor],
                  rule: str) -> None:
    """ValueError naming the first value of ``t`` outside ``op``'s domain."""
    value = _first_outside(t, outside)
    if value is not None:
        raise ValueError(f"{op}: input contains {value}; {rule}")


# ---------------------------------------------------------------------------
# functions of several tensors


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with torch's rules: 1-D operands are promoted to a row (left) or a
    column (right) and that dimension removed again; batch dims broadcast; a float32 and a
    float64 operand give float64 (torch would refuse)."""
    like = next((x._t for x in (a, b) if isinstance(x, Tensor)), None)
    A, B = _as_torch(a, "matmul", like), _as_torch(b, "matmul", like)
    sa, sb = tuple(A.shape), tuple(B.shape)
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{sa} and {sb}")
    k, k2 = sa[-1], sb[0 if B.ndim == 1 else -2]
    if k != k2:
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned ({k} != {k2})")
    if broadcast_shape(sa[:-2], sb[:-2]) is None:
        raise ValueError(f"matmul: batch dims of shapes {sa} and {sb} cannot be broadcast")
    if A.dtype != B.dtype:
        common = torch.promote_types(A.dtype, B.dtype)
        A, B = A.to(common), B.to(common)
    return _wrap(torch.matmul(A, B))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is True, else ``b``; a and b are tensors or numbers."""
    like = next((x._t for x in (a, b) if isinstance(x, Tensor)), None)
    device = like.device if like is not None else get_device()
    mask = _bool_mask(cond, "where", device)
    operands = [_where_operand(x, like) for x in (a, b)]
    shapes = [tuple(x.shape) if isinstance(x, torch.Tensor) else () for x in operands]
    if broadcast_shape(tuple(mask.shape), *shapes) is None:
        raise ValueError(f"where: shapes {tuple(mask.shape)}, {shapes[0]} and {shapes[1]} "
                         "cannot be broadcast together")
    if like is None and not any(isinstance(x, torch.Tensor) for x in operands):
        operands = [torch.tensor(x, dtype=torch.float32, device=device) for x in operands]
    return _wrap(torch.where(mask, operands[0], operands[1]))


def _where_operand(x: Any, like: torch.Tensor | None) -> torch.Tensor | float:
    if isinstance(x, Tensor):
        return x._t
    if is_number(x):
        return float(x)
    if hasattr(type(x), "engine"):
        raise _foreign_error("where", x)
    return from_data(x, device=None if like is None else like.device)


def _tensor_list(tensors: Any, op: str) -> list[torch.Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected torch_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    return [t._t for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    parts = _tensor_list(tensors, "cat")
    shapes = [tuple(t.shape) for t in parts]
    ndim = len(shapes[0])
    d = norm_dim(dim, ndim, "cat")
    rest = shapes[0][:d] + shapes[0][d + 1:]
    for s in shapes:
        if len(s) != ndim or s[:d] + s[d + 1:] != rest:
            raise ValueError(f"cat: shapes {shapes} must match except in dim {dim}")
    return _wrap(torch.cat(parts, dim=d))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    parts = _tensor_list(tensors, "stack")
    shapes = [tuple(t.shape) for t in parts]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all shapes must be equal, got {shapes}")
    return _wrap(torch.stack(parts, dim=norm_dim(dim, len(shapes[0]) + 1, "stack")))


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
    return _filled(torch.zeros, shape, requires_grad, dtype, device)


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None,
         device: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple."""
    return _filled(torch.ones, shape, requires_grad, dtype, device)


def _filled(make: Callable[..., torch.Tensor], shape: Any, requires_grad: bool, dtype: Any,
            device: Any) -> Tensor:
    t = make(shape_tuple(shape), dtype=torch_dtype(dtype) or torch.float32,
             device=resolve_device(device))
    return _wrap(t.requires_grad_(bool(requires_grad)))

