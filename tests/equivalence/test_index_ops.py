"""Index-valued ops, indexing with tensors and the torch-named Tensor methods, against PyTorch.

Proven here on every engine, values and gradients in float64:

* **Index results are int64 tensors**: ``argmax`` / ``argmin`` (over everything or a dim,
  ``keepdim``, ties: the first), ``max(dim)`` / ``min(dim)`` named tuples (``.values`` with
  torch's gradient, which goes to ``.indices``), ``topk``, ``sort``, ``argsort`` (stable,
  NaN above every number, as torch's ``stable=True``), ``nonzero`` (and ``as_tuple``),
  ``multinomial`` (shape, range, zero weights never drawn, no repeats without replacement).
* **Tensors as indices**: a bool tensor is a mask, an int64 tensor gathers rows (repeats add
  up in the gradient); both assign too, on a constant and on a recorded tensor; a float
  tensor as an index is an IndexError on every engine, as in torch.
* **gather / scatter / scatter_add / index_select** on drawn shapes and indices, gradients of
  both the source and the values scattered in.
* **Shape and math methods**: ``cumsum``, ``tril`` / ``triu``, ``roll``, ``flip``, ``repeat``,
  ``expand_as``, ``chunk``, ``split``, ``narrow``, ``t``, ``contiguous``, ``view(-1)``,
  ``size(d)``, ``dim()``, ``nelement()``, ``log10`` / ``log2`` / ``log1p`` (log1p accurate on
  tiny inputs), ``norm`` for every p (and its gradient at a zero vector), ``mm`` / ``bmm``
  (and their refusals), ``masked_fill_``, ``where(cond, other)``, ``one_hot``.

Ties are drawn on purpose (values on a grid of quarters) wherever torch documents which index
wins; ``max()`` over everything and the inf-norm, where torch shares the gradient among tied
extremes, draw values without ties.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .torchlike import (
    Const,
    dtype_of,
    engines,
    functional,
    is_torch,
    module,
    raises_like,
    run,
    to_numpy,
    torch_raises,
)

INT64 = np.dtype("int64")

# the summed loss of an output holding inf and -inf is NaN (numpy warns); gradients are fine
quiet = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def ties(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Values on a grid of quarters: ties are common."""
    return S.arrays(shape, S.quarters())


def with_nan(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Quarters with NaN and infinities sprinkled in."""
    return S.sprinkled(ties(shape))


@st.composite
def distinct_magnitudes(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Values whose absolute values are all different (no tie for the inf-norm)."""
    size = math.prod(shape)
    ks = draw(st.lists(st.integers(1, 3000), min_size=size, max_size=size, unique=True))
    signs = draw(st.lists(st.sampled_from([-1, 1]), min_size=size, max_size=size))
    return (np.array(ks) * np.array(signs) / 1000.0).reshape(shape)


# --------------------------------------------------------------------------- argmax & co


@engines
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_argmax_argmin(engine: str, name: str, data: st.DataObject) -> None:
    """int64 indices (into the flattened tensor without dim); ties give the first index."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(ties(shape), label="x")
    dim = data.draw(st.one_of(st.none(), S.dims(len(shape))), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    got, want = run(lambda T, a: (getattr(a, name)(), getattr(a, name)(dim=dim, keepdim=keepdim)),
                    x, engine=engine)
    assert [o.dtype for o in want.outputs] == [INT64, INT64]


@engines
@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_max_min_along_a_dim(engine: str, name: str, data: st.DataObject) -> None:
    """A named tuple: ``.values`` (differentiable, the gradient goes to ``.indices``, the
    first of tied entries) and int64 ``.indices``; unpacks like a tuple."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(ties(shape), label="x")
    dim = data.draw(S.dims(len(shape)), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")

    def fn(T: Any, a: Any) -> Any:
        result = getattr(a, name)(dim, keepdim=keepdim)
        values, indices = result
        return result.values, result.indices, values * 2, indices + 0, result[1]

    got, want = run(fn, x, engine=engine)
    assert want.outputs[1].dtype == INT64 and not want.outputs[1].requires_grad


@engines
@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_max_min_over_everything(engine: str, name: str, data: st.DataObject) -> None:
    """``max()`` is the 0-d values tensor (no tuple), with torch's gradient."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.distinct(shape), label="x")
    run(lambda T, a: getattr(a, name)(), x, engine=engine)


# --------------------------------------------------------------------------- sorting


def stable_sort(a: Any, dim: int, descending: bool) -> Any:
    """torch's documented stable order (the engines' order with or without stable=True)."""
    return a.sort(dim=dim, descending=descending, stable=True)


@quiet
@engines
@given(data=st.data())
def test_sort_and_argsort(engine: str, data: st.DataObject) -> None:
    """Values with gradient and int64 indices in torch's stable order (ties keep their
    index order, also descending; NaN sorts above +inf)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(with_nan(shape), label="x")
    dim = data.draw(S.dims(len(shape)), label="dim")
    descending = data.draw(st.booleans(), label="descending")
    stable = data.draw(st.booleans(), label="stable")

    def fn(T: Any, a: Any) -> Any:
        if is_torch(T):
            result = stable_sort(a, dim, descending)
            return result.values, result.indices, result.indices
        result = a.sort(dim=dim, descending=descending, stable=stable)
        return (result.values, result.indices,
                a.argsort(dim=dim, descending=descending, stable=stable))

    run(fn, x, engine=engine)


