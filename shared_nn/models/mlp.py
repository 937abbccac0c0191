"""A multilayer perceptron: Linear layers with an activation (and optionally LayerNorm)
between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..layers import GELU, LayerNorm, Linear, ReLU, Tanh
from ..module import Module, Sequential


def _tanh_gelu(**where: Any) -> Module:
    """GELU in GPT-2's tanh approximation: what MLP's "gelu" has always meant (GELU()'s own
    default is now torch's exact form)."""
    return GELU(approximate="tanh", **where)


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "gelu": _tanh_gelu}


class MLP(Sequential):
    """``MLP([784, 128, 10])`` is Linear(784, 128) -> ReLU -> Linear(128, 10).

    Each hidden layer is Linear -> [LayerNorm, if ``layer_norm``] -> activation; the last
    Linear has no activation (it outputs logits or a regression value). Being a Sequential,
    its state_dict keys ("0.weight", "0.bias", "2.weight", ...) are those of the equivalent
    ``torch.nn.Sequential``, so weights move between the two 1:1.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        layer_norm: bool = False,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        self.sizes = sizes
        self.activation = activation
        where = dict(engine=self.engine, dtype=self._dtype_request)
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.append(Linear(fan_in, fan_out, **where))
            if i < len(sizes) - 2:
                if layer_norm:
                    self.append(LayerNorm(fan_out, **where))
                self.append(ACTIVATIONS[activation](**where))
