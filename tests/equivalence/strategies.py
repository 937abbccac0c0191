"""Hypothesis strategies shared by the equivalence suite.

Every property in ``tests/equivalence`` draws its inputs from here, so the rules for what
counts as a *fair* input live in one place:

* **Shapes are small.** The scalar engine builds one Python object per number and one per
  arithmetic step, so a side of 3 and at most 3 dims keeps a test example in milliseconds.
* **Shapes include size-1 dims and broadcasting.** :func:`broadcast_pair` derives two operand
  shapes from one result shape by dropping leading dims and squashing dims to 1, which is
  exactly the set of shapes numpy broadcasting accepts.
* **Values are well conditioned for the op under test.** A gradient comparison at a point where
  the function is not differentiable (``relu`` at 0, ``max`` with ties) or badly conditioned
  (``log`` near 0, ``exp`` of 30) tests the floating point, not the engine. Each op gets the
  domain where its derivative is well defined: :func:`positive` values for ``log``/``sqrt``,
  :func:`bounded` values for ``exp``, :func:`away_from_zero` values for ``relu``, division and
  ``abs``, and :func:`distinct` values (no ties) for ``max``/``argmax``.
* **Special values where torch defines them.** :func:`sprinkled` puts NaN and infinities into
  drawn arrays, for the ops whose value *and* gradient torch defines there (``relu``,
  ``max``, ``clamp`` ...); :func:`quarters` draws from a coarse exact grid, so that ties,
  constant slices and values exactly on a ``clamp`` bound are common.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Shape = tuple[int, ...]

MAX_SIDE = 3
MAX_DIMS = 3

# --------------------------------------------------------------------------- values


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Finite float64 numbers in ``[lo, hi]`` without subnormals (they only test the FPU)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def general() -> st.SearchStrategy[float]:
    """Any moderate number: the domain of ``+ - *``, ``tanh``, ``sigmoid``, shape ops."""
    return floats(-3.0, 3.0)


def positive() -> st.SearchStrategy[float]:
    """Numbers in ``[0.1, 5]``: the domain of ``log``, ``sqrt`` and non-integer powers."""
    return floats(0.1, 5.0)


def bounded() -> st.SearchStrategy[float]:
    """Numbers in ``[-5, 5]``: ``exp`` stays below 150, so relative errors stay meaningful."""
    return floats(-5.0, 5.0)


def away_from_zero() -> st.SearchStrategy[float]:
    """Numbers with ``0.1 <= |v| <= 3``: divisors, and ``relu``/``abs`` away from their kink."""
    magnitude = floats(0.1, 3.0)
    return st.tuples(magnitude, st.booleans()).map(lambda ms: -ms[0] if ms[1] else ms[0])


def arrays(
    shape: Shape, elements: st.SearchStrategy[float] | None = None, unique: bool = False
) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays of ``shape`` whose entries come from ``elements`` (default: general)."""
    chosen = general() if elements is None else elements
    return hnp.arrays(np.float64, shape, elements=chosen, unique=unique)


