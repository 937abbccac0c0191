"""Save a training run mid-way and resume it exactly: model, optimizer, scheduler, step, RNG.

    shared_nn.save_training_state("run.safetensors", model=model, optimizer=opt,
                                  scheduler=sched, step=step)
    ...  # later, in a fresh process: build the same model, optimizer and scheduler, then
    info = shared_nn.load_training_state("run.safetensors", model=model, optimizer=opt,
                                         scheduler=sched)
    start = info["step"]

One file, never pickle: a safetensors file whose tensors are the arrays (``model.<name>``
for the model's state_dict, ``optimizer.state.<i>.<key>`` for the optimizer's per-parameter
arrays such as Adam's ``exp_avg``) and whose metadata holds one JSON document with the rest:
the optimizer's parameter groups (lr, betas, ``initial_lr`` ...) and scalar state (Adam's
``step``), the scheduler's ``state_dict()``, the step, the state of shared_nn's seeded
generator (dropout masks, shuffles), a DataLoader's own generator, and any JSON-able
``extra``. Floats go through JSON as ``repr`` (exact), arrays keep their dtype, so a
resumed run reproduces the uninterrupted one bit for bit.

Restore order (what ``load_training_state`` does): model weights, optimizer state (which
also puts back the learning rates a freshly built scheduler overwrote), scheduler state,
generators. As in torch, build the scheduler *before* loading.

Only what was saved and is asked for is restored; asking for a part the file lacks is a
KeyError. A DataLoader resumes at the start of an epoch (its position inside an epoch is not
saved).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import init
from .io import (
    CheckpointError,
    load_state_dict_file,
    read_safetensors_metadata,
    save_state_dict,
)

FORMAT = "dualgrad.training_state"
VERSION = "1"
_JSON_KEY = "training_state_json"


def _jsonable(value: Any) -> Any:
    """Numbers, strings, bools, None, lists and dicts as JSON takes them (numpy scalars become
    Python numbers, tuples lists); anything else is a TypeError naming its type."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    raise TypeError(f"save_training_state: cannot store a {type(value).__name__} as JSON")


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """An optimizer state_dict as (arrays by tensor name, the JSON rest)."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        kept = {}
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer.state.{index}.{key}"] = np.ascontiguousarray(value)
            else:
                kept[key] = value
        scalars[str(index)] = kept
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    return arrays, {"param_groups": groups, "state": scalars}


def _join_optimizer(tensors: dict[str, np.ndarray], saved: dict[str, Any]) -> dict[str, Any]:
    """The optimizer state_dict back from :func:`_split_optimizer`'s two halves."""
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in saved["state"].items()}
    prefix = "optimizer.state."
    for name, array in tensors.items():
        if name.startswith(prefix):
            index, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[key] = array
    return {"state": state, "param_groups": saved["param_groups"]}


def save_training_state(
    path: str | os.PathLike,
    *,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    step: int | None = None,
    data_loader: Any = None,
    save_rng: bool = True,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the given parts of a training run to one safetensors file (see the module
    docstring). The save is atomic, as every shared_nn save (``shared_nn.io``): an
    interrupted one never leaves a half-written checkpoint under ``path``."""
    tensors: dict[str, np.ndarray] = {}
    document: dict[str, Any] = {"format": FORMAT, "version": VERSION, "step": step,
                                "extra": extra}
    if model is not None:
        for name, array in model.state_dict().items():
            tensors[f"model.{name}"] = np.ascontiguousarray(array)
        document["model"] = True
    if optimizer is not None:
        arrays, rest = _split_optimizer(optimizer.state_dict())
        tensors.update(arrays)
        document["optimizer"] = rest
    if scheduler is not None:
        document["scheduler"] = scheduler.state_dict()
    if data_loader is not None:
        document["data_loader"] = data_loader.state_dict()
    if save_rng:
        document["rng"] = init.generator().bit_generator.state
    text = json.dumps(_jsonable(document))
    save_state_dict(tensors, path, metadata={_JSON_KEY: text, "format": FORMAT})


def _read(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    metadata = read_safetensors_metadata(path)
    if metadata.get("format") != FORMAT or _JSON_KEY not in metadata:
        raise CheckpointError(f"{path!r} is not a training-state file written by "
                              f"save_training_state (a plain state_dict? use Module.load)")
    try:
        document = json.loads(metadata[_JSON_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path!r}: its training state is not valid JSON") from err
    return load_state_dict_file(path), document


def _require(document: dict[str, Any], part: str, path: str) -> Any:
    if document.get(part) is None:
        raise KeyError(f"load_training_state: {path!r} holds no {part} state")
    return document[part]


def load_training_state(
    path: str | os.PathLike,
    *,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    data_loader: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore the parts passed in from a file written by :func:`save_training_state`, in
    the order model, optimizer, scheduler, generators. Returns ``{"step": ..., "extra":
    ...}`` as saved. The shared generator is restored only if it was saved and
    ``restore_rng``."""
    path = os.fspath(path)
    tensors, document = _read(path)
    if model is not None:
        _require(document, "model", path)
        prefix = "model."
        model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                               if k.startswith(prefix)})
    if optimizer is not None:
        optimizer.load_state_dict(_join_optimizer(tensors, _require(document, "optimizer",
                                                                    path)))
    if scheduler is not None:
        scheduler.load_state_dict(_require(document, "scheduler", path))
    if data_loader is not None:
        data_loader.load_state_dict(_require(document, "data_loader", path))
    if restore_rng and document.get("rng") is not None:
        init.generator().bit_generator.state = document["rng"]
    return {"step": document.get("step"), "extra": document.get("extra")}
