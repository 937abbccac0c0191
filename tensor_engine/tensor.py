"""The tensor engine's ``Tensor``: one numpy array, one graph node per operation.

How it works
------------
Every operation computes its result with numpy and, when gradients are wanted, records
one node: the result remembers its *parents* (the input tensors) and a *backward rule*,
a small function that takes the gradient of the result (a whole array) and returns
the gradient of each parent. ``backward()`` walks the nodes in reverse topological
order (iteratively, so a 10,000-step unroll is fine) and feeds each rule the sum of
the gradients that reached its node.

Two ideas carry most of the rules:

* **broadcasting is undone by summing**: if ``a`` of shape ``(3, 1)`` was broadcast to
  ``(2, 3, 4)``, its gradient is the upstream gradient summed over the axes that were
  added or stretched (:func:`_unbroadcast`);
* **matmul transposes**: for ``C = A @ B``, ``dA = dC @ Bᵀ`` and ``dB = Aᵀ @ dC``.

dtype rule
----------
Tensors are always floating point: float32 by default, float64 on request
(``dtype=np.float64``) or when built from a float64 ndarray (as ``torch.from_numpy``).
Integer and bool data become float32. Two tensors of different dtypes combine with numpy
promotion (float32 with float64 gives float64). Python numbers and numpy scalars never
change a tensor's dtype: numpy scalars are turned into Python floats first, because
under NumPy 2 (NEP 50) ``float32_array * np.float64(2)`` would be float64, while
``float32_array * 2.0`` stays float32. A gradient always has its tensor's dtype.

Graph rules
-----------
A node is recorded only when grad mode is on (see :class:`no_grad`) and some input
requires grad; otherwise the result is a plain leaf that references nothing. After
``backward()`` the graph is freed (parents and rules dropped) unless
``retain_graph=True``.

Where the time goes
-------------------
Per op the engine adds a few microseconds of Python (forward and backward together) to
numpy's own calls, so small models are bound by that overhead and large ones by numpy's
BLAS. A few choices keep both low: no graph at all under ``no_grad``; gradients are not
computed for inputs that do not require them (``x`` in ``x @ W.T``); a fresh gradient
array is handed to a leaf without a copy; backward pauses Python's cyclic garbage
collector, which the acyclic graph never needs.

Memory layouts matter to the BLAS as much as shapes do: OpenBLAS runs ``x @ W.T`` (a
row-major weight ``W``, so ``W.T`` is column-major) 20-30% slower than the same product
asked as ``(W @ xᵀ)ᵀ``. So every product goes through :func:`_product`, which picks the
faster of the two forms from the operands' layouts (measured per product and layout by
``benchmarks/gemm_layouts.py``); a batch of rows times a matrix is folded into one 2-D
product; parameters keep their (torch) layout through ``assign_``; and a gradient comes
out in its tensor's layout, so an optimizer's update never mixes layouts (which made it
several times slower).
"""

from __future__ import annotations

import gc
import itertools
import math
import numbers
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import ContextDecorator
from typing import Any

import numpy as np

NAME = "tensor"

_nodes_created = 0
_sequence = itertools.count(1)  # creation order of recorded nodes: a topological order

BackwardRule = Callable[[np.ndarray], tuple]


# ---------------------------------------------------------------------------
# grad mode (per thread, as in PyTorch) and node counting


class _GradMode(threading.local):
    """Whether ops record a graph, one flag per thread (new threads start with it on)."""

    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True unless this thread is inside ``no_grad()`` (or turned grad mode off)."""
    return _mode.enabled


class _GradModeSwitch(ContextDecorator):
    """Set this thread's grad mode on entry; on exit, restore the state of *this* entry."""

    _target = True

    def _recreate_cm(self) -> _GradModeSwitch:
        return type(self)()  # a fresh manager per decorated call: calls may nest or race

    def __enter__(self) -> None:
        self._previous = _mode.enabled
        _mode.enabled = self._target

    def __exit__(self, *exc_info: object) -> None:
        _mode.enabled = self._previous


class no_grad(_GradModeSwitch):
    """Context manager (or decorator, with or without parentheses) that records no graph.

    Inside ``with no_grad():`` every op returns a plain leaf and keeps nothing alive for
    backward, which is what evaluation loops and optimizers want. Only this thread stops
    recording: another thread's training loop keeps building its graph.
    """

    _target = False

    def __new__(cls, func: Callable | None = None) -> Any:
        manager = super().__new__(cls)
        return manager if func is None else manager(func)


class enable_grad(no_grad):
    """Turn grad mode back on inside a ``no_grad`` block (context manager or decorator)."""

    _target = True


class set_grad_enabled(_GradModeSwitch):
    """``set_grad_enabled(False)`` switches grad mode now; used with ``with``, the exit
    restores the state from before the call (as ``torch.set_grad_enabled``)."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self._target = bool(mode)
        self._previous = _mode.enabled
        _mode.enabled = self._target

    def _recreate_cm(self) -> set_grad_enabled:
        return type(self)(self._target)

    def __enter__(self) -> None:
        pass  # already switched by __init__


def nodes_created() -> int:
    """How many op nodes this engine has recorded since the last reset."""
    return _nodes_created


def reset_nodes_created() -> None:
    """Set the node counter back to zero."""
    global _nodes_created
    _nodes_created = 0


# ---------------------------------------------------------------------------
# converting user data


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_DTYPE_NAMES = {"float32": _FLOAT_DTYPES[0], "float64": _FLOAT_DTYPES[1],
                "torch.float32": _FLOAT_DTYPES[0], "torch.float64": _FLOAT_DTYPES[1]}


def _float_dtype(dtype: Any) -> np.dtype | None:
    """Validate a ``dtype=`` argument: None, or float32 / float64 given as a numpy dtype or
    type, its name (``"float32"``), or torch's (``torch.float64``). Anything else is a
    TypeError, never a silent default."""
    if dtype is None:
        return None
    if isinstance(dtype, str) or type(dtype).__name__ == "dtype" and "torch" in str(dtype):
        if str(dtype) in _DTYPE_NAMES:
            return _DTYPE_NAMES[str(dtype)]
    elif isinstance(dtype, np.dtype) or dtype in (np.float32, np.float64):
        if np.dtype(dtype) in _FLOAT_DTYPES:
            return np.dtype(dtype)
    raise TypeError(f"dtype must be float32 or float64 (numpy's, torch's or their names), "
                    f"got {dtype!r}")


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A fresh float ndarray from numbers, nested lists, ndarrays or Tensors."""
    dt = _float_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    elif hasattr(data, "engine"):
        raise TypeError(f"cannot build a tensor_engine Tensor from {type(data).__module__}."
                        f"{type(data).__name__}; use .numpy() first")
    keeps_float64 = isinstance(data, np.ndarray) and data.dtype == np.float64
    try:
        array = np.asarray(data)
    except ValueError as err:
        raise ValueError(f"tensor data must be a rectangular nested list of numbers: {err}"
                         ) from None
    except TypeError as err:
        raise TypeError(f"tensor data must be numeric, got {type(data).__name__}: {err}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be numeric, got dtype {array.dtype} "
                        f"from {type(data).__name__}")
    if dt is None:
        dt = _FLOAT_DTYPES[1] if keeps_float64 else _FLOAT_DTYPES[0]
    return np.array(array, dtype=dt)


def _operand(other: Any) -> Tensor | float:
    """Turn the other side of an arithmetic op into a Tensor or a Python float.

    Numpy scalars become Python floats so that they cannot promote a float32 tensor.
    """
    if isinstance(other, Tensor):
        return other
    if type(other) is float:
        return other
    if isinstance(other, numbers.Real):  # int, bool, numpy real scalars
        return float(other)
    if isinstance(other, (np.ndarray, list, tuple)):
        return Tensor(other)
    if hasattr(other, "engine"):
        raise TypeError(f"cannot mix tensor_engine.Tensor with {type(other).__module__}."
                        f"{type(other).__name__} in one op")
    raise TypeError(f"unsupported operand type for a Tensor op: {type(other).__name__}")


