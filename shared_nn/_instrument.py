"""How ``shared_nn.profile()`` sees inside the engines: timing wrappers, installed on their
``Tensor`` methods and module functions for the length of a profile and removed afterwards.

Nothing here edits an engine. :func:`install` replaces attributes (``Tensor.__add__``,
``tensor_engine.tensor.record``, ``torch_engine.fused.softmax`` ...) with wrappers that
call the original; :func:`restore` puts the original objects back. While no profile runs,
the engines are exactly what they were: no flag is tested, no wrapper is called.

What each wrapper measures
--------------------------
* **Forward ops** (every protocol op and module function): calls, wall time, graph nodes
  (the engine's ``nodes_created`` counter before and after). Only the outermost op counts:
  an op that calls other ops (``flatten`` -> ``reshape``, the scalar engine's ``mean`` ->
  ``sum``, an in-place ``add_`` -> ``+``) is one entry, the one the caller asked for.
* **The backward pass** (``Tensor.backward``): its wall time, minus the time of the
  per-op pieces measured inside it (below), is the entry ``"(backward pass)"``.
* **Tensor engine, per op**: ``record`` is wrapped, so each recorded backward rule is
  wrapped too and timed under the op that recorded it (exact). ``record`` and the
  contract's argument rules (``engine_api.rules``: dim, dtype and shape checks) are timed as
  the engine's own bookkeeping; the rest of an op is numpy (plus the op body's few lines of Python).
  Bytes: the memory of each new result array (views count 0) and gradient array.
* **Torch engine, per op**: ``wrap`` is wrapped; it hooks the torch autograd node of each
  result (a pre-hook and a hook), so that node's backward is timed under its op (exact for
  that node; nodes inside composite ops and gradient accumulation stay in the pass).
  Bytes: the storage of each result that is not a view.
* **Scalar engine**: one loop over every ``Value`` does the whole backward; its time is
  shared among op types afterwards, by the graph nodes each created (approximate). Bytes:
  Values created times :data:`VALUE_BYTES` (approximate).
* **Python's cyclic garbage collector** (a ``gc.callbacks`` entry): a collection that runs
  between ops (walking the nodes the ops just made) is the entry ``"(garbage collector)"``
  of the engine whose op ran last, counted as forward time; one inside an op is part of
  that op's time already.

Threads: wrappers are process-wide while installed, but each one records only in the thread
that entered the profile (a thread-local stack, ``None`` in every other thread, which
calls straight through).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

perf_counter = time.perf_counter

BACKWARD_PASS = "(backward pass)"
GARBAGE_COLLECTOR = "(garbage collector)"

# Tensor attribute -> op name shown in the profile (reflected and in-place forms share one).
METHOD_OPS = {
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__rsub__": "sub",
    "__mul__": "mul", "__rmul__": "mul", "__truediv__": "div", "__rtruediv__": "div",
    "__neg__": "neg", "__pow__": "pow", "pow": "pow", "square": "pow",
    "__matmul__": "matmul", "__rmatmul__": "matmul", "matmul": "matmul",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "relu": "relu",
    "sigmoid": "sigmoid", "abs": "abs", "sin": "sin", "cos": "cos", "erf": "erf",
    "clamp": "clamp", "clip": "clamp", "softmax": "softmax", "log_softmax": "log_softmax",
    "sum": "sum", "mean": "mean", "max": "max", "min": "min", "var": "var", "std": "std",
    "reshape": "reshape", "view": "reshape", "flatten": "reshape", "transpose": "transpose",
    "T": "transpose", "permute": "transpose", "unsqueeze": "reshape", "squeeze": "reshape",
    "split": "split", "__getitem__": "index", "expand": "expand", "clone": "clone",
    "masked_fill": "masked_fill", "float": "to", "double": "to", "to": "to",
    "detach": "detach", "assign_": "assign_", "lerp": "lerp",
    "add_": "add_", "__iadd__": "add_", "sub_": "sub_", "__isub__": "sub_",
    "mul_": "mul_", "__imul__": "mul_", "div_": "div_", "__itruediv__": "div_",
    "fill_": "fill_", "zero_": "fill_", "copy_": "copy_", "clamp_": "clamp_",
    "__setitem__": "setitem",
    "log1p": "log1p", "cumsum": "cumsum", "gather": "gather", "scatter_add": "scatter_add",
    "index_select": "index_select", "where": "where", "masked_fill_": "masked_fill_",
    # no graph: index-valued results (int64) and comparisons (bool)
    "argmax": "argmax", "argmin": "argmin", "sort": "sort", "argsort": "sort", "topk": "topk",
    "__eq__": "compare", "__ne__": "compare", "__lt__": "compare", "__le__": "compare",
    "__gt__": "compare", "__ge__": "compare", "eq": "compare", "ne": "compare",
    "lt": "compare", "le": "compare", "gt": "compare", "ge": "compare",
}
# Module-level functions (in the engine package, its tensor module and its fused module).
FUNCTION_OPS = {
    "tensor": "tensor", "zeros": "tensor", "ones": "tensor", "cat": "cat", "stack": "stack",
    "where": "where", "matmul": "matmul", "softmax": "softmax", "log_softmax": "log_softmax",
    "cross_entropy": "cross_entropy", "layer_norm": "layer_norm", "gelu": "gelu",
    "linear": "linear", "scaled_dot_product_attention": "attention",
    "decoder_block_step": "decoder_block",
}
CONSTRUCTORS = frozenset({"tensor", "detach"})  # leaves: never part of a backward pass
# The contract's argument rules the tensor engine calls in its ops: its bookkeeping besides
# ``record``, what an op does besides calling numpy.
TENSOR_HELPERS = ("normalize_dim", "normalize_dims", "float_dtype", "foreign_tensor",
                  "broadcast_shape", "bool_mask", "mask_shape", "exponent", "clamp_bounds")


def _value_bytes() -> int:
    """Approximate bytes of one scalar-engine node: the Value, its float, a list slot."""
    from scalar_engine import Value

    return sys.getsizeof(Value(0.5)) + sys.getsizeof(0.5) + 8


VALUE_BYTES = _value_bytes()


# ------------------------------------------------------------------------------ recording


class OpStats:
    """What one op type did: the numbers a profile reports (times in seconds)."""

    __slots__ = ("engine", "calls", "nodes", "graph_nodes", "forward_s", "backward_s", "bytes",
                 "engine_s")

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.calls = self.nodes = self.graph_nodes = self.bytes = 0
        self.forward_s = self.backward_s = self.engine_s = 0.0


class Frame:
    """One op (or backward piece) in progress on this thread's stack.

    ``child_s`` is time measured by frames inside this one, ``helper_s`` time in the
    tensor engine's bookkeeping helpers, ``overhead_s`` the profiler's own work inside this
    frame's span (taken out of the op's time: it shows as time outside ops)."""

    __slots__ = ("stats", "start", "child_s", "nodes0", "helper_s", "overhead_s", "backward",
                 "graph")

    def __init__(self, stats: OpStats, nodes0: int = 0, backward: bool = False,
                 graph: bool = False) -> None:
        self.stats, self.nodes0, self.backward, self.graph = stats, nodes0, backward, graph
        self.start = self.child_s = self.helper_s = self.overhead_s = 0.0


class _ThreadState(threading.local):
    """``stack`` is None except in the thread that entered the active profile."""

    stack: list[Frame] | None = None
    recorder: Recorder | None = None
    in_helper = False
    last_engine = ""  # the engine of the op that ended last (it made the garbage)


state = _ThreadState()


class Recorder:
    """The numbers of one profile: ``stats[engine][op] -> OpStats``."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, OpStats]] = {}

    def op(self, engine: str, name: str) -> OpStats:
        ops = self.stats.setdefault(engine, {})
        if name not in ops:
            ops[name] = OpStats(engine)
        return ops[name]


