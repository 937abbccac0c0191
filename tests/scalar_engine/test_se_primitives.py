"""Each primitive is written once (``scalar_engine.value``): a ``Value`` method and the
``Tensor`` op of the same name build the very same node, value and local derivative, down to
the shared constants that graph drawings recognise by identity."""

from __future__ import annotations

import math

import pytest

import scalar_engine as se
from scalar_engine import Value, floats
from scalar_engine.value import NIL, ONE

INF, NAN = math.inf, math.nan
POINTS = [-2.5, -1.0, -0.0, 0.0, 0.3, 1.0, 4.0, 800.0, -800.0, INF, -INF, NAN]

UNARY = {
    "exp": lambda x: x.exp(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
    "sigmoid": lambda x: x.sigmoid(),
    "abs": lambda x: x.abs(),
    "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(),
    "erf": lambda x: x.erf(),
    "** 2": lambda x: x**2,
    "** 3": lambda x: x**3,
    "** -1": lambda x: x**-1,
    "** 0": lambda x: x**0,
    "+ 1.5": lambda x: x + 1.5,
    "* -3": lambda x: x * -3.0,
}
CLAMPS = [(-1.0, 1.0), (2.0, 1.0), (NAN, 1.0), (-1.0, NAN), (-INF, 0.5)]


def same(p: float, q: float) -> bool:
    return p == q or (p != p and q != q)


def node_of(result: object) -> Value:
    return result.values[0] if isinstance(result, se.Tensor) else result


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("x", POINTS, ids=repr)
def test_value_and_tensor_build_the_same_node(name: str, x: float) -> None:
    op = UNARY[name]
    by_value = node_of(op(Value(x)))
    by_tensor = node_of(op(se.tensor([x], requires_grad=True)))
    (_, d_value), = by_value.parents
    (_, d_tensor), = by_tensor.parents
    assert same(by_value.data, by_tensor.data) and same(d_value, d_tensor)
    assert (d_value is ONE) == (d_tensor is ONE) and (d_value is NIL) == (d_tensor is NIL)


@pytest.mark.parametrize("x", [v for v in POINTS if v == v and v > 0.0], ids=repr)
def test_log_log1p_and_sqrt_build_the_same_node(x: float) -> None:
    for op in (lambda t: t.log(), lambda t: t.log1p(), lambda t: t.sqrt()):
        by_value = op(Value(x))
        by_tensor = node_of(op(se.tensor([x], requires_grad=True)))
        assert same(by_value.data, by_tensor.data)
        assert same(by_value.parents[0][1], by_tensor.parents[0][1])


@pytest.mark.parametrize("bounds", CLAMPS, ids=repr)
def test_clamp_gives_torchs_answers(bounds: tuple[float, float]) -> None:
    import torch

    lo, hi = bounds
    points = [v for v in POINTS if v == v]
    got = se.tensor(points).clamp(lo, hi).numpy()
    want = torch.clamp(torch.tensor(points, dtype=torch.float64), lo, hi).numpy()
    assert all(same(g, w) for g, w in zip(got.tolist(), want.tolist(), strict=True))


def test_products_and_sums_store_the_operands_floats_and_the_shared_one() -> None:
    a, b = se.tensor([2.0], requires_grad=True), se.tensor([-3.0], requires_grad=True)
    (product,), (total,) = (a * b).values, (a + b).values
    assert [d for _, d in product.parents] == [-3.0, 2.0]
    assert product.parents[0][1] is b.values[0].data
    assert all(d is ONE for _, d in total.parents)


def test_outside_grad_mode_a_primitive_gives_a_counted_leaf() -> None:
    x = se.tensor([0.5, -1.0], requires_grad=True)
    se.reset_nodes_created()
    with se.no_grad():
        y = x.tanh()
        v = Value(0.5).tanh()
    assert se.nodes_created() == 4  # two tanh results, the leaf Value(0.5) and its tanh
    assert all(node.parents == () for node in (*y.values, v))
    assert [node.data for node in y.values] == [math.tanh(0.5), math.tanh(-1.0)]


def test_floats_give_torchs_answers_at_the_edges() -> None:
    assert floats.power(0.0, -1.0) == INF and floats.power(-1e200, 3.0) == -INF
    assert math.isnan(floats.sin(INF)) and math.isnan(floats.cos(-INF))
    assert floats.sigmoid(-1000.0) == 0.0 and floats.erf_slope(1000.0) == 0.0
    with pytest.raises(ValueError, match="negative base"):
        floats.power(-2.0, 0.5)
