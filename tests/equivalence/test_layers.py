"""Every shared_nn layer against its torch.nn twin: same seed -> same weights on both
engines; those weights loaded into torch by state_dict; outputs, input gradients and every
parameter gradient equal (see :func:`modules.check_module`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import WITH_FUSED
from .modules import check_module


def _nn():
    import shared_nn

    return shared_nn


@given(data=st.data(), bias=st.booleans(), seed=S.seeds())
def test_linear(data: st.DataObject, bias: bool, seed: int) -> None:
    n_in, n_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    batch = data.draw(S.shapes(min_dims=0, max_dims=2), label="batch")
    x = data.draw(S.arrays((*batch, n_in)), label="x")
    check_module(
        lambda **kw: _nn().Linear(n_in, n_out, bias=bias, **kw),
        lambda: torch.nn.Linear(n_in, n_out, bias=bias),
        lambda E, m, a: m(a),
        x,
        seed=seed,
    )


@given(data=st.data(), seed=S.seeds())
def test_embedding(data: st.DataObject, seed: int) -> None:
    """Repeated ids in a (B, T) batch: rows used twice collect both gradients."""
    v, d = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    ids = (data.draw(S.index_arrays(v, b * t), label="ids") % v).reshape(b, t)
    check_module(
        lambda **kw: _nn().Embedding(v, d, **kw),
        lambda: torch.nn.Embedding(v, d),
        lambda E, m: m(ids),
        seed=seed,
    )


@given(data=st.data(), seed=S.seeds(),
       affine=st.sampled_from(["weight+bias", "weight", "none"]), eps=st.sampled_from([1e-5, 0.1]))
def test_layer_norm(data: st.DataObject, seed: int, affine: str, eps: float) -> None:
    """LayerNorm starts at weight 1, bias 0; a first SGD-like nudge makes them non-trivial.
    Also without bias, without any affine parameters, and with a large eps."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    d = shape[-1]
    options = dict(eps=eps, elementwise_affine=affine != "none", bias=affine == "weight+bias")
    check_module(
        lambda **kw: _nudged(_nn().LayerNorm(d, **options, **kw), seed),
        lambda: torch.nn.LayerNorm(d, **options),
        lambda E, m, a: m(a),
        x,
        seed=seed,
        backends=WITH_FUSED,
    )


def _nudged(module, seed: int):
    """Move every parameter off its initial value (ones/zeros hide layout bugs)."""
    rng = np.random.default_rng(seed)
    for _, p in module.named_parameters():
        p.assign_(p.numpy() + rng.uniform(-0.5, 0.5, p.shape))
    return module


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "GELU"])
@given(data=st.data())
def test_activation_layers(name: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape, S.away_from_zero()), label="x")
    twins = {"ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh,
             "GELU": lambda: torch.nn.GELU(approximate="tanh")}
    options = {"approximate": "tanh"} if name == "GELU" else {}
    check_module(
        lambda **kw: getattr(_nn(), name)(**options, **kw),
        twins[name],
        lambda E, m, a: m(a),
        x,
        backends=WITH_FUSED,
    )


@given(data=st.data(), seed=S.seeds())
def test_sequential(data: st.DataObject, seed: int) -> None:
    """Linear -> Tanh -> Linear -> GELU -> LayerNorm, state_dict keys "0.weight", ..."""
    n_in, h, n_out = (data.draw(st.integers(1, 3)) for _ in range(3))
    x = data.draw(S.arrays((data.draw(st.integers(1, 3)), n_in)), label="x")

    def make(**kw):
        nn = _nn()
        return nn.Sequential(nn.Linear(n_in, h, **kw), nn.Tanh(**kw), nn.Linear(h, n_out, **kw),
                             nn.GELU("tanh", **kw), nn.LayerNorm(n_out, **kw), **kw)

    def twin():
        return torch.nn.Sequential(torch.nn.Linear(n_in, h), torch.nn.Tanh(),
                                   torch.nn.Linear(h, n_out), torch.nn.GELU(approximate="tanh"),
                                   torch.nn.LayerNorm(n_out))

    check_module(make, twin, lambda E, m, a: m(a), x, seed=seed, backends=WITH_FUSED)


@given(
    data=st.data(),
    seed=S.seeds(),
    num_layers=st.integers(1, 2),
    batch_first=st.booleans(),
    nonlinearity=st.sampled_from(["tanh", "relu"]),
    with_h0=st.booleans(),
)
def test_rnn(data: st.DataObject, seed: int, num_layers: int, batch_first: bool,
             nonlinearity: str, with_h0: bool) -> None:
    """Elman RNN: (output, h_n) for batched input (either layout), optionally with h0."""
    n_in, hidden = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    x = data.draw(S.arrays((b, t, n_in) if batch_first else (t, b, n_in)), label="x")
    h0 = data.draw(S.arrays((num_layers, b, hidden)), label="h0")
    settings = dict(num_layers=num_layers, batch_first=batch_first, nonlinearity=nonlinearity)
    check_module(
        lambda **kw: _nn().RNN(n_in, hidden, **settings, **kw),
        lambda: torch.nn.RNN(n_in, hidden, **settings),
        (lambda E, m, a, h: m(a, h)) if with_h0 else (lambda E, m, a: m(a)),
        *((x, h0) if with_h0 else (x,)),
        seed=seed,
    )


@given(data=st.data(), seed=S.seeds())
def test_rnn_unbatched(data: st.DataObject, seed: int) -> None:
    """Unbatched input (T, input_size) -> output (T, hidden), h_n (layers, hidden)."""
    n_in, hidden, t = (data.draw(st.integers(1, 3)) for _ in range(3))
    x = data.draw(S.arrays((t, n_in)), label="x")
    check_module(
        lambda **kw: _nn().RNN(n_in, hidden, **kw),
        lambda: torch.nn.RNN(n_in, hidden),
        lambda E, m, a: m(a),
        x,
        seed=seed,
    )
