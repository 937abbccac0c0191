"""dtypes as PyTorch has them: float32, float64, int64 and bool, on every engine.

Proven here, against torch in float64 where a value is compared:

* **Inference**: ``tensor(data)`` without ``dtype=`` gives torch's dtype (Python ints ->
  int64, bools -> bool, any float -> the default float32; a float64 array keeps float64).
  Documented difference: every numpy int array becomes int64 (torch keeps int32, uint8).
* **Promotion**: ``+ - * /`` over every pair of {bool, int64, float32, float64} operands given
  as tensors with dims, 0-d tensors or Python numbers, on either side, give torch's dtype
  and torch's values; true division of non-floats gives the default float; ``int ** int``
  stays int64; ``bool + bool`` / ``bool * bool`` are logical; ``bool - bool``, ``-bool``,
  ``relu`` / ``abs`` of bools and ``int ** -1`` are refused alike by every engine (as torch).
* **No gradients for int and bool**: asking for one raises RuntimeError three ways, and a
  graph mixing a float leaf with an int tensor gives the float leaf torch's gradient.
* **Spellings and conversions**: every ``dtype=`` spelling of the contract, ``.long()``
  ``.int()`` ``.bool()`` ``.float()`` ``.double()`` ``.to(...)`` ``.type(...)`` and the
  ``type()`` string; float functions of ints compute in the default float; integer ops stay
  int64; ``sum`` of bools counts; ``mean`` of ints is refused alike by every engine.

The scalar engine computes floats in float64 whatever was asked (see ``torchlike``): on it a
float result must be a float, not of a given width.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .torchlike import (
    ENGINES,
    SELF_CHECK,
    TESTED,
    Const,
    assert_dtype,
    dtype,
    dtype_of,
    engines,
    module,
    ours_only,
    raises_like,
    run,
    to_numpy,
    torch_raises,
)

INT64, BOOL = np.dtype("int64"), np.dtype("bool")
FLOAT32, FLOAT64 = np.dtype("float32"), np.dtype("float64")


# --------------------------------------------------------------------------- inference

# data, the dtype our engines infer, the dtype torch infers
INFERENCE = {
    "ints": ([1, 2], INT64, INT64),
    "nested ints": ([[1], [-2]], INT64, INT64),
    "bools": ([True, False], BOOL, BOOL),
    "bools and ints": ([True, 2], INT64, INT64),
    "a float among ints": ([1, 2.5], FLOAT32, FLOAT32),
    "an int": (3, INT64, INT64),
    "a bool": (True, BOOL, BOOL),
    "a float": (2.5, FLOAT32, FLOAT32),
    "int64 array": (np.array([1, -2], dtype=np.int64), INT64, INT64),
    "int32 array": (np.array([1, -2], dtype=np.int32), INT64, np.dtype("int32")),
    "uint8 array": (np.array([1, 2], dtype=np.uint8), INT64, np.dtype("uint8")),
    "bool array": (np.array([True, False]), BOOL, BOOL),
    "float64 array": (np.array([0.1, 2.0]), FLOAT64, FLOAT64),
    "float32 array": (np.array([0.5, 2.0], dtype=np.float32), FLOAT32, FLOAT32),
}


@engines
@pytest.mark.parametrize("case", list(INFERENCE))
def test_inferred_dtype(engine: str, case: str) -> None:
    """``tensor(data)`` without dtype: torch's dtype, torch's values (an int array of any
    width is int64 on the engines: there is no int32)."""
    data, ours, theirs = INFERENCE[case]
    assert dtype_of(torch.tensor(data)) == theirs  # what torch does, for the record
    t = module(engine).tensor(data)
    want = theirs if engine == "pytorch" else ours
    assert_dtype(case, dtype_of(t), want, engine)
    assert to_numpy(t).shape == np.shape(data)
    assert np.array_equal(to_numpy(t), np.asarray(data).astype(want))
    assert not t.requires_grad


@engines
@pytest.mark.parametrize("name", ["int64", "bool", "float64"])
def test_tensor_of_a_tensor_keeps_its_dtype(engine: str, name: str) -> None:
    T = module(engine)
    source = T.tensor(np.array([1, 0, 2]).astype(name))
    again = T.tensor(source) if engine != "pytorch" else source.clone().detach()
    assert dtype_of(again) == np.dtype(name)
    assert np.array_equal(to_numpy(again), to_numpy(source))


@ours_only
def test_scalar_engine_holds_plain_ints_and_bools() -> None:
    """The scalar engine's int64 and bool tensors are Python ints and bools, not Value
    nodes, before and after integer ops."""
    T = module("scalar")
    ints = T.tensor([1, -2, 3])
    bools = T.tensor([True, False, True])
    for t, kind in ((ints, int), (bools, bool), (ints * 2 + 1, int), (ints.sum(), int),
                    (bools + bools, bool), (ints.cumsum(0), int), (bools.sum(), int)):
        assert all(type(v) is kind for v in t._values), (t, [type(v) for v in t._values])


# --------------------------------------------------------------------------- promotion

KINDS = ("tensor", "0-d", "number")
DTYPES = ("bool", "int64", "float32", "float64")
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True)
class Operand:
    """One operand of a binary op: a tensor with dims, a 0-d tensor or a Python number."""

    kind: str
    dtype: str
    values: np.ndarray

    def build(self, T: Any) -> Any:
        if self.kind == "number":
            return self.values.item()  # a Python bool, int or float
        return T.tensor(self.values, dtype=dtype(T, self.dtype))

    def __repr__(self) -> str:
        return f"{self.kind} {self.dtype} {self.values.tolist()}"


def values(name: str, shape: tuple[int, ...], nonzero: bool) -> st.SearchStrategy:
    """Exact values of dtype ``name`` (floats on a grid of quarters, exact in float32 too);
    no zeros (no False) where a divisor needs none."""
    size = math.prod(shape)
    if name == "bool":
        element = st.just(True) if nonzero else st.booleans()
        return st.lists(element, min_size=size, max_size=size).map(
            lambda v: np.array(v, dtype=bool).reshape(shape))
    scale = 1 if name == "int64" else 4
    element = st.integers(-4 * scale, 4 * scale).filter(lambda k: k != 0 or not nonzero)
    return st.lists(element, min_size=size, max_size=size).map(
        lambda v: (np.array(v, dtype=np.int64).reshape(shape) / scale).astype(name)
        if scale != 1 else np.array(v, dtype=np.int64).reshape(shape))


@st.composite
def operand(draw: st.DrawFn, shape: tuple[int, ...], divisor: bool) -> Operand:
    kind = draw(st.sampled_from(KINDS), label="kind")
    names = DTYPES if kind != "number" else ("bool", "int64", "float64")
    name = draw(st.sampled_from(names), label="dtype")
    shape = () if kind != "tensor" else shape or (1,)
    return Operand(kind, name, draw(values(name, shape, nonzero=divisor)))


@engines
@given(data=st.data())
def test_promotion(engine: str, data: st.DataObject) -> None:
    """torch's result dtype and values for ``a op b``: dims decide within a category, 0-d
    tensors and numbers only lift the category (an int tensor times 2.5 is float32, times a
    0-d float64 tensor float64)."""
    op = data.draw(st.sampled_from(list(OPS)), label="op")
    shape_a, shape_b = data.draw(S.broadcast_pair(max_dims=2), label="shapes")
    a = data.draw(operand(shape_a, divisor=False), label="a")
    b = data.draw(operand(shape_b, divisor=op == "/"), label="b")
    if a.kind == b.kind == "number":
        return
    if op == "-" and "bool" in (a.dtype, b.dtype):
        return  # torch refuses; bool - bool: test_bool_minus_bool_is_refused
    ours, theirs = run(lambda T: OPS[op](a.build(T), b.build(T)), engine=engine)
    assert theirs.outputs[0].dtype == torch_result_dtype(a, b, op)


def torch_result_dtype(a: Operand, b: Operand, op: str) -> np.dtype:
    """torch.result_type, as a cross-check of what the run compared against."""
    def arg(x: Operand) -> Any:
        return x.values.item() if x.kind == "number" else torch.tensor(
            x.values, dtype=getattr(torch, x.dtype))
    result = np.dtype(str(torch.result_type(arg(a), arg(b))).removeprefix("torch."))
    if op == "/" and result.kind != "f":
        return FLOAT32
    return result


@engines
@pytest.mark.parametrize(("a", "b"), [([7, -7, 4], [2, 2, -3]), ([True, False], [True, True])])
def test_true_division_of_ints_gives_the_default_float(engine: str, a: list, b: list
                                                       ) -> None:
    got, want = run(lambda T: T.tensor(a) / T.tensor(b), engine=engine)
    assert want.outputs[0].dtype == FLOAT32
    assert got.outputs[0].values.dtype.kind == "f"


@engines
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_int_power_stays_int(engine: str, k: int) -> None:
    run(lambda T, n: n**k, np.array([[-3, 0, 2], [5, 1, -1]]), engine=engine)


@engines
@pytest.mark.parametrize("op", ["+", "*"])
def test_bool_add_and_mul_are_logical(engine: str, op: str) -> None:
    """``bool + bool`` is ``or``, ``bool * bool`` is ``and``: bool results, not counts."""
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    got, want = run(lambda T, x, y: (OPS[op](x, y), OPS[op](x, True)), a, b, engine=engine)
    assert want.outputs[0].dtype == BOOL


def test_bool_minus_bool_is_refused() -> None:
    """torch refuses ``-`` on two bools; every engine raises the same TypeError."""
    a, b = np.array([True, False]), np.array([True, True])
    torch_raises(lambda T, x, y: x - y, a, b)
    kind = raises_like(lambda T, x, y: x - y, a, b)
    assert kind is TypeError or SELF_CHECK


BOOL_REFUSED = {
    "-bool": lambda T, b: -b,
    "bool.relu()": lambda T, b: b.relu(),
    "bool.abs()": lambda T, b: b.abs(),
}


@pytest.mark.parametrize("op", list(BOOL_REFUSED))
def test_arithmetic_refused_on_bools(op: str) -> None:
    """torch refuses ``-``, ``relu`` and ``abs`` of a bool tensor (use ``~`` or convert);
    every engine raises the same TypeError."""
    mask = np.array([True, False])
    torch_raises(BOOL_REFUSED[op], mask)
    assert raises_like(BOOL_REFUSED[op], mask) is TypeError or SELF_CHECK


def test_negative_int_power_is_refused() -> None:
    """torch: "Integers to negative integer powers are not allowed."; the engines agree."""
    n = np.array([1, 2, 3])
    torch_raises(lambda T, x: x**-1, n)
    raises_like(lambda T, x: x**-1, n)


# --------------------------------------------------------------------------- grads

# ours: "Only Tensors of floating point dtype can require gradients"; torch says "Only" or
# "only", and "floating point and complex dtype" at construction and in the setter
INT_GRAD = r"(?i)only tensors of floating point"


@pytest.mark.parametrize("data", [[1, 2], [True, False]], ids=["int64", "bool"])
def test_int_and_bool_tensors_cannot_require_grad(data: list) -> None:
    """Asked at construction, through the setter or ``requires_grad_()``: a RuntimeError,
    the same on every engine (torch raises RuntimeError too). Setting it to False is fine."""

    def build(T: Any) -> Any:
        return T.tensor(data, requires_grad=True)

    def setter(T: Any) -> None:
        t = T.tensor(data)
        t.requires_grad = False
        t.requires_grad = True

    def method(T: Any) -> None:
        T.tensor(data).requires_grad_()

    for fn in (build, setter, method):
        assert torch_raises(fn) is RuntimeError
        assert raises_like(fn) is RuntimeError
        for engine in TESTED:
            with pytest.raises(RuntimeError, match=INT_GRAD):
                fn(module(engine))


@engines
@given(data=st.data())
def test_float_leaf_times_int_tensor(engine: str, data: st.DataObject) -> None:
    """A graph mixing a float leaf with int and bool tensors: float64 results, and the
    gradient reaches the float leaf (torch's values)."""
    shape = data.draw(S.shapes(min_dims=1, max_dims=2), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    n = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-3, 3)), label="n")
    m = data.draw(S.masks(shape), label="m")
    run(lambda T, a, i, b: (a * i + b - i * 2, (a / (i * i + 1)).sum() * b.sum()),
        x, n, m, engine=engine)


