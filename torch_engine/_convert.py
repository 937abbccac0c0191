"""What only the torch engine needs: torch's dtypes, its devices, and new torch tensors.

The argument rules every engine shares (dims, shapes, ``dtype=`` spellings, dtype inference,
clamp bounds ...) live in :mod:`engine_api.rules`; what is left here is what maps the protocol
onto torch:

* **dtypes**: the four dtypes of the protocol (float32, float64, int64, bool) as numpy's and
  as torch's, both ways; a ``dtype=`` argument, read by ``engine_api.rules.dtype_argument``
  (any spelling of the four, numpy's, torch's, Python's or their names), becomes torch's;
* **devices**: new tensors go to the default device (:func:`set_device`, the CPU unless
  changed) or to ``device=``, checked once when it is named;
* **data**: :func:`from_data` copies numbers, nested lists, ndarrays or torch tensors into a
  new torch tensor of the dtype ``dtype=`` names, else of the dtype
  ``engine_api.rules.inferred_dtype`` infers (torch's inference: Python bools give bool,
  ints int64, any float the default float dtype; an ndarray keeps float64, float32, int64 and
  bool, other ints become int64 and other floats float32); a torch tensor is read the same
  way (int32 -> int64, float16 / bfloat16 -> float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine_api import errors, rules
from engine_api.dtypes import BOOL, FLOAT32, FLOAT64, INT64

_TO_TORCH = {FLOAT32: torch.float32, FLOAT64: torch.float64, INT64: torch.int64,
             BOOL: torch.bool}
_TO_NUMPY = {value: key for key, value in _TO_TORCH.items()}

_default_device = torch.device("cpu")


# --------------------------------------------------------------------------- dtypes


def torch_dtype(dtype: Any) -> torch.dtype | None:
    """The torch dtype for a protocol ``dtype=`` argument (None stays None); anything but
    the four dtypes is a TypeError, raised by engine_api's rule."""
    return as_torch_dtype(rules.dtype_argument(dtype))


def as_torch_dtype(dtype: np.dtype | None) -> torch.dtype | None:
    """torch's name for one of the four dtypes, already checked (None stays None)."""
    return None if dtype is None else _TO_TORCH[dtype]


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype (the four of the protocol; others by name)."""
    found = _TO_NUMPY.get(dtype)
    return found if found is not None else np.dtype(str(dtype).removeprefix("torch."))


def protocol_dtype(dtype: torch.dtype) -> np.dtype:
    """The protocol dtype a torch tensor of ``dtype`` becomes, as ``rules.array_dtype``
    reads an ndarray's: float64 and float32 stay, other floats (float16, bfloat16) become
    float32, bool stays bool and every integer dtype becomes int64. Complex is a
    TypeError."""
    found = _TO_NUMPY.get(dtype)
    if found is not None:
        return found
    if dtype.is_complex:
        raise TypeError(f"tensor data must be real numbers, got a torch {dtype} tensor")
    return FLOAT32 if dtype.is_floating_point else INT64


# --------------------------------------------------------------------------- devices


def set_device(device: str | torch.device) -> None:
    """Put new tensors (and so new Module parameters) on ``device`` ("cpu", "cuda", "cuda:1",
    ...). A device torch cannot use here is a ValueError, raised now rather than at the first
    op."""
    global _default_device
    _default_device = check_device(device)


def get_device() -> torch.device:
    """The device new tensors go to (``torch.device("cpu")`` unless :func:`set_device` said
    otherwise)."""
    return _default_device


def check_device(device: Any) -> torch.device:
    """``device`` as a torch.device that works here, else a ValueError saying why."""
    try:
        resolved = torch.device(device)
        torch.empty(0, device=resolved)
    except (RuntimeError, TypeError, AssertionError) as err:
        raise ValueError(f"device {device!r} is not usable here: {err}") from None
    return resolved


def resolve_device(device: Any) -> torch.device:
    """``device`` checked, or the default device for None."""
    return _default_device if device is None else check_device(device)


# --------------------------------------------------------------------------- data


def from_data(data: Any, dtype: Any = None, device: Any = None) -> torch.Tensor:
    """A fresh tensor (always a copy) from numbers, nested lists, ndarrays or torch tensors,
    in the dtype ``dtype`` names or, without one, the dtype torch would infer (see the
    module docstring)."""
    target = rules.dtype_argument(dtype)
    where = resolve_device(device)
    if isinstance(data, torch.Tensor):
        source = data.detach()
        chosen = target or protocol_dtype(source.dtype)
        return source.to(device=where, dtype=_TO_TORCH[chosen], copy=True)
    if rules.foreign_tensor(data):  # another engine's tensor (this engine's come as torch's)
        raise errors.mixing_error("tensor", "torch", data)
    array = rules.numeric_array(data)
    chosen = target or rules.inferred_dtype(data)
    return torch.from_numpy(c_array(array, chosen)).to(where)


def from_array(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """``values`` (an ndarray of one of the four dtypes) as a torch tensor on ``device``,
    sharing the array's memory on the CPU where torch can (a writable array with
    non-negative strides), else a copy."""
    if values.flags.writeable and all(s >= 0 for s in values.strides):
        try:
            return torch.from_numpy(values).to(device)
        except (TypeError, ValueError):  # a layout torch cannot share
            pass
    return torch.from_numpy(c_array(values, values.dtype)).to(device)


def c_array(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A C-ordered copy of ``array`` in ``dtype`` (0-d stays 0-d, unlike
    ``np.ascontiguousarray``), ready for ``torch.from_numpy``."""
    return np.array(array, dtype=dtype, order="C")
