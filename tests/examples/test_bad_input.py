"""Bad input to every example script ends in ONE line on stderr and exit status 2.

The README promises it; these tests hold each script to it the way a user meets it: as a
subprocess, in a fresh folder, with the inputs a case needs (corrupt IDX files, a broken
config.json, a folder where a file should be ...) written there first. For every case:

- exit status 2, exactly one line on stderr, no "Traceback" on either stream;
- nothing written: the folder lists the same files with the same bytes afterwards, and the
  model that ships inside the package is byte-identical;
- quick: every check happens before any training, so each run has a short timeout.

The cases of one script run a few at a time in threads (each is its own process), and one
test per script reports every case that broke the promise at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PACKAGE_DATA = ROOT / "shared_nn" / "data"
SHIPPED = PACKAGE_DATA / "gpt_pydoc.safetensors"
SCRIPTS = ("compare.py", "mlp.py", "rnn.py", "gpt2.py", "train_gpt_pydoc.py")
MIN_CASES = 25
TIMEOUT_S = 60  # per run; a failing check takes well under a second

Files = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad invocation: arguments, the files to create first, extra environment, and a
    fragment the error line must contain (when the wording matters)."""

    args: tuple[str, ...]
    files: Files | None = None
    env: dict[str, str] = field(default_factory=dict)
    expect: str = ""
    name: str = ""
    cwd: Path | None = None  # where to run; default: a fresh folder holding ``files``

    def label(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return " ".join(filter(None, [env, *self.args, f"[{self.name}]" if self.name else ""]))


def case(*args: str, files: Files | None = None, env: dict[str, str] | None = None,
         expect: str = "", name: str = "", cwd: Path | None = None) -> Case:
    return Case(tuple(args), files, env or {}, expect, name, cwd)


# ------------------------------------------------------------------------ input files


def a_file(name: str, content: bytes = b"not what you think\n") -> Files:
    """A regular file (for "a path under a file" and "a file where a folder belongs")."""

    def make(folder: Path) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)

    return make


def a_dir(*names: str) -> Files:
    """Folders (for "a folder where a file belongs")."""

    def make(folder: Path) -> None:
        for name in names:
            (folder / name).mkdir(parents=True, exist_ok=True)

    return make


def a_link(name: str, target: str) -> Files:
    """A symbolic link (``a_link("loop", "loop")`` points at itself)."""

    def make(folder: Path) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target)

    return make


def both(*makers: Files) -> Files:
    """All of ``makers``, in order."""
    def make(folder: Path) -> None:
        for maker in makers:
            maker(folder)

    return make


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


MNIST_NAMES = {
    "train-images-idx3-ubyte": np.zeros((6, 4, 4), np.uint8),
    "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8),
    "t10k-images-idx3-ubyte": np.zeros((3, 4, 4), np.uint8),
    "t10k-labels-idx1-ubyte": np.arange(3, dtype=np.uint8),
}


def mnist(**replace: bytes | None) -> Files:
    """Four valid tiny IDX files in ``mnist/``, except those named in ``replace``
    (``train_images=b"..."``: other bytes; ``None``: a folder of that name instead)."""

    def make(folder: Path) -> None:
        (folder / "mnist").mkdir()
        for name, array in MNIST_NAMES.items():
            key = "_".join(name.split("-")[:2]).replace("t10k", "test")
            path = folder / "mnist" / name
            if key not in replace:
                path.write_bytes(idx_bytes(array))
            elif replace[key] is None:
                path.mkdir()
            else:
                path.write_bytes(replace[key])

    return make