# --------------------------------------------------------------------------- spellings

SPELLINGS: dict[str, tuple[Any, np.dtype]] = {
    '"int64"': ("int64", INT64),
    '"long"': ("long", INT64),
    '"bool"': ("bool", BOOL),
    '"float32"': ("float32", FLOAT32),
    '"float"': ("float", FLOAT32),
    '"float64"': ("float64", FLOAT64),
    '"double"': ("double", FLOAT64),
    "int": (int, INT64),
    "bool type": (bool, BOOL),
    "float": (float, FLOAT64),  # torch.tensor([1], dtype=float) is float64
    "np.int64": (np.int64, INT64),
    "np.dtype(int64)": (np.dtype("int64"), INT64),
    "np.bool_": (np.bool_, BOOL),
    "np.float64": (np.float64, FLOAT64),
    "np.float32": (np.float32, FLOAT32),
    "torch.int64": (torch.int64, INT64),
    "torch.long": (torch.long, INT64),
    "torch.bool": (torch.bool, BOOL),
    "torch.float32": (torch.float32, FLOAT32),
    "torch.float64": (torch.float64, FLOAT64),
}


@ours_only
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_dtype_spellings(engine: str, spelling: str) -> None:
    """Every spelling of the contract, in ``tensor``, ``zeros`` and ``ones``."""
    given_dtype, want = SPELLINGS[spelling]
    T = module(engine)
    data = [1, 0, 2]
    for t, values_ in ((T.tensor(data, dtype=given_dtype), data),
                       (T.zeros((2,), dtype=given_dtype), [0, 0]),
                       (T.ones((2,), dtype=given_dtype), [1, 1])):
        assert_dtype(spelling, dtype_of(t), want, engine)
        assert np.array_equal(to_numpy(t), np.array(values_).astype(want))


