"""Memory layouts: the engine picks the form of each matrix product, never its values.

``matmul`` asks numpy for ``a @ b`` or for ``(bᵀ @ aᵀ)ᵀ`` depending on the operands' memory
layouts (see ``tensor_engine.kernels.product``), folds a batch of rows into one 2-D product,
and ``assign_`` keeps a parameter's layout. These tests pin the values (against plain numpy),
the gradients (against float64 products), the layouts that make optimizer updates cheap, and
which products numpy is asked for (traced through ``kernels.mm``). No timings.
"""

import importlib
import itertools

import numpy as np
import pytest

import tensor_engine as te
from tensor_engine import fused

K = importlib.import_module("tensor_engine.kernels")


def laid_out(array: np.ndarray, order: str) -> np.ndarray:
    """``array`` with the given memory order of its last two dims ("C" or "F")."""
    if order == "C":
        return np.ascontiguousarray(array)
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(array, -1, -2)), -1, -2)


def traced(fn):
    """(result of fn(), [(left shape, right shape), ...] numpy was asked to multiply)."""
    calls, original = [], K.mm

    def recording(a, b):
        calls.append((a.shape, b.shape))
        return original(a, b)

    K.mm = recording
    try:
        return fn(), calls
    finally:
        K.mm = original


@pytest.mark.parametrize("a_order,b_order", list(itertools.product("CF", "CF")))
@pytest.mark.parametrize("shapes", [((5, 4), (4, 7)), ((7, 4), (4, 5)), ((3, 5, 4), (3, 4, 6)),
                                    ((1, 4), (4, 6)), ((2, 1, 5, 4), (3, 4, 2)),
                                    ((2, 5, 4), (4, 6))])
def test_every_layout_gives_the_same_product_and_gradients(shapes, a_order, b_order):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a_np, b_np = (laid_out(rng.standard_normal(s), o) for s, o in zip(shapes, (a_order, b_order),
                                                                        strict=True))
    a, b = te.tensor(a_np, requires_grad=True, dtype=np.float64), te.tensor(b_np, True, np.float64)
    a._data, b._data = laid_out(a._data, a_order), laid_out(b._data, b_order)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    out, want = a @ b, ta @ tb
    g = rng.standard_normal(want.shape)
    out.backward(g)
    want.backward(torch.tensor(g))
    for got, ref in ((out.numpy(), want.detach()), (a.grad, ta.grad), (b.grad, tb.grad)):
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12, atol=1e-12)


def test_x_times_transposed_weight_streams_the_weight_row_by_row():
    """``x @ W.T`` with a row-major W is asked of numpy as ``W @ xᵀ`` (right operand narrow),
    the form numpy's BLAS runs fastest; the result is the transpose of a C-ordered array."""
    x = te.tensor(np.ones((4, 128)))
    w = te.tensor(np.arange(160 * 128.0).reshape(160, 128))
    out, calls = traced(lambda: x @ w.T)
    assert calls == [((160, 128), (128, 4))]
    assert out.numpy().flags.f_contiguous
    np.testing.assert_array_equal(out.numpy(), np.ones((4, 128)) @ w.numpy().T)


def test_small_products_are_asked_as_written():
    """Below ``kernels.product``'s size threshold layouts cost more to inspect than they save."""
    _, calls = traced(lambda: te.tensor(np.ones((4, 3))) @ te.tensor(np.ones((5, 3))).T)
    assert calls == [((4, 3), (3, 5))]


def test_a_batch_of_rows_times_a_matrix_is_one_2d_product():
    x = te.tensor(np.ones((2, 3, 128)), requires_grad=True)
    w = te.tensor(np.ones((160, 128)), requires_grad=True)
    out, calls = traced(lambda: x @ w.T)
    assert out.shape == (2, 3, 160) and calls == [((160, 128), (128, 6))]
    _, calls = traced(lambda: out.sum().backward())
    assert len(calls) == 2  # dx and dW, each one 2-D product
    np.testing.assert_array_equal(x.grad, np.full((2, 3, 128), 160.0))
    np.testing.assert_array_equal(w.grad, np.full((160, 128), 6.0))


def test_weight_gradients_keep_the_weights_layout():
    """An optimizer computes ``W - lr * W.grad``; mixed layouts would make that slow."""
    rng = np.random.default_rng(1)
    x = te.tensor(rng.standard_normal((6, 4)))
    for order in "CF":
        w = te.tensor(rng.standard_normal((3, 4)), requires_grad=True)
        w._data = np.asarray(w._data, order=order)
        (x @ w.T).sum().backward()
        assert w.grad.numpy().flags[f"{order}_CONTIGUOUS"]
        w.grad = None
        fused.linear(x, w).sum().backward()
        assert w.grad.numpy().flags[f"{order}_CONTIGUOUS"]


@pytest.mark.parametrize("order", "CF")
def test_assign_keeps_the_tensors_layout(order):
    p = te.tensor(np.zeros((3, 4)), requires_grad=True)
    p._data = np.asarray(p._data, order=order)
    for value in (np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(4, 3).T):
        p.assign_(value)
        assert p.numpy().flags[f"{order}_CONTIGUOUS"]
        np.testing.assert_array_equal(p.numpy(), value)