def mnist_gz(content: bytes) -> Files:
    """Valid MNIST files, but the training images as ``.gz`` holding ``content``."""

    def make(folder: Path) -> None:
        mnist()(folder)
        (folder / "mnist" / "train-images-idx3-ubyte").unlink()
        (folder / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(content)

    return make


GOOD_IDX = idx_bytes(MNIST_NAMES["train-images-idx3-ubyte"])
GPT2_CONFIG = {"n_layer": 1, "n_head": 2, "n_embd": 4, "vocab_size": 50257, "n_positions": 8,
               "layer_norm_epsilon": 1e-5}


def safetensors_bytes(header: dict | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


VALID_WEIGHTS = safetensors_bytes(
    {"transformer.wte.weight": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}},
    b"\x00" * 4)  # a readable file whose tensors do not fit the config


def gpt2_dir(config: object = GPT2_CONFIG, weights: bytes | None = VALID_WEIGHTS,
             raw_config: bytes | None = None) -> Files:
    """``w/config.json`` (JSON of ``config``, or ``raw_config``) and ``w/model.safetensors``
    (``weights``; ``None``: a folder of that name)."""

    def make(folder: Path) -> None:
        (folder / "w").mkdir()
        text = raw_config if raw_config is not None else json.dumps(config).encode()
        (folder / "w" / "config.json").write_bytes(text)
        if weights is None:
            (folder / "w" / "model.safetensors").mkdir()
        else:
            (folder / "w" / "model.safetensors").write_bytes(weights)

    return make


def config_with(**changes: object) -> dict:
    return {**GPT2_CONFIG, **changes}


def checkpoint(json_text: bytes, weights: bytes = b"junk") -> Files:
    def make(folder: Path) -> None:
        (folder / "ck.json").write_bytes(json_text)
        (folder / "ck.safetensors").write_bytes(weights)

    return make


def plain_weights_checkpoint(folder: Path) -> None:
    import shared_nn

    (folder / "ck.json").write_text("{}")
    shared_nn.save_state_dict({"w": np.ones(2)}, folder / "ck.safetensors")


def training_state(config: dict) -> Files:
    """A real training-state file whose saved config is ``config``."""

    def make(folder: Path) -> None:
        import shared_nn

        (folder / "ck.json").write_text("{}")
        shared_nn.save_training_state(folder / "ck.safetensors", step=1, extra={
            "config": config, "data_rng": None, "history": []})

    return make


# ---------------------------------------------------------------------------- the cases


def common_cases() -> list[Case]:
    """What every script shares: seeds, threads, the engine, the environment, stray words."""
    return [
        case("--seed", "-1", expect="--seed"),
        case("--seed", str(2**32), expect="--seed"),
        case("--seed", "9" * 5000, expect="--seed", name="5000 digits"),
        case("--seed", "abc", expect="--seed"),
        case("--seed", "1.5", expect="--seed"),
        case("--threads", "0", expect="--threads"),
        case("--threads", "-2", expect="--threads"),
        case("--threads", "100000", expect="--threads"),
        case("--threads", "two", expect="--threads"),
        case("--engine", "bogus", expect="--engine"),
        case("--engine", "", expect="--engine"),
        case(env={"DUALGRAD_ENGINE": "bogus"}, expect="DUALGRAD_ENGINE"),
        case("--engine", "tensor", env={"DUALGRAD_ENGINE": "quantum"}, expect="quantum"),
        case(env={"DUALGRAD_VALUE_BUDGET": "²"}, expect="DUALGRAD_VALUE_BUDGET",
             name="a bad value budget, refused before any data loads"),
        case("--no-such-option"),
        case("stray-word"),
    ]


def plots_cases(picture: str, *task: str) -> list[Case]:
    """``--plots`` / ``--no-plots`` of a script whose run saves ``picture`` there."""
    return [
        case(*task, "--plots", "somefile", files=a_file("somefile"), expect="--plots"),
        case(*task, "--plots", "somefile/pics", files=a_file("somefile"), expect="--plots"),
        case(*task, "--plots", "res", files=a_dir(f"res/{picture}"), expect=picture,
             name="a picture's name is taken by a folder"),
        case(*task, "--plots", str(PACKAGE_DATA), expect="inside the installed package"),
        case(*task, "--plots", str(PACKAGE_DATA / "pics"), expect="inside the installed package"),
        case(*task, "--plots", "", expect="--plots"),
        case(*task, "--plots", "loop", files=a_link("loop", "loop"), expect="symbolic link"),
        case(*task, "--plots", "dangling/sub", files=a_link("dangling", "nowhere"),
             expect="symbolic link"),
        case(*task, "--plots", "pics", "--no-plots", expect="not allowed with"),
        case(*task, files=a_file("out"), expect="out", name="the default --plots is under a file"),
    ]


COMPARE = [
    case("--steps", "0", expect="--steps"),
    case("--steps", "-5", expect="--steps"),
    case("--steps", "nan", expect="--steps"),
    case("--steps", "1e3", expect="--steps"),
    case("--steps", "99999999999", expect="--steps"),
    case("--batch", "0", expect="--batch"),
    case("--batch", "-3", expect="--batch"),
    case("--batch", "10000000", expect="--batch"),
    case("--sizes", "0", expect="--sizes"),
    case("--sizes", "4,x", expect="'x'"),
    case("--sizes", "8,5000", expect="n = 5000"),
    case("--sizes", ",", expect="--sizes"),
    case("--sizes", "4,-8", expect="--sizes"),
    case("--lr", "nan", expect="--lr"),
    case("--lr", "inf", expect="--lr"),
    case("--lr", "1e400", expect="--lr"),
    case("--lr", "0", expect="--lr"),
    case("--lr", "-0.1", expect="--lr"),
    case("--lr", "fast", expect="--lr"),
    case("--lr", "11", expect="--lr"),
    case("--model", "lstm", expect="--model"),
    case("--out", "somefile", files=a_file("somefile"), expect="--out"),
    case("--out", "somefile/out", files=a_file("somefile"), expect="--out"),
    case("--out", "res", files=a_dir("res/scaling.png"), expect="scaling.png",
         name="an output file is a folder"),
    case("--out", "res", "--no-scaling", files=a_dir("res/training.md"), expect="training.md"),
    case("--out", str(PACKAGE_DATA), expect="inside the installed package"),
    case("--out", "", expect="--out"),
    case("--out", "loop", files=a_link("loop", "loop"), expect="symbolic link"),
    case(files=a_file("out"), expect="out", name="the default --out is under a file"),
    case(cwd=PACKAGE_DATA, expect="inside the installed package",
         name="the default --out, run from inside the package"),
    case("--out", "dangling/sub", files=a_link("dangling", "nowhere"), expect="symbolic link"),
    case("--out", "res", files=a_dir("res/time_by_op.png"), expect="time_by_op.png",
         name="a picture of the report is a folder"),
    case("--out", "res", files=a_dir("res/report.md"), expect="report.md",
         name="the default report is a folder"),
    case("--out", "res", "--no-plots", files=a_dir("res/profile.md"), expect="profile.md"),
    case("--engine", "numpy", expect="--engine"),
    case("--no-plots=yes", expect="--no-plots"),
    case("--report", "", expect="--report"),
    case("--report", "study.txt", expect=".md"),
    case("--report", "study", expect=".md", name="a report without suffix"),
    case("--report", "rep.md", files=a_dir("rep.md"), expect="rep.md"),
    case("--report", "somefile/rep.md", files=a_file("somefile"), expect="--report"),
    case("--report", "loop.md", files=a_link("loop.md", "loop.md"), expect="symbolic link"),
    case("--report", "gone/rep.md", files=a_link("gone", "nowhere"), expect="symbolic link"),
    case("--report", str(PACKAGE_DATA / "report.md"), expect="inside the installed package"),
    case("--report", "out/compare/training.md", expect="overwrite",
         name="the report would replace a table"),
    case("--report", "res/scaling.md", "--out", "res", expect="overwrite"),
]

MLP = [
    case("--epochs", "0", expect="--epochs"),
    case("--epochs", "-1", expect="--epochs"),
    case("--epochs", "nan", expect="--epochs"),
    case("--epochs", "10000000000", expect="--epochs"),
    case("--batch", "0", expect="--batch"),
    case("--batch", "99999999999", expect="--batch"),
    case("--lr", "nan", expect="--lr"),
    case("--lr", "-inf", expect="--lr", name="argparse reads -inf as an option"),
    case("--lr=-inf", expect="--lr"),
    case("--lr", "0", expect="--lr"),
    case("--lr", "2", expect="--lr"),
    case("--hidden", "16,,-4", expect="-4"),
    case("--hidden", "0", expect="--hidden"),
    case("--hidden", "100000000", expect="--hidden"),
    case("--hidden", "wide", expect="--hidden"),
    case("--train-size", "0", expect="--train-size"),
    case("--train-size", "999999", expect="1438", name="more than there are"),
    case("--test-size", "-1", expect="--test-size"),
    case("--dtype", "float16", expect="--dtype"),
    case("--mnist", "missing", expect="missing"),
    case("--mnist", "somefile", files=a_file("somefile"), expect="not a folder"),
    case("--mnist", "empty", files=a_dir("empty"), expect="not found"),
    case("--mnist", "loop", files=a_link("loop", "loop"), expect="symbolic link"),
    case("--mnist", "mnist", files=mnist(train_images=b"\x01\x02\x03\x04rest"), expect="magic"),
    case("--mnist", "mnist", files=mnist(train_images=GOOD_IDX[:-5]), expect="truncated"),
    case("--mnist", "mnist", files=mnist(train_images=GOOD_IDX + b"xx"), expect="trailing"),
    case("--mnist", "mnist", files=mnist(train_images=b"\x00\x00"), expect="too short"),
    case("--mnist", "mnist", files=mnist(train_labels=idx_bytes(np.full(6, 12, np.uint8))),
         expect="not a digit"),
    case("--mnist", "mnist", files=mnist(test_labels=idx_bytes(np.zeros(5, np.uint8))),
         expect="labels for"),
    case("--mnist", "mnist", files=mnist(test_images=idx_bytes(np.zeros((3, 5, 5), np.uint8))),
         expect="differs"),
    case("--mnist", "mnist", files=mnist(train_images=None), expect="not found",
         name="an IDX file is a folder"),
    case("--mnist", "mnist", name="oversized: header claims 2^32-1 images of 2^32-1 rows",
         files=mnist(train_images=struct.pack(">BBBBIII", 0, 0, 8, 3, 2**32 - 1, 2**32 - 1, 28))),
    case("--mnist", "mnist", name="no images (the library's message: a failed reshape)",
         files=mnist(train_images=idx_bytes(np.zeros((0, 4, 4), np.uint8)),
                     train_labels=idx_bytes(np.zeros(0, np.uint8)))),
    case("--mnist", "mnist", files=mnist_gz(gzip.compress(GOOD_IDX)[:-6]), expect="gzip",
         name="a truncated .gz"),
    case("--mnist", "mnist", files=mnist_gz(b"\x1f\x8b not gzip"), expect="gzip"),
    *plots_cases("misclassified.png"),
    case(cwd=PACKAGE_DATA, expect="inside the installed package",
         name="the default --plots, run from inside the package"),
]

RNN = [
    case("--task", "poem", expect="--task"),
    case("--task", "charlm", "--cell", "transformer", expect="--cell"),
    case("--cell", "lstm", expect="--cell", name="a charlm option on digits: --cell"),
    case("--task", "charlm", "--temperature", "nan", expect="--temperature"),
    case("--task", "charlm", "--temperature", "inf", expect="--temperature"),
    case("--task", "charlm", "--temperature=-1", expect="--temperature"),
    case("--task", "charlm", "--temperature", "1e-9", expect="--temperature"),
    case("--temperature", "0.5", expect="--temperature", name="a charlm option on digits"),
    case("--steps", "5", expect="--steps", name="a charlm option on digits"),
    case("--task", "charlm", "--epochs", "2", expect="--epochs"),
    case("--task", "charlm", "--steps", "0", expect="--steps"),
    case("--hidden", "0", expect="--hidden"),
    case("--hidden", "123456789", expect="--hidden"),
    case("--task", "charlm", "--embed", "-1", expect="--embed"),
    case("--task", "charlm", "--seq-len", "0", expect="--seq-len"),
    case("--task", "charlm", "--seq-len", "99999999", expect="--seq-len"),
    case("--task", "charlm", "--sample-length", "-1", expect="--sample-length"),
    case("--task", "charlm", "--prompt", "", expect="--prompt"),
    case("--task", "charlm", "--prompt", "\u2603", expect="vocabulary"),
    case("--task", "charlm", "--prompt", "x" * 20000, expect="--prompt"),
    case("--lr", "nan", expect="--lr"),
    case("--lr", "1e-400", expect="--lr", name="underflows to 0"),
    case("--batch", "0", expect="--batch"),
    case("--epochs", "inf", expect="--epochs"),
    case("--train-size", "99999", expect="--train-size"),
    case("--dtype", "int8", expect="--dtype"),
    *plots_cases("digits_curves.png"),
    *plots_cases("charlm_loss.png", "--task", "charlm"),
    case(cwd=PACKAGE_DATA, expect="inside the installed package",
         name="the default --plots, run from inside the package"),
]

GPT2 = [
    case("--weights", "gpt2-weightz", expect="folder not found",
         name="a name that is no folder: an error, never a hub lookup"),
    case("--weights", "hf:", expect="not a Hugging Face model name"),
    case("--weights", "hf:../../etc", expect="not a Hugging Face model name"),
    case("--max-new-tokens", "0", expect="--max-new-tokens"),
    case("--max-new-tokens", "-1", expect="--max-new-tokens"),
    case("--max-new-tokens", "1e9", expect="--max-new-tokens"),
    case("--max-new-tokens", "10000000000", expect="--max-new-tokens"),
    case("--temperature", "nan", expect="--temperature"),
    case("--temperature", "inf", expect="--temperature"),
    case("--temperature=-0.5", expect="--temperature"),
    case("--temperature", "1e-300", expect="--temperature"),
    case("--top-k", "0", expect="--top-k"),
    case("--top-k", "many", expect="--top-k"),
    case("--prompt", "", expect="--prompt"),
    case("--prompt", "\u2603 snowman", expect="--prompt"),
    case("--dtype", "float16", expect="--dtype"),
    case("--weights", "missing/dir", expect="missing"),
    case("--weights", "not a model name!", expect="not a model name!"),
    case("--weights", "no-such-model", expect="no-such-model", name="not in the HF cache"),
    case("--weights", "somefile", files=a_file("somefile"), expect="not a folder"),
    case("--weights", "empty", files=a_dir("empty"), expect="config.json"),
    case("--weights", "w", "--engine", "scalar", files=gpt2_dir(), expect="scalar"),
    case("--weights", "w", files=gpt2_dir(config_with(n_head=3)), expect="divisible"),
    case("--weights", "w", files=gpt2_dir(raw_config=b'{"n_layer": 1}'),
         expect="w/config.json: lacks the GPT-2 fields",
         name="the file is named once (it read 'config.json: config.json: ...')"),
    case("--weights", "w", files=gpt2_dir(config_with(layer_norm_epsilon="abc")),
         expect="abc"),
    case("--weights", "w", files=gpt2_dir(raw_config=b'{"n_layer": 1, "n_head": 2, '
                                          b'"n_embd": 4, "vocab_size": 50257, "n_positions": 8,'
                                          b' "layer_norm_epsilon": NaN}'),
         expect="layer_norm_epsilon"),
    case("--weights", "w", files=gpt2_dir(config_with(layer_norm_epsilon=-1)),
         expect="layer_norm_epsilon"),
    case("--weights", "w", files=gpt2_dir([1, 2, 3]), expect="list"),
    case("--weights", "w", files=gpt2_dir(raw_config=b"{not json"), expect="JSON"),
    case("--weights", "w", files=gpt2_dir(raw_config=b"\xff\xfe\x00junk"), expect="JSON"),
    case("--weights", "w", files=gpt2_dir(config_with(n_layer="12")), expect="n_layer"),
    case("--weights", "w", files=gpt2_dir(config_with(n_layer=True)), expect="n_layer"),
    case("--weights", "w", files=gpt2_dir({"n_layer": 1}), expect="n_head"),
    case("--weights", "w", files=gpt2_dir(config_with(vocab_size=100)), expect="vocab_size"),
    case("--weights", "w", files=gpt2_dir(config_with(activation_function="relu")),
         expect="activation"),
    case("--weights", "w", files=gpt2_dir(raw_config=b" " * (2 << 20)), expect="too large",
         name="oversized config.json"),
    case("--weights", "w", files=both(a_dir("w/config.json"), a_file("w/model.safetensors")),
         expect="config.json"),
    case("--weights", "w", files=gpt2_dir(weights=None), expect="model.safetensors"),
    case("--weights", "w", files=both(gpt2_dir(), lambda f: (f / "w/config.json").unlink(),
                                      a_link("w/config.json", "nowhere")),
         expect="symbolic link"),
    case("--weights", "w", files=gpt2_dir(weights=b"garbage"), expect="safetensors"),
    case("--weights", "w", files=gpt2_dir(weights=struct.pack("<Q", 2**62) + b"{}"),
         expect="safetensors", name="oversized: header length 2^62"),
    case("--weights", "w", files=gpt2_dir(weights=safetensors_bytes(
        {"x": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}})),
         expect="safetensors", name="oversized: a tensor beyond the file"),
    case("--weights", "w", files=gpt2_dir(), expect="does not match", name="wrong tensors"),
]

