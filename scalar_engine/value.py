"""``Value``: one number in a computation graph, and the backward pass over such graphs.

A ``Value`` holds a Python float (``data``), the gradient of the final output with respect to
it (``grad``), and up to two *parents* together with the *local derivative* of this value
towards each parent::

    c = a * b        # c.data = a.data * b.data
                     # parents (a, b), local derivatives (b.data, a.data)

Backward is the chain rule applied in reverse topological order: every node adds
``local * node.grad`` into each parent's ``grad``. Because the local derivatives are stored
as plain floats when the node is created, backward needs no per-node closure: one loop over
the nodes does all the work.

Only a handful of operations are *primitives* that know their derivative: ``+``, ``*``,
``** c`` (number exponent), ``exp``, ``log``, ``tanh``, ``relu``, ``sigmoid``, ``abs``,
``sin``, ``cos`` and ``erf``. Everything else (``-``, ``/``, the reflected operators,
``sqrt`` ...) is composed from them. At the edges they give PyTorch's answers rather than
Python's exceptions: a NaN input gives a NaN output (local derivative 1 through ``relu``, 0
through ``abs``, as torch), and ``sin``/``cos`` of an infinity are NaN.

Memory and speed notes (why the code looks the way it does):

* ``__slots__``: a ``Value`` is a fixed 6-slot record (80 bytes), no ``__dict__``.
* The two parents and their local derivatives live in the slots ``_a, _da, _b, _db``
  (``_b`` is None for one-parent nodes, ``_a`` is None for leaves): no tuple, no set per node.
* A product stores its operands' own ``data`` floats as local derivatives, a sum the shared
  constant ``1.0``: no new float is allocated for them.
* ``grad`` starts as the shared constant ``_ZERO``; as long as it *is* that object, no
  backward pass has reached the value (that is how ``Tensor.grad`` tells "no grad" from 0).
"""

from __future__ import annotations

import functools
import gc
import math
import numbers
import threading
from contextlib import ContextDecorator

__all__ = [
    "Value",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "nodes_created",
    "reset_nodes_created",
    "backward",
]

_ONE = 1.0  # local derivative of a sum towards each operand (shared, never re-allocated)
_NIL = 0.0  # local derivative of relu below zero
_MINUS_ONE = -1.0  # local derivative of abs below zero
_ZERO = 0.0  # initial grad; identity with this object means "no backward reached me yet"


class _Freed:
    """Marker stored in ``_a`` of a node whose graph was released by backward()."""

    __slots__ = ()
    _a = None

    def __repr__(self) -> str:
        return "<freed>"


_FREED = _Freed()

# -- engine state: grad mode (per thread, as in PyTorch) and the node counter ----------------


class _GradMode(threading.local):
    """Whether ops record a graph, one flag per thread (new threads start with it on)."""

    enabled = True


_mode = _GradMode()
_nodes_created = 0


def is_grad_enabled() -> bool:
    """True unless this thread is inside ``no_grad()`` (or turned grad mode off)."""
    return _mode.enabled


class _GradModeSwitch(ContextDecorator):
    """Set this thread's grad mode on entry; on exit, restore the state of *this* entry."""

    _target = True

    def _recreate_cm(self) -> _GradModeSwitch:
        return type(self)()  # a fresh manager per decorated call: calls may nest or race

    def __enter__(self) -> _GradModeSwitch:
        self._previous = _mode.enabled
        _mode.enabled = self._target
        return self

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous


class no_grad(_GradModeSwitch):
    """Context manager (and decorator) under which operations record no graph.

    Results are plain leaves: they reference no parents, so nothing is kept alive.
    ``@no_grad()`` and ``@no_grad`` both decorate a function. Only this thread stops
    recording: another thread's training loop keeps building its graph.
    """

    _target = False

    def __new__(cls, func=None):
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
        self._target = mode
        self._previous = _mode.enabled
        _mode.enabled = mode

    def _recreate_cm(self) -> set_grad_enabled:
        return type(self)(self._target)

    def __enter__(self) -> set_grad_enabled:
        return self  # already switched by __init__


