"""Losses against torch.nn.functional and torch.nn's loss modules: cross_entropy (weights,
ignore_index, label smoothing, class-probability targets, torch's (N, C, d...) layout),
nll_loss, binary_cross_entropy_with_logits (weight, pos_weight), mse_loss and l1_loss; values
and input gradients on the scalar engine, the tensor engine composed and fused, and torch."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .checker import WITH_FUSED, check
from .torch_adapter import TorchTensor

REDUCTIONS = ["mean", "sum", "none"]
IGNORE = 1  # a class index used as ignore_index in some draws

def _class_problem(data: st.DataObject, extra_dims: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Logits (N, C, d...) and integer targets (N, d...) in torch's layout."""
    n, c = data.draw(st.integers(1, 3), label="N"), data.draw(st.integers(2, 4), label="C")
    rest = tuple(data.draw(st.integers(1, 2), label="d") for _ in range(extra_dims))
    logits = data.draw(S.arrays((n, c, *rest), S.floats(-5.0, 5.0)), label="logits")
    size = n * int(np.prod(rest, dtype=np.int64))
    targets = (data.draw(S.index_arrays(c, size), label="targets") % c).reshape(n, *rest)
    return logits, targets, c


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), extra_dims=st.integers(0, 2), weighted=st.booleans(),
       ignore=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 1.0]))
def test_cross_entropy_options(reduction: str, data: st.DataObject, extra_dims: int,
                               weighted: bool, ignore: bool, smoothing: float) -> None:
    """Every combination of weight, ignore_index and label_smoothing, (N, C) and (N, C, d...)."""
    logits, targets, c = _class_problem(data, extra_dims)
    weight = data.draw(S.arrays((c,), S.floats(0.1, 2.0)), label="weight") if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing,
                   ignore_index=IGNORE if ignore else -100)
    check(lambda E, x: E.F.cross_entropy(x, targets, None if weight is None else weight,
                                         **options),
          logits, backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), extra_dims=st.integers(0, 1), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.2]), as_tensor=st.booleans())
def test_cross_entropy_probability_targets(reduction: str, data: st.DataObject,
                                           extra_dims: int, weighted: bool, smoothing: float,
                                           as_tensor: bool) -> None:
    """Float targets of the input's shape are class probabilities; given as a tensor they
    get a gradient too."""
    logits, _, c = _class_problem(data, extra_dims)
    raw = data.draw(S.arrays(logits.shape, S.floats(0.0, 1.0)), label="probs") + 1e-3
    probs = raw / raw.sum(axis=1, keepdims=True)
    weight = data.draw(S.arrays((c,), S.floats(0.1, 2.0)), label="weight") if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    if as_tensor:
        check(lambda E, x, p: E.F.cross_entropy(x, p, weight, **options), logits, probs,
              backends=WITH_FUSED)
    else:
        check(lambda E, x: E.F.cross_entropy(x, probs, weight, **options), logits,
              backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), extra_dims=st.integers(0, 1), weighted=st.booleans(),
       ignore=st.booleans())
def test_nll_loss_options(reduction: str, data: st.DataObject, extra_dims: int,
                          weighted: bool, ignore: bool) -> None:
    logits, targets, c = _class_problem(data, extra_dims)
    weight = data.draw(S.arrays((c,), S.floats(0.1, 2.0)), label="weight") if weighted else None
    check(lambda E, x: E.F.nll_loss(E.F.log_softmax(x, dim=1), targets, weight,
                                    ignore_index=IGNORE if ignore else -100,
                                    reduction=reduction),
          logits, backends=WITH_FUSED)


def test_everything_ignored_gives_nan_as_torch() -> None:
    logits = np.random.default_rng(0).normal(size=(2, 3))
    for engine in ("scalar", "tensor"):
        import shared_nn

        x = shared_nn.tensor(logits, dtype=np.float64, engine=engine)
        assert np.isnan(shared_nn.F.cross_entropy(x, [1, 1], ignore_index=1).item())
    assert torch.isnan(torch.nn.functional.cross_entropy(torch.tensor(logits),
                                                         torch.tensor([1, 1]), ignore_index=1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), weighted=st.booleans(), pos_weighted=st.booleans(),
       target_tensor=st.booleans())
