"""Shared helpers for the benchmark scripts: timing medians and the docs table writer."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


class SelfTimed(float):
    """Seconds a run measured itself, returned by the run: the timing helpers use them
    instead of the wall time around the call (a product replay leaves out the untimed cache
    warm-ups between its products)."""


def seconds_of(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes: its wall time, or what it reports as SelfTimed."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    return float(result) if isinstance(result, SelfTimed) else elapsed


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` (see :func:`seconds_of`) over ``repeats`` runs after
    ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    return statistics.median(seconds_of(fn) for _ in range(repeats))


def blas_info() -> str:
    """Which BLAS library and kernel numpy uses here (OPENBLAS_CORETYPE changes it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    rows = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
        f"{i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return "; ".join(rows) or "no BLAS found"


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), or the platform's description."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, markdown: str, path: Path = DOCS) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md with ``markdown``.

    Each benchmark owns one section between ``<!-- BEGIN name -->`` and ``<!-- END name -->``
    so the scripts can be re-run independently.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)
