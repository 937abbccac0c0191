"""examples/_cli.py: the one implementation of argument checking every example uses."""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_cli = pytest.importorskip("_cli")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (_cli.int_in(1, 10), ["1", "10", " 7 "], ["0", "11", "-1", "1.0", "nan", "x", "9" * 5000]),
        (_cli.float_in(0.0, 1.0, low_open=True), ["1e-9", "1"],
         ["0", "-0.5", "1.5", "nan", "inf", "-inf", "1e400", "one", ""]),
        (_cli.non_negative_float, ["0", "3.5"], ["-1e-300", "nan", "inf"]),
        (_cli.seed, ["0", str(2**32 - 1)], ["-1", str(2**32), "0.5"]),
        (_cli.temperature, ["0", "0.001", "1e6"], ["1e-4", "-1", "nan", "inf"]),
        (_cli.int_list(128), ["8,16", "4", "8, 16"],
         ["", ",", "8,0", "8,129", "8;16", "4,,8", "8,"]),  # an empty entry is not skipped
        (_cli.prompt, ["x", "def "], ["", "x" * (_cli.MAX_PROMPT + 1)]),
        (_cli.threads, ["1", str(_cli.available_cpus())], ["0", str(_cli.available_cpus() + 1)]),
    ],
)
def test_argument_types_accept_good_and_reject_bad(parse, good, bad):
    for text in good:
        parse(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_parsed_floats_are_finite():
    assert _cli.finite_float("-2.5") == -2.5
    for text in ("nan", "-nan", "inf", "1e309"):
        with pytest.raises(argparse.ArgumentTypeError, match="finite"):
            _cli.finite_float(text)
    assert math.isfinite(_cli.positive_float("1e308"))


def test_paths_inside_the_packages_are_refused(tmp_path):
    for inside in (ROOT / "shared_nn" / "data" / "gpt_pydoc", ROOT / "tensor_engine" / "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="inside the installed package"):
            _cli.writable_base([".json"])(str(inside))
    assert _cli.writable_base([".json"])(str(tmp_path / "new" / "model")) == \
        tmp_path / "new" / "model"


def test_writable_paths(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    assert _cli.writable_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert _cli.writable_file(str(tmp_path / "file")) == tmp_path / "file"
    for bad, parse in [("file", _cli.writable_dir), ("file/x", _cli.writable_dir),
                       ("folder", _cli.writable_file), ("file/x.png", _cli.writable_file)]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(str(tmp_path / bad))
    with pytest.raises(argparse.ArgumentTypeError, match="no file name"):
        _cli.with_suffixes(Path("."), [".json"])
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):  # once newdir.json
        _cli.writable_base([".json"])(f"{tmp_path}/newdir/")


def test_the_environment_engine_is_checked_even_with_a_flag(monkeypatch):
    monkeypatch.setenv("DUALGRAD_ENGINE", " Scalar ")
    assert _cli.resolve_engine(None) == "scalar"
    assert _cli.resolve_engine("tensor") == "tensor"
    monkeypatch.setenv("DUALGRAD_ENGINE", "gpu")
    with pytest.raises(_cli.UsageError, match="gpu"):
        _cli.resolve_engine("tensor")
    monkeypatch.delenv("DUALGRAD_ENGINE")
    assert _cli.resolve_engine(None) == "tensor"


def test_blas_threads_are_limited_inside_and_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401 - loads the BLAS whose limits are compared

    def blas_counts():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_counts()
    with _cli.blas_threads(1) as description:
        assert set(blas_counts()) == {1}
        assert description.startswith("BLAS threads: 1 (")
    assert blas_counts() == before


def raiser(error: BaseException):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (_cli.UsageError("bad --x"), 2, "error: bad --x"),
        (ValueError("file.idx: truncated\nsecond line"), 2, "error: file.idx: truncated\\nsecond"),
        (KeyError("n_head"), 2, "error: missing entry 'n_head'"),
        (FileNotFoundError(2, "No such file or directory", "w/x.json"), 2, "w/x.json"),
        (MemoryError(), 2, "out of memory"),
        (TypeError("x" * 5000), 2, "..."),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_run_turns_user_errors_into_one_line(error, status, message, capsys):
    with pytest.raises(SystemExit) as exit:
        _cli.run(raiser(error))
    assert exit.value.code == status
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert len(err) < _cli.MAX_MESSAGE + 100


def test_run_lets_programming_errors_through():
    with pytest.raises(ZeroDivisionError):
        _cli.run(raiser(ZeroDivisionError("a bug, not bad input")))


def script(name: str, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "examples" / name), *args], env=env,
                            text=True, stderr=subprocess.PIPE, **popen)


def test_ctrl_c_exits_with_one_line_and_status_130():
    proc = script("mlp.py", "--epochs", "100000", "--hidden", "8", stdout=subprocess.PIPE)
    assert proc.stdout.readline().startswith("engine: ")  # training has started
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "mlp.py: interrupted"


def test_a_closed_pipe_ends_quietly():
    proc = script("gpt2.py", "--max-new-tokens", "5", stdout=subprocess.PIPE)
    proc.stdout.close()  # as `| head -c 0` would
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert "Traceback" not in err and "Exception ignored" not in err
