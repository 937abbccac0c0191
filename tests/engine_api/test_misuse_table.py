"""One misuse, one message: every engine rejects the same bad call with the same exception type
and the same words (the engine's own name aside).

The rules behind these messages live once, in :mod:`engine_api`; an engine that grows its own
copy of a rule drifts, and this table catches the drift. Each row is (name, the bad call on an
engine module ``E``, the exception type every engine must raise).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import scalar_engine
import tensor_engine

torch_engine = pytest.importorskip("torch_engine")

ENGINES = {"scalar": scalar_engine, "tensor": tensor_engine, "torch": torch_engine}
_ENGINE_NAMES = re.compile(r"\b(scalar|tensor|torch)_engine\b")
_TWO_ENGINES = re.compile(r"got (scalar|tensor|torch) and (scalar|tensor|torch)\b")


def same_words(message: str) -> str:
    """A message with the engines' own names replaced, so engines compare alike."""
    return _ENGINE_NAMES.sub("<engine>", _TWO_ENGINES.sub("got <engine> and <other>", message))


def z(E: Any, *shape: int, grad: bool = False) -> Any:
    return E.tensor(np.zeros(shape), requires_grad=grad, dtype="float64")


def leaf(E: Any) -> Any:
    return E.tensor(np.ones(3), requires_grad=True, dtype="float64")


def _backward_twice(E: Any) -> None:
    x = leaf(E)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _inplace_on_leaf(E: Any) -> None:
    x = leaf(E)
    x += 1.0


def _add_on_leaf(E: Any) -> None:
    leaf(E).add_(1.0)


def _mix_engines(E: Any) -> None:
    other = tensor_engine if E is not tensor_engine else scalar_engine
    z(E, 2) + other.tensor(np.zeros(2))


