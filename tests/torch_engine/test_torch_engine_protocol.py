"""torch_engine speaks the engine protocol: return types, dtypes, errors, devices, node counts,
the methods beyond the core ops (torch's names), and the places where it follows torch where
the other two engines document a difference. (Values and gradients against torch, op by op, are the
equivalence suite's job: tests/equivalence/test_torch_engine.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import tensor_engine as te
import torch_engine as pe
from engine_api import errors, rules


def t(*shape: int, grad: bool = False) -> pe.Tensor:
    values = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float64).reshape(shape) / 7.0
    return pe.tensor(values, requires_grad=grad)


# --------------------------------------------------------------------------- return types


def test_protocol_return_types() -> None:
    x = pe.tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.5, 7.0]]), requires_grad=True)
    values, indices = x.max(1)
    assert isinstance(values, pe.Tensor) and values.shape == (2,)
    assert x.max(1).indices.tolist() == [1, 0] and x.max(1).indices.dtype == np.int64
    assert isinstance(x.argmax(), pe.Tensor) and x.argmax().dtype == np.int64
    assert x.argmax().item() == 3 and type(x.argmax().item()) is int
    assert x.argmax(1).tolist() == [1, 0]
    less = x < 2.0
    assert isinstance(less, pe.Tensor) and less.dtype == np.bool_ and not less.requires_grad
    assert less.tolist() == [[True, False, False], [False, True, False]]
    assert bool((x >= x).all()) and bool((x == x.detach()).all())  # == compares values
    assert hash(x) == object.__hash__(x) and {x: 1}[x] == 1  # hashed by identity
    assert x.grad is None
    x.sum().backward()
    assert isinstance(x.grad, pe.Tensor) and x.grad.dtype == np.float64
    assert x.grad.shape == x.shape and not x.grad.requires_grad
    assert isinstance(x.numpy(), np.ndarray) and x.shape == (2, 3) and type(x.shape) is tuple
    assert type(x[0, 1].item()) is float and x.dtype == np.dtype(np.float64)
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.numel() == 6 and len(x) == 2
    assert repr(x).startswith("torch_engine.tensor(")
    assert type(x).engine == "torch" and pe.NAME == "torch"


def test_max_over_everything_sends_the_gradient_to_the_first_maximum() -> None:
    """torch's ``max()`` splits it among ties; the protocol gives it to the first one."""
    x = pe.tensor(np.array([3.0, 7.0, 7.0, 1.0]), requires_grad=True)
    (x.max() * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 0.0, 0.0])
    y = pe.tensor(np.array([3.0, 1.0, 1.0]), requires_grad=True)
    y.min(keepdim=True).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 1.0, 0.0])


