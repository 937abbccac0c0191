"""Which primitive made a scalar-engine ``Value``: read back from what the node stores,
or recorded exactly while a :func:`naming` block is active.

A ``Value`` has six slots and none of them is an op name (a seventh slot would cost 8 bytes
on every one of the millions of nodes a matmul makes). It does not need one to be drawn:
each primitive stores its local derivative in its own recognisable way, so
:func:`op_name` can tell the operation from ``data``, the parents and the derivatives.

**The rule** (``x`` = the parent's data, ``y`` = the node's data, ``d`` = the stored local
derivative; "is" means the very same float object, "==" equal value):

==========================================  ================================================
what the node stores                        name
==========================================  ================================================
no parent                                   None (a leaf)
two parents, both derivatives ``is`` the    ``+``
engine's shared ``1.0``, ``y == xa + xb``
two parents, anything else                  ``*`` (a product stores its operands' data)
``d is 1.0`` (shared), ``y is x``           ``relu|abs``: the input passed through unchanged
``d is 1.0`` (shared), ``y`` a new float    ``+ c`` (c = y - x, a constant added)
``d is 0.0`` (shared)                       ``relu`` (y == 0, x < 0), ``** 0`` (y == 1),
                                            ``relu|abs`` (x == 0), ``abs`` (NaN), else
                                            ``clamp`` (an input outside its bounds)
``d is y``                                  ``exp`` (e^x is its own derivative)
``y`` and ``d`` recomputed from ``x``       ``tanh``, ``sigmoid``, ``log``, ``log1p``, ``sin``,
                                            ``cos``, ``erf``, ``** c`` (c = d*x/y, checked), and
                                            ``* c`` (y == x * d: a constant factor)
==========================================  ================================================

The recomputation is exact (the same float operations as the engine), so a match is not
a guess. Two cases stay ambiguous because the nodes are *identical*: relu and abs of a
positive number both pass the input through with derivative 1 (so do ``clamp`` inside its
bounds and ``clone``), and abs of a negative number stores exactly what ``x * -1`` stores.
Inputs at special points can match several rules (at x = 0, ``tanh``, ``log1p`` and ``sin``
all give 0 with derivative 1, as does ``x * 1``); then every match is listed,
``tanh|log1p|sin|* 1``: the label never claims more than the node shows. (``x ** 1`` is
always named ``* 1``.)

For exact names, build the graph inside ``with naming() as ops:``: while the block is
active the primitives of ``Value`` and the elementwise primitives of the scalar engine's
``Tensor`` are wrapped so that each new node's name goes into the side table ``ops``
(``ops[v]`` is a string); outside the block nothing is wrapped, so the engine pays nothing.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["op_name", "naming", "OpNames"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _eq(p: float, q: float) -> bool:
    """Equal, counting NaN as equal to NaN (a NaN input gives NaN everywhere)."""
    return p == q or (p != p and q != q)


# ----------------------------------------------------------------------------- inference


def op_name(v: Any) -> str | None:
    """The name of the primitive that made ``v`` (None for a leaf), read from what it stores.

    See the module docstring for the rule; ambiguous nodes get every candidate, joined by
    ``|``. Raises ValueError for a node whose graph ``backward()`` released."""
    from scalar_engine.value import FREED as _FREED
    from scalar_engine.value import ONE as _ONE

    a = v._a
    if a is None:
        return None
    if a is _FREED:
        raise ValueError(freed_message())
    b = v._b
    if b is not None:
        is_sum = v._da is _ONE and v._db is _ONE and _eq(v.data, a.data + b.data)
        return "+" if is_sum else "*"
    return _one_parent_name(a.data, v.data, v._da)


def freed_message() -> str:
    """Why a released graph cannot be drawn, and the two ways out."""
    return ("this graph was freed by backward(), which releases the parents of every node; "
            "call backward(retain_graph=True) to keep it, or draw the graph before backward()")


def _one_parent_name(x: float, y: float, d: float) -> str:
    """The name of a one-parent node from its input ``x``, output ``y``, derivative ``d``."""
    from scalar_engine.value import NIL as _NIL
    from scalar_engine.value import ONE as _ONE

    if d is _ONE:
        return "relu|abs" if y is x else f"+ {_fmt(y - x)}"
    if d is _NIL:
        return _flat_name(x, y)
    if d is y:
        return "exp"
    return "|".join(name for name, test in _recomputed(x, y, d) if test()) or "?"


def _flat_name(x: float, y: float) -> str:
    """A node with the engine's shared 0.0 as derivative: a flat piece of some function."""
    if y != y:
        return "abs"
    if y == 0.0:
        return "relu" if x < 0.0 else "relu|abs" if x == 0.0 else "clamp"
    return "** 0" if y == 1.0 else "clamp"


