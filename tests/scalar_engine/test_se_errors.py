"""Bad input raises the error docs/architecture.md names, with a message naming the culprit."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import scalar_engine as se

a = se.tensor(np.ones((2, 3)), requires_grad=True)
b = se.tensor(np.ones((4, 5)))

CASES = {
    "broadcast": (lambda: a + b, ValueError, ["(2, 3)", "(4, 5)"]),
    "matmul": (lambda: a @ b, ValueError, ["(2, 3)", "(4, 5)"]),
    "matmul batch": (
        lambda: se.ones((2, 2, 3)) @ se.ones((3, 3, 1)),
        ValueError,
        ["(2, 2, 3)", "(3, 3, 1)"],
    ),
    "matmul 0-d": (lambda: se.tensor(1.0) @ a, ValueError, ["()", "(2, 3)"]),
    "reshape": (lambda: a.reshape(4, 2), ValueError, ["(2, 3)", "(4, 2)"]),
    "reshape -1": (lambda: a.reshape(-1, 4), ValueError, ["(2, 3)", "(-1, 4)"]),
    "reshape two -1": (lambda: a.reshape(-1, -1), ValueError, ["(-1, -1)"]),
    "cat": (lambda: se.cat([a, b]), ValueError, ["(2, 3)", "(4, 5)"]),
    "stack": (lambda: se.stack([a, b]), ValueError, ["(2, 3)", "(4, 5)"]),
    "assign_": (lambda: a.assign_(np.ones(3)), ValueError, ["(3,)", "(2, 3)"]),
    "masked_fill": (lambda: a.masked_fill(np.ones(4, bool), 0.0), ValueError, ["(4,)", "(2, 3)"]),
    "where": (lambda: se.where(np.ones(4, bool), a, 0.0), ValueError, ["(4,)", "(2, 3)"]),
    "backward grad": (lambda: (a * 2.0).backward(np.ones(3)), ValueError, ["(3,)", "(2, 3)"]),
    "sum dim": (lambda: a.sum(2), ValueError, ["dim 2", "2 dimensions"]),
    "transpose dim": (lambda: a.transpose(0, -3), ValueError, ["dim -3", "2 dimensions"]),
    "unsqueeze dim": (lambda: a.unsqueeze(4), ValueError, ["dim 4", "3 dimensions"]),
    "permute": (lambda: a.permute(0, 0), ValueError, ["(0, 0)", "repeat"]),
    "split sizes": (lambda: a.split([1, 1], 1), ValueError, ["[1, 1]", "(2, 3)"]),
    "index": (lambda: a[2], IndexError, ["2", "size 2"]),
    "gather index": (lambda: a[[0, 7]], IndexError, ["7", "size 2"]),
    "item": (lambda: a.item(), ValueError, ["(2, 3)"]),
    "log": (lambda: (a - 1.0).log(), ValueError, ["0.0"]),
    "log negative": (lambda: se.tensor([1.0, -2.5]).log(), ValueError, ["-2.5"]),
    "sqrt": (lambda: se.tensor([4.0, -0.5]).sqrt(), ValueError, ["-0.5"]),
    "fractional power": (lambda: se.tensor([-2.0]) ** 1.5, ValueError, ["-2.0", "1.5"]),
    "non-scalar backward": (lambda: (a * 2.0).backward(), RuntimeError, ["scalar", "(2, 3)"]),
    "no grad backward": (lambda: b.sum().backward(), RuntimeError, ["does not require grad"]),
    "string data": (lambda: se.tensor(["x"]), TypeError, ["numeric"]),
    "object data": (lambda: se.tensor([None]), TypeError, ["numeric"]),
    "ragged data": (lambda: se.tensor([[1.0], [1.0, 2.0]]), ValueError, ["rectangular"]),
    "dtype": (lambda: se.tensor([1.0], dtype=np.int32), TypeError, ["int32"]),
    "tensor exponent": (lambda: a**a, TypeError, ["exponent"]),
    "reflected tensor exponent": (lambda: 2.0**a, TypeError, ["exponent"]),
    "torch tensor": (lambda: a + torch.ones(2, 3), TypeError, ["add", "got scalar and torch"]),
    "torch data": (lambda: se.tensor(torch.ones(2)), TypeError, ["torch"]),
    "cat foreign": (lambda: se.cat([a, torch.ones(2, 3)]), TypeError, ["torch"]),
    "string operand": (lambda: a / "x", TypeError, ["Tensor", "str"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_raises_a_named_error(name: str) -> None:
    make, error, fragments = CASES[name]
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_failed_log_records_no_partial_graph() -> None:
    x = se.tensor([1.0, 0.0], requires_grad=True)
    se.reset_nodes_created()
    with pytest.raises(ValueError, match=re.escape("0.0")):
        x.log()
    assert se.nodes_created() == 0


def test_other_engine_tensor_is_refused() -> None:
    tensor_engine = pytest.importorskip("tensor_engine")
    other = tensor_engine.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="got scalar and tensor"):
        se.tensor([1.0, 2.0, 3.0]) + other
