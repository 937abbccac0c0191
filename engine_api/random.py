"""The seeded numpy generator that random tensor methods (``multinomial``) draw from.

``shared_nn.manual_seed`` reseeds it together with the initialisers' generator, so one seed
makes a whole run repeat, on every engine.
"""

from __future__ import annotations

import numpy as np


class _State:
    generator = np.random.default_rng(0)


_state = _State()


def generator() -> np.random.Generator:
    """The generator a random op uses when it is not given one."""
    return _state.generator


def manual_seed(seed: int) -> np.random.Generator:
    """Start the generator over from ``seed``; returns it."""
    _state.generator = np.random.default_rng(int(seed))
    return _state.generator
