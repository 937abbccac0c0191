"""Fused ops (one node, hand-written backward) against PyTorch float64.

Values and gradients must agree to ``1e-10`` relative (plus a tiny absolute floor scaled
to the array, for entries that cancel to ~0), on hypothesis-drawn shapes and values.
The upstream gradient is random, not ones, so that a rule that forgets a term which
happens to vanish for an all-ones upstream still fails.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensor_engine as te
from tensor_engine import fused

RTOL, ATOL = 1e-10, 1e-12


def assert_close(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale, err_msg=what)


def finite_arrays(shape, bound=5.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound, width=64))


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def run_both(te_fn, torch_fn, arrays, seed=0):
    """Forward and backward (random upstream) on both; returns values and leaf grads."""
    mine = [te.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = te_fn(*mine), torch_fn(*ref)
    upstream = np.random.default_rng(seed).standard_normal(want.shape)
    out.backward(upstream)
    want.backward(torch.tensor(upstream))
    assert_close(out.numpy(), want.detach().numpy(), "value")
    for i, (m, r) in enumerate(zip(mine, ref, strict=True)):
        assert_close(m.grad, r.grad.numpy(), f"grad of input {i}")
    assert out.dtype == np.float64


@given(data=st.data())
def test_softmax(data):
    shape = data.draw(shapes)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(finite_arrays(shape))
    run_both(lambda a: fused.softmax(a, dim), lambda a: torch.softmax(a, dim), [x])


@given(data=st.data())
def test_log_softmax(data):
    shape = data.draw(shapes)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(finite_arrays(shape))
    run_both(lambda a: fused.log_softmax(a, dim), lambda a: torch.log_softmax(a, dim), [x])


def test_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, -1000.0]])
    run_both(lambda a: fused.softmax(a), lambda a: torch.softmax(a, -1), [x])
    run_both(lambda a: fused.log_softmax(a), lambda a: torch.log_softmax(a, -1), [x])


@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy(data, reduction):
    n = data.draw(st.integers(1, 6))
    classes = data.draw(st.integers(1, 5))
    logits = data.draw(finite_arrays((n, classes), bound=20.0))
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    run_both(lambda a: fused.cross_entropy(a, targets, reduction),
             lambda a: TF.cross_entropy(a, torch.tensor(targets), reduction=reduction), [logits])


def test_cross_entropy_accepts_list_targets():
    logits = np.random.default_rng(0).standard_normal((3, 4))
    run_both(lambda a: fused.cross_entropy(a, [3, 0, 0]),
             lambda a: TF.cross_entropy(a, torch.tensor([3, 0, 0])), [logits])


@given(data=st.data(), affine=st.booleans())
def test_layer_norm(data, affine):
    shape = data.draw(shapes.filter(lambda s: s[-1] >= 2))
    x = data.draw(finite_arrays(shape))
    if affine:
        w = data.draw(finite_arrays(shape[-1:]))
        b = data.draw(finite_arrays(shape[-1:]))
        run_both(lambda a, c, d: fused.layer_norm(a, c, d),
                 lambda a, c, d: TF.layer_norm(a, shape[-1:], c, d, 1e-5), [x, w, b])
    else:
        run_both(lambda a: fused.layer_norm(a, eps=1e-3),
                 lambda a: TF.layer_norm(a, shape[-1:], eps=1e-3), [x])


@given(data=st.data(), parts=st.sampled_from(["none", "weight", "both"]),
       rows=st.sampled_from([(), (1,), (1, 1), (3,)]))
def test_layer_norm_without_a_graph(data, parts, rows):
    """Under no_grad the op takes its no-record paths (one row: dot products and Python
    floats; several rows: in place); both must give torch's values."""
    width = data.draw(st.integers(2, 40))
    x, w, b = (data.draw(finite_arrays(s)) for s in (rows + (width,), (width,), (width,)))
    args = {"none": (), "weight": (w,), "both": (w, b)}[parts]
    with te.no_grad():
        got = fused.layer_norm(te.tensor(x), *(te.tensor(a) for a in args), eps=1e-4)
    want = TF.layer_norm(torch.tensor(x), (width,), *map(torch.tensor, args), eps=1e-4)
    assert_close(got.numpy(), want.numpy(), "value")
    assert got.dtype == np.float64 and not got.requires_grad


def test_layer_norm_weight_only_and_frozen_input():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal(4)
    run_both(lambda c: fused.layer_norm(te.tensor(x, dtype=np.float64), c),
             lambda c: TF.layer_norm(torch.tensor(x), (4,), c), [w])


@given(data=st.data())
def test_gelu(data):
    x = data.draw(finite_arrays(data.draw(shapes), bound=8.0))
    run_both(fused.gelu, lambda a: TF.gelu(a, approximate="tanh"), [x])


@pytest.mark.parametrize("op", [
    lambda x: fused.softmax(x), lambda x: fused.log_softmax(x), lambda x: fused.gelu(x),
    lambda x: fused.layer_norm(x), lambda x: fused.cross_entropy(x, [0, 1]),
])
def test_each_fused_op_is_one_node(op):
    x = te.tensor(np.ones((2, 3)), requires_grad=True)
    te.reset_nodes_created()
    op(x)
    assert te.nodes_created() == 1


def test_fused_ops_record_nothing_under_no_grad():
    x = te.tensor(np.ones((2, 3)), requires_grad=True)
    with te.no_grad():
        y = fused.gelu(fused.softmax(x))
    assert not y.requires_grad and y.is_leaf


# -- errors ---------------------------------------------------------------------------


def test_cross_entropy_errors_are_clear():
    logits = te.tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="float64"):
        fused.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 4\)"):
        fused.cross_entropy(logits, [0, 1])
    with pytest.raises(IndexError, match="target 4 .* 4 classes"):
        fused.cross_entropy(logits, [0, 4, 1])
    with pytest.raises(IndexError, match="target -1"):
        fused.cross_entropy(logits, [0, -1, 1])
    with pytest.raises(ValueError, match=r"\(N, C\).*\(12,\)"):
        fused.cross_entropy(logits.reshape(-1), [0])
    with pytest.raises(ValueError, match="reduction"):
        fused.cross_entropy(logits, [0, 1, 2], reduction="avg")


def test_layer_norm_shape_errors_name_shapes():
    x = te.tensor(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"weight of shape \(4,\).*\(2, 5\)"):
        fused.layer_norm(x, te.ones(4))
    with pytest.raises(ValueError, match=r"bias of shape \(5, 1\)"):
        fused.layer_norm(x, te.ones(5), te.zeros((5, 1)))


def test_softmax_dim_out_of_range():
    with pytest.raises(ValueError, match="dim 2"):
        fused.softmax(te.tensor(np.zeros((2, 2))), dim=2)
