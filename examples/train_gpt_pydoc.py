"""Train the small GPT that ships with dualgrad, on Python's own documentation.

The text is ``pydoc_data.topics`` (part of every CPython: the help pages behind ``help()``),
cut into characters: the model learns to continue Python documentation one character at a
time. It runs on the tensor engine with shared_nn's AdamW and cross-entropy, and writes

    shared_nn/data/gpt_pydoc.safetensors   the weights
    shared_nn/data/gpt_pydoc.json          the config, the character vocabulary, the losses

which ``examples/gpt2.py`` uses when no GPT-2 weights are given.

Training is seeded and bounded by ``--minutes``; ``--checkpoint`` saves the full training
state (weights, AdamW moments, step, data generator) every ``--eval-every`` steps, and
``--resume`` continues from it, so a run can be stopped and picked up again.

    python examples/train_gpt_pydoc.py --minutes 12
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import shared_nn
from shared_nn.data import pydoc_text
from shared_nn.models.gpt import GPT, GPTConfig
from shared_nn.optim import AdamW
from shared_nn.tokenizer import CharTokenizer

DATA_DIR = Path(shared_nn.__file__).resolve().parent / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DATA_DIR / "gpt_pydoc",
                   help="output path without suffix (default: shared_nn/data/gpt_pydoc)")
    p.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget")
    p.add_argument("--max-steps", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--min-lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (1: on a shared machine two threads that wait for each "
                        "other are much slower than one)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="where to keep the resumable training state (safetensors + json)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    args = p.parse_args(argv)
    if args.resume and args.checkpoint is None:
        p.error("--resume needs --checkpoint")
    for name in ("max_steps", "batch_size", "eval_every", "eval_batches", "block_size"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.minutes <= 0 or args.lr <= 0:
        p.error("--minutes and --lr must be positive")
    return args


def get_batch(data: np.ndarray, batch_size: int, block_size: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``batch_size`` random windows of the text and, for each, the next characters."""
    starts = rng.integers(0, len(data) - block_size - 1, size=batch_size)
    x = np.stack([data[s : s + block_size] for s in starts])
    y = np.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y


def learning_rate(step: int, time_fraction: float, args: argparse.Namespace) -> float:
    """Linear warm-up, then a cosine decay from ``lr`` to ``min_lr``, finishing at
    ``max_steps`` or when the time budget runs out, whichever comes first."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, max(time_fraction,
                            (step - args.warmup) / max(1, args.max_steps - args.warmup)))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1.0 + math.cos(math.pi * progress))


def estimate_loss(model: GPT, data: np.ndarray, args: argparse.Namespace, seed: int) -> float:
    """Mean loss on the same ``eval_batches`` windows every time (a fixed seed)."""
    rng = np.random.default_rng(seed)
    losses = []
    with shared_nn.get_engine(model.engine).no_grad():
        for _ in range(args.eval_batches):
            x, y = get_batch(data, args.batch_size, args.config.block_size, rng)
            losses.append(model(x, y)[1].item())
    return float(np.mean(losses))


def clip_gradients(model: GPT, max_norm: float) -> float:
    """Scale all gradients down together if their global L2 norm exceeds ``max_norm``."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            p.grad = p.grad * scale
    return norm


def save_training_state(path: Path, model: GPT, opt: AdamW, step: int,
                        rng: np.random.Generator, history: list) -> None:  # fmt: skip
    """Weights + AdamW moments (by parameter name) + step + data generator state."""
    from safetensors.numpy import save_file

    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    steps = {}
    for name, p in model.named_parameters():
        state = opt.state.get(id(p))
        if state:
            arrays[f"exp_avg/{name}"] = state["exp_avg"]
            arrays[f"exp_avg_sq/{name}"] = state["exp_avg_sq"]
            steps[name] = state["step"]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(arrays, str(path.with_suffix(".safetensors")))
    info = {"step": step, "adam_steps": steps, "rng": rng.bit_generator.state,
            "history": history, "config": model.config.to_dict()}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(info))


