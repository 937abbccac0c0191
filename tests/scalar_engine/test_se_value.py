"""scalar_engine.Value: every primitive and derived operator against PyTorch float64.

Values and gradients must agree to 1e-12 relative (the engine does the same float operations
as PyTorch's CPU kernels, up to the order of a few roundings).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scalar_engine import Value, no_grad

RTOL = 1e-12


def finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


general = finite(-4.0, 4.0)
positive = finite(0.05, 6.0)
nonzero = st.tuples(finite(0.05, 4.0), st.booleans()).map(lambda mb: -mb[0] if mb[1] else mb[0])


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-300)


def check_against_torch(fn, *xs: float) -> None:
    """fn applied to Values and to torch float64 scalars: same output, same gradients."""
    values = [Value(x) for x in xs]
    out = fn(*values)
    out.backward()
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    ref = fn(*ts)
    ref.backward()
    assert close(out.data, ref.item()), (out.data, ref.item())
    for v, t in zip(values, ts, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert close(v.grad, expected), (v.grad, expected)


UNARY = {
    "exp": (lambda a: a.exp(), general),
    "log": (lambda a: a.log(), positive),
    "log1p": (lambda a: a.log1p(), finite(-0.95, 6.0)),
    "tanh": (lambda a: a.tanh(), general),
    "relu": (lambda a: a.relu(), nonzero),
    "sigmoid": (lambda a: a.sigmoid(), finite(-30.0, 30.0)),
    "sqrt": (lambda a: a.sqrt(), positive),
    "neg": (lambda a: -a, general),
    "square": (lambda a: a**2, general),
    "cube": (lambda a: a**3, general),
    "pow -1": (lambda a: a**-1, nonzero),
    "pow -2.5": (lambda a: a**-2.5, positive),
    "pow 0.3": (lambda a: a**0.3, positive),
    "pow 0": (lambda a: a**0, general),
    "number - a": (lambda a: 2.5 - a, general),
    "number + a": (lambda a: 2.5 + a, general),
    "number * a": (lambda a: 2.5 * a, general),
    "number / a": (lambda a: 2.5 / a, nonzero),
    "a / number": (lambda a: a / 3.0, general),
    "a - number": (lambda a: a - 1.25, general),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_torch(name: str) -> None:
    fn, values = UNARY[name]

    @given(values)
    def prop(x: float) -> None:
        check_against_torch(fn, x)

    prop()


BINARY = {
    "a + b": (lambda a, b: a + b, general),
    "a - b": (lambda a, b: a - b, general),
    "a * b": (lambda a, b: a * b, general),
    "a / b": (lambda a, b: a / b, nonzero),
    "composite": (lambda a, b: (a * b + b**2).tanh() * a - b / (a * a + 1.0), general),
    "exp-log": (lambda a, b: (a * a + b * b + 0.5).log() + (a - b).exp(), general),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_torch(name: str) -> None:
    fn, values = BINARY[name]

    @given(values, values)
    def prop(x: float, y: float) -> None:
        check_against_torch(fn, x, y)

    prop()


def test_micrograd_readme_example() -> None:
    """The expression from micrograd's README, with the numbers it prints."""
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_tanh_neuron_by_hand() -> None:
    """micrograd's neuron o = tanh(x1*w1 + x2*w2 + b), worked out by hand.

    n = 2*(-3) + 0*1 + 6.8813735870195432 = 0.8813735870195432, o = tanh(n) = 1/sqrt(2);
    do/dn = 1 - o^2 = 0.5, so dx1 = w1 * 0.5 = -1.5, dw1 = x1 * 0.5 = 1, dx2 = 0.5, dw2 = 0.
    """
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert x1.grad == pytest.approx(-1.5, rel=1e-14)
    assert w1.grad == pytest.approx(1.0, rel=1e-14)
    assert x2.grad == pytest.approx(0.5, rel=1e-14)
    assert w2.grad == 0.0
    assert b.grad == pytest.approx(0.5, rel=1e-14)


def test_node_used_twice_collects_both_gradients() -> None:
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0
    c = Value(3.0)
    (c * c).backward()
    assert c.grad == 6.0


def test_relu_gradient_at_zero_is_zero_as_in_torch() -> None:
    a = Value(0.0)
    a.relu().backward()
    assert a.grad == 0.0


def test_products_reuse_operand_floats_as_local_derivatives() -> None:
    """No new float per product: the local derivative *is* the other operand's data."""
    a, b = Value(1.5), Value(2.5)
    c = a * b
    (pa, da), (pb, db) = c.parents
    assert pa is a and pb is b
    assert da is b.data and db is a.data
    (_, one_a), (_, one_b) = (a + b).parents
    assert one_a is one_b  # the shared 1.0


def test_pytorch_infinities_instead_of_exceptions() -> None:
    x = Value(0.0)
    y = x**-1
    assert y.data == math.inf
    assert Value(1000.0).exp().data == math.inf
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda: Value(-1.0).log(), ValueError, "-1.0"),
        (lambda: Value(0.0).log(), ValueError, "0.0"),
        (lambda: Value(-4.0).sqrt(), ValueError, "-4.0"),
        (lambda: Value(-8.0) ** 0.5, ValueError, "-8.0"),
        (lambda: Value("three"), TypeError, "three"),
        (lambda: Value(None), TypeError, "NoneType"),
        (lambda: Value(2.0) ** Value(2.0), TypeError, "Value"),
        (lambda: 2.0 ** Value(2.0), TypeError, "float"),
        (lambda: Value(2.0) * "x", TypeError, "str"),
    ],
)
def test_domain_and_type_errors(make, error, text) -> None:
    with pytest.raises(error, match=text):
        make()


def test_no_grad_values_have_no_parents() -> None:
    a = Value(2.0)
    with no_grad():
        b = (a * 3.0).exp() + a
    assert b.parents == ()
    assert b.is_leaf
    c = a * 3.0
    assert [p for p, _ in c.parents] == [a]


def test_value_backward_is_iterative_on_a_long_chain() -> None:
    """A 200,000-deep chain of Value operators; no recursion limit is touched."""
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
