"""Train the small GPT that ships with dualgrad, on Python's own documentation.

The text is ``pydoc_data.topics`` (part of every CPython: the help pages behind ``help()``),
cut into characters: the model learns to continue Python documentation one character at a
time, with shared_nn's AdamW and cross-entropy (on the tensor engine unless ``--engine``
says otherwise). It writes, under the current folder by default,

    out/gpt_pydoc.safetensors   the weights
    out/gpt_pydoc.json          the config, the character vocabulary, the losses
    out/train_gpt_pydoc/loss.png  the learning curve (``--plots DIR``; ``--no-plots``: none)

It never writes inside the installed package: to replace the model that ships (what
``examples/gpt2.py`` uses when no GPT-2 weights are given), copy those two files over
``shared_nn/data/gpt_pydoc.safetensors`` and ``shared_nn/data/gpt_pydoc.json`` yourself.

Training is seeded and bounded by ``--minutes``; ``--checkpoint`` saves the full training
state (weights, AdamW moments, step, data generator) every ``--eval-every`` steps, and
``--resume`` continues from it, so a run can be stopped and picked up again. All options,
the output paths and a checkpoint to resume are checked before training starts; a loss that
turns NaN stops the run without saving.

    python examples/train_gpt_pydoc.py --minutes 12
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _cli import (
    ArgumentParser,
    UsageError,
    add_engine_argument,
    add_seed_argument,
    add_threads_argument,
    banner,
    blas_threads,
    check_readable_file,
    float_in,
    int_in,
    require_finite,
    resolve_engine,
    run,
    with_suffixes,
    writable_base,
)
from _plots import Panel, add_plot_arguments, plot_paths, report, save_curves
from tqdm import tqdm

import shared_nn
from shared_nn.data import pydoc_text
from shared_nn.models.gpt import GPT, GPTConfig
from shared_nn.optim import AdamW
from shared_nn.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR
from shared_nn.tokenizer import CharTokenizer
from shared_nn.utils import clip_grad_norm_

SUFFIXES = (".safetensors", ".json")  # what GPT.save writes
CHECKPOINT_SUFFIXES = (".safetensors",)  # shared_nn.save_training_state: one file
MAX_PARAMETERS = 200_000_000  # beyond this, numpy training on a CPU is hopeless anyway
BIG = 10**7  # upper bound for step counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options, each checked, then the checks that involve several of them."""
    p = ArgumentParser(prog="train_gpt_pydoc.py", description=__doc__.split("\n\n")[0])
    add_engine_argument(p)
    p.add_argument("--out", type=writable_base(SUFFIXES), default="out/gpt_pydoc",
                   help="output path without suffix (default: out/gpt_pydoc)")
    p.add_argument("--minutes", type=float_in(0.0, 7 * 24 * 60, low_open=True), default=12.0,
                   help="wall-clock budget (default: 12)")
    p.add_argument("--max-steps", type=int_in(1, BIG), default=5000)
    p.add_argument("--batch-size", type=int_in(1, 4096), default=16)
    p.add_argument("--lr", type=float_in(0.0, 1.0, low_open=True), default=2e-3,
                   help="peak learning rate")
    p.add_argument("--min-lr", type=float_in(0.0, 1.0), default=2e-4,
                   help="final learning rate, at most --lr")
    p.add_argument("--warmup", type=int_in(0, BIG), default=100, help="linear warm-up steps")
    p.add_argument("--weight-decay", type=float_in(0.0, 1.0), default=0.1)
    p.add_argument("--grad-clip", type=float_in(0.0, 1e6, low_open=True), default=1.0,
                   help="max global gradient norm")
    p.add_argument("--n-layer", type=int_in(1, 48), default=4)
    p.add_argument("--n-head", type=int_in(1, 64), default=4)
    p.add_argument("--n-embd", type=int_in(1, 4096), default=128)
    p.add_argument("--block-size", type=int_in(1, 4096), default=128)
    p.add_argument("--eval-every", type=int_in(1, BIG), default=200)
    p.add_argument("--eval-batches", type=int_in(1, 10_000), default=8)
    add_seed_argument(p, default=1337)
    add_threads_argument(p)
    p.add_argument("--checkpoint", type=writable_base(CHECKPOINT_SUFFIXES), default=None,
                   help="where to keep the resumable training state (one .safetensors file)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    add_plot_arguments(p, "out/train_gpt_pydoc")
    args = p.parse_args(argv)  # a str default goes through its type: checked like the rest
    args.engine = resolve_engine(args.engine)
    problem = combined_problem(args)
    if problem:
        p.error(problem)
    args.plot_paths = plot_paths(p, args, ["loss.png"])
    return args


def combined_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options taken together, or None."""
    if args.resume and args.checkpoint is None:
        return "--resume needs --checkpoint"
    if args.min_lr > args.lr:
        return f"--min-lr {args.min_lr} is larger than --lr {args.lr}"
    if args.n_embd % args.n_head:
        return f"--n-embd {args.n_embd} is not divisible by --n-head {args.n_head}"
    n = 12 * args.n_layer * args.n_embd**2 + args.block_size * args.n_embd
    if n > MAX_PARAMETERS:
        return (f"--n-layer {args.n_layer} --n-embd {args.n_embd} makes about {n:,} "
                f"parameters; at most {MAX_PARAMETERS:,} train on numpy in useful time")
    if args.checkpoint is not None:
        saved = {path.resolve() for path in with_suffixes(args.checkpoint, CHECKPOINT_SUFFIXES)}
        model = {path.resolve() for path in with_suffixes(args.out, SUFFIXES)}
        if args.checkpoint.resolve() == args.out.resolve() or saved & model:
            clash = ", ".join(sorted(map(str, saved & model))) or str(args.out)
            return (f"--checkpoint {args.checkpoint} and --out {args.out} are the same path "
                    f"({clash}); the model would overwrite the checkpoint")
        if args.resume:
            try:
                for path in with_suffixes(args.checkpoint, CHECKPOINT_SUFFIXES):
                    check_readable_file(path, "--checkpoint")
            except argparse.ArgumentTypeError as err:
                return f"--resume: {err}"
    return None


def get_batch(data: np.ndarray, batch_size: int, block_size: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``batch_size`` random windows of the text and, for each, the next characters."""
    starts = rng.integers(0, len(data) - block_size - 1, size=batch_size)
    x = np.stack([data[s : s + block_size] for s in starts])
    y = np.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y


def schedule(opt: AdamW, args: argparse.Namespace) -> LRScheduler:
    """Linear warm-up from ``lr / warmup`` to ``lr``, then a cosine decay to ``min_lr`` at
    ``max_steps`` (the library's ``LinearLR`` + ``CosineAnnealingLR`` in a ``SequentialLR``)."""
    cosine = CosineAnnealingLR(opt, T_max=max(1, args.max_steps - args.warmup),
                               eta_min=args.min_lr)  # fmt: skip
    if args.warmup == 0:
        return cosine
    warmup = LinearLR(opt, start_factor=1.0 / args.warmup, total_iters=args.warmup)
    return SequentialLR(opt, [warmup, cosine], milestones=[args.warmup])


def estimate_loss(model: GPT, data: np.ndarray, args: argparse.Namespace, seed: int) -> float:
    """Mean loss on the same ``eval_batches`` windows every time (a fixed seed)."""
    rng = np.random.default_rng(seed)
    losses = []
    with shared_nn.get_engine(model.engine).no_grad():
        for _ in range(args.eval_batches):
            x, y = get_batch(data, args.batch_size, args.config.block_size, rng)
            losses.append(model(x, y)[1].item())
    return float(np.mean(losses))


TRAINING_OPTIONS = ("lr", "min_lr", "warmup", "weight_decay")
"""The options a resumed run must keep: the optimizer's and the schedule's state restored from
the checkpoint carry them, so a new value would be ignored without a word. (``--max-steps``
may grow, to train longer; ``--batch-size`` and ``--grad-clip`` take effect.)"""


def training_options(args: argparse.Namespace) -> dict[str, float]:
    return {name: getattr(args, name) for name in TRAINING_OPTIONS}


def check_same_options(path: Path, saved: dict[str, float] | None,
                       args: argparse.Namespace) -> None:
    """A UsageError naming every training option ``--resume`` was given that differs from the
    checkpoint's (checkpoints from before the options were saved are not checked)."""
    if saved is None:
        return
    ours = training_options(args)
    changed = [f"--{name.replace('_', '-')} {ours[name]} (the checkpoint's: {saved[name]})"
               for name in TRAINING_OPTIONS if name in saved and saved[name] != ours[name]]
    if changed:
        raise UsageError(f"{path}: --resume continues the saved run, whose optimizer and "
                         f"schedule would ignore {', '.join(changed)}; drop them, or start a "
                         f"new run without --resume")


def save_state(path: Path, model: GPT, opt: AdamW, sched: LRScheduler, step: int,
               rng: np.random.Generator, history: list,
               args: argparse.Namespace) -> None:  # fmt: skip
    """The library's training state (weights, AdamW moments, schedule, step) plus what is
    this script's own: the batch generator, the loss history and the config to check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shared_nn.save_training_state(
        with_suffixes(path, CHECKPOINT_SUFFIXES)[0], model=model, optimizer=opt, scheduler=sched,
        step=step, extra={"data_rng": rng.bit_generator.state, "history": history,
                          "config": model.config.to_dict(),
                          "options": training_options(args)})  # fmt: skip


def load_state(path: Path, model: GPT, opt: AdamW, sched: LRScheduler,
               args: argparse.Namespace) -> tuple[int, np.random.Generator, list]:  # fmt: skip
    """What :func:`save_state` wrote, restored into ``model``, ``opt`` and ``sched``; a file
    that does not fit this run is a :class:`UsageError` naming it."""
    file = with_suffixes(path, CHECKPOINT_SUFFIXES)[0]
    try:
        extra = shared_nn.load_training_state(file, restore_rng=False)["extra"] or {}
        if GPTConfig.from_dict(extra["config"]) != model.config:
            raise UsageError(f"{path}: checkpoint config {extra['config']} differs from this "
                             "run's")  # fmt: skip
        check_same_options(path, extra.get("options"), args)
        info = shared_nn.load_training_state(file, model=model, optimizer=opt, scheduler=sched)
        rng = np.random.default_rng()
        rng.bit_generator.state = extra["data_rng"]
        return int(info["step"]), rng, list(extra["history"])
    except UsageError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise UsageError(f"{path}: not a checkpoint of this script ({what})") from None


def build(args: argparse.Namespace) -> tuple[CharTokenizer, np.ndarray, np.ndarray, GPT, AdamW]:
    """The tokenizer, the training and validation ids (the last 10% of the text), the
    seeded model and its AdamW (no weight decay on biases and layer norms)."""
    text = pydoc_text()
    tok = CharTokenizer.from_text(text)
    data = np.array(tok.encode(text), dtype=np.int64)
    n_val = len(data) // 10
    train, val = data[:-n_val], data[-n_val:]
    args.config = GPTConfig(args.n_layer, args.n_head, args.n_embd, tok.vocab_size, args.block_size)
    shared_nn.manual_seed(args.seed)
    model = GPT(args.config, engine=args.engine, dtype="float32")
    decay = [p for n, p in model.named_parameters() if n.endswith(".weight") and ".ln_" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (n.endswith(".weight")
                                                             and ".ln_" not in n)]  # fmt: skip
    opt = AdamW([{"params": decay, "weight_decay": args.weight_decay},
                 {"params": no_decay, "weight_decay": 0.0}],
                lr=args.lr, betas=(0.9, 0.99))  # fmt: skip
    return tok, train, val, model, opt


def train_loop(args: argparse.Namespace, model: GPT, opt: AdamW, sched: LRScheduler,
               train: np.ndarray, val: np.ndarray, step: int, rng: np.random.Generator,
               history: list, curve: list | None = None) -> int:  # fmt: skip
    """AdamW steps until ``--max-steps`` or the time budget; returns the last step, and
    appends ``(step, training loss)`` to ``curve`` after every step. A NaN or infinite loss
    stops training (a :class:`UsageError`) before anything is saved."""
    budget = 60.0 * args.minutes
    start = time.monotonic()
    with tqdm(total=args.max_steps, initial=step, desc="training", unit="step") as bar:
        while step < args.max_steps and time.monotonic() - start < budget:
            lr = sched.get_last_lr()[0]
            x, y = get_batch(train, args.batch_size, args.block_size, rng)
            _, loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), args.grad_clip)
            opt.step()
            sched.step()
            step += 1
            loss_value = require_finite(loss.item(), step, "lower --lr or --grad-clip")
            if curve is not None:
                curve.append((step, loss_value))
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.1e}")
            if step % args.eval_every == 0:
                val_loss = estimate_loss(model, val, args, seed=0)
                history.append({"step": step, "train_loss": loss_value, "val_loss": val_loss})
                bar.write(f"step {step}: train loss {loss_value:.4f}, val loss {val_loss:.4f}")
                if args.checkpoint is not None:
                    save_state(args.checkpoint, model, opt, sched, step, rng, history, args)
    return step


def save_plots(args: argparse.Namespace, curve: list[tuple[int, float]],
               history: list[dict]) -> list[Path]:
    """The training loss of every step of this run and the validation loss of every
    evaluation (of earlier runs too, after ``--resume``), to the path parse_args checked."""
    if not args.plot_paths:
        return []
    lines = {"train (one batch per step)": ([s for s, _ in curve], [v for _, v in curve])}
    if history:
        lines["validation"] = ([h["step"] for h in history], [h["val_loss"] for h in history])
    title = (f"GPT (n_layer {args.n_layer}, n_embd {args.n_embd}) on Python's docs, "
             f"{args.engine} engine")
    panel = Panel("cross-entropy (nats per character)", lines, xlabel="step")
    return [save_curves(args.plot_paths["loss.png"], [panel], title)]


def main(argv: Sequence[str] | None = None) -> Path:
    """Check everything, train, save the model to ``--out``; returns that path."""
    args = parse_args(argv)
    with blas_threads(args.threads) as blas:
        tok, train, val, model, opt = build(args)
        sched = schedule(opt, args)
        step, rng, history = 0, np.random.default_rng(args.seed), []
        if args.resume:
            step, rng, history = load_state(args.checkpoint, model, opt, sched, args)
        print(banner(args.engine, blas))
        if args.resume:
            print(f"resumed at step {step}")
        print(f"{len(train):,} training / {len(val):,} validation characters, vocab "
              f"{tok.vocab_size}; {model.num_parameters():,} parameters")  # fmt: skip
        curve: list[tuple[int, float]] = []
        step = train_loop(args, model, opt, sched, train, val, step, rng, history, curve)
        train_loss = estimate_loss(model, train, args, seed=1)
        val_loss = estimate_loss(model, val, args, seed=0)
        require_finite(train_loss + val_loss, step, "lower --lr or --grad-clip")
        print(f"finished at step {step}: train loss {train_loss:.4f}, val loss {val_loss:.4f}")
        if args.checkpoint is not None:
            save_state(args.checkpoint, model, opt, sched, step, rng, history, args)
        model.save(args.out, metadata={
            "tokenizer": "char", "vocab": tok.chars,
            "training": {"data": "pydoc_data.topics (Python " + sys.version.split()[0] + ")",
                         "steps": step, "batch_size": args.batch_size, "seed": args.seed,
                         "train_loss": round(train_loss, 4), "val_loss": round(val_loss, 4),
                         "history": history},
        })  # fmt: skip
        print("wrote " + " and ".join(map(str, with_suffixes(args.out, SUFFIXES))))
        report(save_plots(args, curve, history))
        sample = model.generate(np.array([tok.encode("def ")]), 200, temperature=0.8, top_k=20,
                                seed=0)  # fmt: skip
        print("sample:\n" + tok.decode(sample[0]))
    return args.out


if __name__ == "__main__":
    run(main)
