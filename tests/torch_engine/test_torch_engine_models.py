"""shared_nn's models on ``engine="torch"``: the same seed gives bit-identical initial weights
as on the tensor engine, outputs agree, grad mode switches it, and it stays optional."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shared_nn as nn
from shared_nn.models.gpt import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[2]
TINY_GPT = GPTConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=6)

rng = np.random.default_rng(5)
MODELS: dict[str, tuple[Callable[..., Any], Any]] = {
    # name: (factory taking engine= and dtype=, its input)
    "mlp": (lambda **kw: nn.models.MLP([4, 6, 3], activation="gelu", layer_norm=True, **kw),
            rng.standard_normal((5, 4))),
    "rnn-classifier": (lambda **kw: nn.models.RNNClassifier(3, 4, 2, num_layers=2, **kw),
                       rng.standard_normal((2, 5, 3))),
    "char-rnn": (lambda **kw: nn.models.CharRNN(7, 3, 5, **kw), rng.integers(0, 7, (2, 6))),
    "char-lstm": (lambda **kw: nn.models.CharRNN(7, 3, 5, num_layers=2, cell="lstm", **kw),
                  rng.integers(0, 7, (2, 6))),
    "char-gru": (lambda **kw: nn.models.CharRNN(7, 3, 5, num_layers=2, cell="gru", **kw),
                 rng.integers(0, 7, (2, 6))),
    "gpt": (lambda **kw: GPT(TINY_GPT, **kw), rng.integers(0, 11, (2, 6))),
}


def _build(name: str, engine: str, dtype: Any = None) -> nn.Module:
    nn.manual_seed(1234)
    return MODELS[name][0](engine=engine, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", None])
@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_weights_and_outputs(name: str, dtype: Any) -> None:
    tensor_model, torch_model = _build(name, "tensor", dtype), _build(name, "torch", dtype)
    want, got = tensor_model.state_dict(), torch_model.state_dict()
    assert list(got) == list(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)  # bitwise
    x = MODELS[name][1]
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(torch_model(x).numpy(), tensor_model(x).numpy(), rtol=rtol,
                               atol=rtol)


def test_gpt_greedy_generation_is_the_same_on_torch() -> None:
    idx = np.array([[1, 2, 3]])
    tensor_model, torch_model = _build("gpt", "tensor", "float64"), _build("gpt", "torch",
                                                                             "float64")
    np.testing.assert_array_equal(torch_model.generate(idx, 3, temperature=0.0),
                                  tensor_model.generate(idx, 3, temperature=0.0))


def test_to_engine_torch_and_back_keeps_the_weights() -> None:
    model = _build("mlp", "scalar")
    there = model.to_engine("torch", dtype="float64")
    assert type(next(there.parameters())).engine == "torch"
    back = there.to_engine("scalar")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_a_torch_engine_model_refuses_other_engines_tensors() -> None:
    model = _build("mlp", "torch", "float64")
    with pytest.raises(TypeError, match="torch engine.*tensor engine"):
        model(nn.tensor(np.ones((1, 4)), engine="tensor", dtype="float64"))


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT)})


def test_shared_nn_grad_mode_never_imports_torch_but_switches_it_once_loaded() -> None:
    result = _python(
        "import sys, shared_nn as nn\n"
        "with nn.no_grad():\n"
        "    assert not nn.is_grad_enabled()\n"
        "assert 'torch' not in sys.modules and 'torch_engine' not in sys.modules\n"
        "import torch, torch_engine\n"
        "with nn.no_grad():\n"
        "    assert not torch.is_grad_enabled()\n"
        "    with nn.enable_grad():\n"
        "        assert torch.is_grad_enabled()\n"
        "with nn.set_grad_enabled(False):\n"
        "    assert not torch.is_grad_enabled()\n"
        "assert torch.is_grad_enabled()\n"
        "print('ok')\n")
    assert result.stdout.strip() == "ok", result.stderr


def test_without_torch_the_engine_says_how_to_install_it() -> None:
    result = _python(
        "import sys; sys.modules['torch'] = None  # as if not installed\n"
        "import numpy as np, shared_nn as nn\n"
        "from shared_nn.engine import engine_available, available_engines\n"
        "assert not engine_available('torch') and available_engines() == ('scalar', 'tensor')\n"
        "for load in (lambda: __import__('torch_engine'), lambda: nn.get_engine('torch')):\n"
        "    try:\n"
        "        load()\n"
        "    except ImportError as err:\n"
        "        assert 'pip install \"dualgrad[torch]\"' in str(err), err\n"
        "    else:\n"
        "        raise SystemExit('no ImportError')\n"
        "from shared_nn.testing import assert_engines_agree\n"
        "report = assert_engines_agree(lambda **kw: nn.Linear(2, 3, **kw), np.ones((1, 2)))\n"
        "assert report.reference == 'scalar' and report.skipped == {'torch': 'not installed'}\n"
        "print('ok')\n")
    assert result.stdout.strip() == "ok", result.stderr
