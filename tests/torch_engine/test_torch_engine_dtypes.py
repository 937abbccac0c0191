"""torch_engine's dtype model and the primitives the protocol added, beyond what the
equivalence suite compares with PyTorch op by op: engine_api's default float (not torch's),
``.grad`` as a Tensor around torch's gradient (no copy), the overrides of engine_api's
derived methods (comparisons, argmax, any/all) giving exactly engine_api's results,
cumsum / log1p / _scatter_add and their gradients in float64, and the device a result lives
on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

import torch_engine as pe
from engine_api import TensorMethods, errors, rules
from engine_api.dtypes import get_default_dtype, set_default_dtype

INT64, BOOL = np.dtype("int64"), np.dtype("bool")
FLOAT32, FLOAT64 = np.dtype("float32"), np.dtype("float64")


@pytest.fixture
def float64_default() -> Iterator[None]:
    """engine_api's default float dtype set to float64 for one test (torch's stays)."""
    before = get_default_dtype()
    set_default_dtype(np.float64)
    try:
        yield
    finally:
        set_default_dtype(before)


def leaf(values: Any) -> pe.Tensor:
    return pe.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# --------------------------------------------------------------------------- dtypes


def test_int_and_bool_tensors_hold_their_dtype_in_torch() -> None:
    ints, bools = pe.tensor([1, -2, 3]), pe.tensor([True, False])
    assert ints.to_torch().dtype == torch.int64 and bools.to_torch().dtype == torch.bool
    assert ints.numpy().dtype == INT64 and bools.numpy().dtype == BOOL
    assert type(ints[0].item()) is int and type(bools[0].item()) is bool
    assert repr(ints) == "torch_engine.tensor([ 1, -2,  3], dtype=int64)"
    assert repr(bools) == "torch_engine.tensor([ True, False], dtype=bool)"
    assert repr(pe.tensor([1.5])) == "torch_engine.tensor([1.5000])"
    assert repr(leaf([1.5])) == "torch_engine.tensor([1.5000], dtype=float64, requires_grad=True)"
    assert repr(leaf([1.5]) * 2).endswith("dtype=float64, grad_fn=<MulBackward0>)")


def test_the_default_float_is_engine_apis_not_torchs(float64_default: None) -> None:
    """Where a float is made up, it is engine_api's default float (torch's stays float32)."""
    assert torch.get_default_dtype() == torch.float32
    n = pe.tensor([1, 2, 3])
    made_up = {
        "tensor of floats": pe.tensor([1.5]), "zeros": pe.zeros(2), "ones": pe.ones(2),
        "int * 0.5": n * 0.5, "0.5 * int": 0.5 * n, "int / int": n / n, "int / 2": n / 2,
        "bool / bool": pe.tensor([True]) / pe.tensor([True]), "int - 0.5": n - 0.5,
        "exp of ints": n.exp(), "log1p of bools": pe.tensor([True]).log1p(),
        "int ** 0.5": n ** 0.5, "clamp with a float bound": n.clamp(max=2.5),
        "where with a float number": pe.where(n > 1, n, 0.5),
    }
    for name, got in made_up.items():
        assert got.dtype == FLOAT64, name
    assert (pe.tensor([1.0], dtype="float32") * n).dtype == FLOAT32  # a float tensor decides


def test_promotion_and_subtraction_with_bools() -> None:
    f32, f64 = pe.ones(2), pe.ones(2, dtype="float64")
    n, b = pe.tensor([3, 4]), pe.tensor([True, False])
    assert (f32 + f64).dtype == FLOAT64 and (f32 + n).dtype == FLOAT32
    assert (f32 * pe.tensor(2.0, dtype="float64")).dtype == FLOAT32  # a 0-d tensor: same kind
    assert (n * pe.tensor(2.0, dtype="float64")).dtype == FLOAT64  # a 0-d tensor lifts ints
    assert (n + b).dtype == INT64 and (b + b).dtype == BOOL and (b * True).dtype == BOOL
    assert (n + [1, 2]).dtype == INT64 and (f32 + [0.5, 1.0]).dtype == FLOAT64  # lists: arrays
    # torch refuses every bool in ``-``; the protocol only bool - bool: the bool counts 0 / 1
    assert (f32 - b).tolist() == [0.0, 1.0] and (b - f32).tolist() == [0.0, -1.0]
    assert (n - b).tolist() == [2, 4] and (n - True).tolist() == [2, 3]
    assert (f32 - True).tolist() == [0.0, 0.0] and (True - n).dtype == INT64
    assert (b - 1).tolist() == [0, -1] and (b - 1).dtype == INT64


def test_a_graph_mixing_floats_and_ints_reaches_the_floats_only() -> None:
    x, n = leaf([1.0, -2.0]), pe.tensor([3, 4])
    y = (x * n - n / 2 + (x > 0)).sum()
    y.backward()
    assert x.grad.tolist() == [3.0, 4.0] and n.grad is None and not n.requires_grad


def test_int_powers_and_clamp() -> None:
    n = pe.tensor([-3, 0, 2])
    assert (n ** 2).tolist() == [9, 0, 4] and (n ** 2).dtype == INT64
    assert (n ** np.int64(3)).dtype == INT64 and (pe.tensor([True]) ** 2).dtype == INT64
    assert (n ** 2.0).dtype == FLOAT32 and (n ** 0).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match=errors.NEGATIVE_INT_POWER):
        n ** -2
    assert n.clamp(-1, 1).tolist() == [-1, 0, 1] and n.clamp(-1, 1).dtype == INT64
    assert n.clamp(min=-1.5).dtype == FLOAT32 and pe.tensor([True]).clamp(0, 3).dtype == INT64
    assert n.abs().dtype == INT64 and n.relu().tolist() == [0, 0, 2] and (-n).dtype == INT64


def test_float_only_reductions_refuse_ints_before_torch() -> None:
    for name in ("mean", "var", "std"):
        with pytest.raises(RuntimeError, match=rf"^{name}\(\): input dtype must be float32 or "
                                               "float64, got int64"):
            getattr(pe.tensor([1, 2]), name)()
    assert pe.tensor([True, True, False]).sum().item() == 2
    assert pe.tensor([[1, 2], [3, 4]]).max().dtype == INT64


def test_conversions_into_and_out_of_ints_are_constants() -> None:
    x = leaf([0.7, -1.5, 0.0])
    as_int = x.long()
    assert as_int.tolist() == [0, -1, 0] and as_int.dtype == INT64 and as_int.is_leaf
    assert x.bool().tolist() == [True, True, False] and not x.bool().requires_grad
    back = as_int.double()
    assert back.dtype == FLOAT64 and not back.requires_grad
    as_float = x.float()
    assert as_float.requires_grad and as_float.dtype == FLOAT32  # float to float: the graph
    as_float.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0] and x.grad.dtype == FLOAT64
    assert x.double() is x and as_int.long() is as_int and as_int.to("cpu") is as_int


def test_cat_stack_where_and_matmul_promote() -> None:
    n, f = pe.tensor([1, 2]), leaf([0.5, 1.5])
    assert pe.cat([n, f]).dtype == FLOAT64 and pe.cat([n, pe.tensor([True])]).dtype == INT64
    joined = pe.stack([n, f])
    assert joined.dtype == FLOAT64 and joined.tolist() == [[1.0, 2.0], [0.5, 1.5]]
    joined.sum().backward()
    assert f.grad.tolist() == [1.0, 1.0]
    assert pe.where(pe.tensor([1, 0]), n, 7).tolist() == [1, 7]  # int condition: nonzero
    assert pe.where(np.array([True, False]), n, 7).dtype == INT64
    assert pe.where(np.array([True, False]), 1.0, 2.0).dtype == FLOAT32
    assert pe.where(np.array([True, False]), n, True).dtype == INT64
    m = pe.tensor([[1, 2], [3, 4]])
    assert (m @ m).tolist() == [[7, 10], [15, 22]] and (m @ m).dtype == INT64
    b = pe.tensor([[True, False], [False, False]])
    assert (b @ b).dtype == BOOL and (b @ b).tolist() == [[True, False], [False, False]]
    assert (m @ pe.tensor([0.5, 1.0], dtype="float64")).dtype == FLOAT64


# --------------------------------------------------------------------------- .grad


def test_reading_grad_wraps_torchs_gradient_without_a_copy() -> None:
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    pe.reset_nodes_created()
    g = x.grad
    assert isinstance(g, pe.Tensor) and g.to_torch() is x.to_torch().grad  # the same tensor
    assert pe.nodes_created() == 0  # reading it is not an op
    assert g.numpy().ctypes.data == x.to_torch().grad.data_ptr()
    (x * x).sum().backward()  # torch accumulates in place: the earlier read sees the sum
    assert g.tolist() == [5.0, 7.0] and x.grad.tolist() == [5.0, 7.0]


def test_grad_setter_and_backward_take_tensors_and_arrays() -> None:
    x = leaf([1.0, 2.0])
    x.grad = pe.tensor([0.5, 0.5])
    assert x.grad.dtype == FLOAT64 and x.grad.tolist() == [0.5, 0.5]
    x.grad = [1.0, 1.0]
    (x * 2.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    assert x.grad is None
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        x.grad = np.ones(3)
    y = x * 2.0
    y.backward(pe.tensor([1.0, -1.0]))
    assert x.grad.tolist() == [2.0, -2.0]
    y = x * 2.0
    y.backward(np.array([1.0, 0.0]))
    assert x.grad.tolist() == [4.0, -2.0]


def test_arrays_share_memory_where_they_can() -> None:
    x = pe.tensor([1.0, 2.0])
    assert np.shares_memory(np.asarray(x, dtype=np.float32), x.numpy())  # no copy
    assert np.asarray(x, dtype=np.float64).dtype == FLOAT64
    values = np.array([3, 4], dtype=np.int64)
    new = x._new(values)
    assert new.dtype == INT64 and new.numpy().ctypes.data == values.ctypes.data
    assert x._new(np.array([1, 2], dtype=np.int32)).dtype == INT64
    assert x._new(np.array([True])).dtype == BOOL and not x._new(values).requires_grad
    read_only = np.arange(3.0)
    read_only.flags.writeable = False
    assert x._new(read_only).tolist() == [0.0, 1.0, 2.0]  # copied, no torch warning
    assert x._new(np.arange(4)[::-1]).tolist() == [3, 2, 1, 0]  # negative strides: copied


# --------------------------------------------------------------------------- derived overrides


def test_derived_methods_apply_where_not_overridden() -> None:
    """The engine keeps only primitives and deliberate overrides: max/min, the comparison
    dunders and sort/argsort/topk (whose stable order is the contract) are engine_api's."""
    for name in ("max", "min", "sort", "argsort", "topk", "__eq__", "__lt__", "__ge__",
                 "__hash__", "eq", "gt", "item"):
        assert name not in pe.Tensor.__dict__, name
    for name in ("_nondiff", "argmax", "argmin", "any", "all", "_extreme", "_scatter_add",
                 "_where", "_new", "_to", "cumsum", "log1p"):
        assert name in pe.Tensor.__dict__, name


