"""Elementwise functions, each on the domain where its derivative is well defined."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import check

DOMAINS = {
    "exp": S.bounded,
    "log": S.positive,
    "tanh": S.general,
    "relu": S.away_from_zero,  # the derivative jumps at 0
    "sigmoid": S.bounded,
    "sqrt": S.positive,
}


@pytest.mark.parametrize("op", list(DOMAINS))
@given(data=st.data())
def test_elementwise(op: str, data: st.DataObject) -> None:
    """``x.op()`` on any small shape, empty dims included."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(S.arrays(shape, DOMAINS[op]()), label="x")
    check(lambda E, a: getattr(a, op)(), x)


@pytest.mark.parametrize("op", list(DOMAINS))
@given(data=st.data())
def test_elementwise_composed(op: str, data: st.DataObject) -> None:
    """``(op(x) * x).sum()``: the op's output feeds a product, so its local derivative is
    multiplied by a non-trivial upstream gradient."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape, DOMAINS[op]()), label="x")
    check(lambda E, a: (getattr(a, op)() * a).sum(), x)