def _recomputed(x: float, y: float, d: float) -> list[tuple[str, Callable[[], bool]]]:
    """(name, check) for every primitive whose output and derivative can be recomputed."""
    from scalar_engine import floats as se

    c = _power_exponent(x, y, d)
    return [
        ("tanh", lambda: _eq(y, math.tanh(x)) and _eq(d, 1.0 - y * y)),
        ("sigmoid", lambda: _eq(y, se.sigmoid(x)) and _eq(d, y * (1.0 - y))),
        ("log", lambda: x > 0.0 and _eq(y, math.log(x)) and _eq(d, 1.0 / x)),
        ("log1p", lambda: x > -1.0 and _eq(y, math.log1p(x)) and _eq(d, 1.0 / (1.0 + x))),
        ("sin", lambda: _eq(y, se.sin(x)) and _eq(d, se.cos(x))),
        ("cos", lambda: _eq(y, se.cos(x)) and _eq(d, -se.sin(x))),
        ("erf", lambda: _eq(y, math.erf(x)) and _eq(d, se.erf_slope(x))),
        (f"** {_fmt(c)}" if c is not None else "**", lambda: c is not None),
        (f"* {_fmt(d)}", lambda: _eq(y, x * d)),
    ]


def _power_exponent(x: float, y: float, d: float) -> float | None:
    """The exponent c with ``y == x ** c`` and ``d == c * x ** (c - 1)``, or None.

    From the two: c = d * x / y. Rounding can spoil the last bits, so a few nearby simple
    fractions are tried too; a candidate counts only if it reproduces ``y`` and ``d``.
    c = 1 is left to ``* 1``, which stores exactly the same numbers."""
    from scalar_engine.floats import power

    if x == 0.0 or y == 0.0 or not math.isfinite(y) or not math.isfinite(d):
        return None
    estimate = d * x / y
    if not math.isfinite(estimate):
        return None
    for c in (estimate, *(round(estimate * k) / k for k in (1, 2, 3, 4))):
        try:
            if c not in (0.0, 1.0) and _eq(y, power(x, c)) and _eq(d, c * power(x, c - 1.0)):
                return c
        except ValueError:  # a negative base with a fractional candidate
            continue
    return None


# --------------------------------------------------------------------------- naming mode


class OpNames:
    """The side table a :func:`naming` block fills: ``ops[value]`` -> the op's name.

    It holds a reference to each named node (a ``Value`` has no slot for a weak
    reference), so a table keeps its graph alive: drop it when the drawing is done."""

    def __init__(self) -> None:
        self._names: dict[int, tuple[Any, str]] = {}

    def record(self, node: Any, name: str) -> None:
        """Name ``node`` unless an inner primitive already did (the innermost name wins)."""
        self._names.setdefault(id(node), (node, name))

    def get(self, node: Any, default: str | None = None) -> str | None:
        entry = self._names.get(id(node))
        return entry[1] if entry is not None and entry[0] is node else default

    def __getitem__(self, node: Any) -> str:
        name = self.get(node)
        if name is None:
            raise KeyError(node)
        return name

    def __contains__(self, node: object) -> bool:
        return self.get(node) is not None

    def __len__(self) -> int:
        return len(self._names)