def test_dtypes_follow_torch() -> None:
    """The four dtypes, inferred as torch infers them (``engine_api.rules.inferred_dtype``)."""
    assert pe.tensor([1, 2]).dtype == np.int64  # ints stay ints
    assert pe.tensor([True, False]).dtype == np.bool_
    assert pe.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int64  # no int32
    assert pe.tensor(np.ones(2)).dtype == np.float64  # float64 ndarrays keep float64
    assert pe.tensor([1.0, 2.0]).dtype == np.float32  # lists of floats: the default float
    assert pe.tensor(torch.ones(2, dtype=torch.float64)).dtype == np.float64
    assert pe.tensor(torch.ones(2, dtype=torch.int32)).dtype == np.int64
    assert pe.tensor(torch.ones(2, dtype=torch.float16)).dtype == np.float32
    assert pe.tensor(torch.ones(2, dtype=torch.bool)).dtype == np.bool_
    assert pe.tensor(pe.tensor([1, 2])).dtype == np.int64  # a Tensor keeps its dtype
    for spelling in ("float64", np.float64, np.dtype("float64"), torch.float64, float):
        assert pe.zeros(2, dtype=spelling).dtype == np.float64
    for spelling in ("int64", "long", np.int64, torch.int64, int):
        assert pe.ones(2, dtype=spelling).dtype == np.int64
    assert pe.tensor([0.7, -1.5, 0.0], dtype="int64").tolist() == [0, -1, 0]  # truncated
    assert pe.tensor([2, 0], dtype=bool).tolist() == [True, False]
    x = pe.ones((2, 2))
    assert (x * np.float64(2.0)).dtype == np.float32  # numpy scalars never promote
    assert (x @ pe.ones(2, dtype="float64")).dtype == np.float64  # torch would refuse
    assert (x + np.ones(2)).dtype == np.float64  # a float64 array has dims: it promotes
    for bad in ("fp64", "int32", np.int32, "float16", 3, "complex128"):
        with pytest.raises(TypeError, match="float32, float64, int64 or bool"):
            pe.tensor([1.0], dtype=bad)
    with pytest.raises(TypeError):
        pe.tensor([["a", "b"]])
    with pytest.raises(TypeError, match="real"):
        pe.tensor(torch.ones(2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="rectangular"):
        pe.tensor([[1.0, 2.0], [3.0]])


# --------------------------------------------------------------------------- errors


ERRORS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("in-place result of another shape", lambda: t(3).add_(np.ones((2, 3))), ValueError,
     r"\(2, 3\).*\(3,\)"),
    ("expand", lambda: t(2, 3).expand(4, 3), ValueError, r"\(2, 3\)"),
    ("clamp without bounds", lambda: t(2).clamp(), ValueError, "min and max"),
    ("clamp with a tensor bound", lambda: t(2).clamp(min=t(2)), TypeError, "number"),
    ("flatten order", lambda: t(2, 3).flatten(1, 0), ValueError, "start_dim"),
    ("var with unbiased and correction", lambda: t(3).var(unbiased=True, correction=0),
     TypeError, "not both"),
    ("mean over an empty dim", lambda: t(2, 0).mean(1), ValueError, r"\(2, 0\)"),
    ("max of nothing", lambda: pe.zeros((0,)).max(), ValueError, r"\(0,\)"),
    ("item of many", lambda: t(2).item(), ValueError, r"\(2,\)"),
    ("negative base, fractional power", lambda: pe.tensor([1.0, -2.0]) ** 0.5, ValueError,
     r"-2\.0 \*\* 0\.5"),
    ("sqrt of a negative", lambda: pe.tensor([4.0, -1.5]).sqrt(), ValueError, "-1.5"),
    ("where shapes", lambda: pe.where(np.ones(4, bool), t(2, 3), 0.0), ValueError,
     r"\(4,\).*\(2, 3\)"),
    ("dim of a 0-d tensor", lambda: pe.tensor(3.0).sum(1), ValueError, "dim 1"),
    ("a bad device", lambda: pe.tensor([1.0], device="nowhere"), ValueError, "nowhere"),
    ("from_torch of int32", lambda: pe.from_torch(torch.ones(2, dtype=torch.int32)), TypeError,
     "float32, float64, int64 or bool"),
    ("to() a float16 dtype", lambda: t(2).to(np.float16), TypeError, "float32, float64"),
    ("grad of an int tensor", lambda: pe.tensor([1, 2], requires_grad=True), RuntimeError,
     f"^{errors.INT_GRAD}$"),
    ("grad of a bool tensor", lambda: pe.zeros(2, dtype=bool, requires_grad=True),
     RuntimeError, f"^{errors.INT_GRAD}$"),
    ("grad set on an int tensor", lambda: setattr(pe.tensor([1]), "requires_grad", True),
     RuntimeError, f"^{errors.INT_GRAD}$"),
    ("requires_grad_ on an int tensor", lambda: pe.tensor([1]).requires_grad_(), RuntimeError,
     f"^{errors.INT_GRAD}$"),
    ("bool - bool", lambda: pe.tensor([True]) - pe.tensor([False]), TypeError,
     re.escape(errors.BOOL_SUB)),
    ("bool - True", lambda: pe.tensor([True]) - True, TypeError, re.escape(errors.BOOL_SUB)),
    ("True - bool", lambda: True - pe.tensor([True]), TypeError, re.escape(errors.BOOL_SUB)),
    ("-bool", lambda: -pe.tensor([True]), TypeError, re.escape(errors.BOOL_NEG)),
    ("int ** -1", lambda: pe.tensor([2]) ** -1, ValueError,
     re.escape(errors.NEGATIVE_INT_POWER)),
    ("a float index", lambda: t(3)[pe.tensor([1.0])], IndexError,
     re.escape(errors.INDEX_DTYPE)),
    ("a float index array", lambda: t(3)[np.array([1.0])], IndexError,
     re.escape(errors.INDEX_DTYPE)),
    ("a float index in setitem", lambda: t(3).__setitem__(pe.tensor([0.0]), 1.0), IndexError,
     re.escape(errors.INDEX_DTYPE)),
    ("mean of ints", lambda: pe.tensor([1, 2]).mean(), RuntimeError,
     re.escape(str(errors.float_only_error("mean", np.dtype("int64"))))),
    ("var of bools", lambda: pe.tensor([True]).var(), RuntimeError, r"var\(\).*bool"),
    ("softmax of ints", lambda: pe.tensor([1, 2]).softmax(0), RuntimeError, r"softmax\(\)"),
    ("fused log_softmax of ints", lambda: pe.fused.log_softmax(pe.tensor([1, 2])),
     RuntimeError, r"log_softmax\(\).*int64"),
    ("a float mask", lambda: t(2).masked_fill(pe.tensor([1.0, 0.0]), 0.0), TypeError,
     "mask must be a bool array, got dtype float32"),
    ("a float condition", lambda: pe.where(np.array([0.5]), t(1), 0.0), TypeError,
     "mask must be a bool array"),
    ("comparison shapes", lambda: t(2, 3) < t(2), ValueError,
     re.escape(str(rules.broadcast_error("lt", (2, 3), (2,))))),
    ("logic shapes", lambda: pe.tensor([True, False]) & pe.tensor([True, False, True]),
     ValueError, re.escape(str(rules.broadcast_error("bitwise_and", (2,), (3,))))),
    ("bitwise on floats", lambda: t(2) & t(2), TypeError, "bitwise_and"),
    ("comparison with a string", lambda: t(2) < "a", TypeError, "str"),
    ("relu of bools", lambda: pe.tensor([True]).relu(), TypeError, "relu: not supported for "
     "bool"),
    ("abs of bools", lambda: pe.tensor([True]).abs(), TypeError, "abs: not supported for bool"),
    ("log1p off its domain", lambda: pe.tensor([0.5, -1.0]).log1p(), ValueError, "-1.0"),
    ("data of another shape", lambda: setattr(t(2), "data", np.ones(3)), ValueError,
     r"\(3,\).*\(2,\)"),
]


