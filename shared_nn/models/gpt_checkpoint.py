"""GPT-2's weights on disk: the files ``GPT.save`` writes, Hugging Face folders, the hub.

Two formats hold a GPT:

* ours, written by :func:`write_model_files` (``GPT.save``): ``NAME.safetensors`` with this
  package's key names and Linear's ``(out, in)`` layout, and ``NAME.json`` holding the config
  and any metadata (a tokenizer's vocabulary, say);
* Hugging Face's GPT-2 folder, read by :func:`read_hf_checkpoint` (``GPT.from_pretrained``):
  ``config.json`` and ``model.safetensors``, whose "Conv1D" weights are stored ``(in, out)``,
  so :func:`convert_hf_state_dict` transposes them.

Either way everything is checked before a model is built: the config field by field, then
the weights file's header (format, dtypes, every key and shape) against that config, so a
bad or hostile file is refused with a :class:`~shared_nn.io.CheckpointError` naming the file
instead of allocating a huge model. Nothing is unpickled, and nothing touches the network
unless the caller names the hub (``"hf:gpt2"``, or ``download=True``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io import (
    CheckpointError,
    load_state_dict_file,
    read_json_file,
    read_safetensors_header,
    write_files_atomically,
)
from ..optional import optional_import
from .gpt_config import GPTConfig

__all__ = [
    "HUB_NAME",
    "HUB_PREFIX",
    "MODEL_SUFFIXES",
    "convert_hf_state_dict",
    "model_file",
    "read_hf_checkpoint",
    "read_model_files",
    "resolve_checkpoint_dir",
    "write_model_files",
]

# GPT-2's Conv1D layers store weights as (in, out); our Linear wants (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Causal-mask buffers some checkpoints carry; the mask is rebuilt in forward.
_BUFFER = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")

# "gpt2", "openai-community/gpt2": what a Hugging Face model name looks like (not a path).
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
HUB_PREFIX = "hf:"

MODEL_SUFFIXES = (".safetensors", ".json")


# ---------------------------------------------------------------------------------------
# Keys and shapes
# ---------------------------------------------------------------------------------------


def _expected_hf_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every key of a GPT-2 checkpoint (with ``transformer.`` prefix) and its stored shape."""
    C, V = config.n_embd, config.vocab_size
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (config.block_size, C)}
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        shapes |= {
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, 4 * C), p + "mlp.c_fc.bias": (4 * C,),
            p + "mlp.c_proj.weight": (4 * C, C), p + "mlp.c_proj.bias": (C,),
        }  # fmt: skip
    shapes |= {"transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}
    return shapes


def _expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every key of ``GPT(config).state_dict()`` and its shape, computed without building
    the model: GPT-2's layout with the Conv1D weights transposed to Linear's (out, in)."""
    return {
        key: shape[::-1] if key.endswith(_CONV1D) else shape
        for key, shape in _expected_hf_shapes(config).items()
    }


def _listed(keys: list[str]) -> str:
    return f"{keys[:8]}{' ...' if len(keys) > 8 else ''}"


def _check_shapes(
    got: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], source: str
) -> None:
    """Same keys, same shapes; else a CheckpointError naming the offending keys and shapes."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    if missing or unexpected:
        parts = [f"missing keys {_listed(missing)}"] if missing else []
        parts += [f"unexpected keys {_listed(unexpected)}"] if unexpected else []
        raise CheckpointError(f"{source} does not match the config: " + "; ".join(parts))
    for key, shape in expected.items():
        if tuple(got[key]) != shape:
            raise CheckpointError(
                f"{source}: {key!r} has shape {tuple(got[key])}, expected {shape}"
            )


# ---------------------------------------------------------------------------------------
# Our files
# ---------------------------------------------------------------------------------------


def model_file(base: str | os.PathLike, suffix: str) -> Path:
    """The file ``GPT.save`` writes for ``base`` with ``suffix``: the suffix is appended
    (``run.v2`` -> ``run.v2.json``), and a base that already ends in one of the two model
    suffixes is taken without it (``m.json`` -> ``m.safetensors``). ``with_suffix`` would
    instead replace ``.v2`` and write over another model's files."""
    base = Path(base)
    if base.suffix in MODEL_SUFFIXES:
        base = base.with_suffix("")
    if base.name in ("", ".", ".."):
        raise ValueError(f"{os.fspath(base)!r} has no file name to save a model under")
    return base.parent / (base.name + suffix)


def write_model_files(
    base: str | os.PathLike,
    config: GPTConfig,
    state: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write ``base.safetensors`` (``state``) and ``base.json`` (``config`` plus any
    JSON-serialisable ``metadata``), what :func:`read_model_files` reads back.

    Both files are written to temporary files first and renamed over the old ones only when
    both are complete (see :func:`shared_nn.io.write_files_atomically`); symlinks are written
    through, and a directory or special file in the way is refused.
    """
    from safetensors.numpy import save as to_bytes

    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    info = {"config": config.to_dict(), **dict(metadata or {})}
    write_files_atomically({
        model_file(base, ".safetensors"): to_bytes(arrays),
        model_file(base, ".json"): (json.dumps(info, indent=1) + "\n").encode("utf-8"),
    })  # fmt: skip


def read_model_files(
    base: str | os.PathLike,
) -> tuple[GPTConfig, dict[str, np.ndarray], dict[str, Any]]:
    """What :func:`write_model_files` wrote: ``(config, state, metadata)``.

    The description (``base.json``) and the weights file's header are checked against each
    other before the weights are read, so a bad or hostile description cannot make anyone
    allocate a huge model. ``FileNotFoundError`` if a file is missing; every other problem is
    a :class:`CheckpointError` naming the file.
    """
    base = Path(base)
    json_path, weights = model_file(base, ".json"), model_file(base, ".safetensors")
    info = read_json_file(json_path)
    if "config" not in info:
        raise CheckpointError(f"{json_path}: has no 'config' entry; not written by GPT.save")
    config = GPTConfig.from_dict(info.pop("config"), source=str(json_path))
    header = read_safetensors_header(weights)
    _check_shapes(
        {k: v.shape for k, v in header.items()}, _expected_shapes(config), str(weights)
    )
    return config, load_state_dict_file(weights), info


# ---------------------------------------------------------------------------------------
# Hugging Face's folders and hub
# ---------------------------------------------------------------------------------------

_HOW_TO_GET_WEIGHTS = (
    "Nothing is downloaded unless you ask. Fetch GPT-2's weights once, where there is a "
    "network, with `hf download gpt2 config.json model.safetensors --local-dir DIR` and pass "
    "that folder: GPT.from_pretrained('DIR'); or let Hugging Face's cache fetch them: "
    "GPT.from_pretrained('hf:gpt2') or GPT.from_pretrained('gpt2', download=True)"
)


def resolve_checkpoint_dir(path_or_name: str | os.PathLike, download: bool = False) -> Path:
    """The folder holding ``config.json`` + ``model.safetensors`` for a path or model name.

    An existing folder is used as is. ``"hf:NAME"`` (or a bare ``NAME`` with
    ``download=True``) is looked up in the Hugging Face cache and downloaded if missing,
    unless ``HF_HUB_OFFLINE`` is set. Anything else is a ``FileNotFoundError`` explaining
    how to obtain the weights: a typo never turns into a network request.
    """
    text = os.fspath(path_or_name)
    if text.startswith(HUB_PREFIX):
        return _hub_snapshot(_hub_name(text[len(HUB_PREFIX) :]))
    path = Path(text).expanduser()
    if path.is_dir():
        for name in ("config.json", "model.safetensors"):
            if not (path / name).is_file():
                raise FileNotFoundError(
                    f"{path} has no {name}: a Hugging Face GPT-2 folder holds config.json and "
                    f"model.safetensors. {_HOW_TO_GET_WEIGHTS}"
                )
        return path
    if download and not path.exists():
        return _hub_snapshot(_hub_name(text))
    if path.exists():
        raise FileNotFoundError(
            f"{path} is a file; give the folder holding config.json and model.safetensors. "
            + _HOW_TO_GET_WEIGHTS
        )
    raise FileNotFoundError(f"checkpoint folder not found: {path}. {_HOW_TO_GET_WEIGHTS}")


def _hub_name(name: str) -> str:
    if not HUB_NAME.fullmatch(name):
        raise FileNotFoundError(
            f"{name!r} is not a Hugging Face model name (like 'gpt2' or 'openai-community/gpt2')"
        )
    return name


def _hub_snapshot(name: str) -> Path:
    """The local snapshot of hub model ``name``: the cache first, then a download unless
    ``HF_HUB_OFFLINE`` is set. Only reached when the caller asked for the hub."""
    hub = optional_import("huggingface_hub", f"downloading {name!r} from the Hugging Face hub")
    files = ["config.json", "model.safetensors"]
    attempts = [True] if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") else [True, False]
    for local_only in attempts:
        try:
            folder = hub.snapshot_download(name, allow_patterns=files, local_files_only=local_only)
        except Exception:  # noqa: BLE001 - not cached / no network / unknown repo: say how
            continue
        path = Path(folder)
        if all((path / f).is_file() for f in files):
            return path
    raise FileNotFoundError(
        f"GPT-2 weights {name!r} are not in the Hugging Face cache and could not be "
        f"downloaded. {_HOW_TO_GET_WEIGHTS}"
    )


def _hf_keys(
    shapes: Mapping[str, tuple[int, ...]], config: GPTConfig, source: str
) -> dict[str, str]:
    """Map each key of a GPT-2 checkpoint to ours (``transformer.`` prefixed), checking keys
    and shapes against ``config``. Attention-mask buffers map to nothing; ``lm_head.weight``
    maps to itself (its values are compared with the tied embedding by the caller)."""
    mapping: dict[str, str] = {}
    for key in shapes:
        full = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
        if _BUFFER.fullmatch(full):
            continue
        if full in mapping.values():
            raise CheckpointError(f"{source}: {key!r} appears both with and without prefix")
        mapping[key] = full
    expected = _expected_hf_shapes(config)
    if "lm_head.weight" in shapes:
        expected["lm_head.weight"] = expected["transformer.wte.weight"]
    got = {full: tuple(shapes[key]) for key, full in mapping.items()}
    _check_shapes(got, expected, f"{source} (config {config})")
    return mapping


def convert_hf_state_dict(
    tensors: Mapping[str, np.ndarray], config: GPTConfig, source: str = "checkpoint"
) -> dict[str, np.ndarray]:
    """Hugging Face GPT-2 tensors -> this module's state dict.

    Accepts keys with or without the ``transformer.`` prefix, drops the attention-mask buffers,
    accepts an ``lm_head.weight`` only if it equals the (tied) token embedding, checks every key
    and shape, and transposes the Conv1D weights to Linear's (out, in) (as views). Raises
    :class:`CheckpointError` naming the offending keys and shapes.
    """
    mapping = _hf_keys({k: tuple(v.shape) for k, v in tensors.items()}, config, source)
    state = {full: tensors[key] for key, full in mapping.items()}
    for key, value in state.items():
        if value.dtype.kind != "f":
            raise CheckpointError(f"{source}: {key!r} holds {value.dtype}, not floats")
    lm_head = state.pop("lm_head.weight", None)
    if lm_head is not None and not np.array_equal(lm_head, state["transformer.wte.weight"]):
        raise CheckpointError(
            f"{source}: lm_head.weight differs from transformer.wte.weight; this GPT ties them"
        )
    # Transposed views, not copies: the engine copies each array into its parameter anyway,
    # and copying a transposed view keeps its (column-major) layout, a plain memcpy. A
    # transposing copy here would cost as much as reading the whole file again.
    return {key: value.T if key.endswith(_CONV1D) else value for key, value in state.items()}


def read_hf_checkpoint(
    path_or_name: str | os.PathLike, download: bool = False
) -> tuple[GPTConfig, dict[str, np.ndarray]]:
    """The config and state dict (in this package's layout) of a Hugging Face GPT-2 folder
    (``config.json`` + ``model.safetensors``), found by :func:`resolve_checkpoint_dir`.

    The config is checked field by field, then the weights file's header (format, dtypes,
    every key and shape) against it, and only then are the weights read.
    """
    directory = resolve_checkpoint_dir(path_or_name, download=download)
    config_path, weights = directory / "config.json", directory / "model.safetensors"
    config = GPTConfig.from_hf(read_json_file(config_path), source=str(config_path))
    header = read_safetensors_header(weights)
    _hf_keys({k: info.shape for k, info in header.items()}, config, str(weights))
    tensors = load_state_dict_file(weights)
    return config, convert_hf_state_dict(tensors, config, source=str(weights))
