"""Generate text with a GPT on either engine, offline.

By default it uses the small character-level GPT that ships with dualgrad (4 layers, 0.8M
parameters, trained by examples/train_gpt_pydoc.py on Python's documentation), so it runs
with no download at all:

    python examples/gpt2.py --prompt "The for statement"
    python examples/gpt2.py --prompt "def " --engine scalar       # every number a Value

With ``--weights DIR`` it runs real GPT-2 from a Hugging Face folder (config.json +
model.safetensors), with GPT-2's BPE tokenizer built from files shipped in a package:

    hf download gpt2 config.json model.safetensors --local-dir gpt2-weights
    python examples/gpt2.py --weights gpt2-weights --prompt "Hello, I'm a language model,"

``--weights hf:gpt2`` looks the model up in the Hugging Face cache instead (and downloads it
there if it is missing: the one case where this script touches the network, on request).

Everything is checked before the weights are read: the options, the folder, its
config.json (a GPT-2 configuration this model implements) and the prompt. The text goes to
stdout; the first line on stderr says which engine and how many BLAS threads ran it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli, also when loaded by path
from _cli import (  # noqa: E402
    ArgumentParser,
    UsageError,
    add_engine_argument,
    add_seed_argument,
    add_threads_argument,
    banner,
    blas_threads,
    check_readable_file,
    int_in,
    prompt,
    readable_dir,
    resolve_engine,
    run,
    temperature,
)

# The scalar engine builds one Python object per multiply-add (about a million per generated
# character for the small model): a few characters per second, so fewer tokens by default.
DEFAULT_NEW_TOKENS = {"tensor": 300, "scalar": 20}
MAX_NEW_TOKENS = 100_000
MAX_CONFIG_BYTES = 1 << 20  # a GPT-2 config.json is under 1 KiB
# What GPT.from_pretrained takes for a Hugging Face model name, e.g. "openai-community/gpt2".
from shared_nn.models.gpt import HUB_NAME  # noqa: E402

DOWNLOAD = "hf download gpt2 config.json model.safetensors --local-dir DIR"
GPT2_VOCAB = 50257  # the BPE tokenizer's ids: 256 bytes + 50000 merges + <|endoftext|>


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, checked; with --weights, also the folder and its config.json."""
    p = ArgumentParser(prog="gpt2.py",
                       description="Generate text with a GPT (shipped small model or GPT-2).")
    p.add_argument("--prompt", type=prompt, default="The ",
                   help="text to continue (default: 'The ')")
    add_engine_argument(p)
    p.add_argument("--weights", default=None,
                   help="a Hugging Face GPT-2 folder, or a model name in the local HF cache "
                        "(default: the shipped small model)")  # fmt: skip
    p.add_argument("--max-new-tokens", type=int_in(1, MAX_NEW_TOKENS), default=None,
                   help="tokens to generate (default: 300 on tensor, 20 on scalar)")  # fmt: skip
    p.add_argument("--temperature", type=temperature, default=0.8,
                   help="softmax temperature; 0 = greedy (default: 0.8)")  # fmt: skip
    p.add_argument("--top-k", type=int_in(1, 10**6), default=40,
                   help="sample among the k most likely tokens (default: 40)")  # fmt: skip
    add_seed_argument(p)
    p.add_argument("--no-cache", action="store_true",
                   help="recompute the whole context for every token (no KV cache)")  # fmt: skip
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="tensor-engine dtype (the scalar engine is always float64)")  # fmt: skip
    add_threads_argument(p)
    args = p.parse_args(argv)
    args.engine = resolve_engine(args.engine)
    args.config = None
    if args.weights is not None:
        if args.engine == "scalar":
            raise UsageError(
                "GPT-2 has 124M parameters: far too many for the scalar engine (one Python "
                "object each); use --engine tensor, or the shipped small model (no --weights)")
        try:
            args.config = check_weights(args.weights)
        except argparse.ArgumentTypeError as err:
            p.error(f"argument --weights: {err}")
    return args


