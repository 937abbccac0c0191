"""Float math with PyTorch's answers at the edges, where Python's ``math`` raises instead.

``0.0 ** -1.0`` raises ZeroDivisionError and ``math.sin(inf)`` ValueError; PyTorch answers
``inf`` and ``nan``. The primitives of :mod:`scalar_engine.value` call ``sigmoid`` and
``erf_slope`` (written so that they never overflow) for every number, and fall back on
``power``, ``sin`` and ``cos`` when their fast path (Python's ``**`` and ``math``) raises.
They are public because graph drawings (``shared_nn.viz``) recompute what a node stores with
exactly the engine's float operations.
"""

from __future__ import annotations

import math

__all__ = ["power", "sin", "cos", "sigmoid", "erf_slope"]


def power(x: float, c: float) -> float:
    """``x ** c`` for a float base and exponent, with PyTorch's infinities (``0 ** -1`` is
    ``inf``, an overflow is ``+-inf``); a negative base with a fractional exponent is a
    ValueError rather than Python's complex number."""
    if x < 0.0 and not c.is_integer():
        raise ValueError(f"{x!r} ** {c!r}: a negative base needs an integer exponent")
    try:
        return x**c
    except ZeroDivisionError:  # 0 ** negative
        return math.inf
    except OverflowError:
        negative = x < 0.0 and c % 2.0 == 1.0
        return -math.inf if negative else math.inf


def sin(x: float) -> float:
    """``math.sin``, but NaN for an infinity (as PyTorch) instead of a ValueError."""
    try:
        return math.sin(x)
    except ValueError:
        return math.nan


def cos(x: float) -> float:
    """``math.cos``, but NaN for an infinity (as PyTorch) instead of a ValueError."""
    try:
        return math.cos(x)
    except ValueError:
        return math.nan


def sigmoid(x: float) -> float:
    """``1 / (1 + e ** -x)``, written so that the exponent is never positive (no overflow)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_slope(x: float) -> float:
    """d/dx erf(x) = 2/sqrt(pi) * e ** (-x^2) (0 far out: the exponent is never positive, so
    ``exp`` underflows, never overflows)."""
    return _TWO_OVER_SQRT_PI * math.exp(-x * x)
