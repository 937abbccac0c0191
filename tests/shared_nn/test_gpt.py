"""GPT-2 on both engines against Hugging Face transformers' GPT2LMHeadModel.

Every test builds small random GPT-2 models with transformers, saves them in Hugging Face
format and loads them with ``GPT.from_pretrained``: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

import shared_nn
from shared_nn.layers import LayerNorm, Linear
from shared_nn.models import gpt_checkpoint
from shared_nn.models.gpt import GPT, CheckpointError, GPTConfig, KVCache

transformers = pytest.importorskip("transformers")

CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")


def make_hf(tmp_path, n_layer=2, n_head=2, n_embd=32, vocab_size=61, n_positions=16, seed=0,
            std=0.2):  # fmt: skip
    """A random GPT2LMHeadModel saved to ``tmp_path``; returned in eval mode, float32.

    ``std`` larger than GPT-2's 0.02 spreads the logits, so that greedy choices are never
    near-ties that rounding could flip."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        n_layer=n_layer, n_head=n_head, n_embd=n_embd, vocab_size=vocab_size,
        n_positions=n_positions, initializer_range=std, bos_token_id=None, eos_token_id=None,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # random LayerNorm affine parameters, so they are exercised too
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                p.add_(torch.randn_like(p) * 0.3)
            elif name.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(tmp_path)
    return model


def hf_logits(model, idx, dtype=torch.float32):
    with torch.no_grad():
        return model.to(dtype)(torch.as_tensor(idx)).logits.numpy()


CONFIGS = [
    dict(n_layer=2, n_head=2, n_embd=32, vocab_size=61, n_positions=16),
    dict(n_layer=1, n_head=4, n_embd=24, vocab_size=50, n_positions=9),
    dict(n_layer=3, n_head=1, n_embd=16, vocab_size=37, n_positions=12),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "L{n_layer}H{n_head}C{n_embd}".format(**c))
def test_logits_match_transformers_float32_and_float64(tmp_path, cfg):
    hf = make_hf(tmp_path, **cfg)
    ours32 = GPT.from_pretrained(tmp_path, engine="tensor", dtype="float32")
    ours64 = GPT.from_pretrained(tmp_path, engine="tensor", dtype="float64")
    assert ours32.config == GPTConfig(
        cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    )
    rng = np.random.default_rng(1)
    prompts = [rng.integers(0, cfg["vocab_size"], size=(2, T))
               for T in range(1, cfg["n_positions"] + 1)]  # every prompt length to block_size
    for idx in prompts:
        got32 = ours32(idx)
        assert got32.shape == (2, idx.shape[1], cfg["vocab_size"])
        assert got32.dtype == np.float32
        np.testing.assert_allclose(got32.numpy(), hf_logits(hf, idx), rtol=0, atol=1e-4)
    hf.double()
    for idx in prompts:
        expected64 = hf_logits(hf, idx, torch.float64)
        np.testing.assert_allclose(ours64(idx).numpy(), expected64, rtol=0, atol=1e-9)


