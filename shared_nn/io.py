"""Checkpoints as safetensors files: a flat name -> array map, read without unpickling.

``save_state_dict(model.state_dict(), "model.safetensors")`` writes one; files written by
``safetensors.torch.save_file(torch_model.state_dict(), ...)`` load just as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from .module import as_numpy


def save_state_dict(
    state: Mapping[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write a state dict (name -> ndarray, list or tensor) to a safetensors file."""
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save_state_dict: keys must be str, got {name!r}")
        arrays[name] = np.ascontiguousarray(as_numpy(value))
    save_file(arrays, os.fspath(path), metadata=metadata)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file into a dict of numpy arrays (never unpickles)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    return dict(load_file(path))
