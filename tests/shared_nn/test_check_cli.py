"""``python -m shared_nn.check model.py:build`` on model files written in tmp_path: exit 0 when
the engines agree, 1 when one disagrees, 2 with a one-line error for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared_nn.check import main

ROOT = Path(__file__).resolve().parents[2]

MODEL = textwrap.dedent('''
    import numpy as np
    import shared_nn as nn


    class Gated(nn.Module):
        def __init__(self, engine=None, dtype=None):
            super().__init__(engine=engine, dtype=dtype)
            self.fc = nn.Linear(3, 2, engine=self.engine, dtype=self._dtype_request)
            self.gain = self.new_parameter(np.array([0.5, 1.5]))

        def forward(self, x):
            h = self.fc(x) * self.gain
            if self.engine == "tensor" and DRIFT:
                h = h * 1.0001
            return h.tanh()


    DRIFT = False


    def build(engine=None, dtype=None):
        return Gated(engine=engine, dtype=dtype)


    def drifting(engine=None, dtype=None):
        global DRIFT
        DRIFT = True
        return Gated(engine=engine, dtype=dtype)


    def broken():
        raise RuntimeError("weights file missing")


    def example_input(batch):
        rng = np.random.default_rng(0)
        return rng.standard_normal((batch, 3)), rng.integers(0, 2, batch)
''')


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "shared_nn.check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_agreeing_model_exits_0_with_the_table(model_file: Path) -> None:
    result = _run("model.py:build", "--steps", "2", cwd=model_file.parent)
    assert result.returncode == 0, result.stderr
    assert "scalar, tensor agree with torch (the reference) in float64" in result.stdout
    assert "grad of gain" in result.stdout and "gain after steps 1-2" in result.stdout


def test_disagreeing_model_exits_1_naming_engine_and_parameters(model_file: Path) -> None:
    result = _run(f"{model_file}:drifting", "--plain", cwd=model_file.parent.parent)
    assert result.returncode == 1, result.stderr
    first = result.stdout.splitlines()[0]
    assert "output on the tensor engine vs torch" in first
    summary = next(line for line in result.stdout.splitlines() if "disagrees on:" in line)
    assert summary.strip().startswith("tensor disagrees on: output, loss, ")
    for name in ("gain", "fc.weight", "fc.bias"):
        assert f"grad of {name}" in summary
    assert "scalar disagrees" not in result.stdout


@pytest.mark.parametrize(("target", "words"), [
    ("model.py:missing", "defines no function 'missing'"),
    ("nowhere.py:build", "no such file: nowhere.py"),
    ("model.py:broken", "model.py:broken: RuntimeError: weights file missing"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(model_file: Path, target: str,
                                                           words: str) -> None:
    result = _run(target, cwd=model_file.parent)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m shared_nn.check: error: ")
    assert words in lines[0]


@pytest.mark.parametrize("options", [
    ["--engines", "scalar,gpu"], ["--engines", "scalar"], ["--dtype", "float16"],
    ["--steps", "-1"], ["--batch", "0"], ["--seed", "x"], ["--nonsense"],
])
def test_bad_option_values_exit_2(model_file: Path, options: list[str],
                                  capsys: pytest.CaptureFixture) -> None:
    assert main([str(model_file), *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m shared_nn.check: error: ")


def test_without_example_input_the_batch_is_guessed(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "lm.py").write_text(textwrap.dedent('''
        import shared_nn as nn

        def build():
            return nn.models.CharRNN(7, 3, 4)

        def loss(logits, targets):
            return (logits * logits).mean()

        def optimizer(params):
            return nn.optim.Adam(params, lr=0.01)
    '''))
    code = main([f"{tmp_path / 'lm.py'}", "--engines", "tensor,torch", "--batch", "2",
                 "--steps", "2", "--plain"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tensor agree with torch" in out and "embed.weight after steps 1-2" in out
    assert "grad of input" not in out  # integer ids are not differentiated


def test_a_model_whose_input_cannot_be_guessed(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "act.py").write_text("import shared_nn as nn\n\n\ndef build():\n"
                                     "    return nn.Tanh()\n")
    assert main([str(tmp_path / "act.py")]) == 2
    assert "define example_input(batch)" in capsys.readouterr().err


def test_the_worked_example_of_docs_checking_md(capsys: pytest.CaptureFixture) -> None:
    """docs/checking.md pastes this output: the good model agrees, the leaky one does not."""
    example = str(ROOT / "docs" / "checking_example.py")
    assert main([f"{example}:build", "--steps", "3", "--plain"]) == 0
    assert "38 comparisons" in capsys.readouterr().out
    assert main([f"{example}:build_leaky", "--plain"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("engines disagree. First disagreement: output on the tensor engine")
    assert "max abs diff 2.69e-05" in out


def test_int_and_bool_outputs_are_compared_exactly(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """A model that also returns its predicted classes (int64) and a mask (bool), with int64
    tensor ids as input: the extra outputs are compared exactly and never differentiated."""
    (tmp_path / "cls.py").write_text(textwrap.dedent('''
        import numpy as np
        import shared_nn as nn


        class Classifier(nn.Module):
            def __init__(self, engine=None, dtype=None):
                super().__init__(engine=engine, dtype=dtype)
                self.embed = nn.Embedding(6, 3, engine=self.engine, dtype=self._dtype_request)
                self.fc = nn.Linear(3, 4, engine=self.engine, dtype=self._dtype_request)

            def forward(self, ids):
                logits = self.fc(self.embed(ids).sum(dim=1))
                return logits, logits.argmax(dim=-1), logits > 0


        def build(engine=None, dtype=None):
            return Classifier(engine=engine, dtype=dtype)


        def example_input(batch):
            return nn.tensor(np.arange(batch * 2).reshape(batch, 2) % 6)
    '''))
    code = main([f"{tmp_path / 'cls.py'}", "--steps", "1", "--plain"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()]
    exact = [row[:3] for row in rows if row and row[-2:] == ["exact", "ok"]]
    assert sorted(exact) == [["output", "1", "scalar"], ["output", "1", "tensor"],
                             ["output", "2", "scalar"], ["output", "2", "tensor"]]
    assert "grad of embed.weight" in out and "grad of input" not in out


@pytest.mark.parametrize("code", ["0", "None", "3"])
def test_a_file_that_exits_while_imported_is_not_a_pass(tmp_path: Path, code: str) -> None:
    """A script whose top level calls ``sys.exit(0)`` once made the check exit 0 with no
    output: a CI job would pass without anything checked. It is a usage error (2)."""
    (tmp_path / "script.py").write_text(f"import sys\nsys.exit({code})\n")
    result = _run("script.py:build", cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "called sys.exit(" in lines[0] and "nothing was checked" in lines[0]