def test_scalar_engine_logits_match_transformers(tmp_path):
    hf = make_hf(tmp_path, n_layer=1, n_head=2, n_embd=8, vocab_size=11, n_positions=5)
    ours = GPT.from_pretrained(tmp_path, engine="scalar")
    idx = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
    np.testing.assert_allclose(
        ours(idx).numpy(), hf_logits(hf, idx, torch.float64), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_greedy_generation_matches_transformers(tmp_path, dtype):
    hf = make_hf(tmp_path, n_layer=2, n_head=4, n_embd=32, vocab_size=67, n_positions=24)
    hf.to(getattr(torch, dtype))
    ours = GPT.from_pretrained(tmp_path, engine="tensor", dtype=dtype)
    for prompt in ([[5]], [[7, 3, 9, 1, 2]], [[1, 2, 3], [60, 50, 40]]):
        new = 24 - len(prompt[0])  # up to the full context
        with torch.no_grad():
            expected = hf.generate(
                torch.tensor(prompt), max_new_tokens=new, do_sample=False, pad_token_id=0,
                attention_mask=torch.ones(len(prompt), len(prompt[0]), dtype=torch.long),
            ).numpy()  # fmt: skip
        for use_cache in (True, False):
            got = ours.generate(np.array(prompt), new, temperature=0.0, use_cache=use_cache)
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("engine", ["tensor", "scalar"])
def test_cache_and_no_cache_agree_past_block_size(engine):
    """Past block_size the context is cropped: with the cache, each step then recomputes the
    cropped window. Sampling with a seed must give the same tokens either way."""
    config = GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=13, block_size=4)
    model = GPT(config, engine=engine, dtype="float64")
    for p in model.parameters():  # bigger weights: a peaked distribution, varied tokens
        p.assign_(p.numpy() * 20)
    prompt = np.array([[1, 2, 3]])
    for kwargs in ({"temperature": 0.0}, {"temperature": 1.0, "top_k": 5, "seed": 3}):
        cached = model.generate(prompt, 7, use_cache=True, **kwargs)
        uncached = model.generate(prompt, 7, use_cache=False, **kwargs)
        assert cached.shape == (1, 10)
        np.testing.assert_array_equal(cached, uncached)
        np.testing.assert_array_equal(cached[:, :3], prompt)


