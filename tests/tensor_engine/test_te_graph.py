"""Graph semantics of the tensor engine: recording, backward, accumulation, freeing."""

import gc
import weakref

import numpy as np
import pytest
import torch

import tensor_engine as te


def leaf(shape, seed=0, dtype=np.float64):
    data = np.random.default_rng(seed).standard_normal(shape)
    return te.tensor(data, requires_grad=True, dtype=dtype)


def test_rnn_unroll_of_10000_steps_matches_torch():
    """Backward is iterative: a 30,000-node chain must not hit the recursion limit."""
    steps = 10_000
    rng = np.random.default_rng(7)
    w_np, x_np = rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((steps, 4)) * 0.1
    w, xs = te.tensor(w_np, requires_grad=True), te.tensor(x_np)
    wt, xst = torch.tensor(w_np, requires_grad=True), torch.tensor(x_np)
    h, ht = te.zeros(4, dtype=np.float64), torch.zeros(4, dtype=torch.float64)
    for t in range(steps):
        h = (w @ h + xs[t]).tanh()
        ht = (wt @ ht + xst[t]).tanh()
    h.sum().backward()
    ht.sum().backward()
    np.testing.assert_allclose(h.numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_graph_is_freed_after_backward():
    x = leaf((50, 50))
    middle = x * 2.0
    probe = weakref.ref(middle)
    loss = middle.tanh().sum()
    del middle
    assert probe() is not None  # kept alive by the graph
    loss.backward()
    gc.collect()
    assert probe() is None  # released: backward dropped the parents


def test_retain_graph_keeps_it_and_second_backward_without_it_raises():
    x = leaf(3)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, 4 * x.numpy())
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_gradients_accumulate_until_zeroed():
    x = leaf((2, 3))
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 6.0))
    x.grad = None
    assert x.grad is None
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_shared_leaf_grads_add_up_and_do_not_alias():
    a, b = leaf(3, 1), leaf(3, 2)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad += 1.0  # an optimizer mutating one grad must not change the other
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_only_leaves_and_retained_tensors_keep_grad():
    x = leaf(3)
    middle = x.exp()
    kept = middle * 2.0
    kept.retain_grad()
    kept.sum().backward()
    assert middle.grad is None
    np.testing.assert_allclose(kept.grad, np.ones(3))
    np.testing.assert_allclose(x.grad, 2 * np.exp(x.numpy()))
    assert x.is_leaf and not middle.is_leaf


def test_tensors_that_do_not_require_grad_get_no_grad():
    x, c = leaf(3), te.tensor(np.ones(3), dtype=np.float64)
    (x * c).sum().backward()
    assert c.grad is None and c.is_leaf and not c.requires_grad


def test_no_grad_records_nothing():
    x = leaf((2, 2))
    te.reset_nodes_created()
    with te.no_grad():
        assert not te.is_grad_enabled()
        y = (x @ x).tanh().sum()
    assert te.is_grad_enabled()
    assert te.nodes_created() == 0
    assert not y.requires_grad and y.is_leaf and y._parents == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_restores_on_error_and_works_as_decorator():
    with pytest.raises(ZeroDivisionError), te.no_grad():
        raise ZeroDivisionError
    assert te.is_grad_enabled()

    @te.no_grad()
    def double(t):
        return t * 2.0

    assert not double(leaf(2)).requires_grad


def test_nodes_created_counts_one_node_per_op():
    x = leaf((2, 3))
    te.reset_nodes_created()
    ((x @ x.T).relu() + 1.0).sum()
    assert te.nodes_created() == 5  # T, matmul, relu, add, sum


def test_ops_on_constants_do_not_record():
    te.reset_nodes_created()
    c = te.tensor(np.ones(3))
    (c * 2.0 + c).sum()
    assert te.nodes_created() == 0


def test_detach_and_assign():
    x = leaf(3)
    d = x.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.numpy(), x.numpy())
    x.assign_(np.zeros(3))
    np.testing.assert_array_equal(x.numpy(), np.zeros(3))
    assert x.requires_grad and x.dtype == np.float64


def test_backward_with_explicit_grad_for_non_scalar():
    x = leaf((2, 2))
    upstream = np.array([[1.0, 2.0], [3.0, 4.0]])
    (x * 3.0).backward(upstream)
    np.testing.assert_allclose(x.grad, 3.0 * upstream)


def test_requires_grad_is_settable_on_leaves_only():
    x = te.tensor(np.ones(2))
    x.requires_grad = True
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_max_gradient_goes_to_first_maximum():
    x = te.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 0]])


def test_gather_with_repeated_indices_scatter_adds():
    x = leaf((4, 2))
    x[[1, 1, 3, -1]].sum().backward()
    np.testing.assert_array_equal(x.grad[:, 0], [0, 2, 0, 2])


