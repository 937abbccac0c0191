"""The four dtypes every engine has, and the default float dtype.

A tensor is float32, float64, int64 or bool, as its numpy dtype says (``t.dtype``). Which
dtype a new tensor gets, and which one an op between two tensors gives, follows PyTorch
(:func:`engine_api.rules.inferred_dtype`, :func:`engine_api.rules.result_dtype`); where a
float has to be made up (``tensor([1.5])``, ``int_tensor / 2``, ``int_tensor.exp()``), it is
the *default float dtype*: float32 unless :func:`set_default_dtype` says float64, for the
whole process, as ``torch.set_default_dtype``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)
INT64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
FLOAT_DTYPES = (FLOAT32, FLOAT64)
DTYPES = (FLOAT32, FLOAT64, INT64, BOOL)
_DTYPE_NAMES = {"float32": FLOAT32, "float": FLOAT32, "float64": FLOAT64, "double": FLOAT64,
                "int64": INT64, "long": INT64, "bool": BOOL}
_PYTHON_TYPES = {float: FLOAT64, int: INT64, bool: BOOL}  # torch reads them so


class _Default:
    dtype = FLOAT32


_default = _Default()


def get_default_dtype() -> np.dtype:
    """The float dtype new tensors get when nothing says otherwise (float32 at start)."""
    return _default.dtype


def set_default_dtype(dtype: Any) -> None:
    """Make ``dtype`` (float32 or float64, any spelling ``dtype=`` takes) the default float
    dtype of every engine, as ``torch.set_default_dtype``."""
    chosen = dtype_argument(dtype)
    if chosen not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: only float32 and float64 can be the default, "
                        f"got {dtype!r}")
    _default.dtype = chosen


def dtype_argument(dtype: Any) -> np.dtype | None:
    """A ``dtype=`` argument as one of the four numpy dtypes (None stays None): numpy's dtypes
    and types, Python's ``float``/``int``/``bool`` (float64, int64, bool, as torch reads
    them), the names ``"float32"``, ``"float"``, ``"float64"``, ``"double"``, ``"int64"``,
    ``"long"``, ``"bool"``, and torch's dtypes (``torch.int64``). Anything else is a
    TypeError, never a silent default."""
    if dtype is None:
        return None
    if isinstance(dtype, type) and dtype in _PYTHON_TYPES:
        return _PYTHON_TYPES[dtype]
    name = str(dtype).removeprefix("torch.") if _is_torch_dtype(dtype) else dtype
    if isinstance(name, str):
        if name in _DTYPE_NAMES:
            return _DTYPE_NAMES[name]
    elif isinstance(dtype, np.dtype) or isinstance(dtype, type) and issubclass(dtype, np.generic):
        if np.dtype(dtype) in DTYPES:
            return np.dtype(dtype)
    raise TypeError(f"dtype must be float32, float64, int64 or bool (numpy's, torch's, their "
                    f"names or Python's float, int, bool), got {dtype!r}")


def _is_torch_dtype(dtype: Any) -> bool:
    return type(dtype).__name__ == "dtype" and type(dtype).__module__ == "torch"