def test_sampling_is_seeded_and_top_k_restricts():
    config = GPTConfig(n_layer=1, n_head=2, n_embd=16, vocab_size=50, block_size=16)
    model = GPT(config)
    prompt = np.array([[1, 2]])
    a = model.generate(prompt, 12, temperature=1.0, seed=7)
    b = model.generate(prompt, 12, temperature=1.0, seed=7)
    c = model.generate(prompt, 12, temperature=1.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # top_k=1 is greedy whatever the temperature.
    greedy = model.generate(prompt, 12, temperature=0.0)
    np.testing.assert_array_equal(model.generate(prompt, 12, temperature=5.0, top_k=1), greedy)


def test_keys_without_transformer_prefix_and_lm_head(tmp_path):
    hf = make_hf(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    stripped = {k.removeprefix("transformer."): v for k, v in tensors.items()}
    stripped["lm_head.weight"] = stripped["wte.weight"]  # an explicit tied head is accepted
    stripped["h.0.attn.bias"] = np.tril(np.ones((1, 1, 16, 16), dtype=np.float32))  # buffer
    save_file(stripped, tmp_path / "model.safetensors")
    ours = GPT.from_pretrained(tmp_path, dtype="float64")
    idx = np.array([[1, 2, 3, 4]])
    np.testing.assert_allclose(ours(idx).numpy(), hf_logits(hf, idx, torch.float64), atol=1e-9)


def test_conv1d_weights_are_transposed_to_linear_layout(tmp_path):
    make_hf(tmp_path, n_embd=32)
    tensors = load_file(tmp_path / "model.safetensors")
    state = GPT.from_pretrained(tmp_path).state_dict()
    fc = "transformer.h.1.mlp.c_fc.weight"
    assert tensors[fc].shape == (32, 128) and state[fc].shape == (128, 32)
    np.testing.assert_array_equal(state[fc], tensors[fc].T)
    assert "lm_head.weight" not in state  # tied: only the embedding is a parameter


def test_wrong_shape_names_key_and_shapes(tmp_path):
    make_hf(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    key = "transformer.h.1.attn.c_proj.weight"
    tensors[key] = tensors[key][:, :31].copy()
    save_file(tensors, tmp_path / "model.safetensors")
    shapes = r"h\.1\.attn\.c_proj\.weight.*\(32, 31\).*\(32, 32\)"
    with pytest.raises(CheckpointError, match=shapes):
        GPT.from_pretrained(tmp_path)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    make_hf(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["transformer.h.0.ln_2.bias"]
    tensors["transformer.h.0.extra"] = np.zeros(3, dtype=np.float32)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing keys.*h\.0\.ln_2\.bias.*unexpected.*extra"):
        GPT.from_pretrained(tmp_path)


def test_config_that_disagrees_with_weights(tmp_path):
    make_hf(tmp_path, n_layer=2)
    config = json.loads((tmp_path / "config.json").read_text())
    config["n_layer"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"missing keys.*transformer\.h\.2\."):
        GPT.from_pretrained(tmp_path)


def test_corrupt_file_and_missing_directory(tmp_path):
    make_hf(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: .*truncated"):
        GPT.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"(?s)not found.*hf download gpt2"):
        GPT.from_pretrained(tmp_path / "no" / "such" / "dir")
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT.from_pretrained(tmp_path)


def test_half_precision_checkpoint_names_dtype_and_tensor(tmp_path):
    hf = make_hf(tmp_path, n_layer=1)
    hf.to(torch.bfloat16).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor '.*' .*BF16.*float32"):
        GPT.from_pretrained(tmp_path)


def test_bad_idx_is_rejected():
    model = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, vocab_size=10, block_size=4))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(np.array([[1, 10]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate(np.array([[-1]]), 2)
    with pytest.raises(ValueError, match="empty"):
        model.generate(np.zeros((1, 0), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="2-D"):
        model.generate(np.array([1, 2]), 2)
    with pytest.raises(TypeError, match="integer"):
        model(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="block_size"):
        model(np.zeros((1, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[1]]), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(np.array([[1]]), 2, top_k=0)
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_layer=1, n_head=3, n_embd=8, vocab_size=10, block_size=4)


def _torch_grads(hf, idx, targets):
    """Gradients of the mean next-token cross-entropy in float64, in our layout."""
    hf = hf.double()
    hf.zero_grad()
    logits = hf(torch.as_tensor(idx)).logits
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), torch.as_tensor(targets).reshape(-1)
    )
    loss.backward()
    grads = {}
    for name, p in hf.named_parameters():
        if name == "lm_head.weight":
            continue  # the same tensor as wte: its gradient already includes the head's
        g = p.grad.numpy()
        grads[name] = g.T if name.endswith(CONV1D) else g
    return loss.item(), grads


@pytest.mark.parametrize("idx, targets", [
    ([[1, 2, 3], [4, 5, 6]], [[2, 3, 0], [5, 6, 1]]),
    ([[1], [4]], [[2], [5]]),  # one token: attention takes its own path (no permute)
])
def test_lm_loss_gradients_match_across_engines_and_torch(tmp_path, idx, targets):
    hf = make_hf(tmp_path, n_layer=1, n_head=2, n_embd=8, vocab_size=7, n_positions=4)
    idx, targets = np.array(idx), np.array(targets)
    torch_loss, torch_grads = _torch_grads(hf, idx, targets)
    for engine in ("scalar", "tensor"):
        model = GPT.from_pretrained(tmp_path, engine=engine, dtype="float64")
        _, loss = model(idx, targets)
        loss.backward()
        assert abs(loss.item() - torch_loss) <= 1e-12 * abs(torch_loss)
        grads = dict(model.named_parameters())
        assert set(grads) == set(torch_grads)
        for name, expected in torch_grads.items():
            got = grads[name].grad
            scale = np.abs(expected).max()
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale, err_msg=name)


def test_float32_stays_float32(monkeypatch):
    """Activations, logits, loss, gradients and decode steps of a float32 model are float32
    (a stray numpy float64 scalar would silently promote them: REFERENCE.md, NEP 50)."""
    seen: list[tuple[str, np.dtype]] = []

    def spy(cls):
        original = cls.forward

        def forward(self, x):
            out = original(self, x)
            seen.append((cls.__name__ + " in", x.dtype))
            seen.append((cls.__name__ + " out", out.dtype))
            return out

        monkeypatch.setattr(cls, "forward", forward)

    spy(Linear)
    spy(LayerNorm)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=16, vocab_size=20, block_size=8))
    idx = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    logits, loss = model(idx, np.roll(idx, -1, axis=1))
    loss.backward()
    assert logits.dtype == np.float32 and loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    model.generate(idx, 6, temperature=0.0)  # prefill + cached decode + cropped recompute
    assert len(seen) > 40
    assert {dtype for _, dtype in seen} == {np.dtype(np.float32)}, seen


def test_save_and_load_roundtrip(tmp_path):
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=9, block_size=6))
    model.save(tmp_path / "tiny", metadata={"vocab": "abcdefghi"})
    loaded, meta = GPT.load(tmp_path / "tiny")
    assert meta == {"vocab": "abcdefghi"}
    assert loaded.config == model.config
    idx = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(loaded(idx).numpy(), model(idx).numpy())


