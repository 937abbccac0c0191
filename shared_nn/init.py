"""Seeded weight initialisation.

Every initialiser draws a float64 numpy array from one process-wide generator and the Module
then casts it to its engine and dtype. Because the random numbers never depend on the engine,
``manual_seed(s)`` followed by building the same model gives bit-identical weights on the
scalar and the tensor engine (and float32 weights that are exactly the rounded float64 ones).

Like PyTorch, the generator starts from a fixed seed, so a program that never seeds is still
reproducible from run to run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_generator = np.random.default_rng(0)
_skipping = 0  # > 0 inside skip_init()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator every initialiser draws from; returns the new generator."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The seeded numpy Generator shared by all initialisers."""
    return _generator


def _shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def uniform(shape: int | tuple[int, ...], low: float, high: float) -> np.ndarray:
    """float64 samples from U(low, high)."""
    if _skipping:
        return np.zeros(_shape(shape), dtype=np.float64)
    return _generator.uniform(low, high, size=_shape(shape)).astype(np.float64)


def fan_in_uniform(shape: int | tuple[int, ...], fan_in: int) -> np.ndarray:
    """PyTorch's default for Linear and RNN: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, -bound, bound)


def normal(shape: int | tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """float64 samples from N(mean, std**2) (Embedding's default is N(0, 1))."""
    if _skipping:
        return np.zeros(_shape(shape), dtype=np.float64)
    return _generator.normal(mean, std, size=_shape(shape)).astype(np.float64)


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
    weights that later draws give. The flag is process-wide, like the scalar engine's
    ``no_grad``.
    """
    global _skipping
    _skipping += 1
    try:
        yield
    finally:
        _skipping -= 1


def skipping_init() -> bool:
    """True inside :func:`skip_init`."""
    return _skipping > 0