def close(frame: Frame, end: float, stack: list[Frame], nodes_now: int = 0) -> None:
    """Take ``frame`` off the stack and add what it measured to its op's numbers.

    A frame's own time excludes its children (the backward pieces timed inside the pass)
    and the profiler's overhead; frames left above it by an exception are dropped."""
    while stack and stack.pop() is not frame:
        pass
    elapsed = end - frame.start
    stats = frame.stats
    own = elapsed - frame.child_s - frame.overhead_s
    if frame.backward:
        stats.backward_s += own
    else:
        nodes = max(nodes_now - frame.nodes0, 0)  # 0 if someone reset the counter meanwhile
        stats.calls += 1
        stats.forward_s += own
        stats.nodes += nodes
        stats.graph_nodes += nodes if frame.graph else 0
        stats.engine_s += frame.helper_s
        state.last_engine = stats.engine
    if stack:
        stack[-1].child_s += elapsed


def _open(stats: OpStats, stack: list[Frame]) -> Frame:
    """Push a backward frame for ``stats``; the caller sets its ``start``."""
    frame = Frame(stats, backward=True)
    stack.append(frame)
    return frame


def _close_piece(frame: Frame, entered: float, end: float, stack: list[Frame]) -> None:
    """Close a backward piece and charge the wrapper's own time (from ``entered`` to now,
    outside the piece's span) to the frame around it as profiler overhead."""
    close(frame, end, stack)
    if stack:
        stack[-1].overhead_s += perf_counter() - entered - (end - frame.start)


