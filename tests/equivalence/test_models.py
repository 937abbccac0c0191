"""Every shared_nn model against a torch twin built from torch.nn (or transformers).

Same checks as the layers (:func:`modules.check_module`): same seed -> bit-identical weights
on both engines, the state_dict loads strictly into the twin, and logits plus the loss's
gradient for every parameter agree on scalar, tensor (composed and fused) and torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from . import strategies as S
from .checker import WITH_FUSED
from .modules import check_module

ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "gelu": lambda: torch.nn.GELU(approximate="tanh"),
}


def torch_mlp(sizes: list[int], activation: str, layer_norm: bool) -> torch.nn.Sequential:
    """The torch.nn.Sequential that shared_nn's MLP claims to be, index for index."""
    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            if layer_norm:
                layers.append(torch.nn.LayerNorm(fan_out))
            layers.append(ACTIVATIONS[activation]())
    return torch.nn.Sequential(*layers)


class TorchRNNClassifier(torch.nn.Module):
    """logits = head(h_n[-1]) of a batch-first Elman RNN."""

    def __init__(self, n_in: int, hidden: int, classes: int, num_layers: int) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, num_layers=num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(x)
        return self.head(h_n[-1])


class TorchCharRNN(torch.nn.Module):
    """Embedding -> batch-first RNN -> Linear, logits for every position."""

    def __init__(self, vocab: int, embed: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.rnn = torch.nn.RNN(embed, hidden, num_layers=num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.embed(ids))
        return self.head(output)


def _models():
    import shared_nn.models

    return shared_nn.models


@given(
    data=st.data(),
    seed=S.seeds(),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    layer_norm=st.booleans(),
)
def test_mlp(data: st.DataObject, seed: int, activation: str, layer_norm: bool) -> None:
    """MLP logits and the cross-entropy loss on random labels."""
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=4), label="sizes")
    batch = data.draw(st.integers(1, 3), label="batch")
    x = data.draw(S.arrays((batch, sizes[0])), label="x")
    labels = data.draw(S.index_arrays(sizes[-1], batch), label="labels") % sizes[-1]
    check_module(
        lambda **kw: _models().MLP(sizes, activation=activation, layer_norm=layer_norm, **kw),
        lambda: torch_mlp(sizes, activation, layer_norm),
        lambda E, m, a: (m(a), E.F.cross_entropy(m(a), labels)),
        x,
        seed=seed,
        backends=WITH_FUSED,
    )


@given(data=st.data(), seed=S.seeds(), num_layers=st.integers(1, 2))
def test_rnn_classifier(data: st.DataObject, seed: int, num_layers: int) -> None:
    n_in, hidden, classes = (data.draw(st.integers(1, 3)) for _ in range(3))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    x = data.draw(S.arrays((b, t, n_in)), label="x")
    labels = data.draw(S.index_arrays(classes, b), label="labels") % classes
    check_module(
        lambda **kw: _models().RNNClassifier(n_in, hidden, classes, num_layers=num_layers, **kw),
        lambda: TorchRNNClassifier(n_in, hidden, classes, num_layers),
        lambda E, m, a: E.F.cross_entropy(m(a), labels),
        x,
        seed=seed,
        backends=WITH_FUSED,
    )


@given(data=st.data(), seed=S.seeds(), num_layers=st.integers(1, 2))
def test_char_rnn(data: st.DataObject, seed: int, num_layers: int) -> None:
    """Next-character loss of a (B, T) batch: targets are the ids shifted by one."""
    vocab, embed, hidden = (data.draw(st.integers(2, 4)) for _ in range(3))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    text = data.draw(S.index_arrays(vocab, b * (t + 1)), label="text") % vocab
    text = text.reshape(b, t + 1)
    ids, targets = text[:, :-1], text[:, 1:]
    check_module(
        lambda **kw: _models().CharRNN(vocab, embed, hidden, num_layers=num_layers, **kw),
        lambda: TorchCharRNN(vocab, embed, hidden, num_layers),
        lambda E, m: (m(ids), E.F.cross_entropy(m(ids).reshape(-1, vocab), targets.reshape(-1))),
        seed=seed,
        backends=WITH_FUSED,
    )


