"""``Value``: one number in a computation graph, its primitives, and the backward pass.

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
``** c`` (number exponent), ``exp``, ``log``, ``log1p``, ``tanh``, ``relu``, ``sigmoid``,
``abs``, ``sin``, ``cos`` and ``erf`` (and, for ``Tensor``, ``clamp`` and ``clone``'s
identity). Each is one small function below ("the primitives") that makes the node: its
value and its local derivative, written once. The methods of ``Value`` call them one number
at a time; ``Tensor``'s ops map the same functions over all their elements. Everything else
(``-``, ``/``, the reflected operators, ``sqrt`` ...) is composed from them. At the edges
they give PyTorch's answers rather than Python's exceptions: a NaN input gives a NaN output
(local derivative 1 through ``relu``, 0 through ``abs``, as torch), and ``sin``/``cos`` of
an infinity are NaN (see :mod:`scalar_engine.floats`). Values outside a function's domain
(``log`` of 0, ``log1p`` of -1) are a ValueError naming the value, on every engine.

Memory and speed notes (why the code looks the way it does):

* ``__slots__``: a ``Value`` is a fixed 6-slot record, no ``__dict__``.
* The two parents and their local derivatives live in the slots ``_a, _da, _b, _db``
  (``_b`` is None for one-parent nodes, ``_a`` is None for leaves): no tuple, no set per node.
* A product stores its operands' own ``data`` floats as local derivatives, a sum the shared
  constant :data:`ONE`: no new float is allocated for them.
* ``grad`` starts as the shared constant ``_ZERO``; as long as it *is* that object, no
  backward pass has reached the value (that is how ``Tensor.grad`` tells "no grad" from 0).
"""

from __future__ import annotations

import functools
import gc
import math
import numbers
from collections.abc import Callable
from typing import Any

from engine_api import GradMode, errors

from . import floats

__all__ = [
    "Value",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "nodes_created",
    "reset_nodes_created",
    "backward",
    "ONE",
    "NIL",
    "FREED",
]

# -- shared constants: the local derivatives that need no new float, and the freed marker ----

ONE = 1.0
"""The local derivative of a sum towards each operand, and of ``relu``/``abs``/``clamp`` where
they pass their input through: one shared float object, never re-allocated. Graph drawings
recognise these nodes by it (``node._da is ONE``)."""

NIL = 0.0
"""The local derivative of a flat piece (``relu`` below zero, ``clamp`` outside its bounds,
``** 0``, ``abs`` at 0 or NaN): one shared float object, recognised by identity like ONE."""

_MINUS_ONE = -1.0  # local derivative of abs below zero
_ZERO = 0.0  # initial grad; identity with this object means "no backward reached me yet"


class _Freed:
    """Marker stored in ``_a`` of a node whose graph was released by backward()."""

    __slots__ = ()
    _a = None

    def __repr__(self) -> str:
        return "<freed>"


FREED = _Freed()
"""What ``_a`` of a node holds once ``backward()`` released its graph (unless
``retain_graph=True``): the node keeps its data and grad but no longer its parents."""

# -- engine state: grad mode (per thread, engine_api's switch) and the node counter ----------

_grad_mode = GradMode()
recording = _grad_mode.flag
"""This thread's grad-mode flag: ops build a graph while ``recording.enabled`` (an attribute
read, the cheapest check Python has, done once per op)."""
no_grad = _grad_mode.no_grad
enable_grad = _grad_mode.enable_grad
set_grad_enabled = _grad_mode.set_grad_enabled
is_grad_enabled = _grad_mode.is_enabled
_nodes_created = 0


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

    def __init__(self, data: float, a: Any = None, da: Any = None, b: Any = None,
                 db: Any = None) -> None:
        # The public form is ``Value(3.0)`` (a leaf: checked and counted here). With parents
        # and local derivatives it is an interior node, which the engine makes with ``node()``
        # below (the same object, made faster) and counts in bulk.
        if a is None:
            global _nodes_created
            _nodes_created += 1
            data = _to_float(data)
        self.data, self.grad, self._a, self._da, self._b, self._db = data, _ZERO, a, da, b, db

    # -- introspection (for learners and graph drawings) --------------------------------------

    @property
    def parents(self) -> tuple[tuple[Value, float], ...]:
        """The (parent, local derivative) pairs of this node; () for a leaf."""
        if self._a is None or self._a is FREED:
            return ()
        if self._b is None:
            return ((self._a, self._da),)
        return ((self._a, self._da), (self._b, self._db))

    @property
    def is_leaf(self) -> bool:
        return self._a is None

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # -- primitives: each method makes its node with the function of that name below ----------
    # (``abs`` with ``absolute``, ``+``/``*`` with ``add``/``mul`` or their ``_constant`` form)

    def __add__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return _recorded(add(self, other))
        return _recorded(add_constant(self, _number(other, "+")))

    def __mul__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return _recorded(mul(self, other))
        return _recorded(mul_constant(self, _number(other, "*")))

    def __pow__(self, exponent: float) -> Value:
        return _recorded(power(self, _exponent(exponent)))

    # exp, log, log1p, tanh, relu, sigmoid, abs, sin, cos and erf are the primitives of the
    # same name (below: each makes one node with its local derivative), recorded; see
    # _recording.

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
        return self * floats.power(_number(other, "/"), -1.0)

    def __rtruediv__(self, other: float) -> Value:
        return self**-1 * other

    def __rpow__(self, other: object) -> Value:
        raise TypeError(
            f"unsupported exponent: {type(other).__name__} ** Value (the exponent must be a "
            "Python number)"
        )

    def sqrt(self) -> Value:
        if self.data < 0.0:
            raise errors.domain_error("sqrt", self.data, ">= 0")
        return self**0.5

    # -- backward -----------------------------------------------------------------------------

    def backward(self, retain_graph: bool = False) -> None:
        """Fill ``grad`` of every node this value depends on (d self / d node).

        Leaves accumulate (``+=``) across calls, as in PyTorch. Unless ``retain_graph`` is
        true, the graph is released afterwards and a second call raises ``RuntimeError``.
        """
        backward([self], [1.0], retain_graph)