# ------------------------------------------------------------------------------- wrappers


def forward_op(fn: Callable, stats: OpStats, count: Callable[[], int],
               grad_enabled: Callable[[], bool]) -> Callable:
    """``fn`` timed as one call of ``stats``'s op, unless it runs inside another op."""

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        stack = state.stack
        if stack is None or stack:  # not profiling here, or called by another op
            return fn(*args, **kwargs)
        frame = Frame(stats, count(), graph=grad_enabled())
        stack.append(frame)
        frame.start = perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            end = perf_counter()
            close(frame, end, stack, count())

    return op


def backward_pass(fn: Callable, stats: OpStats) -> Callable:
    """``Tensor.backward`` timed as the pass; pieces timed inside it are subtracted."""

    @functools.wraps(fn)
    def backward(*args: Any, **kwargs: Any) -> Any:
        stack = state.stack
        if stack is None or stack:
            return fn(*args, **kwargs)
        frame = _open(stats, stack)
        frame.start = perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            close(frame, perf_counter(), stack)

    return backward


def helper(fn: Callable, engine: str) -> Callable:
    """A helper whose time counts as the current op's bookkeeping, inside ``engine``'s ops."""

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        entered = perf_counter()
        stack = state.stack
        if not stack or state.in_helper or stack[-1].stats.engine != engine:
            return fn(*args, **kwargs)
        state.in_helper = True
        start = perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            end = perf_counter()
            frame = stack[-1]
            frame.helper_s += end - start
            state.in_helper = False
            frame.overhead_s += perf_counter() - entered - (end - start)

    return timed


def _owner(array: Any) -> Any:
    """The object owning ``array``'s memory (the end of its chain of views)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def _new_bytes(arrays: Any, old: list) -> int:
    """Bytes of the memory owners of ``arrays`` that are none of ``old``'s owners."""
    total = 0
    for array in arrays:
        if array is not None:
            owner = _owner(array)
            for known in old:
                if owner is known:
                    break
            else:
                total += getattr(owner, "nbytes", 0)
    return total


