"""Ready-made models built from shared_nn layers."""

from .gpt import GPT, GPTConfig
from .mlp import MLP
from .rnn import CharRNN, RNNClassifier

__all__ = ["MLP", "RNNClassifier", "CharRNN", "GPT", "GPTConfig"]
