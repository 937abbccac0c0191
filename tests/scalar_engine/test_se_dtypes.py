"""The scalar engine's dtypes: what its int64 / bool tensors are made of, how they meet float
ones, and the new primitives (``log1p``, ``cumsum``, ``_scatter_add``) against PyTorch float64.

tests/equivalence/ compares every engine's results with torch; this file pins what only the
scalar engine promises: int/bool tensors hold plain Python numbers (no ``Value``, no graph),
their views do not share in-place writes (a documented difference), float tensors are float64
whatever was asked, ``.grad`` is a Tensor of new leaf Values, and the graph of the new ops.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import scalar_engine as se
from engine_api import errors
from scalar_engine import Value

RTOL = 1e-12


def as_torch(t: se.Tensor, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(t.numpy(), requires_grad=requires_grad)


# -- what int64 and bool tensors hold ---------------------------------------------------------


def test_int_and_bool_tensors_hold_python_numbers_not_values() -> None:
    ints, bools = se.tensor([[1, -2], [3, 4]]), se.tensor([True, False, True])
    assert ints.dtype == np.int64 and bools.dtype == np.bool_
    assert all(type(v) is int for v in ints.values)
    assert all(type(v) is bool for v in bools.values)
    results = [ints + 1, ints * ints, ints.sum(0), ints.cumsum(1), ints.T, ints[ints > 1],
               ints.argmax(1), ints.max(), ints.reshape(-1)[[0, 0]], -ints, ints.abs(),
               ints.clamp(0, 2), ints @ ints, se.cat([ints, ints]), ints.clone(),
               se.zeros(3, dtype="int64"), ints.masked_fill(ints < 0, 7), ints.long()]
    for out in results:
        assert out.dtype == np.int64 and all(type(v) is int for v in out.values), out
        assert not out.requires_grad and out.is_leaf
    for out in (ints > 1, bools & bools, bools | True, ~bools, bools[1:], bools.bool(),
                se.ones(2, dtype=bool), bools + bools, bools * bools, ints.isnan()):
        assert out.dtype == np.bool_ and all(type(v) is bool for v in out.values), out


def test_creating_and_computing_with_ints_makes_no_nodes() -> None:
    se.reset_nodes_created()
    data = np.arange(12).reshape(3, 4)
    ints = se.tensor(data)
    out = ((ints + 2) * ints - 1).sum(1).cumsum(0)
    (ints[:, 1:] @ ints.T[1:]).max(0)
    assert out.tolist() == ((data + 2) * data - 1).sum(1).cumsum(0).tolist()
    assert se.nodes_created() == 0


def test_float_tensors_are_float64_whatever_was_asked() -> None:
    for dtype in (None, "float32", np.float32, torch.float32, float, "double"):
        t = se.tensor([0.1, 2], dtype=dtype)
        assert t.dtype == np.float64 and t.tolist() == [0.1, 2.0]  # 0.1 not rounded
        assert all(isinstance(v, Value) for v in t.values)
    assert (se.tensor([1, 2]) / 2).dtype == np.float64  # torch: the default float32
    assert se.tensor([1, 2]).float().dtype == np.float64


@pytest.mark.parametrize("make", [
    lambda: se.tensor([1, 2], requires_grad=True),
    lambda: se.tensor([1.5], dtype="int64", requires_grad=True),
    lambda: se.zeros(2, requires_grad=True, dtype=bool),
    lambda: se.ones((1,), requires_grad=True, dtype=np.int64),
], ids=["tensor", "dtype", "zeros", "ones"])
def test_int_and_bool_tensors_refuse_to_require_grad(make) -> None:
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        make()


def test_requires_grad_setter_and_grad_setter_refuse_ints() -> None:
    t = se.tensor([1, 2])
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        t.requires_grad = True
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        t.grad = np.ones(2)
    t.requires_grad = False
    t.grad = None
    assert t.grad is None and not t.requires_grad


def test_constructor_casts_to_the_asked_dtype() -> None:
    assert se.tensor([1.9, -1.9, 0.0], dtype="int64").tolist() == [1, -1, 0]  # toward zero
    assert se.tensor([0.5, 0.0, -2.0], dtype=bool).tolist() == [True, False, True]
    assert se.tensor([True, 2]).dtype == np.int64
    assert se.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int64
    assert se.tensor(np.uint8(3)).dtype == np.int64 and se.tensor(True).dtype == np.bool_
    assert se.tensor(se.tensor([1, 2])).dtype == np.int64  # a tensor keeps its dtype
    assert se.zeros((2, 1), dtype="long").tolist() == [[0], [0]]
    assert se.ones(2, dtype=bool).tolist() == [True, True]


def test_repr_names_int_and_bool_dtypes() -> None:
    assert repr(se.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"
    assert repr(se.tensor([True])) == "tensor([ True], dtype=bool)"
    assert repr(se.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"


# -- views of int/bool tensors do not share writes (documented) -------------------------------


def test_in_place_writes_into_int_tensors_change_that_tensor_only() -> None:
    """A list of Python numbers cannot alias: unlike torch (and unlike float tensors here),
    neither the view nor its base sees the other's in-place write."""
    base = se.tensor([[1, 2], [3, 4]])
    row, flat, alias = base[0], base.reshape(-1), base.data
    row[0] = 10
    flat.add_(100)
    alias.fill_(0)
    assert row.tolist() == [10, 2]
    assert flat.tolist() == [101, 102, 103, 104]
    assert alias.tolist() == [[0, 0], [0, 0]]
    assert base.tolist() == [[1, 2], [3, 4]]
    base[1] = se.tensor([7, 8])
    assert base.tolist() == [[1, 2], [7, 8]] and row.tolist() == [10, 2]

    floats = se.tensor([[1.0, 2.0], [3.0, 4.0]])
    view = floats[0]
    view[0] = 10.0  # float views do share memory, as torch's
    assert floats.tolist() == [[10.0, 2.0], [3.0, 4.0]]