def tensor_record(fn: Callable, recorder: Recorder) -> Callable:
    """The tensor engine's ``record``: timed as bookkeeping, its rule wrapped and timed
    under the op that records it, the result's new memory counted."""

    @functools.wraps(fn)
    def record(data: np.ndarray, parents: tuple, backward: Callable) -> Any:
        entered = perf_counter()
        stack = state.stack
        if not stack or stack[-1].backward:
            return fn(data, parents, backward)
        frame = stack[-1]
        rule = timed_rule(backward, frame.stats, recorder)
        start = perf_counter()
        out = fn(data, parents, rule)
        end = perf_counter()
        frame.helper_s += end - start
        frame.stats.bytes += _new_bytes((data,), [_owner(p._data) for p in parents])
        frame.overhead_s += perf_counter() - entered - (end - start)
        return out

    return record


def timed_rule(rule: Callable, stats: OpStats, recorder: Recorder) -> Callable:
    """A backward rule timed (and its new gradient memory counted) under its op."""

    def run(g: np.ndarray) -> tuple:
        entered = perf_counter()
        stack = state.stack
        if stack is None or state.recorder is not recorder:  # after the profile, elsewhere
            return rule(g)
        frame = _open(stats, stack)
        frame.start = perf_counter()
        try:
            grads = rule(g)
        finally:
            end = perf_counter()
            _close_piece(frame, entered, end, stack)
        stats.bytes += _new_bytes(grads, [_owner(g)])
        if stack:
            stack[-1].overhead_s += perf_counter() - end
        return grads

    return run


def torch_wrap(fn: Callable, recorder: Recorder) -> Callable:
    """The torch engine's ``wrap``: counts a result's new storage and hooks its node."""

    @functools.wraps(fn)
    def wrap(t: Any) -> Any:
        out = fn(t)
        stack = state.stack
        if stack and not stack[-1].backward:
            entered = perf_counter()
            frame = stack[-1]
            if not t._is_view():
                frame.stats.bytes += t.untyped_storage().nbytes()
            if t.grad_fn is not None:
                _hook_node(t.grad_fn, frame.stats, recorder)
            frame.overhead_s += perf_counter() - entered
        return out

    return wrap


def _hook_node(node: Any, stats: OpStats, recorder: Recorder) -> None:
    """Time torch autograd ``node``'s backward under ``stats``: a pre-hook opens a frame, a
    hook closes it (only in the profiling thread, only while this profile records)."""
    opened: list[tuple[Frame, float]] = []

    def pre(grad_outputs: Any) -> None:
        entered = perf_counter()
        stack = state.stack
        if stack is not None and state.recorder is recorder:
            frame = _open(stats, stack)
            opened.append((frame, entered))
            frame.start = perf_counter()

    def post(grad_inputs: Any, grad_outputs: Any) -> None:
        end = perf_counter()
        if opened:
            frame, entered = opened.pop()
            stack = state.stack
            if stack and frame in stack:
                _close_piece(frame, entered, end, stack)

    node.register_prehook(pre)
    node.register_hook(post)


def gc_callback(recorder: Recorder, default_engine: str) -> Callable[[str, dict], None]:
    """A ``gc.callbacks`` entry timing collections that run between ops in this thread."""
    started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        stack = state.stack
        if stack is None or stack or state.recorder is not recorder:
            return
        if phase == "start":
            started.append(perf_counter())
        elif started:
            stats = recorder.op(state.last_engine or default_engine, GARBAGE_COLLECTOR)
            stats.calls += 1
            stats.forward_s += perf_counter() - started.pop()

    return on_gc


# ---------------------------------------------------------------------------- installing


@dataclass
class Patch:
    """One replaced attribute: ``owner.name`` was ``original``, is ``replacement``."""

    owner: Any
    name: str
    original: Any
    replacement: Any
    inherited: bool = False  # the original was a base class's: restoring deletes the wrapper


def _engine_modules(engine: types.ModuleType) -> list[types.ModuleType]:
    """The engine package and its already-imported submodules."""
    prefix = engine.__name__ + "."
    subs = [m for n, m in sorted(sys.modules.items()) if n.startswith(prefix) and m is not None]
    return [engine, *subs]


def _own_function(obj: Any, engine: types.ModuleType) -> bool:
    return isinstance(obj, types.FunctionType) and obj.__module__.startswith(engine.__name__)


