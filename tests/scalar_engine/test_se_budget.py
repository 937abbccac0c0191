"""The Value budget: an op that would create more Values than the budget refuses *before*
allocating them, with an error that says how to raise the budget."""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest

import scalar_engine as se

se_tensor = importlib.import_module("scalar_engine.tensor")  # the module, not the function


@pytest.fixture(autouse=True)
def default_budget(monkeypatch):
    monkeypatch.delenv("DUALGRAD_VALUE_BUDGET", raising=False)
    monkeypatch.setattr(se_tensor._budget, "limit", 0)  # re-read at the next check


@pytest.mark.parametrize(
    "make",
    [
        lambda: se.zeros(10**8),
        lambda: se.ones((10**4, 10**4)),
        lambda: se.zeros(10**4) + se.zeros((10**4, 1)),  # a broadcast to 10^8 elements
        lambda: se.zeros((300, 300)) @ se.zeros((300, 300)),  # 300² (2·300 − 1) nodes
    ],
    ids=["zeros", "ones", "broadcast", "matmul"],
)
def test_an_op_over_the_budget_refuses_before_allocating(make):
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match=r"over the budget of 20,000,000.*set_value_budget"):
            make()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the inputs at most: no 10^8 Values (about 10 GB) were made


def test_the_budget_is_configurable(monkeypatch):
    se.set_value_budget(50)
    with pytest.raises(MemoryError, match="over the budget of 50"):
        se.zeros(51)
    assert se.zeros(50).numel() == 50
    monkeypatch.setattr(se_tensor._budget, "limit", 0)
    monkeypatch.setenv("DUALGRAD_VALUE_BUDGET", "10")
    with pytest.raises(MemoryError, match="over the budget of 10 "):
        se.tensor(np.ones(11))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            se.set_value_budget(bad)


@pytest.mark.parametrize("text", ["lots", "²", "١٢", "0", "-5", "1e6"])
def test_a_bad_budget_variable_is_a_clear_error(monkeypatch, text):
    """Unicode digits ("²", Arabic-Indic) pass str.isdigit but not int(): the message must
    still name the variable."""
    monkeypatch.setenv("DUALGRAD_VALUE_BUDGET", text)
    with pytest.raises(ValueError, match=r"DUALGRAD_VALUE_BUDGET must be a positive integer"):
        se.value_budget()  # what a program calls to refuse it before loading data
    with pytest.raises(ValueError, match=r"DUALGRAD_VALUE_BUDGET must be a positive integer"):
        se.zeros(3)
