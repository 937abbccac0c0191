"""dtype behaviour of the tensor engine.

float32 is the default and must survive every op, including mixing with Python numbers
and numpy scalars (NumPy 2 would otherwise promote ``float32 * np.float64(2)`` to float64
and silently double the cost of everything downstream). Gradients have their tensor's dtype.
"""

import numpy as np
import pytest
import torch

import tensor_engine as te
from tensor_engine import fused

RNG = np.random.default_rng(1234)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((4,))
SQUARE = RNG.standard_normal((4, 4))
MASK = RNG.random((3, 4)) > 0.5
TARGETS = np.array([0, 3, 1])

# name -> function of (E, x, y, w), where E is tensor_engine or a torch shim, x (3, 4),
# y (4,), w (4, 4). Each returns a tensor; together they cover every differentiable op.
OPS = {
    "add number": lambda E, x, y, w: x + 2,
    "add numpy scalar": lambda E, x, y, w: x + np.float64(0.5),
    "radd numpy scalar": lambda E, x, y, w: np.float64(0.5) + x,
    "sub broadcast": lambda E, x, y, w: x - y,
    "rsub number": lambda E, x, y, w: 1.0 - x,
    "mul numpy scalar": lambda E, x, y, w: x * np.float64(3.0),
    "rmul numpy sqrt": lambda E, x, y, w: np.sqrt(np.float64(2.0)) * x,
    "div numpy scalar": lambda E, x, y, w: x / np.sqrt(64),
    "rdiv number": lambda E, x, y, w: 1.0 / (x * x + 1.0),
    "div tensors": lambda E, x, y, w: x / (y * y + 1.0),
    "neg": lambda E, x, y, w: -x,
    "pow int": lambda E, x, y, w: x**3,
    "pow numpy float": lambda E, x, y, w: (x * x + 1.0) ** np.float64(0.5),
    "matmul 2d": lambda E, x, y, w: x @ w,
    "matmul 1d": lambda E, x, y, w: x @ y,
    "matmul batched": lambda E, x, y, w: E.stack([x, x], 0) @ w,
    "exp": lambda E, x, y, w: x.exp(),
    "log": lambda E, x, y, w: (x * x + 1.0).log(),
    "sqrt": lambda E, x, y, w: (x * x + 1.0).sqrt(),
    "tanh": lambda E, x, y, w: x.tanh(),
    "relu": lambda E, x, y, w: x.relu(),
    "sigmoid": lambda E, x, y, w: x.sigmoid(),
    "sum dim": lambda E, x, y, w: x.sum(1),
    "sum all": lambda E, x, y, w: x.sum(),
    "mean tuple": lambda E, x, y, w: x.mean((0, 1), keepdim=True),
    "max dim": lambda E, x, y, w: E.max(x, -1),
    "reshape": lambda E, x, y, w: x.reshape(2, -1),
    "transpose": lambda E, x, y, w: x.transpose(0, 1),
    "T": lambda E, x, y, w: x.T,
    "permute": lambda E, x, y, w: x.unsqueeze(0).permute(2, 0, 1),
    "squeeze": lambda E, x, y, w: x.unsqueeze(1).squeeze(1),
    "split": lambda E, x, y, w: x.split(2, 1)[1],
    "getitem": lambda E, x, y, w: x[1:, None, ::2],
    "gather": lambda E, x, y, w: x[[0, 2, 2]],
    "masked_fill": lambda E, x, y, w: x.masked_fill(E.mask(MASK), -1e9),
    "where": lambda E, x, y, w: E.where(MASK, x, 0.0),
    "cat": lambda E, x, y, w: E.cat([x, x], 0),
}
FUSED = {
    "softmax": lambda x: fused.softmax(x, 0),
    "log_softmax": lambda x: fused.log_softmax(x),
    "cross_entropy": lambda x: fused.cross_entropy(x, TARGETS),
    "layer_norm": lambda x: fused.layer_norm(x, te.ones(4), te.zeros(4)),
    "gelu": lambda x: fused.gelu(x),
}
TORCH_FUSED = {
    "softmax": lambda x: torch.softmax(x, 0),
    "log_softmax": lambda x: torch.log_softmax(x, -1),
    "cross_entropy": lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(TARGETS)),
    "layer_norm": lambda x: torch.nn.functional.layer_norm(x, (4,)),
    "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
}


