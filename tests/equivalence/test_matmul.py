"""Matrix products in every shape torch's ``matmul`` accepts.

The backward rule of ``C = A @ B`` is ``dA = dC @ Bᵀ`` and ``dB = Aᵀ @ dC``; around it sit
three easy-to-break pieces of bookkeeping: promoting a 1-D operand (and removing the added
dim again), broadcasting batch dims, and summing the gradient of a broadcast batch back to
the operand's own batch shape.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import check


@given(data=st.data())
def test_matmul_all_shape_cases(data: st.DataObject) -> None:
    """1-D·1-D, 1-D·n-D, n-D·1-D, 2-D·2-D and batched with broadcast (or empty) batch dims."""
    shape_a, shape_b = data.draw(S.matmul_shapes(), label="shapes")
    a = data.draw(S.arrays(shape_a), label="a")
    b = data.draw(S.arrays(shape_b), label="b")
    check(lambda E, x, y: x @ y, a, b)


@given(data=st.data())
def test_matmul_method_and_composition(data: st.DataObject) -> None:
    """``x.matmul(y)`` equals ``@``; a following nonlinearity makes the upstream non-uniform."""
    shape_a, shape_b = data.draw(S.matmul_shapes(allow_empty_batch=False), label="shapes")
    a = data.draw(S.arrays(shape_a), label="a")
    b = data.draw(S.arrays(shape_b), label="b")
    check(lambda E, x, y: x.matmul(y).tanh().sum(), a, b)


@given(data=st.data())
def test_matmul_same_operand_twice(data: st.DataObject) -> None:
    """``x @ xᵀ``: both gradient contributions land on the same leaf."""
    n = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, 3))
    a = data.draw(S.arrays((n, k)))
    check(lambda E, x: x @ x.transpose(0, 1), a)


@given(data=st.data())
def test_matmul_chain(data: st.DataObject) -> None:
    """``(x @ w1).relu() @ w2``: a two-layer product, as in an MLP."""
    n, k, h, m = (data.draw(st.integers(1, 3)) for _ in range(4))
    x = data.draw(S.arrays((n, k)))
    w1 = data.draw(S.arrays((k, h)))
    w2 = data.draw(S.arrays((h, m)))
    check(lambda E, a, b, c: ((a @ b).tanh() @ c).sum(), x, w1, w2)


@given(data=st.data())
def test_matmul_empty_inner_dim(data: st.DataObject) -> None:
    """An inner dim of 0: the product is all zeros (an empty sum) and the operands' gradients
    are empty; every operand layout (1-D, 2-D, batched) must handle it."""
    n, m = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    batch = data.draw(S.shapes(min_dims=0, max_dims=2), label="batch")
    left = data.draw(st.sampled_from([(0,), (n, 0), (*batch, n, 0)]), label="a shape")
    right = data.draw(st.sampled_from([(0,), (0, m), (*batch, 0, m)]), label="b shape")
    check(lambda E, x, y: x @ y, np.zeros(left), np.zeros(right))
