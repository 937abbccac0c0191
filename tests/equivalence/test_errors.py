"""Both engines reject the same bad input with the same exception type and a message that
names what was wrong (the offending shapes, dim or value).

The expected types are the contract's (docs/architecture.md, "Errors"): shape mismatches
and bad dims are ``ValueError``, an index out of range ``IndexError``, wrong types
``TypeError``, autograd misuse ``RuntimeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from . import strategies as S
from .checker import BACKENDS, Backend

ENGINES = [BACKENDS["scalar"], BACKENDS["tensor"]]


def zeros(E: Backend, *shape: int, grad: bool = False) -> Any:
    return E.tensor(np.zeros(shape), requires_grad=grad)


def _backward_twice(E: Backend) -> None:
    x = E.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


# (name, bad operation, expected exception, substrings the message must contain)
CASES: list[tuple[str, Callable[[Backend], Any], type[Exception], list[str]]] = [
    ("add shapes", lambda E: zeros(E, 2, 3) + zeros(E, 4), ValueError, ["(2, 3)", "(4,)"]),
    ("mul shapes", lambda E: zeros(E, 2, 3) * zeros(E, 3, 2), ValueError, ["(2, 3)", "(3, 2)"]),
    ("matmul shapes", lambda E: zeros(E, 2, 3) @ zeros(E, 4, 5), ValueError,
     ["(2, 3)", "(4, 5)"]),
    ("matmul batch", lambda E: zeros(E, 2, 2, 3) @ zeros(E, 3, 3, 1), ValueError,
     ["(2, 2, 3)", "(3, 3, 1)"]),
    ("matmul 0-d", lambda E: zeros(E) @ zeros(E, 3), ValueError, ["()", "(3,)"]),
    ("reshape size", lambda E: zeros(E, 2, 3).reshape(4, 2), ValueError, ["(2, 3)", "(4, 2)"]),
    ("cat shapes", lambda E: E.cat([zeros(E, 2, 3), zeros(E, 2, 4)], dim=0), ValueError,
     ["(2, 3)", "(2, 4)"]),
    ("stack shapes", lambda E: E.stack([zeros(E, 2, 3), zeros(E, 3, 2)]), ValueError,
     ["(2, 3)", "(3, 2)"]),
    ("masked_fill mask", lambda E: zeros(E, 2, 3).masked_fill(np.ones((3, 2), bool), 0.0),
     ValueError, ["(2, 3)", "(3, 2)"]),
    ("where cond", lambda E: E.where(np.ones((4,), bool), zeros(E, 2, 3), 0.0), ValueError,
     ["(4,)", "(2, 3)"]),
    ("assign_ shape", lambda E: zeros(E, 2, 3).assign_(np.zeros((3, 2))), ValueError,
     ["(2, 3)", "(3, 2)"]),
    ("backward grad shape",
     lambda E: (zeros(E, 2, 3, grad=True) * 2.0).backward(np.ones((3, 2))), ValueError,
     ["(2, 3)", "(3, 2)"]),
    ("sum dim", lambda E: zeros(E, 2, 3).sum(2), ValueError, ["2"]),
    ("mean dim", lambda E: zeros(E, 2, 3).mean(-3), ValueError, ["-3"]),
    ("max dim", lambda E: zeros(E, 2, 3).max(5), ValueError, ["5"]),
    ("transpose dim", lambda E: zeros(E, 2, 3).transpose(0, 2), ValueError, ["2"]),
    ("unsqueeze dim", lambda E: zeros(E, 2, 3).unsqueeze(3), ValueError, ["3"]),
    ("cat dim", lambda E: E.cat([zeros(E, 2), zeros(E, 2)], dim=1), ValueError, ["1"]),
    ("permute dims", lambda E: zeros(E, 2, 3).permute(0, 0), ValueError, []),
    ("index out of range", lambda E: zeros(E, 2, 3)[np.array([0, 2])], IndexError, ["2"]),
    ("int index out of range", lambda E: zeros(E, 2, 3)[5], IndexError, ["5"]),
    ("item of many", lambda E: zeros(E, 2, 3).item(), ValueError, []),
    ("log of 0", lambda E: E.tensor(np.array([1.0, 0.0])).log(), ValueError, ["0"]),
    ("log of negative", lambda E: E.tensor(np.array([2.0, -1.5])).log(), ValueError, ["-1.5"]),
    ("sqrt of negative", lambda E: E.tensor(np.array([-2.0])).sqrt(), ValueError, ["-2"]),
    ("backward non-scalar", lambda E: (zeros(E, 2, 3, grad=True) * 2.0).backward(),
     RuntimeError, ["scalar"]),
    ("backward without grad", lambda E: zeros(E, 2).sum().backward(), RuntimeError, []),
    ("backward twice", _backward_twice, RuntimeError, ["retain_graph"]),
    ("tensor exponent", lambda E: zeros(E, 2) ** zeros(E, 2), TypeError, []),
    ("number ** tensor", lambda E: 2.0 ** zeros(E, 2), TypeError, []),
    ("split sizes", lambda E: zeros(E, 5).split([2, 2]), ValueError, ["5"]),
    ("squeeze dim", lambda E: zeros(E, 2, 1).squeeze(2), ValueError, ["2"]),
    ("permute length", lambda E: zeros(E, 2, 3).permute(0), ValueError, []),
    ("non-numeric data", lambda E: E.tensor([["a", "b"]]), TypeError, []),
]


@pytest.mark.parametrize("engine", ENGINES, ids=str)
@pytest.mark.parametrize(("name", "bad", "error", "words"), CASES, ids=[c[0] for c in CASES])
def test_engines_reject_alike(
    engine: Backend, name: str, bad: Callable, error: type[Exception], words: list[str]
) -> None:
    """Each engine raises the contract's exception, and the message names the culprit."""
    with pytest.raises(error) as info:
        bad(engine)
    message = str(info.value)
    for word in words:
        assert word in message, f"{engine} {name}: {word!r} missing from {message!r}"


