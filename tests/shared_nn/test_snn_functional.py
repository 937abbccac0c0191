"""shared_nn.functional against torch.nn.functional in float64, fused and composed, on both
engines: values and gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from snn_testutil import ENGINES, assert_close, to_torch

import shared_nn
from shared_nn import functional as F

FUSION = pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])


def check(fn, torch_fn, *arrays, engine="tensor", fused=True, **kwargs):
    """Apply ``fn`` and ``torch_fn`` to the same float64 inputs; compare the value and, after
    backpropagating a fixed upstream gradient, every input's gradient."""
    ours_in = [shared_nn.tensor(a, requires_grad=True, dtype="float64", engine=engine)
               for a in arrays]
    theirs_in = [to_torch(a, requires_grad=True) for a in arrays]
    with F.fused(fused):
        ours = fn(*ours_in, **kwargs)
    theirs = torch_fn(*theirs_in, **kwargs)
    assert_close(ours.numpy(), theirs.detach().numpy(), what="value")
    g = np.random.default_rng(0).normal(size=tuple(theirs.shape))
    (ours * shared_nn.tensor(g, dtype="float64", engine=engine)).sum().backward()
    (theirs * to_torch(g)).sum().backward()
    for i, (o, t) in enumerate(zip(ours_in, theirs_in, strict=True)):
        assert_close(o.grad, t.grad.numpy(), what=f"grad of input {i}")


def arrays(min_dims=1, max_dims=3, max_side=5, scale=10.0):
    return hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side),
        elements=st.floats(-scale, scale, allow_nan=False, allow_infinity=False),
    )


@FUSION
@given(x=arrays(), data=st.data())
def test_softmax_and_log_softmax(fused, x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    check(F.softmax, TF.softmax, x, fused=fused, dim=dim)
    check(F.log_softmax, TF.log_softmax, x, fused=fused, dim=dim)


@FUSION
def test_softmax_is_stable_for_huge_logits(fused):
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -2000.0]])
    check(F.softmax, TF.softmax, x, fused=fused, dim=-1)
    check(F.log_softmax, TF.log_softmax, x, fused=fused, dim=-1)


@FUSION
@given(x=arrays(min_dims=1, max_dims=3), scale=st.floats(0.1, 5))
def test_gelu(fused, x, scale):
    check(lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh"),
          x * scale, fused=fused)


@FUSION
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    seed=st.integers(0, 2**31),
    affine=st.booleans(),
)
def test_layer_norm(fused, shape, seed, affine):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 3 + 2
    dim = shape[-1]
    if affine:
        w, b = rng.normal(size=dim), rng.normal(size=dim)
        check(lambda x, w, b: F.layer_norm(x, dim, w, b, eps=1e-5),
              lambda x, w, b: TF.layer_norm(x, (dim,), w, b, eps=1e-5), x, w, b, fused=fused)
    else:
        check(lambda x: F.layer_norm(x, (dim,)), lambda x: TF.layer_norm(x, (dim,)), x,
              fused=fused)


def class_problem(seed, rows, classes):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, classes)) * 3, rng.integers(0, classes, size=rows)


@FUSION
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), classes=st.integers(1, 6))
def test_cross_entropy_and_nll(fused, reduction, seed, rows, classes):
    logits, labels = class_problem(seed, rows, classes)
    target = torch.from_numpy(labels)
    check(lambda x: F.cross_entropy(x, labels, reduction=reduction),
          lambda x: TF.cross_entropy(x, target, reduction=reduction), logits, fused=fused)
    check(lambda x: F.nll_loss(x, labels.tolist(), reduction=reduction),
          lambda x: TF.nll_loss(x, target, reduction=reduction), logits, fused=fused)