def nodes_created() -> int:
    """How many ``Value`` objects the engine has created since the last reset."""
    return _nodes_created


def reset_nodes_created() -> None:
    """Set the node counter back to zero."""
    global _nodes_created
    _nodes_created = 0


def count_nodes(n: int) -> None:
    """Add ``n`` to the node counter (Tensor ops create Values in bulk and count once)."""
    global _nodes_created
    _nodes_created += n


# -- the node ---------------------------------------------------------------------------------


class Value:
    """A scalar node: ``data``, ``grad``, and up to two (parent, local derivative) pairs."""

    __slots__ = ("data", "grad", "_a", "_da", "_b", "_db")

    def __init__(self, data: float, a=None, da=None, b=None, db=None):
        # The public form is ``Value(3.0)`` (a leaf: checked and counted here). The engine
        # itself passes parents and local derivatives and counts those nodes in bulk.
        if a is None:
            global _nodes_created
            _nodes_created += 1
            data = _to_float(data)
        self.data = data
        self.grad = _ZERO
        self._a = a
        self._da = da
        self._b = b
        self._db = db

    # -- introspection (for learners and graph drawings) --------------------------------------

    @property
    def parents(self) -> tuple[tuple[Value, float], ...]:
        """The (parent, local derivative) pairs of this node; () for a leaf."""
        if self._a is None or self._a is _FREED:
            return ()
        if self._b is None:
            return ((self._a, self._da),)
        return ((self._a, self._da), (self._b, self._db))

    @property
    def is_leaf(self) -> bool:
        return self._a is None

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # -- primitives: each says how to compute the output and the local derivatives -----------

    def __add__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            out = self.data + other.data
            return _record(out, self, _ONE, other, _ONE)
        out = self.data + _number(other, "+")
        return _record(out, self, _ONE)

    def __mul__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return _record(self.data * other.data, self, other.data, other, self.data)
        c = _number(other, "*")
        return _record(self.data * c, self, c)

    def __pow__(self, exponent: float) -> Value:
        c = _exponent(exponent)
        x = self.data
        return _record(power(x, c), self, c * power(x, c - 1.0) if c != 0.0 else _NIL)

    def exp(self) -> Value:
        out = exp(self.data)
        return _record(out, self, out)  # d/dx e^x = e^x: reuse the output float

    def log(self) -> Value:
        x = self.data
        return _record(log(x), self, 1.0 / x)

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return _record(t, self, 1.0 - t * t)

    def relu(self) -> Value:
        x = self.data
        if x <= 0.0:
            return _record(0.0, self, _NIL)
        return _record(x, self, _ONE)  # NaN too: torch's relu passes NaN and its gradient

    def sigmoid(self) -> Value:
        s = sigmoid(self.data)
        return _record(s, self, s * (1.0 - s))

    def abs(self) -> Value:
        x = self.data
        if x > 0.0:
            return _record(x, self, _ONE)
        if x < 0.0:
            return _record(-x, self, _MINUS_ONE)
        return _record(abs(x), self, _NIL)  # 0 (torch's subgradient) or NaN

    def sin(self) -> Value:
        x = self.data
        return _record(sin(x), self, cos(x))

    def cos(self) -> Value:
        x = self.data
        return _record(cos(x), self, -sin(x))

    def erf(self) -> Value:
        x = self.data
        return _record(math.erf(x), self, erf_slope(x))

    # -- composed from the primitives ---------------------------------------------------------

    def __neg__(self) -> Value:
        return self * -1.0

    def __radd__(self, other: float) -> Value:
        return self + other

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __rsub__(self, other: float) -> Value:
        return (-self) + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __truediv__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return self * other**-1
        return self * power(_number(other, "/"), -1.0)

    def __rtruediv__(self, other: float) -> Value:
        return self**-1 * other

    def __rpow__(self, other: object):
        raise TypeError(
            f"unsupported exponent: {type(other).__name__} ** Value (the exponent must be a "
            "Python number)"
        )

    def sqrt(self) -> Value:
        if self.data < 0.0:
            raise ValueError(f"sqrt of a negative number: {self.data!r}")
        return self**0.5

    # -- backward -----------------------------------------------------------------------------

    def backward(self, retain_graph: bool = False) -> None:
        """Fill ``grad`` of every node this value depends on (d self / d node).

        Leaves accumulate (``+=``) across calls, as in PyTorch. Unless ``retain_graph`` is
        true, the graph is released afterwards and a second call raises ``RuntimeError``.
        """
        backward([self], [1.0], retain_graph)