def load_training_state(path: Path, model: GPT, opt: AdamW) -> tuple[int, np.random.Generator,
                                                                      list]:  # fmt: skip
    from safetensors.numpy import load_file

    info = json.loads(path.with_suffix(".json").read_text())
    if GPTConfig.from_dict(info["config"]) != model.config:
        raise SystemExit(f"{path}: checkpoint config {info['config']} differs from this run's")
    arrays = load_file(str(path.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
    for name, p in model.named_parameters():
        if name in info["adam_steps"]:
            opt.state[id(p)] = {"step": info["adam_steps"][name],
                                "exp_avg": arrays[f"exp_avg/{name}"],
                                "exp_avg_sq": arrays[f"exp_avg_sq/{name}"]}  # fmt: skip
    rng = np.random.default_rng()
    rng.bit_generator.state = info["rng"]
    return info["step"], rng, info["history"]


def limit_blas_threads(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dev dependency; without it BLAS keeps its own default
        return
    threadpool_limits(limits=n, user_api="blas")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    limit_blas_threads(args.threads)
    text = pydoc_text()
    tok = CharTokenizer.from_text(text)
    data = np.array(tok.encode(text), dtype=np.int64)
    n_val = len(data) // 10  # the last 10% of the text is held out
    train, val = data[:-n_val], data[-n_val:]
    args.config = GPTConfig(args.n_layer, args.n_head, args.n_embd, tok.vocab_size, args.block_size)

    shared_nn.manual_seed(args.seed)
    model = GPT(args.config, engine="tensor", dtype="float32")
    decay = [p for n, p in model.named_parameters() if n.endswith(".weight") and ".ln_" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (n.endswith(".weight")
                                                             and ".ln_" not in n)]  # fmt: skip
    opt = AdamW([{"params": decay, "weight_decay": args.weight_decay},
                 {"params": no_decay, "weight_decay": 0.0}],
                lr=args.lr, betas=(0.9, 0.99))  # fmt: skip
    step, rng, history = 0, np.random.default_rng(args.seed), []
    if args.resume:
        step, rng, history = load_training_state(args.checkpoint, model, opt)
        print(f"resumed at step {step}")
    print(f"{len(train):,} training / {len(val):,} validation characters, vocab {tok.vocab_size}; "
          f"{model.num_parameters():,} parameters")  # fmt: skip

    budget = 60.0 * args.minutes
    start = time.monotonic()
    bar = tqdm(total=args.max_steps, initial=step, desc="training", unit="step")
    loss_value = float("nan")
    while step < args.max_steps and time.monotonic() - start < budget:
        lr = learning_rate(step, (time.monotonic() - start) / budget, args)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(train, args.batch_size, args.block_size, rng)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        clip_gradients(model, args.grad_clip)
        opt.step()
        loss_value = loss.item()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.1e}")
        if step % args.eval_every == 0:
            val_loss = estimate_loss(model, val, args, seed=0)
            history.append({"step": step, "train_loss": loss_value, "val_loss": val_loss})
            bar.write(f"step {step}: train loss {loss_value:.4f}, val loss {val_loss:.4f}")
            if args.checkpoint is not None:
                save_training_state(args.checkpoint, model, opt, step, rng, history)
    bar.close()

    train_loss = estimate_loss(model, train, args, seed=1)
    val_loss = estimate_loss(model, val, args, seed=0)
    print(f"finished at step {step}: train loss {train_loss:.4f}, val loss {val_loss:.4f}")
    if args.checkpoint is not None:
        save_training_state(args.checkpoint, model, opt, step, rng, history)
    model.save(args.out, metadata={
        "tokenizer": "char", "vocab": tok.chars,
        "training": {"data": "pydoc_data.topics (Python " + sys.version.split()[0] + ")",
                     "steps": step, "batch_size": args.batch_size, "seed": args.seed,
                     "train_loss": round(train_loss, 4), "val_loss": round(val_loss, 4),
                     "history": history},
    })  # fmt: skip
    print(f"wrote {args.out.with_suffix('.safetensors')} and {args.out.with_suffix('.json')}")
    sample = model.generate(np.array([tok.encode("def ")]), 200, temperature=0.8, top_k=20,
                            seed=0)  # fmt: skip
    print("sample:\n" + tok.decode(sample[0]))


if __name__ == "__main__":
    main()
