"""GPT-2, written once for both engines.

The model is the one from "Language Models are Unsupervised Multitask Learners" (Radford et
al., 2019), laid out with the module names of Hugging Face's ``GPT2LMHeadModel`` so that its
checkpoints load key for key::

    transformer.wte        token embedding      (vocab_size, n_embd)
    transformer.wpe        position embedding   (block_size, n_embd)
    transformer.h.{i}      n_layer blocks:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
        .ln_1, .ln_2         LayerNorm (eps 1e-5)
        .attn.c_attn         Linear n_embd -> 3 n_embd   (queries, keys, values of all heads)
        .attn.c_proj         Linear n_embd -> n_embd     (mixes the heads' outputs)
        .mlp.c_fc            Linear n_embd -> 4 n_embd, then tanh-GELU
        .mlp.c_proj          Linear 4 n_embd -> n_embd
    transformer.ln_f       final LayerNorm
    logits = ln_f(x) @ wte.weight^T      (the output layer is *tied* to the token embedding)

Every Linear stores its weight as ``(out, in)``, as ``torch.nn.Linear``; GPT-2's checkpoints
use a "Conv1D" layer that stores ``(in, out)``, so :meth:`GPT.from_pretrained` transposes.

Generation keeps a *KV cache*: the keys and values of the tokens already seen, per layer.
Each new token then needs one pass over a sequence of length 1 instead of the whole context,
which is why batch-1 decoding costs one read of the weights per token.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import functional as F
from .._optional import optional_import
from ..engine import _engine_of_class, get_engine
from ..init import normal, skip_init, skipping_init
from ..io import (
    CheckpointError,
    load_state_dict_file,
    read_json_file,
    read_safetensors_header,
    write_files_atomically,
)
from ..layers import Embedding, LayerNorm, Linear
from ..module import Module, ModuleList
from ..tokenizer import CharTokenizer

__all__ = [
    "GPT",
    "GPTConfig",
    "KVCache",
    "CheckpointError",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "convert_hf_state_dict",
    "load_pydoc_model",
    "resolve_checkpoint_dir",
]


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


# Sizes beyond these are refused before anything is allocated: a typo or a hostile config
# file (n_layer = 10**6) must fail with a message, not exhaust the machine's memory.
# GPT-2 XL, the largest GPT-2, has 48 layers and 1.56e9 parameters.
MAX_LAYERS = 1_000
MAX_PARAMETERS = 2_000_000_000

_SIZE_FIELDS = ("n_layer", "n_head", "n_embd", "vocab_size", "block_size")


def _check_size_field(name: str, value: Any) -> int:
    """A config size: a positive int (a bool, float or string is an error, not converted)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"GPTConfig.{name} must be an int, got {value!r} ({type(value).__name__})"
        )
    if value <= 0:
        raise ValueError(f"GPTConfig.{name} must be positive, got {value}")
    return int(value)