@pytest.mark.parametrize("direction", ["scalar+tensor", "tensor+scalar"])
def test_mixing_engines_is_a_type_error(direction: str) -> None:
    """A tensor of one engine never silently combines with the other engine's."""
    first, second = (BACKENDS[n] for n in direction.split("+"))
    a, b = zeros(first, 2), zeros(second, 2)
    with pytest.raises(TypeError):
        a + b  # noqa: B018 (the expression is the test)
    with pytest.raises(TypeError):
        a @ b  # noqa: B018


@given(data=st.data())
def test_unbroadcastable_shapes_rejected_alike(data: st.DataObject) -> None:
    """Random non-broadcastable pairs: both engines raise ValueError naming both shapes."""
    shape_a = data.draw(S.shapes(min_dims=1), label="a")
    shape_b = data.draw(S.shapes(min_dims=1), label="b")
    try:
        np.broadcast_shapes(shape_a, shape_b)
        assume(False)
    except ValueError:
        pass
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            zeros(engine, *shape_a) + zeros(engine, *shape_b)
        assert str(shape_a) in str(info.value) and str(shape_b) in str(info.value), (
            f"{engine}: {info.value}"
        )


@given(data=st.data())
def test_incompatible_matmul_rejected_alike(data: st.DataObject) -> None:
    """2-D products whose inner dims differ: ValueError naming both shapes."""
    n, k, j, m = (data.draw(st.integers(1, 4)) for _ in range(4))
    assume(k != j)
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            zeros(engine, n, k) @ zeros(engine, j, m)
        assert str((n, k)) in str(info.value) and str((j, m)) in str(info.value), (
            f"{engine}: {info.value}"
        )


DIM_OPS: dict[str, tuple[Callable[[Any, Any, int], Any], int]] = {
    # name: (call with an engine E, a tensor x and a dim d; extra valid positions for d)
    "sum": (lambda E, x, d: x.sum(d), 0),
    "mean": (lambda E, x, d: x.mean(d), 0),
    "max": (lambda E, x, d: x.max(d), 0),
    "argmax": (lambda E, x, d: x.argmax(d), 0),
    "transpose": (lambda E, x, d: x.transpose(0, d), 0),
    "squeeze": (lambda E, x, d: x.squeeze(d), 0),
    "split": (lambda E, x, d: x.split(1, d), 0),
    "cat": (lambda E, x, d: E.cat([x, x], d), 0),
    "unsqueeze": (lambda E, x, d: x.unsqueeze(d), 1),  # unsqueeze accepts ndim + 1 positions
    "stack": (lambda E, x, d: E.stack([x, x], d), 1),
}


@pytest.mark.parametrize("op", list(DIM_OPS))
@given(data=st.data())
def test_out_of_range_dims_rejected_alike(op: str, data: st.DataObject) -> None:
    """Any dim outside ``[-n, n)`` (n = ndim, or ndim + 1 for unsqueeze/stack): both engines
    raise ValueError and name the dim."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    call, extra = DIM_OPS[op]
    n = len(shape) + extra
    dim = data.draw(st.one_of(st.integers(n, n + 3), st.integers(-n - 3, -n - 1)), label="dim")
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            call(engine, zeros(engine, *shape), dim)
        assert str(dim) in str(info.value), f"{engine} {op}: {info.value}"


@given(data=st.data())
def test_out_of_range_indices_rejected_alike(data: st.DataObject) -> None:
    """An int or an index array reaching past a dim: IndexError naming the index."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    bad = data.draw(st.one_of(st.integers(shape[0], shape[0] + 3),
                              st.integers(-shape[0] - 3, -shape[0] - 1)), label="index")
    as_array = data.draw(st.booleans(), label="as_array")
    key = np.array([0, bad]) if as_array else bad
    for engine in ENGINES:
        with pytest.raises(IndexError) as info:
            zeros(engine, *shape)[key]
        assert str(bad) in str(info.value), f"{engine}: {info.value}"


@given(data=st.data())
def test_bad_reshape_rejected_alike(data: st.DataObject) -> None:
    """A target with a different number of elements: ValueError naming both shapes."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    target = data.draw(S.shapes(min_dims=1), label="target")
    assume(int(np.prod(shape)) != int(np.prod(target)))
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            zeros(engine, *shape).reshape(*target)
        message = str(info.value)
        assert str(shape) in message and str(target) in message, f"{engine}: {message}"


@given(data=st.data())
def test_bad_cat_rejected_alike(data: st.DataObject) -> None:
    """Pieces that differ outside the cat dim: ValueError naming both shapes."""
    shape = data.draw(S.shapes(min_dims=2), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    other = list(shape)
    off = data.draw(st.sampled_from([d for d in range(len(shape)) if d != dim % len(shape)]))
    other[off] += data.draw(st.integers(1, 2))
    other = tuple(other)
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            engine.cat([zeros(engine, *shape), zeros(engine, *other)], dim)
        message = str(info.value)
        assert str(shape) in message and str(other) in message, f"{engine}: {message}"
