"""In-place ops and ``.data``, compared with torch: ``+= -= *= /=``, ``add_`` (with
``alpha``), ``sub_``, ``mul_``, ``div_``, ``fill_``, ``zero_``, ``copy_``, ``clamp_`` and
``x[index] = value``.

Torch's rules, which both engines follow:

* on a leaf that requires grad, an in-place op is allowed under ``no_grad`` (an optimizer
  step) and a RuntimeError in grad mode;
* on a recorded non-leaf in grad mode the tensor takes the result's place in the graph, so
  gradients flow as if ``x = x + y`` had been written;
* a write into values that a recorded graph read makes that graph's backward a RuntimeError
  (torch's version counter), never a silently wrong gradient;
* views and ``.data`` share storage: a write through them changes the tensor; a gather
  (``x[[0, 0]]``) is a copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .checker import BACKENDS, ENGINES, assert_close
from .modules import TorchModule, build, load_into_torch
from .test_autograd import run_script
from .test_models import torch_mlp

ALL = ("torch", *ENGINES)


@given(data=st.data(), alpha=st.floats(-2, 2))
def test_inplace_ops_on_a_recorded_tensor_follow_torch(data: st.DataObject, alpha: float) -> None:
    """A chain of in-place ops on a non-leaf: same values, and gradients to both leaves."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    a = data.draw(S.arrays(shape), label="a")
    b = data.draw(S.arrays(shape), label="b")
    c = data.draw(S.arrays(shape, S.away_from_zero()), label="c")

    def script(E, a, b, c):
        x = E.tensor(a, requires_grad=True)
        y = E.tensor(b, requires_grad=True)
        h = x * 1.5
        h.add_(y, alpha=alpha)
        h.sub_(y * 0.5)
        h.mul_(y)
        h.div_(E.tensor(c))
        h += 1.0
        h -= y
        h *= 2.0
        h /= 3.0
        h.clamp_(min=-1.0, max=1.0)
        (h * h).sum().backward()
        return {"h": h.numpy().copy(), "x.grad": x.grad, "y.grad": y.grad,
                "h is leaf": h.is_leaf, "h requires grad": h.requires_grad}

    run_script(script, a, b, c)


@given(data=st.data())
def test_inplace_op_on_a_constant_with_a_tracked_operand_records_a_node(
    data: st.DataObject,
) -> None:
    """``c = zeros(); c += w`` makes ``c`` a non-leaf through which ``w`` gets gradient."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    a = data.draw(S.arrays(shape), label="a")

    def script(E, a):
        w = E.tensor(a, requires_grad=True)
        c = E.zeros(w.shape)
        c += w
        c.mul_(w)
        c.sum().backward()
        return {"c": c.numpy().copy(), "w.grad": w.grad, "c is leaf": c.is_leaf,
                "c requires grad": c.requires_grad}

    run_script(script, a)


@given(data=st.data())
def test_writes_show_through_views_and_data_but_not_through_copies(
    data: st.DataObject,
) -> None:
    """``.data`` and basic-index views share storage with the tensor; a gather copies."""
    shape = data.draw(S.shapes(min_dims=1, min_side=1), label="shape")
    a = data.draw(S.arrays(shape), label="a")

    def script(E, a):
        p = E.tensor(a, requires_grad=True)
        with E.no_grad():
            p.mul_(2.0)
            p -= 0.5
        d = p.data
        d += 1.0
        d[0].fill_(3.0)
        gathered = p.data[[0, 0]]
        gathered += 100.0
        copied = E.zeros(p.shape)
        copied.copy_(p.data)
        copied.zero_()
        return {"p": p.numpy().copy(), "gathered": gathered.numpy().copy(),
                "copied": copied.numpy().copy(), "p is leaf": p.is_leaf,
                "p requires grad": p.requires_grad, "data requires grad": d.requires_grad}

    run_script(script, a)


INPLACE_CALLS = {
    "+=": lambda t: t.__iadd__(1.0),
    "-=": lambda t: t.__isub__(1.0),
    "*=": lambda t: t.__imul__(2.0),
    "/=": lambda t: t.__itruediv__(2.0),
    "add_": lambda t: t.add_(1.0, alpha=2.0),
    "sub_": lambda t: t.sub_(1.0),
    "mul_": lambda t: t.mul_(3.0),
    "div_": lambda t: t.div_(3.0),
    "fill_": lambda t: t.fill_(0.5),
    "zero_": lambda t: t.zero_(),
    "copy_": lambda t: t.copy_(np.ones(3)),
    "clamp_": lambda t: t.clamp_(min=1.5, max=2.5),
    "setitem": lambda t: t.__setitem__(slice(0, 2), 4.0),
}


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("op", list(INPLACE_CALLS))
def test_inplace_on_a_leaf_that_requires_grad_raises_in_grad_mode(backend: str, op: str) -> None:
    E = BACKENDS[backend]
    w = E.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        INPLACE_CALLS[op](w)
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0, 3.0])  # nothing was written
    with E.no_grad():
        INPLACE_CALLS[op](w)  # an optimizer step: allowed
    assert w.is_leaf and w.requires_grad


@pytest.mark.parametrize("backend", ALL)
def test_overwriting_values_a_graph_read_makes_backward_raise(backend: str) -> None:
    """torch's version-counter check: a constant and a parameter changed before backward."""
    E = BACKENDS[backend]
    w = E.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = E.tensor(np.array([4.0, 5.0, 6.0]))
    loss = (w * x).sum()
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    loss = (w * w).sum()
    with E.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    loss = (w * w).sum()  # recomputed after the write: fine
    loss.backward()
    assert_close(f"{backend}: grad after the update", w.grad, 2 * (np.array([1, 2, 3]) - 0.1))