def _check_epsilon(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"GPTConfig.layer_norm_epsilon must be a number, got {value!r} "
            f"({type(value).__name__})"
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"GPTConfig.layer_norm_epsilon must be finite and > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a GPT. The defaults are GPT-2 small (124M parameters).

    Every field is checked when the config is made, so a model is never allocated from a bad
    one: sizes are positive ints (not bools, floats or strings), ``n_embd`` is divisible by
    ``n_head``, ``layer_norm_epsilon`` is finite and positive, and the model stays within
    ``MAX_LAYERS`` layers and ``MAX_PARAMETERS`` parameters. Errors are ``ValueError``s
    naming the field and the value.
    """

    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    vocab_size: int = 50257
    block_size: int = 1024  # the longest context (number of learned positions)
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for name in _SIZE_FIELDS:  # frozen: normalise numpy ints to int with object.__setattr__
            object.__setattr__(self, name, _check_size_field(name, getattr(self, name)))
        object.__setattr__(self, "layer_norm_epsilon", _check_epsilon(self.layer_norm_epsilon))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if self.n_layer > MAX_LAYERS:
            raise ValueError(f"GPTConfig.n_layer {self.n_layer} is over the limit {MAX_LAYERS}")
        if self.num_parameters() > MAX_PARAMETERS:
            raise ValueError(
                f"GPTConfig describes {self.num_parameters():,} parameters, over the limit "
                f"{MAX_PARAMETERS:,} (shared_nn.models.gpt.MAX_PARAMETERS): {self}"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def num_parameters(self) -> int:
        """How many numbers a GPT of this shape holds, computed without building it:
        embeddings V*C + T*C, per block 12*C^2 + 13*C (four Linears and two LayerNorms),
        and the final LayerNorm 2*C. The output layer is tied to the embedding."""
        C = self.n_embd
        per_block = 12 * C * C + 13 * C
        return (self.vocab_size + self.block_size) * C + self.n_layer * per_block + 2 * C

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any, source: str = "GPTConfig") -> GPTConfig:
        """A config from a dict holding exactly this class's fields (what :meth:`to_dict` and
        ``GPT.save`` write). A missing or unknown field, a value of the wrong type or range:
        :class:`CheckpointError` naming ``source`` (a file name), the field and the value."""
        if not isinstance(values, Mapping):
            raise CheckpointError(
                f"{source}: the config must be a JSON object, got {type(values).__name__}"
            )
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        missing = [name for name in known if name not in values]
        problems = [f"unknown fields {unknown}"] if unknown else []
        problems += [f"missing fields {missing}"] if missing else []
        if problems:
            raise CheckpointError(
                f"{source}: " + " and ".join(problems) + f" in the config; expected {known}"
            )
        try:
            return cls(**values)
        except ValueError as err:
            raise CheckpointError(f"{source}: {err}") from err

    @classmethod
    def from_hf(cls, hf: Any, source: str = "config.json") -> GPTConfig:
        """Read a Hugging Face ``config.json`` of a GPT-2 model, refusing variants we do not
        implement (another activation, a non-standard MLP width, other attention scalings)
        and values of the wrong type, before anything is allocated."""
        if not isinstance(hf, Mapping):
            raise CheckpointError(f"{source}: expected a JSON object, got {type(hf).__name__}")
        if hf.get("model_type", "gpt2") != "gpt2":
            raise CheckpointError(
                f"{source}: model_type {hf['model_type']!r} is not 'gpt2'; only GPT-2 loads"
            )
        names = {"n_layer": "n_layer", "n_head": "n_head", "n_embd": "n_embd",
                 "vocab_size": "vocab_size", "block_size": "n_positions"}  # fmt: skip
        missing = [theirs for theirs in names.values() if theirs not in hf]
        if missing:
            raise CheckpointError(f"{source}: lacks the GPT-2 fields {missing}")
        values = {ours: hf[theirs] for ours, theirs in names.items()}
        values["layer_norm_epsilon"] = hf.get("layer_norm_epsilon", 1e-5)
        try:
            config = cls(**values)
        except ValueError as err:  # name the field as config.json spells it
            message = str(err).replace("GPTConfig.block_size", "n_positions")
            raise CheckpointError(f"{source}: {message}") from err
        _check_hf_variant(hf, config, source)
        return config


def _check_hf_variant(hf: Mapping[str, Any], config: GPTConfig, source: str) -> None:
    """Refuse GPT-2 variants this implementation does not compute."""
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):
        raise CheckpointError(
            f"{source}: activation_function {activation!r} is not GPT-2's tanh-GELU"
        )
    n_inner = hf.get("n_inner")
    if n_inner is not None and (type(n_inner) is not int or n_inner != 4 * config.n_embd):
        raise CheckpointError(
            f"{source}: n_inner {n_inner!r} is not 4 * n_embd = {4 * config.n_embd}"
        )
    for flag, expected in (
        ("scale_attn_weights", True),
        ("scale_attn_by_inverse_layer_idx", False),
        ("reorder_and_upcast_attn", False),
    ):
        if hf.get(flag, expected) is not expected:
            raise CheckpointError(f"{source}: {flag}={hf[flag]!r} is not supported")


# ---------------------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------------------


class KVCache:
    """The keys and values one attention layer has computed so far, ``(B, n_head, T, hd)``.

    Only used under ``no_grad`` (generation). They live in buffers written in place
    (``buffer[:, :, t] = k``) that double in length when full (up to ``max_length``), so a
    decoding step copies only its own token's keys and values: a ``cat`` would copy the
    whole cache every step, 72 MB per token for GPT-2 at 1024 tokens.
    """

    def __init__(self, max_length: int | None = None) -> None:
        self.k: Any = None  # the buffers; positions from len(self) on are free
        self.v: Any = None
        self.length = 0
        self.max_length = max_length

    def __len__(self) -> int:
        return self.length

    def append(self, k: Any, v: Any, engine: Any) -> tuple[Any, Any]:
        """Add this step's keys and values (tensors of ``engine``); return views of all keys
        and values so far."""
        start = self.reserve(k.shape, k.dtype, engine)
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def reserve(self, shape: tuple[int, ...], dtype: Any, engine: Any) -> int:
        """Make room in the buffers for keys and values of ``shape`` (B, n_head, T, hd);
        return the position they go to. Whoever writes them there adds T to ``length``."""
        needed = self.length + shape[2]
        if self.k is None or needed > self.k.shape[2]:
            capacity = max(2 * needed, 16)
            if self.max_length is not None:
                capacity = max(needed, min(capacity, self.max_length))
            old = (self.k, self.v)
            self.k, self.v = (engine.zeros((*shape[:2], capacity, shape[3]), dtype=dtype)
                              for _ in range(2))
            if old[0] is not None:
                self.k[:, :, : self.length] = old[0][:, :, : self.length]
                self.v[:, :, : self.length] = old[1][:, :, : self.length]
        return self.length


class CausalSelfAttention(Module):
    """Multi-head self-attention in which position t only sees positions <= t."""

    def __init__(self, config: GPTConfig, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        kw = {"engine": self.engine, "dtype": self.dtype}
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, **kw)
        self.c_proj = Linear(config.n_embd, config.n_embd, **kw)
        self.n_head = config.n_head
        # A Python float: a numpy float64 scalar here would turn float32 activations into
        # float64 ones (NumPy 2's promotion rules), and every product after it would be slow.
        self.scale = 1.0 / math.sqrt(config.head_dim)

    def forward(self, x: Any, cache: KVCache | None = None) -> Any:
        B, T, C = x.shape
        nh = self.n_head
        # (B, T, 3C) -> (3, B, nh, T, hd): queries, keys and values, each head attending
        # independently (views, and five graph nodes where split-reshape-transpose takes nine).
        # One token (decoding) is already in head order: a reshape, no permute.
        if T == 1:
            qkv = self.c_attn(x).reshape(B, 3, nh, 1, C // nh)
            q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        else:
            qkv = self.c_attn(x).reshape(B, T, 3, nh, C // nh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        if cache is not None:
            k, v = cache.append(k, v, get_engine(self.engine))
        T_all = k.shape[2]  # past tokens (from the cache) + these T
        # softmax(q kᵀ / sqrt(hd)) v per head: one fused node on the tensor engine.
        mask = _visible(T, T_all) if T > 1 else None
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
        # Heads side by side again; one token's (B, nh, 1, hd) already is in that order.
        y = y.reshape(B, T, C) if T == 1 else y.transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


@functools.lru_cache(maxsize=64)
def _visible(T: int, T_all: int) -> np.ndarray:
    """True where a query may look: query i sits at absolute position T_all - T + i and
    sees keys 0 .. that. Read-only, and made once per shape (every layer asks)."""
    mask = np.tril(np.ones((T, T_all), dtype=bool), k=T_all - T)
    mask.flags.writeable = False
    return mask


class MLP(Module):
    """Position-wise feed-forward: widen 4x, tanh-GELU, project back."""

    def __init__(self, config: GPTConfig, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        kw = {"engine": self.engine, "dtype": self.dtype}
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, **kw)
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, **kw)

    def forward(self, x: Any) -> Any:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(Module):
    """One transformer block, pre-LayerNorm (GPT-2): the residual stream is never normalised,
    only what each sub-layer reads from it."""

    def __init__(self, config: GPTConfig, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        kw = {"engine": self.engine, "dtype": self.dtype}
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, **kw)
        self.attn = CausalSelfAttention(config, **kw)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, **kw)
        self.mlp = MLP(config, **kw)

    def forward(self, x: Any, cache: KVCache | None = None) -> Any:
        if cache is not None:  # decoding: maybe one fused op for the whole block
            y = _one_token_in_one_op(self, x, cache)
            if y is not None:
                return y
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


def _one_token_in_one_op(block: Block, x: Any, cache: KVCache) -> Any:
    """``block(x, cache)`` as the engine's fused ``decoder_block_step`` (the tensor engine's
    inference fast path, as torch has one for ``nn.TransformerEncoderLayer``), or None where
    that does not apply: more than one token per row, grad mode on, fusion off, an engine
    without the op, or a block whose layers are not the stock ones (a subclass or a
    replaced layer may compute something else, so it runs layer by layer)."""
    if _engine_of_class.get(type(x)) != block.engine or x.dtype != block.dtype:
        return None
    shape = x.shape
    engine = get_engine(block.engine)
    if len(shape) != 3 or shape[1] != 1 or engine.is_grad_enabled():
        return None
    op = F._fused_op(engine, "decoder_block_step")
    if op is None or not _is_stock(block):
        return None
    attn, mlp, ln_1, ln_2 = block.attn, block.mlp, block.ln_1, block.ln_2
    if shape[2] != attn.c_attn.in_features:  # the layers' own checks name the mismatch
        return None
    head_size = shape[2] // attn.n_head
    position = cache.reserve((shape[0], attn.n_head, 1, head_size), x.dtype, engine)
    weights = (ln_1.weight, ln_1.bias, attn.c_attn.weight, attn.c_attn.bias,
               attn.c_proj.weight, attn.c_proj.bias, ln_2.weight, ln_2.bias,
               mlp.c_fc.weight, mlp.c_fc.bias, mlp.c_proj.weight, mlp.c_proj.bias)
    y = op(x, weights, cache.k, cache.v, position, attn.n_head, attn.scale, ln_1.eps)
    cache.length = position + 1
    return y


def _is_stock(block: Block) -> bool:
    """Whether ``block``'s layers are exactly the classes it builds, with one LayerNorm eps."""
    attn, mlp = block.attn, block.mlp
    return (type(attn) is CausalSelfAttention and type(mlp) is MLP
            and type(block.ln_1) is type(block.ln_2) is LayerNorm
            and type(attn.c_attn) is type(attn.c_proj) is type(mlp.c_fc) is type(mlp.c_proj)
            is Linear and block.ln_1.eps == block.ln_2.eps)


