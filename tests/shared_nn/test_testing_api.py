"""shared_nn.testing: assert_engines_agree on user-defined modules (agreeing, and disagreeing
on one engine), its table, its options, and gradcheck."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import shared_nn as nn
from shared_nn import _report
from shared_nn.testing import EnginesDisagree, assert_engines_agree, gradcheck, tolerances

X = np.random.default_rng(0).standard_normal((4, 3))
LABELS = np.array([0, 1, 1, 0])


class Gated(nn.Module):
    """A user's model: a Linear, a learned gain, a tanh gate."""

    def __init__(self, engine: str | None = None, dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.fc = nn.Linear(3, 2, engine=self.engine, dtype=self._dtype_request)
        self.gain = self.new_parameter(np.linspace(0.5, 1.5, 2))

    def gated_gain(self) -> Any:
        return self.gain

    def forward(self, x: Any) -> Any:
        h = self.fc(x)
        return h * h.sigmoid() * self.gated_gain()


class WrongGradientOnScalar(Gated):
    """Same values everywhere, but on the scalar engine the gain's gradient is 1.0001 times
    too large (a custom-gradient trick gone wrong on one engine)."""

    def gated_gain(self) -> Any:
        if self.engine == "scalar":
            return self.gain * 1.0001 - self.gain.detach() * 0.0001
        return self.gain


class ScaledOnTensor(Gated):
    def forward(self, x: Any) -> Any:
        out = super().forward(x)
        return out * 1.0001 if self.engine == "tensor" else out


class FailsOnScalar(Gated):
    def forward(self, x: Any) -> Any:
        if self.engine == "scalar":
            raise RuntimeError("no scalar kernel for this")
        return super().forward(x)


def test_a_user_module_agrees_on_every_engine() -> None:
    report = assert_engines_agree(Gated, X, targets=LABELS)
    assert report.ok and report.reference == "torch" and report.engines == ["torch", "scalar",
                                                                             "tensor"]
    quantities = {(row.quantity, row.engine) for row in report.rows}
    for engine in ("scalar", "tensor"):
        for name in ("initial weights", "output", "loss", "grad of gain", "grad of fc.weight",
                     "grad of fc.bias", "grad of input"):
            assert (name, engine) in quantities


def test_training_trajectories_agree_with_adam() -> None:
    report = assert_engines_agree(
        Gated, X, targets=LABELS, steps=4,
        optimizer=lambda params: nn.optim.Adam(params, lr=0.05))
    labels = [row.quantity for row in report.rows if row.engine == "scalar"]
    assert "loss at steps 2-4" in labels and "gain after steps 1-4" in labels


def test_a_wrong_gradient_on_one_engine_is_named_with_its_parameter() -> None:
    with pytest.raises(EnginesDisagree) as info:
        assert_engines_agree(WrongGradientOnScalar, X, targets=LABELS)
    message = str(info.value)
    first_line = message.splitlines()[0]
    assert "grad of gain" in first_line and "scalar engine" in first_line, first_line
    failing = [(r.quantity, r.engine) for r in info.value.report.rows if not r.passed]
    assert failing == [("grad of gain", "scalar")]  # values, other grads, tensor: all fine
    assert "tensor disagrees" not in message


def test_a_model_that_behaves_differently_on_one_engine_fails_naming_it() -> None:
    with pytest.raises(EnginesDisagree) as info:
        assert_engines_agree(ScaledOnTensor, X, targets=LABELS, steps=2)
    message = str(info.value)
    assert "output on the tensor engine" in message.splitlines()[0]
    assert "tensor disagrees on: output, loss, grad of gain" in message
    assert "scalar disagrees" not in message
    for row in info.value.report.rows:
        assert row.passed == (row.engine == "scalar" or row.quantity == "initial weights"), row


def test_engine_dependent_initial_weights_are_caught() -> None:
    def build(engine: str, dtype: Any) -> nn.Module:
        if engine == "tensor":
            nn.init.generator().uniform()  # one extra draw shifts every weight after it
        return Gated(engine=engine, dtype=dtype)

    with pytest.raises(EnginesDisagree, match="initial weight fc.weight on the tensor engine"):
        assert_engines_agree(build, X)


def test_an_engine_that_raises_is_a_disagreement_but_the_reference_raising_is_an_error(
) -> None:
    with pytest.raises(EnginesDisagree, match="RuntimeError: no scalar kernel"):
        assert_engines_agree(FailsOnScalar, X)
    with pytest.raises(RuntimeError, match="no scalar kernel"):
        assert_engines_agree(FailsOnScalar, X, engines=("scalar", "tensor"))


def test_factories_without_arguments_losses_and_several_inputs() -> None:
    # built in the engines' default dtypes (float32 on tensor and torch), compared in float64
    assert_engines_agree(lambda: nn.models.MLP([3, 5, 2]), X, targets=X[:, :2])
    assert_engines_agree(lambda: nn.models.MLP([3, 5, 2]), X,
                         loss=lambda out, _: (out * out).mean())

    class Two(nn.Module):
        def __init__(self, engine: str | None = None, dtype: Any = None) -> None:
            super().__init__(engine=engine, dtype=dtype)
            self.fc = nn.Linear(3, 3, engine=self.engine, dtype=self._dtype_request)

        def forward(self, x: Any, y: Any) -> tuple[Any, Any]:
            return self.fc(x) * y, y.exp()

    report = assert_engines_agree(Two, (X, X * 0.5))
    assert {"output 0", "output 1", "grad of input 0", "grad of input 1"} <= {
        r.quantity for r in report.rows}


def test_float32_and_engine_choice() -> None:
    report = assert_engines_agree(Gated, X, targets=LABELS, dtype="float32", steps=2)
    assert report.dtype == "float32" and report.rows[1].tolerance == "rtol 0.0001, atol 0.0001"
    report = assert_engines_agree(Gated, X, engines=("scalar", "tensor"))
    assert report.reference == "scalar"
    assert assert_engines_agree(Gated, X, reference="tensor").reference == "tensor"
    assert tolerances("float64")["trajectory"] == (1e-9, 1e-9)


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(engines=("scalar", "gpu")), "unknown engine 'gpu'"),
    (dict(engines=("scalar",)), "at least two"),
    (dict(steps=-1), "steps"),
    (dict(reference="torch", engines=("scalar", "tensor")), "reference engine 'torch'"),
    (dict(dtype="fp64"), "float32 or float64"),
])
def test_bad_arguments(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises((ValueError, TypeError), match=words):
        assert_engines_agree(Gated, X, **kwargs)


def test_the_table_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_report, "_rich_available", lambda: False)
    with pytest.raises(EnginesDisagree) as info:
        assert_engines_agree(WrongGradientOnScalar, X, targets=LABELS)
    lines = str(info.value).splitlines()
    header = next(line for line in lines if line.startswith("quantity"))
    assert header.split()[:8] == ["quantity", "engine", "max", "abs", "diff", "max", "rel",
                                  "diff"]
    row = next(line for line in lines if line.startswith("grad of gain") and "scalar" in line)
    assert row.split()[-1] == "FAIL" and "┃" not in "\n".join(lines)


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("engine", nn.ENGINES)
def test_gradcheck_passes_on_correct_gradients(engine: str) -> None:
    a = np.random.default_rng(1).standard_normal((2, 3))
    b = np.random.default_rng(2).standard_normal((3, 2))
    assert gradcheck(lambda x, w: (x @ w).tanh() * x.sum(), a, b, engine=engine)
    assert gradcheck(lambda x, unused: x.exp().sum(), a, b, engine=engine)  # a zero Jacobian


