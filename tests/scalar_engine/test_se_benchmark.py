"""Smoke-run of benchmarks/scalar_vs_micrograd.py at tiny sizes (benchmarks are not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scalar_vs_micrograd.py"


def test_benchmark_quick_mode_runs_and_reports() -> None:
    pytest.importorskip("micrograd")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "M nodes/s" in result.stdout and "MLP(2,16,16,1)" in result.stdout
