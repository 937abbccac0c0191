"""Smoke-run of benchmarks/tensor_vs_torch.py at tiny sizes (no timings are asserted).

The benchmark checks on its first step that tensor_engine and torch.nn compute the same
value for every workload, so this also catches a model that drifted from its twin.
"""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tensor_vs_torch.py"


def test_quick_benchmark_runs_and_prints_the_table():
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| workload (float32) |" in result.stdout
    assert result.stdout.count("tensor_engine") >= 4
    assert "efficiency" in result.stdout


def test_quick_gemm_layout_table_runs():
    """benchmarks/gemm_layouts.py traces every workload's products and times their layouts."""
    script = SCRIPT.parent / "gemm_layouts.py"
    result = subprocess.run([sys.executable, str(script), "--quick"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for workload in ("MLP 16-8-8-3", "GPT-2 block", "GPT-2 forward", "GPT-2 cached decode"):
        assert f"**{workload}" in result.stdout
    assert "numpy's fastest layout for it" in result.stdout