def distinct(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """Arrays without ties, spaced at least 1e-3 apart, for ``max``/``argmax``.

    Distinct integers scaled to ``[-3, 3]``: exact ties are impossible and no two entries are
    so close that which one is "the maximum" depends on rounding.
    """
    size = int(np.prod(shape, dtype=np.int64))
    return st.lists(
        st.integers(-3000, 3000), min_size=size, max_size=size, unique=True
    ).map(lambda ks: np.asarray(np.array(ks, dtype=np.float64).reshape(shape) / 1000.0))


def quarters() -> st.SearchStrategy[float]:
    """Multiples of 1/4 in ``[-3, 3]``: repeats are likely (ties, constant slices, a value
    exactly on a bound), and sums of a few of them are exact, so a constant slice has a
    mean, variance and standard deviation of exactly its value, 0 and 0 on every backend."""
    return st.integers(-12, 12).map(lambda k: k / 4.0)


SPECIALS = (math.nan, math.inf, -math.inf)


@st.composite
def sprinkled(
    draw: st.DrawFn,
    base: st.SearchStrategy[np.ndarray],
    specials: tuple[float, ...] = SPECIALS,
    max_count: int | None = None,
) -> np.ndarray:
    """An array from ``base`` with some entries (at most ``max_count``) replaced by specials.

    ``max_count=1`` is for reductions over everything, where torch shares the gradient
    among tied extremes (two NaNs, two infinities) and the contract gives it to the first.
    """
    x = np.array(draw(base), dtype=np.float64)
    if x.size == 0:
        return x
    limit = x.size if max_count is None else min(max_count, x.size)
    positions = draw(st.lists(st.integers(0, x.size - 1), max_size=limit, unique=True))
    flat = x.reshape(-1)  # a view: x is a fresh contiguous array
    for p in positions:
        flat[p] = draw(st.sampled_from(specials))
    return x


# --------------------------------------------------------------------------- shapes


def shapes(
    min_dims: int = 0, max_dims: int = MAX_DIMS, min_side: int = 1, max_side: int = MAX_SIDE
) -> st.SearchStrategy[Shape]:
    """Small shapes; ``min_side=0`` lets a dim be empty (for ops that allow it)."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


@st.composite
def broadcast_to(draw: st.DrawFn, target: Shape) -> Shape:
    """A shape that numpy broadcasting stretches to ``target``.

    Drop some leading dims, then replace some of the remaining dims by 1: every shape that
    broadcasts to ``target`` without changing it arises this way.
    """
    keep = draw(st.integers(0, len(target)))
    kept = target[len(target) - keep :]
    return tuple(1 if draw(st.booleans()) else side for side in kept)


@st.composite
def broadcast_pair(
    draw: st.DrawFn, max_dims: int = MAX_DIMS, min_side: int = 1
) -> tuple[Shape, Shape]:
    """Two broadcast-compatible shapes (their broadcast result is drawn first).

    Both operands are derived from one result shape, so size-1 dims, missing leading dims
    and "each side stretches the other" all occur. ``min_side=0`` admits empty dims.
    """
    result = draw(shapes(min_dims=0, max_dims=max_dims, min_side=min_side))
    a = draw(broadcast_to(result))
    b = draw(broadcast_to(result))
    if draw(st.booleans()):  # at least one operand usually has the full shape
        a = result
    return a, b


@st.composite
def matmul_shapes(draw: st.DrawFn, allow_empty_batch: bool = True) -> tuple[Shape, Shape]:
    """Operand shapes for ``a @ b`` covering every case of torch's matmul rules.

    1-D @ 1-D (dot product), 1-D @ n-D and n-D @ 1-D (the 1-D side is promoted and the added
    dim removed again), 2-D @ 2-D, and batched products whose batch dims broadcast against
    each other (including a batch dim of size 0 when ``allow_empty_batch``).
    """
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    a_is_vector = draw(st.integers(0, 3)) == 0
    b_is_vector = draw(st.integers(0, 3)) == 0
    batch = draw(shapes(min_dims=0, max_dims=2, min_side=0 if allow_empty_batch else 1))
    batch_a = draw(broadcast_to(batch))
    batch_b = draw(broadcast_to(batch))
    if draw(st.booleans()):
        batch_a = batch
    a = (k,) if a_is_vector else (*batch_a, n, k)
    b = (k,) if b_is_vector else (*batch_b, k, m)
    return a, b


def dims(ndim: int) -> st.SearchStrategy[int]:
    """A valid dim of an ``ndim``-dimensional tensor, negative or not."""
    if ndim == 0:
        return st.sampled_from([0, -1])  # torch accepts dim 0 / -1 on a 0-d tensor
    return st.integers(-ndim, ndim - 1)


def dim_tuples(ndim: int) -> st.SearchStrategy[tuple[int, ...]]:
    """A non-empty tuple of distinct dims (mixing negative and positive spellings)."""
    if ndim == 0:
        return st.just((0,))
    return st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
        lambda ds: st.tuples(*(st.sampled_from([d, d - ndim]) for d in ds))
    )


@st.composite
def reshape_targets(draw: st.DrawFn, shape: Shape) -> tuple[int, ...]:
    """A shape with the same number of elements as ``shape``, maybe with one ``-1``."""
    size = int(np.prod(shape, dtype=np.int64))
    factors = _factorisations(size, max_len=4) if size > 0 else [(0,), (0, 2), (3, 0)]
    target = list(draw(st.sampled_from(factors)))
    if target and size > 0 and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target)


def _factorisations(size: int, max_len: int) -> list[tuple[int, ...]]:
    """Every ordered way to write ``size`` as a product of at most ``max_len`` factors."""
    if size == 1:
        return [(), (1,), (1, 1)]
    out: list[tuple[int, ...]] = [(size,)]
    if max_len > 1:
        for first in range(1, size + 1):
            if size % first == 0 and first != size:
                out.extend((first, *rest) for rest in _factorisations(size // first, max_len - 1)
                           if rest)
    return out


@st.composite
def permutations(draw: st.DrawFn, ndim: int) -> tuple[int, ...]:
    """A permutation of ``range(ndim)``, some entries spelled as negative dims."""
    perm = draw(st.permutations(range(ndim)))
    return tuple(d - ndim if draw(st.booleans()) else d for d in perm)


@st.composite
def split_sizes(draw: st.DrawFn, length: int) -> int | list[int]:
    """Either one chunk size (the last chunk may be shorter) or explicit sizes summing up."""
    if draw(st.booleans()):
        return draw(st.integers(1, max(1, length)))
    sizes: list[int] = []
    remaining = length
    while remaining > 0:
        sizes.append(draw(st.integers(1, remaining)))
        remaining -= sizes[-1]
    return sizes


@st.composite
def index_arrays(draw: st.DrawFn, size: int, length: int | None = None) -> np.ndarray:
    """Integer indices into a dim of ``size``, negative ones allowed, *with repeats*.

    Repeated indices are the point: gather's backward must add (``np.add.at``), and a rule
    that assigns instead of adding only fails when some index occurs twice.
    """
    n = length if length is not None else draw(st.integers(1, 4))
    ids = draw(st.lists(st.integers(-size, size - 1), min_size=n, max_size=n))
    if n >= 2 and draw(st.integers(0, 2)) > 0:
        ids[-1] = ids[0]  # force a repeat most of the time
    return np.array(ids, dtype=np.int64)


@st.composite
def expand_args(draw: st.DrawFn) -> tuple[Shape, tuple[int, ...]]:
    """A shape and ``expand`` sizes for it: size-1 dims stretched, new leading dims added,
    and some kept sizes spelled -1 (which keeps a size-1 dim at 1)."""
    target = draw(shapes(min_dims=0, min_side=0))
    source = draw(broadcast_to(target))
    lead = len(target) - len(source)
    sizes = tuple(
        -1 if i >= lead and draw(st.booleans()) else side for i, side in enumerate(target)
    )
    return source, sizes


def masks(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """Boolean masks of ``shape``."""
    return hnp.arrays(np.bool_, shape)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for numpy generators (weights and data of layer/model tests)."""
    return st.integers(0, 2**31 - 1)
