"""Comparisons and logic give bool tensors, as in PyTorch, and never record a graph.

Proven here on every engine against torch:

* ``== != < <= > >=`` and ``eq ne lt le gt ge`` between tensors of any broadcast shapes
  (float leaves that require grad, int tensors), a tensor and a Python number on either side,
  with NaN, infinities and ties drawn often: torch's bool values, dtype ``bool``,
  ``requires_grad`` False, and no gradient for the leaves compared.
* ``& | ^ ~`` on bool and int tensors (and with a Python bool / int), refused alike on floats;
  ``logical_and / or / xor / not`` on bool, int and float tensors (NaN counts as true).
* ``any`` / ``all`` over everything or one dim, ``keepdim``, empty dims included; ``isnan``,
  ``isinf``, ``isfinite``.
* A comparison as a mask: ``x[x == 0]`` and ``(x > 0) * x`` pass torch's gradient to ``x``.
* Tensors hash by identity: usable in sets and as dict keys; ``t in [t]`` holds.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .torchlike import SELF_CHECK, engines, module, raises_like, run, torch_raises

OPERATORS = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
METHODS = ("eq", "ne", "lt", "le", "gt", "ge")


def special_quarters(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Quarters (ties are likely) with NaN and infinities sprinkled in."""
    return S.sprinkled(S.arrays(shape, S.quarters()))


def ints(shape: tuple[int, ...], lo: int = -3, hi: int = 3) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))