class EngineShim:
    """The engine functions OPS use, plus the two spots where torch's API differs."""

    stack, cat, where = staticmethod(te.stack), staticmethod(te.cat), staticmethod(te.where)

    @staticmethod
    def mask(m):
        return m

    @staticmethod
    def max(x, dim):
        return x.max(dim).values


class TorchShim:
    """Just enough of the engine module-level API to run OPS on torch tensors."""

    @staticmethod
    def mask(m):
        return torch.as_tensor(m)

    @staticmethod
    def max(x, dim):
        return x.max(dim).values

    @staticmethod
    def stack(ts, dim):
        return torch.stack(ts, dim)

    @staticmethod
    def cat(ts, dim):
        return torch.cat(ts, dim)

    @staticmethod
    def where(cond, a, b):
        return torch.where(torch.as_tensor(cond), a, b)


def _leaves(dtype):
    return [te.tensor(a, requires_grad=True, dtype=dtype) for a in (X, Y, SQUARE)]


def _check_float32_run(out, leaves):
    assert out.dtype == np.float32
    out.sum().backward()
    for leaf in leaves:
        if leaf.grad is not None:
            assert leaf.grad.dtype == np.float32


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_stays_float32(name):
    leaves = _leaves(np.float32)
    _check_float32_run(OPS[name](EngineShim, *leaves), leaves)


@pytest.mark.parametrize("name", sorted(FUSED))
def test_fused_float32_stays_float32(name):
    x = te.tensor(X, requires_grad=True, dtype=np.float32)
    _check_float32_run(FUSED[name](x), [x])


def _torch_out(name, dtype):
    leaves = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in (X, Y, SQUARE)]
    if name in OPS:
        out = OPS[name](TorchShim, *[leaf.clone() for leaf in leaves])
    else:
        out = TORCH_FUSED[name](leaves[0])
    return out.detach().numpy()


@pytest.mark.parametrize("name", sorted(OPS) + sorted(FUSED))
def test_float32_values_match_torch_float32(name):
    leaves = _leaves(np.float32)
    out = OPS[name](EngineShim, *leaves) if name in OPS else FUSED[name](leaves[0])
    want = _torch_out(name, torch.float32)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6 * scale)


def test_default_dtypes():
    assert te.tensor([1, 2]).dtype == np.int64  # as torch infers them
    assert te.tensor([True, False]).dtype == np.bool_
    assert te.tensor([1, 2.5]).dtype == np.float32
    assert te.tensor(np.arange(3, dtype=np.int32)).dtype == np.int64
    assert te.tensor(2.5).dtype == np.float32
    assert te.tensor(np.arange(3, dtype=np.float32)).dtype == np.float32
    assert te.tensor(np.arange(3, dtype=np.float64)).dtype == np.float64  # like from_numpy
    assert te.tensor(np.arange(3, dtype=np.float64), dtype=np.float32).dtype == np.float32
    assert te.tensor([1.0], dtype="float64").dtype == np.float64
    assert te.zeros((2, 3)).dtype == np.float32
    assert te.ones(3, dtype=np.float64).dtype == np.float64


def test_bad_dtype_is_type_error():
    with pytest.raises(TypeError, match="int32"):
        te.tensor([1.0], dtype=np.int32)
    with pytest.raises(TypeError, match="numeric"):
        te.tensor(["a", "b"])


@pytest.mark.parametrize("name", sorted(OPS))
def test_float64_on_request_stays_float64(name):
    leaves = _leaves(np.float64)
    out = OPS[name](EngineShim, *leaves)
    assert out.dtype == np.float64
    out.sum().backward()
    assert all(leaf.grad is None or leaf.grad.dtype == np.float64 for leaf in leaves)


def test_mixed_dtypes_promote_and_grads_keep_their_dtype():
    a = te.tensor(X, requires_grad=True, dtype=np.float32)
    b = te.tensor(X, requires_grad=True, dtype=np.float64)
    out = a * b + (a @ b.T.sum(1))[:, None]
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_backward_grad_argument_is_cast_to_tensor_dtype():
    x = te.tensor(X, requires_grad=True, dtype=np.float32)
    (x * 2).backward(np.ones((3, 4), dtype=np.float64))
    assert x.grad.dtype == np.float32