TRICKY = {
    "ties": np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 2.0], [-5.0, 0.0, -5.0, 0.0]]),
    "nan": np.array([[1.0, np.nan, 3.0, np.nan], [0.0, -1.0, 0.0, -1.0],
                     [np.nan, 0.0, np.nan, 1.0]]),
    "ints": np.array([[3, 1, 3], [-2, -2, 5]]),
    "bools": np.array([[False, True, True], [False, False, False]]),
    "0-d": np.array(2.5),
    "one column": np.array([[4], [4], [1]], dtype=np.float32),
}


def _arg_calls() -> Iterator[tuple[str, dict]]:
    for name in ("argmax", "argmin", "any", "all"):
        yield name, {}
        yield name, {"keepdim": True}
        for dim in (0, -1, 1):
            yield name, {"dim": dim}
            yield name, {"dim": dim, "keepdim": True}
    yield "any", {"dim": (0, 1)}
    yield "all", {"dim": ()}


def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple:
    """What ``fn(*args, **kwargs)`` gives: a Tensor's dtype, shape, values and grad flag, or
    the error's type and message."""
    try:
        out = fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - the errors are compared
        return ("raised", type(err), str(err))
    return ("value", out.dtype, out.shape, out.numpy().tolist(), out.requires_grad)


@pytest.mark.parametrize("case", list(TRICKY))
def test_torch_overrides_give_engine_apis_results(case: str) -> None:
    """argmax/argmin/any/all by torch's kernels: the same dtype, shape, values and errors as
    engine_api's numpy versions (first extreme wins, the first NaN wins)."""
    x = pe.tensor(TRICKY[case])
    for name, kwargs in _arg_calls():
        ours = _outcome(getattr(x, name), **kwargs)
        derived = _outcome(getattr(TensorMethods, name), x, **kwargs)
        assert ours == derived, (name, kwargs)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_extremes_of_nothing_are_refused_alike(name: str) -> None:
    empty = pe.zeros((0, 3))
    for kwargs in ({}, {"dim": 1}):
        ours = _outcome(getattr(empty, name), **kwargs)
        assert ours[:2] == ("raised", ValueError)
        assert ours == _outcome(getattr(TensorMethods, name), empty, **kwargs)