def check_weights(text: str) -> Any:
    """For a folder: its ``GPTConfig``, read from a config.json that is checked field by
    field. ``None`` for ``hf:NAME``, which the library looks up in the Hugging Face cache
    (downloading only then, because the user asked for the hub)."""
    if text.startswith("hf:"):
        if not HUB_NAME.fullmatch(text[3:]):
            raise argparse.ArgumentTypeError(f"{text[3:]!r} is not a Hugging Face model name")
        return None
    path = Path(text).expanduser()
    if not (path.exists() or path.is_symlink()):
        raise argparse.ArgumentTypeError(
            f"{path}: folder not found (to get GPT-2: {DOWNLOAD}; or --weights hf:gpt2 for "
            "the Hugging Face cache)")
    folder = readable_dir(text)
    for name in ("config.json", "model.safetensors"):
        check_readable_file(folder / name)
    return read_gpt2_config(folder / "config.json")


def read_gpt2_config(path: Path) -> Any:
    """The ``GPTConfig`` of a Hugging Face GPT-2 config.json, or ``ArgumentTypeError``."""
    from shared_nn.models.gpt import GPTConfig

    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise argparse.ArgumentTypeError(
            f"{path}: {path.stat().st_size:,} bytes is too large for a model config")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise argparse.ArgumentTypeError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(hf, dict):
        raise argparse.ArgumentTypeError(
            f"{path} holds a JSON {type(hf).__name__}, not an object of GPT-2 settings")
    try:
        config = GPTConfig.from_hf(hf, source=str(path))  # its messages name the file
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    eps = config.layer_norm_epsilon
    if not (math.isfinite(eps) and eps > 0):
        raise argparse.ArgumentTypeError(
            f"{path}: layer_norm_epsilon must be a finite number > 0, got {eps}")
    if config.vocab_size != GPT2_VOCAB:
        raise argparse.ArgumentTypeError(
            f"{path}: vocab_size {config.vocab_size} is not GPT-2's ({GPT2_VOCAB} BPE tokens)")
    return config


def load(args: argparse.Namespace) -> tuple[Any, Any, list[int]]:
    """(model, tokenizer, prompt ids) for ``--weights`` or the shipped model. For GPT-2 the
    prompt is encoded before the (large) weights are read."""
    from shared_nn.models.gpt import GPT, load_pydoc_model

    if args.weights is None:
        model, tok = load_pydoc_model(engine=args.engine, dtype=args.dtype)
        return model, tok, encode_prompt(tok, args.prompt)
    from shared_nn.tokenizer import GPT2Tokenizer

    tok = GPT2Tokenizer()
    ids = encode_prompt(tok, args.prompt)
    try:
        model = GPT.from_pretrained(args.weights, engine=args.engine, dtype=args.dtype)
    except FileNotFoundError as err:  # its message says how to get the weights (`hf download`)
        raise UsageError(str(err)) from None
    return model, tok, ids


def encode_prompt(tok: Any, text: str) -> list[int]:
    """The prompt's token ids; a character the tokenizer does not know is a usage error."""
    try:
        ids = tok.encode(text)
    except ValueError as err:
        raise UsageError(f"--prompt: {err}") from None
    if not ids:
        raise UsageError("--prompt is empty: give at least one character")
    return ids


def main(argv: Sequence[str] | None = None) -> str:
    """Check everything, load the model, generate; returns the text (prompt included)."""
    args = parse_args(argv)
    n_new = args.max_new_tokens or DEFAULT_NEW_TOKENS[args.engine]
    with blas_threads(args.threads) as blas:
        model, tok, prompt_ids = load(args)
        cfg = model.config
        print(f"{banner(args.engine, blas)}; {model.num_parameters():,} parameters "
              f"(L{cfg.n_layer} H{cfg.n_head} C{cfg.n_embd}, context {cfg.block_size}), "
              f"{'no cache' if args.no_cache else 'KV cache'}", file=sys.stderr)  # fmt: skip
        start = time.perf_counter()
        out = model.generate(np.array([prompt_ids]), n_new, temperature=args.temperature,
                             top_k=args.top_k, seed=args.seed, use_cache=not args.no_cache,
                             progress=True)  # fmt: skip
        seconds = time.perf_counter() - start
    text = tok.decode(out[0].tolist())
    print(text)
    print(f"[{n_new} tokens in {seconds:.1f} s: {n_new / seconds:.1f} tokens/s]", file=sys.stderr)
    return text


if __name__ == "__main__":
    run(main)
