"""Shape and selection ops: they move numbers around, so their backward moves gradients
back (reshape, transpose, permute, unsqueeze, squeeze, split, indexing, cat, stack) or
drops them (masked_fill, where).

Indexing with integer arrays is a *gather*; its backward is a scatter-**add**. The index
strategy repeats an index most of the time so that a backward that assigns instead of adding
is caught.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from . import strategies as S
from .checker import ENGINES, check


@given(data=st.data())
def test_reshape(data: st.DataObject) -> None:
    """``reshape(*shape)`` and ``reshape(shape_tuple)``, with ``-1`` and empty tensors."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    target = data.draw(S.reshape_targets(shape), label="target")
    x = data.draw(S.arrays(shape), label="x")
    as_tuple = data.draw(st.booleans(), label="as_tuple")
    check(lambda E, a: (a.reshape(target) if as_tuple else a.reshape(*target)) * 1.0, x)


@given(data=st.data())
def test_transpose(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1, min_side=0), label="shape")
    d0 = data.draw(S.dims(len(shape)), label="d0")
    d1 = data.draw(S.dims(len(shape)), label="d1")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a.transpose(d0, d1), x)


@given(data=st.data())
def test_transpose_then_matmul(data: st.DataObject) -> None:
    """A transposed (non-contiguous) view used in a product: ``xᵀ @ y`` and ``.T``."""
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    x = data.draw(S.arrays((k, n)))
    y = data.draw(S.arrays((k, m)))
    check(lambda E, a, b: (a.transpose(0, 1) @ b, a.T @ b), x, y)


@given(data=st.data())
def test_permute(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    perm = data.draw(S.permutations(len(shape)), label="perm")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a.permute(*perm), x)


@given(data=st.data())
def test_unsqueeze(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a.unsqueeze(dim), x)


@given(data=st.data())
def test_squeeze(data: st.DataObject) -> None:
    """``squeeze()`` drops every size-1 dim; ``squeeze(d)`` only d, if it has size 1."""
    shape = data.draw(S.shapes(min_dims=1, max_dims=4, max_side=2), label="shape")
    dim = data.draw(st.one_of(st.none(), S.dims(len(shape))), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a.squeeze(dim) if dim is not None else a.squeeze(), x)


@given(data=st.data())
def test_split(data: st.DataObject) -> None:
    """``split(size, dim)`` and ``split([sizes], dim)``: each chunk gets its own upstream."""
    shape = data.draw(S.shapes(min_dims=1, max_side=4), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    sizes = data.draw(S.split_sizes(shape[dim]), label="sizes")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: tuple(a.split(sizes, dim)), x)


@given(data=st.data())
def test_getitem_basic(data: st.DataObject) -> None:
    """Ints (negative too), slices with steps, ``None`` and ``...``."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    index = []
    for side in shape:
        kind = data.draw(st.sampled_from(["int", "slice", "none+slice"]))
        if kind == "int":
            index.append(data.draw(st.integers(-side, side - 1)))
        else:
            if kind == "none+slice":
                index.append(None)
            start = data.draw(st.one_of(st.none(), st.integers(-side, side)))
            stop = data.draw(st.one_of(st.none(), st.integers(-side, side)))
            step = data.draw(st.one_of(st.none(), st.integers(1, 2)))
            index.append(slice(start, stop, step))
    if len(index) > 1 and data.draw(st.booleans()):
        index = [Ellipsis, *index[1:]]
    key = tuple(index)
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a[key], x)


@given(data=st.data())
def test_getitem_gather_rows(data: st.DataObject) -> None:
    """``x[ids]`` with repeated (and negative) row indices, as an ndarray and as a list:
    the embedding lookup."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    ids = data.draw(S.index_arrays(shape[0]), label="ids")
    as_list = data.draw(st.booleans(), label="as_list")
    key = ids.tolist() if as_list else ids
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a[key], x)


