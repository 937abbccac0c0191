"""GPT-2's configuration: the shape of a model, checked before anything is allocated.

A :class:`GPTConfig` is made from keyword arguments, from what ``GPT.save`` wrote
(:meth:`GPTConfig.from_dict`) or from a Hugging Face ``config.json``
(:meth:`GPTConfig.from_hf`). Every field is checked when the config is made, so a typo or a
hostile file fails with a message naming the field, never by exhausting the machine's
memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..io import CheckpointError

__all__ = ["GPTConfig", "MAX_LAYERS", "MAX_PARAMETERS"]


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