@engines
@given(data=st.data())
def test_sort_defaults(engine: str, data: st.DataObject) -> None:
    """``sort()`` / ``argsort()``: ascending along the last dim, unpacking as a tuple."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(ties(shape), label="x")

    def fn(T: Any, a: Any) -> Any:
        values, indices = stable_sort(a, -1, False) if is_torch(T) else a.sort()
        return values, indices, indices if is_torch(T) else a.argsort()

    run(fn, x, engine=engine)


@quiet
@engines
@given(data=st.data())
def test_topk(engine: str, data: st.DataObject) -> None:
    """``topk(k, dim, largest, sorted=True)``: torch's values (and gradient); indices in
    the stable sort's order, which is what a tie-breaking rule has to be compared with
    (torch's own topk leaves the order of ties unspecified)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(with_nan(shape), label="x")
    dim = data.draw(S.dims(len(shape)), label="dim")
    k = data.draw(st.integers(1, shape[dim]), label="k")
    largest = data.draw(st.booleans(), label="largest")
    positional = data.draw(st.booleans(), label="positional")

    def fn(T: Any, a: Any) -> Any:
        if is_torch(T):
            theirs = a.topk(k, dim, largest, True)
            ordered = stable_sort(a, dim, largest)
            values = ordered.values.narrow(dim, 0, k)
            assert torch.equal(theirs.values.isnan(), values.isnan())
            assert torch.equal(theirs.values.nan_to_num(), values.nan_to_num())
            return values, ordered.indices.narrow(dim, 0, k)
        if positional:
            return tuple(a.topk(k, dim, largest, True))
        result = a.topk(k, dim=dim, largest=largest, sorted=True)
        return result.values, result.indices

    run(fn, x, engine=engine)


@engines
@given(data=st.data())
def test_topk_unsorted(engine: str, data: st.DataObject) -> None:
    """``sorted=False``: the same k entries in some order; the indices point at the values."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.distinct(shape), label="x")
    dim = data.draw(S.dims(len(shape)), label="dim")
    k = data.draw(st.integers(1, shape[dim]), label="k")
    largest = data.draw(st.booleans(), label="largest")

    def fn(T: Any, a: Any) -> Any:
        values, indices = a.topk(k, dim, largest=largest, sorted=False)
        return values.sort(dim).values, (a.gather(dim, indices) == values).all()

    run(fn, x, engine=engine)


# --------------------------------------------------------------------------- nonzero


@engines
@given(data=st.data())
def test_nonzero(engine: str, data: st.DataObject) -> None:
    """(count, ndim) int64 coordinates in row-major order, or a tuple of one int64 tensor
    per dim; on float (NaN is nonzero), int and bool tensors."""
    shape = data.draw(S.shapes(min_dims=1, min_side=0), label="shape")
    kind = data.draw(st.sampled_from(["float", "int", "bool"]), label="kind")
    if kind == "float":
        x = data.draw(S.sprinkled(S.arrays(shape, st.sampled_from([0.0, 1.5]))), label="x")
        x = Const(x)
    elif kind == "int":
        x = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-1, 1)), label="x")
    else:
        x = data.draw(S.masks(shape), label="x")
    got, want = run(lambda T, a: (a.nonzero(), a.nonzero(as_tuple=True)), x, engine=engine)
    assert all(o.dtype == INT64 for o in want.outputs)


@engines
@pytest.mark.parametrize("replacement", [False, True])
@given(data=st.data())
def test_multinomial(engine: str, replacement: bool, data: st.DataObject) -> None:
    """Shape (n,) or (rows, n), int64, indices in range, a zero weight never drawn, no index
    twice without replacement (values are random: not compared with torch)."""
    rows = data.draw(st.sampled_from([None, 1, 3]), label="rows")
    size = data.draw(st.integers(2, 5), label="size")
    shape = (size,) if rows is None else (rows, size)
    weights = data.draw(S.arrays(shape, st.sampled_from([0.0, 0.5, 1.0, 3.0])), label="w")
    weights.reshape(-1, size)[:, 0] = 2.0  # every row can be drawn from
    positive = int((weights.reshape(-1, size) > 0).sum(1).min())
    n = data.draw(st.integers(1, positive if not replacement else 6), label="n")
    T = module(engine)
    p = T.tensor(weights, dtype=torch.float64 if is_torch(T) else np.float64)
    samples = p.multinomial(n, replacement=replacement)
    assert dtype_of(samples) == INT64
    drawn = to_numpy(samples)
    assert drawn.shape == shape[:-1] + (n,)
    for row, w in zip(drawn.reshape(-1, n), weights.reshape(-1, size), strict=True):
        assert np.all((row >= 0) & (row < size))
        assert np.all(w[row] > 0), (row, w)
        if not replacement:
            assert len(set(row.tolist())) == n


@engines
def test_multinomial_frequencies(engine: str) -> None:
    """Draws follow the weights: weights (0, 1, 3) give index 2 three times as often as 1
    (4000 draws: the tolerance 0.05 is 7 standard deviations)."""
    T = module(engine)
    p = T.tensor(np.array([0.0, 1.0, 3.0]), dtype=torch.float64 if is_torch(T) else None)
    drawn = to_numpy(p.multinomial(4000, replacement=True))
    freq = np.bincount(drawn, minlength=3) / 4000
    assert freq[0] == 0 and abs(freq[2] - 0.75) < 0.05


# --------------------------------------------------------------------------- indexing


@engines
@given(data=st.data())
def test_mask_indexing(engine: str, data: st.DataObject) -> None:
    """``x[mask]`` with a mask of x's shape or of its leading dims: the selected entries (or
    rows) in order, and the gradient scattered back."""
    shape = data.draw(S.shapes(min_dims=1, min_side=0), label="shape")
    lead = data.draw(st.integers(1, len(shape)), label="mask dims")
    x = data.draw(S.arrays(shape), label="x")
    mask = data.draw(S.masks(shape[:lead]), label="mask")
    run(lambda T, a, m: (a[m], a[m].sum() * a[~m].sum()), x, mask, engine=engine)


@engines
@given(data=st.data())
def test_int_tensor_indexing(engine: str, data: st.DataObject) -> None:
    """``x[ids]`` gathers along dim 0 (negative ids count from the end); repeated ids add
    their gradients; a 2-D ids tensor gives a 2-D batch of rows."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    ids = data.draw(S.index_arrays(shape[0]), label="ids")
    grid = data.draw(S.index_arrays(shape[0], length=4), label="grid").reshape(2, 2)
    run(lambda T, a, i, g: (a[i], a[g] * 2), x, ids, grid, engine=engine)