TRAIN = [
    case("--lr", "nan", expect="--lr"),
    case("--lr", "0", expect="--lr"),
    case("--lr", "inf", expect="--lr"),
    case("--lr", "2", expect="--lr"),
    case("--min-lr", "nan", expect="--min-lr"),
    case("--min-lr", "0.01", "--lr", "0.001", expect="--min-lr"),
    case("--minutes", "0", expect="--minutes"),
    case("--minutes", "nan", expect="--minutes"),
    case("--minutes", "1e308", expect="--minutes"),
    case("--max-steps", "0", expect="--max-steps"),
    case("--max-steps", "-1", expect="--max-steps"),
    case("--batch-size", "0", expect="--batch-size"),
    case("--warmup", "-1", expect="--warmup"),
    case("--weight-decay", "nan", expect="--weight-decay"),
    case("--weight-decay=-0.1", expect="--weight-decay"),
    case("--grad-clip", "0", expect="--grad-clip"),
    case("--grad-clip", "inf", expect="--grad-clip"),
    case("--n-head", "3", expect="divisible"),
    case("--n-layer", "0", expect="--n-layer"),
    case("--n-embd", "99999", expect="--n-embd"),
    case("--n-layer", "48", "--n-embd", "4096", "--n-head", "64", expect="parameters"),
    case("--block-size", "0", expect="--block-size"),
    case("--block-size", "100000", expect="--block-size"),
    case("--eval-every", "0", expect="--eval-every"),
    case("--eval-batches", "0", expect="--eval-batches"),
    case("--resume", expect="--checkpoint"),
    case("--out", "x", "--checkpoint", "x.safetensors", expect="x.safetensors); the model",
         name="the model file would overwrite the checkpoint"),
    case("--resume", "--checkpoint", "ck", expect="not found"),
    case("--resume", "--checkpoint", "ck", files=checkpoint(b"{broken"), expect="ck",
         name="corrupt checkpoint"),
    case("--resume", "--checkpoint", "ck", files=plain_weights_checkpoint,
         expect="not a training-state file", name="a plain weights file as the checkpoint"),
    case("--resume", "--checkpoint", "ck", files=training_state({"n_layer": 1}),
         expect="not a checkpoint of this script", name="a checkpoint with half a config"),
    case("--resume", "--checkpoint", "ck", files=training_state(
        {"n_layer": 3, "n_head": 1, "n_embd": 8, "vocab_size": 7, "block_size": 8,
         "layer_norm_epsilon": 1e-5}), expect="differs"),
    case("--checkpoint", "out/gpt_pydoc", expect="same path"),
    case("--out", str(PACKAGE_DATA / "gpt_pydoc"), expect="inside the installed package"),
    case("--checkpoint", str(PACKAGE_DATA / "state"), expect="inside the installed package"),
    case("--out", "somefile/model", files=a_file("somefile"), expect="somefile"),
    case("--out", "res/model", files=a_dir("res/model.json"), expect="model.json"),
    case("--out", "res", files=a_dir("res"), expect="folder"),
    case("--out", ".", expect="--out"),
    case("--out", "loop/model", files=a_link("loop", "loop"), expect="symbolic link"),
    case(files=a_dir("out/gpt_pydoc.json"), expect="gpt_pydoc.json",
         name="the default --out's json is a folder"),
    case(cwd=PACKAGE_DATA, expect="inside the installed package",
         name="the default --out, run from inside the package"),
    case("--checkpoint", "somefile/ck", files=a_file("somefile"), expect="somefile"),
    *(c for c in plots_cases("loss.png") if c.name != "the default --plots is under a file"),
    case("--out", "model/gpt", files=a_file("out"), expect="out",
         name="the default --plots is under a file"),
]

