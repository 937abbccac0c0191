"""Check your own model on every engine, in the spirit of ``torch.testing``.

    import numpy as np
    import shared_nn as nn
    from shared_nn.testing import assert_engines_agree, gradcheck

    class Scaled(nn.Module):
        def __init__(self, engine=None, dtype=None):
            super().__init__(engine=engine, dtype=dtype)
            self.fc = nn.Linear(3, 2, engine=self.engine, dtype=self._dtype_request)
            self.scale = self.new_parameter(np.ones(2))

        def forward(self, x):
            return self.fc(x).tanh() * self.scale

    x = np.random.default_rng(0).standard_normal((4, 3))
    assert_engines_agree(Scaled, x, targets=np.array([0, 1, 1, 0]), steps=3)

:func:`assert_engines_agree` builds the model from one seed on each engine, runs it, and
compares the outputs, the loss, every parameter's gradient (by name), the gradients of float
inputs and, with ``steps > 0``, the losses and parameters along a few optimizer steps.
Integer and bool outputs (predicted classes, masks) are compared exactly, and never
differentiated. The
reference is PyTorch (``engine="torch"``, shared_nn's model computed by torch itself) when it
is installed, else the first engine listed. A disagreement raises :class:`EnginesDisagree`
(an AssertionError) whose message names the first quantity, parameter and engine that differ,
above a table of every comparison.

:func:`gradcheck` compares an engine's gradients with central finite differences, like
``torch.autograd.gradcheck``, on any engine (no PyTorch needed).

Tolerances
----------
A comparison passes when, elementwise, ``|got - want| <= rtol * |want| + atol * max(1,
max|want|)``: the relative part covers ordinary values, the absolute floor (scaled to the
size of the array) covers entries that cancel to nearly zero, whose relative error is
unbounded even for a correct result. The defaults follow the equivalence suite
(``tests/equivalence/checker.py``):

* **float64, one forward and backward pass**: ``rtol = 1e-10``, ``atol = 1e-12``. float64
  carries ~16 digits; the engines sum in different orders (the scalar engine one product at a
  time, numpy and torch blocked), so a sum of ``n`` terms may differ by a few ``n * 2^-53``
  relative to the terms. A wrong derivative is off by O(1): ten orders of magnitude above.
* **float64 trajectories** (losses and parameters after each step): ``1e-9`` for both.
  Rounding differences are amplified a little by each step (momentum, Adam's division by
  ``sqrt(v)``); a wrong update rule is off by far more at the first step.
* **float32**: ``1e-4`` for both (``1e-3`` along trajectories). float32 has ~7 digits and some
  gradients amplify rounding (layer_norm divides by ``sqrt(var + eps)``); the scalar engine
  always computes in float64, so it is compared with float32 results at this tolerance too.
* **initial weights** must be identical: one seed gives the same float64 draws on every
  engine (cast to the model's dtype).

``rtol=`` / ``atol=`` override every tolerance at once. Integer and bool outputs have no
tolerance: the same dtype kind, shape and values, or a disagreement.

gradcheck's defaults are ``torch.autograd.gradcheck``'s: ``eps = 1e-6``, ``atol = 1e-5``,
``rtol = 1e-3`` on ``|analytical - numerical| <= atol + rtol * |numerical|``, in float64.
Central differences have error O(eps^2 f''') plus rounding O(2^-53 |f| / eps) ~ 1e-10: far
below the tolerance, while a wrong rule misses by O(1).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import functional as F
from ._report import Report, Row
from .engine import (
    ENGINES,
    as_numpy,
    check_engine_name,
    engine_available,
    get_engine,
    use_engine,
)
from .grad_mode import enable_grad
from .init import manual_seed
from .module import Module, effective_dtype, float_dtype_argument

__all__ = ["assert_engines_agree", "assert_close", "difference", "gradcheck",
           "EnginesDisagree", "Report", "Row", "tolerances"]

RTOL64, ATOL64 = 1e-10, 1e-12
TRAJECTORY64 = 1e-9
RTOL32 = ATOL32 = 1e-4
TRAJECTORY32 = 1e-3


class EnginesDisagree(AssertionError):
    """Raised by :func:`assert_engines_agree`; ``.report`` holds every comparison."""

    def __init__(self, report: Report) -> None:
        super().__init__(str(report))
        self.report = report


def tolerances(dtype: Any) -> dict[str, tuple[float, float]]:
    """The default (rtol, atol) for one pass and for trajectories, by dtype."""
    if float_dtype_argument(dtype) == np.dtype(np.float32):
        return {"pass": (RTOL32, ATOL32), "trajectory": (TRAJECTORY32, TRAJECTORY32)}
    return {"pass": (RTOL64, ATOL64), "trajectory": (TRAJECTORY64, TRAJECTORY64)}


# --------------------------------------------------------------------------- one engine's run


@dataclass
class _Run:
    """What one engine computed."""

    engine: str
    initial: dict[str, np.ndarray]
    built: np.dtype  # the dtype the factory built in (before any conversion)
    outputs: list[np.ndarray] = field(default_factory=list)  # each in its own dtype
    loss: float | None = None  # None: no float output to differentiate
    grads: dict[str, np.ndarray | None] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)  # at steps 2..N (step 1 is `loss`)
    params: list[dict[str, np.ndarray]] = field(default_factory=list)  # after each step
    error: str | None = None


def _accepted(build: Callable[..., Any]) -> set[str]:
    """Which of ``engine`` / ``dtype`` the factory takes as keyword arguments."""
    try:
        parameters = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return {"engine", "dtype"}
    return {p.name for p in parameters} & {"engine", "dtype"}


def _build(build: Callable[..., Any], engine: str, dtype: np.dtype,
           seed: int) -> tuple[Module, np.dtype]:
    """``build(engine=..., dtype=...)`` (the arguments it takes) right after
    ``manual_seed(seed)``, inside ``use_engine(engine)``; a model left in another dtype
    (a factory without ``dtype=``) is converted. Returns the model and the dtype it was
    built in."""
    manual_seed(seed)
    accepted = _accepted(build)
    kwargs = {k: v for k, v in (("engine", engine), ("dtype", dtype)) if k in accepted}
    with use_engine(engine):
        model = build(**kwargs)
    if not isinstance(model, Module):
        raise TypeError(f"build() must return a shared_nn Module, got {type(model).__name__}")
    if model.engine != engine:
        raise ValueError(f"build() made a model on the {model.engine} engine when asked for "
                         f"{engine!r}: pass engine= on to the layers, or leave it unset")
    built = model.dtype
    if built != effective_dtype(engine, dtype):
        model = model.to_engine(engine, dtype)
    return model, built


def _as_args(inputs: Any) -> tuple:
    """The model's positional arguments: a tuple is several, anything else one."""
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _leaf(E: Any, x: Any, dtype: np.dtype) -> Any:
    """Float data becomes a leaf that requires grad; integer data (ids) stays an ndarray
    (an engine Tensor given as input is read as its values first)."""
    array = as_numpy(x)
    if array.dtype.kind == "f":
        return E.tensor(np.array(array, dtype=dtype), requires_grad=True, dtype=dtype)
    return array


