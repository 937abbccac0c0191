"""Helpers shared by the shared_nn tests (a unique module name: tests/shared_nn is not a
package, and `shared_nn` must keep meaning the library)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shared_nn.engine import as_numpy

ENGINES = ["scalar", "tensor"]
RTOL = 1e-10


def assert_close(actual, expected, rtol: float = RTOL, what: str = "") -> None:
    """Equal to ``rtol`` relative to the magnitude of ``expected``, or to 1 if that is smaller
    (elementwise relative error would reject entries that should be 0 and differ by rounding,
    e.g. 1e-15 against 0.0)."""
    actual = np.asarray(as_numpy(actual), dtype=np.float64)  # a Tensor (a .grad) as values
    expected = np.asarray(as_numpy(expected), dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def to_torch(array, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch tensor holding a copy of ``array``."""
    t = torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64)
    return t.requires_grad_(requires_grad)


def torch_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A torch module's state_dict as numpy arrays."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def load_into_torch(module: torch.nn.Module, state: dict[str, np.ndarray]) -> None:
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})


def assert_grads_match(model, torch_model, rtol: float = RTOL) -> None:
    """Every parameter's gradient equals the torch model's parameter of the same name."""
    theirs = dict(torch_model.named_parameters())
    ours = dict(model.named_parameters())
    assert ours.keys() == theirs.keys()
    for name, p in ours.items():
        assert p.grad is not None, f"{name} has no grad"
        assert_close(p.grad, theirs[name].grad.numpy(), rtol, what=f"grad of {name}")


engines = pytest.mark.parametrize("engine", ENGINES)