# --------------------------------------------------------------------------- configs


def write_config(tmp_path, **changes):
    """A valid tiny Hugging Face folder whose config.json gets ``changes``."""
    make_hf(tmp_path, n_layer=1)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_layer": 1.0}, r"n_layer must be an int, got 1\.0 \(float\)"),
        ({"n_layer": True}, r"n_layer must be an int, got True \(bool\)"),
        ({"n_head": "2"}, r"n_head must be an int, got '2' \(str\)"),
        ({"n_embd": 0}, r"n_embd must be positive, got 0"),
        ({"vocab_size": -5}, r"vocab_size must be positive, got -5"),
        ({"n_positions": None}, r"n_positions must be an int, got None"),
        ({"n_head": 3}, r"n_embd \(32\) must be divisible by n_head \(3\)"),
        ({"layer_norm_epsilon": "1e-5"}, r"layer_norm_epsilon must be a number, got '1e-5'"),
        ({"layer_norm_epsilon": float("nan")}, r"layer_norm_epsilon must be finite and > 0"),
        ({"layer_norm_epsilon": 0}, r"layer_norm_epsilon must be finite and > 0, got 0"),
        ({"n_layer": 10**6}, r"n_layer 1000000 is over the limit 1000"),
        ({"n_embd": 2**20, "n_head": 1}, r"parameters, over the limit"),
        ({"n_inner": 100.0}, r"n_inner 100\.0 is not 4 \* n_embd"),
        ({"activation_function": "relu"}, r"activation_function 'relu'"),
        ({"scale_attn_weights": 1}, r"scale_attn_weights=1 is not supported"),
        ({"model_type": "llama"}, r"model_type 'llama' is not 'gpt2'"),
    ],
)
def test_hf_config_is_checked_field_by_field_before_reading_weights(
    tmp_path, monkeypatch, changes, message
):
    write_config(tmp_path, **changes)
    read = []
    monkeypatch.setattr(gpt_checkpoint, "load_state_dict_file", lambda path: read.append(path))
    with pytest.raises(CheckpointError, match=r"config\.json: .*" + message):
        GPT.from_pretrained(tmp_path)
    assert not read


def test_hf_config_that_is_not_an_object_or_lacks_fields(tmp_path):
    write_config(tmp_path)
    (tmp_path / "config.json").write_text("[12, 12]")
    with pytest.raises(CheckpointError, match=r"config\.json: expected a JSON object"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"n_layer": 1}')
    with pytest.raises(CheckpointError, match=r"lacks the GPT-2 fields \['n_head'"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON") as info:
        GPT.from_pretrained(tmp_path)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_config_limits_and_parameter_count():
    config = GPTConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=5)
    assert config.num_parameters() == GPT(config).num_parameters()
    assert GPTConfig().num_parameters() == 124_439_808  # GPT-2 small
    assert GPTConfig(n_layer=np.int64(2)).n_layer == 2 and type(GPTConfig(n_layer=np.int64(2))
                                                                 .n_layer) is int  # fmt: skip
    with pytest.raises(ValueError, match="over the limit"):
        GPTConfig(n_layer=1000, n_embd=2048, n_head=16)