OPERANDS: dict[str, Callable[[], Any]] = {
    "float tensor": lambda: pe.tensor([[0.5], [2.0]]),
    "int tensor": lambda: pe.tensor([1, 0, 3]),
    "bool tensor": lambda: pe.tensor([True, False, True]),
    "float number": lambda: 1.0,
    "fractional number": lambda: 0.5,
    "int number": lambda: 1,
    "bool number": lambda: True,
    "numpy number": lambda: np.float64(2.0),
    "list": lambda: [0, 1, 3],
    "float array": lambda: np.array([[1.0, 0.0, 3.0]]),
    "bad shape": lambda: np.ones(4),
    "string": lambda: "x",
    "None": lambda: None,
}
SELVES: dict[str, Callable[[], Any]] = {
    "float": lambda: pe.tensor([1.0, 0.0, 3.0]),
    "float64": lambda: pe.tensor([[1.0, np.nan, -np.inf]], dtype="float64"),
    "int": lambda: pe.tensor([1, 0, 3]),
    "bool": lambda: pe.tensor([True, False, True]),
}
BINARY = ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
          "__and__", "__or__", "__xor__")
UNARY = ("logical_not", "isnan", "isinf", "isfinite", "__invert__")


@pytest.mark.parametrize("self_kind", list(SELVES))
def test_nondiff_by_torch_gives_engine_apis_results(self_kind: str) -> None:
    """Comparisons and logic through torch's functions: bool tensors (int64 for ``&`` of
    ints) with engine_api's numpy results, and the same errors, for every kind of operand."""
    x = SELVES[self_kind]()
    derived = TensorMethods._nondiff
    for name in BINARY:
        for operand_kind, operand in OPERANDS.items():
            ours = _outcome(getattr(x, name), operand())
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(pe.Tensor, "_nondiff", derived)
                want = _outcome(getattr(x, name), operand())
            assert ours == want, (name, operand_kind)
    for name in UNARY:
        ours = _outcome(getattr(x, name))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pe.Tensor, "_nondiff", derived)
            want = _outcome(getattr(x, name))
        assert ours == want, name


