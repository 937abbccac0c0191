"""The tensor engine's dtype model against PyTorch: four dtypes, torch's promotion.

numpy promotes differently from torch (``int64 * 0.5`` is float64 in numpy, float32 in
torch; ``float32 + float64 0-d`` is float64 in numpy, float32 in torch; ``int / int`` is
float64 in numpy, the default float in torch), so each operator here is run on every pair
of operand kinds, on the engine and on torch, and must give torch's dtype and values.
"""

import operator

import numpy as np
import pytest
import torch

import tensor_engine as te
from engine_api import errors
from engine_api.dtypes import get_default_dtype, set_default_dtype

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
                np.dtype(np.int64): torch.int64, np.dtype(np.bool_): torch.bool}
VALUES = {"float32": [1.5, -2.0, 3.0], "float64": [0.5, 4.0, -1.0], "int64": [3, -2, 5],
          "bool": [True, False, True]}

# operand kinds: a tensor with dims, a 0-d tensor, a Python number, a numpy scalar
OPERANDS = {
    **{f"{name} tensor": ("tensor", name, VALUES[name]) for name in VALUES},
    **{f"{name} 0-d": ("tensor", name, VALUES[name][1]) for name in VALUES},
    "python float": ("number", None, 2.5), "python int": ("number", None, 2),
    "python bool": ("number", None, True), "numpy float64": ("number", None, np.float64(0.25)),
    "numpy int64": ("number", None, np.int64(3)),
}
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


def build(kind, name, value, library):
    if kind == "number":
        return value
    dtype = np.dtype(name)
    if library == "torch":
        return torch.tensor(value, dtype=TORCH_DTYPES[dtype])
    return te.tensor(value, dtype=dtype)


def outcome(fn):
    try:
        return fn(), None
    except (RuntimeError, TypeError) as err:
        return None, err


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("left", [k for k in OPERANDS if OPERANDS[k][0] == "tensor"])
@pytest.mark.parametrize("right", sorted(OPERANDS))
def test_binary_ops_promote_as_torch(op, left, right):
    """tensor op x and x op tensor: torch's dtype and values, or an error where torch has one
    (subtracting bools is refused by both)."""
    fn = OPS[op]
    for a, b in ((left, right), (right, left)):
        mine, my_err = outcome(lambda a=a, b=b: fn(build(*OPERANDS[a], "te"),
                                                   build(*OPERANDS[b], "te")))
        want, torch_err = outcome(lambda a=a, b=b: fn(build(*OPERANDS[a], "torch"),
                                                      build(*OPERANDS[b], "torch")))
        if torch_err is not None:
            if my_err is None:  # torch refuses any bool in a subtraction; we, bool - bool only
                assert op == "sub", (a, b, torch_err)
                continue
            assert isinstance(my_err, TypeError) and str(my_err) == errors.BOOL_SUB
            continue
        assert my_err is None, (a, b, my_err)
        assert TORCH_DTYPES[mine.dtype] == want.dtype, (a, b, mine.dtype, want.dtype)
        np.testing.assert_allclose(mine.numpy().astype(np.float64),
                                   want.numpy().astype(np.float64), rtol=1e-6)


def test_python_numbers_never_change_a_float_tensors_dtype():
    for dtype in (np.float32, np.float64):
        x = te.tensor([1.0, 2.0], dtype=dtype)
        for number in (2, 2.5, True, np.float64(0.5), np.int64(2), np.float32(3.0)):
            for out in (x + number, number + x, x - number, number - x, x * number,
                        number * x, x / number, number / x):
                assert out.dtype == dtype


def test_int_and_bool_keep_their_dtype_where_torch_does():
    i, b = te.tensor([3, -2, 5]), te.tensor([True, False, True])
    assert (i * 2).dtype == (i + i).dtype == (i - 1).dtype == np.int64
    assert (b + b).dtype == (b * b).dtype == np.bool_
    np.testing.assert_array_equal((b + b).numpy(), [True, False, True])  # or
    assert (b + 1).dtype == np.int64
    assert (i * 0.5).dtype == (i / 2).dtype == (i / i).dtype == np.float32
    assert (b / te.tensor([True, True, True])).dtype == np.float32
    assert (i * te.tensor(0.5, dtype=np.float64)).dtype == np.float64  # a 0-d of a higher kind
    assert (te.tensor([1.0]) + te.tensor(2.0, dtype=np.float64)).dtype == np.float32
    assert (i @ i).dtype == np.int64 and (i @ i).item() == 38
    assert (i.reshape(3, 1) @ i.reshape(1, 3)).dtype == np.int64
    assert (te.tensor([[1.5]]) @ te.tensor([[2]])).dtype == np.float32


