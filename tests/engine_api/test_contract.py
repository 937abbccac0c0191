"""Every engine implements the contract of engine_api, and takes the derived half from it.

* each engine module and Tensor has the protocol's names (``engine_api.protocol``);
* the composed methods are engine_api's own functions on every engine, not copies;
* each core engine's grad mode is an ``engine_api.GradMode`` of its own;
* the worked example of docs/architecture.md (``lerp``, one definition in
  ``engine_api.derived``) agrees with PyTorch in float64 on every engine, values and gradients.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine_api
import scalar_engine
import tensor_engine
from engine_api import TensorMethods

torch = pytest.importorskip("torch")
torch_engine = pytest.importorskip("torch_engine")

ENGINES = {"scalar": scalar_engine, "tensor": tensor_engine, "torch": torch_engine}
DERIVED = [
    "size", "item", "tolist", "__len__", "__iter__", "__float__", "__bool__", "pow", "square",
    "clip", "lerp", "matmul", "view", "flatten", "float", "double", "to", "requires_grad_",
    "add_", "sub_", "mul_", "div_", "clamp_", "fill_", "zero_", "copy_", "__iadd__", "__isub__",
    "__imul__", "__itruediv__",
    # the tensors as torch has them: one definition each (the torch engine may run
    # argmax/argmin, any/all and the comparisons' _nondiff on torch itself, same results)
    "dim", "nelement", "__int__", "__index__", "max", "min", "sort", "argsort", "topk", "eq",
    "ne", "lt", "le", "gt", "ge", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__hash__", "logical_and", "logical_or", "logical_xor", "logical_not", "__and__",
    "__or__", "__xor__", "__invert__", "isnan", "isinf", "isfinite", "nonzero", "multinomial",
    "log10", "log2", "mm", "bmm", "norm", "long", "int", "bool", "type", "contiguous", "t",
    "narrow", "expand_as", "chunk", "repeat", "flip", "roll", "tril", "triu", "index_select",
    "gather", "scatter", "scatter_add", "where", "masked_fill_",
]


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_has_the_protocol(name: str) -> None:
    E = ENGINES[name]
    assert isinstance(E, engine_api.EngineModule)
    assert set(engine_api.ENGINE_NAMES) <= set(E.__all__)
    assert all(hasattr(E, attr) for attr in E.__all__)
    t = E.tensor([[1.0, 2.0]], requires_grad=True)
    assert isinstance(t, engine_api.EngineTensor)
    assert isinstance(t, TensorMethods)
    assert E.NAME == name == t.engine


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("method", DERIVED)
def test_composed_methods_are_written_once(name: str, method: str) -> None:
    """The engine's Tensor resolves the method to engine_api's function, not its own copy."""
    found = next(klass for klass in ENGINES[name].Tensor.__mro__ if method in vars(klass))
    assert found is TensorMethods, f"{name}_engine.Tensor.{method} comes from {found}"


@pytest.mark.parametrize("name", ["scalar", "tensor"])
def test_core_engines_switch_grad_mode_with_engine_api(name: str) -> None:
    E = ENGINES[name]
    assert type(E.no_grad()).__module__ == "engine_api.grad_mode"
    other = ENGINES["tensor" if name == "scalar" else "scalar"]
    with E.no_grad():
        assert not E.is_grad_enabled()
        assert other.is_grad_enabled(), "one engine's no_grad switched the other engine"
        seen = []
        thread = threading.Thread(target=lambda: seen.append(E.is_grad_enabled()))
        thread.start()
        thread.join()
        assert seen == [True], "no_grad leaked into another thread"
    assert E.is_grad_enabled()


def _torch_lerp(start: np.ndarray, end: np.ndarray, weight: np.ndarray | float,
                upstream: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    leaves = [torch.tensor(start, requires_grad=True), torch.tensor(end, requires_grad=True)]
    w = weight if isinstance(weight, float) else torch.tensor(weight, requires_grad=True)
    if not isinstance(weight, float):
        leaves.append(w)
    out = torch.lerp(leaves[0], leaves[1], w)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves]


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
values = st.floats(-10, 10, allow_nan=False, width=64)


@pytest.mark.parametrize("name", list(ENGINES))
@given(data=st.data())
def test_worked_example_lerp_matches_torch(name: str, data: st.DataObject) -> None:
    """``lerp`` with broadcast operands and a number or tensor weight: torch's values and
    gradients (to all three operands) in float64 on every engine."""
    E = ENGINES[name]
    shape = data.draw(shapes, label="shape")
    start = data.draw(hnp.arrays(np.float64, shape, elements=values), label="start")
    end = data.draw(hnp.arrays(np.float64, shape[1:], elements=values), label="end")
    weight = data.draw(st.one_of(st.floats(-1, 2, width=64),
                                 hnp.arrays(np.float64, shape[-1:], elements=values)),
                       label="weight")
    upstream = data.draw(hnp.arrays(np.float64, shape, elements=values), label="upstream")
    want, want_grads = _torch_lerp(start, end, weight, upstream)

    leaves = [E.tensor(start, requires_grad=True, dtype="float64"),
              E.tensor(end, requires_grad=True, dtype="float64")]
    w = weight if isinstance(weight, float) else E.tensor(weight, requires_grad=True,
                                                          dtype="float64")
    if not isinstance(weight, float):
        leaves.append(w)
    out = leaves[0].lerp(leaves[1], w)
    out.backward(upstream)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    for leaf, grad in zip(leaves, want_grads, strict=True):
        np.testing.assert_allclose(np.asarray(leaf.grad), grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(ENGINES))
def test_in_place_arithmetic_keeps_the_dtype(name: str) -> None:
    """``ints += 0.5`` is refused (its result is float), as torch refuses it; a write that
    casts (``fill_``, ``copy_``, an index write) and a narrower operand are fine."""
    E = ENGINES[name]
    ints = E.tensor([1, 2])
    for widen in (lambda t: t.add_(0.5), lambda t: t.mul_(E.tensor([1.5, 2.0])),
                  lambda t: t.div_(2)):
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
            widen(ints)
    with pytest.raises(RuntimeError, match="output type bool"):
        E.tensor([True, False]).add_(1)
    ints.add_(E.tensor([True, False]))
    ints.fill_(2.7)
    assert ints.tolist() == [2, 2] and ints.dtype == np.int64
    ints[0] = 5.9
    assert ints.tolist() == [5, 2]


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("alias", ["data", "detach"])
def test_a_write_into_the_node_backward_starts_from(name: str, alias: str) -> None:
    """``y = x.exp()`` saves its own output for backward; writing into ``y`` through an alias
    must not yield a gradient that disagrees with ``y``'s values without a word. The tensor
    engine refuses (it checks the root node's own memory, not only its parents': a mutation
    that dropped that check survived the suite); the torch engine refuses for ``detach()``
    (torch's version counter) and, for ``.data``, does what torch does (``.data`` is outside
    the version counter: the gradient uses the written values, documented); the scalar engine's
    aliases of a non-leaf are copies, so ``y`` keeps its values and the gradient is theirs."""
    E = ENGINES[name]
    x = E.tensor(np.array([0.5, 1.0]), dtype="float64", requires_grad=True)
    y = x.exp()
    (y.data if alias == "data" else y.detach()).add_(1.0)
    refuses = name == "tensor" or (name == "torch" and alias == "detach")
    if refuses:
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward(np.ones(2))
        return
    y.backward(np.ones(2))
    if name == "scalar":
        np.testing.assert_allclose(y.numpy(), np.exp([0.5, 1.0]), rtol=0, atol=0)
    np.testing.assert_allclose(x.grad.numpy(), y.numpy(), rtol=1e-15)