def _weights(shape: tuple[int, ...], index: int) -> np.ndarray:
    """Fixed random weights for the default loss: with all-ones weights a backward rule
    that forgets a transpose can still give the right numbers by symmetry."""
    rng = np.random.default_rng([index, len(shape), *shape])
    return rng.standard_normal(shape)


def _is_float(t: Any) -> bool:
    """Whether ``t`` is a float Tensor (what has gradients); int and bool outputs have none."""
    return np.dtype(t.dtype).kind == "f"


def _loss_of(output: Any, targets: Any, loss: Callable[..., Any] | None, E: Any) -> Any:
    """The scalar to differentiate (see :func:`assert_engines_agree`), or None when the
    model has no float output to differentiate (only int/bool ones) and no loss is given."""
    if loss is not None:
        return loss(output, targets)
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    if targets is not None:
        labels = as_numpy(targets)
        if labels.dtype.kind in "iu":
            return F.cross_entropy(outputs[0], labels)
        return F.mse_loss(outputs[0], labels)
    total = None
    for i, out in enumerate(outputs):
        if not _is_float(out):
            continue  # an int/bool output is compared exactly, never differentiated
        w = E.tensor(_weights(tuple(out.shape), i), dtype=out.dtype)
        term = (out * w).sum()
        total = term if total is None else total + term
    return total