def test_torch_agrees_with_the_python_type_spellings() -> None:
    """Python's ``int``, ``bool`` and ``float`` as torch reads them (float is float64)."""
    for kind, want in ((int, INT64), (bool, BOOL), (float, FLOAT64)):
        assert dtype_of(torch.tensor([1, 0], dtype=kind)) == want


@pytest.mark.parametrize("bad", ["complex128", "string", object, "int65"])
def test_unknown_dtype_is_a_type_error(bad: Any) -> None:
    assert raises_like(lambda T: T.tensor([1, 2], dtype=bad)) is TypeError or SELF_CHECK


# --------------------------------------------------------------------------- conversions

CONVERSIONS = {
    "long": lambda T, x: x.long(),
    "bool": lambda T, x: x.bool(),
    "float": lambda T, x: x.float(),
    "double": lambda T, x: x.double(),
    "to(int64)": lambda T, x: x.to(dtype(T, "int64")),
    "to(dtype=bool)": lambda T, x: x.to(dtype=dtype(T, "bool")),
    "to(float32)": lambda T, x: x.to(dtype(T, "float32")),
    "to(float64)": lambda T, x: x.to(dtype(T, "float64")),
    "to(int tensor)": lambda T, x: x.to(T.tensor([1, 2])),
    "to(bool tensor)": lambda T, x: x.to(T.tensor([True])),
    "to(float64 tensor)": lambda T, x: x.to(T.tensor([1.0], dtype=dtype(T, "float64"))),
    "type(int64)": lambda T, x: x.type(dtype(T, "int64")),
    "type(float64)": lambda T, x: x.type(dtype(T, "float64")),
    "type(bool)": lambda T, x: x.type(dtype(T, "bool")),
}