_new_object = object.__new__


def node(data: float, a: Value, da: float, b: Value | None = None,
         db: float | None = None) -> Value:
    """A new interior node: its ``data``, its parent ``a`` (and ``b``) and the local
    derivative towards each; ``grad`` starts at zero. The object ``Value(data, a, da, b, db)``
    gives, made without ``__init__``: calling a class that defines ``__init__`` is a slow way
    for Python to create an object, and the engine creates one per number per op."""
    v = _new_object(Value)
    v.data = data
    v.grad = _ZERO
    v._a = a
    v._da = da
    v._b = b
    v._db = db
    return v


def _recorded(made: Value) -> Value:
    """A node made by a ``Value`` method: counted, and cut from its parents (a leaf) under
    ``no_grad``."""
    global _nodes_created
    _nodes_created += 1
    if not recording.enabled:
        made._a = made._da = made._b = made._db = None
    return made


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


# -- the primitives: each makes one node, its value and its local derivative(s) ---------------
#
# A primitive takes its parent node(s) (and numbers, for a constant operand) and returns the
# new node; it neither counts the node nor looks at grad mode: ``Value``'s methods do that
# per node (``_recorded``), ``Tensor``'s ops once per tensor. Python's ``math`` is the fast
# path; where it raises, ``floats`` gives PyTorch's answer (an infinity, NaN).


def add(x: Value, y: Value) -> Value:
    """x + y; the local derivatives are 1 and 1 (the shared ONE)."""
    return node(x.data + y.data, x, ONE, y, ONE)


def add_constant(x: Value, c: float) -> Value:
    """x + c for a number c; d/dx = 1. (No edge towards a constant: nothing to send it.)"""
    return node(x.data + c, x, ONE)


def mul(x: Value, y: Value) -> Value:
    """x * y; d/dx = y and d/dy = x: the operands' own data floats, stored as they are."""
    return node(x.data * y.data, x, y.data, y, x.data)


def mul_constant(x: Value, c: float) -> Value:
    """x * c for a number c; d/dx = c."""
    return node(x.data * c, x, c)


def power(x: Value, c: float) -> Value:
    """x ** c for a number c; d/dx = c * x ** (c - 1), and NIL for c = 0 (x ** 0 is 1)."""
    d = x.data
    if c == 0.0:
        return node(1.0, x, NIL)
    if d >= 0.0 or c.is_integer():  # else Python's ** gives a complex number: floats refuses
        try:
            return node(d**c, x, c * d ** (c - 1.0))
        except ArithmeticError:  # 0 ** negative, an overflow
            pass
    return node(floats.power(d, c), x, c * floats.power(d, c - 1.0))


def exp(x: Value) -> Value:
    """e ** x; d/dx = e ** x, so the output float is also the local derivative."""
    try:
        y = math.exp(x.data)
    except OverflowError:
        y = math.inf
    return node(y, x, y)


def log(x: Value) -> Value:
    """The natural log, for x > 0 (NaN passes through); d/dx = 1 / x."""
    d = x.data
    if d <= 0.0:
        raise errors.domain_error("log", d, "> 0")
    return node(math.log(d), x, 1.0 / d)


def log1p(x: Value) -> Value:
    """log(1 + x), for x > -1 (NaN passes through); d/dx = 1 / (1 + x). ``math.log1p`` keeps
    the digits a tiny x would lose in ``1 + x`` (log1p(1e-20) is 1e-20, log(1 + 1e-20) 0)."""
    d = x.data
    if d <= -1.0:
        raise errors.domain_error("log1p", d, "> -1")
    return node(math.log1p(d), x, 1.0 / (1.0 + d))


