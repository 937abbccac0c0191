"""Fixed answers from the references that a mutation test showed the rest of the suite could
miss: a Hugging Face checkpoint whose Conv1D weights are square (``attn.c_proj``: a loader that
forgets to transpose it still gets the shapes right), Linear's initialisation bound, and the
GPT-2 tokenizer's rule for runs of whitespace."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import shared_nn
from shared_nn.models.gpt import GPT
from shared_nn.tokenizer import GPT2Tokenizer
from tests.shared_nn.test_gpt import hf_logits, make_hf

from .checker import ENGINES, assert_close


@pytest.mark.parametrize("engine", ENGINES)
def test_from_pretrained_with_square_conv1d_weights_matches_transformers(tmp_path, engine):
    hf = make_hf(tmp_path, n_layer=1, n_head=2, n_embd=8, vocab_size=13, n_positions=6)
    state = hf.state_dict()
    assert state["transformer.h.0.attn.c_proj.weight"].shape == (8, 8)  # square: the trap
    assert not torch.equal(state["transformer.h.0.attn.c_proj.weight"],
                           state["transformer.h.0.attn.c_proj.weight"].T)
    ours = GPT.from_pretrained(tmp_path, engine=engine, dtype="float64")
    idx = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]])
    assert_close(f"{engine}: logits", ours(idx).numpy(), hf_logits(hf, idx, torch.float64))


@pytest.mark.parametrize("engine", ENGINES)
def test_linear_initialisation_bound_is_torchs(engine):
    """U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and bias, as torch.nn.Linear."""
    fan_in = 30 if engine == "scalar" else 300
    shared_nn.manual_seed(0)
    layer = shared_nn.Linear(fan_in, 200, engine=engine)
    bound = 1 / np.sqrt(fan_in)
    for name in ("weight", "bias"):
        values = getattr(layer, name).numpy()
        assert np.abs(values).max() <= bound, name
        assert np.abs(values).max() > 0.97 * bound, f"{name} does not reach torch's bound"
        assert abs(values.mean()) < 0.1 * bound, name
    torch_bias = torch.nn.Linear(fan_in, 200).bias.detach().numpy()
    assert np.abs(torch_bias).max() <= bound < 1.05 * np.abs(torch_bias).max()


WHITESPACE_RUNS = {  # transformers' GPT2Tokenizer on GPT-2's vocab.bpe / encoder.json
    "Hello  world": [15496, 220, 995],
    "a   b": [64, 220, 220, 275],
    "x \n\n  y": [87, 220, 628, 220, 331],
    "  leading": [220, 3756],
    "trailing   ": [9535, 4386, 220, 220, 220],
    "tab\t\t x": [8658, 197, 197, 2124],
    "new\n \nline": [3605, 198, 220, 198, 1370],
    "end \n": [437, 220, 198],
}


@pytest.mark.parametrize("text", list(WHITESPACE_RUNS))
def test_gpt2_tokenizer_whitespace_runs_match_transformers(text):
    tokenizer = GPT2Tokenizer()
    assert tokenizer.encode(text) == WHITESPACE_RUNS[text]
    assert tokenizer.decode(WHITESPACE_RUNS[text]) == text
