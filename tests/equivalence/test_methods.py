"""The Tensor methods of docs/architecture.md, "More Tensor methods (torch's names)":
values and gradients on both engines against PyTorch, special values (NaN, infinities) where
torch defines the result, float32 on the tensor engine, and the errors for bad arguments.

Inputs avoid the points where a derivative is undefined *and* torch's choice there is a tie
rule rather than a derivative: ``max()``/``min()`` over everything share the gradient among
tied extremes in torch (the contract gives it to the first), so those draws have distinct
values and at most one special value. Kinks where torch picks a gradient (``abs`` at 0,
``clamp`` exactly at a bound, ``relu`` at NaN) are drawn on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scalar_engine
import tensor_engine

from . import strategies as S
from .checker import BACKENDS, Backend, check
from .test_errors import ENGINES, zeros
from .test_float32 import ATOL32, RTOL32, f32

TENSOR = ("tensor",)
ALL_BACKENDS = [BACKENDS["scalar"], BACKENDS["tensor"], BACKENDS["torch"]]

# numpy warns where torch silently gives NaN or inf (sin of inf, 0/0 in a variance): expected
quiet = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")


# --------------------------------------------------------------------------- elementwise

ELEMENTWISE = {
    "abs": S.general,  # 0 included: torch's gradient there is 0, as the engines'
    "sin": S.general,
    "cos": S.general,
    "erf": S.general,
    "square": S.general,
}


@pytest.mark.parametrize("op", list(ELEMENTWISE))
@given(data=st.data())
def test_elementwise_methods(op: str, data: st.DataObject) -> None:
    """``x.op()`` on any small shape, empty dims included, and fed into a product so the
    local derivative meets a non-trivial upstream gradient."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(S.arrays(shape, ELEMENTWISE[op]()), label="x")
    check(lambda E, a: (getattr(a, op)(), (getattr(a, op)() * a).sum()), x)


POWERS = [0, 1, 2, 3, 0.5, 1.5, -1, -2.5]