@engines
@pytest.mark.parametrize("target", ["constant", "recorded"])
@given(data=st.data())
def test_mask_assignment(engine: str, target: str, data: st.DataObject) -> None:
    """``y[mask] = v`` on a tensor without grad and on a recorded one (``y = x * 2``, whose
    gradient then stops at the overwritten entries)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    mask = data.draw(S.masks(shape), label="mask")
    value = data.draw(S.quarters(), label="value")
    source = Const(x) if target == "constant" else x

    def fn(T: Any, a: Any, m: Any) -> Any:
        y = a * 2
        y[m] = value
        return y

    run(fn, source, mask, engine=engine)


@engines
@pytest.mark.parametrize("target", ["constant", "recorded"])
@given(data=st.data())
def test_int_tensor_assignment(engine: str, target: str, data: st.DataObject) -> None:
    """``y[ids] = v`` with distinct ids: a number, or a constant tensor of rows."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    ids = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, unique=True),
                             label="ids"), dtype=np.int64)
    rows = data.draw(S.arrays((len(ids), *shape[1:])), label="rows")
    as_tensor = data.draw(st.booleans(), label="tensor value")
    source = Const(x) if target == "constant" else x

    def fn(T: Any, a: Any, i: Any, r: Any) -> Any:
        y = a * 2
        y[i] = r if as_tensor else 0.5
        return y

    run(fn, source, ids, Const(rows), engine=engine)