def test_in_place_ops_on_ints_keep_the_dtype() -> None:
    t = se.tensor([1, 2, 3])
    t.mul_(2)
    t += se.tensor([True, False, True])
    assert t.tolist() == [3, 4, 7] and t.dtype == np.int64
    for op in (lambda: t.add_(0.5), lambda: t.div_(2), lambda: t.clamp_(0.5)):
        with pytest.raises(RuntimeError, match="can't be cast"):
            op()
    t.fill_(2.7)  # fill, copy and index writes cast, as torch's
    assert t.tolist() == [2, 2, 2]
    t.copy_(se.tensor([1.5, -1.5, 9.9]))
    assert t.tolist() == [1, -1, 9]
    t[t > 0] = 0.5
    assert t.tolist() == [0, -1, 0] and all(type(v) is int for v in t.values)
    flags = se.tensor([True, False])
    with pytest.raises(RuntimeError, match="can't be cast"):
        flags.add_(1)
    flags[1] = 5
    assert flags.tolist() == [True, True]


# -- mixing dtypes ----------------------------------------------------------------------------


def test_a_float_op_with_an_int_tensor_sends_the_gradient_to_the_float_side_only() -> None:
    x = se.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ids = se.tensor([1, 2, 3])
    out = (x * ids + ids / x - ids - x ** 2 + (ids @ x)).sum() + se.where(ids > 1, x, ids).sum()
    out.backward()
    xt = torch.tensor(x.numpy(), requires_grad=True)
    it = torch.tensor([1, 2, 3])
    ref = (xt * it + it / xt - it - xt ** 2 + (it.double() @ xt)).sum()
    ref = ref + torch.where(it > 1, xt, it.double()).sum()
    ref.backward()
    assert math.isclose(out.item(), ref.item(), rel_tol=RTOL)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=RTOL)
    assert ids.grad is None and all(type(v) is int for v in ids.values)


