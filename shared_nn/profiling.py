"""``shared_nn.profile()``: where the time goes, per op type, on every engine.

    import shared_nn as nn

    with nn.profile() as prof:            # every loaded engine; or nn.profile("tensor")
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    print(prof)                           # a text table; prof.print_table() uses rich
    prof.results()                        # the same numbers as a plain dict

Per engine and op type it records **calls**, **graph nodes** created, **forward** and
**backward** time and **bytes** allocated; on the tensor engine also how the time splits
between numpy and the engine's own bookkeeping. Ops are the engines' protocol methods and
module functions (``x @ w``, ``x.sum()``, ``cat``, the fused ``cross_entropy`` ...); an op
that calls other ops is one entry, the one your code called. ``"(backward pass)"`` is what
``backward()`` spends besides the per-op pieces measured inside it. The wall time of the
block less the time in ops (``outside_ops_s``) is the Python around the ops: shared_nn's
layers, your loop, and the profiler's own cost (measured and taken out of the op's time).
``"(garbage collector)"`` is Python's cyclic collector running between ops (walking the
nodes the ops made, so it weighs most on the scalar engine and its node per number),
counted as forward time of the engine whose op ran last.

Which numbers are exact
-----------------------
* forward time, calls, nodes: exact on every engine (a timer around each outermost op).
* backward, tensor engine: exact per op (every recorded backward rule is timed);
  ``(backward pass)`` is the engine's own work (ordering nodes, adding gradients).
* backward, torch engine: exact for the autograd node that produced each op's result
  (timed by hooks); nodes inside composite ops and gradient accumulation stay in
  ``(backward pass)`` with torch's own engine work.
* backward, scalar engine: **approximate** per op. One loop over every ``Value`` does the
  whole pass; its measured time is shared among op types by the graph nodes each created
  (a node costs about the same to differentiate whatever made it). The total is exact.
* bytes: tensor engine, the new arrays of results and gradients (views are free; numpy's
  temporaries inside an op are not counted); torch engine, the storage of results that are
  not views; scalar engine, Values created times about 110 bytes (approximate).
* ``numpy_s`` / ``engine_s`` (tensor engine only): ``engine_s`` is the time inside the
  engine's bookkeeping helpers (``_record``, operand conversion, dim checks) and its
  ``(backward pass)``; ``numpy_s`` is the rest, so it also holds each op body's few lines of
  Python: an upper bound on numpy's share.

Cost and threads
----------------
Zero when not in use: the timing wrappers are installed on the engines' classes and modules
when the block starts and the original objects are put back when it ends, so the engines'
hot paths are untouched outside a profile. Inside, each op also pays for its wrapper's
timers and bookkeeping, which the profile counts as time outside ops.
Only the thread that entered the block is recorded (other threads run through the
wrappers unrecorded), and one profile can be active at a time in a process. Engines are
instrumented as loaded when the block starts (the torch engine only if already imported,
unless named).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from types import ModuleType, TracebackType
from typing import Any

from . import _instrument
from ._instrument import (
    BACKWARD_PASS,
    CONSTRUCTORS,
    GARBAGE_COLLECTOR,
    VALUE_BYTES,
    perf_counter,
)
from .engine import check_engine_name, get_engine, loaded_engines

__all__ = ["Profile", "profile", "BACKWARD_PASS", "GARBAGE_COLLECTOR"]
ATTRIBUTION = {
    "scalar": "forward exact per op; backward: one pass over every Value, its time shared "
              "among op types by the graph nodes each created (approximate); bytes: Values "
              f"created x {VALUE_BYTES} B (approximate)",
    "tensor": "forward and backward exact per op (each backward rule is timed); "
              "(backward pass) is the engine's own backward work; bytes: new result and "
              "gradient arrays; engine_s: bookkeeping helpers + (backward pass), numpy_s: "
              "the rest (an upper bound on numpy's time)",
    "torch": "forward exact per op; backward exact for the torch node of each op's result "
             "(hooks), other nodes and autograd's own work in (backward pass); bytes: "
             "storage of non-view results",
}
_active_lock = threading.Lock()
_active: Profile | None = None


def profile(engines: str | Iterable[str] | None = None) -> Profile:
    """A context manager that profiles the ops of ``engines`` (a name, several names, or
    None for every loaded engine) run by this thread inside the ``with`` block."""
    return Profile(engines)


class Profile:
    """One profiled block; see the module docstring. Use :func:`profile` to make one."""

    def __init__(self, engines: str | Iterable[str] | None = None) -> None:
        names = [engines] if isinstance(engines, str) else engines
        self._names = None if names is None else [check_engine_name(n) for n in names]
        self._recorder = _instrument.Recorder()
        self._patches: list[_instrument.Patch] = []
        self._start: float | None = None
        self._end: float | None = None

    # -- the block ---------------------------------------------------------------------

    def __enter__(self) -> Profile:
        global _active
        if self._start is not None:
            raise RuntimeError("a Profile records one block; make a new one with profile()")
        with _active_lock:
            if _active is not None:
                raise RuntimeError("another shared_nn.profile() is active in this process; "
                                   "profiles cannot nest or run in two threads at once")
            _active = self
        try:
            engines = self._engines()
            self._patches = _instrument.install(engines, self._recorder)
        except BaseException:
            _active = None
            raise
        self._on_gc = _instrument.gc_callback(self._recorder, engines[0].NAME)
        gc.callbacks.append(self._on_gc)
        _instrument.state.recorder = self._recorder
        _instrument.state.stack = []
        _instrument.state.last_engine = ""
        self._start = perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        global _active
        self._end = perf_counter()
        _instrument.state.stack = None
        _instrument.state.recorder = None
        gc.callbacks.remove(self._on_gc)
        _instrument.restore(self._patches)
        _active = None

    def _engines(self) -> list[ModuleType]:
        if self._names is None:
            return loaded_engines()
        return [get_engine(name) for name in dict.fromkeys(self._names)]

    # -- the numbers -------------------------------------------------------------------

    @property
    def wall_s(self) -> float:
        """Seconds from entering the block to leaving it (or to now, inside it)."""
        if self._start is None:
            return 0.0
        return (self._end if self._end is not None else perf_counter()) - self._start

    def results(self) -> dict[str, Any]:
        """Everything measured, as plain numbers (seconds, bytes)::

            {"wall_s": ..., "ops_s": ..., "outside_ops_s": ...,
             "engines": {"tensor": {"forward_s": ..., "backward_s": ..., "total_s": ...,
                                    "bytes": ..., "attribution": "...",
                                    "ops": {"matmul": {"calls", "nodes", "forward_s",
                                                       "backward_s", "total_s", "bytes",
                                                       ["numpy_s", "engine_s"]}, ...}}}}

        Ops are sorted by total time, largest first; ``numpy_s``/``engine_s`` appear on the
        tensor engine only."""
        engines = {}
        for name, ops in self._recorder.stats.items():
            rows = _rows(name, ops)
            if rows:
                engines[name] = _engine_summary(name, rows)
        ops_s = sum(e["total_s"] for e in engines.values())
        return {"wall_s": self.wall_s, "ops_s": ops_s, "outside_ops_s": self.wall_s - ops_s,
                "engines": engines}

    def total_s(self, engine: str | None = None) -> float:
        """Forward + backward seconds in ops (of one engine, or of all)."""
        engines = self.results()["engines"]
        return sum(e["total_s"] for n, e in engines.items() if engine in (None, n))

    # -- tables ------------------------------------------------------------------------

    def __str__(self) -> str:
        return format_table(self.results())

    def __repr__(self) -> str:
        found = self.results()
        return (f"<Profile {1000 * found['wall_s']:.2f} ms wall, "
                f"{1000 * found['ops_s']:.2f} ms in ops of {', '.join(found['engines'])}>")

    def print_table(self, console: Any = None) -> None:
        """Print one table per engine: with rich if it is installed, else as text."""
        try:
            from rich.console import Console
        except ImportError:
            print(self)
            return
        console = console or Console()
        found = self.results()
        console.print(_headline(found), highlight=False)
        for name, engine in found["engines"].items():
            console.print(_rich_table(name, engine))


# ------------------------------------------------------------------------ building results


def _rows(engine: str, ops: dict[str, _instrument.OpStats]) -> dict[str, dict[str, Any]]:
    """The ops that did anything, as dicts, with each engine's attribution applied."""
    rows = {}
    for op, s in ops.items():
        if not (s.calls or s.backward_s):
            continue
        rows[op] = {"calls": s.calls, "nodes": s.nodes, "forward_s": s.forward_s,
                    "backward_s": s.backward_s, "bytes": s.bytes, "engine_s": s.engine_s,
                    "graph_nodes": s.graph_nodes}
    if engine == "scalar":
        _share_scalar_backward(rows)
    for op, row in rows.items():
        row.pop("graph_nodes")
        row["total_s"] = row["forward_s"] + row["backward_s"]
        engine_s = row.pop("engine_s")
        if engine == "tensor":
            engine_s += row["backward_s"] if op == BACKWARD_PASS else 0.0
            row["engine_s"] = engine_s
            row["numpy_s"] = row["total_s"] - engine_s
    return dict(sorted(rows.items(), key=lambda item: -item[1]["total_s"]))