def _record(data: float, a: Value, da: float, b: Value | None = None, db=None) -> Value:
    """A node made by a Value-level operator: counted, and a leaf under ``no_grad``."""
    if _mode.enabled:
        global _nodes_created
        _nodes_created += 1
        return Value(data, a, da, b, db)
    return Value(data)  # a leaf counts itself


# -- float helpers: the primitives' math with PyTorch's answers at the edges ----------------


def _to_float(x: object) -> float:
    if isinstance(x, float):
        return x
    if isinstance(x, Value):
        raise TypeError("Value(data) needs a number, not another Value")
    try:
        return float(x)  # ints, bools, numpy scalars
    except (TypeError, ValueError):
        raise TypeError(
            f"Value data must be a real number, got {type(x).__name__}: {x!r}"
        ) from None


def _number(other: object, op: str) -> float:
    """A Python or numpy real number as a float, else ``TypeError``."""
    if isinstance(other, (int, float)) or isinstance(other, numbers.Real):
        return float(other)
    raise TypeError(f"unsupported operand for {op}: Value and {type(other).__name__}")


def _exponent(c: object) -> float:
    if isinstance(c, (int, float)) or isinstance(c, numbers.Real):
        return float(c)
    raise TypeError(f"unsupported exponent type {type(c).__name__}: ** takes a Python number")


def power(x: float, c: float) -> float:
    """``x ** c`` for a float base and exponent, with PyTorch's infinities; no complex results."""
    if x < 0.0 and not c.is_integer():
        raise ValueError(f"{x!r} ** {c!r}: a negative base needs an integer exponent")
    try:
        return x**c
    except ZeroDivisionError:  # 0 ** negative
        return math.inf
    except OverflowError:
        negative = x < 0.0 and c % 2.0 == 1.0
        return -math.inf if negative else math.inf


def exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def log(x: float) -> float:
    if x <= 0.0:
        raise ValueError(f"log of a non-positive number: {x!r}")
    return math.log(x)


def sin(x: float) -> float:
    """``math.sin``, but NaN for an infinity (as PyTorch) instead of a ValueError."""
    try:
        return math.sin(x)
    except ValueError:
        return math.nan


def cos(x: float) -> float:
    """``math.cos``, but NaN for an infinity (as PyTorch) instead of a ValueError."""
    try:
        return math.cos(x)
    except ValueError:
        return math.nan


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_slope(x: float) -> float:
    """d/dx erf(x) = 2/sqrt(pi) * exp(-x^2) (0 far out: ``exp`` underflows, never overflows)."""
    return _TWO_OVER_SQRT_PI * math.exp(-x * x)


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), written so that the exponent is never positive (no overflow)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# -- the cyclic garbage collector -------------------------------------------------------------


def pausing_gc(op):
    """Decorator: run ``op`` with Python's cyclic garbage collector paused.

    Building a graph allocates one GC-tracked object per node, and every few hundred of them
    the collector walks the young objects, and from time to time *every* object in the
    process (with PyTorch imported, over 150,000 of them). That walking cost more than the
    graph building itself. The nodes need no cycle collector (each one only refers to older
    nodes, so reference counting frees them), so the ops that create nodes in bulk pause it.
    """

    @functools.wraps(op)
    def run(*args, **kwargs):
        if not gc.isenabled():
            return op(*args, **kwargs)
        gc.disable()
        try:
            return op(*args, **kwargs)
        finally:
            gc.enable()

    return run


