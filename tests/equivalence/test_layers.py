"""Every shared_nn layer against its torch.nn twin: same seed -> same weights on both
engines; those weights loaded into torch by state_dict; outputs, input gradients and every
parameter gradient equal (see :func:`modules.check_module`)."""

from __future__ import annotations

from collections import OrderedDict

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


# --- recurrent layers with gates: LSTM (i, f, g, o) and GRU (r, z, n) -------------------------


def _flat(out):
    """(output, h_n) or LSTM's (output, (h_n, c_n)) as one flat tuple of tensors."""
    output, hidden = out
    return (output, *hidden) if isinstance(hidden, tuple) else (output, hidden)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@given(data=st.data(), seed=S.seeds(), batch_first=st.booleans(), with_state=st.booleans(),
       bias=st.booleans())
def test_gated_rnn(kind: str, data: st.DataObject, seed: int, batch_first: bool,
                   with_state: bool, bias: bool) -> None:
    """2 layers, either layout, with and without initial states: output, h_n (and c_n), the
    input's, the states' and every parameter's gradient; torch's state_dict loads 1:1."""
    n_in, hidden = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    x = data.draw(S.arrays((b, t, n_in) if batch_first else (t, b, n_in)), label="x")
    states = [data.draw(S.arrays((2, b, hidden)), label=f"state{i}")
              for i in range(2 if kind == "LSTM" else 1)]
    settings = dict(num_layers=2, batch_first=batch_first, bias=bias)

    def call(E, m, a, *hx):
        if not hx:
            return _flat(m(a))
        return _flat(m(a, tuple(hx) if kind == "LSTM" else hx[0]))

    check_module(
        lambda **kw: getattr(_nn(), kind)(n_in, hidden, **settings, **kw),
        lambda: getattr(torch.nn, kind)(n_in, hidden, **settings),
        call,
        x, *(states if with_state else []),
        seed=seed,
    )


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@given(data=st.data(), seed=S.seeds(), with_state=st.booleans())
def test_gated_rnn_unbatched(kind: str, data: st.DataObject, seed: int,
                             with_state: bool) -> None:
    """Unbatched input (T, input_size); states (num_layers, hidden)."""
    n_in, hidden, t = (data.draw(st.integers(1, 2)) for _ in range(3))
    x = data.draw(S.arrays((t, n_in)), label="x")
    states = [data.draw(S.arrays((2, hidden)), label=f"state{i}")
              for i in range(2 if kind == "LSTM" else 1)]

    def call(E, m, a, *hx):
        if not hx:
            return _flat(m(a))
        return _flat(m(a, tuple(hx) if kind == "LSTM" else hx[0]))

    check_module(
        lambda **kw: getattr(_nn(), kind)(n_in, hidden, num_layers=2, **kw),
        lambda: getattr(torch.nn, kind)(n_in, hidden, num_layers=2),
        call,
        x, *(states if with_state else []),
        seed=seed,
    )


# --- dropout -----------------------------------------------------------------------------------


class TorchSeededDropout(torch.nn.Module):
    """torch-side Dropout whose mask is shared_nn's: drawn from shared_nn.init.generator()
    exactly as shared_nn.functional.dropout documents it, then applied with torch ops."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = _nn().init.generator().random(tuple(x.shape)) >= self.p
        scale = keep * (1.0 / (1.0 - self.p)) if self.p < 1 else np.zeros(keep.shape)
        return x * torch.from_numpy(scale).to(x.dtype)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.7, 0.95])
@given(data=st.data(), mask_seed=S.seeds())
def test_dropout_training(p: float, data: st.DataObject, mask_seed: int) -> None:
    """Training mode: the mask drawn after ``manual_seed(mask_seed)`` is the same on both
    engines and equals the documented draw fed to torch; kept elements scaled by 1/(1-p)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")

    def call(E, m, a):
        _nn().manual_seed(mask_seed)
        return m(a)

    check_module(lambda **kw: _nn().Dropout(p, **kw), lambda: TorchSeededDropout(p), call, x)


@given(data=st.data())
def test_dropout_eval_is_identity(data: st.DataObject) -> None:
    """``eval()`` switches dropout off (torch.nn.Dropout in eval mode is the twin)."""
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=1), label="shape")), label="x")
    check_module(lambda **kw: _nn().Dropout(0.5, **kw).eval(),
                 lambda: torch.nn.Dropout(0.5).eval(), lambda E, m, a: m(a) * 1.0, x)


