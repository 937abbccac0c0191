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


# -- the decoding block ---------------------------------------------------------------


def torch_block_step(x, weights, k_past, v_past, n_head, scale, eps):
    """GPT-2's block on one token per row, in torch float64, from the layers' definitions:
    returns the output and this token's keys and values (B, nh, hd)."""
    g1, b1, w_attn, b_attn, w_proj, b_proj, g2, b2, w_fc, b_fc, w_out, b_out = (
        None if w is None else torch.tensor(w) for w in weights)
    x = torch.tensor(x)[:, 0]  # (B, C)
    B, C = x.shape
    qkv = TF.linear(TF.layer_norm(x, (C,), g1, b1, eps), w_attn, b_attn)
    q, k, v = qkv.reshape(B, 3, n_head, 1, C // n_head).unbind(1)  # (B, nh, 1, hd)
    keys = torch.cat([torch.tensor(k_past), k], dim=2)
    values = torch.cat([torch.tensor(v_past), v], dim=2)
    heads = TF.scaled_dot_product_attention(q, keys, values, scale=scale)
    h = x + TF.linear(heads.reshape(B, C), w_proj, b_proj)
    f = TF.gelu(TF.linear(TF.layer_norm(h, (C,), g2, b2, eps), w_fc, b_fc), approximate="tanh")
    out = h + TF.linear(f, w_out, b_out)
    return out[:, None].numpy(), k[:, :, 0].numpy(), v[:, :, 0].numpy()


def block_weights(rng, C, wide, missing=()):
    """The twelve weights of ``fused.decoder_block_step``, random, with the named ones None."""
    shapes = ((C,), (C,), (3 * C, C), (3 * C,), (C, C), (C,), (C,), (C,), (wide, C), (wide,),
              (C, wide), (C,))
    return [None if name in missing else rng.standard_normal(shape) * 0.5
            for name, shape in zip(fused._BLOCK_WEIGHTS, shapes, strict=True)]


@given(batch=st.integers(1, 3), n_head=st.integers(1, 3), head_size=st.integers(1, 4),
       widen=st.integers(1, 4), past=st.integers(0, 5), spare=st.integers(0, 3),
       missing=st.sampled_from([(), ("ln_1.weight", "ln_1.bias"), ("ln_2.bias",),
                                ("attn.c_attn.bias", "mlp.c_proj.bias")]),
       seed=st.integers(0, 2**16))
def test_decoder_block_step_matches_torch(batch, n_head, head_size, widen, past, spare,
                                          missing, seed):
    """Values against torch's layers in float64, for any batch, head count, head size,
    MLP width, cached length and spare capacity, with optional biases and affine weights
    left out; the token's key and value land at ``position`` and nothing else in the
    cache changes."""
    rng = np.random.default_rng(seed)
    C = n_head * head_size
    weights = block_weights(rng, C, widen * C, missing)
    x = rng.standard_normal((batch, 1, C))
    capacity = past + 1 + spare
    k_buf, v_buf = (rng.standard_normal((batch, n_head, capacity, head_size)) for _ in range(2))
    eps, scale = 1e-5, 1.0 / np.sqrt(head_size) * 1.3
    want, k_new, v_new = torch_block_step(x, weights, k_buf[:, :, :past], v_buf[:, :, :past],
                                          n_head, scale, eps)
    k_cache, v_cache = te.tensor(k_buf), te.tensor(v_buf)
    with te.no_grad():
        got = fused.decoder_block_step(
            te.tensor(x), [None if w is None else te.tensor(w) for w in weights],
            k_cache, v_cache, past, n_head, scale, eps)
    assert_close(got.numpy(), want, "block output")
    k_want, v_want = k_buf.copy(), v_buf.copy()
    k_want[:, :, past], v_want[:, :, past] = k_new, v_new
    np.testing.assert_allclose(k_cache.numpy(), k_want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(v_cache.numpy(), v_want, rtol=1e-12, atol=1e-13)
    assert got.is_leaf and not got.requires_grad and got.dtype == np.float64


def test_decoder_block_step_refuses_what_it_cannot_do():
    """Clear errors: a graph it cannot record, shapes that do not fit (naming the weight and
    both shapes), a position past the cache, a cache that needs grad or is read-only."""
    rng = np.random.default_rng(0)
    C, nh = 8, 2
    weights = [te.tensor(w) for w in block_weights(rng, C, 4 * C)]
    x = te.tensor(rng.standard_normal((1, 1, C)))
    f64 = {"dtype": np.float64}
    k, v = te.zeros((1, nh, 4, C // nh), **f64), te.zeros((1, nh, 4, C // nh), **f64)
    step = fused.decoder_block_step
    trained = [te.tensor(w.numpy(), requires_grad=True) for w in weights]
    with pytest.raises(RuntimeError, match="forward only.*no_grad"):
        step(x, trained, k, v, 0, nh)
    with te.no_grad():
        step(x, trained, k, v, 0, nh)  # the same call records nothing under no_grad
        with pytest.raises(ValueError, match=r"one token per row; got \(1, 2, 8\)"):
            step(te.zeros((1, 2, C), **f64), weights, k, v, 0, nh)
        bad = list(weights)
        bad[4] = te.zeros((C, C + 1), **f64)
        with pytest.raises(ValueError, match=r"attn.c_proj.weight is float64 \(8, 9\).*\(8, 8\)"):
            step(x, bad, k, v, 0, nh)
        bad[4] = te.zeros((C, C), dtype=np.float32)
        with pytest.raises(ValueError, match=r"attn.c_proj.weight is float32"):
            step(x, bad, k, v, 0, nh)
        with pytest.raises(ValueError, match="expected 12 weights"):
            step(x, weights[:-1], k, v, 0, nh)
        with pytest.raises(TypeError, match=r"\(attn.c_attn.weight\): expected a tensor_engine"):
            step(x, [*weights[:2], None, *weights[3:]], k, v, 0, nh)
        with pytest.raises(ValueError, match="width 8 does not split into 3 heads"):
            step(x, weights, k, v, 0, 3)
        with pytest.raises(ValueError, match=r"k_cache is float64 \(1, 2, 4, 3\)"):
            step(x, weights, te.zeros((1, nh, 4, 3), **f64), v, 0, nh)
        with pytest.raises(ValueError, match="position 4 is outside k_cache's capacity 4"):
            step(x, weights, k, v, 4, nh)
        with pytest.raises(TypeError, match="position must be an int, got float"):
            step(x, weights, k, v, 1.0, nh)
        with pytest.raises(TypeError, match="n_head must be an int, got bool"):
            step(x, weights, k, v, 0, True)
        with pytest.raises(RuntimeError, match="v_cache must be a writable buffer"):
            step(x, weights, k, te.zeros((1, nh, 4, C // nh), requires_grad=True, **f64), 0, nh)