def test_saved_description_is_checked_before_anything_is_built(tmp_path, monkeypatch):
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=9, block_size=6))
    model.save(tmp_path / "m", metadata={"vocab": "abcdefghi"})
    info = json.loads((tmp_path / "m.json").read_text())

    def fail(*args, **kwargs):
        raise AssertionError("a model was built from an unchecked description")

    monkeypatch.setattr(GPT, "_from_state", classmethod(fail))
    cases = [
        ({**info, "config": {**info["config"], "n_layer": 10**6}}, r"m\.json: .*n_layer 1000000"),
        ({**info, "config": {**info["config"], "n_layer": 500, "n_embd": 512, "n_head": 8}},
         r"m\.safetensors does not match the config: missing keys"),  # 1.6e9 parameters
        ({**info, "config": {**info["config"], "extra": 1}}, r"unknown fields \['extra'\]"),
        ({**info, "config": {k: v for k, v in info["config"].items() if k != "block_size"}},
         r"missing fields \['block_size'\]"),
        ({**info, "config": [1, 2]}, r"config must be a JSON object, got list"),
        ({"vocab": "x"}, r"has no 'config' entry"),
        ({**info, "config": {**info["config"], "n_embd": 8.0}}, r"n_embd must be an int"),
    ]  # fmt: skip
    for description, message in cases:
        (tmp_path / "m.json").write_text(json.dumps(description))
        with pytest.raises(CheckpointError, match=message):
            GPT.load(tmp_path / "m")
    (tmp_path / "m.json").write_text("[]")
    with pytest.raises(CheckpointError, match=r"m\.json: expected a JSON object"):
        GPT.load(tmp_path / "m")


def test_expected_shapes_match_the_model_without_building_it():
    config = GPTConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=5)
    model = GPT(config)
    assert gpt_checkpoint._expected_shapes(config) == {
        name: tuple(p.shape) for name, p in model.state_dict().items()
    }


# --------------------------------------------------------------------------- loading


def test_from_pretrained_draws_no_random_weights(tmp_path):
    """Loading builds the model without a random initialisation: the seeded generator is
    untouched, and the weights are exactly the file's."""
    make_hf(tmp_path)
    shared_nn.manual_seed(3)
    expected_next = shared_nn.init.generator().bit_generator.state
    shared_nn.manual_seed(3)
    model = GPT.from_pretrained(tmp_path, dtype="float64")
    assert shared_nn.init.generator().bit_generator.state == expected_next
    tensors = load_file(tmp_path / "model.safetensors")
    state = model.state_dict()
    for key, value in tensors.items():
        if key in state:
            ours = state[key].T if key.endswith(CONV1D) else state[key]
            np.testing.assert_array_equal(ours, value, err_msg=key)


def test_skip_init_is_scoped():
    config = GPTConfig(n_layer=1, n_head=1, n_embd=4, vocab_size=5, block_size=3)
    with shared_nn.init.skip_init():
        assert shared_nn.init.skipping_init()
        blank = GPT(config)
    assert not shared_nn.init.skipping_init()
    assert all(not p.numpy().any() for n, p in blank.named_parameters() if ".ln_" not in n)
    assert any(p.numpy().any() for p in GPT(config).parameters() if p.numpy().ndim == 2)


# --------------------------------------------------------------------------- no network


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (and is recorded)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_a_name_that_is_not_a_folder_never_touches_the_network(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)  # so that "gpt2" is certainly not a folder here
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        GPT.from_pretrained("gpt2")
    message = str(info.value)
    assert "not found: gpt2" in message
    assert "hf download gpt2 config.json model.safetensors --local-dir DIR" in message
    assert "hf:gpt2" in message and "download=True" in message
    assert no_network == []


