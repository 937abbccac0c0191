"""shared_nn.functional against torch.nn.functional, three ways.

Each function runs on the scalar engine (always composed from protocol ops), the tensor
engine with fusion off (composed) and the tensor engine with fusion on (one node with a
hand-written backward, from ``tensor_engine.fused``). All three must match torch in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .checker import WITH_FUSED, Const, check

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family(fn: str, data: st.DataObject) -> None:
    """Along any dim (negative too), logits spread wide enough that the max-shift matters."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape, S.floats(-20.0, 20.0)), label="x")
    check(lambda E, a: getattr(E.F, fn)(a, dim=dim), x, backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_cross_entropy(reduction: str, data: st.DataObject) -> None:
    """Logits (N, C) with targets (N,) (repeated classes likely)."""
    n, c = data.draw(st.integers(1, 4), label="N"), data.draw(st.integers(1, 4), label="C")
    logits = data.draw(S.arrays((n, c), S.floats(-10.0, 10.0)), label="logits")
    targets = data.draw(S.index_arrays(c, n), label="targets") % c
    check(lambda E, x: E.F.cross_entropy(x, targets, reduction=reduction), logits,
          backends=WITH_FUSED)


@given(data=st.data())
def test_cross_entropy_single_sample(data: st.DataObject) -> None:
    """Unbatched: logits (C,) with one integer target (a Python int or a 0-d array)."""
    c = data.draw(st.integers(1, 5), label="C")
    logits = data.draw(S.arrays((c,)), label="logits")
    target = data.draw(st.integers(0, c - 1), label="target")
    as_array = data.draw(st.booleans(), label="as_array")
    label = np.array(target) if as_array else target
    check(lambda E, x: (E.F.cross_entropy(x, label), E.F.nll_loss(x, label)), logits,
          backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_cross_entropy_sequence(reduction: str, data: st.DataObject) -> None:
    """Sequences in torch's layout: logits (B, V, T) with targets (B, T) (V == T included)."""
    b, t, v = (data.draw(st.integers(1, 3)) for _ in range(3))
    logits = data.draw(S.arrays((b, v, t)), label="logits")
    targets = (data.draw(S.index_arrays(v, b * t), label="targets") % v).reshape(b, t)
    check(lambda E, x: E.F.cross_entropy(x, targets, reduction=reduction), logits,
          backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_nll_loss(reduction: str, data: st.DataObject) -> None:
    """nll_loss of log_softmax, and of arbitrary numbers (it only picks and negates)."""
    n, c = data.draw(st.integers(1, 4), label="N"), data.draw(st.integers(1, 4), label="C")
    x = data.draw(S.arrays((n, c)), label="x")
    targets = data.draw(S.index_arrays(c, n), label="targets") % c
    check(
        lambda E, a: (E.F.nll_loss(E.F.log_softmax(a, dim=1), targets, reduction=reduction),
                      E.F.nll_loss(a, targets, reduction=reduction)),
        x,
        backends=WITH_FUSED,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), target_kind=st.sampled_from(["tensor", "ndarray", "number"]))
def test_mse_loss(reduction: str, data: st.DataObject, target_kind: str) -> None:
    """Against a differentiable tensor target, a constant ndarray, or a Python number."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    pred = data.draw(S.arrays(shape), label="pred")
    target = data.draw(S.arrays(shape), label="target")
    if target_kind == "tensor":
        check(lambda E, p, y: E.F.mse_loss(p, y, reduction=reduction), pred, target,
              backends=WITH_FUSED)
    elif target_kind == "ndarray":
        check(lambda E, p, y: E.F.mse_loss(p, y, reduction=reduction), pred, Const(target),
              backends=WITH_FUSED)
    else:
        check(lambda E, p: E.F.mse_loss(p, 0.75, reduction=reduction), pred,
              backends=WITH_FUSED)


@given(data=st.data(), affine=st.sampled_from(["both", "weight", "none"]),
       eps=st.sampled_from([1e-5, 1e-3]))
def test_layer_norm(data: st.DataObject, affine: str, eps: float) -> None:
    """Over the last dim, with weight+bias, weight only, or neither."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    d = shape[-1]
    x = data.draw(S.arrays(shape), label="x")
    w = data.draw(S.arrays((d,)), label="weight")
    b = data.draw(S.arrays((d,)), label="bias")
    if affine == "both":
        check(lambda E, a, g, h: E.F.layer_norm(a, (d,), g, h, eps), x, w, b,
              backends=WITH_FUSED)
    elif affine == "weight":
        check(lambda E, a, g: E.F.layer_norm(a, d, g, None, eps), x, w, backends=WITH_FUSED)
    else:
        check(lambda E, a: E.F.layer_norm(a, (d,), eps=eps), x, backends=WITH_FUSED)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(data=st.data())
def test_gelu(approximate: str, data: st.DataObject) -> None:
    """GELU, exact (torch's default) and GPT-2's tanh approximation, including the tails
    (|x| up to 8)."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape, S.floats(-8.0, 8.0)), label="x")
    check(lambda E, a: E.F.gelu(a, approximate=approximate), x, backends=WITH_FUSED)


@given(data=st.data(), bias=st.booleans())
def test_linear(data: st.DataObject, bias: bool) -> None:
    """``x @ weight.T + bias`` with torch's (out, in) weight layout, batched input."""
    batch = data.draw(S.shapes(min_dims=0, max_dims=2), label="batch")
    n_in, n_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = data.draw(S.arrays((*batch, n_in)), label="x")
    w = data.draw(S.arrays((n_out, n_in)), label="w")
    b = data.draw(S.arrays((n_out,)), label="b")
    if bias:
        check(lambda E, a, g, h: E.F.linear(a, g, h), x, w, b)
    else:
        check(lambda E, a, g: E.F.linear(a, g), x, w)


@given(data=st.data())
def test_activations(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape, S.away_from_zero()), label="x")
    check(lambda E, a: (E.F.relu(a), E.F.tanh(a), E.F.sigmoid(a)), x)


@given(data=st.data())
def test_fused_and_composed_attention_pattern(data: st.DataObject) -> None:
    """The attention core: softmax of masked scores ``q @ kᵀ / sqrt(d)`` times values."""
    t, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    q, k, v = (data.draw(S.arrays((t, d)), label=n) for n in "qkv")
    causal = np.triu(np.ones((t, t), dtype=bool), k=1)

    def attention(E, q, k, v):
        scores = (q @ k.transpose(0, 1)) * (1.0 / math.sqrt(d))
        return E.F.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v

    check(attention, q, k, v, backends=WITH_FUSED)


@given(data=st.data(), mask_kind=st.sampled_from(["none", "causal", "bool", "float", "grad"]),
       scale=st.sampled_from([None, 0.3]))
def test_scaled_dot_product_attention(data: st.DataObject, mask_kind: str,
                                      scale: float | None) -> None:
    """torch's signature and rules: batch dims that broadcast (a 2-D query against 3-D keys),
    L != S, Ev != E, a bool mask with rows that see nothing (zeros, not NaN), a float mask
    (-inf included) and one that requires grad (composed, so it gets its gradient)."""
    batch_q, batch_k = data.draw(st.sampled_from(
        [((), ()), ((2,), (2,)), ((), (2,)), ((1, 2), (2,)), ((2,), (1,))]), label="batches")
    L, S_, E, Ev = (data.draw(st.integers(1, 3)) for _ in range(4))
    q = data.draw(S.arrays((*batch_q, L, E)), label="q")
    k = data.draw(S.arrays((*batch_k, S_, E)), label="k")
    v = data.draw(S.arrays((*batch_k, S_, Ev)), label="v")
    see = data.draw(hnp.arrays(np.bool_, (L, S_)), label="mask")
    kwargs: dict = {"scale": scale}
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind == "bool":
        kwargs["attn_mask"] = see
    elif mask_kind == "float":
        kwargs["attn_mask"] = np.where(see, data.draw(S.arrays((L, S_))), -np.inf)
    if mask_kind == "grad":
        m = data.draw(S.arrays((L, S_)), label="float mask")
        check(lambda E_, a, b, c, d: E_.F.scaled_dot_product_attention(a, b, c, attn_mask=d,
                                                                        **kwargs),
              q, k, v, m, backends=WITH_FUSED)
        return
    check(lambda E_, a, b, c: E_.F.scaled_dot_product_attention(a, b, c, **kwargs), q, k, v,
          backends=WITH_FUSED)