def _normalize_dim(dim: Any, ndim: int, op: str) -> int:
    """A dim in ``[0, ndim)``, accepting negative dims; ValueError when out of range."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
                         f"(expected {-ndim} <= dim < {ndim})")
    return int(dim) % ndim


def _normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """None (all dims) or a sorted tuple of distinct non-negative dims."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        dims = tuple(_normalize_dim(d, ndim, op) for d in dim)
        if len(set(dims)) != len(dims):
            raise ValueError(f"{op}: dim {tuple(dim)} names a dimension twice")
        return tuple(sorted(dims))
    return (_normalize_dim(dim, ndim, op),)


def _all_dims_if_empty(dim: Any) -> Any:
    """``dim=()`` (or ``[]``) reduces over every dim, as torch's sum and mean do."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def _zero_dim_unchanged(t: Tensor, dim: Any, op: str) -> Tensor | None:
    """torch lets a 0-d tensor use dim 0 or -1 (as if it had one dim) and leaves it as is.

    Returns that unchanged result (a node passing the gradient through) for a 0-d ``t``
    with a valid ``dim``, None for any other tensor.
    """
    if t._data.ndim != 0 or dim is None:
        return None
    _normalize_dims(dim, 1, op)  # only 0 and -1 are valid
    return _record(t._data.reshape(()), (t,), _identity_rule)


# ---------------------------------------------------------------------------
# graph plumbing


def _record(data: np.ndarray, parents: tuple, backward: BackwardRule) -> Tensor:
    """The result of an op: a node with ``parents`` and ``backward`` if grads are wanted.
    With no parents, ``data`` wrapped as a leaf, without a copy or checks."""
    global _nodes_created
    if type(data) is not np.ndarray:  # numpy returns scalars from 0-d ops
        data = np.asarray(data)
    out = object.__new__(Tensor)
    out._data = data
    out._rg = False
    out._grad = None
    out._parents = ()
    out._backward = None
    out._retains = False
    out._consumed = False
    if _mode.enabled:
        for p in parents:
            if p._rg:
                p._consumed = True  # an in-place op on p would now change history (see _inplace)
                if not out._rg:
                    out._rg = True
                    out._parents = parents
                    out._backward = backward
                    out._seq = next(_sequence)
                    _nodes_created += 1
    return out


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return np.asarray(grad.sum(axis=axes)).reshape(shape)


def _broadcast_error(op: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together")


_SAME_SIZE_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def _zero_where_not_positive(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.where(x <= 0, 0, g)``: relu's backward, exact for inf and NaN in ``g`` (a
    product with a 0/1 mask would turn ``inf * 0`` into NaN) and passing ``g`` where ``x``
    is NaN, as torch does. numpy's ``where`` takes 10 µs on 64 x 256 floats; ANDing the
    bits of ``g`` with a mask of all ones (keep) or all zeros (+0.0) takes 6."""
    int_type = _SAME_SIZE_INT.get(g.dtype)
    if int_type is None or g.shape != x.shape:
        return np.where(x <= 0, 0.0, g)
    keep = np.subtract(np.less_equal(x, 0), 1, dtype=int_type)  # True - 1 = 0, False - 1 = ~0
    return np.bitwise_and(g.view(int_type), keep).view(g.dtype)


def _memory_order(array: np.ndarray) -> str:
    """"F" for an array stored column-major only, else "C" (numpy's ``order=``)."""
    return "F" if array.flags.fnc else "C"


def _can_adopt(value: np.ndarray, current: np.ndarray) -> bool:
    """Whether ``value`` can replace ``current`` as a tensor's memory as it is: it owns its
    memory (no view of someone else's), is writeable, and has ``current``'s dtype and
    layout."""
    in_layout = value.flags.f_contiguous if current.flags.fnc else value.flags.c_contiguous
    return (value.base is None and value.flags.writeable and in_layout
            and value.dtype == current.dtype)


def _memory_owner(array: np.ndarray) -> Any:
    """The object that owns ``array``'s memory (the end of its chain of views)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


# In-place writes and the graphs that saved the memory they overwrite. Backward rules read
# the arrays their op saw; an in-place op under no_grad (or on a constant) writes into such an
# array, which would make a later backward silently wrong. Each write is stamped from the same
# counter as the nodes, per memory owner; backward refuses a node older than a write to the
# memory of one of its tensors (PyTorch's version-counter check).
_last_write = 0
_writes: dict[int, tuple[weakref.ref, int]] = {}


def _array_owner(array: np.ndarray) -> np.ndarray:
    """The ndarray at the end of ``array``'s chain of views."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _note_write(array: np.ndarray) -> None:
    """Stamp an in-place write into ``array``'s memory."""
    global _last_write
    owner = _array_owner(array)
    key = id(owner)
    _last_write = next(_sequence)
    entry = _writes.get(key)
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner, lambda _, key=key: _writes.pop(key, None)), 0)
    _writes[key] = (entry[0], _last_write)


def _check_not_overwritten(node: Tensor) -> None:
    """RuntimeError if memory that ``node``'s backward rule reads was written after it."""
    for t in (node, *node._parents):
        owner = _array_owner(t._data)
        entry = _writes.get(id(owner))
        if entry is not None and entry[1] > node._seq and entry[0]() is owner:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: a tensor of shape {t.shape} was written after the graph "
                "read it. Do the in-place update after backward(), or use an out-of-place op.")


def _freed_backward(grad: np.ndarray) -> tuple:
    raise RuntimeError("Trying to backward through the graph a second time (or to use "
                       "intermediate values after they were freed). Pass retain_graph=True "
                       "to the first backward() if you need to backward twice.")


def _creation_order(node: Tensor) -> int:
    return node._seq