def test_promotion_on_numbers_and_arrays() -> None:
    ints, bools = se.tensor([1, 2]), se.tensor([True, False])
    cases = [
        (ints + 1, np.int64, [2, 3]), (ints * 0.5, np.float64, [0.5, 1.0]),
        (ints / ints, np.float64, [1.0, 1.0]), (7 // 1 - ints, np.int64, [6, 5]),
        (1 / ints, np.float64, [1.0, 0.5]), (bools + 1, np.int64, [2, 1]),
        (bools + True, np.bool_, [True, True]), (bools * bools, np.bool_, [True, False]),
        (ints ** 2, np.int64, [1, 4]), (ints ** 0.5, np.float64, [1.0, math.sqrt(2)]),
        (bools ** 2, np.int64, [1, 0]), (ints + np.array([1, 1]), np.int64, [2, 3]),
        (ints + [1.5, 0], np.float64, [2.5, 2.0]), (np.array([2, 3]) - ints, np.int64, [1, 1]),
        (ints.exp(), np.float64, np.exp([1, 2]).tolist()), (bools.sum(), np.int64, 1),
        (ints / 0, np.float64, [math.inf, math.inf]), (bools.cumsum(0), np.int64, [1, 1]),
        (ints.clamp(max=1.5), np.float64, [1.0, 1.5]), (bools.clamp(0, 1), np.int64, [1, 0]),
        (se.tensor([-3, 3]).relu(), np.int64, [0, 3]), (-ints, np.int64, [-1, -2]),
    ]
    for out, dtype, want in cases:
        assert out.dtype == dtype and out.tolist() == pytest.approx(want, rel=1e-15), out
    with pytest.raises(TypeError, match=re.escape(errors.BOOL_SUB)):
        bools - bools
    with pytest.raises(TypeError, match=re.escape(errors.BOOL_NEG)):
        bools.__neg__()
    with pytest.raises(ValueError, match=errors.NEGATIVE_INT_POWER):
        ints ** -1
    for name in ("mean", "var", "std", "softmax", "log_softmax"):
        with pytest.raises(RuntimeError, match=f"{name}\\(\\): input dtype"):
            getattr(ints, name)(*(() if name in ("mean", "var", "std") else (0,)))


def test_conversions() -> None:
    x = se.tensor([-1.7, 0.0, 2.9, math.nan], requires_grad=True)
    assert x.long().tolist()[:3] == [-1, 0, 2] and x.long().dtype == np.int64
    assert x.bool().tolist() == [True, False, True, True]
    assert x.float() is x and x.double() is x and x.to("float32") is x  # all float64 here
    ints = se.tensor([0, 3])
    assert ints.long() is ints and ints.to(torch.int64) is ints
    as_float = ints.float()
    assert as_float.dtype == np.float64 and not as_float.requires_grad
    assert all(isinstance(v, Value) and v.is_leaf for v in as_float.values)
    assert ints.bool().tolist() == [False, True]
    assert se.tensor([True, False]).to(np.int64).tolist() == [1, 0]
    assert ints.type() == "torch.LongTensor" and x.type() == "torch.DoubleTensor"


def test_cat_where_and_matmul_promote() -> None:
    f, i, b = se.tensor([0.5], requires_grad=True), se.tensor([2]), se.tensor([True])
    joined = se.cat([i, b, i])
    assert joined.dtype == np.int64 and joined.tolist() == [2, 1, 2]
    mixed = se.cat([f, i, b])
    assert mixed.dtype == np.float64 and mixed.tolist() == [0.5, 2.0, 1.0]
    assert mixed.requires_grad
    mixed.sum().backward()
    assert f.grad.tolist() == [1.0]
    assert se.where(se.tensor([True, False]), 1, 0).dtype == np.int64
    assert se.where(se.tensor([True, False]), i, 2.5).tolist() == [2.0, 2.5]
    assert i.where(se.tensor([False]), b).tolist() == [1]
    product = se.tensor([[1, 2], [3, 4]]) @ se.tensor([1, 1])
    assert product.dtype == np.int64 and product.tolist() == [3, 7]
    with pytest.raises(TypeError, match="mask must be a bool"):
        se.where(se.tensor([0.5]), f, f)


def test_indexing_with_int_bool_and_float_tensors() -> None:
    x = se.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    picked = x[se.tensor([1, 1, 0])] * 1.0
    masked = x[se.tensor([[True, False], [False, True]])]
    assert picked.tolist() == [[3.0, 4.0], [3.0, 4.0], [1.0, 2.0]]
    assert masked.tolist() == [1.0, 4.0]
    (picked.sum() + masked.sum()).backward()
    assert x.grad.tolist() == [[2.0, 1.0], [2.0, 3.0]]
    with pytest.raises(IndexError, match="long"):
        x[se.tensor([0.0])]
    ints = se.tensor([5, 6, 7])
    assert ints[se.tensor([2, 0])].tolist() == [7, 5] and ints[ints > 5].tolist() == [6, 7]
    with pytest.raises(TypeError, match="mask must be a bool"):
        ints.masked_fill(se.tensor([1.0, 0.0, 0.0]), 0)
    assert ints.masked_fill(se.tensor([True, False, False]), 1.9).tolist() == [1, 6, 7]


# -- .grad ------------------------------------------------------------------------------------


def test_grad_is_a_tensor_of_new_leaf_values() -> None:
    x = se.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None
    (x * x).sum().backward()
    g = x.grad
    assert isinstance(g, se.Tensor) and g.dtype == np.float64 and g.shape == (2,)
    assert not g.requires_grad and g.tolist() == [2.0, 4.0]
    assert all(v.is_leaf and v not in x.values for v in g.values)
    g[0] = 100.0  # a copy: writing it leaves x's gradient alone
    assert x.grad.tolist() == [2.0, 4.0]
    x.grad = se.tensor([0.5, 0.25])
    assert x.grad.tolist() == [0.5, 0.25]
    x.grad = np.array([1.0, 1.0])
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]
    with pytest.raises(ValueError, match="does not match"):
        x.grad = se.tensor([1.0])
    x.grad = None
    assert x.grad is None
    y = x * 2.0
    y.backward(se.tensor([1.0, -1.0]))  # backward takes a Tensor too
    assert x.grad.tolist() == [2.0, -2.0]


