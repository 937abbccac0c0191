"""The tensor engine's primitives of the dtype contract: cumsum, log1p, _scatter_add, _to,
_new, indexing by bool and int64 tensors, masked_fill and where on every dtype, and ``.grad``
as a Tensor that wraps the gradient's own array.

Gradients are checked against PyTorch in float64 with a random upstream gradient (an
all-ones upstream would let a rule that forgets a flip or a transpose pass).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensor_engine as te

RTOL, ATOL = 1e-10, 1e-12


def both(fn, *arrays, seed=0):
    """``fn`` on float64 leaves of the engine and of torch, backpropagating one random
    upstream; returns (ours, torch's): the values and each leaf's gradient."""
    mine = [te.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = fn(mine), fn(ref)
    upstream = np.random.default_rng(seed).standard_normal(tuple(want.shape))
    out.backward(upstream)
    want.backward(torch.tensor(upstream))
    return ([out.numpy()] + [m.grad.numpy() for m in mine],
            [want.detach().numpy()] + [r.grad.numpy() for r in ref])


def assert_same(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL * max(1.0, np.abs(w).max(
            initial=0.0)))


# -- cumsum ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_cumsum_values_and_gradient_match_torch(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert_same(*both(lambda t: t[0].cumsum(dim), x))


def test_cumsum_of_a_0d_tensor_and_of_ints():
    assert_same(*both(lambda t: t[0].cumsum(0), np.array(2.5)))
    assert_same(*both(lambda t: t[0].cumsum(-1), np.array(2.5)))
    with pytest.raises(ValueError, match="dim"):
        te.tensor(2.0).cumsum(1)
    i = te.tensor([[1, 2], [3, 4]])
    assert i.cumsum(0).dtype == np.int64 and i.cumsum(0).tolist() == [[1, 2], [4, 6]]
    b = te.tensor([True, False, True])
    assert b.cumsum(0).dtype == np.int64 and b.cumsum(-1).tolist() == [1, 1, 2]
    assert te.tensor([1.0, 2.0]).cumsum(0).dtype == np.float32


# -- log1p -------------------------------------------------------------------------------


def test_log1p_matches_torch_and_is_precise_for_tiny_x():
    x = np.array([-0.9, -1e-12, 0.0, 1e-300, 3e-8, 2.0, 1e6])
    assert_same(*both(lambda t: t[0].log1p(), x))
    tiny = te.tensor([1e-10], dtype=np.float64).log1p().item()
    assert tiny == pytest.approx(1e-10, rel=1e-15)  # log(1 + 1e-10) would lose 7 digits
    assert te.tensor([1e-10]).log1p().item() == pytest.approx(1e-10, rel=1e-6)  # float32 too


def test_log1p_domain_and_nan():
    with pytest.raises(ValueError, match=r"log1p.*-1\.0.*> -1"):
        te.tensor([0.5, -1.0]).log1p()
    with pytest.raises(ValueError, match=r"log1p.*-2\.0"):
        te.tensor([-2.0]).log1p()
    assert np.isnan(te.tensor([np.nan]).log1p().item())


# -- scatter_add (the _scatter_add primitive) -----------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_gradients_match_torch_with_repeated_indices(dim):
    rng = np.random.default_rng(3)
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    index = np.array([[0, 0, 2, 1], [2, 0, 0, 0], [1, 1, 1, 2]])
    ids_te, ids_torch = te.tensor(index), torch.tensor(index)
    got, want = both(lambda t: t[0].scatter_add(dim, ids_te if isinstance(t[0], te.Tensor)
                                                else ids_torch, t[1]), x, src)
    assert_same(got, want)


def test_scatter_add_primitive_accumulates_and_promotes():
    x = te.tensor([1.0, 2.0, 3.0], requires_grad=True)
    src = te.tensor([10.0, 20.0, 30.0], requires_grad=True, dtype=np.float64)
    positions = (np.array([0, 0, 2]),)
    out = x._scatter_add(positions, src)
    assert out.dtype == np.float64 and out.tolist() == [31.0, 2.0, 33.0]
    out.backward(np.array([1.0, 2.0, 3.0]))
    assert x.grad.tolist() == [1.0, 2.0, 3.0] and src.grad.tolist() == [1.0, 1.0, 3.0]
    assert x.grad.dtype == np.float32 and src.grad.dtype == np.float64
    i = te.tensor([0, 0, 0])
    assert i._scatter_add(positions, te.tensor([1, 2, 3])).tolist() == [3, 0, 3]
    assert i._scatter_add(positions, te.tensor([1, 2, 3])).dtype == np.int64
    assert i.tolist() == [0, 0, 0]  # a copy
    with pytest.raises(TypeError, match="got tensor and scalar"):

        class Other:
            engine = "scalar"

        i._scatter_add(positions, Other())


# -- _to and _new ---------------------------------------------------------------------------


def test_to_and_new():
    x = te.tensor([1.5, -2.5], requires_grad=True)
    assert x._to(None, None) is x and x._to(np.dtype(np.float32), "cpu") is x
    y = x._to(np.dtype(np.float64), None)
    assert y.requires_grad and not y.is_leaf
    i = x._to(np.dtype(np.int64), None)
    assert i.tolist() == [1, -2] and i.is_leaf and not i.requires_grad
    with pytest.raises(TypeError, match="cuda"):
        x._to(None, "cuda")
    values = np.array([1, 2], dtype=np.int64)
    kept = x._new(values)
    assert kept.numpy() is values and not kept.requires_grad
    assert x._new(np.array([1, 2], dtype=np.int32)).dtype == np.int64
    assert x._new(np.array([True])).dtype == np.bool_


# -- .grad ----------------------------------------------------------------------------------


def test_grad_is_a_tensor_wrapping_the_gradient_without_a_copy():
    x = te.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None
    (x * 3.0).sum().backward()
    first, second = x.grad, x.grad
    assert isinstance(first, te.Tensor) and first.dtype == np.float32 and first.shape == (2,)
    assert not first.requires_grad and first.is_leaf
    assert first.numpy() is second.numpy() is x._grad  # each read wraps the same array
    assert np.asarray(first) is x._grad and np.asarray(first, dtype=np.float32) is x._grad
    assert np.asarray(first, dtype=np.float64).dtype == np.float64
    assert np.array(first, copy=True) is not x._grad


def test_a_grad_read_earlier_sees_later_accumulations():
    x = te.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    before = x.grad
    (x * x).sum().backward()
    assert before.tolist() == [5.0, 7.0] == x.grad.tolist()
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    (xt * 3.0).sum().backward()
    before_t = xt.grad
    (xt * xt).sum().backward()
    assert before_t.tolist() == [5.0, 7.0]  # torch accumulates in place too


def test_in_place_accumulation_never_writes_into_a_pending_gradient():
    """A leaf may keep a gradient array that another node's gradient shares (``a + c``
    hands ``g`` to both); a second gradient reaching that leaf in the same pass must not
    be added into it."""
    def program(t, E):
        a = t[0]
        c = (a * 2.0).exp()
        s = (a + c) * 3.0  # the add passes one fresh array to a and to c
        return (s * a.tanh()).sum() + (a * 5.0).sum()

    got, want = both(lambda t: program(t, te if isinstance(t[0], te.Tensor) else torch),
                     np.array([0.1, -0.3, 0.7]))
    assert_same(got, want)


def test_a_0d_leaf_accumulates_three_contributions():
    """numpy gives a scalar, not an array, for the sum of two 0-d arrays: the gradient must
    stay an array that later contributions are added into."""
    def program(t):
        a = t[0]
        T = te if isinstance(a, te.Tensor) else torch
        u = [T.tensor(np.array(v)) for v in (0.3, 0.5, [0.7])]
        return ((a.reshape(()) * 2 * u[0]).sum() + (a * u[1]).sum()
                + (a.reshape(-1) * u[2]).sum())

    got, want = both(program, np.array(0.25))
    assert_same(got, want)


def test_grad_setter_takes_none_tensors_and_arrays():
    x = te.tensor([1.0, 2.0], requires_grad=True)
    g = te.tensor([0.5, 0.5])
    x.grad = g
    assert x.grad.numpy() is g.numpy()  # shared, as torch shares an assigned tensor
    (x * 2.0).sum().backward()
    assert g.tolist() == [2.5, 2.5]
    x.grad = np.zeros(2, dtype=np.float64)
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [0.0, 0.0]
    x.grad = [1, 2]
    assert x.grad.tolist() == [1.0, 2.0]
    x.grad = np.broadcast_to(np.float32(1.0), (2,))  # read-only: copied, then added into
    (x * 1.0).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        x.grad = np.zeros(3)
    x.grad = None
    assert x.grad is None


def test_backward_takes_a_tensor_or_array_grad():
    x = te.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).backward(te.tensor([1.0, 10.0]))
    (x * 2.0).backward([1, 1])
    assert x.grad.tolist() == [4.0, 22.0]


def test_optimizer_style_update_through_grad():
    w = te.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.grad += 1.0  # in place into the gradient's array, then assigned back
    assert w.grad.tolist() == [3.0, 5.0]
    with te.no_grad():
        w -= 0.5 * w.grad
    assert w.tolist() == [-0.5, -0.5]


# -- indexing -------------------------------------------------------------------------------


INDEXES = {
    "bool mask": lambda T, m, i: m,
    "int64 ids": lambda T, m, i: i,
    "row mask then int": lambda T, m, i: (m[:, 0], 1),
    "int then row mask": lambda T, m, i: (1, m[0]),
    "2-d mask then int": lambda T, m, i: (m, 2),
    "ids and slice": lambda T, m, i: (slice(None), i),
    "ids twice": lambda T, m, i: (i, i),
    "mask with ellipsis": lambda T, m, i: (Ellipsis, m[0, :3]),
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_tensor_indices_match_torch(name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 3))
    mask = rng.random((3, 4)) > 0.4
    ids = np.array([2, 0, 2])

    def run(t):
        T = te if isinstance(t[0], te.Tensor) else torch
        m, i = T.tensor(mask), T.tensor(ids)
        return t[0][INDEXES[name](T, m, i)]

    got, want = both(run, x)
    assert_same(got, want)


def test_float_indices_are_refused():
    x = te.tensor([1.0, 2.0])
    for index in (te.tensor([0.0]), np.array([1.0]), [0.5], (slice(None), te.tensor([1.0]))):
        with pytest.raises(IndexError, match="long"):
            x[index] if not isinstance(index, tuple) else te.tensor([[1.0]])[index]
    with pytest.raises(IndexError, match="long"):
        x[te.tensor([0.0])] = 1.0
    assert x[[]].shape == (0,) and x[te.tensor([True, False])].tolist() == [1.0]


def test_int_and_bool_tensors_index_and_are_indexed():
    i = te.tensor([[5, 6], [7, 8]])
    assert i[te.tensor([1, 0])].tolist() == [[7, 8], [5, 6]]
    assert i[i > 6].tolist() == [7, 8] and i[1, 0].item() == 7
    b = te.tensor([True, False, True])
    assert b[te.tensor([2])].tolist() == [True] and b[b].tolist() == [True, True]
    i[te.tensor([[True, False], [False, True]])] = 0
    assert i.tolist() == [[0, 6], [7, 0]]
    i[te.tensor([0])] = 3.9  # cast to the tensor's dtype, as torch's masked_fill does
    assert i.tolist() == [[3, 3], [7, 0]] and i.dtype == np.int64


@pytest.mark.parametrize("kind", ["mask", "ids"])
def test_setitem_by_tensor_on_a_tensor_that_requires_grad(kind):
    rng = np.random.default_rng(2)
    x, v = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def run(t):
        T = te if isinstance(t[0], te.Tensor) else torch
        index = T.tensor([True, False, True, False]) if kind == "mask" else T.tensor([3, 1])
        y = t[0] * 1.0
        y[index] = t[1]  # the gradient reaches v, and x where it was not overwritten
        return y * y

    got, want = both(run, x, v)
    assert_same(got, want)


def test_setitem_by_tensor_without_grad_writes_in_place():
    x = te.tensor([[1.0, 2.0], [3.0, 4.0]])
    memory = x.numpy()
    x[te.tensor([True, False])] = te.tensor([9.0, 8.0])
    x[x > 8.5] = 0
    assert x.numpy() is memory and x.tolist() == [[0.0, 8.0], [3.0, 4.0]]


# -- masked_fill and where on every dtype -----------------------------------------------


def test_masked_fill_on_int_and_bool_tensors():
    i, b = te.tensor([1, 2, 3]), te.tensor([True, False, True])
    mask = te.tensor([True, False, False])
    assert i.masked_fill(mask, 3.7).tolist() == [3, 2, 3]
    assert i.masked_fill(mask, 0).dtype == np.int64
    assert b.masked_fill(mask, 0).tolist() == [False, False, True]
    assert b.masked_fill(mask, 0).dtype == np.bool_
    assert te.tensor([1.0, 2.0]).masked_fill(te.tensor([False, True]), te.tensor(5.0)).tolist() == [
        1.0, 5.0]
    with pytest.raises(TypeError, match="bool"):
        i.masked_fill(te.tensor([1.0, 0.0, 0.0]), 0)
    with pytest.raises(TypeError, match="bool"):
        te.where(te.tensor([0.5]), 1.0, 0.0)


# -- fused ops take the new dtypes where torch does -------------------------------------


def test_fused_ops_take_int64_targets_and_bool_masks():
    rng = np.random.default_rng(4)
    logits = te.tensor(rng.standard_normal((3, 4)))
    from_list = te.fused.cross_entropy(logits, [0, 3, 1]).item()
    assert te.fused.cross_entropy(logits, te.tensor([0, 3, 1])).item() == from_list
    with pytest.raises(TypeError, match="integers"):
        te.fused.cross_entropy(logits, te.tensor([0.0, 3.0, 1.0]))
    q = te.tensor(rng.standard_normal((2, 3, 4)))
    mask = np.tril(np.ones((3, 3), dtype=bool))
    sdpa = te.fused.scaled_dot_product_attention
    np.testing.assert_array_equal(sdpa(q, q, q, te.tensor(mask)).numpy(),
                                  sdpa(q, q, q, mask).numpy())