def _snapshot(model: Module) -> dict[str, np.ndarray]:
    return {name: np.array(p.numpy(), dtype=np.float64) for name, p in
            model.named_parameters()}


def _forward(model: Module, args: tuple, targets: Any, loss: Any, E: Any) -> tuple:
    """One forward pass, its loss, and backward; returns (output, loss) (loss None: nothing
    to differentiate)."""
    out = model(*args)
    for item in out if isinstance(out, (tuple, list)) else (out,):
        if isinstance(item, np.ndarray):  # it left the graph: no gradient to compare
            raise TypeError(f"{type(model).__name__}.forward returned a "
                            f"{type(item).__module__}.{type(item).__name__}, not a Tensor of "
                            f"the {E.NAME} engine (a .numpy() in forward leaves the graph)")
    value = _loss_of(out, targets, loss, E)
    model.zero_grad()
    if value is not None:
        value.backward()
    return out, value


@dataclass(frozen=True)
class _Task:
    """What every engine runs: the inputs, the loss and the training steps."""

    inputs: Any
    targets: Any
    loss: Callable[[Any, Any], Any] | None
    steps: int
    optimizer: Callable[[Any], Any]


def _run(model: Module, record: _Run, task: _Task) -> _Run:
    """The forward/backward pass and the training steps on one engine."""
    E = get_engine(record.engine)
    args = tuple(_leaf(E, x, model.dtype) for x in _as_args(task.inputs))
    with enable_grad():
        out, value = _forward(model, args, task.targets, task.loss, E)
        outputs = list(out) if isinstance(out, (tuple, list)) else [out]
        record.outputs = [np.array(as_numpy(o), copy=True) for o in outputs]
        if value is None:
            if task.steps:
                raise ValueError("steps > 0 needs a loss: the model has no float output to "
                                 "differentiate (pass loss=)")
            return record
        record.loss = float(value.item())
        record.grads = {f"grad of {name}": _grad(p) for name, p in model.named_parameters()}
        float_args = [a for a in args if hasattr(type(a), "engine")]
        for i, a in enumerate(float_args):
            record.grads[f"grad of input {i}" if len(float_args) > 1 else "grad of input"] = (
                _grad(a))
        if task.steps:
            _train(model, E, task, record)
    return record


def _train(model: Module, E: Any, task: _Task, record: _Run) -> None:
    """``task.steps`` optimizer steps; the first uses the gradients already computed."""
    opt = task.optimizer(model.parameters())
    opt.step()
    record.params.append(_snapshot(model))
    args = tuple(_leaf(E, x, model.dtype) for x in _as_args(task.inputs))
    for _ in range(task.steps - 1):
        _, value = _forward(model, args, task.targets, task.loss, E)
        record.losses.append(float(value.item()))
        opt.step()
        record.params.append(_snapshot(model))


def _grad(t: Any) -> np.ndarray | None:
    """``t.grad`` (a Tensor of ``t``'s engine) as a float64 copy, or None."""
    grad = t.grad
    return None if grad is None else np.array(as_numpy(grad), dtype=np.float64)


# --------------------------------------------------------------------------- comparing