@pytest.mark.parametrize(("name", "bad", "error", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_use_the_protocols_types(name: str, bad: Callable[[], Any],
                                        error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        bad()


MIXED: dict[str, Callable[[], Any]] = {
    "add": lambda: t(2) + te.ones(2),
    "tensor": lambda: pe.tensor(te.ones(2)),
    "cat": lambda: pe.cat([t(2), te.ones(2)]),
    "stack": lambda: pe.stack([t(2), te.ones(2)]),
    "where": lambda: pe.where(np.ones(2, bool), t(2), te.ones(2)),
    "matmul": lambda: pe.matmul(t(2), te.ones(2)),
    "lt": lambda: t(2) < te.ones(2),
    "logical_and": lambda: pe.tensor([True]).logical_and(te.ones(1)),
    "softmax": lambda: pe.fused.softmax(te.ones(2)),
    "scatter_add": lambda: t(2).scatter_add(0, pe.tensor([0]), te.ones(1)),
    "grad": lambda: setattr(t(2, grad=True), "grad", te.ones(2)),
    "backward": lambda: (t(2, grad=True) * 1.0).backward(te.ones(2)),
}


@pytest.mark.parametrize("op", list(MIXED))
def test_mixing_engines_is_engine_apis_type_error(op: str) -> None:
    with pytest.raises(TypeError, match=f"^{op}: expected all tensors on one engine, got torch "
                                        "and tensor"):
        MIXED[op]()
    with pytest.raises(TypeError, match="torch"):
        te.ones(2) * t(2)


# --------------------------------------------------------------------------- torch's other names

torch_F = torch.nn.functional

NEW_METHODS: dict[str, tuple[Callable[[Any], Any], Callable[[torch.Tensor], torch.Tensor]]] = {
    # name: (on a torch_engine Tensor, on the torch tensor)
    "abs": (lambda x: x.abs(), lambda x: x.abs()),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7)),
    "clip": (lambda x: x.clip(max=0.2), lambda x: x.clip(max=0.2)),
    "min(dim)": (lambda x: x.min(1).values, lambda x: x.min(1).values),
    "pow": (lambda x: x.pow(3), lambda x: x.pow(3)),
    "square": (lambda x: x.square(), lambda x: x.square()),
    "var": (lambda x: x.var(1), lambda x: x.var(1)),
    "var(False)": (lambda x: x.var(False), lambda x: x.var(False)),
    "std(correction=0)": (lambda x: x.std(0, correction=0, keepdim=True),
                          lambda x: x.std(0, correction=0, keepdim=True)),
    "flatten": (lambda x: x.reshape(2, 3, 1).flatten(1), lambda x: x.reshape(2, 3, 1).flatten(1)),
    "clone": (lambda x: x.clone() * 2.0, lambda x: x.clone() * 2.0),
    "expand": (lambda x: x[:, :1].expand(2, 4), lambda x: x[:, :1].expand(2, 4)),
    "sin": (lambda x: x.sin(), lambda x: x.sin()),
    "cos": (lambda x: x.cos(), lambda x: x.cos()),
    "erf": (lambda x: x.erf(), lambda x: x.erf()),
    "softmax": (lambda x: x.softmax(-1), lambda x: x.softmax(-1)),
    "log_softmax": (lambda x: x.log_softmax(0), lambda x: x.log_softmax(0)),
    "float": (lambda x: x.float(), lambda x: x.float()),
    "to": (lambda x: x.to("cpu", np.float32), lambda x: x.to("cpu", torch.float32)),
}


@pytest.mark.parametrize("name", list(NEW_METHODS))
def test_methods_beyond_the_core_match_torch(name: str) -> None:
    ours, theirs = NEW_METHODS[name]
    values = np.array([[0.3, -1.2, 0.8], [-0.4, 2.0, 0.1]])
    x = pe.tensor(values, requires_grad=True)
    y = torch.tensor(values, requires_grad=True)
    got, want = ours(x), theirs(y)
    upstream = np.random.default_rng(0).standard_normal(tuple(want.shape))
    got.backward(upstream)
    want.backward(torch.from_numpy(upstream).to(want.dtype))
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch."))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6)


def test_argmin_to_and_requires_grad_() -> None:
    x = pe.tensor(np.array([[3.0, 1.0], [0.0, 5.0]]))
    assert x.argmin().item() == 2 and x.argmin(1).tolist() == [1, 0]
    assert x.double() is x and x.to(torch.float64) is x and x.to("cpu") is x
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError):
        (x * 2.0).requires_grad_(False)


