"""Arithmetic: ``+ - * /`` (both operand orders), unary ``-``, ``** number``, broadcasting.

Broadcasting is where reverse mode is easiest to get wrong: the gradient flowing into a
stretched operand must be summed back down to the operand's own shape. Every binary test
therefore draws a *pair* of broadcast-compatible shapes (size-1 dims, missing leading dims,
and sometimes an empty dim).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import check

BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}


@pytest.mark.parametrize("op", list(BINARY))
@given(data=st.data())
def test_binary_tensor_tensor_broadcasting(op: str, data: st.DataObject) -> None:
    """``x op y`` for broadcast-compatible shapes (dims of size 0 included)."""
    shape_x, shape_y = data.draw(S.broadcast_pair(min_side=0), label="shapes")
    x = data.draw(S.arrays(shape_x), label="x")
    y = data.draw(S.arrays(shape_y, S.away_from_zero() if op == "div" else None), label="y")
    f = BINARY[op]
    check(lambda E, a, b: f(a, b), x, y)


@pytest.mark.parametrize("op", list(BINARY))
@given(data=st.data())
def test_binary_with_python_number_both_orders(op: str, data: st.DataObject) -> None:
    """``x op c`` and ``c op x`` for a Python float ``c`` (the reflected methods)."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    elements = S.away_from_zero() if op == "div" else S.general()
    x = data.draw(S.arrays(shape, elements), label="x")
    c = data.draw(S.away_from_zero(), label="c")
    f = BINARY[op]
    check(lambda E, a: f(a, c) * 1.5 + f(c, a), x)


@given(data=st.data())
def test_neg(data: st.DataObject) -> None:
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0, min_side=0))))
    check(lambda E, a: -a, x)


@given(data=st.data(), exponent=st.sampled_from([2, 3, -1, 0.5, -0.5, 1.5, 0, 1, 2.5]))
def test_pow_number(data: st.DataObject, exponent: float) -> None:
    """``x ** c`` for integer and fractional exponents (positive base for fractional ones)."""
    shape = data.draw(S.shapes(min_dims=0))
    elements = S.positive() if exponent != int(exponent) or exponent < 0 else S.general()
    x = data.draw(S.arrays(shape, elements))
    check(lambda E, a: a**exponent, x)


@given(data=st.data())
def test_same_tensor_on_both_sides(data: st.DataObject) -> None:
    """``x * x + x / (x*x + 1) - x``: one leaf with several consumers, grads must add."""
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0))))
    check(lambda E, a: a * a + a / (a * a + 1.0) - a, x)


@given(data=st.data())
def test_constant_tensor_operand(data: st.DataObject) -> None:
    """A tensor that does not require grad mixes with one that does (only one gets grad)."""
    shape_x, shape_y = data.draw(S.broadcast_pair())
    x = data.draw(S.arrays(shape_x))
    y = data.draw(S.arrays(shape_y))
    check(lambda E, a: a * E.tensor(y) + E.tensor(y) / 2.0, x)


@given(data=st.data())
def test_numpy_scalar_operand(data: st.DataObject) -> None:
    """numpy scalars on the right behave as Python numbers (the contract converts them)."""
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0))))
    c = np.float64(data.draw(S.away_from_zero()))
    check(lambda E, a: a * c + a / c - (a + c), x)


@given(data=st.data())
def test_numpy_scalar_on_the_left(data: st.DataObject) -> None:
    """``np.float64(c) * x`` must give an engine tensor, not a numpy object array.

    numpy's scalar operators try first; a tensor class must make numpy step aside
    (``__array_ufunc__ = None`` or a high ``__array_priority__``) for the reflected method
    to run.
    """
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0))))
    c = np.float64(data.draw(S.away_from_zero()))
    check(lambda E, a: c * a + (c - a) + c / (a * a + 1.0), x)
