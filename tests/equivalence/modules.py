"""Checking whole shared_nn Modules against their torch.nn twins.

:func:`check_module` is :func:`checker.check` for modules. It

1. builds the module on each engine after the same ``shared_nn.manual_seed`` and asserts the
   two state_dicts are **bit-identical** (the contract: one seed, one set of weights);
2. builds the torch twin and loads that state_dict into it with ``strict=True``, so every
   parameter name and layout must match torch's;
3. runs the same call (written once, like a ``check`` function, with the module as the
   second argument) on every backend and compares outputs, the gradients of float inputs and
   the gradient of **every parameter, by name**.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import torch_adapter
from .checker import (
    ATOL,
    BACKENDS,
    ENGINES,
    RTOL,
    Backend,
    EquivalenceError,
    assert_close,
    assert_same_dtype,
    compare,
    run,
)


class TorchModule:
    """A ``torch.nn.Module`` that takes and returns :class:`torch_adapter.TorchTensor` s
    (and integer ndarrays, as shared_nn's modules do), so one call works on all backends."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        def unwrap(x: Any) -> Any:
            if isinstance(x, torch_adapter.TorchTensor):
                return x.t
            if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
                return torch.from_numpy(x.astype(np.int64))
            if isinstance(x, tuple):  # LSTM's (h_0, c_0)
                return tuple(unwrap(item) for item in x)
            return x

        def wrap(out: Any) -> Any:
            if isinstance(out, tuple):  # (output, h_n) or LSTM's (output, (h_n, c_n))
                return tuple(wrap(o) for o in out)
            return torch_adapter.TorchTensor(out)

        return wrap(self.module(*(unwrap(a) for a in args),
                                **{k: unwrap(v) for k, v in kwargs.items()}))

    def named_parameters(self) -> list[tuple[str, Any]]:
        return [(n, torch_adapter.TorchTensor(p)) for n, p in self.module.named_parameters()]


def build(make: Callable[..., Any], engine: str, seed: int, dtype: Any = np.float64) -> Any:
    """``make(engine=..., dtype=...)`` right after ``shared_nn.manual_seed(seed)``."""
    import shared_nn

    shared_nn.manual_seed(seed)
    return make(engine=engine, dtype=dtype)


def load_into_torch(
    module: torch.nn.Module, state: dict[str, np.ndarray], dtype: Any = np.float64
) -> torch.nn.Module:
    """Load a shared_nn state_dict into a torch module of ``dtype`` (strict: names must
    match)."""
    module = module.double() if np.dtype(dtype) == np.float64 else module.float()
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return module


def check_module(
    make: Callable[..., Any],
    make_torch: Callable[[], torch.nn.Module],
    call: Callable[..., Any],
    *inputs: Any,
    seed: int = 0,
    backends: Sequence[str] = ENGINES,
    torch_state: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
    torch_grad_name: Callable[[str, np.ndarray], tuple[str, np.ndarray]] | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    dtype: Any = np.float64,
) -> dict[str, Any]:
    """Compare ``call(E, module, *leaves)`` on every backend (see the module docstring).

    ``torch_state`` maps our state_dict to the twin's when the layouts differ (GPT-2's
    Conv1D); ``torch_grad_name`` maps a twin parameter's (name, grad) back to ours.
    ``dtype`` is the modules' dtype (float32 only makes sense on the tensor engine).
    Returns the modules by backend name.
    """
    modules = {name: build(make, BACKENDS[name].engine, seed, dtype)
               for name in backends}
    first = modules[backends[0]].state_dict()
    for name in backends[1:]:
        state = modules[name].state_dict()
        if state.keys() != first.keys():
            raise EquivalenceError(f"{name}: state_dict keys {list(state)} != {list(first)}")
        for key in first:
            if not np.array_equal(state[key], first[key]):
                raise EquivalenceError(f"{name}: same seed, different initial {key}")
    twin_state = torch_state(first) if torch_state else first
    twin = TorchModule(load_into_torch(make_torch(), twin_state, dtype))
    modules["torch"] = twin

    def runner(backend: Backend) -> tuple[Any, dict[str, np.ndarray | None]]:
        module = modules[backend.name]
        record = run(backend, lambda E, *xs: call(E, module, *xs), inputs)
        grads = {}
        for pname, p in module.named_parameters():
            g = None if p.grad is None else np.array(p.grad)
            if backend.name == "torch" and torch_grad_name is not None and g is not None:
                pname, g = torch_grad_name(pname, g)
            grads[pname] = g
        return record, grads

    reference, reference_grads = runner(BACKENDS["torch"])
    for name in backends:
        record, grads = runner(BACKENDS[name])
        compare(record, reference, rtol, atol)
        missing = set(reference_grads) - set(grads)
        if missing:
            raise EquivalenceError(f"{name}: parameters {sorted(missing)} missing")
        for pname, want in reference_grads.items():
            got = grads[pname]
            if want is None and got is None:
                continue
            if got is None or want is None:
                raise EquivalenceError(f"{name}: gradient of {pname} is {got} vs {want}")
            what = f"{name} vs torch: gradient of parameter {pname}"
            assert_same_dtype(what, got, want)
            assert_close(what, got, want, rtol, atol)
    return modules