# --------------------------------------------------------------------------- in-place, .data


def test_data_and_no_grad_updates_record_nothing() -> None:
    w = pe.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.5 * w.grad
    assert isinstance(w.data, pe.Tensor)
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])
    with pe.no_grad():
        w += 1.0
    assert w.is_leaf and w.requires_grad and w.numpy().tolist() == [1.0, 1.0]
    w.data = np.array([3.0, 4.0])
    assert w.numpy().tolist() == [3.0, 4.0]


def test_inplace_ops_are_torchs_own_in_its_books() -> None:
    """An in-place op on a recorded tensor, on a constant with a tracked operand, and on a
    view of a recorded tensor: torch's values, gradients and leaf flags."""
    a = np.array([[0.5, -1.0], [2.0, 3.0]])
    x, raw = pe.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    h, want = x * 1.5, raw * 1.5
    h.mul_(x), want.mul_(raw)
    h.clamp_(min=-1.0, max=4.0), want.clamp_(min=-1.0, max=4.0)
    h[0].add_(x[1], alpha=2.0), want[0].add_(raw[1], alpha=2.0)
    c, c_want = pe.zeros((2, 2)), torch.zeros(2, 2, dtype=torch.float64)
    c += x
    c_want += raw
    (h * h + c).sum().backward()
    (want * want + c_want).sum().backward()
    np.testing.assert_allclose(h.numpy(), want.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), raw.grad.numpy(), rtol=1e-15)
    assert not c.is_leaf and c.requires_grad


