"""The tensor engine's ``Tensor``: one numpy array, one graph node per operation.

How it works
------------
Every operation computes its result with numpy and, when gradients are wanted, records
one node (:func:`record`): the result remembers its *parents* (the input tensors) and a
*backward rule*, a small function that takes the gradient of the result (a whole array)
and returns the gradient of each parent. ``backward()`` walks the nodes in reverse
topological order (iteratively, so a 10,000-step unroll is fine) and feeds each rule the
sum of the gradients that reached its node.

Two ideas carry most of the rules:

* **broadcasting is undone by summing**: if ``a`` of shape ``(3, 1)`` was broadcast to
  ``(2, 3, 4)``, its gradient is the upstream gradient summed over the axes that were
  added or stretched (:func:`tensor_engine.kernels.unbroadcast`);
* **matmul transposes**: for ``C = A @ B``, ``dA = dC @ Bᵀ`` and ``dB = Aᵀ @ dC``.

The numpy side of the ops lives in :mod:`tensor_engine.kernels`; the rules every engine
shares (how a dim, a dtype or a shape argument is read, and each misuse's message) in
:mod:`engine_api`, and the methods composed from this module's primitives (``view``,
``flatten``, ``to``, the in-place operators ...) in :class:`engine_api.TensorMethods`.

dtype rule
----------
A tensor is float32, float64, int64 or bool (``t.dtype``, a numpy dtype), by PyTorch's rules
(:mod:`engine_api.dtypes`, :mod:`engine_api.rules`): ``tensor([1.5])`` gets the default
float dtype (float32 unless ``set_default_dtype``), ``tensor([1, 2])`` int64,
``tensor([True])`` bool, an ndarray keeps its kind (float64 stays float64, as
``torch.from_numpy``). Only float tensors require grad.

An op between operands of different dtypes gives ``rules.result_dtype(...)``: float32 with
float64 tensors gives float64; a 0-d tensor or a Python number changes the result only when
it is of a higher category (bool < int < float), so ``float32 * 2.5`` and ``float32 +
float64 0-d`` stay float32 and ``int64 * 2`` stays int64, while ``int64 * 0.5`` gives the
default float. True division of ints and the float functions (exp, log, ... ) of int input
give the default float too. numpy promotes differently (``int64 * 0.5`` is float64 there,
and ``float32 + float64 0-d`` float64), so every op computes with numpy and casts to the
rule's dtype when numpy's differs; the same-dtype float path pays one identity check for
it. Numpy scalars count as Python numbers. A gradient always has its tensor's dtype.

Graph rules
-----------
A node is recorded only when grad mode is on (see :class:`no_grad`) and some input
requires grad; otherwise the result is a plain leaf that references nothing. After
``backward()`` the graph is freed (parents and rules dropped) unless
``retain_graph=True``.

Where the time goes
-------------------
Per op the engine adds a little Python (forward and backward together) to numpy's own
calls, so small models are bound by that overhead and large ones by numpy's BLAS. A few
choices keep both low: no graph at all under ``no_grad``; gradients are not computed for
inputs that do not require them (``x`` in ``x @ W.T``); a fresh gradient array is handed
to a leaf without a copy; backward pauses Python's cyclic garbage collector, which the
acyclic graph never needs; and argument rules run once per op, their messages built only
when an argument is wrong.

Memory layouts matter to the BLAS as much as shapes do: OpenBLAS runs ``x @ W.T`` (a
row-major weight ``W``, so ``W.T`` is column-major) measurably slower than the same product
asked as ``(W @ xᵀ)ᵀ``. So every product goes through :func:`tensor_engine.kernels.product`,
which picks the faster of the two forms from the operands' layouts (measured per product
and layout by ``benchmarks/gemm_layouts.py``); a batch of rows times a matrix is folded
into one 2-D product; parameters keep their (torch) layout through ``assign_``; and a
gradient comes out in its tensor's layout, so an optimizer's update never mixes layouts
(which made it several times slower).
"""

from __future__ import annotations

import gc
import itertools
import math
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine_api import GradMode, TensorMethods, errors, rules
from engine_api.dtypes import BOOL, FLOAT32, FLOAT64, INT64, get_default_dtype

from . import kernels
from .kernels import (
    array_owner,
    can_adopt,
    filled,
    first_below,
    memory_order,
    memory_owner,
    product,
    product_laid_out_like,
    sign,
    spread,
    swap,
    unbroadcast,
    zero_where_not_positive,
)

NAME = "tensor"

__all__ = [
    "NAME", "Tensor", "tensor", "zeros", "ones", "cat", "stack", "where", "matmul", "no_grad",
    "enable_grad", "set_grad_enabled", "is_grad_enabled", "nodes_created",
    "reset_nodes_created", "record", "note_write", "grad_mode",
]

BackwardRule = Callable[[np.ndarray], tuple]


# ---------------------------------------------------------------------------
# grad mode and node counting


grad_mode = GradMode()
"""This engine's grad mode (one flag per thread); ``fused`` reads it too."""
no_grad = grad_mode.no_grad
enable_grad = grad_mode.enable_grad
set_grad_enabled = grad_mode.set_grad_enabled
is_grad_enabled = grad_mode.is_enabled
_mode = grad_mode.flag  # ``_mode.enabled``: the one attribute read each op pays for it

_nodes_created = 0
_sequence = itertools.count(1)  # creation order of nodes and writes: a topological order


def nodes_created() -> int:
    """How many op nodes this engine has recorded since the last reset."""
    return _nodes_created


def reset_nodes_created() -> None:
    """Set the node counter back to zero."""
    global _nodes_created
    _nodes_created = 0


# ---------------------------------------------------------------------------
# recording the graph


def record(data: np.ndarray, parents: tuple, backward: BackwardRule | None) -> Tensor:
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


def _constant(data: np.ndarray) -> Tensor:
    """``data`` (an ndarray) wrapped as a leaf outside the graph, without a copy: what
    ``record(data, (), None)`` gives, without its grad-mode lookup (``.grad`` reads pay only
    this)."""
    out = object.__new__(Tensor)
    out._data = data
    out._rg = False
    out._grad = None
    out._parents = ()
    out._backward = None
    out._retains = False
    out._consumed = False
    return out


def _identity_rule(g: np.ndarray) -> tuple:
    return (g,)


def _transpose_rule(g: np.ndarray) -> tuple:
    return (g.T,)


def _freed_backward(g: np.ndarray) -> tuple:
    raise RuntimeError(errors.BACKWARD_TWICE)


def _unchanged(t: Tensor) -> Tensor:
    """``t`` as a new node that passes its gradient through: what torch gives for a 0-d
    tensor reduced or transposed along its one allowed dim (0 or -1)."""
    return record(t._data.reshape(()), (t,), _identity_rule)