@st.composite
def right_operand(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """A float array (a leaf), an int array or a Python number (float, int or special)."""
    kind = draw(st.sampled_from(["float", "int", "number"]), label="right kind")
    if kind == "float":
        return draw(special_quarters(shape))
    if kind == "int":
        return draw(ints(shape))
    return draw(st.one_of(S.quarters(), st.integers(-3, 3),
                          st.sampled_from([math.nan, math.inf, -math.inf])))


@engines
@pytest.mark.parametrize("op", list(OPERATORS))
@given(data=st.data())
def test_comparison_operators(engine: str, op: str, data: st.DataObject) -> None:
    """``a op b`` and the reflected ``b op a``: torch's bools, no graph."""
    shape_a, shape_b = data.draw(S.broadcast_pair(min_side=0), label="shapes")
    a = data.draw(special_quarters(shape_a), label="a")
    b = data.draw(right_operand(shape_b), label="b")
    got, want = run(lambda T, x, y: (OPERATORS[op](x, y), OPERATORS[op](y, x)), a, b,
                    engine=engine)
    assert [o.dtype for o in want.outputs] == [np.dtype(bool)] * 2


@engines
@pytest.mark.parametrize("name", METHODS)
@given(data=st.data())
def test_comparison_methods(engine: str, name: str, data: st.DataObject) -> None:
    shape_a, shape_b = data.draw(S.broadcast_pair(), label="shapes")
    a = data.draw(st.one_of(special_quarters(shape_a), ints(shape_a)), label="a")
    b = data.draw(right_operand(shape_b), label="b")
    run(lambda T, x, y: getattr(x, name)(y), a, b, engine=engine)


@engines
def test_comparisons_record_no_graph(engine: str) -> None:
    """A comparison of leaves that require grad does not require grad; used as a factor it
    is a constant mask (the gradient is the mask, torch's)."""
    x = np.array([[-1.0, 0.0, 2.0], [0.5, -0.25, 0.0]])
    y = np.array([0.0, 0.0, 1.0])
    run(lambda T, a, b: (a > b, a.eq(b), (a > 0) * a, (a <= b).float() * b), x, y,
        engine=engine)


# --------------------------------------------------------------------------- bitwise

BITWISE = {"&": operator.and_, "|": operator.or_, "^": operator.xor}


@st.composite
def bits(draw: st.DrawFn, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "bool":
        return draw(S.masks(shape))
    return draw(ints(shape, -8, 8))


@engines
@pytest.mark.parametrize("op", list(BITWISE))
@given(data=st.data())
def test_bitwise_operators(engine: str, op: str, data: st.DataObject) -> None:
    """``& | ^`` on bool tensors (bool results), int tensors (int64, bit by bit), a bool and
    an int tensor (int64), and with a Python bool or int on either side."""
    shape_a, shape_b = data.draw(S.broadcast_pair(min_side=0), label="shapes")
    kind_a = data.draw(st.sampled_from(["bool", "int"]), label="kind a")
    kind_b = data.draw(st.sampled_from(["bool", "int"]), label="kind b")
    a = data.draw(bits(shape_a, kind_a), label="a")
    b = data.draw(bits(shape_b, kind_b), label="b")
    number = True if kind_a == "bool" else 5
    f = BITWISE[op]
    run(lambda T, x, y: (f(x, y), f(x, number), f(number, x)), a, b, engine=engine)


@engines
@given(data=st.data())
def test_invert(engine: str, data: st.DataObject) -> None:
    """``~`` is logical not on bools and ``-x - 1`` on ints."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    kind = data.draw(st.sampled_from(["bool", "int"]), label="kind")
    run(lambda T, x: ~x, data.draw(bits(shape, kind), label="x"), engine=engine)


@pytest.mark.parametrize("op", ["&", "|", "^", "~"])
def test_bitwise_on_floats_is_a_type_error(op: str) -> None:
    """torch refuses bit operations on floats; every engine raises the same TypeError."""
    x, y = np.array([1.0, 0.0]), np.array([1.0, 1.0])

    def fn(T: Any, a: Any, b: Any) -> Any:
        return ~a if op == "~" else BITWISE[op](a, b)

    torch_raises(fn, x, y)
    assert raises_like(fn, x, y) is TypeError or SELF_CHECK


# --------------------------------------------------------------------------- logic

LOGICAL = ("logical_and", "logical_or", "logical_xor")


@st.composite
def truthy(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Bool, int or float values (zeros frequent; NaN, which is true, among the floats)."""
    kind = draw(st.sampled_from(["bool", "int", "float"]), label="logic kind")
    if kind == "bool":
        return draw(S.masks(shape))
    if kind == "int":
        return draw(ints(shape, -1, 1))
    return draw(S.sprinkled(S.arrays(shape, st.sampled_from([0.0, 0.5, -2.0]))))


@engines
@pytest.mark.parametrize("name", LOGICAL)
@given(data=st.data())
def test_logical_binary(engine: str, name: str, data: st.DataObject) -> None:
    shape_a, shape_b = data.draw(S.broadcast_pair(min_side=0), label="shapes")
    a = data.draw(truthy(shape_a), label="a")
    b = data.draw(truthy(shape_b), label="b")
    got, want = run(lambda T, x, y: getattr(x, name)(y), a, b, engine=engine)
    assert want.outputs[0].dtype == np.dtype(bool)


@engines
@given(data=st.data())
def test_logical_not(engine: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    run(lambda T, x: x.logical_not(), data.draw(truthy(shape), label="x"), engine=engine)


@engines
@pytest.mark.parametrize("name", ["any", "all"])
@given(data=st.data())
def test_any_all(engine: str, name: str, data: st.DataObject) -> None:
    """Over everything (0-d bool) or along one dim, with or without keepdim; an empty
    reduction is False for ``any`` and True for ``all``."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(truthy(shape), label="x")
    dim = data.draw(st.one_of(st.none(), S.dims(len(shape))), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    if dim is None:
        fn = (lambda T, t: getattr(t, name)()) if not keepdim else \
            (lambda T, t: getattr(t, name)(dim=None, keepdim=True))
    else:
        fn = lambda T, t: getattr(t, name)(dim, keepdim=keepdim)  # noqa: E731
    got, want = run(fn, x, engine=engine)
    assert want.outputs[0].dtype == np.dtype(bool)


@engines
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@given(data=st.data())
def test_special_value_tests(engine: str, name: str, data: st.DataObject) -> None:
    """On floats with NaN and infinities (and their leaves get no gradient), and on ints."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(special_quarters(shape), label="x")
    n = data.draw(ints(shape), label="n")
    run(lambda T, a, i: (getattr(a, name)(), getattr(i, name)()), x, n, engine=engine)


# --------------------------------------------------------------------------- masks

@engines
@given(data=st.data())
def test_comparison_as_a_mask(engine: str, data: st.DataObject) -> None:
    """``x[x == 0]``, ``x[x > 0]`` and ``(x != 0) * x``: values and torch's gradient."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape, S.quarters()), label="x")
    run(lambda T, a: (a[a == 0], a[a > 0] * 3, (a != 0) * a), x, engine=engine)


@engines
def test_tensors_hash_by_identity(engine: str) -> None:
    """Two tensors with equal values are two set members and two dict keys (``==`` is
    elementwise, so hashing by value would be wrong); each finds itself."""
    T = module(engine)
    t = T.tensor([1.0, 2.0])
    u = T.tensor([1.0, 2.0])
    assert len({t, u}) == 2
    table = {t: "t", u: "u"}
    assert table[t] == "t" and table[u] == "u"
    assert t in [t] and t in {t} and u not in {t}
    assert hash(t) == hash(t)
    if engine != "pytorch":  # torch's hash is id(t); the contract's object.__hash__
        assert hash(t) == object.__hash__(t)
