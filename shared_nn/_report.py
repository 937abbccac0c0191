"""The table ``shared_nn.testing.assert_engines_agree`` reports: one row per compared
quantity and engine, rendered with rich when it is installed and as plain text otherwise."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

COLUMNS = ("quantity", "engine", "max abs diff", "max rel diff", "tolerance", "")


@dataclass(frozen=True)
class Row:
    """One comparison: ``quantity`` on ``engine`` against the reference engine."""

    quantity: str
    engine: str
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.quantity, self.engine, _number(self.max_abs), _number(self.max_rel),
                self.tolerance, "ok" if self.passed else "FAIL")


def _number(x: float) -> str:
    if np.isnan(x):
        return "-"
    return "0" if x == 0 else f"{x:.3g}"


@dataclass
class Report:
    """Everything ``assert_engines_agree`` compared; ``ok`` when every row passed."""

    reference: str
    engines: list[str]
    dtype: str
    rows: list[Row] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # engine -> why it was not run

    @property
    def ok(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def first_failure(self) -> Row | None:
        return next((row for row in self.rows if not row.passed), None)

    def headline(self) -> str:
        """All agree; or the first disagreement (quantity, engine, numbers) and, per engine,
        every quantity that disagrees."""
        others = [e for e in self.engines if e != self.reference]
        first = self.first_failure
        if first is None:
            return (f"{', '.join(others)} agree with {self.reference} (the reference) "
                    f"in {self.dtype}: {len(self.rows)} comparisons")
        detail = f"; {first.note}" if first.note else ""
        lines = [f"engines disagree. First disagreement: {first.quantity} on the "
                 f"{first.engine} engine vs {self.reference} (the reference): max abs diff "
                 f"{_number(first.max_abs)}, max rel diff {_number(first.max_rel)}, "
                 f"tolerance {first.tolerance}{detail}"]
        for engine in others:
            failed = [row.quantity for row in self.rows if row.engine == engine and
                      not row.passed]
            if failed:
                lines.append(f"  {engine} disagrees on: {', '.join(failed)}")
        return "\n".join(lines)

    def title(self) -> str:
        skipped = "; ".join(f"{e} skipped: {why}" for e, why in self.skipped.items())
        return (f"engines vs {self.reference} (reference), {self.dtype}"
                + (f" [{skipped}]" if skipped else ""))

    def rich_table(self) -> Any:
        """The rows as a ``rich.table.Table`` (rich must be installed)."""
        from rich.table import Table

        table = Table(title=self.title(), title_justify="left")
        for name in COLUMNS:
            table.add_column(name, justify="right" if "diff" in name else "left")
        for row in self.rows:
            table.add_row(*row.cells(), style=None if row.passed else "bold red")
        return table

    def table(self, use_rich: bool | None = None) -> str:
        """The rows as text: drawn by rich if available (or asked for), else plain columns."""
        if use_rich is None:
            use_rich = _rich_available()
        if not use_rich:
            return self.plain_table()
        from rich.console import Console

        out = io.StringIO()
        Console(file=out, width=120, color_system=None, force_terminal=False).print(
            self.rich_table())
        return "\n".join(line.rstrip() for line in out.getvalue().rstrip().splitlines())

    def plain_table(self) -> str:
        """The rows as aligned plain-text columns (no dependency)."""
        lines = [COLUMNS] + [row.cells() for row in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                for line in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([self.title(), *text])

    def __str__(self) -> str:
        return f"{self.headline()}\n{self.table()}"


def _rich_available() -> bool:
    try:
        import rich.table  # noqa: F401
    except ImportError:
        return False
    return True