CASES = {
    "compare.py": COMPARE,
    "mlp.py": MLP,
    "rnn.py": RNN,
    "gpt2.py": GPT2,
    "train_gpt_pydoc.py": TRAIN,
}

# ------------------------------------------------------------------------------ running
#
# Starting Python and importing numpy, shared_nn and rich costs ~0.3 s per process: 240
# cases would take over a minute on two busy cores. So one "fork server" per script imports
# them once and forks a fresh child per case. The child is a real process: its own working
# folder, environment, argv, stdout and stderr (files), and exit status; it runs the
# script's source as __main__, and an exception that escapes prints a traceback, exactly as
# the interpreter would. Where os.fork does not exist, each case is its own interpreter.

FORK_SERVER = r"""
import json, os, runpy, signal, sys, time, traceback
script = sys.argv[1]
sys.path.insert(0, os.path.dirname(script))
if sys.argv[2:] == ["--warm"]:  # an example script: its imports happen once, here
    __import__(os.path.basename(script)[:-3])
results = []
for c in json.load(sys.stdin):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(c["cwd"])
            for fd, name in ((1, "stdout"), (2, "stderr")):
                os.dup2(os.open(c[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            os.environ.clear()
            os.environ.update(c["env"])
            sys.argv = [script, *c["args"]]
            try:
                runpy.run_path(script, run_name="__main__")
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else exit.code is not None
                if not isinstance(exit.code, (int, type(None))):
                    print(exit.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(code))
    deadline = time.monotonic() + c["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            results.append(os.waitstatus_to_exitcode(status))
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            results.append(None)
            break
        time.sleep(0.005)
print(json.dumps(results))
"""