def test_dropout_mask_depends_on_the_seed_and_is_the_same_on_both_engines() -> None:
    nn = _nn()
    x = np.ones((4, 8))
    masks = {}
    for engine in ("scalar", "tensor"):
        for seed in (0, 1):
            nn.manual_seed(seed)
            out = nn.Dropout(0.5, engine=engine)(nn.tensor(x, dtype=np.float64, engine=engine))
            masks[engine, seed] = out.numpy()
    assert np.array_equal(masks["scalar", 0], masks["tensor", 0])
    assert not np.array_equal(masks["tensor", 0], masks["tensor", 1])
    assert set(np.unique(masks["tensor", 0])) == {0.0, 2.0}


# --- small layers and containers ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["Sigmoid", "Identity"])
@given(data=st.data())
def test_more_activation_layers(name: str, data: st.DataObject) -> None:
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0), label="shape")), label="x")
    check_module(lambda **kw: getattr(_nn(), name)(**kw), getattr(torch.nn, name),
                 lambda E, m, a: m(a) * 1.0, x, backends=WITH_FUSED)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@given(data=st.data())
def test_softmax_layers(name: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check_module(lambda **kw: getattr(_nn(), name)(dim, **kw),
                 lambda: getattr(torch.nn, name)(dim), lambda E, m, a: m(a), x,
                 backends=WITH_FUSED)


@given(data=st.data())
def test_flatten(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    start = data.draw(S.dims(len(shape)), label="start_dim")
    end = data.draw(S.dims(len(shape)), label="end_dim")
    if start % len(shape) > end % len(shape):
        start, end = end, start
    x = data.draw(S.arrays(shape), label="x")
    check_module(lambda **kw: _nn().Flatten(start, end, **kw),
                 lambda: torch.nn.Flatten(start, end), lambda E, m, a: m(a), x)


@given(data=st.data())
def test_gelu_exact_is_the_default(data: st.DataObject) -> None:
    """GELU() is torch's exact erf form, like torch.nn.GELU()."""
    x = data.draw(S.arrays(data.draw(S.shapes(min_dims=0), label="shape")), label="x")
    check_module(lambda **kw: _nn().GELU(**kw), torch.nn.GELU, lambda E, m, a: m(a), x,
                 backends=WITH_FUSED)


@given(data=st.data(), seed=S.seeds())
def test_sequential_with_names(data: st.DataObject, seed: int) -> None:
    """Sequential(OrderedDict): state_dict keys "fc1.weight", ..., loaded strictly into
    torch.nn.Sequential(OrderedDict) with the same names."""
    n_in, h = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = data.draw(S.arrays((data.draw(st.integers(1, 2)), n_in)), label="x")

    def make(**kw):
        nn = _nn()
        return nn.Sequential(OrderedDict([("fc1", nn.Linear(n_in, h, **kw)), ("act", nn.Tanh()),
                                          ("fc2", nn.Linear(h, 2, **kw))]))

    def twin():
        return torch.nn.Sequential(OrderedDict([
            ("fc1", torch.nn.Linear(n_in, h)), ("act", torch.nn.Tanh()),
            ("fc2", torch.nn.Linear(h, 2))]))

    modules = check_module(make, twin, lambda E, m, a: m(a), x, seed=seed)
    assert list(modules["tensor"].state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                    "fc2.bias"]


def _blocks_model(torch_side: bool, n_in: int, **kw):
    """A model holding a ModuleDict and a Parameter, on our side or torch's."""
    nn = torch.nn if torch_side else _nn()
    where = {} if torch_side else kw

    class Blocks(nn.Module):
        def __init__(self) -> None:
            super().__init__(**where)
            self.blocks = nn.ModuleDict({"inp": nn.Linear(n_in, 3, **where),
                                         "out": nn.Linear(3, 2, **where)})
            scale = np.linspace(0.5, 1.5, 3)
            self.scale = (nn.Parameter(torch.from_numpy(scale)) if torch_side
                          else nn.Parameter(scale, engine=kw["engine"]))

        def forward(self, x):
            return self.blocks["out"]((self.blocks["inp"](x) * self.scale).tanh())

    return Blocks()


@given(data=st.data(), seed=S.seeds())
def test_module_dict_and_parameter(data: st.DataObject, seed: int) -> None:
    """ModuleDict children and a Parameter attribute register under torch's names
    ("blocks.inp.weight", "scale") and get their gradients."""
    n_in = data.draw(st.integers(1, 3))
    x = data.draw(S.arrays((2, n_in)), label="x")
    modules = check_module(lambda **kw: _blocks_model(False, n_in, **kw),
                           lambda: _blocks_model(True, n_in), lambda E, m, a: m(a), x, seed=seed)
    assert all("scale" in dict(m.named_parameters()) for m in modules.values())