# -- the new primitives -----------------------------------------------------------------------


@pytest.mark.parametrize("x", [1e-20, 1e-8, -0.5, 0.0, 3.0, 1e6, math.inf])
def test_log1p_value_and_gradient(x: float) -> None:
    v = Value(x)
    out = v.log1p()
    (parent, local), = out.parents
    assert parent is v and out.data == math.log1p(x) and local == 1.0 / (1.0 + x)
    out.backward()
    assert v.grad == local
    t = se.tensor([x], requires_grad=True)
    y = t.log1p()
    assert y.values[0].data == out.data and y.values[0].parents[0][1] == local
    y.sum().backward()
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    xt.log1p().sum().backward()
    np.testing.assert_allclose(y.numpy(), xt.detach().log1p().numpy(), rtol=RTOL)
    np.testing.assert_allclose(t.grad.numpy(), xt.grad.numpy(), rtol=RTOL)


def test_log1p_is_precise_for_tiny_values_and_refuses_minus_one() -> None:
    assert se.tensor([1e-18]).log1p().item() == 1e-18  # log(1 + 1e-18) would be 0
    assert se.tensor([0, 1]).log1p().tolist() == [0.0, math.log(2.0)]  # ints: float result
    with pytest.raises(ValueError, match=r"log1p.*-1\.0.*> -1"):
        se.tensor([0.5, -1.0]).log1p()
    with pytest.raises(ValueError, match="-2.5"):
        Value(-2.5).log1p()
    assert math.isnan(Value(math.nan).log1p().data)


@pytest.mark.parametrize(("shape", "dim"), [((5,), 0), ((3, 4), 1), ((3, 4), -2),
                                            ((2, 3, 2), 1), ((), 0), ((0, 3), 1)])
def test_cumsum_matches_torch(shape: tuple[int, ...], dim: int) -> None:
    data = np.random.default_rng(len(shape)).standard_normal(shape)
    x = se.tensor(data, requires_grad=True)
    out = x.cumsum(dim)
    xt = torch.tensor(data, requires_grad=True)
    ref = xt.cumsum(dim)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=RTOL)
    up = np.random.default_rng(7).standard_normal(shape)
    out.backward(up)
    ref.backward(torch.tensor(up))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=RTOL, atol=1e-15)