@FUSION
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 3), (2, 3, 2, 2)])
def test_cross_entropy_takes_torchs_class_dim_1_layout(fused, reduction, shape):
    """Input (B, C, T...) with targets (B, T...), as torch; also when C == T, the case the
    old class-last reading got silently wrong."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=shape)
    labels = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    check(lambda x: F.cross_entropy(x, labels, reduction=reduction),
          lambda x: TF.cross_entropy(x, torch.from_numpy(labels), reduction=reduction),
          logits, fused=fused)


@pytest.mark.parametrize("engine", ["scalar", "tensor"])
def test_cross_entropy_refuses_class_last_sequences_and_says_how_to_write_them(engine):
    """(B, T, C) logits with (B, T) targets: torch's layout reads C as d1 and the shapes do not
    fit. Reading them class-last instead (as shared_nn did before it followed torch) would
    make the meaning depend on whether T == C; it is a ValueError that shows the reshape."""
    rng = np.random.default_rng(1)
    logits = shared_nn.tensor(rng.normal(size=(2, 3, 4)), engine=engine, dtype="float64")
    labels = rng.integers(0, 4, size=(2, 3))
    with pytest.raises(ValueError, match=r"class dimension is dim 1.*reshape\(-1, 4\)"):
        F.cross_entropy(logits, labels)
    flat = F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1))
    want = TF.cross_entropy(torch.from_numpy(logits.numpy().reshape(6, 4).copy()),
                            torch.from_numpy(labels.reshape(6)))
    np.testing.assert_allclose(flat.item(), want.item(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(x=arrays(max_side=4), seed=st.integers(0, 2**31))
def test_mse_loss(reduction, x, seed):
    y = np.random.default_rng(seed).normal(size=x.shape)
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction),
          lambda a, b: TF.mse_loss(a, b, reduction=reduction), x, y)
    check(lambda a: F.mse_loss(a, y, reduction=reduction),  # ndarray target
          lambda a: TF.mse_loss(a, to_torch(y), reduction=reduction), x)


@pytest.mark.parametrize("engine", ENGINES)
@FUSION
def test_every_function_on_both_engines(engine, fused):
    """One small case of each function on each engine (the scalar engine composes)."""
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)
    labels = np.array([3, 0, 3])
    check(F.softmax, TF.softmax, x, engine=engine, fused=fused, dim=0)
    check(F.log_softmax, TF.log_softmax, x, engine=engine, fused=fused, dim=1)
    check(lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh"), x,
          engine=engine, fused=fused)
    check(lambda x, w, b: F.layer_norm(x, 4, w, b), lambda x, w, b: TF.layer_norm(x, (4,), w, b),
          x, w, b, engine=engine, fused=fused)
    check(lambda x: F.cross_entropy(x, labels), lambda x: TF.cross_entropy(
        x, torch.from_numpy(labels)), x, engine=engine, fused=fused)
    check(lambda x: F.nll_loss(x, labels, reduction="sum"), lambda x: TF.nll_loss(
        x, torch.from_numpy(labels), reduction="sum"), x, engine=engine, fused=fused)
    check(F.mse_loss, TF.mse_loss, x, x[::-1].copy(), engine=engine, fused=fused)
    check(F.linear, TF.linear, x, rng.normal(size=(2, 4)), rng.normal(size=2), engine=engine)


def test_fused_ops_are_used_only_when_enabled():
    import tensor_engine

    x = shared_nn.tensor(np.ones((2, 3)), requires_grad=True)
    tensor_engine.reset_nodes_created()
    F.softmax(x)
    fused_nodes = tensor_engine.nodes_created()
    tensor_engine.reset_nodes_created()
    with F.fused(False):
        assert not F.is_fused()
        F.softmax(x)
    assert F.is_fused()
    assert fused_nodes == 1 < tensor_engine.nodes_created()
    F.set_fused(False)
    try:
        tensor_engine.reset_nodes_created()
        F.gelu(x)
        assert tensor_engine.nodes_created() > 1
    finally:
        F.set_fused(True)


def test_float32_stays_float32():
    x = shared_nn.tensor(np.ones((2, 3)), requires_grad=True, dtype="float32")
    for fused in (True, False):
        with F.fused(fused):
            for out in (F.softmax(x), F.log_softmax(x), F.gelu(x), F.layer_norm(x, 3),
                        F.cross_entropy(x, [0, 2]), F.mse_loss(x, np.zeros((2, 3)))):
                assert out.dtype == np.float32


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_targets_are_checked(fn):
    x = shared_nn.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="integer class indices.*got dtype bool"):
        fn(x, np.array([True, False]))
    with pytest.raises(IndexError, match=r"target 3 is out of range for 3 classes"):
        fn(x, [0, 3])
    with pytest.raises(IndexError, match=r"target -1 is out of range"):
        fn(x, [-1, 0])
    with pytest.raises(ValueError, match=r"\(2, 3\) needs targets of shape \(2,\).*got "
                       r"targets of shape \(3,\)"):
        fn(x, [0, 1, 2])
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn(x, [0, 1], reduction="avg")
    with pytest.raises(TypeError, match="integer class indices.*got dtype bool"):
        fn(x, shared_nn.tensor([True, False]))  # torch refuses bool targets too
    with pytest.raises(IndexError, match=r"target 3 is out of range for 3 classes"):
        fn(x, shared_nn.tensor([0, 3]))  # an int64 tensor is checked as an array is
    with pytest.raises(TypeError, match="tensor tensor but target is a scalar tensor"):
        fn(x, shared_nn.tensor([0, 1], engine="scalar"))
    if fn is F.nll_loss:  # nll_loss takes class indices only
        with pytest.raises(TypeError, match="integer class indices.*got float values"):
            fn(x, shared_nn.tensor([0.0, 1.0]))
        with pytest.raises(TypeError, match="integer class indices.*got float values"):
            fn(x, np.array([0.0, 1.0]))
    else:  # float targets are class probabilities of the input's shape
        with pytest.raises(ValueError, match=r"probability targets.*\(2, 3\), got \(2,\)"):
            fn(x, np.array([0.0, 1.0]))


def test_other_bad_inputs():
    x = shared_nn.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"input shape \(2, 3\) and target shape \(3, 2\)"):
        F.mse_loss(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"normalized_shape \(4,\).*\(2, 3\)"):
        F.layer_norm(x, 4)
    with pytest.raises(TypeError, match="softmax expects an engine Tensor, got ndarray"):
        F.softmax(np.zeros(3))
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="exact")


@pytest.mark.parametrize("engine", ENGINES)
def test_attention_refuses_what_torch_refuses_with_the_reason(engine):
    def t(shape, dtype="float64"):
        return shared_nn.tensor(np.ones(shape), dtype=dtype, engine=engine)

    q, k, v = t((2, 3, 4)), t((2, 5, 4)), t((2, 5, 6))
    sdpa = F.scaled_dot_product_attention
    cases = [
        (lambda: sdpa(q, t((2, 5, 3)), v), ValueError, r"key \(2, 5, 3\)"),
        (lambda: sdpa(q, k, t((2, 4, 6))), ValueError, r"value \(2, 4, 6\)"),
        (lambda: sdpa(q, t((3, 5, 4)), t((3, 5, 6))), ValueError, "batch dims"),
        (lambda: sdpa(t(4), k, v), ValueError, "at least 2 dims"),
        (lambda: sdpa(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True), ValueError,
         "not both"),
        (lambda: sdpa(q, k, v, attn_mask=np.ones((5, 3), bool)), ValueError,
         r"attn_mask of shape \(5, 3\).*\(2, 3, 5\)"),
        (lambda: sdpa(q, k, v, attn_mask=np.ones((4, 2, 3, 5), bool)), ValueError,
         "does not broadcast"),  # widening the scores: torch refuses too
        (lambda: sdpa(q, k, v, attn_mask=np.full((3, 5), "a")), TypeError, "bool or float"),
        (lambda: sdpa(q, np.ones((2, 5, 4)), v), TypeError, "key must be a tensor"),
        (lambda: sdpa(q, k, v, dropout_p=1.0), ValueError, "dropout probability"),
        (lambda: sdpa(q, k, v, enable_gqa=True), NotImplementedError, "enable_gqa"),
    ]
    if engine == "tensor":  # the scalar engine is float64 throughout
        cases.append((lambda: sdpa(q, k, t((2, 5, 6), "float32")), TypeError, "share a dtype"))
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize("engine", ENGINES)
def test_attention_dropout_drops_weights_with_the_shared_generator(engine):
    """dropout_p > 0 drops attention weights (scaled by 1/(1-p)); the same seed drops the same
    ones on both engines, and dropout_p = 0 is plain attention."""
    rng = np.random.default_rng(1)
    q, k, v = (shared_nn.tensor(rng.normal(size=(2, 4, 3)), dtype="float64", engine=engine)
               for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    shared_nn.manual_seed(7)
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    weights = TF.softmax(torch.from_numpy(q.numpy() @ k.numpy().transpose(0, 2, 1)) / 3 ** 0.5,
                         dim=-1).numpy()
    shared_nn.manual_seed(7)
    keep = shared_nn.init.generator().random(weights.shape) >= 0.5
    np.testing.assert_allclose(dropped, (weights * keep * 2.0) @ v.numpy(), rtol=1e-12)
    assert not np.allclose(dropped, plain)