def _nodes_leading_to(root: Tensor) -> list[Tensor]:
    """The recorded (non-leaf) nodes that require grad and lead to ``root``, newest first.

    A node is always created after its inputs, so sorting by creation order, newest
    first, is a topological order for backward: every node comes before its parents.
    The search uses an explicit stack, never recursion.
    """
    nodes, seen, stack = [], {root}, [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node._parents:
            if parent._backward is not None and parent._rg and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    nodes.sort(key=_creation_order, reverse=True)
    return nodes


# ---------------------------------------------------------------------------
# the Tensor


class Tensor:
    """An n-d float array that records the operations applied to it.

    Build one with :func:`tensor`, :func:`zeros` or :func:`ones` (or ``Tensor(data)``).
    ``numpy()`` is the underlying ndarray, ``.data`` the same memory as a tensor outside the
    graph (torch's meaning); ``.grad`` is filled in by ``backward()``.
    """

    __slots__ = ("_data", "_rg", "_grad", "_parents", "_backward", "_retains", "_seq",
                 "_consumed", "__weakref__")
    engine = NAME
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self._rg = bool(requires_grad)
        self._grad = None
        self._parents = ()
        self._backward = None
        self._retains = False
        self._consumed = False

    # -- data ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def numel(self) -> int:
        """Number of elements."""
        return self._data.size

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dim (as torch)."""
        return self.shape if dim is None else self.shape[_normalize_dim(dim, self.ndim, "size")]

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shares memory: do not mutate it)."""
        return self._data

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor outside the graph (torch's ``.data``): an in-place op
        on it (``p.data -= lr * p.grad``) changes ``self``, and no graph records it."""
        return _record(self._data, (), None)

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor) and value._data is self._data:
            return  # `p.data -= x` assigns back the alias it just wrote through
        self.assign_(value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(t)`` gives the values, as for a CPU torch tensor."""
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self._data.reshape(()))

    def tolist(self) -> Any:
        return self._data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Any:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                               f"(shape {self.shape})")
        return bool(self._data.reshape(()))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        extra += ", requires_grad=True" if self._rg else ""
        return f"tensor({body}{extra})"

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._backward is not None:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; "
                               "use detach() to get a leaf")
        self._rg = bool(value)

    @property
    def grad(self) -> np.ndarray | None:
        """The accumulated gradient (an ndarray of this tensor's shape and dtype) or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        value = np.asarray(value._data if isinstance(value, Tensor) else value, dtype=self.dtype)
        if value.shape != self.shape:
            raise ValueError(f"grad of shape {value.shape} does not match tensor shape "
                             f"{self.shape}")
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (parameters, inputs, detached)."""
        return self._backward is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this intermediate tensor during backward (leaves always do)."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        self._retains = True

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's values, outside the graph."""
        return _record(self._data, (), None)

    def assign_(self, value: Any, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers and loaders do).

        The tensor keeps its memory layout whatever the layout of ``value``: a parameter
        made row-major stays row-major when a checkpoint hands it a transposed view (GPT-2's
        Conv1D weights), so the products it takes part in keep the layout they were
        measured fastest in (see ``_product``).

        ``copy=False`` hands ``value`` over: when it is an array that owns its memory, in
        this tensor's dtype and layout, the tensor keeps it instead of copying it, and the
        caller must not write to it again. Optimizers do this with the new values they have
        just computed, which saves a pass over every parameter per step.
        """
        value = value._data if isinstance(value, Tensor) else np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(f"assign_: value of shape {value.shape} does not match "
                             f"tensor shape {self.shape}")
        # A new array rather than a write into the old one: backward rules of a graph
        # recorded before the assignment still read the values they saw.
        if copy or not _can_adopt(value, self._data):
            value = np.array(value, dtype=self._data.dtype, order=_memory_order(self._data))
        self._data = value
        return self

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires grad.

        ``grad`` is the gradient of some final scalar with respect to ``self``; it may be
        omitted only when ``self`` has one element (then it is 1).
        """
        if not self._rg:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn: backward() needs a tensor that requires grad")
        if grad is None:
            if self._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs "
                                   f"(got shape {self.shape})")
            grad = np.ones(self.shape, dtype=self.dtype)
        else:
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad of shape {grad.shape} does not match "
                                 f"tensor shape {self.shape}")
        handed_out = {id(_memory_owner(grad))}  # memory some .grad (or the caller) holds
        if self._backward is None:
            self._accumulate(grad, handed_out)
            return
        # The graph has no reference cycles (a node only refers to older nodes), so
        # reference counting frees it; the cyclic collector, which would otherwise walk the
        # whole graph again and again as the pass allocates, is paused meanwhile.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._backward_pass(grad, retain_graph, handed_out)
        finally:
            if collecting:
                gc.enable()

    def _backward_pass(self, grad: np.ndarray, retain_graph: bool, handed_out: set[int]) -> None:
        grads = {self: grad}  # pending gradient of each node not yet processed
        for node in _nodes_leading_to(self):
            g = grads.pop(node, None)
            if g is None:
                continue
            if _last_write > node._seq:
                _check_not_overwritten(node)
            if node._retains:
                node._accumulate(g, handed_out)
            rule, parents = node._backward, node._parents
            if not retain_graph:
                node._parents, node._backward = (), _freed_backward
            for parent, pg in zip(parents, rule(g), strict=True):
                if pg is None or not parent._rg:
                    continue
                if pg.dtype != parent._data.dtype:
                    pg = pg.astype(parent._data.dtype)
                if parent._backward is None:  # a leaf: nothing to propagate, just add
                    parent._accumulate(pg, handed_out)
                else:
                    previous = grads.get(parent)
                    grads[parent] = pg if previous is None else previous + pg

    def _accumulate(self, g: np.ndarray, handed_out: set[int]) -> None:
        """Add ``g`` into ``.grad``, taking ``g`` itself when nobody else can see its memory.

        Backward rules return fresh arrays or views of the gradient flowing in, never of
        forward values, so ``g`` may be kept without a copy unless its memory is already
        held by another ``.grad`` (or by the caller). The gradient has the tensor's memory
        layout (row-major unless the tensor is stored column-major): an optimizer's update
        ``p - lr * p.grad`` over operands of two layouts runs several times slower.
        """
        if self._grad is not None:
            self._grad = self._grad + g
            return
        column_major = self._data.flags.fnc
        if type(g) is np.ndarray and g.flags.writeable and (
                g.flags.f_contiguous if column_major else g.flags.c_contiguous):
            owner = _memory_owner(g)
            if id(owner) not in handed_out and owner.nbytes == g.nbytes:
                handed_out.add(id(owner))
                self._grad = g
                return
        g = np.array(g, order="F" if column_major else "C")
        handed_out.add(id(g))
        self._grad = g

    # -- in-place ops -----------------------------------------------------------

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op.

        Torch's rules. In grad mode a leaf that requires grad refuses; when the result needs a
        graph (self or the other operand requires grad), self *becomes* the result's node, as
        if the user had written ``x = x + y``. Otherwise the values are written into self's
        memory, so views and ``.data`` aliases see them; a graph that saved that memory
        refuses to backward afterwards (see ``_check_not_overwritten``).
        """
        if self._rg and self._backward is not None and (self._consumed or not _mode.enabled):
            raise RuntimeError(
                f"{op}: an in-place operation on a tensor that a recorded graph already uses "
                f"(shape {self.shape}) would change that graph's history; use the out-of-place "
                "form (x = x + y) or detach() first")
        if self._rg and self._backward is None and _mode.enabled:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation.")
        if self._backward is not None and any(
                np.may_share_memory(self._data, p._data) for p in self._parents):
            raise RuntimeError(_VIEW_INPLACE.format(op=op, shape=self.shape))
        before = self
        if self._backward is not None:  # a recorded node: compute from a copy, then take over
            before = _record(self._data, (), None)
            before._rg, before._parents, before._backward = True, self._parents, self._backward
            before._seq = self._seq
        elif _mode.enabled:  # a constant stand-in: a rebound self must not be its own parent
            before = _record(self._data, (), None)
        result = compute(before)
        if result.shape != self.shape:
            raise ValueError(f"{op}: the result's shape {result.shape} does not match the "
                             f"in-place target's shape {self.shape}")
        if result._rg:
            if result.dtype != self.dtype:
                result = _record(result._data.astype(self.dtype), (result,), _identity_rule)
            self._data, self._parents = result._data, result._parents
            self._backward, self._rg, self._seq = result._backward, True, result._seq
            return self
        if not self._data.flags.writeable:
            raise RuntimeError(f"{op}: this tensor's memory is read-only (an expand() or "
                               "broadcast view shares one element among many); clone() it first")
        np.copyto(self._data, result._data, casting="unsafe")
        _note_write(self._data)
        return self

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace("add_", lambda t: t + (other if alpha == 1 else _scaled(other, alpha)))

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace("sub_", lambda t: t - (other if alpha == 1 else _scaled(other, alpha)))

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace("mul_", lambda t: t * other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace("div_", lambda t: t / other)

    def fill_(self, value: Any) -> Tensor:
        """Every element becomes ``value`` (a number or a one-element tensor)."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("fill_", lambda t: t.masked_fill(every, value))

    def zero_(self) -> Tensor:
        """Every element becomes 0."""
        return self.fill_(0.0)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast to self's shape) into self; gradient flows to src."""
        every = np.ones(self.shape, dtype=bool)
        return self._inplace("copy_", lambda t: t.masked_fill(every, 0.0) + src)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch's names)
        """``clamp`` in place."""
        return self._inplace("clamp_", lambda t: t.clamp(min=min, max=max))

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
        other = _operand(other)
        if type(other) is float:
            return _record(self._data + other, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None
        sa, sb = a.shape, b.shape
        return _record(out, (self, other),
                       lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb)))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        other = _operand(other)
        if type(other) is float:
            return _record(self._data - other, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None
        sa, sb = a.shape, b.shape
        return _record(out, (self, other),
                       lambda g: (_unbroadcast(g, sa), _unbroadcast(-g, sb)))

    def __rsub__(self, other: Any) -> Tensor:
        other = _operand(other)
        if type(other) is float:
            return _record(other - self._data, (self,), lambda g: (-g,))
        return other.__sub__(self)

    def __neg__(self) -> Tensor:
        return _record(-self._data, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Tensor:
        other = _operand(other)
        if type(other) is float:
            return _record(self._data * other, (self,), lambda g: (g * other,))
        a, b = self._data, other._data
        try:
            out = a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = _unbroadcast(g * b, a.shape) if x._rg else None
            gb = _unbroadcast(g * a, b.shape) if y._rg else None
            return ga, gb

        return _record(out, (self, other), backward)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        other = _operand(other)
        if type(other) is float:
            return _record(self._data / other, (self,), lambda g: (g / other,))
        a, b = self._data, other._data
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = _unbroadcast(g / b, a.shape) if x._rg else None
            gb = _unbroadcast(-g * out / b, b.shape) if y._rg else None
            return ga, gb

        return _record(out, (self, other), backward)

    def __rtruediv__(self, other: Any) -> Tensor:
        other = _operand(other)
        if type(other) is not float:
            return other.__truediv__(self)
        x = self._data
        out = other / x
        return _record(out, (self,), lambda g: (-g * out / x,))

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise TypeError(f"Tensor ** exponent needs a Python number exponent, "
                            f"got {type(exponent).__name__}")
        p = float(exponent)
        x = self._data
        negative = None if p.is_integer() else _first_below(x, 0.0, inclusive=False)
        if negative is not None:
            raise ValueError(f"pow: {negative} ** {p}: a negative base needs an "
                             f"integer exponent (tensor of shape {self.shape})")
        if p == 0.0:  # constant 1; the general rule would give 0 * inf at x = 0
            return _record(np.ones_like(x), (self,), lambda g: (np.zeros_like(g),))
        if p == 2.0:
            return _record(x * x, (self,), lambda g: (g * (2.0 * x),))
        return _record(x ** p, (self,), lambda g: (g * (p * x ** (p - 1.0)),))

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with numpy/torch semantics (1-D, 2-D, batched)."""
        return matmul(self, other)

    # -- comparisons (bool ndarrays, no graph) --------------------------------

    def _compare_data(self, other: Any) -> Any:
        other = _operand(other)
        return other if type(other) is float else other._data

    def __lt__(self, other: Any) -> np.ndarray:
        return self._data < self._compare_data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self._data <= self._compare_data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self._data > self._compare_data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self._data >= self._compare_data(other)

    __hash__ = object.__hash__

    # -- elementwise ----------------------------------------------------------

    def exp(self) -> Tensor:
        out = np.exp(self._data)
        return _record(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        x = self._data
        bad = _first_below(x, 0.0, inclusive=True)  # NaN is allowed: it propagates
        if bad is not None:
            raise ValueError(f"log: input contains {bad}; log is only defined for values > 0")
        return _record(np.log(x), (self,), lambda g: (g / x,))

    def sqrt(self) -> Tensor:
        x = self._data
        bad = _first_below(x, 0.0, inclusive=False)  # NaN is allowed: it propagates
        if bad is not None:
            raise ValueError(f"sqrt: input contains {bad}; sqrt is only defined for values >= 0")
        out = np.sqrt(x)
        return _record(out, (self,), lambda g: (g * 0.5 / out,))

    def tanh(self) -> Tensor:
        out = np.tanh(self._data)
        return _record(out, (self,), lambda g: (g * (1.0 - out * out),))

    def relu(self) -> Tensor:
        """max(x, 0); NaN stays NaN and passes its gradient, as torch's relu."""
        x = self._data
        out = np.maximum(x, 0.0)
        return _record(out, (self,), lambda g: (_zero_where_not_positive(g, x),))

    def sigmoid(self) -> Tensor:
        x = self._data
        # exp(-|x|) never overflows; the two branches are the same function.
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1.0, e) / (1.0 + e)
        return _record(out, (self,), lambda g: (g * out * (1.0 - out),))

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None for all)."""
        dim = _all_dims_if_empty(dim)
        same = _zero_dim_unchanged(self, dim, "sum")
        if same is not None:
            return same
        dims = _normalize_dims(dim, self.ndim, "sum")
        shape = self.shape
        out = self._data.sum(axis=dims, keepdims=keepdim)

        def backward(g: np.ndarray) -> tuple:
            return (_spread(g, shape, dims, keepdim),)

        return _record(out, (self,), backward)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None for all)."""
        dim = _all_dims_if_empty(dim)
        same = _zero_dim_unchanged(self, dim, "mean")
        if same is not None:
            return same
        dims = _normalize_dims(dim, self.ndim, "mean")
        shape = self.shape
        count = self._data.size if dims is None else math.prod(shape[d] for d in dims)
        if count == 0:
            raise ValueError(f"mean over an empty dimension (shape {shape}, dim {dim})")
        out = np.add.reduce(self._data, axis=dims, keepdims=keepdim)  # ndarray.mean's numbers,
        if type(out) is np.ndarray:  # without its Python-level wrapper
            out /= count
        else:
            out = out.dtype.type(out / count)

        def backward(g: np.ndarray) -> tuple:
            return (_spread(g / count, shape, dims, keepdim),)

        return _record(out, (self,), backward)

    def max(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Largest values over ``dim`` (or of everything); the gradient goes to the first
        maximal element, as PyTorch's CPU ``max(dim)``. NaN wins (torch propagates it)."""
        return self._extreme(dim, keepdim, "max")

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first maximum (no gradient): an int for dim=None, else an ndarray."""
        return self._arg_extreme(dim, keepdim, "argmax")

    # -- shape ----------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape; one entry may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out = self._data.reshape(shape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: cannot reshape a tensor of shape {self.shape} "
                             f"into shape {shape}") from None
        in_shape = self.shape
        return _record(out, (self,), lambda g: (g.reshape(in_shape),))

    view = reshape

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        if self.ndim == 0:
            _normalize_dim(dim1, 1, "transpose")
            return _zero_dim_unchanged(self, dim0, "transpose")
        d0 = _normalize_dim(dim0, self.ndim, "transpose")
        d1 = _normalize_dim(dim1, self.ndim, "transpose")
        return _record(self._data.swapaxes(d0, d1), (self,), lambda g: (g.swapaxes(d0, d1),))

    @property
    def T(self) -> Tensor:
        """The transpose of a 2-D tensor (dims reversed in general)."""
        if self.ndim < 2:
            return self
        if self.ndim == 2:
            return _record(self._data.T, (self,), _transpose_rule)
        return self.permute(*reversed(range(self.ndim)))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions: result dim i is input dim ``dims[i]``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != self.ndim:
            raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor of shape "
                             f"{self.shape}")
        if {type(d) for d in dims} <= {int} and sorted(dims) == list(range(len(dims))):
            order = dims  # the usual call, already in normal form
        else:
            order = tuple(_normalize_dim(d, self.ndim, "permute") for d in dims)
        if len(set(order)) != len(order):
            raise ValueError(f"permute: dims {dims} repeat a dimension")
        inverse = tuple(order.index(d) for d in range(len(order)))
        return _record(self._data.transpose(order), (self,), lambda g: (g.transpose(inverse),))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
        d = _normalize_dim(dim, self.ndim + 1, "unsqueeze")
        in_shape = self.shape
        return _record(np.expand_dims(self._data, d), (self,), lambda g: (g.reshape(in_shape),))

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dimensions (all of them, or only ``dim`` if it has size 1)."""
        same = _zero_dim_unchanged(self, dim, "squeeze")
        if same is not None:
            return same
        dims = _normalize_dims(dim, self.ndim, "squeeze")
        if dims is None:
            dims = tuple(i for i, n in enumerate(self.shape) if n == 1)
        dims = tuple(d for d in dims if self.shape[d] == 1)
        in_shape = self.shape
        return _record(self._data.squeeze(dims), (self,), lambda g: (g.reshape(in_shape),))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into chunks of one size (the last may be smaller) or of the listed sizes."""
        d = _normalize_dim(dim, self.ndim, "split")
        length = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split size must be positive, got {size}")
            sizes = [size] * (length // size) + ([length % size] if length % size else [])
            sizes = sizes or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != length or any(s < 0 for s in sizes):
                raise ValueError(f"split: sizes {sizes} do not add up to {length}, the size of "
                                 f"dim {dim} of shape {self.shape}")
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * d + (slice(start, start + size),)
            pieces.append(self[index])
            start += size
        return tuple(pieces)

    def __getitem__(self, index: Any) -> Tensor:
        """Basic indexing (ints, slices, None, ...) gives a view; integer arrays gather.

        Ints are applied before any index array, as torch does: ``x[i, :, ids]`` has shape
        ``(n, len(ids))``, where numpy would count ``i`` as an index array too and give
        ``(len(ids), n)``.
        """
        basic, gather = _split_index(index)
        x = self._data
        out = x[basic] if gather is None else x[basic][gather]
        if type(out) is not np.ndarray:  # every dim indexed by an int: numpy copies a scalar out
            out = x[(*basic, Ellipsis) if isinstance(basic, tuple) else (basic, Ellipsis)]

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(x.shape, dtype=x.dtype)
            if gather is None:
                grad[basic] = g
            else:  # grad[basic] is a view: scatter-add into it (repeated indices add up)
                np.add.at(grad[basic], gather, g)
            return (grad,)

        return _record(out, (self,), backward)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, torch's in-place write: the rules of every in-place op (a
        leaf that requires grad refuses in grad mode; a recorded tensor takes the result's
        place in the graph, the gradient reaching ``value`` and the untouched elements).
        ``value`` (a number or a tensor) broadcasts to the indexed region's shape.

        Without a graph to record, only the region is written, in place: a cache buffer
        written one row at a time costs one row, not a copy of the buffer."""
        v = _operand(value)
        if not self._rg and (type(v) is float or not (v._rg and _mode.enabled)):
            if not self._data.flags.writeable:
                raise RuntimeError("__setitem__: this tensor's memory is read-only (an expand() "
                                   "or broadcast view shares one element among many); clone() "
                                   "it first")
            _put(self._data, index, v if type(v) is float else v._data)
            _note_write(self._data)
            return
        self._inplace("__setitem__", lambda t: t._index_put(index, v))

    def _index_put(self, index: Any, v: Tensor | float) -> Tensor:
        """A copy of self with ``value`` written at ``index`` (the node ``__setitem__``
        records)."""
        out = self._data.copy()
        region = _put(out, index, v if type(v) is float else v._data)

        def backward(g: np.ndarray) -> tuple:
            grad = g.copy()
            _put(grad, index, 0.0)
            if type(v) is float:
                return (grad,)
            return grad, (_unbroadcast(region(g), v.shape) if v._rg else None)

        return _record(out, (self,) if type(v) is float else (self, v), backward)

    # -- version 2 methods (torch names) -----------------------------------

    # elementwise

    def abs(self) -> Tensor:
        """|x|; its gradient is sign(x), 0 at 0 (torch's choice) and at NaN."""
        x = self._data
        return _record(np.abs(x), (self,), lambda g: (g * _sign(x),))

    def sin(self) -> Tensor:
        x = self._data
        return _record(np.sin(x), (self,), lambda g: (g * np.cos(x),))

    def cos(self) -> Tensor:
        x = self._data
        return _record(np.cos(x), (self,), lambda g: (-g * np.sin(x),))

    def erf(self) -> Tensor:
        """The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)."""
        x = self._data
        return _record(_erf(x), (self,), lambda g: (g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)),))

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Each value limited to ``[min, max]``; either bound may be None, not both.

        The gradient passes where ``min <= x <= max`` (bounds included) and is 0 elsewhere.
        NaN stays NaN (gradient 0), and with ``min > max`` every value becomes ``max``, as in
        torch (numpy's ``maximum``/``minimum`` propagate NaN as torch's do).
        """
        lo, hi = _clamp_bounds(min, max)
        x = self._data
        out = np.minimum(np.maximum(x, lo), hi)
        return _record(out, (self,), lambda g: (np.where((x >= lo) & (x <= hi), g, 0.0),))

    clip = clamp

    def pow(self, exponent: float) -> Tensor:
        """``self ** exponent`` (a Python number; a tensor exponent is a TypeError)."""
        return self**exponent

    def square(self) -> Tensor:
        return self**2

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``: the fused op, one node."""
        from . import fused  # imported here: fused.py imports this module

        return fused.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim``: the fused op, one node."""
        from . import fused

        return fused.log_softmax(self, dim)

    # reductions

    def min(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Smallest values over ``dim`` (or of everything); the gradient goes to the first
        minimal element, as PyTorch's CPU ``min(dim)``. NaN wins (torch propagates it)."""
        return self._extreme(dim, keepdim, "min")

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Index of the first minimum (no gradient): an int for dim=None, else an ndarray."""
        return self._arg_extreme(dim, keepdim, "argmin")

    def _extreme(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        """``max``/``min``: numpy's ``argmax``/``argmin`` pick the element, and their rules are
        torch's: the first extreme element, or the first NaN if there is one."""
        x, shape = self._data, self.shape
        if x.size == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {shape}")
        find = np.argmax if op == "max" else np.argmin
        if dim is None:
            flat_index = int(find(x))
            out = x.reshape(-1)[flat_index]
            out = out.reshape((1,) * x.ndim) if keepdim else out

            def backward_all(g: np.ndarray) -> tuple:
                grad = np.zeros(x.size, dtype=x.dtype)
                grad[flat_index] = g.reshape(())
                return (grad.reshape(shape),)

            return _record(out, (self,), backward_all)
        same = _zero_dim_unchanged(self, dim, op)
        if same is not None:
            return same
        d = _normalize_dim(dim, self.ndim, op)
        index = np.expand_dims(find(x, axis=d), d)
        out = np.take_along_axis(x, index, axis=d)

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(shape, dtype=x.dtype)
            np.put_along_axis(grad, index, g if keepdim else np.expand_dims(g, d), axis=d)
            return (grad,)

        return _record(out if keepdim else out.squeeze(d), (self,), backward)

    def _arg_extreme(self, dim: Any, keepdim: bool, op: str) -> Any:
        if self._data.size == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")
        find = np.argmax if op == "argmax" else np.argmin
        if dim is None:
            return int(find(self._data))
        if self.ndim == 0:
            _normalize_dim(dim, 1, op)
            return 0
        axis = _normalize_dim(dim, self.ndim, op)
        return find(self._data, axis=axis, keepdims=keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Variance over ``dim`` (an int, a tuple, or None for all), as torch; one node.

        The sum of squared deviations from the mean, divided by ``n - correction``.
        ``correction`` defaults to 1 (Bessel's correction); ``unbiased=False`` means 0, and
        ``x.var(False)`` is torch's ``var(unbiased)`` form. When ``n - correction <= 0`` the
        result is inf or NaN, as in torch. Backward: ``dx = g * 2 (x - mean) / divisor``
        (the mean's own gradient sums to zero).
        """
        dims, divisor, centred = _deviations(self, dim, unbiased, correction, "var")
        out = (centred * centred).sum(axis=dims, keepdims=keepdim) / divisor
        shape = self.shape
        return _record(out, (self,), lambda g: (
            _var_grad(g, centred, divisor, shape, dims, keepdim),))

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments; one node.

        Where it is 0 (a constant slice) its gradient is 0, as in torch, rather than the
        ``inf * 0`` of the chain rule through ``sqrt``.
        """
        dims, divisor, centred = _deviations(self, dim, unbiased, correction, "std")
        out = np.sqrt((centred * centred).sum(axis=dims, keepdims=keepdim) / divisor)
        shape = self.shape

        def backward(g: np.ndarray) -> tuple:
            zero = out == 0
            g_var = np.where(zero, 0.0, g) / np.where(zero, 2.0, 2.0 * out)  # d sqrt(v) / dv
            return (_var_grad(g_var, centred, divisor, shape, dims, keepdim),)

        return _record(out, (self,), backward)

    # shape and copies

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims ``start_dim..end_dim`` (inclusive) merged into one; a 0-d tensor becomes 1-d."""
        return self.reshape(_flattened_shape(self.shape, start_dim, end_dim))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast view of ``self`` with ``sizes``, torch's rules: size-1 dims stretch, new
        leading dims may be added, -1 keeps a size. The gradient sums back over them. Like
        torch's, the view is not writable: its elements share memory."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        target = _expanded_shape(self.shape, sizes)
        shape = self.shape
        return _record(np.broadcast_to(self._data, target), (self,),
                       lambda g: (_unbroadcast(g, shape),))

    def clone(self) -> Tensor:
        """A copy with its own array, recorded as a node with the identity gradient."""
        return _record(self._data.copy(), (self,), _identity_rule)

    # dtype, device and autograd flags

    def float(self) -> Tensor:
        """This tensor as float32 (``self`` if it already is)."""
        return self.to(np.float32)

    def double(self) -> Tensor:
        """This tensor as float64 (``self`` if it already is)."""
        return self.to(np.float64)

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
        """torch's ``to(dtype)``, ``to("cpu")``, ``to("cpu", dtype)``.

        ``self`` when nothing changes (as torch); otherwise a cast, recorded as a node whose
        gradient is cast back to this tensor's dtype. Only float32 and float64 exist, and
        only the CPU: anything else is a ``TypeError``.
        """
        target = _float_dtype(_to_dtype(args, dtype, device))
        if target is None or target == self.dtype:
            return self
        source = self.dtype
        return _record(self._data.astype(target), (self,), lambda g: (g.astype(source),))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` and return ``self``. Only leaves can change it: on a non-leaf
        (which requires grad) ``True`` changes nothing and ``False`` is a RuntimeError, as in
        torch."""
        if self.is_leaf or not requires_grad:
            self.requires_grad = requires_grad
        return self

    # -- masks ----------------------------------------------------------------

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """Replace the values where ``mask`` is True by ``value`` (mask broadcasts)."""
        mask = _bool_array(mask, "masked_fill")
        try:
            ok = np.broadcast_shapes(mask.shape, self.shape) == self.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to "
                             f"tensor shape {self.shape}")
        value = value.item() if isinstance(value, Tensor) else float(value)
        return _record(_filled(self._data, mask, value), (self,),
                       lambda g: (_filled(g, mask, 0.0),))


# ---------------------------------------------------------------------------
# version 2 helpers (torch names)


def _filled(x: np.ndarray, mask: np.ndarray, value: float) -> np.ndarray:
    """``np.where(mask, value, x)`` (``mask`` broadcasts to ``x``; the dtype is ``x``'s) as a
    copy written through the mask: half the time of ``np.where`` with a broadcast mask."""
    out = np.array(x, copy=True)
    np.copyto(out, value, where=mask)
    return out


def _sign(x: np.ndarray) -> np.ndarray:
    """-1, 0 or 1 in ``x``'s dtype, and 0 at NaN (``np.sign`` gives NaN there; torch 0)."""
    return (x > 0).astype(x.dtype) - (x < 0)


_erf_objects = np.frompyfunc(math.erf, 1, 1)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise: numpy has none, so ``math.erf`` per element (in float64, then cast)."""
    return np.asarray(_erf_objects(x), dtype=x.dtype)


def _clamp_bounds(lo: Any, hi: Any) -> tuple[float, float]:
    """``clamp``'s bounds as floats, a missing one as the infinity that changes nothing."""
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    for name, bound in (("min", lo), ("max", hi)):
        if bound is not None and not isinstance(bound, numbers.Real):
            raise TypeError(f"clamp: {name} must be a number or None, got {type(bound).__name__}")
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def _first_below(x: np.ndarray, bound: float, inclusive: bool) -> float | None:
    """The first entry of ``x`` below ``bound`` (or equal to it if ``inclusive``), or None.

    NaN entries are not reported (NaN is in every domain: it propagates), but they must not
    hide the others either: ``x.min()`` is NaN as soon as ``x`` holds one, so the full
    elementwise comparison runs whenever the one-pass ``min`` cannot vouch for ``x``.
    """
    if x.size == 0:
        return None
    low = x.min()
    if low > bound or (low == bound and not inclusive):
        return None
    bad = (x <= bound) if inclusive else (x < bound)
    return float(x[bad].flat[0]) if bad.any() else None


def _var_arguments(dim: Any, unbiased: bool | None, correction: Any) -> tuple[Any, float]:
    """``var``/``std``'s arguments as torch reads them: (dim, correction).

    ``x.var(False)`` passes ``unbiased`` in ``dim``'s place; ``dim=()`` means all dims.
    """
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError("var: unbiased given twice (as the first argument and by name)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var: give unbiased or correction, not both")
    if correction is None:
        correction = 1.0 if unbiased is None or unbiased else 0.0
    elif isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise TypeError(f"var: correction must be a number, got {type(correction).__name__}")
    if isinstance(dim, (tuple, list)) and not dim:
        dim = None
    return dim, float(correction)


def _deviations(t: Tensor, dim: Any, unbiased: bool | None, correction: Any,
                op: str) -> tuple[tuple[int, ...] | None, float, np.ndarray]:
    """What var and std share: the reduced dims, the divisor ``max(0, n - correction)`` and
    ``x - mean`` (the mean taken over those dims)."""
    dim, c = _var_arguments(dim, unbiased, correction)
    x = t._data
    if x.ndim == 0:  # torch lets a 0-d tensor name dim 0 or -1
        if dim is not None:
            _normalize_dims(dim, 1, op)
        dims = None
    else:
        dims = _normalize_dims(dim, x.ndim, op)
    n = x.size if dims is None else math.prod(x.shape[d] for d in dims)
    centred = x - x.mean(axis=dims, keepdims=True)
    return dims, max(0.0, n - c), centred


def _var_grad(g: np.ndarray, centred: np.ndarray, divisor: float, shape: tuple,
              dims: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    """d var / dx = g * 2 (x - mean) / divisor (inf * 0 = NaN when the divisor is 0)."""
    scale = 2.0 / divisor if divisor else math.inf
    return _spread(g, shape, dims, keepdim) * centred * scale


def _flattened_shape(shape: tuple[int, ...], start_dim: int, end_dim: int) -> tuple[int, ...]:
    """``shape`` with dims ``start_dim..end_dim`` merged (a 0-d shape counts as ``(1,)``)."""
    ndim = max(len(shape), 1)
    start = _normalize_dim(start_dim, ndim, "flatten")
    end = _normalize_dim(end_dim, ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(shape {shape})")
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


def _expanded_shape(shape: tuple[int, ...], sizes: tuple) -> tuple[int, ...]:
    """The shape ``expand(*sizes)`` gives, by torch's rules, else a ValueError.

    ``sizes`` ends with one entry per dim of ``shape``: -1 keeps the size, a size-1 dim takes
    any size, any other dim must keep its size. Extra leading entries add new dims (-1 is
    not allowed there: there is no size to keep).
    """
    if not all(_is_int(s) for s in sizes):
        raise TypeError(f"expand: sizes must be integers, got {sizes!r}")
    sizes = tuple(int(s) for s in sizes)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: sizes {sizes} have fewer dims than the shape {shape}")
    out = []
    for i, size in enumerate(sizes):
        old = shape[i - lead] if i >= lead else None
        if size == -1 and old is not None:
            size = old
        if size < 0:
            raise ValueError(f"expand: invalid size {size} at dim {i} of sizes {sizes}")
        if old is not None and old != 1 and size != old:
            raise ValueError(f"expand: size {size} at dim {i} of sizes {sizes} must match the "
                             f"existing size {old} of shape {shape} (only size-1 dims expand)")
        out.append(size)
    return tuple(out)


_CPU = ("cpu", "cpu:0")


def _to_dtype(args: tuple, dtype: Any, device: Any) -> Any:
    """The dtype a ``to(...)`` call asks for (None: keep it), after checking its device.

    Positional arguments are sorted as torch does: a ``torch.device``, or a string numpy
    cannot read as a dtype (``"cpu"``), is a device; anything else is a dtype.
    """
    if len(args) > 2:
        raise TypeError(f"to() takes a dtype and/or a device, got {len(args)} arguments")
    for arg in args:
        if _names_device(arg):
            device = arg
        else:
            dtype = arg
    if device is not None and str(device) not in _CPU:
        raise TypeError(f"to(): {device!r} is neither a float dtype nor the device 'cpu'")
    return dtype


def _names_device(arg: Any) -> bool:
    if type(arg).__name__ == "device":  # torch.device
        return True
    if not isinstance(arg, str):
        return False
    try:
        np.dtype(arg)
    except TypeError:
        return True
    return False


def _spread(g: np.ndarray, shape: tuple, dims: tuple | None, keepdim: bool) -> np.ndarray:
    """Copy a reduction's gradient back over the reduced axes (the backward of sum)."""
    if not keepdim and dims is not None:
        g = g.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


_VIEW_INPLACE = (
    "{op}: an in-place operation on a view (shape {shape}) of a tensor that requires grad is "
    "not supported: torch would rewrite the base tensor's history too. Use the out-of-place "
    "form, or clone() the view first")


def _scaled(other: Any, alpha: float) -> Any:
    """``alpha * other`` for add_/sub_'s ``alpha=`` (other: a tensor, array or number)."""
    other = _operand(other)
    return other * float(alpha)


def _identity_rule(g: np.ndarray) -> tuple:
    return (g,)


def _transpose_rule(g: np.ndarray) -> tuple:
    return (g.T,)


def _bool_array(mask: Any, op: str) -> np.ndarray:
    """A mask as a bool ndarray: bool (or 0/1 integer) arrays and lists, or a Tensor (!= 0)."""
    if isinstance(mask, Tensor):
        return mask._data != 0
    if hasattr(mask, "engine"):
        raise TypeError(f"{op}: cannot mix tensor_engine.Tensor with {type(mask).__module__}."
                        f"{type(mask).__name__} in one op")
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"{op}: mask must be a bool array, got dtype {mask.dtype}")
    return mask.astype(bool, copy=False)


def _index_part(part: Any) -> Any:
    if isinstance(part, Tensor):
        values = part._data
        as_int = values.astype(np.int64)
        if not np.array_equal(as_int, values):
            raise IndexError("tensor used as an index must hold whole numbers")
        return as_int
    if isinstance(part, list):
        return np.asarray(part)
    return part


def _normalize_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_part(p) for p in index)
    return _index_part(index)


_BASIC_PARTS = frozenset({int, slice, type(None), type(Ellipsis)})


def _split_index(index: Any) -> tuple[Any, Any]:
    """``(basic, gather)`` with ``x[index] == x[basic][gather]`` in torch's order.

    ``basic`` holds the ints, slices, None and ``...`` (a view of ``x``); ``gather`` the
    index arrays (lists and tensors converted), at the positions of the dims ``basic``
    kept, or None without arrays.
    """
    parts = index if type(index) is tuple else (index,)
    if _BASIC_PARTS.issuperset(map(type, parts)):  # the usual view: nothing to convert
        return index, None
    index = _normalize_index(index)
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, np.ndarray) for p in parts):
        return index, None
    basic = tuple(slice(None) if isinstance(p, np.ndarray) else p for p in parts)
    gather = tuple(p if isinstance(p, np.ndarray) or p is Ellipsis else slice(None)
                   for p in parts if not _is_int(p))
    return basic, gather