CONVERTED = {  # values to convert: fractions and negatives (truncation), zeros (bool)
    "float64": np.array([[0.7, -0.7, 2.5], [-1.5, 0.0, 3.0]]),
    "int64": np.array([[3, -2, 0], [1, 0, -7]]),
    "bool": np.array([[True, False, True], [False, False, True]]),
}


@engines
@pytest.mark.parametrize("source", list(CONVERTED))
@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_conversions(engine: str, source: str, conversion: str) -> None:
    """torch's dtype and values (float -> int truncates toward zero, nonzero -> True); a
    float64 leaf converted to a float keeps its graph and gets torch's gradient."""
    run(CONVERSIONS[conversion], CONVERTED[source], engine=engine)


@engines
@pytest.mark.parametrize("source", list(CONVERTED))
def test_int_is_int64(engine: str, source: str) -> None:
    """``.int()``: torch's values; int64 on the engines (no int32: documented difference),
    int32 in torch."""
    got, want = run(lambda T, x: x.int().long(), CONVERTED[source], engine=engine)
    t = module(engine).tensor(CONVERTED[source]).int()
    assert dtype_of(t) == (np.dtype("int32") if engine == "pytorch" else INT64)


@engines
def test_type_string(engine: str) -> None:
    """``type()`` without argument: torch's class name of each dtype."""
    run(lambda T: [T.tensor([1, 2]).type(), T.tensor([True]).type(),
                   T.tensor([1.0], dtype=dtype(T, "float64")).type()], engine=engine)
    if engine != "scalar":  # the scalar engine's float32 request reports float64
        run(lambda T: T.tensor([1.0, 2.0]).type(), engine=engine)