@pytest.mark.parametrize("backend", ENGINES)
def test_inplace_on_a_non_leaf_the_graph_already_used_is_refused(backend: str) -> None:
    """Where torch would rewrite history under a consumer, the engines refuse loudly (a
    documented restriction: an out-of-place ``h = h + 1`` always works)."""
    E = BACKENDS[backend]
    w = E.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = w * 2.0
    used = h.exp()
    with pytest.raises(RuntimeError, match="recorded graph already uses"):
        h += 1.0
    with E.no_grad(), pytest.raises(RuntimeError, match="recorded graph already uses"):
        h.mul_(2.0)
    used.sum().backward()
    assert_close(f"{backend}: grad", w.grad, 2 * np.exp([2.0, 4.0]))


@pytest.mark.parametrize("backend", ENGINES)
def test_inplace_result_of_another_shape_is_a_value_error(backend: str) -> None:
    E = BACKENDS[backend]
    x = E.zeros(3)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        x += np.ones((2, 3))
    np.testing.assert_array_equal(x.numpy(), np.zeros(3))


# -- the manual SGD step, as PyTorch tutorials write it ---------------------------------------

STEPS = 20
LR = 0.1


def _manual_sgd(backend: str, use_data: bool) -> tuple[list[float], dict[str, np.ndarray]]:
    """20 steps of ``p -= lr * p.grad`` under no_grad (or ``p.data -= ...``) on a 4-5-3 MLP."""
    import shared_nn.models as models

    rng = np.random.default_rng(7)
    x, y = rng.uniform(-2, 2, (8, 4)), rng.integers(0, 3, 8)
    model = build(lambda **kw: models.MLP([4, 5, 3], activation="tanh", **kw), "tensor", 3)
    if backend == "torch":
        twin = load_into_torch(torch_mlp([4, 5, 3], "tanh", False), model.state_dict())
        model = TorchModule(twin)
    elif backend == "scalar":
        model = model.to_engine("scalar")
    E = BACKENDS[backend]
    params = [p for _, p in model.named_parameters()]
    losses = []
    for _ in range(STEPS):
        loss = E.F.cross_entropy(model(E.tensor(x)), y)
        loss.backward()
        if use_data:
            for p in params:
                p.data -= LR * p.grad
        else:
            with E.no_grad():
                for p in params:
                    p -= LR * p.grad
        for p in params:
            p.grad = None
        losses.append(loss.item())
    return losses, {name: np.array(p.numpy()) for name, p in model.named_parameters()}