def test_comparisons_of_ints_with_floats_are_exact() -> None:
    big = pe.tensor([2**24 + 1])
    assert not (big == float(2**24)).item() and (big > float(2**24)).item()


# --------------------------------------------------------------------------- new primitives


def test_cumsum_values_and_gradient() -> None:
    """The gradient of a cumulative sum is the reversed cumulative sum of the upstream
    gradient, checked against the formula and a finite difference, in float64."""
    values = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.5]])
    upstream = np.array([[1.0, -2.0, 0.5], [0.0, 1.5, 3.0]])
    for dim in (0, 1, -1):
        x = leaf(values)
        out = x.cumsum(dim)
        np.testing.assert_allclose(out.numpy(), np.cumsum(values, axis=dim % 2), rtol=1e-15)
        out.backward(upstream)
        axis = dim % 2
        want = np.flip(np.cumsum(np.flip(upstream, axis), axis=axis), axis)
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-15)
        eps, probe = 1e-6, (1, 0)
        bumped = values.copy()
        bumped[probe] += eps
        numeric = ((np.cumsum(bumped, axis=axis) - np.cumsum(values, axis=axis)) * upstream
                   ).sum() / eps
        assert abs(numeric - x.grad.numpy()[probe]) < 1e-6
    assert pe.tensor([True, True, False]).cumsum(0).tolist() == [1, 2, 2]
    assert pe.tensor([[1, 2]]).cumsum(-1).dtype == INT64
    assert pe.tensor(3.0).cumsum(0).item() == 3.0 and pe.tensor(3.0).cumsum(-1).shape == ()
    with pytest.raises(ValueError, match="dim 2"):
        pe.tensor([1.0]).cumsum(2)


