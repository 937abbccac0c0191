"""The issue's acceptance programs: code written the usual PyTorch way runs unchanged on
every engine and gives torch's numbers in float64.

* **Causal self-attention** (nanoGPT's block, without modules): a ``tril`` buffer, scores
  masked with ``masked_fill(bias == 0, -inf)``, softmax, ``att @ v``, and a cross-entropy
  written with ``log_softmax`` + ``gather`` on int64 targets. Loss and every weight's
  gradient agree with torch to 1e-12 relative, and the mask changes the loss.
* **Everyday idioms**: ``x[x == 0]``, accuracy as ``(logits.argmax(1) == y).float().mean()``,
  ``y.view(-1)`` on int targets, ``(lr * p.grad).std()`` (torch's unbiased std of a
  gradient, read as a Tensor), ``F.cross_entropy(logits, tensor([0, 2, 1]))``.
* **``.grad`` is a Tensor** of the parameter's engine, dtype and shape; ``.numpy()`` gives the
  array; ``.grad`` can be set to None, a Tensor or an ndarray, and backward adds to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import strategies as S
from .torchlike import (
    Const,
    assert_values,
    dtype,
    dtype_of,
    engines,
    functional,
    module,
    run,
    to_numpy,
)

TIGHT_RTOL, TIGHT_ATOL = 1e-12, 1e-13
"""The attention program's tolerance: a handful of float64 roundings per entry."""

# --------------------------------------------------------------------------- attention

N_HEAD = 2


def causal_attention_logits(T: Any, x: Any, w_qkv: Any, w_out: Any, masked: bool = True
                            ) -> Any:
    """nanoGPT's CausalSelfAttention forward and an output head, as torch code."""
    B, T_, C = x.shape
    hs = C // N_HEAD
    bias = T.ones((T_, T_), dtype=dtype(T, "float64")).tril().view(1, 1, T_, T_)
    q, k, v = (x @ w_qkv).split(C, dim=2)
    q = q.view(B, T_, N_HEAD, hs).transpose(1, 2)  # (B, nh, T, hs)
    k = k.view(B, T_, N_HEAD, hs).transpose(1, 2)
    v = v.view(B, T_, N_HEAD, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    if masked:
        att = att.masked_fill(bias[:, :, :T_, :T_] == 0, float("-inf"))
    att = att.softmax(dim=-1)
    y = att @ v  # (B, nh, T, hs)
    y = y.transpose(1, 2).contiguous().view(B, T_, C)
    return y @ w_out  # (B, T, vocab)


def lm_loss(logits: Any, targets: Any) -> Any:
    """Cross-entropy of (B, T, vocab) logits against (B, T) int64 targets, spelled out."""
    return -(logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1))).mean()


def causal_attention_loss(T: Any, x: Any, w_qkv: Any, w_out: Any, targets: Any,
                          masked: bool = True) -> Any:
    return lm_loss(causal_attention_logits(T, x, w_qkv, w_out, masked), targets)


@engines
@given(batch=st.integers(1, 2), steps=st.integers(2, 4), seed=S.seeds())
def test_causal_self_attention(engine: str, batch: int, steps: int, seed: int) -> None:
    """Loss and the gradients of x, the qkv and the output weights, to 1e-12 relative;
    the unmasked loss differs (random normal inputs: a mask that does nothing fails)."""
    channels, vocab = 4, 5
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, channels))
    w_qkv = rng.standard_normal((channels, 3 * channels))
    w_out = rng.standard_normal((channels, vocab))
    targets = rng.integers(0, vocab, size=(batch, steps))

    def fn(T: Any, *args: Any) -> Any:
        return causal_attention_loss(T, *args), causal_attention_loss(T, *args, masked=False)

    got, want = run(fn, x, w_qkv, w_out, targets, engine=engine,
                    rtol=TIGHT_RTOL, atol=TIGHT_ATOL)
    masked, unmasked = (o.values for o in got.outputs)
    assert masked.shape == () and abs(masked - unmasked) > 1e-6  # the mask acts
    assert all(g is not None for g in got.grads)


@engines
def test_causal_mask_hides_the_future(engine: str) -> None:
    """The loss of the first two positions does not depend on the last position's input:
    its gradient there is exactly 0 (masked scores are -inf, their softmax exactly 0)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    w_qkv, w_out = rng.standard_normal((4, 12)), rng.standard_normal((4, 5))
    targets = np.array([[1, 4], [0, 2]])

    def fn(T: Any, a: Any, wq: Any, wo: Any, t: Any) -> Any:
        return lm_loss(causal_attention_logits(T, a, wq, wo)[:, :2], t)

    got, want = run(fn, x, w_qkv, w_out, targets, engine=engine,
                    rtol=TIGHT_RTOL, atol=TIGHT_ATOL)
    assert np.all(want.grads[0][:, 2] == 0) and np.any(want.grads[0][:, :2] != 0)
    assert np.all(got.grads[0][:, 2] == 0)


# --------------------------------------------------------------------------- idioms


@engines
@given(data=st.data())
def test_select_zeros(engine: str, data: st.DataObject) -> None:
    """``x[x == 0]``: the zeros (often none, often several), gradient back to them."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape, st.sampled_from([0.0, 0.5, -1.25])), label="x")
    run(lambda T, a: a[a == 0] + 1, x, engine=engine)