def test_hub_is_used_only_when_asked(tmp_path, monkeypatch, no_network):
    make_hf(tmp_path)
    asked = []

    def fake_snapshot(name):
        asked.append(name)
        return tmp_path

    monkeypatch.setattr(gpt_checkpoint, "_hub_snapshot", fake_snapshot)
    monkeypatch.chdir(tmp_path.parent)
    GPT.from_pretrained("hf:openai-community/gpt2")
    GPT.from_pretrained("gpt2", download=True)
    assert asked == ["openai-community/gpt2", "gpt2"]
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model name"):
        GPT.from_pretrained("hf:../../etc")
    assert no_network == []


def test_missing_huggingface_hub_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r'huggingface_hub.*pip install "dualgrad\[examples\]"'):
        gpt_checkpoint._hub_snapshot("gpt2")


# --------------------------------------------------------------------------- saving


def test_gpt_save_is_atomic_and_writes_through_symlinks(tmp_path, monkeypatch):
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=9, block_size=6))
    real = tmp_path / "real"
    real.mkdir()
    model.save(real / "m", metadata={"vocab": "abcdefghi"})
    (tmp_path / "m.safetensors").symlink_to(real / "m.safetensors")
    (tmp_path / "m.json").symlink_to(real / "m.json")
    other = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=9, block_size=6))
    other.save(tmp_path / "m", metadata={"vocab": "ihgfedcba"})
    assert (tmp_path / "m.safetensors").is_symlink() and (tmp_path / "m.json").is_symlink()
    loaded, meta = GPT.load(real / "m")
    assert meta == {"vocab": "ihgfedcba"}
    np.testing.assert_array_equal(loaded.transformer.wte.weight.numpy(),
                                  other.transformer.wte.weight.numpy())  # fmt: skip
    before = {p.name: p.read_bytes() for p in real.iterdir()}

    def broken_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="Input/output"):
        model.save(real / "m", metadata={"vocab": "zzz"})
    assert {p.name: p.read_bytes() for p in real.iterdir()} == before  # no temp files either


@pytest.mark.parametrize("engine", ["tensor", "scalar"])
def test_kv_cache_grows_in_place_and_returns_everything_so_far(engine):
    """Appends of 5, then 1 at a time, past two doublings and up to max_length: the views it
    returns hold every key and value so far; the buffers grow only when full."""
    E = shared_nn.get_engine(engine)
    rng = np.random.default_rng(0)
    cache, keys, values = KVCache(max_length=40), [], []
    buffers = []
    with E.no_grad():
        for step in range(36):
            width = 5 if step == 0 else 1
            k, v = (E.tensor(rng.normal(size=(2, 3, width, 4))) for _ in range(2))
            keys.append(k.numpy())
            values.append(v.numpy())
            all_k, all_v = cache.append(k, v, E)
            buffers.append(cache.k.shape[2])
            np.testing.assert_array_equal(all_k.numpy(), np.concatenate(keys, axis=2))
            np.testing.assert_array_equal(all_v.numpy(), np.concatenate(values, axis=2))
            assert len(cache) == all_k.shape[2] == 5 + step
    assert sorted(set(buffers)) == [16, 34, 40]  # doubling what is needed, capped at 40


def _decoder_block_calls(monkeypatch) -> list[tuple]:
    """Count the tensor engine's fused block calls (the shape of each call's input)."""
    from tensor_engine import fused

    calls, original = [], fused.decoder_block_step

    def counting(x, *args, **kwargs):
        calls.append(x.shape)
        return original(x, *args, **kwargs)

    monkeypatch.setattr(fused, "decoder_block_step", counting)
    return calls


def _decode_hidden(model, prompt, next_ids):
    """Hidden states of a prompt pass and then one token at a time through KV caches."""
    caches = [KVCache() for _ in range(model.config.n_layer)]
    with shared_nn.get_engine(model.engine).no_grad():
        out = [model._hidden(prompt, caches).numpy()]
        out += [model._hidden(next_ids[:, [t]], caches).numpy() for t in range(next_ids.shape[1])]
    return out, caches


