"""Bad command-line input: a non-zero exit and ONE line on stderr, never a traceback.

These run the scripts as a user would (a subprocess), since what matters is what the
terminal shows. Each run stops at argument checking or data loading, so they are quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("script", "args", "fragments"),
    [
        ("mlp.py", ["--engine", "bogus"], ["--engine", "bogus"]),
        ("rnn.py", ["--engine", "gpu"], ["--engine", "gpu"]),
        ("compare.py", ["--sizes", "0"], ["--sizes", "0 must be at least 1"]),
        ("compare.py", ["--sizes", "4,x"], ["--sizes", "'x'"]),
        ("compare.py", ["--sizes", "8,5000"], ["--sizes", "n = 5000"]),
        ("compare.py", ["--batch", "-3"], ["--batch", "-3"]),
        ("compare.py", ["--model", "lstm"], ["--model", "lstm"]),
        ("mlp.py", ["--epochs", "0"], ["--epochs"]),
        ("mlp.py", ["--lr", "-1"], ["--lr"]),
        ("mlp.py", ["--hidden", "16,,-4"], ["--hidden", "-4"]),
        ("rnn.py", ["--task", "charlm", "--temperature", "-1"], ["--temperature"]),
    ],
)
def test_bad_arguments_exit_with_one_line(script, args, fragments):
    proc = run_script(script, *args)
    assert proc.returncode == 2
    assert_one_line_error(proc, *fragments)


def test_missing_mnist_directory(tmp_path):
    missing = tmp_path / "no-such-dir"
    proc = run_script("mlp.py", "--mnist", str(missing))
    assert_one_line_error(proc, "not found", "no-such-dir")


def test_corrupt_mnist_file_names_the_file(tmp_path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # 3 of 5 bytes
    proc = run_script("mlp.py", "--mnist", str(tmp_path))
    assert_one_line_error(proc, "train-images-idx3-ubyte", "truncated")


def test_bad_engine_environment_variable():
    proc = run_script("mlp.py", "--epochs", "1", env={"DUALGRAD_ENGINE": "quantum"})
    assert_one_line_error(proc, "DUALGRAD_ENGINE", "quantum")


def test_more_training_images_than_exist():
    proc = run_script("mlp.py", "--train-size", "999999")
    assert_one_line_error(proc, "--train-size 999999", "1438")


def test_prompt_with_unknown_character():
    proc = run_script("rnn.py", "--task", "charlm", "--prompt", "\u2603")
    assert_one_line_error(proc, "--prompt", "vocabulary")


def test_out_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_script("compare.py", "--out", str(blocker))
    assert_one_line_error(proc, "--out")