def test_cumsum_is_a_chain_of_prefix_sums() -> None:
    x = se.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    se.reset_nodes_created()
    out = x.cumsum(1)
    assert se.nodes_created() == 6  # one node per element: a copy of the first, then sums
    first, second, third = out.values[:3]
    assert first.parents == ((x.values[0], 1.0),)
    assert second.parents == ((first, 1.0), (x.values[1], 1.0))
    assert third.parents == ((second, 1.0), (x.values[2], 1.0))
    assert out.tolist() == [[1.0, 3.0, 6.0], [4.0, 9.0, 15.0]]
    with se.no_grad():
        plain = x.cumsum(0)
    assert not plain.requires_grad and all(v.is_leaf for v in plain.values)
    assert se.tensor(5).cumsum(-1).item() == 5 and se.tensor(5).cumsum(0).dtype == np.int64


def _finite_difference(f, data: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(data)
    for i in np.ndindex(data.shape):
        hi, lo = data.copy(), data.copy()
        hi[i] += eps
        lo[i] -= eps
        grad[i] = (f(hi) - f(lo)) / (2 * eps)
    return grad


@pytest.mark.parametrize("which", ["both", "self", "src"])
def test_scatter_add_gradients_match_torch_and_finite_differences(which: str) -> None:
    rng = np.random.default_rng(3)
    base, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    index = np.array([[0, 2, 2, 1], [2, 2, 0, 1]])  # repeated targets accumulate
    weights = rng.standard_normal((3, 4))
    a = se.tensor(base, requires_grad=which != "src")
    s = se.tensor(src, requires_grad=which != "self")
    out = a.scatter_add(0, se.tensor(index), s)
    at = torch.tensor(base, requires_grad=which != "src")
    st = torch.tensor(src, requires_grad=which != "self")
    ref = at.scatter_add(0, torch.tensor(index), st)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=RTOL)
    (out * se.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for ours, theirs in ((a, at), (s, st)):
        if theirs.requires_grad:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=RTOL)
        else:
            assert ours.grad is None

    def loss_of_src(values: np.ndarray) -> float:
        with se.no_grad():
            scattered = se.tensor(base).scatter_add(0, se.tensor(index), se.tensor(values))
        return float((scattered.numpy() * weights).sum())

    if which != "self":
        np.testing.assert_allclose(s.grad.numpy(), _finite_difference(loss_of_src, src),
                                   rtol=1e-6, atol=1e-8)


def test_scatter_add_makes_one_add_node_per_source_element() -> None:
    a = se.tensor([0.0, 0.0, 0.0], requires_grad=True)
    s = se.tensor([1.0, 2.0, 4.0], requires_grad=True)
    se.reset_nodes_created()
    out = a._scatter_add((np.array([2, 0, 2]),), s)
    assert se.nodes_created() == 3 and out.tolist() == [2.0, 0.0, 5.0]
    assert out.values[1] is a.values[1]  # untouched: self's own Value
    assert out.values[2].parents[0][0].parents[0][0] is a.values[2]  # a chain of two sums
    ints = se.tensor([1, 1, 1])._scatter_add((np.array([0, 0]),), se.tensor([5, 6]))
    assert ints.dtype == np.int64 and ints.tolist() == [12, 1, 1]
    promoted = se.tensor([1, 1])._scatter_add((np.array([1]),), se.tensor([0.5]))
    assert promoted.dtype == np.float64 and promoted.tolist() == [1.0, 1.5]


def test_extreme_is_the_primitive_behind_max_and_min() -> None:
    x = se.tensor([[1.0, 5.0], [7.0, -2.0]], requires_grad=True)
    assert "max" not in se.Tensor.__dict__ and "__lt__" not in se.Tensor.__dict__
    assert x._extreme(None, False, "max").item() == 7.0
    assert x._extreme(1, True, "min").tolist() == [[1.0], [-2.0]]
    values, indices = x.min(0)
    assert values.tolist() == [1.0, -2.0] and indices.tolist() == [0, 1]
    ints = se.tensor([[3, 9], [4, 1]])
    assert ints.max().item() == 9 and ints.max(1).values.dtype == np.int64
    assert se.tensor([True, False]).max().item() is True