@pytest.mark.parametrize("use_data", [False, True], ids=["no_grad", "data"])
def test_manual_sgd_step_trains_along_torchs_trajectory(use_data: bool) -> None:
    want_losses, want_params = _manual_sgd("torch", use_data)
    assert want_losses[-1] < 0.9 * want_losses[0], "the reference did not train"
    for backend in ENGINES:
        losses, params = _manual_sgd(backend, use_data)
        assert_close(f"{backend}: losses", losses, want_losses, rtol=1e-9, atol=1e-9)
        for name, want in want_params.items():
            assert_close(f"{backend}: {name}", params[name], want, rtol=1e-9, atol=1e-9)


def _torch_habits(E: Any, a: np.ndarray) -> dict[str, Any]:
    one = E.tensor(a[:1])
    return {"bool of one element": bool(one), "bool of 0.0": bool(E.tensor(np.array([0.0]))),
            "rows": [row.numpy().copy() for row in E.tensor(a.reshape(2, -1))],
            "sum over dim=()": E.tensor(a.reshape(2, -1)).sum(dim=()).numpy().copy()}


def test_truthiness_iteration_and_empty_dim_sum_follow_torch() -> None:
    a = np.array([0.5, -1.0, 2.0, 3.0])
    want = _torch_habits(BACKENDS["torch"], a)
    for backend in ENGINES:
        got = _torch_habits(BACKENDS[backend], a)
        assert got["bool of one element"] == want["bool of one element"]
        assert got["bool of 0.0"] is want["bool of 0.0"] is False
        for g, w in zip(got["rows"], want["rows"], strict=True):
            assert_close(f"{backend}: rows", g, w)
        assert_close(f"{backend}: sum(dim=())", got["sum over dim=()"], want["sum over dim=()"])


@pytest.mark.parametrize("backend", ALL)
def test_ambiguous_truthiness_and_iterating_a_0d_tensor_raise(backend: str) -> None:
    E = BACKENDS[backend]
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(E.tensor(np.array([1.0, 2.0])))
    with pytest.raises(TypeError, match="0-d tensor"):
        list(E.tensor(np.array(3.0)))


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("dtype", ["fp64", "bogus", "f4", "int32", "float16", np.int32, 3])
def test_a_dtype_argument_outside_the_documented_set_is_a_type_error(backend: str,
                                                                     dtype: Any) -> None:
    import shared_nn

    E = BACKENDS[backend]
    with pytest.raises(TypeError, match="dtype must be float32, float64, int64 or bool"):
        E.module.tensor([1.0], dtype=dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        shared_nn.Linear(2, 3, engine=E.engine, dtype=dtype)


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("dtype", ["int64", np.int64, int, "bool", bool])
def test_a_module_refuses_an_integer_dtype(backend: str, dtype: Any) -> None:
    """Parameters require grad, so a module's dtype is float32 or float64 only."""
    import shared_nn

    with pytest.raises(TypeError, match="float32 or float64"):
        shared_nn.Linear(2, 3, engine=BACKENDS[backend].engine, dtype=dtype)


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("float64"), "torch.float64"])
def test_documented_dtype_spellings_are_accepted(backend: str, dtype: Any) -> None:
    import torch

    E = BACKENDS[backend]
    dtype = torch.float64 if dtype == "torch.float64" else dtype
    assert E.module.tensor([1.0], dtype=dtype).dtype == np.float64


@pytest.mark.parametrize("backend", ENGINES)
@pytest.mark.parametrize("view", ["index", "reshape", "transpose", "slice"])
def test_inplace_on_a_view_of_a_recorded_tensor_is_refused(backend: str, view: str) -> None:
    """torch would write through the view into the base and rebase the base's history too;
    the engines cannot, so they refuse loudly rather than leave the base silently stale."""
    E = BACKENDS[backend]
    w = E.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    h = w * 2.0
    v = {"index": lambda: h[0], "reshape": lambda: h.reshape(4),
         "transpose": lambda: h.transpose(0, 1), "slice": lambda: h[:, 1:]}[view]()
    with pytest.raises(RuntimeError, match="view .* of a tensor that requires grad"):
        v += 1.0
    np.testing.assert_array_equal(h.numpy(), [[2.0, 4.0], [6.0, 8.0]])


