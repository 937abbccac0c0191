"""Seeded weight initialisation.

Every initialiser draws a float64 numpy array from one process-wide generator and the Module
then casts it to its engine and dtype. Because the random numbers never depend on the engine,
``manual_seed(s)`` followed by building the same model gives bit-identical weights on the
scalar and the tensor engine (and float32 weights that are exactly the rounded float64 ones).

Like PyTorch, the generator starts from a fixed seed, so a program that never seeds is still
reproducible from run to run.

The functions ending in ``_`` (``uniform_``, ``normal_``, ``zeros_``, ``ones_``, ``constant_``,
``xavier_uniform_``, ``kaiming_uniform_`` ...) are ``torch.nn.init``'s: they fill an existing
tensor (with ``assign_``) and return it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from engine_api import random as engine_random

from .engine import is_tensor

_skipping: ContextVar[bool] = ContextVar("dualgrad_skip_init", default=False)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator every initialiser (and ``multinomial``) draws from; returns the
    new generator. There is one, engine_api's, as torch has one global generator."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    return engine_random.manual_seed(int(seed))


def generator() -> np.random.Generator:
    """The seeded numpy Generator shared by all initialisers."""
    return engine_random.generator()


def _shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def uniform(shape: int | tuple[int, ...], low: float, high: float) -> np.ndarray:
    """float64 samples from U(low, high)."""
    if _skipping.get():
        return np.zeros(_shape(shape), dtype=np.float64)
    return generator().uniform(low, high, size=_shape(shape)).astype(np.float64)


def fan_in_uniform(shape: int | tuple[int, ...], fan_in: int) -> np.ndarray:
    """PyTorch's default for Linear and RNN: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, -bound, bound)


def normal(shape: int | tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """float64 samples from N(mean, std**2) (Embedding's default is N(0, 1))."""
    if _skipping.get():
        return np.zeros(_shape(shape), dtype=np.float64)
    return generator().normal(mean, std, size=_shape(shape)).astype(np.float64)


def ones(shape: int | tuple[int, ...]) -> np.ndarray:
    """A float64 array of ones (LayerNorm's weight)."""
    return np.ones(_shape(shape), dtype=np.float64)


def zeros(shape: int | tuple[int, ...]) -> np.ndarray:
    """A float64 array of zeros (LayerNorm's bias)."""
    return np.zeros(_shape(shape), dtype=np.float64)


@contextmanager
def skip_init() -> Iterator[None]:
    """Build modules without drawing their initial weights, for loaders that overwrite every
    parameter right after building (as ``torch.nn.utils.skip_init``)::

        with shared_nn.init.skip_init():
            model = GPT(config)          # parameters hold zeros; nothing is drawn
        model.load_state_dict(weights)   # ... and every one of them is overwritten here

    Inside the block the random initialisers return zeros (a cheap pass over memory instead
    of drawing a random number per weight, the bulk of building GPT-2's 124M parameters)
    and the seeded generator is not advanced, so loading a checkpoint does not change the
    weights that later draws give. The flag is context-local (another thread building a
    model meanwhile draws its weights as usual).
    """
    token = _skipping.set(True)
    try:
        yield
    finally:
        _skipping.reset(token)


def skipping_init() -> bool:
    """True inside :func:`skip_init`."""
    return _skipping.get()
# --- torch.nn.init: fill an existing tensor in place ----------------------------------------
#
# Each function draws float64 numbers from ``generator()`` (or the ``generator`` passed),
# casts them to the tensor's dtype and writes them with ``tensor.assign_``; it returns the
# tensor. As in torch, call them on parameters: ``init.kaiming_uniform_(layer.weight)``.


def _fill(tensor: Any, values: np.ndarray) -> Any:
    """Write ``values`` (float64) into ``tensor`` in its dtype; returns the tensor."""
    if not is_tensor(tensor):
        raise TypeError(f"expected an engine Tensor, got {type(tensor).__name__}")
    tensor.assign_(np.asarray(values, dtype=np.float64).astype(tensor.dtype))
    return tensor


def _rng(gen: np.random.Generator | None) -> np.random.Generator:
    return generator() if gen is None else gen


def uniform_(
    tensor: Any, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Fill with samples from U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, size=tuple(tensor.shape)))


def normal_(
    tensor: Any, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Fill with samples from N(mean, std**2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, size=tuple(tensor.shape)))


def constant_(tensor: Any, val: float) -> Any:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tuple(tensor.shape), float(val)))


def zeros_(tensor: Any) -> Any:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Any) -> Any:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch's recommended gain: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + slope**2)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"negative_slope {param} not a valid number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """torch's fans: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive
    field, where the receptive field is the product of shape[2:] (1 for a matrix)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(shape {shape})"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _uniform_with_std(tensor, _xavier_std(tensor, gain), generator)


def xavier_normal_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Glorot: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)


def kaiming_uniform_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain =
    ``calculate_gain(nonlinearity, a)``. torch's defaults (a=0, leaky_relu, fan_in) give
    bound = sqrt(6 / fan_in)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return tensor if std is None else _uniform_with_std(tensor, std, generator)


def kaiming_normal_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """He: N(0, std**2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return tensor if std is None else normal_(tensor, 0.0, std, generator)


def _xavier_std(tensor: Any, gain: float) -> float:
    """Glorot's standard deviation: gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_std(tensor: Any, a: float, mode: str, nonlinearity: str) -> float | None:
    """He's standard deviation: ``calculate_gain(nonlinearity, a) / sqrt(fan)``; None for a
    zero-element tensor (fan 0), which torch warns about and leaves alone."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def _uniform_with_std(tensor: Any, std: float, generator: np.random.Generator | None) -> Any:
    """U(-bound, bound) with bound = sqrt(3) * std: the uniform distribution whose standard
    deviation is ``std``."""
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)
