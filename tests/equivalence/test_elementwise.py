"""Elementwise functions, each on the domain where its derivative is well defined."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import WITH_FUSED, check

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


SPECIAL = {
    # name: (function, input) at the edges of each op's range
    "exp overflow and underflow": (lambda E, a: a.exp(), [700.0, -800.0, 0.0]),
    "tanh saturated": (lambda E, a: a.tanh(), [30.0, -30.0, 1e-8]),
    "sigmoid saturated": (lambda E, a: a.sigmoid(), [800.0, -800.0, 40.0]),
    "relu at 0 (gradient 0)": (lambda E, a: a.relu(), [0.0, 1.0, -1.0]),
    "sqrt at 0 (infinite gradient)": (lambda E, a: a.sqrt(), [0.0, 4.0]),
    "x ** 0.5 at 0": (lambda E, a: a**0.5, [0.0, 2.25]),
    "x ** 3 at 0 and below": (lambda E, a: a**3, [0.0, -1.5]),
    "x ** -2 below 0": (lambda E, a: a**-2, [-1.5, 2.0]),
    "x ** 0 everywhere": (lambda E, a: a**0, [0.0, -2.0, 3.0]),
    "divide by 0.0 (inf)": (lambda E, a: a / 0.0, [1.0, -1.0]),
    "log_softmax with -inf": (
        lambda E, a: E.F.log_softmax(a.masked_fill(np.array([False, True, False]), float("-inf")),
                                     dim=-1),
        [1.0, 2.0, 3.0],
    ),
    "softmax of huge logits": (lambda E, a: E.F.softmax(a, dim=-1), [1000.0, 0.0, -1000.0]),
    "cross_entropy of huge logits": (lambda E, a: E.F.cross_entropy(a.reshape(1, 3), [2]),
                                     [1000.0, 0.0, -1000.0]),
    "layer_norm of a constant row": (lambda E, a: E.F.layer_norm(a, 3), [2.0, 2.0, 2.0]),
    "gelu far out": (lambda E, a: E.F.gelu(a), [50.0, -50.0, 0.0]),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy says "divide by zero": expected
@pytest.mark.parametrize("case", list(SPECIAL))
def test_special_values(case: str) -> None:
    """Overflow, saturation, kinks and infinities: same values (infinities included) and the
    same gradients as torch, fused and composed."""
    fn, values = SPECIAL[case]
    check(fn, np.array(values, dtype=np.float64), backends=WITH_FUSED)