def test_float_tensor_as_index_is_an_index_error() -> None:
    """torch: "tensors used as indices must be long, int, byte or bool tensors"."""
    x, at = np.array([1.0, 2.0, 3.0]), Const(np.array([0.0, 1.0]))

    def read(T: Any, a: Any, i: Any) -> Any:
        return a[i]

    def write(T: Any, a: Any, i: Any) -> None:
        y = a * 1
        y[i] = 0.0

    for fn in (read, write):
        assert torch_raises(fn, x, at) is IndexError
        assert raises_like(fn, x, at) is IndexError


# --------------------------------------------------------------------------- gather & co


@st.composite
def gather_case(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray]:
    """x, dim and an index of x's shape but any length along dim, entries in range."""
    shape = draw(S.shapes(min_dims=1), label="shape")
    dim = draw(S.dims(len(shape)), label="dim")
    length = draw(st.integers(1, 4), label="index length")
    index_shape = shape[:dim % len(shape)] + (length,) + shape[dim % len(shape) + 1:]
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[dim] - 1)),
                 label="index")
    return draw(S.arrays(shape), label="x"), dim, index


@engines
@given(case=gather_case())
def test_gather(engine: str, case: tuple) -> None:
    x, dim, index = case
    run(lambda T, a, i: a.gather(dim, i), x, index, engine=engine)


@st.composite
def scatter_case(draw: st.DrawFn, unique: bool) -> tuple[np.ndarray, int, np.ndarray,
                                                         np.ndarray]:
    """x, dim, index, src: index and src of x's shape with at most x's length along dim;
    with ``unique`` each line along dim holds distinct indices (no write races)."""
    shape = draw(S.shapes(min_dims=1), label="shape")
    dim = draw(S.dims(len(shape)), label="dim") % len(shape)
    length = draw(st.integers(1, shape[dim]), label="index length")
    index_shape = shape[:dim] + (length,) + shape[dim + 1:]
    lines = int(np.prod(index_shape, dtype=np.int64)) // length
    rows = []
    for _ in range(lines):
        if unique:
            rows.append(draw(st.permutations(range(shape[dim])))[:length])
        else:
            rows.append(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=length,
                                      max_size=length)))
    # lines run along dim: build them as the last axis, then move it into place
    moved = np.array(rows, dtype=np.int64).reshape(
        index_shape[:dim] + index_shape[dim + 1:] + (length,))
    index = np.moveaxis(moved, -1, dim)
    src = draw(S.arrays(index_shape), label="src")
    return draw(S.arrays(shape), label="x"), dim, index, src