def script_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a run: this checkout's packages first, no network, no engine."""
    env = {k: v for k, v in os.environ.items() if k != "DUALGRAD_ENGINE"}
    path = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", **extra}


def listing(folder: Path) -> dict[str, str]:
    """Every file, folder and link under ``folder``: relative path -> content hash, "dir",
    or the link's target."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@dataclass
class Run:
    """One case, ready to run: its folder (cwd), where its output goes, what was there."""

    case: Case
    cwd: Path
    stdout: Path
    stderr: Path
    before: dict[str, str]
    status: int | None = None  # None: killed after TIMEOUT_S


def prepare(c: Case, base: Path) -> Run:
    """A fresh folder holding the case's input files (the output files live beside it), or
    the case's own ``cwd``."""
    base.mkdir(parents=True)
    cwd = c.cwd or base / "cwd"
    if c.cwd is None:
        cwd.mkdir()
    if c.files:
        c.files(cwd)
    return Run(c, cwd, base / "stdout", base / "stderr", listing(cwd))


def execute(script: Path, runs: list[Run]) -> None:
    """Run every case of ``script``, filling in each exit status."""
    path = str(script)
    if hasattr(os, "fork"):
        jobs = [{"cwd": str(r.cwd), "stdout": str(r.stdout), "stderr": str(r.stderr),
                 "env": script_env(r.case.env), "args": list(r.case.args),
                 "timeout": TIMEOUT_S} for r in runs]
        warm = ["--warm"] if script.parent == EXAMPLES else []
        server = subprocess.run([sys.executable, "-c", FORK_SERVER, path, *warm],
                                input=json.dumps(jobs), capture_output=True, text=True,
                                env=script_env({}), timeout=TIMEOUT_S * 4)
        assert server.returncode == 0, server.stderr
        for r, status in zip(runs, json.loads(server.stdout), strict=True):
            r.status = status
        return
    for r in runs:
        with r.stdout.open("w") as out, r.stderr.open("w") as err:
            try:
                r.status = subprocess.run([sys.executable, path, *r.case.args], cwd=r.cwd,
                                          stdout=out, stderr=err, env=script_env(r.case.env),
                                          timeout=TIMEOUT_S).returncode
            except subprocess.TimeoutExpired:
                r.status = None


