"""Graph semantics of scalar_engine: node counts, freeing, no_grad, accumulation, one pass."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import scalar_engine as se

value_module = sys.modules["scalar_engine.value"]


def leaf(shape, seed=0) -> se.Tensor:
    return se.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# -- node counting ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_square_matmul_creates_n2_times_2n_minus_1_nodes(n: int) -> None:
    """Each of the n*n outputs is n products and n - 1 sums: n^2 (2n - 1) nodes."""
    a, b = leaf((n, n), 1), leaf((n, n), 2)
    se.reset_nodes_created()
    a @ b
    assert se.nodes_created() == n * n * (2 * n - 1)


@pytest.mark.parametrize(
    ("batch", "m", "k", "n"), [((), 2, 3, 4), ((3,), 1, 5, 2), ((2, 2), 3, 1, 3)]
)
def test_matmul_node_count_formula(batch, m, k, n) -> None:
    a, b = leaf(batch + (m, k)), leaf((k, n))
    se.reset_nodes_created()
    a @ b
    batches = int(np.prod(batch))
    assert se.nodes_created() == batches * m * n * (2 * k - 1)


def test_node_counts_of_other_ops() -> None:
    x = leaf((4, 5))
    counts = {}
    for name, op in {
        "elementwise": lambda: x.tanh(),
        "times number": lambda: x * 2.0,
        "broadcast add": lambda: x + leaf((5,)),
        "sum all": lambda: x.sum(),
        "sum dim": lambda: x.sum(0),
        "mean": lambda: x.mean(1),
        "selection": lambda: x.T[1:, [0, 0]].reshape(-1).max(),
        "sub": lambda: x - x,
    }.items():
        se.reset_nodes_created()
        op()
        counts[name] = se.nodes_created()
    assert counts == {
        "elementwise": 20,
        "times number": 20,  # the number is a constant: one node per element, no leaf
        "broadcast add": 20 + 5,  # 5 leaves for the bias, 20 sums
        "sum all": 19,
        "sum dim": 5 * 3,
        "mean": 4 * 4 + 4,  # 4 sums of 5, then one product each
        "selection": 0,  # shape ops and max pick existing Values
        "sub": 20 + 20,  # x + (x * -1)
    }


def test_no_grad_creates_only_result_leaves() -> None:
    a, b = leaf((3, 3)), leaf((3, 3))
    se.reset_nodes_created()
    with se.no_grad():
        c = a @ b
    assert se.nodes_created() == 9
    assert all(v.is_leaf for v in c.values)


# -- backward: iterative, one pass, frees the graph -------------------------------------------


def test_backward_through_a_million_node_chain() -> None:
    """sum() of a million elements is a chain 999,999 sums deep; backward is iterative."""
    limit = sys.getrecursionlimit()
    x = se.ones(1_000_000, requires_grad=True)
    total = x.sum()
    assert total.item() == 1_000_000.0
    total.backward()
    assert sys.getrecursionlimit() == limit
    grad = x.grad
    assert grad.shape == (1_000_000,) and np.all(grad.numpy() == 1.0)


def test_tensor_backward_is_one_pass_over_the_union_graph(monkeypatch) -> None:
    calls = []
    original = value_module._topological_order

    def counting(roots):
        calls.append(len(roots))
        return original(roots)

    monkeypatch.setattr(value_module, "_topological_order", counting)
    x = leaf((4, 3))
    y = (x * x).tanh()
    g = np.arange(12.0).reshape(4, 3)
    y.backward(g)
    assert calls == [12]
    xt = torch.tensor(x.numpy(), requires_grad=True)
    (xt * xt).tanh().backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_second_backward_raises_unless_graph_retained() -> None:
    x = leaf((3,))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy())  # the failed call changed nothing

    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + 4 * x.numpy())


def test_freed_intermediate_cannot_be_reused() -> None:
    x = leaf((3,))
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2.0).sum().backward()


def test_failed_backward_leaves_live_nodes_usable() -> None:
    """A pass that stops at a freed node must not leave visited-markers on live nodes."""
    x = leaf((3,))
    y = x * x  # a live graph
    z = x.exp()
    z.sum().backward()  # frees z's graph
    x.grad = None
    with pytest.raises(RuntimeError, match="retain_graph"):
        (z + y).sum().backward()  # visits y's nodes, then meets a freed one
    (y * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 6.0 * x.numpy(), rtol=1e-14)


def test_backward_releases_parents() -> None:
    x = leaf((2, 2))
    y = (x @ x).sum()
    root = y.values[0]
    assert root.parents
    y.backward()
    assert root.parents == ()


def test_retained_graph_matches_torch_twice() -> None:
    data = np.array([0.5, -1.0, 2.0])
    x = se.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    y, yt = (x * x).sum(), (xt * xt).sum()
    for _ in range(2):
        y.backward(retain_graph=True)
        yt.backward(retain_graph=True)
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-14)


# -- gradients: accumulation, zeroing, retain_grad, leaves ------------------------------------


def test_grad_is_none_before_backward_and_after_zeroing() -> None:
    x = leaf((2, 3))
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 3.0))
    assert x.grad.dtype == np.float64
    x.grad = None
    assert x.grad is None
    assert all(v.grad == 0.0 for v in x.values)
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_gradients_accumulate_across_backward_calls() -> None:
    x = leaf((3,))
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * 2 * x.numpy(), rtol=1e-14)


def test_retain_grad_of_an_intermediate_matches_torch() -> None:
    data = np.array([[0.3, -0.7], [1.1, 0.2]])
    x = se.tensor(data, requires_grad=True)
    h = x.tanh()
    h.retain_grad()
    loss = (h * h * 3.0).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    xt = torch.tensor(data, requires_grad=True)
    ht = xt.tanh()
    ht.retain_grad()
    lt = (ht * ht * 3.0).sum()
    lt.backward(retain_graph=True)
    lt.backward()
    np.testing.assert_allclose(h.grad, ht.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-13)


def test_non_leaf_grad_is_none_and_constants_get_nothing() -> None:
    x = leaf((3,))
    c = se.tensor([1.0, 2.0, 3.0])
    h = x * c
    h.sum().backward()
    assert h.grad is None and not h.is_leaf and x.is_leaf
    assert c.grad is None
    assert all(v.grad is value_module._ZERO for v in c.values)  # never touched
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_gather_with_repeated_indices_scatter_adds() -> None:
    x = leaf((3, 2))
    picked = x[[0, 2, 0, 0]]
    picked.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(x.grad, [[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]])


def test_max_sends_gradient_to_the_first_maximal_element() -> None:
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = se.tensor(data, requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    assert indices.dtype == np.int64 and indices.tolist() == [1, 0]
    xt = torch.tensor(data, requires_grad=True)
    xt.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])


# -- no_grad, detach, assign_ -----------------------------------------------------------------


def test_no_grad_records_nothing() -> None:
    x = leaf((2, 2))
    assert se.is_grad_enabled()
    with se.no_grad():
        assert not se.is_grad_enabled()
        y = (x @ x).exp().sum() + x.max()
        with se.no_grad():
            pass
        assert not se.is_grad_enabled()
    assert se.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert all(not v.parents for v in y.values)
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_restores_state_after_an_exception_and_works_as_decorator() -> None:
    with pytest.raises(ValueError), se.no_grad():
        raise ValueError("boom")
    assert se.is_grad_enabled()

    @se.no_grad()
    def infer(t: se.Tensor) -> se.Tensor:
        return t * 2.0

    @se.no_grad  # without parentheses too, and nested calls restore the right state
    def outer(t: se.Tensor) -> tuple[se.Tensor, bool]:
        return infer(t), se.is_grad_enabled()

    result, enabled_inside = outer(leaf((2,)))
    assert not result.requires_grad and not enabled_inside
    assert se.is_grad_enabled()


def test_detach_shares_no_graph() -> None:
    x = leaf((2,))
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    assert all(v.is_leaf for v in d.values)
    np.testing.assert_array_equal(d.numpy(), 2 * x.numpy())


def test_assign_overwrites_values_outside_the_graph() -> None:
    x = leaf((2,))
    before = x.numpy()
    y = (x * x).sum()
    x.assign_(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(x.numpy(), [10.0, 20.0])
    y.backward()  # the recorded local derivatives are those of the old values
    np.testing.assert_allclose(x.grad, 2 * before)


def test_requires_grad_can_only_change_on_leaves() -> None:
    x = se.tensor([1.0, 2.0])
    x.requires_grad = True
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


# -- internals worth pinning down -------------------------------------------------------------


def test_topological_order_puts_every_node_after_its_parents() -> None:
    """A random DAG with shared subexpressions and leaves used many times."""
    rng = np.random.default_rng(11)
    nodes = [se.Value(float(x)) for x in rng.standard_normal(5)]
    for _ in range(300):
        i, j = rng.integers(0, len(nodes), size=2)
        a, b = nodes[i], nodes[j]
        nodes.append([a + b, a * b, a.tanh(), (a * a + 1.0).log()][rng.integers(0, 4)])
    root = nodes[-1]
    for v in nodes[-40:-1]:
        root = root + v
    order, carried = value_module._topological_order([root])
    position = {id(v): i for i, v in enumerate(order)}
    assert len(position) == len(order) and not carried
    assert order[-1] is root
    for v in order:
        for parent, _ in v.parents:
            if not parent.is_leaf:
                assert position[id(parent)] < position[id(v)]
    for v in order:  # leave the graph as it was
        v.grad = value_module._ZERO


def test_ops_pause_and_restore_the_cyclic_gc() -> None:
    import gc

    x = leaf((3, 3))
    assert gc.isenabled()
    (x @ x).tanh().sum()
    assert gc.isenabled()
    gc.disable()
    try:
        (x @ x).sum()
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