@engines
@given(case=scatter_case(unique=True))
def test_scatter(engine: str, case: tuple) -> None:
    """``x.scatter(dim, index, src)`` (out of place) and with a number: gradients of x
    (zero where written) and of src (gathered)."""
    x, dim, index, src = case
    run(lambda T, a, i, s: (a.scatter(dim, i, s), a.scatter(dim, i, -1.5)), x, index, src,
        engine=engine)


@engines
@given(case=scatter_case(unique=False))
def test_scatter_add(engine: str, case: tuple) -> None:
    """Repeated indices add up, in the value and in nothing else: the gradient of src is
    the upstream gathered, of x the upstream itself."""
    x, dim, index, src = case
    run(lambda T, a, i, s: a.scatter_add(dim, i, s), x, index, src, engine=engine)


@engines
@given(data=st.data())
def test_index_select(engine: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    ids = data.draw(S.index_arrays(shape[dim]), label="ids") % shape[dim]
    run(lambda T, a, i: a.index_select(dim, i), x, ids, engine=engine)


# --------------------------------------------------------------------------- shape methods


@engines
@given(data=st.data())
def test_cumsum(engine: str, data: st.DataObject) -> None:
    """Float cumsum with gradient; int and bool inputs give int64."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    n = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-5, 5)), label="n")
    m = data.draw(S.masks(shape), label="m")
    run(lambda T, a, i, b: (a.cumsum(dim), i.cumsum(dim), b.cumsum(dim=dim)), x, n, m,
        engine=engine)


@engines
@pytest.mark.parametrize("name", ["tril", "triu"])
@given(data=st.data())
def test_tril_triu(engine: str, name: str, data: st.DataObject) -> None:
    """On matrices and batches of them, float (with gradient) and int, diagonal -2..2."""
    shape = data.draw(S.shapes(min_dims=2), label="shape")
    diagonal = data.draw(st.integers(-2, 2), label="diagonal")
    x = data.draw(S.arrays(shape), label="x")
    n = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-5, 5)), label="n")
    run(lambda T, a, i: (getattr(a, name)(diagonal), getattr(i, name)(diagonal=diagonal)),
        x, n, engine=engine)


@engines
@given(data=st.data())
def test_roll(engine: str, data: st.DataObject) -> None:
    """``roll(shift)`` over the flattened tensor, ``roll(shift, dim)``, and tuples of shifts
    and dims; shifts larger than the size and negative."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    form = data.draw(st.sampled_from(["flat", "one", "tuple"]), label="form")
    shift = st.integers(-7, 7)
    if form == "flat":
        k = data.draw(shift, label="shift")
        fn = lambda T, a: (a.roll(k), a.roll(k, dims=None))  # noqa: E731
    elif form == "one":
        k, d = data.draw(shift, label="shift"), data.draw(S.dims(len(shape)), label="dim")
        fn = lambda T, a: a.roll(k, d)  # noqa: E731
    else:
        ds = data.draw(S.dim_tuples(len(shape)), label="dims")
        ks = tuple(data.draw(shift, label="shift") for _ in ds)
        fn = lambda T, a: a.roll(ks, ds)  # noqa: E731
    run(fn, x, engine=engine)


@engines
@given(data=st.data())
def test_flip(engine: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    dims = data.draw(S.dim_tuples(len(shape)), label="dims")
    one = data.draw(S.dims(len(shape)), label="dim")
    run(lambda T, a: (a.flip(dims), a.flip(list(dims)), a.flip(one)), x, engine=engine)


@engines
@given(data=st.data())
def test_repeat(engine: str, data: st.DataObject) -> None:
    """``repeat(*sizes)`` and ``repeat(sizes)``, extra leading sizes adding dims, 0 giving
    an empty dim; the gradient sums the copies."""
    shape = data.draw(S.shapes(min_dims=0, max_dims=2), label="shape")
    extra = data.draw(st.integers(0, 1), label="extra dims")
    sizes = tuple(data.draw(st.integers(0, 2), label="size")
                  for _ in range(len(shape) + extra))
    if not sizes:
        sizes = (2,)
    x = data.draw(S.arrays(shape), label="x")
    run(lambda T, a: (a.repeat(*sizes), a.repeat(sizes)), x, engine=engine)


@engines
@given(data=st.data())
def test_expand_as(engine: str, data: st.DataObject) -> None:
    target = data.draw(S.shapes(min_dims=0), label="target")
    shape = data.draw(S.broadcast_to(target), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    run(lambda T, a, o: a.expand_as(o), x, Const(np.zeros(target)), engine=engine)


@engines
@given(data=st.data())
def test_chunk_and_split(engine: str, data: st.DataObject) -> None:
    """Tuples of pieces (the last one may be shorter; chunk may give fewer pieces than
    asked), each with its share of the gradient."""
    shape = data.draw(S.shapes(min_dims=1, max_side=5), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    chunks = data.draw(st.integers(1, 4), label="chunks")
    sizes = data.draw(S.split_sizes(shape[dim]), label="split")
    x = data.draw(S.arrays(shape), label="x")
    got, want = run(lambda T, a: (a.chunk(chunks, dim), a.split(sizes, dim)), x,
                    engine=engine)


@engines
@given(data=st.data())
def test_narrow(engine: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    start = data.draw(st.integers(0, shape[dim]), label="start")
    length = data.draw(st.integers(0, shape[dim] - start), label="length")
    x = data.draw(S.arrays(shape), label="x")
    run(lambda T, a: a.narrow(dim, start, length), x, engine=engine)


@engines
@given(data=st.data())
def test_small_shape_methods(engine: str, data: st.DataObject) -> None:
    """``t()`` (0-d to 2-d), ``contiguous()``, ``view(-1)``, and the sizes as Python ints:
    ``size(d)``, ``size()``, ``dim()``, ``ndim``, ``nelement()``, ``numel()``."""
    shape = data.draw(S.shapes(min_dims=0, max_dims=2, min_side=0), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    d = data.draw(S.dims(max(len(shape), 1)), label="d") if shape else None

    def fn(T: Any, a: Any) -> Any:
        sizes = (a.size(), a.dim(), a.ndim, a.nelement(), a.numel(),
                 None if d is None else a.size(d))
        return (a.t() * 2, a.contiguous(), a.view(-1), *sizes)

    run(fn, x, engine=engine)


# --------------------------------------------------------------------------- math methods


@engines
@pytest.mark.parametrize("name", ["log10", "log2", "log1p"])
@given(data=st.data())
def test_logs(engine: str, name: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape, S.positive()), label="x")
    run(lambda T, a: getattr(a, name)(), x, engine=engine)


@engines
@given(data=st.data())
def test_log1p_of_tiny_values(engine: str, data: st.DataObject) -> None:
    """``log1p(x)`` for x in [1e-12, 1e-3] to 1e-10 relative, with no absolute floor (it
    would be larger than the values): ``log(1 + x)`` loses four digits at 1e-12 and fails."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    exponents = data.draw(S.arrays(shape, S.floats(-12.0, -3.0)), label="exponents")
    run(lambda T, a: a.log1p(), 10.0**exponents, engine=engine, atol=0.0)


NORM_PS = [2, "fro", 1, math.inf, -math.inf, 3]


@engines
@pytest.mark.parametrize("p", NORM_PS, ids=str)
@given(data=st.data())
def test_norm(engine: str, p: Any, data: st.DataObject) -> None:
    """Over everything or one dim, ``keepdim``; gradient (values without tied magnitudes,
    where torch splits the inf-norm's gradient)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(distinct_magnitudes(shape), label="x")
    dim = data.draw(st.one_of(st.none(), S.dims(len(shape))), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    run(lambda T, a: (a.norm(p), a.norm(p=p, dim=dim, keepdim=keepdim)), x, engine=engine)


@engines
def test_norm_default(engine: str) -> None:
    run(lambda T, a: a.norm(), np.array([[3.0, -4.0], [1.0, 2.0]]), engine=engine)


@engines
@pytest.mark.parametrize("p", NORM_PS, ids=str)
def test_norm_of_zeros(engine: str, p: Any) -> None:
    """At a zero vector the norm is 0 and torch's gradient is 0 (not NaN) for every p."""
    run(lambda T, a: a.norm(p), np.zeros(3), engine=engine)
    run(lambda T, a: a.norm(p, dim=1), np.array([[0.0, 0.0], [1.0, -2.0]]), engine=engine)


@engines
@given(data=st.data())
def test_mm_bmm(engine: str, data: st.DataObject) -> None:
    n, k, m, b = (data.draw(st.integers(1, 3), label=s) for s in "nkmb")
    a = data.draw(S.arrays((n, k)), label="a")
    c = data.draw(S.arrays((k, m)), label="c")
    ab = data.draw(S.arrays((b, n, k)), label="ab")
    cb = data.draw(S.arrays((b, k, m)), label="cb")
    run(lambda T, x, y, xb, yb: (x.mm(y), xb.bmm(yb)), a, c, ab, cb, engine=engine)


@pytest.mark.parametrize(("op", "left", "right"), [
    ("mm", (2, 3), (3,)), ("mm", (3,), (3, 2)), ("mm", (2, 2, 3), (3, 2)),
    ("bmm", (2, 3), (3, 2)), ("bmm", (1, 2, 3), (3, 2)), ("bmm", (1, 2, 3), (1, 1, 3, 2)),
])
def test_mm_bmm_refuse_other_ndims(op: str, left: tuple, right: tuple) -> None:
    """``mm`` takes 2-D, ``bmm`` 3-D only (where ``@`` would broadcast): torch refuses,
    and the engines refuse alike."""
    def fn(T: Any, x: Any, y: Any) -> Any:
        return getattr(x, op)(y)

    x, y = np.ones(left), np.ones(right)
    torch_raises(fn, x, y)
    raises_like(fn, x, y)


@quiet
@engines
@given(data=st.data())
def test_masked_fill_in_place(engine: str, data: st.DataObject) -> None:
    """``y.masked_fill_(mask, v)`` on a recorded tensor (mask broadcast), with -inf too; it
    returns y itself; the gradient stops at the filled entries."""
    shape_x, shape_m = data.draw(S.broadcast_pair(), label="shapes")
    shape_m = shape_m if np.broadcast_shapes(shape_x, shape_m) == shape_x else shape_x
    x = data.draw(S.arrays(shape_x), label="x")
    mask = data.draw(S.masks(shape_m), label="mask")
    value = data.draw(st.sampled_from([0.0, -1.5, -math.inf]), label="value")

    def fn(T: Any, a: Any, m: Any) -> Any:
        y = a * 1
        out = y.masked_fill_(m, value)
        return y, out is y, (a * 2).masked_fill(m, 1.0)

    run(fn, x, mask, engine=engine)


@engines
@given(data=st.data())
def test_where_method(engine: str, data: st.DataObject) -> None:
    """``x.where(cond, other)`` is ``where(cond, x, other)``: other a tensor (broadcast) or a
    number; both tensors get their share of the gradient."""
    shape_x, shape_y = data.draw(S.broadcast_pair(), label="shapes")
    x = data.draw(S.arrays(shape_x), label="x")
    y = data.draw(S.arrays(shape_y), label="y")
    cond = data.draw(S.masks(shape_x), label="cond")
    run(lambda T, a, b, c: (a.where(c, b), a.where(c, 0.5)), x, y, cond, engine=engine)


@engines
@given(data=st.data())
def test_one_hot(engine: str, data: st.DataObject) -> None:
    """``one_hot(ids)`` (classes: max + 1) and ``one_hot(ids, num_classes)``: int64,
    class dim last."""
    shape = data.draw(S.shapes(min_dims=1, max_dims=2), label="shape")
    ids = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 3)), label="ids")
    classes = data.draw(st.integers(4, 6), label="classes")
    got, want = run(lambda T, i: (functional(T).one_hot(i),
                                  functional(T).one_hot(i, num_classes=classes)),
                    ids, engine=engine)
    assert [o.dtype for o in want.outputs] == [INT64, INT64]