# Value-level primitives and the scalar Tensor's elementwise primitives (one node per
# element, all made by the same primitive). Composed ops (-, /, sqrt ...) call these.
VALUE_PRIMITIVES = ("__add__", "__mul__", "__pow__", "exp", "log", "log1p", "tanh", "relu",
                    "sigmoid", "abs", "sin", "cos", "erf")
TENSOR_PRIMITIVES = (*VALUE_PRIMITIVES, "clamp", "clone")  # clip (engine_api) calls clamp
_SYMBOLS = {"__add__": "+", "__mul__": "*", "__pow__": "**", "clip": "clamp"}


def _name_for(method: str, args: tuple) -> str:
    """``"+"`` for Value + Value, ``"+ 2"`` for Value + 2, ``"** 3"``, ``"tanh"`` ..."""
    symbol = _SYMBOLS.get(method, method)
    if method in ("__add__", "__mul__", "__pow__") and args:
        other = args[0]
        if isinstance(other, numbers.Real):
            return f"{symbol} {_fmt(float(other))}"
    return symbol


class _Patches:
    """The wrapped methods, installed while at least one naming block is active."""

    lock = threading.Lock()
    tables: list[OpNames] = []
    originals: dict[tuple[type, str], Any] = {}


def _wrap(cls: type, method: str, nodes_of: Callable[[Any], Iterator[Any]]) -> Any:
    original = cls.__dict__[method]

    def named(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if _Patches.tables and out is not NotImplemented:
            name = _name_for(method, args)
            for node in nodes_of(out):
                for table in _Patches.tables:
                    table.record(node, name)
        return out

    named.__wrapped__ = original
    named.__name__ = original.__name__
    return named


def _value_nodes(out: Any) -> Iterator[Any]:
    if getattr(out, "_a", None) is not None:
        yield out


def _tensor_nodes(out: Any) -> Iterator[Any]:
    for node in getattr(out, "_values", ()):  # an int64 / bool tensor holds plain numbers
        if getattr(node, "_a", None) is not None:
            yield node


def _install() -> None:
    from scalar_engine.tensor import Tensor
    from scalar_engine.value import Value

    for cls, methods, nodes_of in ((Value, VALUE_PRIMITIVES, _value_nodes),
                                   (Tensor, TENSOR_PRIMITIVES, _tensor_nodes)):
        for method in methods:
            if method not in cls.__dict__:  # a primitive this version of the engine lacks
                continue
            _Patches.originals[(cls, method)] = cls.__dict__[method]
            setattr(cls, method, _wrap(cls, method, nodes_of))


def _uninstall() -> None:
    for (cls, method), original in _Patches.originals.items():
        setattr(cls, method, original)
    _Patches.originals.clear()


class naming:
    """``with naming() as ops:`` records the exact op name of every node built inside.

    ::

        with naming() as ops:
            out = (x * w + b).relu()
        draw_graph(out, ops=ops)          # "relu", even where relu and abs look alike
        ops[out]                          # 'relu'

    While at least one block is active, the scalar engine's primitives are wrapped *in the
    whole process* (other threads' nodes get named too: meant for drawing, not for use
    while something else trains); when the last block ends the original methods are back,
    so the engine costs exactly what it did and a ``Value`` stays six slots. Nodes built
    outside the block, or by tensor ops that build their nodes directly (``@``, ``sum``),
    are named by :func:`op_name`'s rule instead.
    """

    def __enter__(self) -> OpNames:
        self.table = OpNames()
        with _Patches.lock:
            if not _Patches.tables:
                _install()
            _Patches.tables.append(self.table)
        return self.table

    def __exit__(self, *exc: object) -> None:
        with _Patches.lock:
            _Patches.tables.remove(self.table)
            if not _Patches.tables:
                _uninstall()
