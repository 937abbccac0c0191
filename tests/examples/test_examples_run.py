"""The examples at tiny sizes: both engines print the same losses, and training works.

Each example's ``main(argv)`` returns what it printed as numbers; the tests also parse the
printed lines, since "both engines print the same losses" is the promise to users.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_plots = pytest.importorskip("_plots")
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
        result = main([*argv, "--engine", engine, "--no-plots"], show_progress=False)
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
    history = mlp.main(["--engine", "tensor", "--no-plots"], show_progress=False)
    assert history.config["sizes"] == [64, 128, 64, 10]
    assert history.accuracies[-1] >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_mlp_scalar_defaults_are_smaller_and_announced(monkeypatch, capsys):
    args = mlp.parse_args(["--engine", "scalar"])
    filled = mlp.apply_engine_defaults(args)
    assert args.hidden == [16] and args.train_size == 300
    assert any("--train-size 300" in f for f in filled)
    monkeypatch.setattr(mlp, "train",
                        lambda args, data, show_progress: mlp.History(args.engine, {}))
    mlp.main(["--engine", "scalar", "--no-plots"])
    assert "smaller" in capsys.readouterr().out


def test_mlp_saves_its_curves_and_misclassified_digits(tmp_path, capsys):
    history = mlp.main(["--epochs", "2", "--hidden", "4", "--train-size", "48", "--test-size",
                        "30", "--plots", str(tmp_path / "pics")], show_progress=False)
    curves, wrong = tmp_path / "pics" / "curves.png", tmp_path / "pics" / "misclassified.png"
    assert history.plots == [curves, wrong]
    assert png_size(curves) == (920, 340)
    missed = int((history.predicted != mlp.load_digits(0.2, 0).y_test[:30]).sum())
    assert 0 < missed == round(30 * (1 - history.accuracies[-1]))
    shown = min(missed, _plots.MAX_SHOWN)
    cols, rows = min(8, shown), -(-shown // 8)
    assert png_size(wrong) == (round(110 * cols + 20), round(125 * rows + 50))
    assert f"plots: {curves}, {wrong}" in capsys.readouterr().out


def test_no_plots_writes_no_picture(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    history = mlp.main(["--epochs", "1", "--hidden", "4", "--train-size", "16", "--test-size",
                        "8", "--no-plots"], show_progress=False)
    result = rnn.main(["--task", "charlm", "--steps", "1", "--hidden", "3", "--embed", "2",
                       "--batch", "1", "--seq-len", "4", "--sample-length", "0",
                       "--no-plots"], show_progress=False)
    assert history.plots == [] and result.plots == []
    assert list(tmp_path.iterdir()) == []
    assert "plots:" not in capsys.readouterr().out


@pytest.mark.parametrize("task, name, axes", [("digits", "digits_curves.png", 2),
                                              ("charlm", "charlm_loss.png", 1)])
def test_rnn_saves_its_learning_curves(task, name, axes, tmp_path, monkeypatch):
    sizes = {"digits": ["--epochs", "2", "--hidden", "3", "--train-size", "16"],
             "charlm": ["--steps", "4", "--hidden", "3", "--embed", "2", "--batch", "1",
                        "--seq-len", "4", "--sample-length", "0"]}
    figures = []
    save_curves = _plots.save_curves
    monkeypatch.setattr(rnn, "save_curves", lambda path, panels, title: figures.append(
        _plots.curves_figure(panels, title)) or save_curves(path, panels, title))
    history = rnn.main(["--task", task, *sizes[task], "--plots", str(tmp_path)],
                       show_progress=False)
    assert history.plots == [tmp_path / name]
    assert png_size(tmp_path / name) == ((920, 340) if axes == 2 else (620, 340))
    (fig,) = figures
    assert len(fig.axes) == axes
    plotted = fig.axes[0].lines[0].get_ydata()
    assert list(plotted) == pytest.approx(history.losses)


def test_misclassified_grid_shows_each_wrong_digit_at_its_own_size():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 10
    predicted = labels.copy()
    predicted[:30] = (labels[:30] + 1) % 10  # 30 wrong: the grid shows the first 24
    for pixels, side in ((64, 8), (784, 28)):
        images = rng.uniform(0, 1, (40, pixels))
        fig = _plots.misclassified_figure(images, labels, predicted, "t")
        assert len(fig.axes) == _plots.MAX_SHOWN == 24
        assert fig.axes[0].images[0].get_array().shape == (side, side)
        assert fig.axes[0].get_title() == "0 → 1"
    none_wrong = _plots.misclassified_figure(images, labels, labels, "t")
    assert len(none_wrong.axes) == 1 and "correctly" in none_wrong.axes[0].texts[0].get_text()


def test_display_pixels_undo_the_standardisation():
    raw = np.array([[0.0, 16.0], [8.0, 4.0], [16.0, 0.0]])
    standardised = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(_plots.display_pixels(standardised, standardised), raw / 16)


def test_plots_without_matplotlib_are_refused_before_any_work(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as exit:
        mlp.parse_args(["--epochs", "1"])
    assert exit.value.code == 2
    assert "matplotlib" in capsys.readouterr().err
    assert mlp.parse_args(["--no-plots"]).plot_paths == {}  # --no-plots needs none


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
                        "--hidden", "16", "--lr", "0.01", "--no-plots"], show_progress=False)
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


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnn_charlm_same_losses_and_sample_on_both_engines(cell, capsys):
    argv = ["--task", "charlm", "--hidden", "5", "--embed", "3", "--steps", "3",
            "--batch", "2", "--seq-len", "6", "--sample-length", "12", "--prompt", "def ",
            "--lr", "0.02", "--cell", cell]
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
    assert "Where the time goes" in printed
    assert printed.splitlines()[-1] == f"report: {result['report']}"


def test_compare_runs_torch_beside_the_others_when_it_is_installed(tmp_path):
    pytest.importorskip("torch")
    result = compare.main(["--steps", "2", "--batch", "4", "--no-scaling",
                           "--out", str(tmp_path)])
    runs = result["runs"]
    assert list(runs) == ["scalar", "tensor", "torch"]
    loss_diff, grad_diff = compare.largest_differences(runs["tensor"], runs["torch"])
    assert loss_diff < 1e-12 and grad_diff < 1e-12
    assert runs["torch"].nodes == runs["tensor"].nodes and runs["torch"].peak_bytes is None
    assert "tensor/torch or \\|diff\\|" in result["training_md"].read_text()
    assert set(result["profiles"]) == {"scalar", "tensor", "torch"}


def report_links(report: Path) -> list[Path]:
    """The files a markdown report links to, resolved from its folder."""
    return [report.parent / link for link in re.findall(r"\]\(([^)]+)\)", report.read_text())]


def test_compare_report_gathers_every_table_and_picture(tmp_path):
    result = compare.main(["--steps", "3", "--batch", "4", "--sizes", "2,3",
                           "--out", str(tmp_path / "out")])
    report = result["report"]
    assert report == tmp_path / "out" / "report.md"
    pictures = report_links(report)
    assert len(pictures) >= 4
    assert {p.name for p in pictures} >= {"scaling.png", "time_by_op.png", "loss_curves.png",
                                           "step_times.png", "tensor_split.png"}
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pictures)
    text = report.read_text()
    for table in (result["training_md"], result["profile_md"], result["scaling_md"]):
        assert table.read_text().strip() in text
    for engine in result["runs"]:
        assert f"### {engine} engine" in result["profile_md"].read_text()
    assert "numpy share" in text and "(backward pass)" in text


def test_compare_report_elsewhere_links_back_and_no_plots_draws_nothing(tmp_path):
    result = compare.main(["--steps", "1", "--batch", "2", "--sizes", "2,3",
                           "--out", str(tmp_path / "out"),
                           "--report", str(tmp_path / "elsewhere" / "study.md")])
    links = report_links(result["report"])
    assert links and all(p.is_file() for p in links)
    assert all(p.resolve().parent == (tmp_path / "out").resolve() for p in links)

    plain = compare.main(["--steps", "1", "--batch", "2", "--sizes", "2,3", "--no-plots",
                          "--out", str(tmp_path / "plain")])
    assert not list((tmp_path / "plain").glob("*.png"))
    assert report_links(plain["report"]) == []
    assert "growth exponent" in plain["report"].read_text()


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


# ------------------------------------------- every script, as a user runs it, with its defaults

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "shared_nn" / "data" / "gpt_pydoc.safetensors"
SMALL = {  # each script's own defaults (output paths included), at a size that runs quickly
    "compare.py": ["--steps", "1", "--batch", "2", "--sizes", "2,3"],
    "mlp.py": ["--epochs", "1", "--hidden", "4", "--train-size", "32", "--test-size", "16"],
    "rnn.py": ["--task", "charlm", "--steps", "2", "--hidden", "4", "--embed", "2", "--batch",
               "2", "--seq-len", "4", "--sample-length", "5"],
    "gpt2.py": ["--max-new-tokens", "3"],
    "train_gpt_pydoc.py": ["--n-layer", "1", "--n-head", "1", "--n-embd", "8", "--block-size",
                           "8", "--max-steps", "2", "--batch-size", "2", "--eval-every", "1",
                           "--eval-batches", "1"],
}
WRITES = {  # what the defaults write, under the current folder
    "compare.py": [f"out/compare/{name}" for name in (
        "loss_curves.png", "profile.md", "report.md", "scaling.md", "scaling.png",
        "step_times.png", "tensor_split.png", "time_by_op.png", "training.md")],
    "mlp.py": ["out/mlp/curves.png", "out/mlp/misclassified.png"],
    "rnn.py": ["out/rnn/charlm_loss.png"],
    "train_gpt_pydoc.py": ["out/gpt_pydoc.json", "out/gpt_pydoc.safetensors",
                           "out/train_gpt_pydoc/loss.png"],
}
PICTURE_SIZES = {  # (width, height) in pixels of the pictures whose size is fixed
    "out/mlp/curves.png": (920, 340),
    "out/rnn/charlm_loss.png": (620, 340),
    "out/train_gpt_pydoc/loss.png": (620, 340),
}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, read from its header (after checking it is one)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def run_script(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python examples/SCRIPT ARGS`` in ``cwd``, importing this checkout's packages."""
    env = {k: v for k, v in os.environ.items() if k != "DUALGRAD_ENGINE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


def first_line(proc: subprocess.CompletedProcess, script: str) -> str:
    """gpt2.py keeps stdout for the text, so its first line of output is on stderr."""
    return (proc.stderr if script == "gpt2.py" else proc.stdout).splitlines()[0]


@pytest.mark.parametrize("script", sorted(SMALL))
def test_defaults_write_under_the_current_folder_never_into_the_package(script, tmp_path):
    shipped = SHIPPED.read_bytes()
    proc = run_script(script, SMALL[script], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert SHIPPED.read_bytes() == shipped
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == WRITES.get(script, [])
    for name in written:
        if name.endswith(".png"):
            assert png_size(tmp_path / name) == PICTURE_SIZES.get(name, png_size(tmp_path / name))
            assert f"{name}" in proc.stdout or script == "compare.py", "paths are printed"
    engines = r"scalar, tensor and torch|scalar and tensor|tensor"
    assert re.fullmatch(rf"engine: ({engines}), BLAS threads: 1 \([\w, ]+\)",
                        first_line(proc, script).split(";")[0]), first_line(proc, script)


def test_the_trained_model_loads_and_threads_are_what_was_asked(tmp_path):
    from shared_nn.models import GPT

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    proc = run_script("train_gpt_pydoc.py", [*SMALL["train_gpt_pydoc.py"], "--out", "m/small",
                                             "--threads", str(cpus)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"BLAS threads: {cpus} " in first_line(proc, "train_gpt_pydoc.py")
    model, info = GPT.load(tmp_path / "m" / "small")
    assert model.config.n_embd == 8 and info["training"]["steps"] == 2
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_compare_on_one_engine(tmp_path, capsys):
    result = compare.main(["--engine", "tensor", "--steps", "2", "--batch", "4", "--sizes", "2,3",
                           "--out", str(tmp_path)])
    assert list(result["runs"]) == ["tensor"]
    assert all(len(row) == 2 for row in result["rows"])
    assert list(result["scaling"]["matmul"]) == ["tensor"]
    assert "scalar" not in result["training_md"].read_text()
    assert "scalar" not in result["scaling_md"].read_text()
    assert capsys.readouterr().out.startswith("engine: tensor, BLAS threads: 1")


def test_a_diverging_run_stops_without_saving(tmp_path, monkeypatch):
    """A NaN loss (here: a NaN learning rate slipped past the checks) ends training with a
    one-line error, and no all-NaN model is written."""
    train_gpt_pydoc = pytest.importorskip("train_gpt_pydoc")
    from _cli import UsageError

    from shared_nn.optim.lr_scheduler import LambdaLR

    monkeypatch.setattr(train_gpt_pydoc, "schedule",
                        lambda opt, args: LambdaLR(opt, lambda step: float("nan")))
    out = tmp_path / "nan_model"
    with pytest.raises(UsageError, match="diverged"):
        train_gpt_pydoc.main([*SMALL["train_gpt_pydoc.py"], "--out", str(out), "--plots",
                              str(tmp_path / "plots")])
    assert not list(tmp_path.iterdir())


def test_mlp_stops_when_the_loss_is_nan(monkeypatch):
    from _cli import UsageError

    import shared_nn

    monkeypatch.setattr(shared_nn.optim.Adam, "_update",
                        lambda self, value, grad, state, group: value * np.nan)
    with pytest.raises(UsageError, match="diverged: the loss is nan at step 2"):
        mlp.main(["--epochs", "1", "--hidden", "4", "--train-size", "64", "--test-size", "16",
                  "--batch", "16", "--no-plots"], show_progress=False)


NO_TORCH = """
import runpy, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} is not installed by the examples extra")
sys.meta_path.insert(0, NoTorch())
"""


def test_the_demo_needs_no_pytorch(tmp_path):
    """`make demo` installs the examples extra only: compare.py must run with torch and
    transformers impossible to import."""
    code = NO_TORCH + (
        "script = sys.argv[1]; sys.path.insert(0, script.rsplit('/', 1)[0]); "
        "sys.argv = [script, *sys.argv[2:]]; runpy.run_path(script, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "compare.py"),
                           *SMALL["compare.py"]], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "compare" / "scaling.png").is_file()
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("engine: scalar and tensor,")
    assert lines[1] == compare.TORCH_MISSING  # one line says why there is no torch column
    assert lines[-1] == "report: out/compare/report.md"
    assert "torch" not in (tmp_path / "out" / "compare" / "training.md").read_text()

    # Asked for by name, a missing PyTorch is one line on stderr and exit status 2.
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "compare.py"),
                           "--engine", "torch"], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "dualgrad[torch]" in proc.stderr


def test_compare_without_matplotlib_needs_no_plots(tmp_path):
    """Without matplotlib the pictures are refused up front (one line, exit 2) unless
    --no-plots asks for none; then the report holds the tables alone."""
    code = NO_TORCH.replace('("torch", "transformers")', '("matplotlib",)') + (
        "script = sys.argv[1]; sys.path.insert(0, script.rsplit('/', 1)[0]); "
        "sys.argv = [script, *sys.argv[2:]]; runpy.run_path(script, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "examples" / "compare.py")
    args = ["--steps", "1", "--batch", "2", "--sizes", "2,3", "--engine", "tensor"]
    refused = subprocess.run([sys.executable, "-c", code, script, *args], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and refused.stdout == "" and not list(tmp_path.iterdir())
    assert refused.stderr.count("\n") == 1 and "--no-plots" in refused.stderr
    plain = subprocess.run([sys.executable, "-c", code, script, *args, "--no-plots"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "out" / "compare").iterdir())
    assert written == ["profile.md", "report.md", "scaling.md", "training.md"]


def test_train_gpt_pydoc_resumed_run_equals_the_uninterrupted_one(tmp_path):
    """4 steps straight, against 2 steps + checkpoint + ``--resume`` for 2 more: the library's
    training state (AdamW moments, warm-up schedule, step) and the script's batch generator
    make the two runs identical to the last bit. (``--min-lr`` = ``--lr`` keeps the cosine
    flat: its length depends on ``--max-steps``, which differs between the two halves.)"""
    from shared_nn.models import GPT

    args = [*SMALL["train_gpt_pydoc.py"], "--warmup", "3", "--eval-every", "2",  # last wins
            "--lr", "0.01", "--min-lr", "0.01"]
    straight = run_script("train_gpt_pydoc.py", [*args, "--max-steps", "4", "--out", "a"],
                          tmp_path)
    assert straight.returncode == 0, straight.stderr[-2000:]
    first = run_script("train_gpt_pydoc.py", [*args, "--max-steps", "2", "--out", "b1",
                                              "--checkpoint", "ck"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = run_script("train_gpt_pydoc.py", [*args, "--max-steps", "4", "--out", "b",
                                                "--checkpoint", "ck", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at step 2" in resumed.stdout
    # A new --lr would be ignored (the optimizer's saved state carries the old one): refused.
    relr = run_script("train_gpt_pydoc.py", [*args, "--max-steps", "4", "--out", "c",
                                             "--checkpoint", "ck", "--resume", "--lr", "0.5",
                                             "--min-lr", "0.01"], tmp_path)
    assert relr.returncode == 2 and "--lr 0.5 (the checkpoint's: 0.01)" in relr.stderr
    want, _ = GPT.load(tmp_path / "a")
    got, _ = GPT.load(tmp_path / "b")
    for name, value in want.state_dict().items():
        np.testing.assert_array_equal(got.state_dict()[name], value, err_msg=name)


def test_the_readme_demo_table_has_the_node_counts_the_demo_prints(tmp_path, capsys):
    """The README's printed demo table once showed 10 tensor-engine nodes and "15,606x" where
    the demo printed 4 and 39,016x. Node counts do not depend on the machine, so the README's
    must be what ``compare.py`` (the demo's defaults, one step) counts now."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = re.search(r"│ graph nodes per step\s+│\s+([\d,]+) │\s+([\d,]+) │\s+([\d,]+)x │", readme)
    assert row, "the README's demo table has no 'graph nodes per step' row"
    scalar, tensor, ratio = (int(group.replace(",", "")) for group in row.groups())
    result = compare.main(["--steps", "1", "--no-scaling", "--no-plots", "--out", str(tmp_path)])
    runs = result["runs"]
    assert (scalar, tensor) == (runs["scalar"].nodes[0], runs["tensor"].nodes[0])
    assert ratio == round(scalar / tensor)
    capsys.readouterr()