class Transformer(Module):
    """The body of GPT-2 (``transformer.*`` in its checkpoints): embeddings, blocks, ln_f."""

    def __init__(self, config: GPTConfig, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        kw = {"engine": self.engine, "dtype": self.dtype}
        self.wte = Embedding(config.vocab_size, config.n_embd, **kw)
        self.wpe = Embedding(config.block_size, config.n_embd, **kw)
        self.h = ModuleList([Block(config, **kw) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, **kw)


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


class GPT(Module):
    """GPT-2 language model on either engine.

    ``forward(idx)`` maps token ids ``(B, T)`` to next-token logits ``(B, T, vocab_size)``;
    ``forward(idx, targets)`` also returns the mean cross-entropy loss, ``(logits, loss)``.
    ``generate`` continues a prompt; ``from_pretrained`` loads GPT-2 checkpoints.
    """

    def __init__(self, config: GPTConfig, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = Transformer(config, engine=self.engine, dtype=self.dtype)
        if not skipping_init():  # a loader is about to overwrite every weight
            self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) everywhere, zero biases, and the projections
        that write into the residual stream scaled down by sqrt(2 n_layer) so the stream's
        variance does not grow with depth. Drawn from shared_nn's seeded generator."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                p.assign_(normal(p.shape, 0.0, residual_std).astype(self.dtype))
            elif name.endswith(("wte.weight", "wpe.weight")) or (
                name.endswith(".weight") and ".ln_" not in name
            ):
                p.assign_(normal(p.shape, 0.0, 0.02).astype(self.dtype))
            elif name.endswith(".bias") and ".ln_" not in name:
                p.assign_(np.zeros(p.shape, dtype=self.dtype))

    # --- input checks -----------------------------------------------------------------------

    def _check_idx(self, idx: Any, what: str = "idx") -> np.ndarray:
        """Token ids as an int64 array of shape (B, T), T >= 1, every id in the vocabulary."""
        if hasattr(type(idx), "engine"):
            raise TypeError(f"{what} must be integer token ids (ndarray or list), not a Tensor")
        arr = np.asarray(idx)
        if arr.ndim != 2:
            raise ValueError(
                f"{what} must be a 2-D array of token ids (batch, time), got shape {arr.shape}"
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{what} is empty (shape {arr.shape}); give at least one token")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{what} must hold integer token ids, got dtype {arr.dtype}")
        V = self.config.vocab_size
        bad = (arr < 0) | (arr >= V)
        if bad.any():
            raise ValueError(
                f"{what} holds ids outside the vocabulary [0, {V}): {np.unique(arr[bad])[:5]}"
            )
        return arr.astype(np.int64, copy=False)

    # --- forward ----------------------------------------------------------------------------

    def _hidden(self, idx: np.ndarray, caches: Sequence[KVCache] | None = None) -> Any:
        """The final-LayerNorm'd hidden states (B, T, n_embd) of ``idx``, whose first token
        sits at position ``len(caches[0])`` (0 without a cache)."""
        T = idx.shape[1]
        start = len(caches[0]) if caches else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of length {start + T} exceeds block_size {self.config.block_size}"
            )
        tr = self.transformer
        x = tr.wte(idx) + tr.wpe(np.arange(start, start + T))
        for i, block in enumerate(tr.h):
            x = block(x, caches[i] if caches else None)
        return tr.ln_f(x)

    def _logits(self, h: Any) -> Any:
        """Tied output layer: scores of every vocabulary entry, h @ wte.weight^T."""
        return h @ self.transformer.wte.weight.T

    def forward(self, idx: Any, targets: Any = None) -> Any:
        """Logits ``(B, T, vocab_size)`` for token ids ``idx`` of shape ``(B, T)``.

        With ``targets`` (ids of the same shape: the next token at every position) returns
        ``(logits, loss)``, the loss being the mean cross-entropy over all B*T positions.
        """
        idx = self._check_idx(idx)
        logits = self._logits(self._hidden(idx))
        if targets is None:
            return logits
        targets = self._check_idx(targets, "targets")
        if targets.shape != idx.shape:
            raise ValueError(f"targets shape {targets.shape} differs from idx shape {idx.shape}")
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        return logits, loss

    # --- generation -------------------------------------------------------------------------

    def generate(
        self,
        idx: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        use_cache: bool = True,
        progress: bool = False,
    ) -> np.ndarray:
        """Continue each row of ``idx`` (B, T) by ``max_new_tokens`` tokens; returns the ids
        ``(B, T + max_new_tokens)`` as an int64 array.

        ``temperature == 0`` is greedy (argmax). Otherwise the logits are divided by
        ``temperature``, cut to the ``top_k`` largest if given, and a token is drawn from
        their softmax with ``numpy.random.default_rng(seed)``, so a seed fixes the output.
        The model sees at most ``block_size`` tokens: longer contexts are cropped to the last
        ``block_size``. ``use_cache`` keeps every layer's keys and values so that each step
        only processes the newest token; once the context outgrows ``block_size`` the cache
        cannot be shifted (positions are absolute) and each step recomputes the cropped
        window. ``use_cache=False`` always recomputes (same tokens, slower).
        ``progress`` shows a tqdm bar.
        """
        idx = self._check_idx(idx)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)):
            raise TypeError(f"max_new_tokens must be an int, got {type(max_new_tokens).__name__}")
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        temperature = float(temperature)
        if temperature < 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        rng = np.random.default_rng(seed)
        block_size = self.config.block_size
        steps: Any = range(max_new_tokens)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="generating", unit="tok", leave=False)
        caches: list[KVCache] | None = None
        with get_engine(self.engine).no_grad():
            for _ in steps:
                if caches is not None and idx.shape[1] <= block_size:
                    h = self._hidden(idx[:, -1:], caches)  # only the newest token
                else:
                    caches = ([KVCache(block_size) for _ in range(self.config.n_layer)]
                              if use_cache else None)
                    h = self._hidden(idx[:, -block_size:], caches)
                logits = self._logits(h[:, -1, :]).numpy()  # (B, V): only the last position
                next_ids = _pick_tokens(logits, temperature, top_k, rng)
                idx = np.concatenate([idx, next_ids[:, None]], axis=1)
        return idx

    # --- loading and saving -----------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | os.PathLike,
        engine: str | None = None,
        dtype: Any = None,
        download: bool = False,
    ) -> GPT:
        """A GPT-2 from a Hugging Face format folder (``config.json`` + ``model.safetensors``).

        Nothing touches the network unless asked: a path that is not an existing folder is a
        ``FileNotFoundError`` saying how to fetch the weights. Hugging Face's cache (and, if
        needed and allowed, a download) is used only for a name written ``"hf:gpt2"`` or with
        ``download=True``.

        Everything is checked before the model is built: the config field by field, then the
        weights file's header (format, dtypes, every key and shape). The model is then built
        without a random initialisation and filled from the file, so loading costs about
        what reading the file costs. Problems are :class:`CheckpointError`s naming the file.
        Never unpickles anything.
        """
        directory = resolve_checkpoint_dir(path_or_name, download=download)
        config_path, weights = directory / "config.json", directory / "model.safetensors"
        config = GPTConfig.from_hf(read_json_file(config_path), source=str(config_path))
        header = read_safetensors_header(weights)
        _hf_keys({k: info.shape for k, info in header.items()}, config, str(weights))
        tensors = load_state_dict_file(weights)
        state = convert_hf_state_dict(tensors, config, source=str(weights))
        return cls._from_state(config, state, engine, dtype)

    @classmethod
    def _from_state(
        cls, config: GPTConfig, state: Mapping[str, Any], engine: str | None, dtype: Any
    ) -> GPT:
        """A model of ``config`` holding the (already checked) weights ``state``, built
        without drawing random weights first."""
        with skip_init():
            model = cls(config, engine=engine, dtype=dtype)
        model.load_state_dict(state)
        return model

    def save(self, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``path.safetensors`` (our key names and layouts) and ``path.json`` (the config
        plus any JSON-serialisable ``metadata``, e.g. a tokenizer vocabulary).

        Both files are written to temporary files first and renamed over the old ones only
        when both are complete (see :func:`shared_nn.io.write_files_atomically`); symlinks
        are written through, and a directory or special file in the way is refused.
        """
        from safetensors.numpy import save as to_bytes

        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        state = {k: np.ascontiguousarray(v) for k, v in self.state_dict().items()}
        info = {"config": self.config.to_dict(), **dict(metadata or {})}
        write_files_atomically({
            model_file(base, ".safetensors"): to_bytes(state),
            model_file(base, ".json"): (json.dumps(info, indent=1) + "\n").encode("utf-8"),
        })  # fmt: skip

    @classmethod
    def load(
        cls, path: str | os.PathLike, engine: str | None = None, dtype: Any = None
    ) -> tuple[GPT, dict[str, Any]]:
        """Read what :meth:`save` wrote; returns ``(model, metadata)``.

        The description (``path.json``) and the weights file's header are checked against
        each other before the model is built, so a bad or hostile description cannot make it
        allocate a huge model. ``FileNotFoundError`` if a file is missing; every other
        problem is a :class:`CheckpointError` naming the file.
        """
        base = Path(path)
        json_path, weights = model_file(base, ".json"), model_file(base, ".safetensors")
        info = read_json_file(json_path)
        if "config" not in info:
            raise CheckpointError(f"{json_path}: has no 'config' entry; not written by GPT.save")
        config = GPTConfig.from_dict(info.pop("config"), source=str(json_path))
        header = read_safetensors_header(weights)
        _check_shapes(
            {k: v.shape for k, v in header.items()}, _expected_shapes(config), str(weights)
        )
        model = cls._from_state(config, load_state_dict_file(weights), engine, dtype)
        return model, info


PYDOC_MODEL = Path(__file__).resolve().parent.parent / "data" / "gpt_pydoc"


def load_pydoc_model(
    engine: str | None = None, dtype: Any = None
) -> tuple[GPT, CharTokenizer]:
    """The small character-level GPT that ships with dualgrad (trained by
    ``examples/train_gpt_pydoc.py`` on Python's documentation) and its tokenizer."""
    model, info = GPT.load(PYDOC_MODEL, engine=engine, dtype=dtype)
    return model, CharTokenizer(info["vocab"])


def _pick_tokens(
    logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator
) -> np.ndarray:
    """One next token per row of ``logits`` (B, V): argmax, or a draw from the tempered,
    top-k-cut softmax (computed in float64)."""
    if temperature == 0.0:
        return logits.argmax(axis=-1).astype(np.int64)
    scores = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = np.partition(scores, -int(top_k), axis=-1)[:, -int(top_k)][:, None]
        scores = np.where(scores < kth, -np.inf, scores)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(p), p=p) for p in probs], dtype=np.int64)


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------