def test_binary_cross_entropy_with_logits(reduction: str, data: st.DataObject, weighted: bool,
                                          pos_weighted: bool, target_tensor: bool) -> None:
    """Large logits (|x| up to 40) stay finite, x == 0 has torch's gradient; pos_weight
    broadcasts over the last dim."""
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    x = data.draw(S.arrays(shape, S.floats(-40.0, 40.0)), label="x")
    target = data.draw(S.arrays(shape, S.floats(0.0, 1.0)), label="target")
    weight = data.draw(S.arrays(shape, S.floats(0.0, 2.0)), label="weight") if weighted else None
    pos = (data.draw(S.arrays(shape[-1:], S.floats(0.1, 3.0)), label="pos_weight")
           if pos_weighted else None)
    options = dict(reduction=reduction, pos_weight=pos)
    if target_tensor:
        check(lambda E, a, t: E.F.binary_cross_entropy_with_logits(a, t, weight, **options),
              x, target, backends=WITH_FUSED)
    else:
        check(lambda E, a: E.F.binary_cross_entropy_with_logits(a, target, weight, **options),
              x, backends=WITH_FUSED)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_l1_loss(reduction: str, data: st.DataObject) -> None:
    shape = data.draw(S.shapes(min_dims=0), label="shape")
    x = data.draw(S.arrays(shape, S.away_from_zero()), label="x")
    check(lambda E, a: E.F.l1_loss(a, np.zeros(shape), reduction=reduction), x,
          backends=WITH_FUSED)


# --- the loss modules ------------------------------------------------------------------------


def _criterion(E: Any, name: str, **options: Any) -> Any:
    """shared_nn.<name>(**options), or torch.nn.<name> behind the adapter on torch."""
    if E.engine != "torch":
        return getattr(importlib.import_module("shared_nn"), name)(**options)
    torch_options = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                     for k, v in options.items()}
    module = getattr(torch.nn, name)(**torch_options)

    def call(x: TorchTensor, target: Any) -> TorchTensor:
        if isinstance(target, TorchTensor):
            target = target.t
        else:
            target = torch.from_numpy(np.asarray(target))
            if target.dtype == torch.int32:
                target = target.long()
        return TorchTensor(module(x.t, target))

    return call


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_loss_modules(reduction: str, data: st.DataObject) -> None:
    """CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss and MSELoss against torch.nn's."""
    logits, targets, c = _class_problem(data, 1)
    weight = data.draw(S.arrays((c,), S.floats(0.1, 2.0)), label="weight")
    check(lambda E, x: _criterion(E, "CrossEntropyLoss", weight=weight, ignore_index=IGNORE,
                                  label_smoothing=0.25, reduction=reduction)(x, targets),
          logits, backends=WITH_FUSED)
    check(lambda E, x: _criterion(E, "NLLLoss", weight=weight, reduction=reduction)(
        E.F.log_softmax(x, dim=1), targets), logits, backends=WITH_FUSED)
    probs = data.draw(S.arrays(logits.shape, S.floats(0.0, 1.0)), label="probs")
    check(lambda E, x: _criterion(E, "BCEWithLogitsLoss", pos_weight=np.full(logits.shape[-1],
                                  2.0), reduction=reduction)(x, probs), logits)
    check(lambda E, x, y: _criterion(E, "MSELoss", reduction=reduction)(x, y), logits, probs)


@given(data=st.data())
def test_l1_loss_module(data: st.DataObject) -> None:
    x = data.draw(S.arrays((2, 3), S.away_from_zero()), label="x")
    check(lambda E, a, b: _criterion(E, "L1Loss")(a, b * 0.5), x, x[::-1].copy())
