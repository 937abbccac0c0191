"""scalar_engine.Tensor against PyTorch float64 on hypothesis-drawn shapes and values.

tests/equivalence/ checks every protocol op on both engines; this file checks the scalar
engine's own machinery (broadcast bookkeeping, matmul batching, reduction grouping, the
selection ops that share Values) on random shapes, plus the module-level functions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scalar_engine as se

RTOL, ATOL = 1e-10, 1e-12
values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)


def both(array: np.ndarray) -> tuple[se.Tensor, torch.Tensor]:
    return se.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def assert_same(ours: se.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == tuple(ref.shape)
    np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=RTOL, atol=ATOL)


def backward_both(ours: se.Tensor, ref: torch.Tensor, seed: int = 0) -> None:
    g = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(g)
    ref.backward(torch.tensor(g))


def assert_grads(pairs) -> None:
    for ours, ref in pairs:
        expected = np.zeros(ours.shape) if ref.grad is None else ref.grad.numpy()
        actual = np.zeros(ours.shape) if ours.grad is None else ours.grad
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@st.composite
def broadcast_arrays(draw):
    """Two arrays whose shapes broadcast: derived from one result shape."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(shape)))
        sub = tuple(s if draw(st.booleans()) else 1 for s in shape[drop:])
        shapes.append(sub)
    return tuple(draw(hnp.arrays(np.float64, s, elements=values)) for s in shapes)


@given(broadcast_arrays(), st.sampled_from(["+", "-", "*", "/"]))
def test_broadcast_arithmetic(arrays, op) -> None:
    a_np, b_np = arrays
    if op == "/":
        b_np = np.where(np.abs(b_np) < 0.1, 0.5, b_np)
    (a, at), (b, bt) = both(a_np), both(b_np)
    fn = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}.get(
        op, lambda x, y: x / y
    )
    out, ref = fn(a, b), fn(at, bt)
    assert_same(out, ref)
    backward_both(out, ref)
    assert_grads([(a, at), (b, bt)])


@st.composite
def matmul_operands(draw):
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=2))
    a_shape = batch[draw(st.integers(0, len(batch))) :] + (m, k)
    b_shape = tuple(s if draw(st.booleans()) else 1 for s in batch) + (k, n)
    if draw(st.booleans()):
        a_shape = (k,)
    elif draw(st.booleans()):
        b_shape = (k,)
    return (
        draw(hnp.arrays(np.float64, a_shape, elements=values)),
        draw(hnp.arrays(np.float64, b_shape, elements=values)),
    )


@given(matmul_operands(), st.sampled_from(["both", "left", "right"]))
def test_matmul_shapes_and_gradients(operands, tracked) -> None:
    a_np, b_np = operands
    (a, at), (b, bt) = both(a_np), both(b_np)
    if tracked == "left":
        b, bt = se.tensor(b_np), torch.tensor(b_np)
    elif tracked == "right":
        a, at = se.tensor(a_np), torch.tensor(a_np)
    out, ref = a @ b, at @ bt
    assert_same(out, ref)
    if out.ndim:
        backward_both(out, ref)
    else:
        out.backward()
        ref.backward()
    assert_grads([(t, r) for t, r in ((a, at), (b, bt)) if t.requires_grad])


@st.composite
def reduction_case(draw):
    array = draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
                            elements=values))
    nd = array.ndim
    dims = draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                         unique_by=lambda d: d % nd))
    dim = dims[0] if len(dims) == 1 and draw(st.booleans()) else tuple(dims)
    return array, dim, draw(st.booleans())


@given(reduction_case(), st.sampled_from(["sum", "mean"]))
def test_sum_and_mean_over_dims(case, op) -> None:
    array, dim, keepdim = case
    x, xt = both(array)
    out = getattr(x, op)(dim, keepdim=keepdim)
    ref = getattr(xt, op)(dim, keepdim=keepdim)
    assert_same(out, ref)
    backward_both(out, ref)
    assert_grads([(x, xt)])


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
                  elements=st.integers(-3, 3).map(float)), st.data())
def test_max_and_argmax_with_ties(array, data) -> None:
    dim = data.draw(st.integers(-array.ndim, array.ndim - 1))
    keepdim = data.draw(st.booleans())
    x, xt = both(array)
    ours, theirs = x.max(dim, keepdim=keepdim), xt.max(dim, keepdim=keepdim)
    out, ref = ours.values, theirs.values
    assert_same(out, ref)
    assert ours.indices.dtype == np.int64
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    backward_both(out, ref)
    assert_grads([(x, xt)])
    np.testing.assert_array_equal(x.argmax(dim).numpy(), xt.argmax(dim).numpy())
    assert x.argmax().dtype == np.int64 and x.argmax().item() == int(np.argmax(array))


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=3),
                  elements=values), st.data())