# GPT-2's Conv1D layers store weights as (in, out); our Linear wants (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Causal-mask buffers some checkpoints carry; the mask is rebuilt in forward.
_BUFFER = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")

# "gpt2", "openai-community/gpt2": what a Hugging Face model name looks like (not a path).
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
HUB_PREFIX = "hf:"

MODEL_SUFFIXES = (".safetensors", ".json")


def model_file(base: str | os.PathLike, suffix: str) -> Path:
    """The file ``GPT.save`` writes for ``base`` with ``suffix``: the suffix is appended
    (``run.v2`` -> ``run.v2.json``), and a base that already ends in one of the two model
    suffixes is taken without it (``m.json`` -> ``m.safetensors``). ``with_suffix`` would
    instead replace ``.v2`` and write over another model's files."""
    base = Path(base)
    if base.suffix in MODEL_SUFFIXES:
        base = base.with_suffix("")
    if base.name in ("", ".", ".."):
        raise ValueError(f"{os.fspath(base)!r} has no file name to save a model under")
    return base.parent / (base.name + suffix)


_HOW_TO_GET_WEIGHTS = (
    "Nothing is downloaded unless you ask. Fetch GPT-2's weights once, where there is a "
    "network, with `hf download gpt2 config.json model.safetensors --local-dir DIR` and pass "
    "that folder: GPT.from_pretrained('DIR'); or let Hugging Face's cache fetch them: "
    "GPT.from_pretrained('hf:gpt2') or GPT.from_pretrained('gpt2', download=True)"
)


