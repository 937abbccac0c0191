"""Ready-made models built from shared_nn layers."""

from .mlp import MLP
from .rnn import CharRNN, RNNClassifier

__all__ = ["MLP", "RNNClassifier", "CharRNN", "GPT", "GPTConfig"]

# --- GPT: shared_nn/models/gpt.py belongs to the GPT-2 helper ----------------------------------
from .gpt import GPT, GPTConfig  # noqa: E402