# --------------------------------------------------------------------------- int inputs

FLOAT_FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos", "erf", "log1p")


@engines
@pytest.mark.parametrize("source", ["int64", "bool"])
@pytest.mark.parametrize("name", FLOAT_FUNCTIONS)
def test_float_functions_of_ints_give_the_default_float(engine: str, name: str, source: str
                                                        ) -> None:
    """``tensor([1, 2]).exp()`` is float32 in torch: every float function of an int or bool
    tensor computes in the default float (log of ``False`` left out: -inf)."""
    data = np.array([[1, 2, 5], [3, 4, 1]])
    if source == "bool":
        data = np.array([True, True]) if name == "log" else np.array([True, False, True])
    got, want = run(lambda T, x: getattr(x, name)(), data, engine=engine)
    assert want.outputs[0].dtype == FLOAT32


INT_OPS = {
    "relu": lambda T, x: x.relu(),
    "abs": lambda T, x: x.abs(),
    "neg": lambda T, x: -x,
    "clamp(-1, 2)": lambda T, x: x.clamp(-1, 2),
    "clamp(min=0)": lambda T, x: x.clamp(min=0),
    "sum": lambda T, x: x.sum(),
    "sum(dim)": lambda T, x: x.sum(1, keepdim=True),
    "max": lambda T, x: x.max(),
    "min": lambda T, x: x.min(),
    "cumsum": lambda T, x: x.cumsum(1),
    "matmul": lambda T, x: x @ x.t(),
    "add": lambda T, x: x + x[0] + 3,
    "sub": lambda T, x: x - 2 - x[1],
    "mul": lambda T, x: x * x * -2,
}


@engines
@pytest.mark.parametrize("op", list(INT_OPS))
def test_integer_ops_stay_int64(engine: str, op: str) -> None:
    got, want = run(INT_OPS[op], np.array([[3, -2, 0], [1, 5, -7]]), engine=engine)
    assert want.outputs[0].dtype == INT64


@engines
def test_sum_and_cumsum_of_bools_count(engine: str) -> None:
    """``mask.sum()`` is an int64 count, not a bool; so are its cumulative sums."""
    mask = np.array([[True, False, True], [True, True, False]])
    got, want = run(lambda T, m: (m.sum(), m.sum(0), m.sum(dim=1, keepdim=True), m.cumsum(1)),
                    mask, engine=engine)
    assert [o.dtype for o in want.outputs] == [INT64] * 4


def test_mean_of_ints_is_refused() -> None:
    """torch refuses ``mean`` of an int64 tensor (no float dtype to infer); the engines
    refuse it alike, with a TypeError or a RuntimeError."""
    n = np.array([1, 2, 4])
    torch_raises(lambda T, x: x.mean(), n)
    kind = raises_like(lambda T, x: x.mean(), n)
    assert issubclass(kind, (TypeError, RuntimeError))


@engines
def test_float_constant_with_ints(engine: str) -> None:
    """A float64 constant (no grad) with int tensors: float64, no gradient anywhere."""
    got, want = run(lambda T, c, n: (c * n, n / c, (c > n).sum()),
                    Const(np.array([0.5, -2.0, 3.0])), np.array([1, 2, -3]), engine=engine)
    assert not any(o.requires_grad for o in want.outputs)