def resolve_checkpoint_dir(path_or_name: str | os.PathLike, download: bool = False) -> Path:
    """The folder holding ``config.json`` + ``model.safetensors`` for a path or model name.

    An existing folder is used as is. ``"hf:NAME"`` (or a bare ``NAME`` with
    ``download=True``) is looked up in the Hugging Face cache and downloaded if missing,
    unless ``HF_HUB_OFFLINE`` is set. Anything else is a ``FileNotFoundError`` explaining
    how to obtain the weights: a typo never turns into a network request.
    """
    text = os.fspath(path_or_name)
    if text.startswith(HUB_PREFIX):
        return _hub_snapshot(_hub_name(text[len(HUB_PREFIX) :]))
    path = Path(text).expanduser()
    if path.is_dir():
        for name in ("config.json", "model.safetensors"):
            if not (path / name).is_file():
                raise FileNotFoundError(
                    f"{path} has no {name}: a Hugging Face GPT-2 folder holds config.json and "
                    f"model.safetensors. {_HOW_TO_GET_WEIGHTS}"
                )
        return path
    if download and not path.exists():
        return _hub_snapshot(_hub_name(text))
    if path.exists():
        raise FileNotFoundError(
            f"{path} is a file; give the folder holding config.json and model.safetensors. "
            + _HOW_TO_GET_WEIGHTS
        )
    raise FileNotFoundError(f"checkpoint folder not found: {path}. {_HOW_TO_GET_WEIGHTS}")