@pytest.mark.parametrize("order", "CF")
def test_assign_without_copy_keeps_only_arrays_it_may_own(order):
    """``assign_(value, copy=False)`` keeps ``value`` itself only when it owns its memory and
    has the tensor's dtype and layout; a view, another dtype or another layout is copied
    (into the tensor's layout), so the tensor never aliases memory it was not handed."""
    p = te.tensor(np.zeros((3, 4), dtype=np.float32), requires_grad=True)
    p._data = np.asarray(p._data, order=order)
    own = np.arange(12, dtype=np.float32).reshape(3, 4).copy(order=order)
    p.assign_(own, copy=False)
    assert p.numpy() is own
    other_order = "F" if order == "C" else "C"
    base = np.arange(24, dtype=np.float32).reshape(3, 8)
    for value in (np.asarray(own + 1, order=other_order), own.astype(np.float64) + 2,
                  base[:, :4], np.ascontiguousarray(np.broadcast_to(own, (3, 4))) + 3):
        before = value.copy()
        p.assign_(value, copy=False)
        if value.base is None and value.dtype == np.float32 and value.flags[
                f"{order}_CONTIGUOUS"]:
            assert p.numpy() is value
            continue
        assert not np.shares_memory(p.numpy(), value)
        assert p.numpy().flags[f"{order}_CONTIGUOUS"] and p.dtype == np.float32
        np.testing.assert_array_equal(p.numpy(), before)
    p.assign_(own)  # the default copies
    assert p.numpy() is not own


@pytest.mark.parametrize("order", "CF")
def test_an_optimizer_step_hands_its_new_values_over(order, monkeypatch):
    """SGD's new values become the parameter's memory with no copy, and keep its layout
    (the engine hands out gradients in their parameter's layout)."""
    from shared_nn.optim import SGD

    rng = np.random.default_rng(0)
    w = te.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    w._data = np.asarray(w._data, order=order)
    old, grad = w.numpy(), rng.standard_normal((5, 3)).astype(np.float32).copy(order=order)
    w.grad = grad
    computed = []
    update = SGD._update
    monkeypatch.setattr(SGD, "_update", lambda *a: computed.append(update(*a)) or computed[-1])
    SGD([w], lr=0.5).step()
    assert w.numpy() is computed[0] and w.numpy().flags[f"{order}_CONTIGUOUS"]
    np.testing.assert_array_equal(w.numpy(), old - np.float32(0.5) * grad)
    assert not np.shares_memory(w.numpy(), grad) and not np.shares_memory(w.numpy(), old)


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_linear_matches_the_composed_layer(x_shape, with_bias):
    rng = np.random.default_rng(2)
    x_np, w_np, b_np = (rng.standard_normal(s) for s in (x_shape, (3, 4), (3,)))
    results = []
    for use_fused in (True, False):
        x, w, b = (te.tensor(a, requires_grad=True, dtype=np.float64)
                   for a in (x_np, w_np, b_np))
        bias = b if with_bias else None
        if use_fused:
            out = fused.linear(x, w, bias)
        else:
            out = x @ w.T + b if with_bias else x @ w.T
        out.backward(np.ones(out.shape))
        results.append((out.numpy(), x.grad, w.grad, b.grad if with_bias else None))
    for got, want in zip(*results, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_fused_linear_is_one_node_and_checks_shapes():
    x = te.tensor(np.ones((2, 4)), requires_grad=True)
    w, b = te.tensor(np.ones((3, 4))), te.tensor(np.ones(3))
    te.reset_nodes_created()
    fused.linear(x, w, b)
    assert te.nodes_created() == 1
    with pytest.raises(ValueError, match="does not fit weight"):
        fused.linear(te.tensor(np.ones((2, 5))), w)
    with pytest.raises(ValueError, match="bias of shape"):
        fused.linear(x, w, te.tensor(np.ones(4)))
    with pytest.raises(TypeError, match="expected a tensor_engine Tensor"):
        fused.linear(np.ones((2, 4)), w)


def test_fused_linear_keeps_float32_and_promotes_like_the_composed_layer():
    x32 = te.tensor(np.ones((2, 4)), dtype=np.float32)
    w32, b64 = te.tensor(np.ones((3, 4)), dtype=np.float32), te.tensor(np.ones(3), dtype=np.float64)
    assert fused.linear(x32, w32).dtype == np.float32
    assert fused.linear(x32, w32, b64).dtype == (x32 @ w32.T + b64).dtype == np.float64


@pytest.mark.parametrize("in_features, out_features, column_major", [
    (3072, 768, True), (40, 10, True), (39, 10, False), (768, 3072, False), (16, 16, False)])
def test_a_narrowing_linear_stores_its_weight_by_columns(in_features, out_features,
                                                         column_major):
    """shared_nn.Linear keeps a weight that narrows 4x or more column by column (the layout
    its backward product runs fastest in) and any other row by row; the values, the output
    and the gradients are the same as with the other layout, and training keeps the layout
    (the gradient comes out in it, so the optimizer's update never mixes layouts)."""
    import shared_nn
    from shared_nn.layers import Linear
    from shared_nn.optim import SGD

    shared_nn.manual_seed(0)
    layer = Linear(in_features, out_features, engine="tensor", dtype="float64")
    w = layer.weight.numpy()
    assert (w.flags.f_contiguous and not w.flags.c_contiguous) == column_major
    shared_nn.manual_seed(0)  # the same draw, stored row by row
    twin = Linear(in_features, out_features, engine="tensor", dtype="float64")
    twin.weight._data = np.ascontiguousarray(twin.weight.numpy())
    np.testing.assert_array_equal(twin.weight.numpy(), w)
    x_np = np.random.default_rng(0).standard_normal((5, in_features))
    outs = []
    for lin in (layer, twin):
        x = te.tensor(x_np, requires_grad=True)
        out = lin(x)
        (out * out).sum().backward()
        outs.append((out.numpy(), x.grad, lin.weight.grad))
    for got, expected in zip(outs[0], outs[1], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert layer.weight.grad.numpy().flags.f_contiguous == column_major
    SGD(layer.parameters(), lr=0.1).step()
    assert (layer.weight.numpy().flags.f_contiguous
            and not layer.weight.numpy().flags.c_contiguous) == column_major