# In-place writes and the graphs that saved the memory they overwrite. Backward rules read
# the arrays their op saw; an in-place op under no_grad (or on a constant) writes into such an
# array, which would make a later backward silently wrong. Each write is stamped from the same
# counter as the nodes, per memory owner; backward refuses a node older than a write to the
# memory of one of its tensors (PyTorch's version-counter check).
_last_write = 0
_writes: dict[int, tuple[weakref.ref, int]] = {}


def note_write(array: np.ndarray) -> None:
    """Stamp an in-place write into ``array``'s memory (any op that writes into a tensor's
    array outside the graph calls this)."""
    global _last_write
    owner = array_owner(array)
    key = id(owner)
    _last_write = next(_sequence)
    entry = _writes.get(key)
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner, lambda _, key=key: _writes.pop(key, None)), 0)
    _writes[key] = (entry[0], _last_write)


def _check_not_overwritten(node: Tensor) -> None:
    """RuntimeError if memory that ``node``'s backward rule reads was written after it."""
    for t in (node, *node._parents):
        owner = array_owner(t._data)
        entry = _writes.get(id(owner))
        if entry is not None and entry[1] > node._seq and entry[0]() is owner:
            raise errors.overwritten_error(t._data.shape)


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
# reading arguments


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A fresh ndarray from numbers, nested lists, ndarrays or Tensors, in ``dtype`` or the
    dtype torch infers (``rules.inferred_dtype``: an engine Tensor keeps its own)."""
    dt = rules.dtype_argument(dtype)
    if isinstance(data, Tensor):
        data = data._data
        if dt is None:
            dt = data.dtype
    elif rules.foreign_tensor(data):
        raise errors.mixing_error("tensor", NAME, data)
    array = rules.numeric_array(data)
    if dt is None:
        dt = rules.inferred_dtype(array if isinstance(data, (np.ndarray, np.generic)) else
                                  _python_data_stand_in(array))
    return np.array(array, dtype=dt)


def _python_data_stand_in(array: np.ndarray) -> Any:
    """What ``rules.inferred_dtype`` reads for Python data already converted to ``array``:
    its kind decides (bools, ints, or any float)."""
    kind = array.dtype.kind
    return 0.0 if kind == "f" else False if kind == "b" else 0


def _is_foreign(x: Any) -> bool:
    """A tensor of another engine, or a torch tensor: an op mixing it with ours refuses."""
    return rules.foreign_tensor(x) or type(x).__name__ == "Tensor"


def _operand(other: Any, op: str) -> Any:
    """The other side of an arithmetic op: a Tensor, or a Python number (int, float, bool).

    Numpy scalars become Python numbers, so that they promote as Python's do and never
    change a float tensor's dtype (under NumPy 2, ``float32_array * np.float64(2)`` would be
    float64). Arrays and lists become constant tensors of their inferred dtype.
    """
    if isinstance(other, Tensor):
        return other
    kind = type(other)
    if kind is float or kind is int or kind is bool:
        return other
    if isinstance(other, np.generic) and other.dtype.kind in "biuf":
        return other.item()
    if isinstance(other, numbers.Real):  # other real types (fractions ...)
        return int(other) if isinstance(other, numbers.Integral) else float(other)
    if isinstance(other, (np.ndarray, list, tuple)):
        return Tensor(other)
    if _is_foreign(other):
        raise errors.mixing_error(op, NAME, other)
    raise errors.operand_error(op, other)


def _as_tensor(x: Any, op: str) -> Tensor:
    """``x`` as a Tensor (numbers, lists and arrays become constants)."""
    if isinstance(x, Tensor):
        return x
    if _is_foreign(x):
        raise errors.mixing_error(op, NAME, x)
    return Tensor(x)


def _bool_array(mask: Any, op: str) -> np.ndarray:
    """A mask as a bool ndarray: bool (or 0/1 integer) arrays, lists and Tensors; a float
    mask is a TypeError."""
    if isinstance(mask, Tensor):
        return rules.bool_mask(mask._data, op)
    if _is_foreign(mask):
        raise errors.mixing_error(op, NAME, mask)
    return rules.bool_mask(mask, op)


def _in_dtype(out: Any, dtype: np.dtype) -> Any:
    """``out`` (what numpy computed) in ``dtype``, the dtype torch's promotion gives."""
    return out if out.dtype == dtype else out.astype(dtype)


_F32, _F64 = FLOAT32, FLOAT64
"""The float dtypes, for the fast paths' identity checks (``x.dtype is not _F32 and x.dtype
is not _F64`` costs less than ``x.dtype.kind != "f"``); what fails them goes to a helper
that checks the kind itself, so a float array whose dtype is an equal copy stays correct."""


def _floating(x: np.ndarray) -> np.ndarray:
    """int or bool values in the dtype a float function computes them in (the default
    float: ``tensor([1, 2]).exp()`` is float32, as in torch); floats as they are."""
    return x if x.dtype.kind == "f" else x.astype(rules.floating(x.dtype))


def _float_only(t: Tensor, op: str) -> None:
    """mean, var, std, softmax and log_softmax are defined for float tensors only."""
    if t._data.dtype.kind != "f":
        raise errors.float_only_error(op, t._data.dtype)


def _read_only_error(op: str) -> RuntimeError:
    return RuntimeError(f"{op}: this tensor's memory is read-only (an expand() or broadcast "
                        "view shares one element among many); clone() it first")


# ---------------------------------------------------------------------------
# the Tensor