def tanh(x: Value) -> Value:
    """tanh(x); d/dx = 1 - tanh(x) ** 2, from the output (no second tanh)."""
    y = math.tanh(x.data)
    return node(y, x, 1.0 - y * y)


def relu(x: Value) -> Value:
    """max(x, 0); d/dx = 1 above 0, else 0. NaN passes through with its gradient (torch)."""
    d = x.data
    if d <= 0.0:
        return node(0.0, x, NIL)
    return node(d, x, ONE)  # the input's own float: no new one


def sigmoid(x: Value) -> Value:
    """1 / (1 + e ** -x); d/dx = s * (1 - s), from the output s."""
    s = floats.sigmoid(x.data)
    return node(s, x, s * (1.0 - s))


def absolute(x: Value) -> Value:
    """|x|; d/dx = sign(x), 0 at 0 (torch's subgradient) and at NaN."""
    d = x.data
    if d > 0.0:
        return node(d, x, ONE)
    if d < 0.0:
        return node(-d, x, _MINUS_ONE)
    return node(abs(d), x, NIL)  # 0 or NaN


def sin(x: Value) -> Value:
    """sin(x); d/dx = cos(x). NaN (value and derivative) for an infinity."""
    d = x.data
    try:
        return node(math.sin(d), x, math.cos(d))
    except ValueError:
        return node(floats.sin(d), x, floats.cos(d))


def cos(x: Value) -> Value:
    """cos(x); d/dx = -sin(x). NaN (value and derivative) for an infinity."""
    d = x.data
    try:
        return node(math.cos(d), x, -math.sin(d))
    except ValueError:
        return node(floats.cos(d), x, -floats.sin(d))


def erf(x: Value) -> Value:
    """The error function; d/dx = 2/sqrt(pi) * e ** (-x^2)."""
    d = x.data
    return node(math.erf(d), x, floats.erf_slope(d))


def clamp(x: Value, lo: float, hi: float) -> Value:
    """x limited to [lo, hi] (a missing bound is an infinity); d/dx = 1 inside the bounds
    (bounds included), 0 outside. NaN stays NaN with derivative 0, as in torch."""
    d = x.data
    if lo <= d <= hi:
        return node(d, x, ONE)
    y = lo if d < lo or lo != lo else d  # torch's min(max(x, lo), hi): a NaN propagates,
    if y > hi or hi != hi:  # from x or from a bound, and lo > hi gives hi
        y = hi
    return node(y, x, NIL)


def identity(x: Value) -> Value:
    """A new node with x's value; d/dx = 1 (``clone``'s node)."""
    return node(x.data, x, ONE)


def _recording(primitive: Callable[[Value], Value], name: str) -> Callable[[Value], Value]:
    """``Value.name``: the primitive applied to this one number, recorded."""

    def method(self: Value) -> Value:
        return _recorded(primitive(self))

    method.__name__ = name
    method.__qualname__ = f"Value.{name}"
    method.__doc__ = primitive.__doc__
    return method


for _name, _primitive in (("exp", exp), ("log", log), ("log1p", log1p), ("tanh", tanh),
                          ("relu", relu),
                          ("sigmoid", sigmoid), ("abs", absolute), ("sin", sin), ("cos", cos),
                          ("erf", erf)):
    setattr(Value, _name, _recording(_primitive, _name))


# -- the cyclic garbage collector -------------------------------------------------------------


def pausing_gc(op: Callable) -> Callable:
    """Decorator: run ``op`` with Python's cyclic garbage collector paused.

    Building a graph allocates one GC-tracked object per node, and every few hundred of them
    the collector walks the young objects, and from time to time *every* object in the
    process (many, once PyTorch is imported). That walking cost more than the graph building
    itself. The nodes need no cycle collector (each one only refers to older nodes, so
    reference counting frees them), so the ops that create nodes in bulk pause it.
    """

    @functools.wraps(op)
    def run(*args: Any, **kwargs: Any) -> Any:
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
            if a is FREED:
                raise RuntimeError(errors.BACKWARD_TWICE)
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
    parents = [(v._a, v._b) for v in order] if retain_graph else None
    for v in reversed(order):
        g = v.grad
        v._a.grad += v._da * g
        b = v._b
        if b is not None:
            b.grad += v._db * g
            v._b = None
        v._a = FREED  # release the parents: the graph can be garbage-collected
    if parents is not None:  # retain_graph: the graph stays for another pass
        for v, (a, b) in zip(order, parents, strict=True):
            v._a, v._b = a, b
    for v, old in carried:  # grads accumulate across passes, as in PyTorch
        v.grad += old