@given(data=st.data())
def test_getitem_gather_pairs(data: st.DataObject) -> None:
    """``x[rows, cols]``: one element per (row, col) pair, as cross-entropy picks targets."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    length = data.draw(st.integers(1, 5))
    rows = data.draw(S.index_arrays(n, length), label="rows")
    cols = data.draw(S.index_arrays(c, length), label="cols")
    x = data.draw(S.arrays((n, c)), label="x")
    check(lambda E, a: a[rows, cols], x)


@given(data=st.data())
def test_getitem_slice_then_gather(data: st.DataObject) -> None:
    """``x[:, ids]``: gather along an inner dim."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    ids = data.draw(S.index_arrays(c), label="ids")
    x = data.draw(S.arrays((n, c)), label="x")
    check(lambda E, a: a[:, ids], x)


@given(data=st.data())
def test_getitem_2d_index_array(data: st.DataObject) -> None:
    """``x[ids]`` with a 2-D index array (a batch of token sequences)."""
    v, d = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    ids = data.draw(S.index_arrays(v, b * t), label="ids").reshape(b, t)
    x = data.draw(S.arrays((v, d)), label="x")
    check(lambda E, a: a[ids], x)


@given(data=st.data(), count=st.integers(1, 3))
def test_cat(data: st.DataObject, count: int) -> None:
    """``cat`` of tensors that differ only along ``dim`` (which may be empty in some)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    pieces = []
    for _ in range(count):
        piece = list(shape)
        piece[dim] = data.draw(st.integers(0, 3))
        pieces.append(data.draw(S.arrays(tuple(piece))))
    check(lambda E, *xs: E.cat(list(xs), dim), *pieces)


@given(data=st.data(), count=st.integers(1, 3))
def test_stack(data: st.DataObject, count: int) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    pieces = [data.draw(S.arrays(shape)) for _ in range(count)]
    check(lambda E, *xs: E.stack(list(xs), dim=dim), *pieces)


@given(data=st.data())
def test_cat_same_tensor_twice(data: st.DataObject) -> None:
    """``cat([x, x * 2, x])``: gradient contributions from every copy add up."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape))
    check(lambda E, a: E.cat([a, a * 2.0, a], dim=-1), x)


@given(data=st.data(), value=st.sampled_from([0.0, -1e9, 2.5, float("-inf")]))
def test_masked_fill(data: st.DataObject, value: float) -> None:
    """Filled positions get ``value`` and no gradient; the mask broadcasts to the tensor."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    mask_shape = data.draw(S.broadcast_to(shape), label="mask_shape")
    mask = data.draw(S.masks(mask_shape), label="mask")
    x = data.draw(S.arrays(shape), label="x")
    if np.isinf(value):  # -inf is what attention masks use: follow it by exp, as softmax does
        check(lambda E, a: a.masked_fill(mask, value).exp(), x)
    else:
        check(lambda E, a: a.masked_fill(mask, value), x)


@given(data=st.data())
def test_where_tensors(data: st.DataObject) -> None:
    """``where(cond, a, b)`` with all three broadcasting against each other."""
    shape_a, shape_b = data.draw(S.broadcast_pair(), label="shapes")
    result = np.broadcast_shapes(shape_a, shape_b)
    cond = data.draw(S.masks(data.draw(S.broadcast_to(result))), label="cond")
    a = data.draw(S.arrays(shape_a), label="a")
    b = data.draw(S.arrays(shape_b), label="b")
    check(lambda E, x, y: E.where(cond, x, y), a, b)


@given(data=st.data(), number=S.general())
def test_where_with_number(data: st.DataObject, number: float) -> None:
    """One branch a Python number (on either side)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    cond = data.draw(S.masks(shape), label="cond")
    a = data.draw(S.arrays(shape), label="a")
    check(lambda E, x: (E.where(cond, x, number), E.where(cond, number, x * 2.0)), a)


@given(data=st.data())
def test_comparisons(data: st.DataObject) -> None:
    """``< <= > >=`` against tensors and numbers give the same bool arrays as numpy."""
    shape_a, shape_b = data.draw(S.broadcast_pair(), label="shapes")
    a = data.draw(S.arrays(shape_a), label="a")
    b = data.draw(S.arrays(shape_b), label="b")
    check(lambda E, x, y: (x < y, x <= y, x > 0.5, x >= y, x * 1.0), a, b)