def _share_scalar_backward(rows: dict[str, dict[str, Any]]) -> None:
    """Scalar engine: share the pass's time among ops by the graph nodes each created in
    grad mode (leaf constructors excluded), and count Values as bytes."""
    for row in rows.values():
        row["bytes"] = row["nodes"] * VALUE_BYTES
    passed = rows.get(BACKWARD_PASS)
    weights = {op: r["graph_nodes"] for op, r in rows.items()
               if op not in CONSTRUCTORS and op != BACKWARD_PASS and r["graph_nodes"]}
    total = sum(weights.values())
    if passed is None or total == 0:
        return
    for op, weight in weights.items():
        rows[op]["backward_s"] += passed["backward_s"] * weight / total
    del rows[BACKWARD_PASS]


def _engine_summary(name: str, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    forward = sum(r["forward_s"] for r in rows.values())
    backward = sum(r["backward_s"] for r in rows.values())
    return {"forward_s": forward, "backward_s": backward, "total_s": forward + backward,
            "bytes": sum(r["bytes"] for r in rows.values()),
            "attribution": ATTRIBUTION.get(name, ""), "ops": rows}


# ---------------------------------------------------------------------------- formatting

COLUMNS = ("op", "calls", "nodes", "forward ms", "backward ms", "total ms", "share", "MiB")


def table_rows(engine: dict[str, Any], with_numpy: bool) -> list[tuple[str, ...]]:
    """One engine's ops as strings, in :data:`COLUMNS` order (+ "numpy share")."""
    total = engine["total_s"] or 1.0
    rows = []
    for op, r in engine["ops"].items():
        cells = [op, _count(r["calls"]), _count(r["nodes"]), f"{1000 * r['forward_s']:.3f}",
                 f"{1000 * r['backward_s']:.3f}", f"{1000 * r['total_s']:.3f}",
                 f"{100 * r['total_s'] / total:.1f}%", f"{r['bytes'] / 2**20:.2f}"]
        if with_numpy:
            share = r["numpy_s"] / r["total_s"] if r["total_s"] > 0 else 0.0
            cells.append(f"{100 * share:.0f}%")
        rows.append(tuple(cells))
    return rows


def _count(value: float) -> str:
    """A count; per-step averages (a profile's numbers divided by its steps) may be fractions."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _headline(found: dict[str, Any]) -> str:
    return (f"profiled block: {1000 * found['wall_s']:.2f} ms wall, "
            f"{1000 * found['ops_s']:.2f} ms in engine ops, "
            f"{1000 * found['outside_ops_s']:.2f} ms outside them")


def _title(name: str, engine: dict[str, Any]) -> str:
    return (f"{name} engine: forward {1000 * engine['forward_s']:.2f} ms, backward "
            f"{1000 * engine['backward_s']:.2f} ms")


def _columns(name: str) -> tuple[str, ...]:
    return COLUMNS + (("numpy share",) if name == "tensor" else ())


def format_table(found: dict[str, Any]) -> str:
    """``results()`` as fixed-width text: a headline, then one table per engine."""
    lines = [_headline(found)]
    for name, engine in found["engines"].items():
        header = _columns(name)
        rows = table_rows(engine, name == "tensor")
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(header)]
        lines += ["", _title(name, engine)]
        for row in (header, *rows):
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def _rich_table(name: str, engine: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=_title(name, engine), title_justify="left")
    for i, column in enumerate(_columns(name)):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in table_rows(engine, name == "tensor"):
        table.add_row(*row)
    return table


def markdown_table(name: str, engine: dict[str, Any]) -> str:
    """One engine's ops as a markdown table (for reports)."""
    header = _columns(name)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(engine, name == "tensor")]
    return "\n".join(lines)
