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

This file is the model. Its shape, checked before anything is allocated, is a
:class:`GPTConfig` (:mod:`shared_nn.models.gpt_config`); reading and writing its weights,
ours or Hugging Face's, is :mod:`shared_nn.models.gpt_checkpoint`. Their public names can
also be imported from here.

Generation keeps a *KV cache*: the keys and values of the tokens already seen, per layer.
Each new token then needs one pass over a sequence of length 1 instead of the whole context,
which is why batch-1 decoding costs one read of the weights per token.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import functional as F
from ..engine import _engine_of_class, get_engine, index_array
from ..init import normal, skip_init, skipping_init
from ..io import CheckpointError
from ..layers import Embedding, LayerNorm, Linear
from ..module import Module, ModuleList
from ..tokenizer import CharTokenizer
from .gpt_checkpoint import (
    HUB_NAME,
    HUB_PREFIX,
    MODEL_SUFFIXES,
    convert_hf_state_dict,
    model_file,
    read_hf_checkpoint,
    read_model_files,
    resolve_checkpoint_dir,
    write_model_files,
)
from .gpt_config import MAX_LAYERS, MAX_PARAMETERS, GPTConfig

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
    # the configuration and the files, re-exported from gpt_config and gpt_checkpoint
    "HUB_NAME",
    "HUB_PREFIX",
    "MODEL_SUFFIXES",
    "model_file",
]


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
        """Token ids (an int64 Tensor of the model's engine, an int ndarray or a list) as an
        int64 array of shape (B, T), T >= 1, every id in the vocabulary."""
        arr = index_array(idx, what, self.engine)
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
        config, state = read_hf_checkpoint(path_or_name, download=download)
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
        plus any JSON-serialisable ``metadata``, e.g. a tokenizer vocabulary), both or neither
        (:func:`~shared_nn.models.gpt_checkpoint.write_model_files`)."""
        write_model_files(path, self.config, self.state_dict(), metadata)

    @classmethod
    def load(
        cls, path: str | os.PathLike, engine: str | None = None, dtype: Any = None
    ) -> tuple[GPT, dict[str, Any]]:
        """Read what :meth:`save` wrote; returns ``(model, metadata)``.

        Files and config are checked before the model is built
        (:func:`~shared_nn.models.gpt_checkpoint.read_model_files`): ``FileNotFoundError`` if
        a file is missing, a :class:`CheckpointError` naming the file for any other problem.
        """
        config, state, metadata = read_model_files(path)
        return cls._from_state(config, state, engine, dtype), metadata


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
