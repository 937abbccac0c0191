"""What only the torch engine needs: torch's dtypes, its devices, and new torch tensors.

The argument rules every engine shares (dims, shapes, ``dtype=`` spellings, clamp bounds ...)
live in :mod:`engine_api.rules`; what is left here is what maps the protocol onto torch:

* **dtypes**: a ``dtype=`` argument, checked by ``engine_api.rules.float_dtype`` (None,
  float32 or float64 as numpy's, torch's or their names), becomes torch's;
* **devices**: new tensors go to the default device (:func:`set_device`, the CPU unless
  changed) or to ``device=``, checked once when it is named;
* **data**: :func:`from_data` copies numbers, nested lists, ndarrays or torch tensors into a
  new torch tensor, float32 unless asked otherwise, except that float64 data (an ndarray or
  a torch tensor) keeps float64, exactly as ``tensor_engine.tensor`` decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine_api import rules

_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
_TO_NUMPY = {value: key for key, value in _TO_TORCH.items()}

_default_device = torch.device("cpu")


# --------------------------------------------------------------------------- dtypes


def torch_dtype(dtype: Any) -> torch.dtype | None:
    """The torch dtype for a protocol ``dtype=`` argument (None stays None); anything but
    float32 / float64 is a TypeError, raised by engine_api's rule."""
    return as_torch_dtype(rules.float_dtype(dtype))


def as_torch_dtype(dtype: np.dtype | None) -> torch.dtype | None:
    """torch's name for a dtype the rules already checked (None stays None)."""
    return None if dtype is None else _TO_TORCH[dtype]


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
    if rules.foreign_tensor(data):
        raise TypeError(f"cannot build a torch_engine Tensor from {type(data).__module__}."
                        f"{type(data).__name__}; use .numpy() first")
    keeps_float64 = isinstance(data, np.ndarray) and data.dtype == np.float64
    array = rules.numeric_array(data)
    chosen = target or (torch.float64 if keeps_float64 else torch.float32)
    return torch.from_numpy(c_array(array, _TO_NUMPY[chosen])).to(where)


def c_array(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A C-ordered copy of ``array`` in ``dtype`` (0-d stays 0-d, unlike
    ``np.ascontiguousarray``), ready for ``torch.from_numpy``."""
    return np.array(array, dtype=dtype, order="C")
