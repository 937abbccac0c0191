"""Ready-made models built from shared_nn layers."""

from typing import Any

from .mlp import MLP
from .rnn import CharRNN, RNNClassifier

__all__ = ["MLP", "RNNClassifier", "CharRNN", "GPT", "GPTConfig"]

# --- GPT: shared_nn/models/gpt.py belongs to the GPT-2 helper ----------------------------------
# GPT and GPTConfig are imported on first use, so this package (MLP, RNN models) imports while
# gpt.py is missing or half-written. Once gpt.py is stable this block may become
#     from .gpt import GPT, GPTConfig
_LAZY_GPT = ("GPT", "GPTConfig")


def __getattr__(name: str) -> Any:
    if name in _LAZY_GPT:
        from . import gpt

        return getattr(gpt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
