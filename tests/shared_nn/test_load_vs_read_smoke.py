"""Smoke-run of benchmarks/load_vs_read.py on a tiny random GPT-2 (no timings asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_vs_read.py"


def test_quick_run_prints_both_ratios(capsys):
    pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location("load_vs_read_under_test", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.main(["--quick"])
    assert "from_pretrained / load_file =" in text and "from_pretrained / raw read  =" in text
    assert "GB/s: this host's read rate" in text
    assert text in capsys.readouterr().out