def test_gradcheck_catches_a_wrong_backward_rule_and_names_the_element() -> None:
    record = importlib.import_module("tensor_engine.tensor").record

    def cube(x: Any) -> Any:  # d/dx x^3 written as 3x instead of 3x^2
        return record(x.data ** 3, (x,), lambda g: (g * 3.0 * x.data,))

    a = np.array([[1.0, 2.0, -1.5]])  # at 1.0 the wrong rule happens to be right
    assert gradcheck(lambda x: x ** 3, a)
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda x, y: cube(x) + y, a, a)
    message = str(info.value)
    assert "input 0 element (0, 1)" in message
    assert "analytical 6 vs numerical 12" in message


def test_gradcheck_catches_a_wrong_torch_autograd_function() -> None:
    import torch

    import torch_engine

    class Sin(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            return g * x.sin()  # should be cos

    with pytest.raises(AssertionError, match="input 0 element"):
        gradcheck(lambda x: torch_engine.from_torch(Sin.apply(x.to_torch())),
                  np.array([0.3, 1.1]), engine="torch")


def test_gradcheck_wants_an_engine_tensor_back() -> None:
    with pytest.raises(TypeError, match="tensor engine tensor"):
        gradcheck(lambda x: x.numpy(), np.ones(2))


class NumpyOut(Gated):
    def forward(self, x: Any) -> Any:
        return super().forward(x).numpy()


def test_a_forward_that_returns_an_ndarray_is_named() -> None:
    """A ``.numpy()`` at the end of forward leaves the graph; the check said "element 0 of
    tensors does not require grad", which names neither the model nor the cause."""
    for engines in (None, ("scalar", "tensor")):
        kwargs = {} if engines is None else {"engines": engines}
        with pytest.raises(TypeError, match=r"NumpyOut.forward returned a numpy.ndarray, not a "
                                            r"Tensor.*\.numpy\(\) in forward leaves the graph"):
            assert_engines_agree(NumpyOut, X, **kwargs)
