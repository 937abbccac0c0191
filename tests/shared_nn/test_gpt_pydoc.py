"""The shipped small GPT (shared_nn/data/gpt_pydoc.*), examples/gpt2.py and the benchmark's
smoke mode."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scalar_engine
from shared_nn.data import pydoc_text
from shared_nn.models.gpt import GPT, PYDOC_MODEL, load_pydoc_model

ROOT = Path(__file__).resolve().parents[2]


def _load_script(relative: str):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_files_are_small_and_describe_the_model():
    weights = PYDOC_MODEL.with_suffix(".safetensors")
    info = json.loads(PYDOC_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert weights.stat().st_size <= 4 * 2**20
    assert info["tokenizer"] == "char"
    assert info["config"]["vocab_size"] == len(info["vocab"])
    assert info["training"]["val_loss"] < 2.5  # a uniform guess would be ln(vocab) ~ 4.6


def test_shipped_model_has_learned_python_docs():
    """Its loss on a slice of the text is far below a uniform guess, on both engines alike."""
    model, tok = load_pydoc_model(engine="tensor", dtype="float64")
    text = pydoc_text()
    ids = np.array([tok.encode(text[-5000:])])  # the held-out end of the text
    T = model.config.block_size
    windows = np.concatenate([ids[:, i : i + T + 1] for i in range(0, 4 * T, T)])
    _, loss = model(windows[:, :-1], windows[:, 1:])
    assert loss.item() < 2.5 < np.log(tok.vocab_size)
    scalar, _ = load_pydoc_model(engine="scalar")
    short = ids[:, :3]
    with scalar_engine.no_grad():  # ~a million Values per token: no graph needed here
        got = scalar(short).numpy()
    np.testing.assert_allclose(got, model(short).numpy(), rtol=0, atol=1e-9)


def test_example_generates_on_the_tensor_engine(capsys):
    gpt2 = _load_script("examples/gpt2.py")
    text = gpt2.main(["--prompt", "The for statement", "--max-new-tokens", "40", "--seed", "1"])
    assert text.startswith("The for statement") and len(text) == len("The for statement") + 40
    again = gpt2.main(["--prompt", "The for statement", "--max-new-tokens", "40", "--seed", "1",
                       "--no-cache"])  # fmt: skip
    assert again == text
    assert "tokens/s" in capsys.readouterr().err


def test_example_generates_on_the_scalar_engine():
    gpt2 = _load_script("examples/gpt2.py")
    text = gpt2.main(["--prompt", "def", "--engine", "scalar", "--max-new-tokens", "2",
                      "--temperature", "0"])  # fmt: skip
    model, tok = load_pydoc_model(engine="tensor", dtype="float64")
    expected = model.generate(np.array([tok.encode("def")]), 2, temperature=0.0)
    assert text == tok.decode(expected[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "--temperature"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--engine", "gpu"], "--engine"),
        (["--prompt", "\u2603 snowman"], "not in this model's vocabulary"),
        (["--prompt", ""], "empty"),
        (["--weights", "no/such/folder"], "no/such/folder: folder not found"),
    ],
)
def test_example_bad_input_is_one_line_and_nonzero(args, message):
    # PYTHONPATH: the script must import this checkout's shared_nn, not an installed copy.
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "gpt2.py"), *args],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_benchmark_quick_smoke(capsys):
    bench = _load_script("benchmarks/gpt2_vs_torch.py")
    bench.main(["--quick", "--repeats", "1", "--new-tokens", "4", "--forward-tokens", "8",
                "--threads", "1", "--no-write"])  # fmt: skip
    out = capsys.readouterr().out
    assert "identical greedy tokens: yes" in out
    assert "greedy 4 tokens, KV cache" in out and "forward 1x8" in out
    assert "| efficiency |" in out and "weight-streaming limit" in out


def test_save_load_rejects_mismatched_weights(tmp_path):
    model, _ = load_pydoc_model()
    model.save(tmp_path / "m", metadata={"vocab": "x"})
    info = json.loads((tmp_path / "m.json").read_text())
    info["config"]["n_embd"] = 64
    info["config"]["n_head"] = 4
    (tmp_path / "m.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"has shape \(\d+, 128\), expected \(\d+, 64\)"):
        GPT.load(tmp_path / "m")


def test_example_with_hugging_face_weights_and_bpe(tmp_path, capsys):
    """--weights DIR: a (tiny, random) GPT-2 in Hugging Face format with GPT-2's real BPE
    vocabulary; the text must be what transformers' greedy generation decodes to."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from shared_nn.tokenizer import GPT2Tokenizer

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50257,
                                     n_positions=32, initializer_range=0.5,
                                     bos_token_id=None, eos_token_id=None)  # fmt: skip
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(tmp_path)
    gpt2 = _load_script("examples/gpt2.py")
    prompt = "Hello, I'm a language model,"
    text = gpt2.main(["--weights", str(tmp_path), "--prompt", prompt, "--max-new-tokens", "6",
                      "--temperature", "0"])  # fmt: skip
    ids = GPT2Tokenizer().encode(prompt)
    with torch.no_grad():
        expected = hf.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids),
                               dtype=torch.long), max_new_tokens=6,
                               do_sample=False, pad_token_id=0)  # fmt: skip
    assert text == GPT2Tokenizer().decode(expected[0].tolist())
    with pytest.raises(gpt2.UsageError, match="scalar engine"):
        gpt2.main(["--weights", str(tmp_path), "--engine", "scalar"])


def test_save_appends_its_suffixes_and_never_replaces_one(tmp_path):
    """``GPT.save("run.v2")`` writes run.v2.safetensors / run.v2.json; ``with_suffix`` would
    have replaced ".v2" and written over run.json, another model's file."""
    model, _ = load_pydoc_model()
    (tmp_path / "run.json").write_text("another model's")
    model.save(tmp_path / "run.v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.json", "run.v2.json", "run.v2.safetensors"]
    assert (tmp_path / "run.json").read_text() == "another model's"
    loaded, _ = GPT.load(tmp_path / "run.v2")
    assert loaded.config == model.config
    model.save(tmp_path / "named.json")  # a model suffix on the base is taken off
    assert (tmp_path / "named.safetensors").is_file() and (tmp_path / "named.json").is_file()