def _hub_name(name: str) -> str:
    if not HUB_NAME.fullmatch(name):
        raise FileNotFoundError(
            f"{name!r} is not a Hugging Face model name (like 'gpt2' or 'openai-community/gpt2')"
        )
    return name


def _hub_snapshot(name: str) -> Path:
    """The local snapshot of hub model ``name``: the cache first, then a download unless
    ``HF_HUB_OFFLINE`` is set. Only reached when the caller asked for the hub."""
    hub = optional_import("huggingface_hub", f"downloading {name!r} from the Hugging Face hub")
    files = ["config.json", "model.safetensors"]
    attempts = [True] if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") else [True, False]
    for local_only in attempts:
        try:
            folder = hub.snapshot_download(name, allow_patterns=files, local_files_only=local_only)
        except Exception:  # noqa: BLE001 - not cached / no network / unknown repo: say how
            continue
        path = Path(folder)
        if all((path / f).is_file() for f in files):
            return path
    raise FileNotFoundError(
        f"GPT-2 weights {name!r} are not in the Hugging Face cache and could not be "
        f"downloaded. {_HOW_TO_GET_WEIGHTS}"
    )


def _expected_hf_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every key of a GPT-2 checkpoint (with ``transformer.`` prefix) and its stored shape."""
    C, V = config.n_embd, config.vocab_size
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (config.block_size, C)}
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        shapes |= {
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, 4 * C), p + "mlp.c_fc.bias": (4 * C,),
            p + "mlp.c_proj.weight": (4 * C, C), p + "mlp.c_proj.bias": (C,),
        }  # fmt: skip
    shapes |= {"transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}
    return shapes


def _expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every key of ``GPT(config).state_dict()`` and its shape, computed without building
    the model: GPT-2's layout with the Conv1D weights transposed to Linear's (out, in)."""
    return {
        key: shape[::-1] if key.endswith(_CONV1D) else shape
        for key, shape in _expected_hf_shapes(config).items()
    }


