"""Reductions: ``sum``, ``mean``, ``max`` (all, one dim, several dims, keepdim, negative
dims) and ``argmax``.

``max`` is drawn from :func:`strategies.distinct` arrays: with ties, which element gets the
gradient is a convention (the contract says the first, torch's full ``max()`` shares it),
not a property of the function.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import check


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean_over_all(op: str, data: st.DataObject, keepdim: bool) -> None:
    shape = data.draw(S.shapes(min_dims=0, min_side=0 if op == "sum" else 1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: getattr(a, op)(keepdim=keepdim), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean_over_one_dim(op: str, data: st.DataObject, keepdim: bool) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: getattr(a, op)(dim, keepdim=keepdim), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean_over_dim_tuple(op: str, data: st.DataObject, keepdim: bool) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dims = data.draw(S.dim_tuples(len(shape)), label="dims")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: getattr(a, op)(dim=dims, keepdim=keepdim), x)


@given(data=st.data())
def test_sum_with_empty_dim(data: st.DataObject) -> None:
    """Summing over a dim of size 0 gives zeros; the leaf's gradient is empty."""
    shape = data.draw(S.shapes(min_dims=1, min_side=0), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a.sum(dim), x)


@given(data=st.data(), keepdim=st.booleans())
def test_max_over_all(data: st.DataObject, keepdim: bool) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.distinct(shape), label="x")
    check(lambda E, a: a.max(keepdim=keepdim) * 2.0, x)


@given(data=st.data(), keepdim=st.booleans())
def test_max_over_dim(data: st.DataObject, keepdim: bool) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.distinct(shape), label="x")
    check(lambda E, a: a.max(dim, keepdim=keepdim), x)


@given(data=st.data())
def test_argmax(data: st.DataObject) -> None:
    """``argmax()`` (a flat index) and ``argmax(dim)`` (an int array); no gradient."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.distinct(shape), label="x")
    check(lambda E, a: (a.argmax(), a.argmax(dim), a.sum()), x)


ZERO_DIM_OPS = {
    "sum(0)": lambda E, a: a.sum(0),
    "sum(-1, keepdim)": lambda E, a: a.sum(-1, keepdim=True),
    "mean((0,))": lambda E, a: a.mean((0,)),
    "max(0)": lambda E, a: a.max(0),
    "argmax(0)": lambda E, a: (a.argmax(0), a * 1.0),
    "squeeze(0)": lambda E, a: a.squeeze(0),
    "transpose(0, -1)": lambda E, a: a.transpose(0, -1),
    "softmax(dim=0)": lambda E, a: E.F.softmax(a * 2.0, dim=0),
}


@pytest.mark.parametrize("op", list(ZERO_DIM_OPS))
@given(x=S.arrays(()))
def test_zero_dim_tensor_accepts_dim_0_and_minus_1(op: str, x) -> None:
    """torch treats a 0-d tensor as having one wrappable dim: ``dim`` 0 and -1 are valid
    (``x.sum(0)`` of a 0-d ``x`` is ``x``). Both engines must agree with it and each other."""
    check(ZERO_DIM_OPS[op], x)


@given(data=st.data())
def test_max_ties_along_dim_go_to_first(data: st.DataObject) -> None:
    """With ties, ``max(dim)``'s gradient goes to the first maximal element (torch's CPU
    rule, and the contract's). Rows are built to contain repeated maxima."""
    rows, cols = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 4))
    base = data.draw(S.distinct((rows, cols)), label="base")
    x = np.round(base, 0)  # integers in [-3, 3]: ties are common
    check(lambda E, a: a.max(-1).values * 2.0 + a.max(0, keepdim=True).values.sum(), x)