def test_log1p_is_precise_and_its_gradient_is_one_over_one_plus_x() -> None:
    x = leaf([1e-20, -0.5, 3.0])
    out = x.log1p()
    assert out.numpy()[0] == 1e-20  # log(1 + 1e-20) would be 0
    np.testing.assert_allclose(out.numpy()[1:], np.log1p([-0.5, 3.0]), rtol=1e-15)
    out.backward(np.array([1.0, 2.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0 / 0.5, -1.0 / 4.0], rtol=1e-15)
    assert pe.tensor([0, 1]).log1p().dtype == FLOAT32
    with pytest.raises(ValueError, match=r"log1p: input contains -1\.5"):
        pe.tensor([-1.5]).log1p()


def test_scatter_add_accumulates_and_its_gradient_reaches_both() -> None:
    """Repeated positions add up (``np.add.at``); the gradient reaches self whole and
    ``src`` gathered at the positions."""
    base = np.arange(6.0).reshape(2, 3)
    src_values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    rows = np.array([[0, 0, 1], [1, 0, 1]])
    cols = np.array([[0, 0, 2], [1, 1, 2]])
    x, src = leaf(base), leaf(src_values)
    out = x._scatter_add((rows, cols), src)
    want = base.copy()
    np.add.at(want, (rows, cols), src_values)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-15)
    np.testing.assert_array_equal(x.numpy(), base)  # out of place
    upstream = np.array([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]])
    out.backward(upstream)
    np.testing.assert_array_equal(x.grad.numpy(), upstream)
    np.testing.assert_array_equal(src.grad.numpy(), upstream[rows, cols])
    n = pe.tensor([[0, 0, 0], [0, 0, 0]])
    counted = n._scatter_add((rows, cols), pe.tensor([[1, 1, 1], [1, 1, 1]]))
    assert counted.dtype == INT64 and counted.tolist() == [[2, 1, 0], [0, 1, 2]]
    assert pe.zeros((2, 3))._scatter_add((rows, cols), src).dtype == FLOAT64  # promotes
    assert n._scatter_add((rows, cols), pe.ones((2, 3))).dtype == FLOAT32
    via_method = x.detach().scatter_add(1, pe.tensor([[0, 0, 2], [1, 1, 1]]), src)
    assert via_method.tolist() == [[3.0, 1.0, 5.0], [3.0, 19.0, 5.0]]


# --------------------------------------------------------------------------- indexing and masks


def test_masks_and_index_tensors() -> None:
    x = pe.tensor(np.array([[1.0, -2.0], [3.0, -4.0]]))
    assert x[x > 0].tolist() == [1.0, 3.0]  # a bool Tensor is a mask
    assert x[pe.tensor([1, 1, 0])].shape == (3, 2)  # an int64 Tensor gathers
    assert x[pe.tensor([True, False])].tolist() == [[1.0, -2.0]]
    assert x[[True, False]].tolist() == [[1.0, -2.0]]  # a list of bools is a mask too
    assert x[:, pe.tensor(1)].tolist() == [-2.0, -4.0]
    n = pe.tensor([5, 6, 7])
    assert n[n > 5].tolist() == [6, 7] and n[pe.tensor([2])].dtype == INT64
    n[n > 5] = 2.7  # cast to the tensor's dtype
    assert n.tolist() == [5, 2, 2] and n.dtype == INT64
    n[pe.tensor([0])] = pe.tensor([9.0])
    assert n.tolist() == [9, 2, 2]


