"""engine_api's dtype rules are torch's: promotion, inference and the spellings of a dtype.

Every engine reads dtypes through these three rules, so checking them against torch itself,
over every combination, checks the part of the contract that no single op test covers whole:
which dtype ``a op b`` has for each pair of operand kinds (a tensor with dims, a 0-d tensor,
a Python number) and dtypes, under both default float dtypes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine_api import dtypes, rules

torch = pytest.importorskip("torch")

DTYPES = {"bool": torch.bool, "int64": torch.int64, "float32": torch.float32,
          "float64": torch.float64}
NUMBERS = [True, 3, 2.5]


def operand(kind: str, dtype: str) -> tuple[np.ndarray, torch.Tensor]:
    """The same operand for both: an array (our rules read shape and dtype) and a torch one."""
    shape = (2,) if kind == "dims" else ()
    ours = np.ones(shape, dtype=dtype)
    return ours, torch.ones(shape, dtype=DTYPES[dtype])


@pytest.fixture(params=["float32", "float64"])
def default(request: pytest.FixtureRequest):
    """Both default float dtypes, set for both libraries, restored after."""
    before_ours, before_torch = dtypes.get_default_dtype(), torch.get_default_dtype()
    dtypes.set_default_dtype(request.param)
    torch.set_default_dtype(DTYPES[request.param])
    yield request.param
    dtypes.set_default_dtype(before_ours)
    torch.set_default_dtype(before_torch)


KINDS = [(kind, dtype) for kind in ("dims", "0-d") for dtype in DTYPES]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(KINDS, KINDS)))
def test_two_tensors_promote_as_torch(a: tuple[str, str], b: tuple[str, str], default: str
                                      ) -> None:
    (x, tx), (y, ty) = operand(*a), operand(*b)
    want = str(torch.result_type(tx, ty)).removeprefix("torch.")
    assert str(rules.result_dtype(x, y)) == want


@pytest.mark.parametrize(("a", "number"), list(itertools.product(KINDS, NUMBERS)))
def test_a_tensor_and_a_number_promote_as_torch(a: tuple[str, str], number: object,
                                                default: str) -> None:
    x, tx = operand(*a)
    want = str(torch.result_type(tx, number)).removeprefix("torch.")
    assert str(rules.result_dtype(x, number)) == want
    assert str(rules.result_dtype(number, x)) == want


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_true_division_gives_a_float(dtype: str, default: str) -> None:
    x, tx = operand("dims", dtype)
    want = str((tx / tx).dtype).removeprefix("torch.")
    assert str(rules.division_dtype(rules.result_dtype(x, x))) == want


DATA = [[1, 2], [True, False], [1.5, 2], [[1], [2]], [True, 2], 3, 2.5, True,
        np.array([1, 2], dtype=np.int32), np.array([1.0], dtype=np.float64),
        np.array([1.0], dtype=np.float32), np.array([True]), np.int64(4), np.float64(1.5)]


@pytest.mark.parametrize("data", DATA, ids=[repr(d) for d in DATA])
def test_inference_is_torch_s(data: object, default: str) -> None:
    want = str(torch.tensor(data).dtype).removeprefix("torch.")
    if isinstance(data, np.ndarray) and data.dtype == np.int32:
        want = "int64"  # dualgrad has one integer dtype (documented)
    assert str(rules.inferred_dtype(data)) == want


SPELLINGS = {
    "float32": ["float32", "float", np.float32, np.dtype("float32"), torch.float32,
                torch.float],
    "float64": ["float64", "double", np.float64, float, torch.float64, torch.double],
    "int64": ["int64", "long", np.int64, int, torch.int64, torch.long],
    "bool": ["bool", np.bool_, bool, torch.bool],
}


@pytest.mark.parametrize(("name", "spelling"),
                         [(n, s) for n, spellings in SPELLINGS.items() for s in spellings])
def test_every_spelling_names_its_dtype(name: str, spelling: object) -> None:
    assert rules.dtype_argument(spelling) == np.dtype(name)


@pytest.mark.parametrize("bad", ["int8", np.int32, np.float16, torch.int32, "cuda", 3, object])
def test_other_dtypes_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="dtype must be float32, float64, int64 or bool"):
        rules.dtype_argument(bad)


def test_the_default_is_float_only() -> None:
    with pytest.raises(TypeError, match="only float32 and float64"):
        dtypes.set_default_dtype("int64")
    assert dtypes.get_default_dtype() == np.float32