@given(data=st.data())
def test_an_inplace_op_on_a_fresh_result_is_not_a_view(data: st.DataObject) -> None:
    """``y = x @ w; y += b`` (the engines may compute a product as a transposed view of a
    temporary: it is still a result of its own) and ``s = y * 3; s *= 2``. (Not on a result
    whose op saved its own output, like softmax: see docs/architecture.md.)"""
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(S.arrays((n, k)), label="a")
    b = data.draw(S.arrays((k, m)), label="b")
    c = data.draw(S.arrays((m,)), label="c")

    def script(E, a, b, c):
        x, w, bias = (E.tensor(v, requires_grad=True) for v in (a, b, c))
        y = x @ w
        y += bias
        s = y * 3.0
        s *= 2.0
        (s * y).sum().backward()
        return {"s": s.numpy().copy(), "x.grad": x.grad, "w.grad": w.grad,
                "bias.grad": bias.grad}

    run_script(script, a, b, c)


@st.composite
def setitem_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], Any, tuple[int, ...]]:
    """(shape, index, region shape): ints and slices, rows picked by distinct ids (torch
    leaves repeated ids in an assignment undefined), or a bool mask."""
    shape = draw(S.shapes(min_dims=1), label="shape")
    kind = draw(st.sampled_from(["basic", "rows", "mask"]), label="kind")
    if kind == "rows":
        ids = draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, unique=True), label="ids")
        index: Any = np.array(ids)
    elif kind == "mask":
        index = draw(hnp.arrays(np.bool_, shape), label="mask")
    else:
        index = tuple(draw(st.one_of(st.integers(-side, side - 1),
                                     st.builds(slice, st.integers(0, side), st.none(),
                                               st.sampled_from([None, 2]))))
                      for side in shape)
    return shape, index, np.empty(shape)[index].shape


@given(case=setitem_cases(), data=st.data())
def test_setitem_follows_torch(case: tuple, data: st.DataObject) -> None:
    """``h[index] = v`` on a recorded tensor (gradients reach the untouched elements and
    ``v``, broadcast from its last dim or whole), and on a buffer under ``no_grad`` written
    through a view as a KV cache is."""
    shape, index, region = case
    a = data.draw(S.arrays(shape), label="a")
    broadcast = len(region) > 0 and data.draw(st.booleans(), label="broadcast v")
    v = data.draw(S.arrays(region[-1:] if broadcast else region), label="v")

    def script(E, a, v):
        x = E.tensor(a, requires_grad=True)
        w = E.tensor(v, requires_grad=True)
        h = x * 1.5
        h[index] = w
        (h * h).sum().backward()
        with E.no_grad():
            buffer = E.zeros(shape)
            whole = buffer[...]
            buffer[index] = E.tensor(v)
            buffer[index] = 2.0 * buffer[index] - 1.0
        return {"h": h.numpy().copy(), "x.grad": x.grad, "w.grad": w.grad,
                "h is leaf": h.is_leaf, "buffer": buffer.numpy().copy(),
                "view": whole.numpy().copy()}

    run_script(script, a, v)


@pytest.mark.parametrize("backend", ENGINES)
def test_setitem_value_that_does_not_fit_is_a_value_error_naming_both_shapes(
        backend: str) -> None:
    E = BACKENDS[backend]
    buffer = E.zeros((3, 4))
    with pytest.raises(ValueError, match=r"value of shape \(3,\).*indexed shape \(4,\)"):
        buffer[0] = E.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"value of shape \(2, 4\).*indexed shape \(4,\)"):
        buffer[1] = E.tensor(np.ones((2, 4)))
    np.testing.assert_array_equal(buffer.numpy(), np.zeros((3, 4)))  # nothing was written
