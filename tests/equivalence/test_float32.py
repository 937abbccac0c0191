"""float32 on the tensor engine against torch float32: same dtypes, close values.

The rest of the suite compares in float64, where the engines must agree to 1e-10. This file
checks the other half of the dtype contract: a float32 tensor stays float32 through every op,
including ops with Python numbers and numpy float64 scalars (NumPy 2's promotion rules would
silently turn ``float32_array * np.float64(2)`` into float64), and its gradients are float32,
even when ``backward`` is handed a float64 upstream gradient. (The scalar engine computes in
float64 by design, so it is not part of this file.)

Tolerance: ``rtol = 1e-4``, ``atol = 1e-4 * max(1, max|want|)``. float32 has ~7 digits, the
two libraries sum in different orders, and some gradients amplify rounding: layer_norm over
a row with zero variance divides by ``sqrt(eps) ~ 3e-3``, so a ~1e-7 rounding difference
becomes ~4e-5 (seen in the ``thorough`` profile). A wrong rule is still off by O(1).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import strategies as S
from .checker import check
from .programs import Program, programs

RTOL32, ATOL32 = 1e-4, 1e-4
TENSOR = ("tensor",)
TENSOR_BOTH = ("tensor", "tensor-fused")


def f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv])
@given(data=st.data())
def test_binary_ops_keep_float32(op, data: st.DataObject) -> None:
    """Tensor-tensor, tensor-number and tensor-numpy-scalar, both operand orders."""
    shape_x, shape_y = data.draw(S.broadcast_pair(), label="shapes")
    x = f32(data.draw(S.arrays(shape_x, S.away_from_zero()), label="x"))
    y = f32(data.draw(S.arrays(shape_y, S.away_from_zero()), label="y"))
    c = np.float64(data.draw(S.away_from_zero(), label="c"))
    check(lambda E, a, b: (op(a, b), op(a, 1.5), op(2.5, a), op(a, c), op(c, b)), x, y,
          backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@given(data=st.data())
def test_matmul_and_reductions_keep_float32(data: st.DataObject) -> None:
    shape_a, shape_b = data.draw(S.matmul_shapes(allow_empty_batch=False), label="shapes")
    a = f32(data.draw(S.arrays(shape_a), label="a"))
    b = f32(data.draw(S.arrays(shape_b), label="b"))
    check(lambda E, x, y: ((x @ y).tanh(), (x @ y).sum(), x.mean(), (x**2).sum(-1)), a, b,
          backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("op", ["exp", "log", "tanh", "relu", "sigmoid", "sqrt"])
@given(data=st.data())
def test_elementwise_keep_float32(op: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    domain = S.positive() if op in ("log", "sqrt") else S.away_from_zero()
    x = f32(data.draw(S.arrays(shape, domain), label="x"))
    check(lambda E, a: getattr(a, op)() * np.sqrt(2.0), x,
          backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@given(data=st.data())
def test_functional_keep_float32(data: st.DataObject) -> None:
    """softmax, log_softmax, gelu, layer_norm and cross-entropy, fused and composed."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    x = f32(data.draw(S.arrays((n, c)), label="x"))
    w = f32(data.draw(S.arrays((c,)), label="w"))
    labels = data.draw(S.index_arrays(c, n), label="labels") % c

    def fn(E, x, w):
        F = E.F
        return (F.softmax(x, dim=-1), F.log_softmax(x, dim=0), F.gelu(x),
                F.layer_norm(x, (c,), w, w), F.cross_entropy(x, labels), F.mse_loss(x, 0.5))

    check(fn, x, w, backends=TENSOR_BOTH, rtol=RTOL32, atol=ATOL32)


@given(program=programs(max_steps=5), data=st.data())
def test_random_program_float32(program: Program, data: st.DataObject) -> None:
    leaves = [f32(data.draw(S.arrays(shape), label=f"n{i}"))
              for i, shape in enumerate(program.leaf_shapes)]
    check(program, *leaves, backends=TENSOR, rtol=RTOL32, atol=ATOL32)


@settings(max_examples=max(2, settings.default.max_examples // 5))
@given(data=st.data(), seed=S.seeds())
def test_gpt_float32(data: st.DataObject, seed: int) -> None:
    """The tiny GPT in float32 (the engine's default precision) against transformers in
    float32: logits, loss and every parameter gradient stay float32 and agree to float32
    precision, fused and composed."""
    from .modules import check_module
    from .test_models import GPT_CONFIG, _grad_from_hf, _hf_twin, _to_hf

    gpt = pytest.importorskip("shared_nn.models.gpt")
    b, t = data.draw(st.integers(1, 2)), data.draw(st.integers(1, GPT_CONFIG["block_size"]))
    vocab = GPT_CONFIG["vocab_size"]
    idx = (data.draw(S.index_arrays(vocab, b * t), label="idx") % vocab).reshape(b, t)
    config = gpt.GPTConfig(**GPT_CONFIG)

    def call(E, m):
        logits = m(idx)
        return logits, E.F.cross_entropy(logits.reshape(b * t, vocab), idx.reshape(-1))

    check_module(lambda **kw: gpt.GPT(config, **kw), _hf_twin, call, seed=seed,
                 backends=TENSOR_BOTH, torch_state=_to_hf, torch_grad_name=_grad_from_hf,
                 rtol=RTOL32, atol=ATOL32, dtype=np.float32)
