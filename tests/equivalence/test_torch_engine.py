"""The suite's own properties, run on ``torch_engine`` (PyTorch behind the engine protocol).

torch_engine must pass the same equivalence properties as the scalar and the tensor engine.
Rather than copying them, this module runs the existing property functions of the modules in
``MODULES`` with their checker calls pointed at the torch engine's two backends
(``"torch-engine"``: shared_nn.functional composed from protocol ops, and
``"torch-engine-fused"``: torch.nn.functional's kernels):

* ``check(...)`` and ``run_script(...)`` compare torch_engine with the torch adapter;
* ``check_module(...)`` builds the module on the tensor engine and on torch_engine from the
  same seed (so the initial weights must be bit-identical across engines) and compares both
  with the ``torch.nn`` twin;
* a property parametrised by ``engine`` / ``backend`` runs with the torch engine's backend, and
  module-level engine lists (``ENGINES``, ``WITH_FUSED``) are swapped for the torch engine's.

Each property keeps its own parameters (read from its ``parametrize`` marks) and its
hypothesis settings. ``SKIP`` lists the properties that pin down a documented behaviour of
the *other* engines where torch_engine follows torch instead (and is tested for it in
``tests/torch_engine``), or that build their models on a hard-coded engine.
``test_torch_engine_bug_is_caught`` shows that this reuse can fail.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from . import (
    checker,
    modules,
    test_arithmetic,
    test_autograd,
    test_elementwise,
    test_errors,
    test_float32,
    test_functional,
    test_inplace,
    test_layers,
    test_matmul,
    test_models,
    test_random_programs,
    test_reductions,
    test_shape_ops,
    test_training,
)
from .checker import BACKENDS, Backend, EquivalenceError

TORCH_ENGINE = ("torch-engine", "torch-engine-fused")
MODULE_BACKENDS = ("tensor", *TORCH_ENGINE)  # tensor first: its seeded weights are the ones

MODULES = [
    test_arithmetic, test_elementwise, test_reductions, test_shape_ops, test_matmul,
    test_functional, test_layers, test_models, test_autograd, test_inplace, test_float32,
    test_errors, test_random_programs, test_training,
]

SKIP = {
    # documented differences of the other engines; torch_engine does what torch does
    "test_assign_between_forward_and_backward": "torch refuses (version counter)",
    "test_inplace_on_a_non_leaf_the_graph_already_used_is_refused": "torch rebases history",
    "test_inplace_on_a_view_of_a_recorded_tensor_is_refused": "torch writes through views",
    "test_retain_grad_on_a_view_sees_only_its_own_uses": "a scalar-engine xfail",
    # these build on hard-coded engines or pass backend names to shared_nn as engine names
    "test_manual_sgd_step_trains_along_torchs_trajectory": "model built on the tensor engine",
    "test_a_dtype_argument_outside_the_documented_set_is_a_type_error": "shared_nn engine name",
    "test_to_engine_round_trip": "scalar <-> tensor round trip",
    "test_gpt_sampling_same_on_both_engines": "scalar vs tensor sampling",
    "test_char_rnn_sampling_same_on_both_engines": "scalar vs tensor sampling",
    "test_mixing_engines_is_a_type_error": "scalar+tensor pairs",
}


# --------------------------------------------------------------------------- redirected checks


def _check(fn: Callable[..., Any], *inputs: Any, backends: Any = None, **kwargs: Any) -> Any:
    return checker.check(fn, *inputs, backends=TORCH_ENGINE, **kwargs)


def _check_module(*args: Any, backends: Any = None, **kwargs: Any) -> Any:
    return modules.check_module(*args, backends=MODULE_BACKENDS, **kwargs)


_RUN_SCRIPT = test_autograd.run_script  # the original: the module's name is patched below


def _run_script(script: Callable[..., Any], *arrays: np.ndarray, engines: Any = None) -> None:
    _RUN_SCRIPT(script, *arrays, engines=TORCH_ENGINE)


REDIRECTS = {"check": _check, "check_module": _check_module, "run_script": _run_script}


def _engine_list(original: Any) -> Any:
    """The module's list of engines, for the torch engine (Backends or names, as it was)."""
    if original and isinstance(next(iter(original)), Backend):
        return [BACKENDS[name] for name in TORCH_ENGINE]
    return TORCH_ENGINE


# --------------------------------------------------------------------------- the properties


def _parameter_grid(fn: Callable[..., Any]) -> list[dict[str, Any]]:
    """Every combination of the values of ``fn``'s parametrize marks; an ``engine`` or
    ``backend`` parameter becomes the torch engine's backend."""
    grids = []
    for mark in getattr(fn, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = [_row(value, len(names)) for value in values]
        if names in (["engine"], ["backend"]):
            torch_engine = BACKENDS["torch-engine"]
            rows = [(torch_engine if isinstance(rows[0][0], Backend) else torch_engine.name,)]
        grids.append([dict(zip(names, row, strict=True)) for row in rows])
    combos = itertools.product(*grids)
    return [{k: v for part in combo for k, v in part.items()} for combo in combos]


def _row(value: Any, width: int) -> tuple:
    """One parametrize value as a tuple of arguments (a ``pytest.param`` unwrapped)."""
    if type(value).__name__ == "ParameterSet":
        return tuple(value.values)
    return tuple(value) if width > 1 else (value,)


def _properties() -> Iterator[Any]:
    for module in MODULES:
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn) or name in SKIP:
                continue
            if any(m.name in ("xfail", "skip") for m in getattr(fn, "pytestmark", [])):
                continue
            for kwargs in _parameter_grid(fn):
                if set(inspect.signature(fn).parameters) - set(kwargs):
                    continue  # needs a fixture: not a plain property
                shown = ",".join(str(getattr(v, "__name__", v)) for v in kwargs.values()
                                 if isinstance(v, (str, int, float)) or callable(v)
                                 and getattr(v, "__name__", "<") [0] != "<")
                label = f"{module.__name__.rpartition('.')[2]}::{name}" + (
                    f"[{shown}]" if shown else "")
                yield pytest.param(module, fn, kwargs, id=label)


def _redirect(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``module``'s checker calls and engine lists at the torch engine."""
    for attr, replacement in REDIRECTS.items():
        if attr in vars(module):
            monkeypatch.setattr(module, attr, replacement)
    for attr in ("ENGINES", "WITH_FUSED"):
        if attr in vars(module):
            monkeypatch.setattr(module, attr, _engine_list(getattr(module, attr)))


@pytest.mark.parametrize(("module", "prop", "kwargs"), list(_properties()))
def test_property_on_torch_engine(module: ModuleType, prop: Callable[..., None],
                                  kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _redirect(module, monkeypatch)
    prop(**kwargs)


def test_the_reuse_reaches_most_of_the_suite() -> None:
    """A guard against the discovery above silently finding nothing."""
    found = {p.values[1].__name__ for p in _properties()}
    assert len(found) >= 90, len(found)
    assert {"test_trajectories_agree", "test_gpt_tiny", "test_engines_reject_alike"} <= found


def test_torch_engine_bug_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong torch_engine op (``tanh`` computing ``sin``) fails a redirected property, so a
    passing run above means something."""
    import torch_engine

    _redirect(test_elementwise, monkeypatch)
    monkeypatch.setattr(torch_engine.Tensor, "tanh", torch_engine.Tensor.sin)
    with pytest.raises(EquivalenceError, match="torch-engine"):
        test_elementwise.test_elementwise(op="tanh")