def test_data_accessors():
    x = te.tensor([[1.0, 2.0, 3.0]])
    assert x.shape == (1, 3) and x.ndim == 2 and x.numel() == 3 and len(x) == 1
    assert x.tolist() == [[1.0, 2.0, 3.0]]
    assert x[0, 1].item() == 2.0 and isinstance(x.sum().item(), float)
    assert te.Tensor.engine == "tensor" == te.NAME
    assert te.fused.__name__ == "tensor_engine.fused"
    assert "requires_grad" in repr(leaf(2))
    assert [row.tolist() for row in x] == [[1.0, 2.0, 3.0]]
    with pytest.raises(TypeError, match="0-d"):
        iter(te.tensor(1.0))
    comparisons = [x < 2, x <= 2, x > 2.0, x >= te.tensor([2.0])]
    assert all(c.dtype == np.bool_ for c in comparisons)
    np.testing.assert_array_equal(x > 2.0, [[False, False, True]])


def test_grads_that_share_memory_are_copied_apart():
    a, b = leaf((2, 3), 1), leaf(6, 2)
    (a.reshape(6) + b).sum().backward()  # b gets the upstream array, a a view of it
    b.grad *= 10.0
    np.testing.assert_array_equal(a.grad, np.ones((2, 3)))
    c, d = leaf(2, 3), leaf(3, 4)
    (te.cat([c, d]) * 1.0).sum().backward()  # both get pieces of one array
    assert not np.shares_memory(c.grad, d.grad)


def test_upstream_grad_argument_is_not_kept_by_reference():
    x = leaf(3)
    upstream = np.ones(3)
    (x + 0.0).backward(upstream)
    x.grad *= 5.0
    np.testing.assert_array_equal(upstream, np.ones(3))


def test_weight_of_x_at_w_transposed_gets_a_c_ordered_grad():
    """Optimizers update W against W.grad; a Fortran-ordered grad would slow that down."""
    x, w = leaf((5, 4), 1), leaf((3, 4), 2)
    (x @ w.T).sum().backward()
    assert w.grad.numpy().flags.c_contiguous and x.grad.numpy().flags.c_contiguous
    np.testing.assert_allclose(w.grad, np.ones((5, 3)).T @ x.numpy())


def test_numpy_interop_and_size():
    x = te.tensor([[1.0, 2.0, 3.0]])
    assert x.size() == (1, 3) and x.size(-1) == 3
    np.testing.assert_array_equal(np.asarray(x), [[1.0, 2.0, 3.0]])
    y = np.ones(3, dtype=np.float32) * x  # Tensor.__rmul__, not an object array
    assert isinstance(y, te.Tensor) and y.dtype == np.float32


def test_masks_may_be_bool_int_or_tensor():
    x = te.tensor([1.0, 2.0, 3.0])
    for mask in ([True, False, True], np.array([1, 0, 1]), te.tensor([True, False, True]),
                 te.tensor([1, 0, 1])):
        np.testing.assert_array_equal(x.masked_fill(mask, 0.0).numpy(), [0.0, 2.0, 0.0])
        np.testing.assert_array_equal(te.where(mask, 9.0, x).numpy(), [9.0, 2.0, 9.0])
    for mask in (te.tensor([1.0, 0.0, 1.0]), np.array([1.0, 0.0, 1.0])):  # floats: refused
        with pytest.raises(TypeError, match="bool"):
            x.masked_fill(mask, 0.0)
        with pytest.raises(TypeError, match="bool"):
            te.where(mask, 9.0, x)


def test_ints_index_before_index_arrays_as_in_torch():
    x_np = np.random.default_rng(5).standard_normal((3, 4, 5))
    x, xt = te.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    ids = np.array([4, 0, 4])
    out, want = x[1, :, ids], xt[1, :, torch.tensor(ids)]
    assert out.shape == tuple(want.shape) == (4, 3)
    out.sum().backward()
    want.sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


def test_assign_does_not_change_values_saved_for_backward():
    w = leaf(2)
    saved = w.numpy().copy()
    y = (w * w).sum()
    w.assign_(np.zeros(2))
    y.backward()
    np.testing.assert_allclose(w.grad, 2 * saved)


_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 2.5, -2.5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", "CF")
def test_relu_backward_matches_torch_on_special_values(dtype, order):
    """relu's gradient is torch's ``where(x <= 0, 0, g)`` bit for bit: +0.0 where the input
    is <= 0 whatever the upstream gradient (inf and NaN included: a 0/1 mask product would
    give NaN there), the upstream gradient where the input is positive or NaN."""
    grid_x, grid_g = np.meshgrid(_SPECIAL, _SPECIAL, indexing="ij")
    x_np = np.asarray(grid_x, dtype=dtype, order=order)
    g_np = np.asarray(grid_g, dtype=dtype, order=order)
    x = te.tensor(x_np, requires_grad=True)
    x.relu().backward(g_np)
    xt = torch.from_numpy(x_np.copy()).requires_grad_(True)
    xt.relu().backward(torch.from_numpy(g_np.copy()))
    want = xt.grad.numpy()
    assert x.grad.dtype == want.dtype
    np.testing.assert_array_equal(x.grad, want)
    np.testing.assert_array_equal(np.signbit(x.grad.numpy()), np.signbit(want))
