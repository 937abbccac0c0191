"""Generate text with a GPT on either engine, offline.

By default it uses the small character-level GPT that ships with dualgrad (4 layers, 0.8M
parameters, trained by examples/train_gpt_pydoc.py on Python's documentation), so it runs
with no download at all:

    python examples/gpt2.py --prompt "The for statement"
    python examples/gpt2.py --prompt "def " --engine scalar       # every number a Value

With ``--weights DIR`` it runs real GPT-2 from a Hugging Face folder (config.json +
model.safetensors), with GPT-2's BPE tokenizer built from files shipped in a package:

    huggingface-cli download gpt2 config.json model.safetensors --local-dir gpt2-weights
    python examples/gpt2.py --weights gpt2-weights --prompt "Hello, I'm a language model,"

``--weights gpt2`` looks the model up in the local Hugging Face cache instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import (  # noqa: E402
    ArgumentParser,
    UsageError,
    add_engine_argument,
    positive_int,
    resolve_engine,
    run,
)

# The scalar engine builds one Python object per multiply-add (about a million per generated
# character for the small model): a few characters per second, so fewer tokens by default.
DEFAULT_NEW_TOKENS = {"tensor": 300, "scalar": 20}


def non_negative_float(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number >= 0")
    return value


def parse_args(argv: Sequence[str] | None) -> object:
    p = ArgumentParser(description="Generate text with a GPT (shipped small model or GPT-2).")
    p.add_argument("--prompt", default="The ", help="text to continue (default: 'The ')")
    add_engine_argument(p)
    p.add_argument("--weights", default=None,
                   help="a Hugging Face GPT-2 folder, or a model name in the local HF cache "
                        "(default: the shipped small model)")  # fmt: skip
    p.add_argument("--max-new-tokens", type=positive_int, default=None,
                   help="tokens to generate (default: 300 on tensor, 20 on scalar)")  # fmt: skip
    p.add_argument("--temperature", type=non_negative_float, default=0.8,
                   help="softmax temperature; 0 = greedy (default: 0.8)")  # fmt: skip
    p.add_argument("--top-k", type=positive_int, default=40,
                   help="sample among the k most likely tokens (default: 40)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute the whole context for every token (no KV cache)")  # fmt: skip
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="tensor-engine dtype (the scalar engine is always float64)")  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=None,
                   help="BLAS threads (default: 1 for the shipped model, whose 128-wide "
                        "matrices gain nothing from threads; BLAS's own default for GPT-2)")
    return p.parse_args(argv)


def limit_blas_threads(n: int) -> None:
    """Cap numpy's BLAS threads (threadpoolctl, if installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n, user_api="blas")


def load(args: object, engine: str) -> tuple[object, object]:
    """(model, tokenizer) for ``--weights`` or the shipped model."""
    from shared_nn.models.gpt import GPT, CheckpointError, load_pydoc_model

    try:
        if args.weights is None:
            return load_pydoc_model(engine=engine, dtype=args.dtype)
        if engine == "scalar":
            raise UsageError(
                "GPT-2 has 124M parameters: far too many for the scalar engine (one Python "
                "object each); use --engine tensor, or the shipped small model (no --weights)"
            )
        from shared_nn.tokenizer import GPT2Tokenizer

        return GPT.from_pretrained(args.weights, engine=engine, dtype=args.dtype), GPT2Tokenizer()
    except (FileNotFoundError, CheckpointError) as err:
        raise UsageError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    engine = resolve_engine(args.engine)
    threads = args.threads or (1 if args.weights is None else None)
    if threads is not None:
        limit_blas_threads(threads)
    model, tok = load(args, engine)
    try:
        prompt = tok.encode(args.prompt)
    except ValueError as err:
        raise UsageError(f"--prompt: {err}") from None
    if not prompt:
        raise UsageError("--prompt is empty: give at least one character")
    n_new = args.max_new_tokens or DEFAULT_NEW_TOKENS[engine]
    cfg = model.config
    print(f"{engine} engine, {model.num_parameters():,} parameters (L{cfg.n_layer} "
          f"H{cfg.n_head} C{cfg.n_embd}, context {cfg.block_size}), "
          f"{'no cache' if args.no_cache else 'KV cache'}", file=sys.stderr)  # fmt: skip
    start = time.perf_counter()
    out = model.generate(np.array([prompt]), n_new, temperature=args.temperature,
                         top_k=args.top_k, seed=args.seed, use_cache=not args.no_cache,
                         progress=True)  # fmt: skip
    seconds = time.perf_counter() - start
    text = tok.decode(out[0].tolist())
    print(text)
    print(f"[{n_new} tokens in {seconds:.1f} s: {n_new / seconds:.1f} tokens/s]", file=sys.stderr)
    return text


if __name__ == "__main__":
    run(main)