MISUSES: list[tuple[str, Callable[[Any], Any], type[Exception]]] = [
    # broadcasting
    ("add shapes", lambda E: z(E, 2, 3) + z(E, 4), ValueError),
    ("sub shapes", lambda E: z(E, 2, 3) - z(E, 4), ValueError),
    ("mul shapes", lambda E: z(E, 2, 3) * z(E, 3, 2), ValueError),
    ("div shapes", lambda E: z(E, 2, 3) / z(E, 3, 2), ValueError),
    ("where shapes", lambda E: E.where(np.ones(4, bool), z(E, 2, 3), 0.0), ValueError),
    ("masked_fill shape", lambda E: z(E, 2, 3).masked_fill(np.ones((3, 2), bool), 0.0),
     ValueError),
    ("masked_fill float mask", lambda E: z(E, 2, 3).masked_fill(np.ones((2, 3)), 0.0),
     TypeError),
    # matmul
    ("matmul inner", lambda E: z(E, 2, 3) @ z(E, 4, 5), ValueError),
    ("matmul batch", lambda E: z(E, 2, 2, 3) @ z(E, 3, 3, 1), ValueError),
    ("matmul 0-d", lambda E: z(E) @ z(E, 3), ValueError),
    ("matmul vectors", lambda E: z(E, 3) @ z(E, 4), ValueError),
    # dims
    ("sum dim", lambda E: z(E, 2, 3).sum(dim=5), ValueError),
    ("mean dim", lambda E: z(E, 2, 3).mean(-3), ValueError),
    ("sum dim type", lambda E: z(E, 2, 3).sum(1.5), TypeError),
    ("sum dim twice", lambda E: z(E, 2, 3).sum((0, -2)), ValueError),
    ("max dim", lambda E: z(E, 2, 3).max(5), ValueError),
    ("min dim", lambda E: z(E, 2, 3).min(-4), ValueError),
    ("argmax dim", lambda E: z(E, 2, 3).argmax(2), ValueError),
    ("softmax dim", lambda E: z(E, 2, 3).softmax(2), ValueError),
    ("log_softmax dim", lambda E: z(E, 2, 3).log_softmax(-3), ValueError),
    ("transpose dim", lambda E: z(E, 2, 3).transpose(0, 2), ValueError),
    ("unsqueeze dim", lambda E: z(E, 2, 3).unsqueeze(3), ValueError),
    ("squeeze dim", lambda E: z(E, 2, 1).squeeze(2), ValueError),
    ("permute repeated", lambda E: z(E, 2, 3).permute(0, 0), ValueError),
    ("permute length", lambda E: z(E, 2, 3).permute(0), ValueError),
    ("flatten order", lambda E: z(E, 2, 3, 4).flatten(2, 1), ValueError),
    ("var dim", lambda E: z(E, 2, 3).var(4), ValueError),
    ("cat dim", lambda E: E.cat([z(E, 2), z(E, 2)], dim=1), ValueError),
    ("stack dim", lambda E: E.stack([z(E, 2), z(E, 2)], dim=3), ValueError),
    ("split dim", lambda E: z(E, 4).split(2, dim=1), ValueError),
    # shapes
    ("reshape size", lambda E: z(E, 2, 3).reshape(4, 2), ValueError),
    ("reshape two -1", lambda E: z(E, 2, 3).reshape(-1, -1), ValueError),
    ("reshape -1 no fit", lambda E: z(E, 2, 3).reshape(4, -1), ValueError),
    ("reshape type", lambda E: z(E, 2, 3).reshape("6"), TypeError),
    ("expand size", lambda E: z(E, 2, 3).expand(2, 4), ValueError),
    ("expand fewer dims", lambda E: z(E, 2, 3).expand(3), ValueError),
    ("expand type", lambda E: z(E, 2, 1).expand(2, 2.5), TypeError),
    ("split sizes", lambda E: z(E, 5).split([2, 2]), ValueError),
    ("cat shapes", lambda E: E.cat([z(E, 2, 3), z(E, 2, 4)], dim=0), ValueError),
    ("cat nothing", lambda E: E.cat([], dim=0), ValueError),
    ("stack shapes", lambda E: E.stack([z(E, 2, 3), z(E, 3, 2)]), ValueError),
    ("assign_ shape", lambda E: z(E, 2, 3).assign_(np.zeros((3, 2))), ValueError),
    ("item of many", lambda E: z(E, 2, 3).item(), ValueError),
    # clamp, var
    ("clamp no bounds", lambda E: z(E, 2).clamp(), ValueError),
    ("clamp bound type", lambda E: z(E, 2).clamp(min="0"), TypeError),
    ("var unbiased and correction", lambda E: z(E, 3).var(unbiased=True, correction=0),
     TypeError),
    ("var correction type", lambda E: z(E, 3).var(correction="1"), TypeError),
    # dtypes and data
    ("tensor dtype", lambda E: E.tensor([1.0], dtype="int8"), TypeError),
    ("zeros dtype", lambda E: E.zeros((2,), dtype=np.float16), TypeError),
    ("to dtype", lambda E: z(E, 2).to("int8"), TypeError),
    ("to three arguments", lambda E: z(E, 2).to("cpu", "float32", "float64"), TypeError),
    ("non-numeric data", lambda E: E.tensor([["a", "b"]]), TypeError),
    ("ragged data", lambda E: E.tensor([[1.0, 2.0], [3.0]]), ValueError),
    ("mixing engines", _mix_engines, TypeError),
    # indexing
    ("index array out of range", lambda E: z(E, 2, 3)[np.array([0, 2])], IndexError),
    ("int index out of range", lambda E: z(E, 2, 3)[5], IndexError),
    ("negative step", lambda E: z(E, 4)[::-1], ValueError),
    ("negative step with others", lambda E: z(E, 2, 4)[0, ::-2], ValueError),
    ("negative step written", lambda E: z(E, 4).__setitem__(slice(None, None, -1), 1.0),
     ValueError),
    # domains
    ("log of 0", lambda E: E.tensor([1.0, 0.0], dtype="float64").log(), ValueError),
    ("sqrt of negative", lambda E: E.tensor([-2.0], dtype="float64").sqrt(), ValueError),
    ("tensor exponent", lambda E: z(E, 2) ** z(E, 2), TypeError),
    # autograd
    ("backward non-scalar", lambda E: (z(E, 2, 3, grad=True) * 2.0).backward(), RuntimeError),
    ("backward without grad", lambda E: z(E, 2).sum().backward(), RuntimeError),
    ("backward grad shape",
     lambda E: (z(E, 2, 3, grad=True) * 2.0).backward(np.ones((3, 2))), ValueError),
    ("backward twice", _backward_twice, RuntimeError),
    ("in-place operator on a leaf", _inplace_on_leaf, RuntimeError),
    ("add_ on a leaf", _add_on_leaf, RuntimeError),
    ("set_grad_enabled type", lambda E: E.set_grad_enabled("yes"), TypeError),
    # int64 and bool tensors
    ("int requires grad", lambda E: E.tensor([1, 2], requires_grad=True), RuntimeError),
    ("bool requires grad", lambda E: E.tensor([True]).requires_grad_(), RuntimeError),
    ("int requires_grad setter", lambda E: setattr(E.tensor([1]), "requires_grad", True),
     RuntimeError),
    ("bool minus bool", lambda E: E.tensor([True]) - E.tensor([False]), TypeError),
    ("negate bool", lambda E: -E.tensor([True, False]), TypeError),
    ("int to a negative power", lambda E: E.tensor([2, 3]) ** -1, ValueError),
    ("float tensor as index", lambda E: z(E, 3)[E.tensor([0.0, 1.0])], IndexError),
    ("float tensor as mask", lambda E: z(E, 2).masked_fill(z(E, 2), 1.0), TypeError),
    ("mean of ints", lambda E: E.tensor([1, 2]).mean(), RuntimeError),
    ("softmax of ints", lambda E: E.tensor([1, 2]).softmax(0), RuntimeError),
    ("bitwise and of floats", lambda E: z(E, 2) & z(E, 2), TypeError),
    ("invert a float", lambda E: ~z(E, 2), TypeError),
    ("float tensor as list index", lambda E: [1, 2][E.tensor(0.0)], TypeError),
    # comparisons
    ("compare shapes", lambda E: z(E, 2, 3) < z(E, 4), ValueError),
    ("equal shapes", lambda E: z(E, 2, 3) == z(E, 2), ValueError),
    ("compare with a string", lambda E: z(E, 2) < "a", TypeError),
    # index-valued ops and the methods on ids
    ("topk k too large", lambda E: z(E, 2, 3).topk(4), ValueError),
    ("sort dim", lambda E: z(E, 2, 3).sort(dim=2), ValueError),
    ("gather index out of range", lambda E: z(E, 2, 3).gather(1, E.tensor([[0, 3]])),
     IndexError),
    ("gather negative index", lambda E: z(E, 2, 3).gather(1, E.tensor([[-1]])), IndexError),
    ("gather index dims", lambda E: z(E, 2, 3).gather(1, E.tensor([0, 1])), ValueError),
    ("gather float index", lambda E: z(E, 2, 3).gather(1, z(E, 2, 3)), TypeError),
    ("scatter_add index too large",
     lambda E: z(E, 2, 3).scatter_add(0, E.tensor([[0, 0, 0, 0]]), z(E, 1, 4)), ValueError),
    ("scatter src too small",
     lambda E: z(E, 2, 3).scatter(0, E.tensor([[0, 1, 0]]), z(E, 1, 2)), ValueError),
    ("index_select out of range", lambda E: z(E, 2, 3).index_select(0, E.tensor([2])),
     IndexError),
    ("narrow too long", lambda E: z(E, 2, 3).narrow(1, 2, 2), IndexError),
    ("t of 3-d", lambda E: z(E, 2, 3, 4).t(), ValueError),
    ("mm of vectors", lambda E: z(E, 3).mm(z(E, 3)), ValueError),
    ("bmm batch sizes", lambda E: z(E, 2, 2, 3).bmm(z(E, 3, 3, 1)), ValueError),
    ("chunk zero", lambda E: z(E, 4).chunk(0), ValueError),
    ("repeat fewer sizes", lambda E: z(E, 2, 3).repeat(2), ValueError),
    ("tril of a vector", lambda E: z(E, 3).tril(), ValueError),
    ("norm p", lambda E: z(E, 3).norm(p=-1), ValueError),
    ("multinomial without replacement",
     lambda E: E.tensor([0.5, 0.5], dtype="float64").multinomial(3), ValueError),
    ("roll shifts and dims", lambda E: z(E, 2, 3).roll((1, 2), (0,)), ValueError),
]


def test_the_table_is_large_enough() -> None:
    assert len(MISUSES) >= 40


@pytest.mark.parametrize(("name", "bad", "error"), MISUSES, ids=[row[0] for row in MISUSES])
def test_every_engine_says_the_same(name: str, bad: Callable[[Any], Any],
                                    error: type[Exception]) -> None:
    """Same exception type, same message, on the scalar, tensor and torch engines."""
    messages = {}
    for engine_name, E in ENGINES.items():
        with pytest.raises(error) as info:
            bad(E)
        assert type(info.value) is error, f"{engine_name}: {type(info.value).__name__}"
        messages[engine_name] = same_words(str(info.value))
    assert len(set(messages.values())) == 1, "\n".join(
        f"{engine_name}: {message}" for engine_name, message in messages.items())