# -- the backward pass ------------------------------------------------------------------------


# While a pass orders the graph, the grad of every node it has visited is this object: a float
# equal to 0.0 (so the pass can accumulate into it) but a different object from _ZERO, which
# makes it a visited-marker that costs no extra slot and no set lookup. Every node the pass
# visits then receives at least one ``+=`` and so ends with a new float object.
_VISITED = float("0")


def _topological_order(roots: list[Value]) -> tuple[list[Value], list[tuple[Value, float]]]:
    """Interior nodes reachable from ``roots``, each after all the nodes it depends on.

    Iterative depth-first search with an explicit stack: a node whose parents still need
    ordering is pushed back under a ``None`` marker, which tells us to emit it once they are
    done. Leaves are left out (they pass nothing on to anyone).

    Also returns the nodes that already carry a gradient from an earlier pass: their grad is
    set aside, so that this pass propagates only its own gradient.
    """
    order: list[Value] = []
    carried: list[tuple[Value, float]] = []
    stack: list[Value | None] = [r for r in roots if r._a is not None]
    append, pop, emit = stack.append, stack.pop, order.append
    try:
        while stack:
            v = pop()
            if v is None:  # all parents of the node below the marker are ordered
                emit(pop())
                continue
            grad = v.grad
            if grad is _VISITED:
                continue
            a = v._a
            if a is _FREED:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved values after they have already been freed). Specify "
                    "retain_graph=True if you need to backward through the graph a second time."
                )
            if grad is not _ZERO:
                carried.append((v, grad))
            v.grad = _VISITED
            # Parents still to order are interior nodes not yet visited. If there are any, v
            # goes back on the stack under a marker and is emitted after them; if not (a
            # product of two leaves, say), v is emitted at once.
            b = v._b
            if a._a is not None and a.grad is not _VISITED:
                append(v)
                append(None)
                append(a)
                if b is not None and b._a is not None and b.grad is not _VISITED:
                    append(b)
            elif b is not None and b._a is not None and b.grad is not _VISITED:
                append(v)
                append(None)
                append(b)
            else:
                emit(v)
    except BaseException:  # a freed node, or Ctrl-C: leave no visited-marker behind
        _unmark(roots, carried)
        raise
    return order, carried


def _unmark(roots: list[Value], carried: list[tuple[Value, float]]) -> None:
    """Undo the visited-markers (and set-aside grads) of an ordering that stopped early."""
    stack = [r for r in roots if r.grad is _VISITED]
    while stack:
        v = stack.pop()
        if v.grad is _VISITED:
            v.grad = _ZERO
            stack += [p for p in (v._a, v._b) if p is not None and p.grad is _VISITED]
    for v, grad in carried:
        v.grad = grad


@pausing_gc
def backward(roots: list[Value], seeds: list[float], retain_graph: bool = False) -> None:
    """One reverse pass over the union of the graphs behind ``roots``.

    ``seeds[i]`` is d(output)/d(roots[i]); a root listed twice receives both seeds.

    The cyclic GC stays paused for the whole pass (see ``pausing_gc``): the forward pass
    left it with a backlog of young nodes to walk, and most of those nodes die right here,
    when the pass releases the graph, so the walk is never needed.
    """
    order, carried = _topological_order(roots)
    for root, seed in zip(roots, seeds, strict=True):
        root.grad += seed
    if retain_graph:
        for v in reversed(order):
            g = v.grad
            v._a.grad += v._da * g
            b = v._b
            if b is not None:
                b.grad += v._db * g
    else:
        for v in reversed(order):
            g = v.grad
            v._a.grad += v._da * g
            b = v._b
            if b is not None:
                b.grad += v._db * g
                v._b = None
            v._a = _FREED  # release the parents: the graph can be garbage-collected
    for v, old in carried:  # grads accumulate across passes, as in PyTorch
        v.grad += old