def difference(got: Any, want: Any, rtol: float, atol: float) -> tuple[float, float, bool, str]:
    """(max abs diff, max rel diff, passed, note) for two arrays: the one comparison rule of
    this module and of the project's own equivalence suite (see Tolerances). ``|got - want|
    <= rtol * |want| + atol * max(1, max |want|)`` entry by entry; equal infinities and NaN
    where ``want`` has NaN agree; a shape mismatch fails."""
    g = np.asarray(as_numpy(got), dtype=np.float64)  # engine Tensors read as their values
    w = np.asarray(as_numpy(want), dtype=np.float64)
    if g.shape != w.shape:
        return np.inf, np.inf, False, f"shape {g.shape}, reference {w.shape}"
    if w.size == 0:
        return 0.0, 0.0, True, ""
    finite = np.isfinite(w)
    scale = max(1.0, float(np.max(np.abs(w[finite]), initial=0.0)))
    same = (g == w) | (np.isnan(g) & np.isnan(w))  # equal infinities, NaN for NaN
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(same, 0.0, np.abs(g - w))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(diff == 0, 0.0, diff / np.abs(w))
    passed = bool(np.all(diff <= rtol * np.abs(np.where(finite, w, 0.0)) + atol * scale))
    note = ""
    if not passed:
        worst = np.unravel_index(int(np.argmax(diff)), w.shape)
        note = (f"worst at index {tuple(int(i) for i in worst)}: {float(g[worst]):.10g}, "
                f"reference {float(w[worst]):.10g}")
    return float(diff.max()), float(np.nan_to_num(rel, nan=np.inf).max()), passed, note


def assert_close(actual: Any, expected: Any, *, rtol: float = RTOL64, atol: float = ATOL64,
                 msg: str = "values") -> None:
    """AssertionError unless ``actual`` matches ``expected`` under :func:`difference`'s rule
    (float64 defaults; see Tolerances). The message names the worst entry and both values."""
    max_abs, _, passed, note = difference(actual, expected, rtol, atol)
    if not passed:
        raise AssertionError(f"{msg}: {note} (max |diff| {max_abs:.3g}; rtol {rtol:g}, "
                             f"atol {atol:g} x max(1, max |expected|))")


def _exact_kind(array: Any) -> bool:
    """Integer or bool values: compared exactly."""
    return isinstance(array, np.ndarray) and array.dtype.kind in "biu"


