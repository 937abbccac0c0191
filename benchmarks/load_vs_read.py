"""How much slower than reading its file is ``GPT.from_pretrained``?

Loading a checkpoint cannot be faster than reading its bytes, so the honest yardstick for a
loader is the read itself. This script times, on the same Hugging Face GPT-2 folder:

* ``from_pretrained``: ``GPT.from_pretrained(folder)`` (tensor engine, float32): read the
  config and the weights, check them, build the model;
* ``load_file``: ``safetensors.numpy.load_file`` of the weights file, the bare read of a
  safetensors file into numpy arrays that any loader has to do;
* ``raw read``: ``numpy.fromfile`` of the same file, the host's plain read rate.

and prints the medians and the ratios ``from_pretrained / load_file`` (the target is under 3)
and ``from_pretrained / raw read``. The file is read once before timing, so every number is
with a warm page cache: the ratio measures the loader, not the disk.

Usage::

    python benchmarks/load_vs_read.py                  # a random 124M GPT-2, saved to a temp dir
    python benchmarks/load_vs_read.py --weights DIR    # an existing Hugging Face GPT-2 folder
    python benchmarks/load_vs_read.py --quick          # a tiny model, 1 repeat (smoke test)

Without ``--weights`` it needs torch and transformers, to write a random ``GPT2LMHeadModel``
(``GPT2Config()``, GPT-2 small's shape) with ``save_pretrained``; that happens in a child
process, so that torch's threads and memory do not disturb the timings. Nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _report import median_time  # noqa: E402

from shared_nn.models.gpt import GPT  # noqa: E402

TINY = dict(n_layer=2, n_head=2, n_embd=64, vocab_size=512, n_positions=64)


def write_random_gpt2(folder: Path, quick: bool) -> None:
    """A randomly initialised GPT2LMHeadModel (GPT-2 small, or tiny with ``quick``) saved in
    Hugging Face format into ``folder``."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(**TINY) if quick else transformers.GPT2Config()
    model = transformers.GPT2LMHeadModel(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(folder)


def measure(folder: Path, repeats: int) -> dict[str, float]:
    """Median seconds of each way of loading ``folder``'s weights."""
    weights = folder / "model.safetensors"

    def pretrained() -> None:
        GPT.from_pretrained(folder, engine="tensor", dtype="float32")
        gc.collect()

    times = {
        "raw read": median_time(lambda: np.fromfile(weights, dtype=np.uint8), repeats),
        "load_file": median_time(lambda: load_file(str(weights)), repeats),
        "from_pretrained": median_time(pretrained, repeats),
    }
    times["bytes"] = float(weights.stat().st_size)
    return times


def report(times: dict[str, float], repeats: int) -> str:
    """The result as a few lines of text."""
    size = times["bytes"]
    lines = [
        f"weights file: {size / 1e6:.1f} MB; medians of {repeats} runs, warm page cache; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"  raw read (numpy.fromfile)      {times['raw read']:8.3f} s  "
        f"({size / times['raw read'] / 1e9:.2f} GB/s: this host's read rate)",
        f"  safetensors.numpy.load_file    {times['load_file']:8.3f} s  "
        f"({size / times['load_file'] / 1e9:.2f} GB/s)",
        f"  GPT.from_pretrained            {times['from_pretrained']:8.3f} s",
        f"from_pretrained / load_file = {times['from_pretrained'] / times['load_file']:.2f}x "
        "(target: under 3x)",
        f"from_pretrained / raw read  = {times['from_pretrained'] / times['raw read']:.2f}x",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="a Hugging Face GPT-2 folder (default: a random GPT-2 small)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny model, 1 repeat")
    parser.add_argument("--write-random-to", type=Path, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.write_random_to is not None:
        write_random_gpt2(args.write_random_to, args.quick)
        return ""
    repeats = 1 if args.quick else max(1, args.repeats)
    if args.weights is not None:
        text = report(measure(args.weights, repeats), repeats)
    else:
        with tempfile.TemporaryDirectory(prefix="load_vs_read_") as tmp:
            child = [sys.executable, __file__, "--write-random-to", tmp]
            subprocess.run(child + (["--quick"] if args.quick else []), check=True)
            text = report(measure(Path(tmp), repeats), repeats)
    print(text)
    return text


if __name__ == "__main__":
    main()