def test_shape_ops_pass_gradients(array, data) -> None:
    x, xt = both(array)
    nd = array.ndim
    perm = data.draw(st.permutations(range(nd)))
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    programs = [
        (lambda t: t.permute(*perm), lambda t: t.permute(*perm)),
        (lambda t: t.transpose(d0, d1), lambda t: t.transpose(d0, d1)),
        (lambda t: t.reshape(-1, array.shape[-1]), lambda t: t.reshape(-1, array.shape[-1])),
        (lambda t: t.unsqueeze(d0).squeeze(), lambda t: t.unsqueeze(d0).squeeze()),
        (lambda t: t[..., None, 0], lambda t: t[..., None, 0]),
        (lambda t: t[1:, ::2], lambda t: t[1:, ::2]),
        (lambda t: t[[0, 0, -1]], lambda t: t[torch.tensor([0, 0, -1])]),
    ]
    for ours_fn, ref_fn in programs:
        out, ref = ours_fn(x) * 1.5, ref_fn(xt) * 1.5
        assert_same(out, ref)
        backward_both(out, ref)
    assert_grads([(x, xt)])


def test_cat_stack_split_where_masked_fill() -> None:
    rng = np.random.default_rng(3)
    a_np, b_np = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    (a, at), (b, bt) = both(a_np), both(b_np)
    mask = np.array([[True, False, True], [False, False, True]])
    outs = [
        se.cat([a, b, a], dim=-1),
        se.stack([a, b], dim=1),
        *a.split([1, 2], dim=1),
        se.where(mask, a, b),
        se.where(mask, a, 0.5),
        a.masked_fill(mask, -1e9),
        b.masked_fill(mask[0], 2.0),
    ]
    maskt = torch.tensor(mask)
    refs = [
        torch.cat([at, bt, at], dim=-1),
        torch.stack([at, bt], dim=1),
        *at.split([1, 2], dim=1),
        torch.where(maskt, at, bt),
        torch.where(maskt, at, 0.5),
        at.masked_fill(maskt, -1e9),
        bt.masked_fill(maskt[0], 2.0),
    ]
    for i, (out, ref) in enumerate(zip(outs, refs, strict=True)):
        assert_same(out, ref)
        backward_both(out * 1.0, ref * 1.0, seed=i)
    assert_grads([(a, at), (b, bt)])


def test_composed_softmax_cross_entropy_matches_torch() -> None:
    rng = np.random.default_rng(5)
    logits_np, targets = rng.standard_normal((4, 5)), np.array([0, 3, 4, 3])
    x, xt = both(logits_np)
    shifted = x - x.max(-1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(-1, keepdim=True).log()
    loss = -log_probs[np.arange(4), targets].mean()
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(targets))
    assert_same(loss, ref)
    loss.backward()
    ref.backward()
    assert_grads([(x, xt)])


def test_data_accessors_and_constructors() -> None:
    t = se.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.dtype == np.float64 and se.Tensor.engine == "scalar" == se.NAME
    assert se.fused is None
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.float64
    ints = se.tensor([[1, 2, 3], [4, 5, 6]])  # int data stays int64, as torch infers it
    assert ints.dtype == np.int64 and ints.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert (ints == t).all().item() is True
    assert se.tensor(2.5).item() == 2.5 and se.tensor(2.5).shape == ()
    assert se.tensor(np.float32(1.5), dtype=np.float32).dtype == np.float64
    np.testing.assert_array_equal(se.zeros((2, 2)).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(se.ones(3, requires_grad=True).numpy(), np.ones(3))
    assert se.ones(3, requires_grad=True).requires_grad
    assert (t > 2).dtype == np.bool_  # comparisons give bool tensors
    assert (t > 2).tolist() == [[False, False, True], [True, True, True]]
    assert (t <= se.tensor([1.0, 5.0, 0.0])).tolist() == [[True, True, False], [False, True, False]]
    assert (t == se.tensor(t.numpy())).all()  # elementwise, as torch's ==
    assert t in {t} and se.tensor(t.numpy()) not in {t}  # but hashed by identity, as torch's
    assert "tensor(" in repr(t) and "requires_grad=True" in repr(se.ones(1, requires_grad=True))
    np.testing.assert_array_equal((np.ones(3) + se.tensor([1.0, 2.0, 3.0])).numpy(), [2, 3, 4])


def test_float32_request_is_computed_in_float64() -> None:
    t = se.tensor([0.1], dtype="float32")
    assert t.item() == 0.1  # not rounded to float32


@pytest.mark.parametrize("exponent", [2, -1, 0.5, 3.0])
def test_power_matches_torch(exponent) -> None:
    data = np.array([0.5, 1.5, 2.0])
    x, xt = both(data)
    out, ref = x**exponent, xt**exponent
    assert_same(out, ref)
    backward_both(out, ref)
    assert_grads([(x, xt)])


def test_numpy_is_a_read_only_copy():
    """The values live in Value nodes, which no array can share: a write into ``numpy()``
    would change nothing, so it is refused instead of ignored (torch's numpy() shares memory,
    and a write there does change the tensor)."""
    t = se.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        t.numpy()[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(t)[0] = 5.0
    copy = np.array(t)
    copy[0] = 5.0  # an explicit copy is the user's to write
    assert t.tolist() == [1.0, 2.0] and copy.tolist() == [5.0, 2.0]
    assert not se.tensor([1, 2]).numpy().flags.writeable