class Tensor(TensorMethods):
    """An n-d array (float32, float64, int64 or bool) that records the operations applied
    to it.

    Build one with :func:`tensor`, :func:`zeros` or :func:`ones` (or ``Tensor(data)``).
    ``numpy()`` is the underlying ndarray, ``.data`` the same memory as a tensor outside the
    graph (torch's meaning); ``.grad`` is filled in by ``backward()``. The methods composed
    from the ones below (``view``, ``flatten``, ``to``, ``add_`` ...) come from
    :class:`engine_api.TensorMethods`.
    """

    __slots__ = ("_data", "_rg", "_grad", "_parents", "_backward", "_retains", "_seq",
                 "_consumed", "__weakref__")
    engine = NAME
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self._rg = bool(requires_grad)
        if self._rg and self._data.dtype.kind != "f":
            raise RuntimeError(errors.INT_GRAD)
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
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shares memory: do not mutate it)."""
        return self._data

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor outside the graph (torch's ``.data``): an in-place op
        on it (``p.data -= lr * p.grad``) changes ``self``, and no graph records it."""
        return _constant(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor) and value._data is self._data:
            return  # `p.data -= x` assigns back the alias it just wrote through
        self.assign_(value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(t)`` gives the values, as for a CPU torch tensor: this tensor's own
        array when ``dtype`` is its dtype (or None), a copy only when asked or converted."""
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return self._data if dtype is None else self._data.astype(dtype, copy=False)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != get_default_dtype() else ""
        extra += ", requires_grad=True" if self._rg else ""
        return f"tensor({body}{extra})"

    def _to(self, dtype: np.dtype | None, device: Any) -> Tensor:
        """``to(...)``'s primitive: ``self`` when the dtype does not change (as torch). A cast
        between float dtypes is a node whose gradient is cast back to this tensor's dtype;
        a cast to or from int64 or bool is a constant (no graph): floats truncate toward
        zero into int64, anything nonzero is True as a bool."""
        rules.check_cpu(device)
        x = self._data
        source = x.dtype
        if dtype is None or dtype == source:
            return self
        if source.kind == "f" and dtype.kind == "f":
            return record(x.astype(dtype), (self,), lambda g: (g.astype(source),))
        return _constant(np.asarray(x != 0) if dtype == BOOL else x.astype(dtype))

    def _new(self, values: np.ndarray) -> Tensor:
        """A constant tensor holding ``values`` (no copy when they are already in one of the
        four dtypes)."""
        return _constant(values.astype(rules.array_dtype(values.dtype), copy=False))

    # -- autograd -------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._backward is not None:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; "
                               "use detach() to get a leaf")
        if value and self._data.dtype.kind != "f":
            raise RuntimeError(errors.INT_GRAD)
        self._rg = bool(value)

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient, a Tensor of this tensor's shape and dtype, or None.

        The Tensor wraps the gradient's own array (no copy), and later backward passes add
        into that array in place, so a ``.grad`` read before them sees their sum, as in
        torch."""
        g = self._grad
        return None if g is None else _constant(g)

    @grad.setter
    def grad(self, value: Any) -> None:
        """None, a Tensor (whose array becomes the gradient, shared as torch shares it) or
        array-like values of this tensor's shape."""
        if value is None:
            self._grad = None
            return
        if isinstance(value, Tensor):
            value = value._data
        elif _is_foreign(value):
            raise errors.mixing_error("grad", NAME, value)
        value = np.asarray(value, dtype=self.dtype)
        if value.shape != self.shape:
            raise ValueError(f"grad of shape {value.shape} does not match tensor shape "
                             f"{self.shape}")
        if not value.flags.writeable:  # backward adds into it
            value = value.copy()
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
        return _constant(self._data)

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires grad.

        ``grad`` is the gradient of some final scalar with respect to ``self``; it may be
        omitted only when ``self`` has one element (then it is 1).
        """
        if not self._rg:
            raise RuntimeError(errors.NO_GRAD_FN)
        if grad is None:
            if self._data.size != 1:
                raise errors.implicit_grad_error(self._data.shape)
            grad = np.ones(self.shape, dtype=self.dtype)
        else:
            if not isinstance(grad, Tensor) and _is_foreign(grad):
                raise errors.mixing_error("backward", NAME, grad)
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise errors.shape_mismatch("backward", "grad", grad.shape, self.shape)
        handed_out = {id(memory_owner(grad))}  # memory the caller or this pass holds
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

        A gradient that already exists is added into in place (a ``.grad`` Tensor read
        earlier sees the sum, as in torch), unless this pass took its memory: a pending
        gradient of some other node may share that memory, so the sum goes to a new array.
        """
        current = self._grad
        if current is not None:
            if id(memory_owner(current)) in handed_out:
                self._grad = np.asarray(current + g)  # 0-d: numpy gives a scalar
            else:
                current += g
            return
        column_major = self._data.flags.fnc
        if type(g) is np.ndarray and g.flags.writeable and (
                g.flags.f_contiguous if column_major else g.flags.c_contiguous):
            owner = memory_owner(g)
            if id(owner) not in handed_out and owner.nbytes == g.nbytes:
                handed_out.add(id(owner))
                self._grad = g
                return
        g = np.array(g, order="F" if column_major else "C")
        handed_out.add(id(g))
        self._grad = g

    # -- writing values in place ----------------------------------------------------

    def assign_(self, value: Any, copy: bool = True) -> Tensor:
        """Overwrite the values in place, outside the graph (what optimizers and loaders do).

        The tensor keeps its memory layout whatever the layout of ``value``: a parameter
        made row-major stays row-major when a checkpoint hands it a transposed view (GPT-2's
        Conv1D weights), so the products it takes part in keep the layout they were
        measured fastest in (see :func:`tensor_engine.kernels.product`).

        ``copy=False`` hands ``value`` over: when it is an array that owns its memory, in
        this tensor's dtype and layout, the tensor keeps it instead of copying it, and the
        caller must not write to it again. Optimizers do this with the new values they have
        just computed, which saves a pass over every parameter per step.
        """
        if isinstance(value, Tensor):
            value = value._data
        elif type(value) is not np.ndarray:
            if _is_foreign(value):
                raise errors.mixing_error("assign_", NAME, value)
            value = np.asarray(value)
        if value.shape != self.shape:
            raise errors.shape_mismatch("assign_", "value", value.shape, self.shape)
        # A new array rather than a write into the old one: backward rules of a graph
        # recorded before the assignment still read the values they saw.
        if copy or not can_adopt(value, self._data):
            value = np.array(value, dtype=self._data.dtype, order=memory_order(self._data))
        self._data = value
        return self

    def _inplace(self, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` hold ``compute(self)``: the one implementation of every in-place op
        (``add_``, ``+=``, ``fill_`` ... in :class:`engine_api.TensorMethods`, and
        ``__setitem__``).

        Torch's rules. In grad mode a leaf that requires grad refuses; when the result needs a
        graph (self or the other operand requires grad), self *becomes* the result's node, as
        if the user had written ``x = x + y``. Otherwise the values are written into self's
        memory, so views and ``.data`` aliases see them; a graph that saved that memory
        refuses to backward afterwards (see ``_check_not_overwritten``).
        """
        if self._rg and self._backward is not None and (self._consumed or not _mode.enabled):
            raise errors.used_by_graph_error(op, self.shape)
        if self._rg and self._backward is None and _mode.enabled:
            raise RuntimeError(errors.LEAF_INPLACE)
        if self._backward is not None and any(
                np.may_share_memory(self._data, p._data) for p in self._parents):
            raise errors.view_inplace_error(op, self.shape)
        before = self
        if self._backward is not None:  # a recorded node: compute from a copy, then take over
            before = record(self._data, (), None)
            before._rg, before._parents, before._backward = True, self._parents, self._backward
            before._seq = self._seq
        elif _mode.enabled:  # a constant stand-in: a rebound self must not be its own parent
            before = record(self._data, (), None)
        result = compute(before)
        if result.shape != self.shape:
            raise ValueError(f"{op}: the result's shape {result.shape} does not match the "
                             f"in-place target's shape {self.shape}")
        if result._rg:
            if result.dtype != self.dtype:
                result = record(result._data.astype(self.dtype), (result,), _identity_rule)
            self._data, self._parents = result._data, result._parents
            self._backward, self._rg, self._seq = result._backward, True, result._seq
            return self
        if not self._data.flags.writeable:
            raise _read_only_error(op)
        np.copyto(self._data, result._data, casting="unsafe")
        note_write(self._data)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, torch's in-place write: the rules of every in-place op (a
        leaf that requires grad refuses in grad mode; a recorded tensor takes the result's
        place in the graph, the gradient reaching ``value`` and the untouched elements).
        ``value`` (a number or a tensor) broadcasts to the indexed region's shape.

        Without a graph to record, only the region is written, in place: a cache buffer
        written one row at a time costs one row, not a copy of the buffer."""
        v = _operand(value, "__setitem__")
        is_tensor = isinstance(v, Tensor)
        if not self._rg and not (is_tensor and v._rg and _mode.enabled):
            if not self._data.flags.writeable:
                raise _read_only_error("__setitem__")
            _put(self._data, index, v._data if is_tensor else v)
            note_write(self._data)
            return
        self._inplace("__setitem__", lambda t: t._index_put(index, v))

    def _index_put(self, index: Any, v: Tensor | float) -> Tensor:
        """A copy of self with ``value`` written at ``index`` (the node ``__setitem__``
        records), in self's dtype."""
        out = self._data.copy()
        is_tensor = isinstance(v, Tensor)
        region = _put(out, index, v._data if is_tensor else v)

        def backward(g: np.ndarray) -> tuple:
            grad = g.copy()
            _put(grad, index, 0)
            if not is_tensor:
                return (grad,)
            return grad, (unbroadcast(region(g), v.shape) if v._rg else None)

        return record(out, (self, v) if is_tensor else (self,), backward)

    # -- arithmetic -----------------------------------------------------------
    #
    # Each operator has two fast paths, a Python number and a tensor of the same dtype: numpy
    # computes them in torch's dtype already (a Python number never changes an array's
    # dtype under NumPy 2 unless it is of a higher kind). One identity check of the dtypes
    # sends everything else to rules.result_dtype, and numpy's result is cast to it. A
    # Python float skips ``_operand``, which reads every other kind of operand (arrays and
    # lists become Tensors and take the tensor path).

    def __add__(self, other: Any) -> Tensor:
        if type(other) is not Tensor:
            if type(other) is float or not isinstance(other := _operand(other, "add"), Tensor):
                out = self._data + other
                if out.dtype is not self._data.dtype:
                    out = _in_dtype(out, rules.result_dtype(self, other))
                return record(out, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a + b
        except ValueError:
            raise rules.broadcast_error("add", a.shape, b.shape) from None
        if a.dtype is not b.dtype:
            out = _in_dtype(out, rules.result_dtype(self, other))
        sa, sb = a.shape, b.shape
        return record(out, (self, other),
                      lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        if type(other) is not Tensor:
            if type(other) is float or not isinstance(other := _operand(other, "sub"), Tensor):
                try:
                    out = self._data - other
                except TypeError:
                    raise TypeError(errors.BOOL_SUB) from None
                if out.dtype is not self._data.dtype:
                    out = _in_dtype(out, rules.result_dtype(self, other))
                return record(out, (self,), _identity_rule)
        a, b = self._data, other._data
        try:
            out = a - b
        except ValueError:
            raise rules.broadcast_error("sub", a.shape, b.shape) from None
        except TypeError:  # numpy refuses bool - bool, as torch does
            raise TypeError(errors.BOOL_SUB) from None
        if a.dtype is not b.dtype:
            out = _in_dtype(out, rules.result_dtype(self, other))
        sa, sb = a.shape, b.shape
        return record(out, (self, other),
                      lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)))

    def __rsub__(self, other: Any) -> Tensor:
        if type(other) is not float:
            other = _operand(other, "sub")
        if isinstance(other, Tensor):
            return other.__sub__(self)
        try:
            out = other - self._data
        except TypeError:
            raise TypeError(errors.BOOL_SUB) from None
        if out.dtype is not self._data.dtype:
            out = _in_dtype(out, rules.result_dtype(self, other))
        return record(out, (self,), lambda g: (-g,))

    def __neg__(self) -> Tensor:
        try:
            out = -self._data
        except TypeError:  # numpy refuses -bool, as torch does
            raise TypeError(errors.BOOL_NEG) from None
        return record(out, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Tensor:
        if type(other) is not Tensor:
            if type(other) is float or not isinstance(other := _operand(other, "mul"), Tensor):
                out = self._data * other
                if out.dtype is not self._data.dtype:
                    out = _in_dtype(out, rules.result_dtype(self, other))
                return record(out, (self,), lambda g: (g * other,))
        a, b = self._data, other._data
        try:
            out = a * b
        except ValueError:
            raise rules.broadcast_error("mul", a.shape, b.shape) from None
        if a.dtype is not b.dtype:
            out = _in_dtype(out, rules.result_dtype(self, other))
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = unbroadcast(g * b, a.shape) if x._rg else None
            gb = unbroadcast(g * a, b.shape) if y._rg else None
            return ga, gb

        return record(out, (self, other), backward)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        """``self / other``; two int (or bool) operands divide into the default float."""
        if type(other) is not Tensor:
            if type(other) is float or not isinstance(other := _operand(other, "div"), Tensor):
                out = self._data / other
                if out.dtype is not self._data.dtype:
                    out = _in_dtype(out, rules.division_dtype(rules.result_dtype(self, other)))
                return record(out, (self,), lambda g: (g / other,))
        a, b = self._data, other._data
        try:
            out = a / b
        except ValueError:
            raise rules.broadcast_error("div", a.shape, b.shape) from None
        if not (out.dtype is a.dtype is b.dtype):
            out = _in_dtype(out, rules.division_dtype(rules.result_dtype(self, other)))
        x, y = self, other

        def backward(g: np.ndarray) -> tuple:
            ga = unbroadcast(g / b, a.shape) if x._rg else None
            gb = unbroadcast(-g * out / b, b.shape) if y._rg else None
            return ga, gb

        return record(out, (self, other), backward)

    def __rtruediv__(self, other: Any) -> Tensor:
        if type(other) is not float:
            other = _operand(other, "div")
        if isinstance(other, Tensor):
            return other.__truediv__(self)
        x = self._data
        out = other / x
        if out.dtype is not x.dtype:
            out = _in_dtype(out, rules.division_dtype(rules.result_dtype(self, other)))
        return record(out, (self,), lambda g: (-g * out / x,))

    def __pow__(self, exponent: Any) -> Tensor:
        """``self ** exponent`` for a number exponent. An int64 (or bool) tensor to a
        non-negative int power stays int64 (a negative one is a ValueError, as in torch); to
        a float power it computes in the default float."""
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64 and x.dtype.kind != "f":
            return _integer_power(self, exponent)
        p = rules.exponent(exponent)
        negative = None if p.is_integer() else first_below(x, 0.0, inclusive=False)
        if negative is not None:
            raise errors.negative_base_error(negative, p, self.shape)
        if p == 0.0:  # constant 1; the general rule would give 0 * inf at x = 0
            return record(np.ones_like(x), (self,), lambda g: (np.zeros_like(g),))
        if p == 2.0:
            return record(x * x, (self,), lambda g: (g * (2.0 * x),))
        return record(x ** p, (self,), lambda g: (g * (p * x ** (p - 1.0)),))

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    # -- elementwise ----------------------------------------------------------
    #
    # The float functions compute int and bool input in the default float (``_floating``);
    # such input never requires grad, so the backward rules see floats only.

    def exp(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        out = np.exp(x)
        return record(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        bad = first_below(x, 0.0, inclusive=True)  # NaN is allowed: it propagates
        if bad is not None:
            raise errors.domain_error("log", bad, "> 0")
        return record(np.log(x), (self,), lambda g: (g / x,))

    def log1p(self) -> Tensor:
        """``log(1 + x)``, precise for tiny ``x`` (numpy's ``log1p``, where ``1 + x`` would
        round ``x`` away); its gradient is ``1 / (1 + x)``. Defined for ``x > -1``."""
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        bad = first_below(x, -1.0, inclusive=True)  # NaN is allowed: it propagates
        if bad is not None:
            raise errors.domain_error("log1p", bad, "> -1")
        return record(np.log1p(x), (self,), lambda g: (g / (1.0 + x),))

    def sqrt(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        bad = first_below(x, 0.0, inclusive=False)  # NaN is allowed: it propagates
        if bad is not None:
            raise errors.domain_error("sqrt", bad, ">= 0")
        out = np.sqrt(x)
        return record(out, (self,), lambda g: (g * 0.5 / out,))

    def tanh(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        out = np.tanh(x)
        return record(out, (self,), lambda g: (g * (1.0 - out * out),))

    def relu(self) -> Tensor:
        """max(x, 0); NaN stays NaN and passes its gradient, as torch's relu. An int64 tensor
        stays int64; a bool one is refused, as torch refuses it."""
        x = self._data
        if x.dtype is BOOL:
            raise errors.bool_refused("relu")
        out = np.maximum(x, 0)  # a Python int: any array keeps its dtype
        return record(out, (self,), lambda g: (zero_where_not_positive(g, x),))

    def sigmoid(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        # exp(-|x|) never overflows; the two branches are the same function.
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1.0, e) / (1.0 + e)
        return record(out, (self,), lambda g: (g * out * (1.0 - out),))

    def abs(self) -> Tensor:
        """|x|; its gradient is sign(x), 0 at 0 (torch's choice) and at NaN. An int64
        tensor stays int64; a bool one is refused, as torch refuses it."""
        x = self._data
        if x.dtype is BOOL:
            raise errors.bool_refused("abs")
        return record(np.abs(x), (self,), lambda g: (g * sign(x),))

    def sin(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        return record(np.sin(x), (self,), lambda g: (g * np.cos(x),))

    def cos(self) -> Tensor:
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        return record(np.cos(x), (self,), lambda g: (-g * np.sin(x),))

    def erf(self) -> Tensor:
        """The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)."""
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64:
            x = _floating(x)
        return record(kernels.erf(x), (self,),
                      lambda g: (g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)),))

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Each value limited to ``[min, max]``; either bound may be None, not both.

        The gradient passes where ``min <= x <= max`` (bounds included) and is 0 elsewhere.
        NaN stays NaN (gradient 0), and with ``min > max`` every value becomes ``max``, as in
        torch (numpy's ``maximum``/``minimum`` propagate NaN as torch's do). An int64 tensor
        with int bounds stays int64; a float bound makes the result the default float.
        """
        lo, hi = rules.clamp_bounds(min, max)
        x = self._data
        if x.dtype is not _F32 and x.dtype is not _F64 and x.dtype.kind != "f":
            return _integer_clamp(self, min, max)
        lo = -math.inf if lo is None else lo  # a missing bound: the infinity that changes
        hi = math.inf if hi is None else hi  # nothing
        out = np.minimum(np.maximum(x, lo), hi)
        return record(out, (self,), lambda g: (np.where((x >= lo) & (x <= hi), g, 0.0),))

    def cumsum(self, dim: int) -> Tensor:
        """Running sums along ``dim`` (int64 for int and bool input, as torch). Each input
        element feeds every later sum, so its gradient is the sum of the upstream gradient
        from its own position to the end: a cumulative sum run backwards."""
        data, d = _along(self, dim, "cumsum")
        out = np.cumsum(data, axis=d, dtype=None if data.dtype.kind == "f" else INT64)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            reversed_g = np.flip(g.reshape(data.shape), d)
            return (np.flip(np.cumsum(reversed_g, axis=d), d).reshape(shape),)

        return record(out.reshape(shape), (self,), backward)

    # -- along one dim: softmax and log_softmax, one node each ----------------------------

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``, as one node (``tensor_engine.fused`` calls
        it too). Backward for ``y = softmax(x)``: ``dx = y * (dy - sum(dy * y))``; only ``y``
        is kept, where the same op composed from primitives keeps five arrays."""
        if self._data.dtype is not _F32 and self._data.dtype is not _F64:
            _float_only(self, "softmax")
        data, d = _along(self, dim, "softmax")
        y = data - data.max(axis=d, keepdims=True)  # exp never overflows
        np.exp(y, out=y)
        y /= np.add.reduce(y, axis=d, keepdims=True)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            gy = g.reshape(y.shape) * y
            gy -= np.multiply(y, np.add.reduce(gy, axis=d, keepdims=True))
            return (gy.reshape(shape),)

        return record(y.reshape(shape), (self,), backward)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - log(sum(exp(x)))`` along ``dim``, computed stably, as one node. Backward for
        ``y = log_softmax(x)``: ``dx = dy - exp(y) * sum(dy)``."""
        if self._data.dtype is not _F32 and self._data.dtype is not _F64:
            _float_only(self, "log_softmax")
        data, d = _along(self, dim, "log_softmax")
        y = kernels.log_softmax(data, d)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            g = g.reshape(data.shape)
            return ((g - np.exp(y) * g.sum(axis=d, keepdims=True)).reshape(shape),)

        return record(y.reshape(shape), (self,), backward)

    # -- reductions -----------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None or ``()`` for all); int and bool
        tensors sum to int64."""
        dims = rules.normalize_dims(dim, self._data.ndim, "sum")
        shape = self._data.shape
        out = self._data.sum(axis=dims, keepdims=keepdim)

        def backward(g: np.ndarray) -> tuple:
            return (spread(g, shape, dims, keepdim),)

        return record(out, (self,), backward)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (an int, a tuple of ints, or None or ``()`` for all)."""
        if self._data.dtype is not _F32 and self._data.dtype is not _F64:
            _float_only(self, "mean")
        dims = rules.normalize_dims(dim, self._data.ndim, "mean")
        shape = self._data.shape
        count = self._data.size if dims is None else math.prod(shape[d] for d in dims)
        if count == 0:
            raise ValueError(f"mean over an empty dimension (shape {shape}, dim {dim})")
        out = np.add.reduce(self._data, axis=dims, keepdims=keepdim)  # ndarray.mean's numbers,
        if type(out) is np.ndarray:  # without its Python-level wrapper
            out /= count
        else:
            out = out.dtype.type(out / count)

        def backward(g: np.ndarray) -> tuple:
            return (spread(g / count, shape, dims, keepdim),)

        return record(out, (self,), backward)

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
        shape = self._data.shape
        return record(out, (self,), lambda g: (
            _var_grad(g, centred, divisor, shape, dims, keepdim),))

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Standard deviation: ``sqrt`` of ``var`` with the same arguments; one node.

        Where it is 0 (a constant slice) its gradient is 0, as in torch, rather than the
        ``inf * 0`` of the chain rule through ``sqrt``.
        """
        dims, divisor, centred = _deviations(self, dim, unbiased, correction, "std")
        out = np.sqrt((centred * centred).sum(axis=dims, keepdims=keepdim) / divisor)
        shape = self._data.shape

        def backward(g: np.ndarray) -> tuple:
            zero = out == 0
            g_var = np.where(zero, 0.0, g) / np.where(zero, 2.0, 2.0 * out)  # d sqrt(v) / dv
            return (_var_grad(g_var, centred, divisor, shape, dims, keepdim),)

        return record(out, (self,), backward)

    def _extreme(self, dim: Any, keepdim: bool, op: str) -> Tensor:
        """The values of ``max``/``min`` (``op``) over ``dim`` (None: everything), the
        primitive of :meth:`engine_api.TensorMethods.max`. numpy's ``argmax``/``argmin``
        pick the element, and their rules are torch's: the gradient goes to the first
        extreme element, or to the first NaN if there is one (NaN wins)."""
        x, shape = self._data, self._data.shape
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

            return record(out, (self,), backward_all)
        if x.ndim == 0:
            rules.normalize_dim(dim, 1, op)
            return _unchanged(self)
        d = rules.normalize_dim(dim, x.ndim, op)
        index = np.expand_dims(find(x, axis=d), d)
        out = np.take_along_axis(x, index, axis=d)

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(shape, dtype=x.dtype)
            np.put_along_axis(grad, index, g if keepdim else np.expand_dims(g, d), axis=d)
            return (grad,)

        return record(out if keepdim else out.squeeze(d), (self,), backward)

    # -- shapes -----------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape; one entry may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out = self._data.reshape(shape)
        except (ValueError, TypeError):
            rules.reshaped(self._data.shape, shape)  # numpy refused: the contract's message
            raise
        in_shape = self._data.shape
        return record(out, (self,), lambda g: (g.reshape(in_shape),))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions."""
        ndim = self._data.ndim
        if ndim == 0:
            rules.normalize_dim(dim0, 1, "transpose")
            rules.normalize_dim(dim1, 1, "transpose")
            return _unchanged(self)
        d0 = rules.normalize_dim(dim0, ndim, "transpose")
        d1 = rules.normalize_dim(dim1, ndim, "transpose")
        return record(self._data.swapaxes(d0, d1), (self,), lambda g: (g.swapaxes(d0, d1),))

    @property
    def T(self) -> Tensor:
        """The transpose of a 2-D tensor (dims reversed in general)."""
        ndim = self._data.ndim
        if ndim < 2:
            return self
        if ndim == 2:
            return record(self._data.T, (self,), _transpose_rule)
        return self.permute(*reversed(range(ndim)))

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions: result dim i is input dim ``dims[i]``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        ndim = self._data.ndim
        usual = (len(dims) == ndim and {type(d) for d in dims} <= {int}
                 and sorted(dims) == list(range(ndim)))  # already in normal form
        order = dims if usual else rules.permutation(dims, self._data.shape)
        inverse = tuple(order.index(d) for d in range(len(order)))
        return record(self._data.transpose(order), (self,), lambda g: (g.transpose(inverse),))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
        d = rules.normalize_dim(dim, self._data.ndim + 1, "unsqueeze")
        in_shape = self._data.shape
        return record(np.expand_dims(self._data, d), (self,), lambda g: (g.reshape(in_shape),))

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dimensions (all of them, or only those of ``dim`` that have size 1;
        ``dim=()`` drops none, as torch)."""
        in_shape = self._data.shape
        if isinstance(dim, (tuple, list)) and not dim:
            dims = ()
        else:
            dims = rules.normalize_dims(dim, len(in_shape), "squeeze")
        if dims is None:
            dims = tuple(i for i, n in enumerate(in_shape) if n == 1)
        dims = tuple(d for d in dims if in_shape[d] == 1)
        return record(self._data.squeeze(dims), (self,), lambda g: (g.reshape(in_shape),))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast view of ``self`` with ``sizes``, torch's rules: size-1 dims stretch, new
        leading dims may be added, -1 keeps a size. The gradient sums back over them. Like
        torch's, the view is not writable: its elements share memory."""
        shape = self._data.shape
        target = rules.expanded_shape(shape, sizes)
        return record(np.broadcast_to(self._data, target), (self,),
                      lambda g: (unbroadcast(g, shape),))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into chunks of one size (the last may be smaller) or of the listed sizes."""
        sizes, d = rules.split_sizes(split_size_or_sections, self._data.shape, dim)
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * d + (slice(start, start + size),)
            pieces.append(self[index])
            start += size
        return tuple(pieces)

    def clone(self) -> Tensor:
        """A copy with its own array, recorded as a node with the identity gradient."""
        return record(self._data.copy(), (self,), _identity_rule)

    # -- indexing and masks --------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        """Basic indexing (ints, slices, None, ...) gives a view; int64 tensors (and integer
        arrays and lists) gather; a bool tensor (or array) is a mask, as in numpy and torch.
        A float tensor as an index is an IndexError.

        Ints are applied before any index array, as torch does: ``x[i, :, ids]`` has shape
        ``(n, len(ids))``, where numpy would count ``i`` as an index array too and give
        ``(len(ids), n)``.
        """
        basic, gather = _split_index(index)
        x = self._data
        try:
            out = x[basic] if gather is None else x[basic][gather]
        except IndexError as err:
            raise errors.index_error(err) from None
        if type(out) is not np.ndarray:  # every dim indexed by an int: numpy copies a scalar out
            out = x[(*basic, Ellipsis) if isinstance(basic, tuple) else (basic, Ellipsis)]

        def backward(g: np.ndarray) -> tuple:
            grad = np.zeros(x.shape, dtype=x.dtype)
            if gather is None:
                grad[basic] = g
            else:  # grad[basic] is a view: scatter-add into it (repeated indices add up)
                np.add.at(grad[basic], gather, g)
            return (grad,)

        return record(out, (self,), backward)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """Replace the values where ``mask`` (bool; it broadcasts) is True by ``value``, a
        number or a one-element tensor, cast to this tensor's dtype."""
        mask = _bool_array(mask, "masked_fill")
        x = self._data
        rules.mask_shape(mask.shape, x.shape, "masked_fill")
        if type(value) is not float:
            if isinstance(value, Tensor):
                value = value.item()
            elif _is_foreign(value):
                raise errors.mixing_error("masked_fill", NAME, value)
        value = float(value) if x.dtype is _F32 or x.dtype is _F64 else x.dtype.type(value)
        return record(filled(x, mask, value), (self,), lambda g: (filled(g, mask, 0.0),))

    def _scatter_add(self, positions: tuple[np.ndarray, ...], src: Any) -> Tensor:
        """A copy of self with ``src`` added at ``positions`` (a numpy advanced index into
        self whose arrays broadcast to ``src``'s shape), repeated positions adding up
        (``np.add.at``), in the promoted dtype: the primitive of ``scatter_add``. The
        gradient reaches self whole and ``src`` gathered from the same positions."""
        src = _as_tensor(src, "scatter_add")
        out = self._data.astype(rules.result_dtype(self, src))  # a copy, promoted
        np.add.at(out, positions, src._data)
        x, s = self, src

        def backward(g: np.ndarray) -> tuple:
            return (g if x._rg else None), (g[positions] if s._rg else None)

        return record(out, (self, src), backward)


# ---------------------------------------------------------------------------
# helpers of the methods above


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _integer_power(t: Tensor, exponent: Any) -> Tensor:
    """``t ** exponent`` for an int64 or bool ``t`` (no graph: it never requires grad)."""
    rules.exponent(exponent)  # the TypeError for a non-number
    if isinstance(exponent, np.generic):
        exponent = exponent.item()
    if isinstance(exponent, float):  # torch: int ** float is the default float
        return t._to(rules.floating(t.dtype), None) ** exponent
    if exponent < 0:
        raise ValueError(errors.NEGATIVE_INT_POWER)
    out = t._data.astype(INT64) ** int(exponent)
    return _constant(np.asarray(_in_dtype(out, rules.result_dtype(t, exponent))))


def _integer_clamp(t: Tensor, lo: Any, hi: Any) -> Tensor:
    """``clamp`` of an int64 or bool ``t``: int64 with int bounds; a float bound clamps the
    values in the default float instead (torch's promotion)."""
    bounds = [b for b in (lo, hi) if b is not None]
    bounds = [b.item() if isinstance(b, np.generic) else b for b in bounds]
    dtype = rules.result_dtype(t, *bounds)
    if dtype.kind == "f":
        return t._to(dtype, None).clamp(lo, hi)
    out = t._data.astype(INT64)
    if lo is not None:
        out = np.maximum(out, int(lo))
    if hi is not None:
        out = np.minimum(out, int(hi))
    return _constant(np.asarray(out))


def _along(t: Tensor, dim: Any, op: str) -> tuple[np.ndarray, int]:
    """The data and normalised dim of an op along ``dim``; a 0-d tensor counts as one
    element along dim 0 or -1."""
    x = t._data
    if x.ndim == 0:
        return x.reshape(1), rules.normalize_dim(dim, 1, op)
    return x, rules.normalize_dim(dim, x.ndim, op)


def _deviations(t: Tensor, dim: Any, unbiased: bool | None, correction: Any,
                op: str) -> tuple[tuple[int, ...] | None, float, np.ndarray]:
    """What var and std share: the reduced dims, the divisor ``max(0, n - correction)`` and
    ``x - mean`` (the mean taken over those dims)."""
    _float_only(t, op)
    dim, c = rules.var_arguments(dim, unbiased, correction)
    x = t._data
    dims = rules.normalize_dims(dim, x.ndim, op)
    n = x.size if dims is None else math.prod(x.shape[d] for d in dims)
    centred = x - x.mean(axis=dims, keepdims=True)
    return dims, max(0.0, n - c), centred


def _var_grad(g: np.ndarray, centred: np.ndarray, divisor: float, shape: tuple,
              dims: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    """d var / dx = g * 2 (x - mean) / divisor (inf * 0 = NaN when the divisor is 0)."""
    scale = 2.0 / divisor if divisor else math.inf
    return spread(g, shape, dims, keepdim) * centred * scale


def _index_part(part: Any) -> Any:
    """One part of an index, with tensors and lists as ndarrays: int arrays gather, bool
    arrays are masks, float ones are refused (torch's rule)."""
    if isinstance(part, Tensor):
        values = part._data
    elif isinstance(part, list):
        values = np.asarray(part)
        if values.size == 0:
            values = values.astype(np.intp)  # ``x[[]]``: an empty gather, as in torch
    elif isinstance(part, np.ndarray):
        values = part
    elif _is_foreign(part):
        raise errors.mixing_error("__getitem__", NAME, part)
    else:
        return part
    if values.dtype.kind not in "biu":
        raise IndexError(errors.INDEX_DTYPE)
    return values


def _normalize_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_part(p) for p in index)
    return _index_part(index)


_BASIC_PARTS = frozenset({int, slice, type(None), type(Ellipsis)})


def _split_index(index: Any) -> tuple[Any, Any]:
    """``(basic, gather)`` with ``x[index] == x[basic][gather]`` in torch's order.

    ``basic`` holds the ints, slices, None and ``...`` (a view of ``x``), with full slices
    for the dims the arrays index (one per dim of a bool mask); ``gather`` the index arrays
    (lists and tensors converted), at the positions of the dims ``basic`` kept, or None
    without arrays.
    """
    parts = index if type(index) is tuple else (index,)
    if slice in map(type, parts):
        rules.positive_steps(parts)
    if _BASIC_PARTS.issuperset(map(type, parts)):  # the usual view: nothing to convert
        return index, None
    index = _normalize_index(index)
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, np.ndarray) for p in parts):
        return index, None
    basic: list[Any] = []
    for p in parts:
        if not isinstance(p, np.ndarray):
            basic.append(p)
        else:  # a mask covers as many dims as it has
            basic += [slice(None)] * (p.ndim if p.dtype.kind == "b" else 1)
    gather = tuple(p if isinstance(p, np.ndarray) or p is Ellipsis else slice(None)
                   for p in parts if not rules.is_int(p))
    return tuple(basic), gather


def _put(array: np.ndarray, index: Any, value: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Write ``value`` into ``array[index]`` (torch's index order, see ``_split_index``);
    returns the function that reads the same region of an array of ``array``'s shape."""
    basic, gather = _split_index(index)
    basic = basic if isinstance(basic, tuple) else (basic,)
    if not any(part is Ellipsis for part in basic):
        basic = (*basic, Ellipsis)  # keeps the region a view when ints index every dim

    def region(a: np.ndarray) -> np.ndarray:
        return a[basic] if gather is None else a[basic][gather]

    try:
        target = array[basic]  # a view: basic indexing
        if gather is None:
            target[...] = value
        else:
            target[gather] = value
    except IndexError as err:
        raise errors.index_error(err) from None
    except ValueError:
        raise ValueError(f"__setitem__: a value of shape {np.shape(value)} does not broadcast "
                         f"to the indexed shape {region(array).shape}") from None
    return region


# ---------------------------------------------------------------------------
# matrix products


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with torch's rules: 1-D operands are promoted to a row (left) or a
    column (right) and that dimension is removed again; batch dims broadcast. int64
    operands give int64; operands of two dtypes give ``rules.result_dtype``'s.

    A batch of rows times one matrix (``x @ W.T`` with ``x`` of shape (B, T, k)) is computed
    as one 2-D product of B*T rows, which BLAS runs faster than B separate ones.
    """
    a, b = _as_tensor(a, "matmul"), _as_tensor(b, "matmul")
    A, B = a._data, b._data
    dims = A.ndim, B.ndim
    same = A.dtype is B.dtype
    if same and dims == (2, 2) and A.shape[1] == B.shape[0]:
        return record(product(A, B), (a, b), lambda g: (
            product_laid_out_like(A, g, B.T) if a._rg else None,
            product_laid_out_like(B, A.T, g) if b._rg else None))
    if same and dims[1] == 2 and dims[0] > 2 and A.shape[-1] == B.shape[0]:
        return _rows_times_matrix(a, b)
    try:
        out = product(A, B) if min(dims) > 1 else kernels.mm(A, B)
    except ValueError:
        rules.matmul_shape(A.shape, B.shape)  # numpy refused: the contract's message
        raise
    if not same:  # computed in numpy's dtype, given in torch's
        out = _in_dtype(out, rules.result_dtype(a, b))
    return record(out, (a, b), lambda g: _matmul_backward(g, a, b))


def _rows_times_matrix(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for ``a`` of shape (..., k) and a matrix ``b`` (k, n): the leading dims of
    ``a`` are folded into the rows of one 2-D product (a view when ``a``'s memory allows)."""
    A, B = a._data, b._data
    lead, (k, n) = A.shape[:-1], B.shape
    rows = math.prod(lead)  # not reshape(-1, k): k may be 0
    A2 = A.reshape(rows, k)
    out = product(A2, B).reshape(*lead, n)

    def backward(g: np.ndarray) -> tuple:
        g2 = g.reshape(rows, n)
        return (product_laid_out_like(A2, g2, B.T).reshape(A.shape) if a._rg else None,
                product_laid_out_like(B, A2.T, g2) if b._rg else None)

    return record(out, (a, b), backward)


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
        ga = unbroadcast(product(g, swap(B2)), A2.shape).reshape(A.shape)
    if b._rg:
        if B2.ndim == 2:  # one weight shared by the whole batch: fold the batch into rows
            (k, n), rows = B2.shape, math.prod(A2.shape[:-1])  # not -1: k may be 0
            gb = product_laid_out_like(B2, A2.reshape(rows, k).T, g.reshape(rows, n))
        else:
            gb = unbroadcast(product(swap(A2), g), B2.shape)
        gb = gb.reshape(B.shape)
    return ga, gb


# ---------------------------------------------------------------------------
# functions of several tensors


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` (bool) is True, else ``b``; a and b are tensors or numbers, and
    the result has their promoted dtype (``rules.result_dtype``)."""
    cond = _bool_array(cond, "where")
    a, b = _operand(a, "where"), _operand(b, "where")
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    a_data = a._data if a_is else a
    b_data = b._data if b_is else b
    try:
        out = np.where(cond, a_data, b_data)
    except ValueError:
        raise rules.broadcast_error("where", cond.shape, np.shape(a_data),
                                    np.shape(b_data)) from None
    parents = (a, b) if a_is and b_is else (a,) if a_is else (b,) if b_is else ()
    out = _joined(out, parents, (a, b))

    def backward(g: np.ndarray) -> tuple:
        grads = []
        if a_is:
            grads.append(unbroadcast(np.where(cond, g, 0.0), a.shape) if a._rg else None)
        if b_is:
            grads.append(unbroadcast(np.where(cond, 0.0, g), b.shape) if b._rg else None)
        return tuple(grads)

    return record(out, parents, backward)


Tensor._where = staticmethod(where)


def _check_tensor_list(tensors: Any, op: str) -> list[Tensor]:
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            if _is_foreign(t):
                raise errors.mixing_error(op, NAME, t)
            raise TypeError(f"{op}: expected tensor_engine Tensors, got "
                            f"{type(t).__module__}.{type(t).__name__}")
    return tensors


def _joined(out: Any, tensors: Sequence[Tensor], operands: Sequence[Any] = ()) -> Any:
    """``out``, computed by numpy from ``tensors`` (and the numbers among ``operands``), in
    their promoted dtype. When every tensor has one dtype and numpy kept it, that is the
    answer (a Python number changes it only by being of a higher kind, and then numpy
    changes it too); otherwise ``rules.result_dtype`` says."""
    if tensors:
        first = tensors[0]._data.dtype
        for t in tensors:
            if t._data.dtype is not first:
                break
        else:
            if out.dtype is first:
                return out
    return _in_dtype(out, rules.result_dtype(*(operands or tensors)))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension (their dtypes promote)."""
    tensors = _check_tensor_list(tensors, "cat")
    shapes = [t._data.shape for t in tensors]
    _, d = rules.concatenated_shape(shapes, dim)
    out = _joined(np.concatenate([t._data for t in tensors], axis=d), tensors)
    offsets = list(itertools.accumulate(s[d] for s in shapes[:-1]))
    return record(out, tuple(tensors), lambda g: tuple(np.split(g, offsets, axis=d)))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension (their dtypes promote)."""
    tensors = _check_tensor_list(tensors, "stack")
    _, d = rules.stacked_shape([t._data.shape for t in tensors], dim)
    out = _joined(np.stack([t._data for t in tensors], axis=d), tensors)
    lead = (slice(None),) * d
    return record(out, tuple(tensors),
                  lambda g: tuple(g[lead + (i,)] for i in range(len(tensors))))


# ---------------------------------------------------------------------------
# constructors


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists, ndarrays), in
    ``dtype`` (float32, float64, int64 or bool, any spelling ``rules.dtype_argument``
    reads) or the one torch infers from the data."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _filled(shape: Any, requires_grad: bool, dtype: Any, op: str, fill: Callable) -> Tensor:
    """``zeros``/``ones``: ``fill`` (numpy's) in ``dtype``, the default float if None."""
    dt = rules.dtype_argument(dtype)
    t = _constant(fill(rules.new_shape(shape, op), dtype=get_default_dtype() if dt is None else dt))
    t.requires_grad = requires_grad
    return t


def zeros(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of zeros; ``shape`` is an int or a tuple; the default float dtype unless
    ``dtype`` says otherwise."""
    return _filled(shape, requires_grad, dtype, "zeros", np.zeros)


def ones(shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A leaf of ones; ``shape`` is an int or a tuple; the default float dtype unless
    ``dtype`` says otherwise."""
    return _filled(shape, requires_grad, dtype, "ones", np.ones)