def _listed(keys: list[str]) -> str:
    return f"{keys[:8]}{' ...' if len(keys) > 8 else ''}"


def _check_shapes(
    got: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], source: str
) -> None:
    """Same keys, same shapes; else a CheckpointError naming the offending keys and shapes."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    if missing or unexpected:
        parts = [f"missing keys {_listed(missing)}"] if missing else []
        parts += [f"unexpected keys {_listed(unexpected)}"] if unexpected else []
        raise CheckpointError(f"{source} does not match the config: " + "; ".join(parts))
    for key, shape in expected.items():
        if tuple(got[key]) != shape:
            raise CheckpointError(
                f"{source}: {key!r} has shape {tuple(got[key])}, expected {shape}"
            )


def _hf_keys(
    shapes: Mapping[str, tuple[int, ...]], config: GPTConfig, source: str
) -> dict[str, str]:
    """Map each key of a GPT-2 checkpoint to ours (``transformer.`` prefixed), checking keys
    and shapes against ``config``. Attention-mask buffers map to nothing; ``lm_head.weight``
    maps to itself (its values are compared with the tied embedding by the caller)."""
    mapping: dict[str, str] = {}
    for key in shapes:
        full = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
        if _BUFFER.fullmatch(full):
            continue
        if full in mapping.values():
            raise CheckpointError(f"{source}: {key!r} appears both with and without prefix")
        mapping[key] = full
    expected = _expected_hf_shapes(config)
    if "lm_head.weight" in shapes:
        expected["lm_head.weight"] = expected["transformer.wte.weight"]
    got = {full: tuple(shapes[key]) for key, full in mapping.items()}
    _check_shapes(got, expected, f"{source} (config {config})")
    return mapping


def convert_hf_state_dict(
    tensors: Mapping[str, np.ndarray], config: GPTConfig, source: str = "checkpoint"
) -> dict[str, np.ndarray]:
    """Hugging Face GPT-2 tensors -> this module's state dict.

    Accepts keys with or without the ``transformer.`` prefix, drops the attention-mask buffers,
    accepts an ``lm_head.weight`` only if it equals the (tied) token embedding, checks every key
    and shape, and transposes the Conv1D weights to Linear's (out, in) (as views). Raises
    :class:`CheckpointError` naming the offending keys and shapes.
    """
    mapping = _hf_keys({k: tuple(v.shape) for k, v in tensors.items()}, config, source)
    state = {full: tensors[key] for key, full in mapping.items()}
    for key, value in state.items():
        if value.dtype.kind != "f":
            raise CheckpointError(f"{source}: {key!r} holds {value.dtype}, not floats")
    lm_head = state.pop("lm_head.weight", None)
    if lm_head is not None and not np.array_equal(lm_head, state["transformer.wte.weight"]):
        raise CheckpointError(
            f"{source}: lm_head.weight differs from transformer.wte.weight; this GPT ties them"
        )
    # Transposed views, not copies: the engine copies each array into its parameter anyway,
    # and copying a transposed view keeps its (column-major) layout, a plain memcpy. A
    # transposing copy here would cost as much as reading the whole file again.
    return {key: value.T if key.endswith(_CONV1D) else value for key, value in state.items()}