def problems(r: Run) -> list[str]:
    """How the run broke the promise (empty: it kept it)."""
    if r.status is None:
        return [f"still running after {TIMEOUT_S} s"]
    stderr = r.stderr.read_text(errors="replace")
    stdout = r.stdout.read_text(errors="replace")
    lines = stderr.strip("\n").splitlines()
    found = []
    if r.status != 2:
        found.append(f"exit status {r.status}")
    if "Traceback" in stderr + stdout:
        found.append("a traceback")
    if len(lines) != 1:
        found.append(f"{len(lines)} lines on stderr")
    elif r.case.expect and r.case.expect not in lines[0]:
        found.append(f"{r.case.expect!r} not in the message")
    after = listing(r.cwd)
    if after != r.before:
        changed = sorted(k for k in set(after) | set(r.before) if after.get(k) != r.before.get(k))
        found.append("files changed: " + ", ".join(changed))
    if found:
        found.append(f"stderr: {stderr[-800:]!r}")
    return found


def run_cases(script: Path, cases: list[Case], tmp: Path) -> list[str]:
    """Every case of ``script`` that broke the promise, one line each."""
    runs = [prepare(c, tmp / f"case{i}") for i, c in enumerate(cases)]
    execute(script, runs)
    return [f"{script.name} {r.case.label()}: {'; '.join(p)}" for r in runs
            if (p := problems(r))]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("script", SCRIPTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(script, tmp_path):
    cases = common_cases() + CASES[script]
    assert len(cases) >= MIN_CASES
    shipped = sha256(SHIPPED)
    failures = run_cases(EXAMPLES / script, cases, tmp_path)
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    assert sha256(SHIPPED) == shipped


def test_every_script_is_covered():
    assert set(CASES) == set(SCRIPTS) == {p.name for p in EXAMPLES.glob("[!_]*.py")}


BROKEN_SCRIPTS = {
    "works.py": "open('made.txt', 'w').write('x')\n",
    "crashes.py": "import sys\nsys.stderr.write('one line\\n')\nraise RuntimeError('boom')\n",
    "chatty.py": "import sys\nsys.stderr.write('one\\ntwo\\n')\nsys.exit(2)\n",
    "hangs.py": "import time\ntime.sleep(60)\n",
    "exits_with_text.py": "import sys\nsys.exit('a message')\n",
}


@pytest.mark.parametrize("fork", [True, False], ids=["fork-server", "subprocess"])
def test_the_checker_reports_every_way_to_break_the_promise(fork, tmp_path, monkeypatch):
    """The checker itself can fail: scripts that work, crash, print two lines, hang or exit
    with status 1 are each reported, whichever way the cases are run."""
    if not fork:
        monkeypatch.delattr(os, "fork", raising=False)
    monkeypatch.setattr(sys.modules[__name__], "TIMEOUT_S", 2)
    expected = {"works.py": ["exit status 0", "0 lines", "files changed: made.txt"],
                "crashes.py": ["exit status 1", "a traceback"],
                "chatty.py": ["2 lines on stderr"],
                "hangs.py": ["still running"],
                "exits_with_text.py": ["exit status 1"]}
    for name, source in BROKEN_SCRIPTS.items():
        script = tmp_path / name
        script.write_text(source)
        found = run_cases(script, [case()], tmp_path / name.replace(".py", ""))
        assert len(found) == 1, name
        for fragment in expected[name]:
            assert fragment in found[0], (name, found[0])