def test_torchs_refusals_read_as_engine_api_words() -> None:
    """Where torch refuses (backward twice, values a graph saved then overwritten, an
    in-place write into a view of a leaf), the message is engine_api's."""
    w = pe.tensor(np.ones((2, 3)), requires_grad=True)
    x = pe.tensor(np.ones((2, 3)))
    y = (w * x).sum()
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"tensor of shape \(2, 3\) was written after"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"add_: an in-place operation on a view \(shape"):
        w[0].add_(1.0)
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))  # nothing was written
    y = (w * w).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second "
                                           "time .*Pass retain_graph=True"):
        y.backward()


def test_where_the_other_engines_document_a_difference_torch_engine_is_torch() -> None:
    """assign_ between forward and backward: torch's version counter refuses; an in-place op
    on a non-leaf the graph already used: torch rebases history (the engines refuse)."""
    w = pe.tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = (w * w).sum()
    w.assign_(np.array([10.0, 20.0]))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    v = pe.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = v * 2.0
    used = h.sum() * 3.0
    h += 1.0  # allowed in torch
    (used + h.sum()).backward()
    np.testing.assert_allclose(v.grad.numpy(), [8.0, 8.0])


# --------------------------------------------------------------------------- engine module


def test_nodes_created_counts_recorded_ops_only() -> None:
    x = pe.tensor(np.ones(3), requires_grad=True)
    pe.reset_nodes_created()
    ((x * 2.0).exp() + 1.0).sum()
    assert pe.nodes_created() == 4
    with pe.no_grad():
        (x * 2.0).exp()
    (pe.ones(3) * 2.0).exp()
    assert pe.nodes_created() == 4
    pe.reset_nodes_created()
    assert pe.nodes_created() == 0


def test_devices() -> None:
    assert pe.get_device() == torch.device("cpu")
    x = pe.tensor([1.0], device="cpu")
    assert x.device == torch.device("cpu") and x.to_torch().device.type == "cpu"
    pe.set_device("cpu")
    with pytest.raises(ValueError, match="not usable"):
        pe.set_device("bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            pe.set_device("cuda")
    assert pe.get_device() == torch.device("cpu")


def test_from_torch_and_to_torch_share_the_tensor() -> None:
    raw = torch.ones(2, dtype=torch.float64, requires_grad=True)
    wrapped = pe.from_torch(raw * 3.0)
    assert wrapped.to_torch().grad_fn is not None
    wrapped.sum().backward()
    assert raw.grad.tolist() == [3.0, 3.0]
    for kind in (torch.int64, torch.bool):  # the four dtypes wrap as they are
        assert pe.from_torch(torch.zeros(2, dtype=kind)).dtype == pe.tensor([0]).to(kind).dtype


def test_set_grad_enabled_wants_a_bool_and_decorates() -> None:
    with pytest.raises(TypeError, match="bool"):
        pe.set_grad_enabled("no")

    @pe.set_grad_enabled(False)
    def inside() -> bool:
        return pe.is_grad_enabled()

    assert inside() is False and pe.is_grad_enabled()


def test_shared_nn_functional_uses_torchs_kernels_when_fused(monkeypatch) -> None:
    import shared_nn.functional as F

    calls = []
    original = pe.fused.softmax
    monkeypatch.setattr(pe.fused, "softmax", lambda x, dim=-1: calls.append(dim) or
                        original(x, dim=dim))
    x = pe.tensor(np.array([[1.0, 2.0, 0.5]]), requires_grad=True)
    fused = F.softmax(x, dim=-1)
    with F.fused(False):
        composed = F.softmax(x, dim=-1)
    assert calls == [-1]
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12)