def test_refusals_name_the_op():
    b = te.tensor([True, False])
    for bad in (lambda: b - b, lambda: b - True, lambda: True - b):
        with pytest.raises(TypeError, match="subtraction of two bool tensors"):
            bad()
    with pytest.raises(TypeError, match="negation of a bool tensor"):
        _ = -b
    with pytest.raises(ValueError, match="negative integer powers"):
        te.tensor([2]) ** -1


def test_powers_of_ints():
    i = te.tensor([2, -3])
    assert (i ** 2).dtype == np.int64 and (i ** 2).tolist() == [4, 9]
    assert (i ** 0).tolist() == [1, 1] and (i ** np.int64(3)).tolist() == [8, -27]
    assert (i ** 2.0).dtype == np.float32 and (i ** 2.0).tolist() == [4.0, 9.0]
    assert (te.tensor([True, False]) ** 2).dtype == np.int64
    with pytest.raises(ValueError, match="integer exponent"):
        te.tensor([-4]) ** 0.5  # computed as a float tensor, with its domain check
    with pytest.raises(TypeError, match="exponent"):
        i ** i


def test_ints_and_bools_never_require_grad():
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        te.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        te.zeros(2, dtype="bool", requires_grad=True)
    i = te.tensor([1, 2])
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        i.requires_grad = True
    with pytest.raises(RuntimeError, match=errors.INT_GRAD):
        i.requires_grad_()
    i.requires_grad = False  # allowed: it changes nothing


def test_gradients_reach_only_the_float_operands():
    x = te.tensor([1.0, 2.0, 3.0], requires_grad=True)
    i, b = te.tensor([2, 3, 4]), te.tensor([True, False, True])
    out = (x * i + x / i - i * x * b + (i + x) ** 2).sum()
    out.backward()
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    it, bt = torch.tensor([2, 3, 4]), torch.tensor([True, False, True])
    (xt * it + xt / it - it * xt * bt + (it + xt) ** 2).sum().backward()
    assert i.grad is None and b.grad is None
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_a_mixed_op_casts_the_gradient_to_each_parents_dtype():
    a = te.tensor([1.0, 2.0], requires_grad=True)
    b = te.tensor(3.0, requires_grad=True, dtype=np.float64)
    out = a * b  # float32: the 0-d float64 does not promote
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert b.grad.item() == 3.0


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "sin",
                                  "cos", "erf"])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_float_functions_compute_ints_in_the_default_float(name, dtype):
    values = [1, 2, 3] if dtype == "int64" else [True, name == "log", True]
    out = getattr(te.tensor(values), name)()
    want = getattr(torch.tensor(values), name)()
    assert out.dtype == np.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("call", [lambda t: t.mean(), lambda t: t.var(), lambda t: t.std(),
                                  lambda t: t.softmax(0), lambda t: t.log_softmax(0),
                                  lambda t: te.fused.softmax(t)])
def test_float_only_reductions_refuse_ints(call):
    for t in (te.tensor([1, 2]), te.tensor([True, False])):
        with pytest.raises(RuntimeError, match="input dtype must be float32 or float64"):
            call(t)