@st.composite
def mixed_keys(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple]:
    """A shape and a key mixing one or two index arrays with ints, slices and ``None``
    (ints sometimes as numpy integers, as they come out of arrays)."""
    shape = draw(S.shapes(min_dims=2, max_dims=3), label="shape")
    length = draw(st.integers(1, 3), label="length")
    key: list = []
    arrays = 0
    for side in shape:
        kind = draw(st.sampled_from(["array", "int", "np-int", "slice", "none+slice"]))
        if kind == "array" and arrays < 2:
            key.append(draw(S.index_arrays(side, length)))
            arrays += 1
        elif kind in ("int", "np-int"):
            i = draw(st.integers(-side, side - 1))
            key.append(np.int64(i) if kind == "np-int" else i)
        else:
            if kind == "none+slice":
                key.append(None)
            key.append(slice(draw(st.integers(0, side - 1)), None))
    if arrays == 0 and key[0] is not None:
        key[0] = draw(S.index_arrays(shape[0], length))
    return shape, tuple(key)


def _numpy_and_torch_agree(shape: tuple[int, ...], index: tuple) -> bool:
    from .torch_adapter import tensor

    x = np.zeros(shape)
    return x[index].shape == tensor(x)[index].shape


@given(data=st.data())
def test_getitem_mixed_advanced_and_basic(data: st.DataObject) -> None:
    """Keys mixing index arrays with ints, slices and ``None``, where numpy and torch agree:
    the index arrays' dims broadcast together and go where the first array stands if the
    advanced indices are adjacent, else to the front."""
    shape, index = data.draw(mixed_keys(), label="shape, key")
    assume(_numpy_and_torch_agree(shape, index))
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a[index], x)


@st.composite
def split_keys(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple]:
    """A shape and a key with an int and an index array split by at least one slice (either
    order, sometimes a ``None`` in between): the pattern where numpy and torch disagree."""
    shape = draw(S.shapes(min_dims=3, max_dims=4), label="shape")
    first, second = sorted(draw(st.lists(st.integers(0, len(shape) - 1), min_size=2,
                                         max_size=2, unique=True).filter(
                                             lambda p: abs(p[0] - p[1]) >= 2)))
    int_first = draw(st.booleans())
    key: list = [slice(None)] * len(shape)
    int_at, array_at = (first, second) if int_first else (second, first)
    key[int_at] = draw(st.integers(-shape[int_at], shape[int_at] - 1))
    key[array_at] = draw(S.index_arrays(shape[array_at]))
    if draw(st.booleans()):
        key.insert(draw(st.integers(0, len(key))), None)
    return shape, tuple(key)


@pytest.mark.parametrize("engine", ENGINES)
@given(data=st.data())
def test_getitem_mixed_where_numpy_and_torch_differ(engine: str, data: st.DataObject) -> None:
    """Keys where numpy and torch disagree, e.g. ``x[i, :, ids]``: torch applies the ints
    first (``x[i][:, ids]``, shape ``(n, k)``); numpy counts an int as an advanced index too
    and, the two being split by a slice, puts their dims first (shape ``(k, n)``). The
    engines follow torch, as code ported from torch expects."""
    shape, index = data.draw(split_keys(), label="shape, key")
    assume(not _numpy_and_torch_agree(shape, index))
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: a[index], x, backends=[engine])


@pytest.mark.parametrize("engine", ENGINES)
@given(data=st.data())
def test_getitem_int_and_array_split_by_slice(engine: str, data: st.DataObject) -> None:
    """The simplest case of the above, ``x[i, :, ids]``, drawn directly."""
    b, n, c = (data.draw(st.integers(1, 3)) for _ in range(3))
    i = data.draw(st.integers(-b, b - 1), label="i")
    ids = data.draw(S.index_arrays(c), label="ids")
    x = data.draw(S.arrays((b, n, c)), label="x")
    check(lambda E, a: a[i, :, ids], x, backends=[engine])