@pytest.mark.parametrize("exponent", POWERS)
@given(data=st.data())
def test_pow_method_is_the_power_operator(exponent: float, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    integer = float(exponent).is_integer()
    domain = S.positive() if not integer else S.away_from_zero() if exponent < 0 else S.general()
    x = data.draw(S.arrays(shape, domain), label="x")
    check(lambda E, a: (a.pow(exponent), a**exponent), x)


@pytest.mark.parametrize("name", ["clamp", "clip"])
@given(data=st.data())
def test_clamp(name: str, data: st.DataObject) -> None:
    """Random bounds on the values' grid, so values exactly on a bound (gradient passes) and
    ``min > max`` (everything becomes ``max``, no gradient) both occur; NaN and infinities
    in the input too."""
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(S.sprinkled(S.arrays(shape, S.quarters())), label="x")
    which = data.draw(st.sampled_from(["both", "min", "max"]), label="bounds")
    lo = data.draw(S.quarters(), label="min") if which != "max" else None
    hi = data.draw(S.quarters(), label="max") if which != "min" else None
    positional = data.draw(st.booleans(), label="positional")
    if positional:
        check(lambda E, a: getattr(a, name)(lo, hi), x)
    else:
        check(lambda E, a: getattr(a, name)(min=lo, max=hi), x)


@pytest.mark.parametrize(("lo", "hi"), [(math.nan, 1.0), (None, math.nan), (-1.0, math.nan),
                                       (math.inf, None), (None, -math.inf)])
def test_clamp_with_special_bounds(lo: float | None, hi: float | None) -> None:
    """A NaN bound makes every value NaN (no gradient); an infinite one is an ordinary bound."""
    x = np.array([-2.0, 0.0, 0.5, 3.0, math.inf, -math.inf, math.nan])
    check(lambda E, a: a.clamp(lo, hi), x)


# NaN and the infinities through every op whose value and gradient torch defines there.
SPECIAL_OPS: dict[str, tuple[Callable[..., Any], Callable[[], st.SearchStrategy[float]]]] = {
    "relu": (lambda E, a: a.relu(), S.general),
    "abs": (lambda E, a: a.abs(), S.general),
    "clamp(-1, 2)": (lambda E, a: a.clamp(-1.0, 2.0), S.quarters),
    "clamp(min=0.5)": (lambda E, a: a.clamp(min=0.5), S.quarters),
    "clip(max=-0.5)": (lambda E, a: a.clip(max=-0.5), S.quarters),
    "sin": (lambda E, a: a.sin(), S.general),
    "cos": (lambda E, a: a.cos(), S.general),
    "erf": (lambda E, a: a.erf(), S.general),
    "square": (lambda E, a: a.square(), S.general),
    "pow(3)": (lambda E, a: a.pow(3), S.general),
    "log": (lambda E, a: a.log(), S.positive),
    "sqrt": (lambda E, a: a.sqrt(), S.positive),
    "pow(0.5)": (lambda E, a: a.pow(0.5), S.positive),
    "softmax(-1)": (lambda E, a: a.softmax(-1), S.general),
    "log_softmax(0)": (lambda E, a: a.log_softmax(0), S.general),
}


@quiet
@pytest.mark.parametrize("op", list(SPECIAL_OPS))
@given(data=st.data())
def test_nan_and_infinities(op: str, data: st.DataObject) -> None:
    """Same values (NaN where torch has NaN) and same gradients as torch. ``log``, ``sqrt``
    and ``pow(0.5)`` get NaN and +inf only: a NaN must pass their domain checks."""
    fn, domain = SPECIAL_OPS[op]
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    specials = (math.nan, math.inf) if domain is S.positive else S.SPECIALS
    x = data.draw(S.sprinkled(S.arrays(shape, domain()), specials), label="x")
    check(fn, x)


# --------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data(), keepdim=st.booleans())
def test_max_min_over_all(op: str, data: st.DataObject, keepdim: bool) -> None:
    """Distinct values, at most one NaN or infinity: a NaN is the result and takes the
    gradient (torch propagates NaN)."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.sprinkled(S.distinct(shape), max_count=1), label="x")
    check(lambda E, a: getattr(a, op)(keepdim=keepdim) * 2.0, x)


@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data(), keepdim=st.booleans())
def test_max_min_over_dim(op: str, data: st.DataObject, keepdim: bool) -> None:
    """Ties, NaNs and infinities anywhere: along a dim the gradient goes to the first extreme
    element, the first NaN if any (torch's CPU rule, and the contract's)."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.sprinkled(S.arrays(shape, S.quarters())), label="x")
    check(lambda E, a: getattr(a, op)(dim, keepdim=keepdim), x)


@given(data=st.data(), keepdim=st.booleans())
def test_argmin(data: st.DataObject, keepdim: bool) -> None:
    """``argmin()`` (a flat index) and ``argmin(dim)`` (an int array); a NaN is the answer."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.sprinkled(S.distinct(shape), max_count=1), label="x")
    check(lambda E, a: (a.argmin(), a.argmin(dim, keepdim=keepdim), a.min(dim)), x)


def _var_call(data: st.DataObject, ndim: int, keepdim: bool) -> tuple[tuple, dict]:
    """One of the ways torch lets you call ``var``/``std``: (args, kwargs)."""
    dim = data.draw(st.one_of(st.none(), S.dims(ndim), S.dim_tuples(ndim)), label="dim")
    unbiased = data.draw(st.booleans(), label="unbiased")
    correction = data.draw(st.sampled_from([0, 1, 0.5, 2]), label="correction")
    spellings = [
        ((), {}),
        ((unbiased,), {}),  # torch's var(unbiased) overload
        ((), {"dim": dim, "keepdim": keepdim}),
        ((), {"dim": dim, "correction": correction, "keepdim": keepdim}),
    ]
    if dim is not None:
        spellings.append(((dim, unbiased, keepdim), {}))
    return data.draw(st.sampled_from(spellings), label="call")


@quiet
@pytest.mark.parametrize("op", ["var", "std"])
@given(data=st.data(), keepdim=st.booleans())
def test_var_std(op: str, data: st.DataObject, keepdim: bool) -> None:
    """Every calling convention, dims int/tuple/None, corrections 0, 1, 0.5 and 2 (so
    ``n - correction <= 0``, torch's inf/NaN, occurs). Values on an exact grid, often only
    two of them: constant slices, where torch's ``std`` gradient is 0 rather than the chain
    rule's ``inf * 0``, are common."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    two_values = data.draw(st.booleans(), label="two values")
    elements = st.sampled_from([-1.0, 2.0]) if two_values else S.quarters()
    x = data.draw(S.arrays(shape, elements), label="x")
    args, kwargs = _var_call(data, len(shape), keepdim)
    if op == "std" or kwargs.get("correction") != 2:
        check(lambda E, a: getattr(a, op)(*args, **kwargs), x)
    else:  # var / 0: an infinite gradient whose signs torch itself does not settle (var()
        # and var(dim) differ), and the scalar engine's chain rule adds +inf to -inf (NaN)
        check(lambda E, a: getattr(a, op)(*args, **kwargs).detach(), x)


def test_std_of_constant_slices_has_zero_gradient() -> None:
    """A constant row, a constant column, a single element with correction 0: std is 0
    there and torch's gradient is 0 (not NaN)."""
    x = np.array([[1.5, 1.5, 1.5], [0.25, 1.5, 2.0], [-1.0, 1.5, 0.5]])
    check(lambda E, a: (a.std(1), a.std(0, keepdim=True), a[0].std(), a[:, :1].std(1, False)),
          x)


@quiet
@given(data=st.data())
def test_var_of_general_values(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: (a.var(dim), a.var()), x)
    # std's gradient (x - mean) / (n std) is 0/0 on a constant slice: its value there is
    # decided by the last bit of the mean's rounding (torch gets +-1/n or 0), so std is
    # compared where every slice varies; the fixed cases cover constant slices.
    if x.size and np.all(np.ptp(x, axis=dim) > 1e-6):
        check(lambda E, a: a.std(dim, correction=0), x)


# --------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_methods(op: str, data: st.DataObject) -> None:
    """Any dim of any shape (0-d included); values up to 60 apart, where an unshifted
    ``exp`` would lose digits."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    dim = data.draw(S.dims(len(shape)), label="dim")
    x = data.draw(S.arrays(shape, S.floats(-30.0, 30.0)), label="x")
    check(lambda E, a: getattr(a, op)(dim), x)


def test_softmax_of_huge_and_masked_logits() -> None:
    """max-subtraction: no overflow at 1000, and -inf (a mask) gives exactly 0 / -inf."""
    x = np.array([[1000.0, 0.0, -1000.0], [1.0, -math.inf, 2.0]])
    check(lambda E, a: (a.softmax(1), a.log_softmax(-1)), x)


# --------------------------------------------------------------------------- shape and copies


@given(data=st.data())
def test_flatten(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    ndim = max(len(shape), 1)
    first, second = (data.draw(S.dims(len(shape)), label="dims") for _ in range(2))
    start, end = sorted([first, second], key=lambda d: d % ndim)
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: (a.flatten(start, end), a.flatten(), a.flatten(start_dim=end)), x)


@given(data=st.data(), as_tuple=st.booleans())
def test_expand(data: st.DataObject, as_tuple: bool) -> None:
    """The gradient of an expanded tensor sums back over the stretched and added dims."""
    shape, sizes = data.draw(S.expand_args(), label="shape, sizes")
    x = data.draw(S.arrays(shape), label="x")
    if as_tuple or not sizes:  # torch's expand() wants at least one argument
        check(lambda E, a: a.expand(sizes) * 2.0, x)
    else:
        check(lambda E, a: a.expand(*sizes) * 2.0, x)


@given(data=st.data())
def test_clone(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0, min_side=0), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: (a.clone() * 2.0, a.clone().exp()), x)


def test_clone_has_its_own_storage() -> None:
    """The tensor engine copies the array; the scalar engine makes new Values (nodes whose
    parent is the original when tracked, fresh leaves when not)."""
    t = tensor_engine.tensor(np.ones(3))
    assert not np.shares_memory(t.clone().numpy(), t.numpy())
    for requires_grad in (True, False):
        s = scalar_engine.tensor([1.0, 2.0], requires_grad=requires_grad)
        copy = s.clone()
        assert all(c is not v for c, v in zip(copy.values, s.values, strict=True))
        parents = [c.parents for c in copy.values]
        if requires_grad:
            assert parents == [((v, 1.0),) for v in s.values] and not copy.is_leaf
        else:
            assert parents == [(), ()] and copy.is_leaf and not copy.requires_grad


# --------------------------------------------------------------------------- dtype and flags


@given(data=st.data())
def test_double_and_to_float64_on_float64(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: (a.double() * 2.0, a.to(np.float64).exp(), a.to("cpu", np.float64) * a,
                        a.to(dtype=np.float64, device="cpu").sum()), x)


@pytest.mark.parametrize("backend", ALL_BACKENDS, ids=str)
def test_casts_to_the_same_dtype_return_self(backend: Backend) -> None:
    """As torch: no new tensor (and no graph node) when nothing changes."""
    x = backend.tensor(np.ones(2), requires_grad=True)
    for same in (x.double(), x.to(np.float64), x.to("cpu"), x.to(dtype=np.float64)):
        assert same is x


def test_scalar_engine_computes_float32_in_float64() -> None:
    """float()/to(float32) return ``self``: the documented float64-only rule."""
    x = scalar_engine.tensor([1.0, 1.0 / 3.0], requires_grad=True)
    assert x.float() is x and x.to(np.float32) is x and x.to("cpu", "float32") is x
    assert x.float().dtype == np.float64


@given(data=st.data())
def test_float32_casts_on_the_tensor_engine(data: st.DataObject) -> None:
    """float32 -> float64 -> float32 and back: the cast node's gradient has the input's
    dtype, its output the new one (the checker compares both dtypes with torch)."""
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = f32(data.draw(S.arrays(shape), label="x"))
    check(lambda E, a: (a.double() * 2.0, a.double().float(), a.to(np.float64).sum(),
                        a.float() * 3.0), x, backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@given(data=st.data())
def test_float_of_float64_on_the_tensor_engine(data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape), label="x")
    check(lambda E, a: (a.float() * 3.0, a.to(np.float32).exp()), x,
          backends=TENSOR, rtol=RTOL32, atol=ATOL32)


FLOAT32_OPS = {
    "abs": lambda E, a: a.abs(),
    "sin": lambda E, a: a.sin(),
    "cos": lambda E, a: a.cos(),
    "erf": lambda E, a: a.erf(),
    "clamp": lambda E, a: a.clamp(-0.5, 1.0),
    "square": lambda E, a: a.square(),
    "pow": lambda E, a: a.pow(3),
    "min": lambda E, a: a.min(-1),
    "var": lambda E, a: a.var(-1, correction=0),
    "std": lambda E, a: a.std(),
    "softmax": lambda E, a: a.softmax(-1),
    "log_softmax": lambda E, a: a.log_softmax(0),
    "flatten": lambda E, a: a.flatten() * 2.0,
    "expand": lambda E, a: a.expand(2, *a.shape) * 2.0,
    "clone": lambda E, a: a.clone() * 2.0,
}


@quiet
@pytest.mark.parametrize("op", list(FLOAT32_OPS))
@given(data=st.data())
def test_methods_keep_float32(op: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = f32(data.draw(S.distinct(shape), label="x"))
    check(FLOAT32_OPS[op], x, backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("backend", ALL_BACKENDS, ids=str)
def test_requires_grad_(backend: Backend) -> None:
    """Returns self; leaves switch both ways; a non-leaf accepts True (it already requires
    grad) and refuses False, as torch."""
    x = backend.tensor(np.ones(2))
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    y = x.requires_grad_(True) * 2.0
    assert y.requires_grad_() is y and y.requires_grad
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)


# --------------------------------------------------------------------------- scalar engine


@pytest.mark.parametrize("op", ["abs", "sin", "cos", "erf", "relu"])
@given(x=st.one_of(S.general(), st.sampled_from([0.0, math.nan, math.inf, -math.inf])))
def test_value_primitives(op: str, x: float) -> None:
    """``Value``-level primitives: value and local derivative as torch's, edges included."""
    import torch

    v = scalar_engine.Value(x)
    out = getattr(v, op)()
    out.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    getattr(t, op)().backward()
    for got, want in ((out.data, getattr(t, op)().item()), (v.grad, t.grad.item())):
        assert got == want or (math.isnan(got) and math.isnan(want)) or (
            abs(got - want) <= 1e-15 * max(1.0, abs(want))), (op, x, got, want)


@pytest.mark.parametrize("op", ["abs", "sin", "cos", "erf", "clamp", "clone"])
def test_scalar_primitives_make_one_node_per_element(op: str) -> None:
    """abs, sin, cos, erf and clamp know their derivative: one Value per element, no more."""
    x = scalar_engine.tensor(np.linspace(-2.0, 2.0, 6).reshape(2, 3), requires_grad=True)
    call = {"clamp": lambda a: a.clamp(-1.0, 1.0)}.get(op, lambda a: getattr(a, op)())
    scalar_engine.reset_nodes_created()
    call(x)
    assert scalar_engine.nodes_created() == 6


def test_scalar_selections_make_no_node() -> None:
    x = scalar_engine.tensor(np.arange(6.0).reshape(2, 3, 1), requires_grad=True)
    scalar_engine.reset_nodes_created()
    x.min(1), x.max(), x.expand(2, 2, 3, 4), x.flatten(1), x.argmin(0)
    assert scalar_engine.nodes_created() == 0


# --------------------------------------------------------------------------- errors


# (name, bad operation, expected exception, substrings the message must contain)
CASES: list[tuple[str, Callable[[Backend], Any], type[Exception], list[str]]] = [
    ("clamp without bounds", lambda E: zeros(E, 2).clamp(), ValueError, ["min", "max"]),
    ("clip without bounds", lambda E: zeros(E, 2).clip(None, None), ValueError, ["min"]),
    ("clamp tensor bound", lambda E: zeros(E, 2).clamp(zeros(E, 2)), TypeError, ["min"]),
    ("expand a non-1 dim", lambda E: zeros(E, 2, 1).expand(3, 4), ValueError,
     ["(3, 4)", "(2, 1)"]),
    ("expand too few dims", lambda E: zeros(E, 2, 1).expand(4), ValueError, ["(4,)", "(2, 1)"]),
    ("expand -1 in a new dim", lambda E: zeros(E, 2).expand(-1, 2), ValueError, ["-1"]),
    ("expand negative size", lambda E: zeros(E, 1).expand(-3), ValueError, ["-3"]),
    ("flatten start after end", lambda E: zeros(E, 2, 3, 4).flatten(2, 1), ValueError,
     ["2", "1"]),
    ("flatten dim", lambda E: zeros(E, 2, 3).flatten(3), ValueError, ["3"]),
    ("var dim", lambda E: zeros(E, 2, 3).var(2), ValueError, ["2"]),
    ("std dim tuple", lambda E: zeros(E, 2, 3).std((0, -3)), ValueError, ["-3"]),
    ("var unbiased and correction", lambda E: zeros(E, 3).var(unbiased=True, correction=0),
     TypeError, ["correction"]),
    ("min dim", lambda E: zeros(E, 2, 3).min(2), ValueError, ["2"]),
    ("min of empty", lambda E: zeros(E, 0).min(), ValueError, ["(0,)"]),
    ("argmin dim", lambda E: zeros(E, 2, 3).argmin(-3), ValueError, ["-3"]),
    ("softmax dim", lambda E: zeros(E, 2, 3).softmax(2), ValueError, ["2"]),
    ("log_softmax dim", lambda E: zeros(E, 2, 3).log_softmax(-3), ValueError, ["-3"]),
    ("to bogus", lambda E: zeros(E, 2).to("bogus"), TypeError, ["bogus"]),
    ("to cuda", lambda E: zeros(E, 2).to("cuda"), TypeError, ["cuda"]),
    ("to int32", lambda E: zeros(E, 2).to(np.int32), TypeError, ["int32"]),
    ("pow tensor exponent", lambda E: zeros(E, 2).pow(zeros(E, 2)), TypeError, []),
    ("requires_grad_ off a non-leaf",
     lambda E: (zeros(E, 2, grad=True) * 2.0).requires_grad_(False), RuntimeError, ["leaf"]),
    ("log of NaN and -1", lambda E: E.tensor(np.array([math.nan, -1.0])).log(), ValueError,
     ["-1"]),
    ("log of -1 then NaN", lambda E: E.tensor(np.array([-1.0, math.nan])).log(), ValueError,
     ["-1"]),
    ("sqrt of NaN and -2", lambda E: E.tensor(np.array([math.nan, -2.0])).sqrt(), ValueError,
     ["-2"]),
    ("pow of NaN and -3", lambda E: E.tensor(np.array([math.nan, -3.0])) ** 0.5, ValueError,
     ["-3"]),
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


DIM_OPS: dict[str, Callable[[Any, int], Any]] = {
    "min": lambda x, d: x.min(d),
    "argmin": lambda x, d: x.argmin(d),
    "var": lambda x, d: x.var(d),
    "std": lambda x, d: x.std((0, d)),
    "softmax": lambda x, d: x.softmax(d),
    "log_softmax": lambda x, d: x.log_softmax(d),
    "flatten": lambda x, d: x.flatten(0, d),
}


@pytest.mark.parametrize("op", list(DIM_OPS))
@given(data=st.data())
def test_out_of_range_dims_rejected_alike(op: str, data: st.DataObject) -> None:
    """Any dim outside ``[-ndim, ndim)``: both engines raise ValueError naming the dim."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    n = len(shape)
    dim = data.draw(st.one_of(st.integers(n, n + 3), st.integers(-n - 3, -n - 1)), label="dim")
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            DIM_OPS[op](zeros(engine, *shape), dim)
        assert str(dim) in str(info.value), f"{engine} {op}: {info.value}"


@given(data=st.data())
def test_expanding_a_non_1_dim_rejected_alike(data: st.DataObject) -> None:
    """A size that differs from an existing dim other than 1: ValueError naming both."""
    shape = data.draw(S.shapes(min_dims=1, min_side=2), label="shape")
    d = data.draw(st.integers(0, len(shape) - 1), label="dim")
    sizes = list(shape)
    sizes[d] += data.draw(st.integers(1, 3), label="extra")
    for engine in ENGINES:
        with pytest.raises(ValueError) as info:
            zeros(engine, *shape).expand(*sizes)
        assert str(tuple(sizes)) in str(info.value) and str(shape) in str(info.value), (
            f"{engine}: {info.value}"
        )
