"""The protocol's arguments turned into torch's: dtypes, devices, data, dims and shapes.

torch and the protocol differ in a handful of conventions, and each difference is settled here
once, so that :mod:`torch_engine.tensor` can stay a thin map onto torch:

* **dtypes** are validated by tensor_engine's own ``_float_dtype`` (one rule for every engine:
  None, float32 or float64 as numpy's, torch's or their names) and then mapped to torch's;
* **new tensors** are float32 unless asked otherwise, except that float64 data (an ndarray or a
  torch tensor) keeps float64, exactly as ``tensor_engine.tensor`` decides;
* **dims** out of range are a ``ValueError`` naming the dim and the number of dims (torch says
  IndexError); a 0-d tensor accepts dim 0 and -1, as in torch;
* **shapes** that do not broadcast are a ``ValueError`` naming both shapes (torch says
  RuntimeError).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from tensor_engine.tensor import _float_dtype
from tensor_engine.tensor import _normalize_dim as norm_dim  # one dim rule for all engines

_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
_TO_NUMPY = {value: key for key, value in _TO_TORCH.items()}

_default_device = torch.device("cpu")


# --------------------------------------------------------------------------- dtypes


def torch_dtype(dtype: Any) -> torch.dtype | None:
    """The torch dtype for a protocol ``dtype=`` argument (None stays None); anything but
    float32 / float64 is a TypeError, raised by tensor_engine's validator."""
    checked = _float_dtype(dtype)
    return None if checked is None else _TO_TORCH[checked]


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype (float32 / float64; others by name)."""
    found = _TO_NUMPY.get(dtype)
    return found if found is not None else np.dtype(str(dtype).removeprefix("torch."))


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
    """A fresh float tensor (always a copy) from numbers, nested lists, ndarrays or torch
    tensors. float32 unless ``dtype`` says otherwise or the data is float64."""
    target = torch_dtype(dtype)
    where = resolve_device(device)
    if isinstance(data, torch.Tensor):
        source = data.detach()
        if source.is_complex():
            raise TypeError(f"tensor data must be real numbers, got a torch {source.dtype} tensor")
        keep = torch.float64 if source.dtype == torch.float64 else torch.float32
        return source.to(device=where, dtype=target or keep, copy=True)
    if hasattr(type(data), "engine"):
        raise TypeError(f"cannot build a torch_engine Tensor from {type(data).__module__}."
                        f"{type(data).__name__}; use .numpy() first")
    keeps_float64 = isinstance(data, np.ndarray) and data.dtype == np.float64
    array = numeric_array(data)
    chosen = target or (torch.float64 if keeps_float64 else torch.float32)
    return torch.from_numpy(c_array(array, _TO_NUMPY[chosen])).to(where)


def c_array(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A C-ordered copy of ``array`` in ``dtype`` (0-d stays 0-d, unlike
    ``np.ascontiguousarray``), ready for ``torch.from_numpy``."""
    return np.array(array, dtype=dtype, order="C")


def numeric_array(data: Any) -> np.ndarray:
    """``np.asarray(data)``, refusing ragged lists (ValueError) and non-numbers (TypeError)."""
    try:
        array = np.asarray(data)
    except ValueError as err:
        raise ValueError(f"tensor data must be a rectangular nested list of numbers: {err}"
                         ) from None
    except TypeError as err:
        raise TypeError(f"tensor data must be numeric, got {type(data).__name__}: {err}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be numeric, got dtype {array.dtype} "
                        f"from {type(data).__name__}")
    return array


def is_number(x: Any) -> bool:
    """Python and numpy real numbers (bools included, as in the other engines)."""
    return isinstance(x, numbers.Real) and not isinstance(x, np.ndarray)


def shape_tuple(shape: Any) -> tuple[int, ...]:
    """``zeros``/``ones``' shape argument: an int or a sequence of ints."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(n) for n in shape)


def sizes_argument(sizes: tuple) -> tuple:
    """``reshape(2, 3)`` and ``reshape((2, 3))`` both mean the shape ``(2, 3)``."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        return tuple(sizes[0])
    return tuple(sizes)


# --------------------------------------------------------------------------- dims


def reduce_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """A reduction's ``dim``: None (and ``()``, as torch) for every dim, else a tuple of
    distinct dims. A 0-d tensor counts as having one dim, as in torch."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return None
    n = max(ndim, 1)
    if isinstance(dim, (tuple, list)):
        dims = tuple(norm_dim(d, n, op) for d in dim)
        if len(set(dims)) != len(dims):
            raise ValueError(f"{op}: dim {tuple(dim)} names a dimension twice")
        return dims
    return (norm_dim(dim, n, op),)


def reduced_count(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> int:
    """How many elements each result of a reduction over ``dims`` combines."""
    if dims is None or not shape:
        return math.prod(shape)
    return math.prod(shape[d] for d in dims)


# --------------------------------------------------------------------------- shapes


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast of ``shapes``, or None when they do not broadcast."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def broadcast_error(op: str, a: tuple, b: tuple) -> ValueError:
    return ValueError(f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together")