def test_setitem_is_recorded_on_tensors_that_require_grad() -> None:
    w = leaf([1.0, -2.0, 3.0])
    h = w * 2.0
    h[h < 0] = 0.0
    v = leaf([10.0])
    h[pe.tensor([2])] = v * 1.0
    h.sum().backward()
    assert h.tolist() == [2.0, 0.0, 10.0]
    assert w.grad.tolist() == [2.0, 0.0, 0.0] and v.grad.tolist() == [1.0]
    with pytest.raises(RuntimeError, match=errors.LEAF_INPLACE):
        w[w > 0] = 1.0
    with pe.no_grad():
        w[w > 0] = 1.0
    assert w.tolist() == [1.0, -2.0, 1.0]


def test_masked_fill_on_int_and_bool_tensors() -> None:
    n = pe.tensor([1, 2, 3])
    filled = n.masked_fill(pe.tensor([True, False, True]), 7.9)
    assert filled.tolist() == [7, 2, 7] and filled.dtype == INT64
    assert n.masked_fill(np.array([0, 1, 0]), -1).tolist() == [1, -1, 3]
    b = pe.tensor([True, True])
    assert b.masked_fill(np.array([True, False]), 0).tolist() == [False, True]
    f = leaf([1.0, 2.0])
    value = leaf([5.0])
    out = f.masked_fill(pe.tensor([False, True]), value[0])
    out.sum().backward()
    assert out.tolist() == [1.0, 5.0]
    assert value.grad.tolist() == [1.0] and f.grad.tolist() == [1.0, 0.0]
    n.masked_fill_(n > 1, 0)
    assert n.tolist() == [1, 0, 0]
    assert pe.tensor([[1, 2], [3, 4]]).tril().tolist() == [[1, 0], [3, 4]]


# --------------------------------------------------------------------------- fused and devices


def test_fused_cross_entropy_takes_int64_tensor_targets() -> None:
    logits = leaf([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]])
    from_tensor = pe.fused.cross_entropy(logits, pe.tensor([1, 2]))
    from_list = pe.fused.cross_entropy(logits, [1, 2])
    assert from_tensor.item() == from_list.item()
    mask = pe.tensor([[True, False], [True, True]])
    q = leaf(np.ones((1, 2, 2)))
    out = pe.fused.scaled_dot_product_attention(q, q, q, mask=mask)
    assert out.shape == (1, 2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_results_stay_on_the_tensors_device() -> None:
    x = pe.tensor([[1.0, 5.0], [3.0, 2.0]], device="cuda")
    n = pe.tensor([[1, 2], [3, 4]], device="cuda")
    for result in (x < 2.0, x.eq([1.0, 2.0]), x.isnan(), ~(x > 1), x.argmax(), x.argmax(1),
                   x.max(1).indices, x.any(), x.all(1), n @ n, n.cumsum(0), x[x > 1],
                   x[pe.tensor([1], device="cuda")], x.masked_fill(np.eye(2, dtype=bool), 0.0),
                   pe.where(x > 2, x, 0.0), x._new(np.ones(2))):
        assert result.device.type == "cuda"
    assert (n @ n).tolist() == [[7, 10], [15, 22]]
    x = pe.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.device.type == "cuda" and x.grad.tolist() == [2.0, 4.0]


def test_rules_messages_are_the_ones_raised() -> None:
    """The comparison of shapes that do not broadcast raises rules' ValueError, naming
    torch's function (as engine_api's _nondiff names it)."""
    with pytest.raises(ValueError) as caught:
        pe.tensor([1, 2]).logical_or(pe.tensor([True, False, True]))
    assert str(caught.value) == str(rules.broadcast_error("logical_or", (2,), (3,)))
