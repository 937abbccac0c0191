"""The worked example of docs/checking.md: a small user model, once written correctly and
once with code that branches on the engine.

    python -m shared_nn.check docs/checking_example.py:build --steps 3
    python -m shared_nn.check docs/checking_example.py:build_leaky
"""

import numpy as np

import shared_nn as nn


class GatedMLP(nn.Module):
    """x -> Linear -> (h * sigmoid(g)) gate -> LayerNorm -> Linear, with a learned gate bias."""

    def __init__(self, n_in=4, hidden=8, n_out=3, engine=None, dtype=None):
        super().__init__(engine=engine, dtype=dtype)
        kw = dict(engine=self.engine, dtype=self._dtype_request)
        self.up = nn.Linear(n_in, 2 * hidden, **kw)
        self.gate_bias = self.new_parameter(np.zeros(hidden))
        self.norm = nn.LayerNorm(hidden, **kw)
        self.down = nn.Linear(hidden, n_out, **kw)

    def gate(self, g):
        return (g + self.gate_bias).sigmoid()

    def forward(self, x):
        h, g = self.up(x).split(self.gate_bias.shape[0], dim=-1)
        return self.down(self.norm(h * self.gate(g)))


class LeakyGatedMLP(GatedMLP):
    """The same model with an engine-specific "optimisation": on the tensor engine the gate
    uses a cheaper approximation of the sigmoid. Close, but not the same function."""

    def gate(self, g):
        if self.engine == "tensor":
            z = g + self.gate_bias
            return (z * 0.5).tanh() * 0.5 + 0.5001  # sigmoid(z) = tanh(z/2)/2 + 1/2
        return super().gate(g)


def build(engine=None, dtype=None):
    return GatedMLP(engine=engine, dtype=dtype)


def build_leaky(engine=None, dtype=None):
    return LeakyGatedMLP(engine=engine, dtype=dtype)


def example_input(batch):
    """Inputs and class targets: the check then trains with cross-entropy."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, 4)), rng.integers(0, 3, batch)