@engines
@given(data=st.data())
def test_accuracy(engine: str, data: st.DataObject) -> None:
    """``(logits.argmax(1) == y).float().mean()``: a float (float32 in torch) fraction."""
    rows = data.draw(st.integers(1, 6), label="rows")
    logits = data.draw(S.distinct((rows, 3)), label="logits")
    y = data.draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, 2)), label="y")
    got, want = run(lambda T, lg, t: (lg.argmax(1) == t).float().mean(), logits, y,
                    engine=engine)
    assert want.outputs[0].dtype == np.float32
    assert got.outputs[0].values.dtype.kind == "f"


@engines
def test_view_of_int_targets(engine: str) -> None:
    y = np.array([[0, 2, 1], [1, 1, 0]])
    run(lambda T, t: (t.view(-1), t.view(3, 2), t.view(-1).tolist()), y, engine=engine)


@engines
@given(data=st.data())
def test_std_of_a_scaled_gradient(engine: str, data: st.DataObject) -> None:
    """After ``loss.backward()``, ``(lr * p.grad).std()`` is torch's unbiased std of the
    gradient (a biased one is off by sqrt(n / (n - 1)))."""
    shape = data.draw(S.shapes(min_dims=1, min_side=2), label="shape")
    p = data.draw(S.arrays(shape), label="p")
    lr = data.draw(st.sampled_from([0.1, 0.01, 3.0]), label="lr")

    def fn(T: Any, w: Any) -> Any:
        loss = ((w * w).tanh() * w).sum()
        loss.backward()
        return (lr * w.grad).std(), w.grad * 1

    run(fn, p, engine=engine)


@engines
@given(data=st.data())
def test_cross_entropy_with_an_int_tensor(engine: str, data: st.DataObject) -> None:
    """``F.cross_entropy(logits, tensor([0, 2, 1]))``: the targets an int64 tensor of the
    engine (made inside the program, as a user writes it)."""
    logits = data.draw(S.arrays((3, 4)), label="logits")
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    run(lambda T, lg: functional(T).cross_entropy(lg, T.tensor([0, 2, 1]),
                                                  reduction=reduction),
        logits, engine=engine)


@engines
def test_training_step_idioms(engine: str) -> None:
    """A small classifier step the usual way: loss, backward, accuracy, the gradient's
    norm, an SGD update under no_grad, the next loss."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((6, 3)), rng.standard_normal((3, 4))
    y = np.array([0, 3, 1, 1, 2, 0])

    def fn(T: Any, inputs: Any, weight: Any, target: Any) -> Any:
        F = functional(T)
        loss = F.cross_entropy(inputs @ weight, target)
        loss.backward()
        accuracy = ((inputs @ weight).argmax(dim=1) == target).float().mean()
        grad_norm = weight.grad.norm()
        with T.no_grad():
            updated = weight - 0.5 * weight.grad
        # loss.item(): the graph is spent (the harness backpropagates only live outputs)
        return loss.item(), accuracy, grad_norm, F.cross_entropy(inputs @ updated, target)

    run(fn, Const(x), w, y, engine=engine)


# --------------------------------------------------------------------------- .grad


@engines
@pytest.mark.parametrize("name", ["float64", "float32"])
def test_grad_is_a_tensor(engine: str, name: str) -> None:
    """None before backward; then a Tensor of the parameter's class, dtype and shape,
    without grad, whose ``.numpy()`` is an ndarray holding torch's gradient."""
    T = module(engine)
    values = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    p = T.tensor(values, dtype=dtype(T, name), requires_grad=True)
    assert p.grad is None
    ((p * p).sum() * 3 + p.tanh().sum()).backward()
    grad = p.grad
    assert type(grad) is type(p)
    assert dtype_of(grad) == dtype_of(p)
    assert tuple(grad.shape) == tuple(p.shape)
    assert not grad.requires_grad
    assert isinstance(grad.numpy(), np.ndarray)
    reference = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ((reference * reference).sum() * 3 + reference.tanh().sum()).backward()
    tol = 1e-10 if dtype_of(p) == np.float64 else 1e-5
    assert_values(".grad", grad.numpy(), reference.grad.numpy(), tol, tol)


@engines
def test_grad_assignment(engine: str) -> None:
    """``p.grad = None`` clears it, a Tensor or (on the engines) an ndarray sets it, and
    the next backward adds to what was set, as torch accumulates."""
    T = module(engine)
    p = T.tensor(np.array([1.0, -2.0, 3.0]), dtype=dtype(T, "float64"), requires_grad=True)
    (p * p).sum().backward()
    p.grad = None
    assert p.grad is None
    p.grad = T.tensor(np.array([0.5, 0.5, 0.5]), dtype=dtype(T, "float64"))
    assert type(p.grad) is type(p)
    assert np.array_equal(to_numpy(p.grad), [0.5, 0.5, 0.5])
    (p * 2).sum().backward()
    assert np.array_equal(to_numpy(p.grad), [2.5, 2.5, 2.5])
    if engine == "pytorch":  # torch refuses an ndarray; the engines take one
        return
    p.grad = np.array([1.0, 0.0, -1.0])
    assert type(p.grad) is type(p) and dtype_of(p.grad) == np.float64
    assert np.array_equal(to_numpy(p.grad), [1.0, 0.0, -1.0])
    (p * p).sum().backward()
    assert np.array_equal(to_numpy(p.grad), [3.0, -4.0, 5.0])
