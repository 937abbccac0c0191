"""The examples at tiny sizes: both engines print the same losses, and training works.

Each example's ``main(argv)`` returns what it printed as numbers; the tests also parse the
printed lines, since "both engines print the same losses" is the promise to users.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

compare = pytest.importorskip("compare")
mlp = pytest.importorskip("mlp")
rnn = pytest.importorskip("rnn")

ENGINES = ("scalar", "tensor")
LOSS = re.compile(r"train loss (\S+)")


def printed_losses(text: str) -> list[float]:
    return [float(x) for x in LOSS.findall(text)]


def run_both(main, argv, capsys):
    """Run ``main`` on each engine; returns {engine: (result, printed losses)}.

    ``argv`` must set every option whose default depends on the engine (sizes, lr)."""
    out = {}
    for engine in ENGINES:
        result = main([*argv, "--engine", engine], show_progress=False)
        out[engine] = (result, printed_losses(capsys.readouterr().out))
    return out


def assert_same_losses(out):
    (rs, ps), (rt, pt) = out["scalar"], out["tensor"]
    assert len(ps) == len(pt) > 0
    # 9 significant digits is the promise; float64 on both engines gives ~15.
    np.testing.assert_allclose(ps, pt, rtol=1e-9, atol=0)
    np.testing.assert_allclose(rs.losses, rt.losses, rtol=1e-12, atol=0)
    # The printed values are the returned ones.
    np.testing.assert_allclose(ps, rs.losses, rtol=1e-11)


def test_mlp_same_losses_on_both_engines(capsys):
    argv = ["--hidden", "8", "--epochs", "2", "--train-size", "64", "--test-size", "40",
            "--batch", "16", "--seed", "3", "--lr", "0.01"]
    out = run_both(mlp.main, argv, capsys)
    assert_same_losses(out)
    assert out["scalar"][0].accuracies == out["tensor"][0].accuracies
    assert out["scalar"][0].losses[1] < out["scalar"][0].losses[0]  # it learns


def test_mlp_defaults_reach_95_percent_on_the_tensor_engine(capsys):
    history = mlp.main(["--engine", "tensor"], show_progress=False)
    assert history.config["sizes"] == [64, 128, 64, 10]
    assert history.accuracies[-1] >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_mlp_scalar_defaults_are_smaller_and_announced(monkeypatch, capsys):
    args = mlp.parse_args(["--engine", "scalar"])
    filled = mlp.apply_engine_defaults(args)
    assert args.hidden == [16] and args.train_size == 300
    assert any("--train-size 300" in f for f in filled)
    monkeypatch.setattr(mlp, "train", lambda args, data, show_progress: None)
    mlp.main(["--engine", "scalar"])
    assert "smaller" in capsys.readouterr().out


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def test_mlp_trains_on_mnist_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 50, (n, 6, 6)).astype(np.uint8)
        images[np.arange(n), labels % 6, :] = 255  # a learnable pattern: a bright row
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
    history = mlp.main(["--engine", "tensor", "--mnist", str(tmp_path), "--epochs", "3",
                        "--hidden", "16", "--lr", "0.01"], show_progress=False)
    assert history.config["sizes"] == [36, 16, 10]
    assert history.config["train"] == 40 and history.config["test"] == 20
    assert history.losses[-1] < history.losses[0]
    assert "MNIST" in capsys.readouterr().out


def test_rnn_digits_same_losses_on_both_engines(capsys):
    argv = ["--task", "digits", "--hidden", "4", "--epochs", "2", "--train-size", "24",
            "--batch", "8", "--lr", "0.02"]
    out = run_both(rnn.main, argv, capsys)
    assert_same_losses(out)
    assert out["scalar"][0].accuracies == out["tensor"][0].accuracies


def test_rnn_charlm_same_losses_and_sample_on_both_engines(capsys):
    argv = ["--task", "charlm", "--hidden", "5", "--embed", "3", "--steps", "3",
            "--batch", "2", "--seq-len", "6", "--sample-length", "12", "--prompt", "def ",
            "--lr", "0.02"]
    out = run_both(rnn.main, argv, capsys)
    assert_same_losses(out)
    samples = {e: out[e][0].sample for e in ENGINES}
    assert samples["scalar"] == samples["tensor"]
    assert samples["scalar"].startswith("def ") and len(samples["scalar"]) == 4 + 12


def test_compare_tiny_run_agrees_and_writes_outputs(tmp_path, capsys):
    result = compare.main(["--steps", "2", "--batch", "4", "--sizes", "2,3,4",
                           "--out", str(tmp_path)])
    runs = result["runs"]
    assert runs["scalar"].losses == pytest.approx(runs["tensor"].losses, rel=1e-12)
    loss_diff, grad_diff = compare.largest_differences(runs["scalar"], runs["tensor"])
    assert loss_diff < 1e-12 and grad_diff < 1e-12
    assert runs["scalar"].nodes[0] > 1000 * runs["tensor"].nodes[0] > 0
    assert runs["scalar"].peak_bytes > runs["tensor"].peak_bytes > 0
    matmul = result["scaling"]["matmul"]
    # The scalar engine's n x n matmul: n^2 dot products of n multiplies and ~n adds, plus
    # 2n^2 input leaves and the final sum: about 2n^3 Values.
    for n, nodes in zip((2, 3, 4), matmul["scalar"].nodes, strict=True):
        assert 2 * n**3 <= nodes <= 2 * n**3 + 3 * n**2
    assert len(set(matmul["tensor"].nodes)) == 1  # one node per op, whatever n is
    assert result["plot"].read_bytes()[:4] == b"\x89PNG"
    table = result["scaling_md"].read_text()
    assert "growth exponent" in table and "| 4 |" in table
    assert r"largest \|gradient difference\|" in result["training_md"].read_text()
    printed = capsys.readouterr().out
    assert "loss, step 2" in printed and "Growth exponents" in printed


@pytest.mark.parametrize("model", ["rnn", "gpt"])
def test_compare_other_models(model, tmp_path):
    result = compare.main(["--model", model, "--steps", "1", "--batch", "1", "--no-scaling",
                           "--out", str(tmp_path)])
    s, t = result["runs"]["scalar"], result["runs"]["tensor"]
    assert abs(s.losses[0] - t.losses[0]) < 1e-12
    assert compare.largest_differences(s, t)[1] < 1e-12


def test_fit_exponent_recovers_a_power_law():
    sizes = [2, 4, 8, 16]
    assert compare.fit_exponent(sizes, [5 * n**3 for n in sizes]) == pytest.approx(3.0)
    assert compare.fit_exponent(sizes, [7.0] * 4) == pytest.approx(0.0, abs=1e-12)