def _exact_row(quantity: str, engine: str, got: np.ndarray, want: np.ndarray) -> Row:
    """Integer and bool outputs agree only exactly: same kind (bool / integer / float), shape
    and values."""
    kinds = {"b": "bool", "i": "integer", "u": "integer", "f": "float"}
    g_kind, w_kind = kinds.get(got.dtype.kind, str(got.dtype)), kinds.get(want.dtype.kind,
                                                                          str(want.dtype))
    note = ""
    if g_kind != w_kind:
        note = f"dtype {got.dtype}, reference {want.dtype}"
    elif got.shape != want.shape:
        note = f"shape {got.shape}, reference {want.shape}"
    elif not np.array_equal(got, want):
        wrong = np.argwhere(got != want)
        first = tuple(int(i) for i in wrong[0])
        note = (f"{len(wrong)} of {want.size} values differ; first at index {first}: "
                f"{got[first].item()!r}, reference {want[first].item()!r}")
    if note:
        diff = np.inf if g_kind != w_kind or got.shape != want.shape else float(
            np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        return Row(quantity, engine, diff, np.nan, "exact", False, note)
    return Row(quantity, engine, 0.0, 0.0, "exact", True)


def _row(quantity: str, engine: str, got: Any, want: Any, tol: tuple[float, float]) -> Row:
    if _exact_kind(got) or _exact_kind(want):
        return _exact_row(quantity, engine, np.asarray(got), np.asarray(want))
    if got is None or want is None:  # a gradient that is None: zeros mean the same
        if got is None and want is None:
            return Row(quantity, engine, 0.0, 0.0, _tol_text(tol), True)
        present = got if got is not None else want
        got = np.zeros_like(present) if got is None else got
        want = np.zeros_like(present) if want is None else want
    max_abs, max_rel, passed, note = difference(got, want, *tol)
    return Row(quantity, engine, max_abs, max_rel, _tol_text(tol), passed, note)


def _tol_text(tol: tuple[float, float]) -> str:
    return f"rtol {tol[0]:g}, atol {tol[1]:g}"


def _initial_row(run: _Run, ref: _Run) -> Row:
    """Initial weights must be identical, compared in the lower of the two precisions the
    models were built in (a float32 build holds the float64 draws, rounded)."""
    if run.initial.keys() != ref.initial.keys():
        return Row("parameter names", run.engine, np.inf, np.inf, "identical", False,
                   f"{sorted(run.initial)} vs {sorted(ref.initial)}")
    low = min(run.built, ref.built, key=lambda d: d.itemsize)
    worst, first_bad = 0.0, None
    for name, want in ref.initial.items():
        got = run.initial[name].astype(low).astype(np.float64)
        diff = float(np.max(np.abs(got - want.astype(low)), initial=0.0))
        if diff > 0 and first_bad is None:
            first_bad = name
        worst = max(worst, diff)
    quantity = "initial weights" if first_bad is None else f"initial weight {first_bad}"
    return Row(quantity, run.engine, worst, np.nan, "identical", first_bad is None,
               "" if first_bad is None else "same seed, different values")


def _pass_rows(run: _Run, ref: _Run, tol: tuple[float, float]) -> list[Row]:
    rows = []
    for i, (g, w) in enumerate(zip(run.outputs, ref.outputs, strict=False)):
        rows.append(_row("output" if len(ref.outputs) == 1 else f"output {i}", run.engine, g, w,
                         tol))
    if len(run.outputs) != len(ref.outputs):
        rows.append(Row("outputs", run.engine, np.inf, np.inf, "same count", False,
                        f"{len(run.outputs)} outputs, reference {len(ref.outputs)}"))
    if run.loss is not None or ref.loss is not None:
        rows.append(_row("loss", run.engine, np.nan if run.loss is None else run.loss,
                         np.nan if ref.loss is None else ref.loss, tol))
    for name, want in ref.grads.items():
        rows.append(_row(name, run.engine, run.grads.get(name), want, tol))
    return rows


def _trajectory_rows(run: _Run, ref: _Run, tol: tuple[float, float]) -> list[Row]:
    """The loss (from step 2: step 1's is the "loss" row) and each parameter after every
    step: one row each, with the worst step; a failing row names the first step that
    disagrees."""
    series = [("loss", "at step", 2, [[x] for x in run.losses], [[x] for x in ref.losses])]
    for name in ref.initial:
        series.append((name, "after step", 1, [p.get(name) for p in run.params],
                       [p[name] for p in ref.params]))
    rows = []
    for name, when, first, got, want in series:
        if not want:
            continue
        per_step = [_row(name, run.engine, g, w, tol)
                    for g, w in zip(got, want, strict=True)]
        bad = next((k for k, r in enumerate(per_step) if not r.passed), None)
        last = first + len(want) - 1
        span = f"{when} {first}" if first == last else f"{when}s {first}-{last}"
        label = f"{name} {span}" if bad is None else f"{name} {when} {first + bad}"
        rows.append(Row(label, run.engine, max(r.max_abs for r in per_step),
                        max(r.max_rel for r in per_step), _tol_text(tol), bad is None,
                        "" if bad is None else per_step[bad].note))
    return rows


def _compare(run: _Run, ref: _Run, steps: int, tols: dict[str, tuple[float, float]]) -> list[Row]:
    if run.error is not None:
        return [Row("forward/backward", run.engine, np.nan, np.nan, "-", False, run.error)]
    rows = [_initial_row(run, ref)]
    if not rows[0].passed and rows[0].quantity == "parameter names":
        return rows
    rows += _pass_rows(run, ref, tols["pass"])
    if steps:
        rows += _trajectory_rows(run, ref, tols["trajectory"])
    return rows


# --------------------------------------------------------------------------- the API


def _choose_engines(engines: Sequence[str], reference: str | None) -> tuple[list[str], dict]:
    """The available engines (reference first) and why the others were skipped."""
    names = [check_engine_name(e) for e in engines]
    skipped = {e: "not installed" for e in names if not engine_available(e)}
    usable = [e for e in names if e not in skipped]
    if reference is None:
        reference = "torch" if "torch" in usable else (usable[0] if usable else None)
    if reference not in usable:
        raise ValueError(f"reference engine {reference!r} is not among the available engines "
                         f"{usable}")
    if len(usable) < 2:
        raise ValueError(f"need at least two available engines to compare, got {usable} "
                         f"(skipped: {skipped})")
    return [reference] + [e for e in usable if e != reference], skipped


def _default_optimizer(params: Any) -> Any:
    from .optim import SGD

    return SGD(params, lr=0.1)


def assert_engines_agree(
    build: Callable[..., Module],
    inputs: Any,
    targets: Any = None,
    loss: Callable[[Any, Any], Any] | None = None,
    engines: Sequence[str] = ENGINES,
    dtype: Any = "float64",
    steps: int = 0,
    optimizer: Callable[[Any], Any] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    reference: str | None = None,
) -> Report:
    """Build ``build`` on every engine from one seed and assert that they compute the same.

    ``build`` is called right after ``shared_nn.manual_seed(seed)``, inside
    ``use_engine(engine)``, with ``engine=`` and ``dtype=`` if it takes them (a Module
    subclass, ``lambda **kw: MLP([4, 8, 3], **kw)``); a model built in another dtype is
    converted to ``dtype``. ``inputs`` is the model's input (a tuple: several positional
    inputs); float arrays become leaves that require grad, integer arrays (token ids) are
    passed as they are (an engine Tensor given here is read as its values first).

    The loss: ``loss(output, targets)`` if given; else cross-entropy for integer ``targets``
    and mean squared error for float ones; else a fixed random weighting of the outputs.
    With ``steps > 0`` the model then takes that many optimizer steps (default
    ``shared_nn.optim.SGD(params, lr=0.1)``; ``optimizer=lambda ps: Adam(ps, lr=1e-2)``),
    and the losses and parameters after each step are compared too.

    Compared against the reference (PyTorch if available, see the module docstring): the
    initial weights (identical), outputs (int64 and bool ones exactly), loss, every
    parameter gradient by name, the gradients of float inputs, and the trajectory. A model
    whose outputs are all int or bool has no loss to differentiate without ``loss=``: its
    outputs alone are compared (and ``steps`` must be 0). Returns the :class:`Report` (its
    ``table()`` lists every comparison); raises :class:`EnginesDisagree` naming the first
    disagreement. Engines that are not installed are skipped (and listed in the report).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    wanted = float_dtype_argument(dtype) or np.dtype(np.float64)
    names, skipped = _choose_engines(engines, reference)
    tols = tolerances(wanted)
    if rtol is not None or atol is not None:
        tols = {k: (rtol if rtol is not None else t[0], atol if atol is not None else t[1])
                for k, t in tols.items()}
    task = _Task(inputs, targets, loss, steps, optimizer or _default_optimizer)
    built = {e: _build(build, e, wanted, seed) for e in names}
    start = built[names[0]][0].state_dict()
    runs = {e: _guarded_run(model, _Run(e, _snapshot(model), dtype), e == names[0], start, task)
            for e, (model, dtype) in built.items()}
    report = Report(names[0], names, wanted.name, skipped=skipped)
    for e in names[1:]:
        report.rows += _compare(runs[e], runs[names[0]], steps, tols)
    if not report.ok:
        raise EnginesDisagree(report)
    return report


def _guarded_run(model: Module, record: _Run, is_reference: bool,
                 start: dict[str, np.ndarray], task: _Task) -> _Run:
    """Run one engine from the reference's initial weights. An error on the reference is the
    model's (raised); on another engine it is a disagreement (recorded)."""
    try:
        if not is_reference and record.initial.keys() == start.keys():
            model.load_state_dict(start)
        return _run(model, record, task)
    except Exception as err:
        if is_reference:
            raise
        record.error = f"raised {type(err).__name__}: {err}"
        return record


# --------------------------------------------------------------------------- gradcheck


def gradcheck(
    fn: Callable[..., Any],
    *arrays: Any,
    engine: str = "tensor",
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare ``fn``'s gradients on ``engine`` with central finite differences (float64).

    ``fn`` takes one engine tensor per array and returns a tensor. Every element of the
    Jacobian is checked: the analytical one from one backward pass per output element, the
    numerical one from ``(f(x + eps) - f(x - eps)) / (2 eps)`` per input element. Returns
    True, or raises an AssertionError naming the input, the element and both values.
    Keep the inputs small (as for ``torch.autograd.gradcheck``).
    """
    E = get_engine(engine)
    xs = [np.array(a, dtype=np.float64) for a in arrays]
    analytical = _analytical_jacobians(fn, xs, E)
    for k, x in enumerate(xs):
        numerical = _numerical_jacobian(fn, xs, k, eps, E)
        _check_jacobian(engine, k, x.shape, analytical[k], numerical, atol, rtol)
    return True


def _call(fn: Callable[..., Any], tensors: list[Any], E: Any) -> Any:
    out = fn(*tensors)
    if getattr(type(out), "engine", None) != E.NAME:
        raise TypeError(f"gradcheck: fn must return a {E.NAME} engine tensor, got "
                        f"{type(out).__name__}")
    if not _is_float(out):
        raise TypeError(f"gradcheck: fn returned a {out.dtype} tensor, which has no gradient; "
                        "return a float tensor")
    return out


def _analytical_jacobians(fn: Callable[..., Any], xs: list[np.ndarray], E: Any) -> list:
    """One (outputs, inputs) Jacobian per array, from a backward pass per output element."""
    with E.enable_grad():
        leaves = [E.tensor(x, requires_grad=True, dtype="float64") for x in xs]
        out = _call(fn, leaves, E)
        n = out.numel()
        jacobians = [np.zeros((n, x.size)) for x in xs]
        if not out.requires_grad:
            return jacobians
        for i in range(n):
            for leaf in leaves:
                leaf.grad = None
            upstream = np.zeros(n)
            upstream[i] = 1.0
            out.backward(upstream.reshape(out.shape), retain_graph=i < n - 1)
            for k, leaf in enumerate(leaves):
                if leaf.grad is not None:
                    jacobians[k][i] = as_numpy(leaf.grad).reshape(-1)
    return jacobians


def _numerical_jacobian(fn: Callable[..., Any], xs: list[np.ndarray], k: int, eps: float,
                        E: Any) -> np.ndarray:
    """Central differences with respect to array ``k``, one column per element."""

    def value(x_k: np.ndarray) -> np.ndarray:
        tensors = [E.tensor(x_k if j == k else x, dtype="float64") for j, x in enumerate(xs)]
        with E.no_grad():
            return np.array(_call(fn, tensors, E).numpy(), dtype=np.float64).reshape(-1)

    columns = []
    for j in range(xs[k].size):
        up, down = xs[k].copy(), xs[k].copy()
        up.reshape(-1)[j] += eps
        down.reshape(-1)[j] -= eps
        columns.append((value(up) - value(down)) / (2 * eps))
    size = columns[0].size if columns else 0
    return np.stack(columns, axis=1) if columns else np.zeros((size, 0))


def _check_jacobian(engine: str, k: int, shape: tuple, analytical: np.ndarray,
                    numerical: np.ndarray, atol: float, rtol: float) -> None:
    bad = np.abs(analytical - numerical) > atol + rtol * np.abs(numerical)
    if not bad.any():
        return
    i, j = (int(v) for v in np.argwhere(bad)[0])
    element = tuple(int(v) for v in np.unravel_index(j, shape)) if shape else ()
    a, n = analytical[i, j], numerical[i, j]
    raise AssertionError(
        f"gradcheck ({engine} engine): d(output element {i}) / d(input {k} element {element}): "
        f"analytical {a:.10g} vs numerical {n:.10g} (|diff| {abs(a - n):.3g} > atol {atol:g} "
        f"+ rtol {rtol:g} * |numerical|); {int(bad.sum())} of {bad.size} Jacobian entries "
        f"of input {k} differ")