# --------------------------------------------------------------------------- GPT

GPT_CONFIG = dict(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=6)
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def _hf_twin() -> torch.nn.Module:
    """transformers' GPT2LMHeadModel with the same config, returning logits only."""
    transformers = pytest.importorskip("transformers")

    class GPT2Logits(transformers.GPT2LMHeadModel):
        def forward(self, idx: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return super().forward(idx).logits

    config = transformers.GPT2Config(
        n_layer=GPT_CONFIG["n_layer"], n_head=GPT_CONFIG["n_head"], n_embd=GPT_CONFIG["n_embd"],
        vocab_size=GPT_CONFIG["vocab_size"], n_positions=GPT_CONFIG["block_size"],
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
        activation_function="gelu_new",
    )
    config._attn_implementation = "eager"
    return GPT2Logits(config).eval()


def _to_hf(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our (out, in) Linear weights -> GPT-2's (in, out) Conv1D ones; add the tied head."""
    hf = {k: (v.T.copy() if k.endswith(CONV1D) else v) for k, v in state.items()}
    hf["lm_head.weight"] = state["transformer.wte.weight"]
    return hf


def _grad_from_hf(name: str, grad: np.ndarray) -> tuple[str, np.ndarray]:
    return name, (grad.T if name.endswith(CONV1D) else grad)


@settings(max_examples=max(2, settings.default.max_examples // 5))
@given(data=st.data(), seed=S.seeds())
def test_gpt_tiny(data: st.DataObject, seed: int) -> None:
    """A 2-layer, 2-head GPT with n_embd 8 against transformers' GPT-2 in float64: logits,
    the cross-entropy loss, and the gradient of every parameter (tied wte included)."""
    gpt = pytest.importorskip("shared_nn.models.gpt")
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, GPT_CONFIG["block_size"]))
    vocab = GPT_CONFIG["vocab_size"]
    idx = (data.draw(S.index_arrays(vocab, b * t), label="idx") % vocab).reshape(b, t)
    targets = (data.draw(S.index_arrays(vocab, b * t), label="targets") % vocab).reshape(b, t)
    config = gpt.GPTConfig(**GPT_CONFIG)

    def call(E, m):
        logits = m(idx)
        return logits, E.F.cross_entropy(logits.reshape(b * t, vocab), targets.reshape(-1))

    check_module(
        lambda **kw: gpt.GPT(config, **kw),
        _hf_twin,
        call,
        seed=seed,
        backends=WITH_FUSED,
        torch_state=_to_hf,
        torch_grad_name=_grad_from_hf,
    )


@settings(max_examples=max(2, settings.default.max_examples // 5))
@given(data=st.data(), seed=S.seeds())
def test_gpt_greedy_generation(data: st.DataObject, seed: int) -> None:
    """Greedy decoding (with and without the KV cache) picks the same tokens on both
    engines as transformers' ``generate`` on the same weights; past block_size the context
    is cropped, so only compare within it."""
    gpt = pytest.importorskip("shared_nn.models.gpt")
    transformers = pytest.importorskip("transformers")
    vocab, block = GPT_CONFIG["vocab_size"], GPT_CONFIG["block_size"]
    t = data.draw(st.integers(1, block - 1), label="prompt length")
    new = block - t
    prompt = (data.draw(S.index_arrays(vocab, t), label="prompt") % vocab).reshape(1, t)
    config = gpt.GPTConfig(**GPT_CONFIG)
    from .modules import build

    ours = {e: build(lambda **kw: gpt.GPT(config, **kw), e, seed) for e in ("scalar", "tensor")}
    hf = _hf_twin()
    hf.load_state_dict({k: torch.from_numpy(v) for k, v in
                        _to_hf(ours["tensor"].state_dict()).items()})
    plain = transformers.GPT2LMHeadModel(hf.config).double().eval()
    plain.load_state_dict(hf.state_dict())
    with torch.no_grad():
        ids = torch.from_numpy(prompt)  # an explicit mask: else id 0 would count as padding
        want = plain.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                              do_sample=False, pad_token_id=0).numpy()
    for engine, model in ours.items():
        for use_cache in (True, False):
            got = model.generate(prompt, new, temperature=0.0, use_cache=use_cache)
            assert np.array_equal(got, want), f"{engine} use_cache={use_cache}: {got} != {want}"


@pytest.mark.parametrize("model", ["mlp", "gpt"])
def test_to_engine_round_trip(model: str) -> None:
    """``to_engine`` moves a model between engines with its weights (tied ones stay tied):
    the copy computes the same loss and the same gradient for every parameter."""
    from .checker import BACKENDS, assert_close
    from .modules import build

    if model == "mlp":
        x, y = np.random.default_rng(3).uniform(-1, 1, (4, 3)), np.array([0, 1, 1, 0])
        make = lambda **kw: _models().MLP([3, 4, 2], activation="gelu", **kw)  # noqa: E731
        loss = lambda E, m: E.F.cross_entropy(m(E.tensor(x)), y)  # noqa: E731
    else:
        config = _models().GPTConfig(**GPT_CONFIG)
        ids = np.array([[1, 2, 3, 1], [4, 4, 0, 2]])
        make = lambda **kw: _models().GPT(config, **kw)  # noqa: E731
        loss = lambda E, m: m(ids, ids)[1]  # noqa: E731
    original = build(make, "tensor", seed=5)
    copies = {"tensor": original, "scalar": original.to_engine("scalar")}
    copies["tensor-again"] = copies["scalar"].to_engine("tensor")
    names = [n for n, _ in original.named_parameters()]
    grads = {}
    for key, m in copies.items():
        assert [n for n, _ in m.named_parameters()] == names, f"{key}: parameters differ"
        backend = BACKENDS[key.split("-")[0]]
        value = loss(backend, m)
        value.backward()
        grads[key] = (value.item(), {n: np.array(p.grad) for n, p in m.named_parameters()})
    want_loss, want = grads["tensor"]
    for key, (got_loss, got) in grads.items():
        assert_close(f"{key}: loss", got_loss, want_loss)
        for name in names:
            assert_close(f"{key}: gradient of {name}", got[name], want[name])


@pytest.mark.parametrize(("temperature", "top_k"), [(0.8, None), (1.3, 3)])
def test_gpt_sampling_same_on_both_engines(temperature: float, top_k: int | None) -> None:
    """Seeded sampling (temperature, top-k) draws the same tokens on both engines."""
    config = _models().GPTConfig(**GPT_CONFIG)
    from .modules import build

    prompt = np.array([[1, 5]])
    ids = {
        engine: build(lambda **kw: _models().GPT(config, **kw), engine, seed=11).generate(
            prompt, 4, temperature=temperature, top_k=top_k, seed=7)
        for engine in ("scalar", "tensor")
    }
    assert np.array_equal(ids["scalar"], ids["tensor"]), ids


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_char_rnn_sampling_same_on_both_engines(temperature: float) -> None:
    """CharRNN.sample (greedy, and seeded softmax draws) continues a prompt identically on
    both engines; greedy also matches the torch twin's argmax loop."""
    from .modules import build, load_into_torch

    make = lambda **kw: _models().CharRNN(6, 3, 5, **kw)  # noqa: E731
    models = {engine: build(make, engine, seed=4) for engine in ("scalar", "tensor")}
    ids = {engine: m.sample([1, 2], 6, temperature=temperature, seed=9)
           for engine, m in models.items()}
    assert ids["scalar"] == ids["tensor"], ids
    if temperature == 0.0:
        twin = load_into_torch(TorchCharRNN(6, 3, 5, 1), models["tensor"].state_dict())
        want = [1, 2]
        with torch.no_grad():
            for _ in range(6):
                logits = twin(torch.tensor([want]))
                want.append(int(logits[0, -1].argmax()))
        assert ids["tensor"] == want, (ids, want)