def _put(array: np.ndarray, index: Any, value: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Write ``value`` into ``array[index]`` (torch's index order, see ``_split_index``);
    returns the function that reads the same region of an array of ``array``'s shape."""
    basic, gather = _split_index(index)
    basic = basic if isinstance(basic, tuple) else (basic,)
    if not any(part is Ellipsis for part in basic):
        basic = (*basic, Ellipsis)  # keeps the region a view when ints index every dim

    def region(a: np.ndarray) -> np.ndarray:
        return a[basic] if gather is None else a[basic][gather]

    target = array[basic]  # a view: basic indexing
    try:
        if gather is None:
            target[...] = value
        else:
            target[gather] = value
    except ValueError:
        raise ValueError(f"__setitem__: a value of shape {np.shape(value)} does not broadcast "
                         f"to the indexed shape {region(array).shape}") from None
    return region


def _is_int(part: Any) -> bool:
    return isinstance(part, (int, np.integer)) and not isinstance(part, bool)


# ---------------------------------------------------------------------------
# functions of several tensors


def _as_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "engine"):
        raise TypeError(f"cannot mix tensor_engine.Tensor with {type(x).__module__}."
                        f"{type(x).__name__} in one op")
    return Tensor(x)


_mm = np.matmul
"""``a @ b``: every matrix product the engine computes is asked of numpy through this name
(a ufunc, so the indirection costs nothing), which lets a benchmark swap in a recorder and
trace the products, shapes and memory layouts a workload runs."""


def _columns_contiguous(x: np.ndarray) -> bool:
    """True when the matrices of ``x`` (its last two dims) are stored column by column, as a
    transposed view such as ``W.T`` is: unit stride down a column, not along a row."""
    shape, strides, step = x.shape, x.strides, x.itemsize
    return strides[-2] == step and strides[-1] != step and shape[-2] > 1 and shape[-1] > 1


def _swap(x: np.ndarray) -> np.ndarray:
    return x.T if x.ndim == 2 else x.swapaxes(-1, -2)


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for operands of 2 or more dims, asked of numpy in the faster of its two
    forms: ``a @ b``, or ``(bᵀ @ aᵀ)ᵀ``, whose result is column-major (Fortran-ordered).

    Which form runs faster depends on the operands' memory layouts, and the rule here is
    measured (``benchmarks/gemm_layouts.py``): numpy's BLAS runs a product fastest when its
    right operand's rows are contiguous, and slowest when a right operand stored column by
    column is also the wide one. So when ``b`` is column-major (``W.T`` of a row-major
    weight ``W``), ``bᵀ`` (``W`` itself) goes on the left, which makes the right operand
    ``aᵀ``: row-major if ``a`` is column-major, and otherwise column-major but the narrow
    side. For ``x @ W.T`` with 64 rows of ``x`` this runs at 165-210 GFLOP/s instead of
    125-150 on OpenBLAS (the form kept its speed across repeated measurements, where other
    layouts varied by 20%), and a one-row ``x`` (decoding) streams ``W`` row by row.
    """
    if b.size < _SMALL:  # layouts hardly matter; the checks would cost more than they save
        return _mm(a, b)
    if _columns_contiguous(b) and (_columns_contiguous(a) or a.shape[-2] <= b.shape[-1]):
        if a.ndim == 2 == b.ndim:
            return _mm(b.T, a.T).T
        return _swap(_mm(_swap(b), _swap(a)))
    return _mm(a, b)


_SMALL = 1 << 14
"""Below this many elements in a product's right operand, the engine asks numpy for the
product as written (a small matrix's product costs microseconds in any layout)."""


def _matmul_error(A: np.ndarray, B: np.ndarray) -> ValueError:
    k, k2 = A.shape[-1], B.shape[0 if B.ndim == 1 else -2]
    if k != k2:
        return ValueError(f"matmul: shapes {A.shape} and {B.shape} are not aligned "
                          f"({k} != {k2})")
    return ValueError(f"matmul: batch dims of shapes {A.shape} and {B.shape} cannot be "
                      "broadcast")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with torch's rules: 1-D operands are promoted to a row (left) or a
    column (right) and that dimension is removed again; batch dims broadcast.

    A batch of rows times one matrix (``x @ W.T`` with ``x`` of shape (B, T, k)) is computed
    as one 2-D product of B*T rows, which BLAS runs faster than B separate ones.
    """
    a, b = _as_tensor(a), _as_tensor(b)
    A, B = a._data, b._data
    dims = A.ndim, B.ndim
    if dims == (2, 2) and A.shape[1] == B.shape[0]:
        return _record(_product(A, B), (a, b), lambda g: (
            _product_laid_out_like(A, g, B.T) if a._rg else None,
            _product_laid_out_like(B, A.T, g) if b._rg else None))
    if 0 in dims:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{A.shape} and {B.shape}")
    if dims[1] == 2 and dims[0] > 2 and A.shape[-1] == B.shape[0]:
        return _rows_times_matrix(a, b)
    try:
        out = _product(A, B) if min(dims) > 1 else _mm(A, B)
    except ValueError:
        raise _matmul_error(A, B) from None
    return _record(out, (a, b), lambda g: _matmul_backward(g, a, b))


def _rows_times_matrix(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for ``a`` of shape (..., k) and a matrix ``b`` (k, n): the leading dims of
    ``a`` are folded into the rows of one 2-D product (a view when ``a``'s memory allows)."""
    A, B = a._data, b._data
    lead, (k, n) = A.shape[:-1], B.shape
    rows = math.prod(lead)  # not reshape(-1, k): k may be 0
    A2 = A.reshape(rows, k)
    out = _product(A2, B).reshape(*lead, n)

    def backward(g: np.ndarray) -> tuple:
        g2 = g.reshape(rows, n)
        return (_product_laid_out_like(A2, g2, B.T).reshape(A.shape) if a._rg else None,
                _product_laid_out_like(B, A2.T, g2) if b._rg else None)

    return _record(out, (a, b), backward)


def _product_laid_out_like(operand: np.ndarray, left: np.ndarray,
                           right: np.ndarray) -> np.ndarray:
    """``left @ right``, in the memory layout of ``operand`` (whose gradient it is).

    The weight of ``x @ W.T`` enters as a transposed (Fortran-ordered) view; computing its
    gradient as ``(rightᵀ @ leftᵀ)ᵀ`` hands back the transpose of a C-ordered array, which
    the ``.T`` node turns into a C-ordered gradient for ``W`` with no copy at all. A
    gradient in its tensor's layout also keeps the backward pass's elementwise ops on
    operands of one layout (mixed layouts make numpy's loops several times slower).
    """
    if operand.flags.fnc:
        return _mm(right.T, left.T).T
    return _mm(left, right)


def _matmul_backward(g: np.ndarray, a: Tensor, b: Tensor) -> tuple:
    """dA = dC @ Bᵀ, dB = Aᵀ @ dC for 1-D and batched operands."""
    A, B = a._data, b._data
    A2 = A[None, :] if A.ndim == 1 else A  # 1-D left operand: a row
    B2 = B[:, None] if B.ndim == 1 else B  # 1-D right operand: a column
    if B.ndim == 1:
        g = g[..., None]  # put back the removed column dim
    if A.ndim == 1:
        g = g[..., None, :]  # and the removed row dim
    ga = gb = None
    if a._rg:
        ga = _unbroadcast(_product(g, _swap(B2)), A2.shape).reshape(A.shape)
    if b._rg:
        if B2.ndim == 2:  # one weight shared by the whole batch: fold the batch into rows
            (k, n), rows = B2.shape, math.prod(A2.shape[:-1])  # not -1: k may be 0
            gb = _product_laid_out_like(B2, A2.reshape(rows, k).T, g.reshape(rows, n))
        else:
            gb = _unbroadcast(_product(_swap(A2), g), B2.shape)
        gb = gb.reshape(B.shape)
    return ga, gb


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is True, else ``b``; a and b are tensors or numbers."""
    cond = _bool_array(cond, "where")
    a, b = _operand(a), _operand(b)
    a_data = a if type(a) is float else a._data
    b_data = b if type(b) is float else b._data
    try:
        out = np.where(cond, a_data, b_data)
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {np.shape(a_data)} and "
                         f"{np.shape(b_data)} cannot be broadcast together") from None
    if type(a) is float and type(b) is float:
        return _record(out.astype(np.float32), (), None)
    parents = tuple(t for t in (a, b) if type(t) is not float)

    def backward(g: np.ndarray) -> tuple:
        grads = []
        if type(a) is not float:
            grads.append(_unbroadcast(np.where(cond, g, 0.0), a.shape) if a._rg else None)
        if type(b) is not float:
            grads.append(_unbroadcast(np.where(cond, 0.0, g), b.shape) if b._rg else None)
        return tuple(grads)

    return _record(out, parents, backward)


def _check_tensor_list(tensors: Any, op: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensor_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    return tensors


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = _check_tensor_list(tensors, "cat")
    shapes = [t.shape for t in tensors]
    ndim = len(shapes[0])
    d = _normalize_dim(dim, ndim, "cat")
    for s in shapes:
        if len(s) != ndim or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:]:
            raise ValueError(f"cat: shapes {shapes} must match except in dim {dim}")
    out = np.concatenate([t._data for t in tensors], axis=d)
    offsets = list(itertools.accumulate(s[d] for s in shapes[:-1]))
    return _record(out, tuple(tensors), lambda g: tuple(np.split(g, offsets, axis=d)))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    tensors = _check_tensor_list(tensors, "stack")
    shapes = [t.shape for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all shapes must be equal, got {shapes}")
    d = _normalize_dim(dim, len(shapes[0]) + 1, "stack")
    out = np.stack([t._data for t in tensors], axis=d)
    lead = (slice(None),) * d
    return _record(out, tuple(tensors),
                   lambda g: tuple(g[lead + (i,)] for i in range(len(shapes))))


# ---------------------------------------------------------------------------
# constructors


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists, ndarrays)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape_tuple(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(n) for n in shape)


def zeros(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of zeros; ``shape`` is an int or a tuple."""
    t = _record(np.zeros(_shape_tuple(shape), dtype=_float_dtype(dtype) or np.float32), (), None)
    t.requires_grad = requires_grad
    return t


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple."""
    t = _record(np.ones(_shape_tuple(shape), dtype=_float_dtype(dtype) or np.float32), (), None)
    t.requires_grad = requires_grad
    return t