def _random_gpt(dtype, seed=0):
    shared_nn.manual_seed(seed)
    model = GPT(GPTConfig(n_layer=3, n_head=4, n_embd=32, vocab_size=50, block_size=32),
                engine="tensor", dtype=dtype)
    rng = np.random.default_rng(seed)
    for p in model.parameters():  # non-trivial LayerNorm affines and biases
        p.assign_(p.numpy() + rng.normal(0, 0.1, p.shape).astype(dtype))
    return model, rng.integers(0, 50, (2, 5)), rng.integers(0, 50, (2, 6))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_decoding_runs_each_block_as_one_fused_op(monkeypatch, dtype):
    """Under no_grad with a cache, a block on one token is one ``decoder_block_step`` call.
    Its hidden states and cache contents are bit-identical to the block's layers run one by
    one (the op made unavailable), agree with the composed path (fusion off) to rounding,
    and keep the model's dtype."""
    model, prompt, next_ids = _random_gpt(dtype)
    calls = _decoder_block_calls(monkeypatch)
    fast, fast_caches = _decode_hidden(model, prompt, next_ids)
    assert calls == [(2, 1, 32)] * (3 * 6)  # every block of every decoded token; not the prompt
    assert {h.dtype for h in fast} == {np.dtype(dtype)}
    with shared_nn.functional.fused(False):
        composed, _ = _decode_hidden(model, prompt, next_ids)
    assert len(calls) == 3 * 6  # fusion off: no fused block either
    from tensor_engine import fused

    monkeypatch.delattr(fused, "decoder_block_step")
    layered, layered_caches = _decode_hidden(model, prompt, next_ids)
    tol = {"float32": 2e-5, "float64": 1e-12}[dtype]
    for got, same, near in zip(fast, layered, composed, strict=True):
        np.testing.assert_array_equal(got, same)
        np.testing.assert_allclose(got, near, rtol=tol, atol=tol)
    for a, b in zip(fast_caches, layered_caches, strict=True):
        assert len(a) == len(b) == 11
        np.testing.assert_array_equal(a.k.numpy()[:, :, :11], b.k.numpy()[:, :, :11])
        np.testing.assert_array_equal(a.v.numpy()[:, :, :11], b.v.numpy()[:, :, :11])


def test_fused_block_is_skipped_where_it_would_compute_something_else(monkeypatch):
    """The fused block runs only for the stock block: a replaced layer (here a Linear
    subclass that doubles its output) makes that block run layer by layer, so the change
    shows; grad mode on makes every block record its graph."""

    class Doubled(Linear):
        def forward(self, x):
            return super().forward(x) * 2.0

    model, prompt, next_ids = _random_gpt("float64")
    plain, _ = _decode_hidden(model, prompt, next_ids)
    old = model.transformer.h[1].mlp.c_proj
    model.transformer.h[1].mlp.c_proj = Doubled(old.in_features, old.out_features,
                                                engine="tensor", dtype="float64")
    model.transformer.h[1].mlp.c_proj.load_state_dict(old.state_dict())
    calls = _decoder_block_calls(monkeypatch)
    changed, _ = _decode_hidden(model, prompt, next_ids)
    assert len(calls) == 2 * 6  # blocks 0 and 2 only
    with shared_nn.functional.fused(False):
        want, _ = _decode_hidden(model, prompt, next_ids)
    for got, ref, before in zip(changed, want, plain, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
        assert not np.allclose(got, before)
    block, cache = model.transformer.h[0], KVCache()
    y = block(shared_nn.get_engine("tensor").tensor(np.ones((2, 1, 32))), cache)
    assert y.requires_grad and len(calls) == 2 * 6 and len(cache) == 1
    with shared_nn.get_engine("tensor").no_grad(), pytest.raises(ValueError, match="LayerNorm"):
        block(shared_nn.get_engine("tensor").tensor(np.ones((2, 1, 30))), cache)  # too narrow
    assert len(calls) == 2 * 6