def test_ops_that_keep_int64():
    i = te.tensor([-3, 0, 5])
    assert i.relu().tolist() == [0, 0, 5] and i.relu().dtype == np.int64
    assert i.abs().tolist() == [3, 0, 5] and (-i).tolist() == [3, 0, -5]
    assert i.clamp(-1, 2).tolist() == [-1, 0, 2] and i.clamp(-1, 2).dtype == np.int64
    assert i.clamp(max=np.int64(1)).dtype == np.int64
    assert i.clamp(min=0.5).dtype == np.float32 and i.clamp(min=0.5).tolist() == [0.5, 0.5, 5]
    assert te.tensor([True, False]).clamp(0, 1).dtype == np.int64  # as torch
    assert i.sum().dtype == te.tensor([True, True]).sum().dtype == np.int64
    assert te.tensor([True, True]).sum().item() == 2
    assert i.max().dtype == np.int64 and i.max().item() == 5 and i.min(0).values.item() == -3


def test_where_cat_and_stack_promote():
    i, b, f = te.tensor([1, 2]), te.tensor([True, False]), te.tensor([0.5, 1.5])
    d = te.tensor([1.0, 2.0], dtype=np.float64)
    assert te.where(b, i, 0.5).dtype == np.float32
    assert te.where(b, i, 7).dtype == np.int64 and te.where(b, i, 7).tolist() == [1, 7]
    assert te.where(b, 1.0, 0.0).dtype == np.float32
    assert te.where(b, f, d).dtype == np.float64
    assert te.cat([i, f]).dtype == np.float32 and te.cat([i, b]).dtype == np.int64
    assert te.cat([f, d]).dtype == np.float64 and te.stack([b, b]).dtype == np.bool_
    x = te.tensor([1.0, 2.0], requires_grad=True)
    te.cat([x, i]).sum().backward()  # the gradient of the float piece, in its dtype
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1.0, 1.0]


def test_the_default_float_dtype_decides_what_is_made_up():
    assert get_default_dtype() == np.float32
    try:
        set_default_dtype(np.float64)
        i = te.tensor([1, 2])
        assert te.tensor([1.5]).dtype == te.zeros(2).dtype == np.float64
        assert (i / 2).dtype == (i * 0.5).dtype == i.exp().dtype == np.float64
        assert te.tensor([1.0], dtype=np.float32).dtype == np.float32
        assert "dtype" not in repr(te.tensor([1.5]))
    finally:
        set_default_dtype(np.float32)


def test_conversions():
    x = te.tensor([1.7, -1.7, 0.0, np.inf], requires_grad=True)
    assert x[:3].long().tolist() == [1, -1, 0]  # truncated toward zero
    assert x.bool().tolist() == [True, True, False, True]
    assert x.to(np.float32) is x and x.float() is x
    assert not x[:3].long().requires_grad and x[:3].long().is_leaf
    i = te.tensor([1, 0, 2])
    assert i.bool().tolist() == [True, False, True] and i.float().dtype == np.float32
    assert i.double().dtype == np.float64 and not i.double().requires_grad
    y = x.to(np.float64)  # float -> float is in the graph
    (y[:3] * 2).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 2.0, 2.0, 0.0]


def test_inferred_dtypes_and_repr():
    assert te.tensor(5).dtype == np.int64 and te.tensor(True).dtype == np.bool_
    assert te.tensor([]).dtype == np.float32 and te.tensor(np.float64(2)).dtype == np.float64
    assert te.tensor(np.array([1, 2], dtype=np.uint8)).dtype == np.int64
    assert te.tensor(np.array([1, 2], dtype=np.float16)).dtype == np.float32
    assert te.tensor(te.tensor([1, 2])).dtype == np.int64
    assert te.tensor([1.7, -1.2], dtype="long").tolist() == [1, -1]
    assert te.ones(2, dtype=bool).tolist() == [True, True]
    assert te.tensor([7])[0].item() == 7 and isinstance(te.tensor([7]).item(), int)
    assert isinstance(te.tensor([True]).item(), bool)
    assert repr(te.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"
    assert repr(te.tensor([True])) == "tensor([ True], dtype=bool)"
    assert repr(te.tensor([1.5])) == "tensor([1.5])"


def test_relu_and_abs_refuse_bools_as_torch_does():
    b = te.tensor([True, False])
    for name in ("relu", "abs"):
        with pytest.raises(TypeError, match=f"{name}: not supported for bool tensors"):
            getattr(b, name)()
        with pytest.raises(RuntimeError, match="Bool|bool"):  # torch refuses them too
            getattr(torch.tensor([True, False]), name)()