def _inherited(cls: type, attr: str) -> Any:
    """``attr`` as ``cls`` finds it: in its own namespace or a base's (engine_api's derived
    methods), unbound."""
    return next((klass.__dict__[attr] for klass in cls.__mro__ if attr in klass.__dict__), None)


def _method_patches(engine: types.ModuleType, recorder: Recorder) -> list[Patch]:
    """Wrappers for the Tensor class's op methods (its own and those it inherits from
    ``engine_api.TensorMethods``), the ``T`` property and ``backward``. A wrapper goes on the
    engine's own class, so one engine's profile never touches another's methods."""
    cls, name = engine.Tensor, engine.NAME
    count, grad = engine.nodes_created, engine.is_grad_enabled
    patches = []
    for attr, op in METHOD_OPS.items():
        original = _inherited(cls, attr)
        if isinstance(original, property) and original.fget is not None:
            fget = forward_op(original.fget, recorder.op(name, op), count, grad)
            new: Any = property(fget, original.fset, original.fdel, original.__doc__)
        elif isinstance(original, types.FunctionType):
            new = forward_op(original, recorder.op(name, op), count, grad)
        else:
            continue
        patches.append(Patch(cls, attr, original, new, inherited=attr not in cls.__dict__))
    original = cls.__dict__["backward"]
    patches.append(Patch(cls, "backward", original,
                         backward_pass(original, recorder.op(name, BACKWARD_PASS))))
    return patches


def _function_patches(engine: types.ModuleType, recorder: Recorder) -> list[Patch]:
    """Wrappers for module functions, in every module of the engine that holds them (one
    wrapper per function, so ``tensor_engine.matmul`` and the ``matmul`` that
    ``Tensor.__matmul__`` calls are the same entry)."""
    name, count, grad = engine.NAME, engine.nodes_created, engine.is_grad_enabled
    wrappers: dict[int, Any] = {}
    patches = []
    for module in _engine_modules(engine):
        for attr, op in FUNCTION_OPS.items():
            original = module.__dict__.get(attr)
            if not _own_function(original, engine):
                continue
            if id(original) not in wrappers:
                wrappers[id(original)] = forward_op(original, recorder.op(name, op), count, grad)
            patches.append(Patch(module, attr, original, wrappers[id(original)]))
    return patches


def _internal_patches(engine: types.ModuleType, recorder: Recorder) -> list[Patch]:
    """The tensor engine's ``record`` and the rules it calls, the torch engine's ``wrap``."""
    special = {"tensor": {"record": tensor_record},
               "torch": {"wrap": torch_wrap}}.get(engine.NAME, {})
    patches = []
    for module in _engine_modules(engine):
        for attr, make in special.items():
            original = module.__dict__.get(attr)
            if _own_function(original, engine):
                patches.append(Patch(module, attr, original, make(original, recorder)))
    if engine.NAME == "tensor":
        from engine_api import rules

        patches += [Patch(rules, attr, getattr(rules, attr), helper(getattr(rules, attr), "tensor"))
                    for attr in TENSOR_HELPERS]
    return patches


def install(engines: list[types.ModuleType], recorder: Recorder) -> list[Patch]:
    """Put the wrappers in place for ``engines``; returns what :func:`restore` undoes."""
    patches: list[Patch] = []
    try:
        for engine in engines:
            for patch in (*_method_patches(engine, recorder),
                          *_function_patches(engine, recorder),
                          *_internal_patches(engine, recorder)):
                setattr(patch.owner, patch.name, patch.replacement)
                patches.append(patch)
    except BaseException:
        restore(patches)
        raise
    return patches


def restore(patches: list[Patch]) -> None:
    """Put every original object back, newest patch first. A method the class inherited
    goes back to being inherited (the wrapper is deleted, not replaced by a copy)."""
    for patch in reversed(patches):
        if patch.inherited:
            delattr(patch.owner, patch.name)
        else:
            setattr(patch.owner, patch.name, patch.original)
