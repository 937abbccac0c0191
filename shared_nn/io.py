"""Checkpoints and other files: safetensors state dicts, JSON descriptions, atomic saving.

``save_state_dict(model.state_dict(), "model.safetensors")`` writes a checkpoint;
``load_state_dict_file(path)`` reads one, also the files ``safetensors.torch.save_file``
writes. Nothing here ever unpickles.

Reading. A safetensors file is 8 bytes (little-endian length N), N bytes of JSON (name ->
dtype, shape, byte range), then the tensor bytes. We parse and check the header ourselves
before reading any data, so that every problem is one clear :class:`CheckpointError` naming
the file and what is wrong (truncated, trailing bytes, overlapping tensors, a ``BF16``
tensor, ...), and so that a bad file is refused before gigabytes are read. Only float32 and
float64 tensors load: the engines compute in those, and silently widening half precision
would hide that the checkpoint is not what the user thinks.

Writing. Saving is atomic: the bytes go to a temporary file in the target's folder, are
flushed to disk (fsync), and the temporary file is renamed over the target (``os.replace``).
A crash or an error leaves either the old file or the new one, never half of one (a process
killed mid-save leaves its hidden temporary file, which the next save to the same file
removes once it is an hour old). A symlink
is written through (its target is replaced, the link stays); a directory, FIFO or device is
refused. A new file gets the mode a plain ``open()`` would give it (0o666 minus the umask);
a replaced file keeps its mode.

Errors: a missing file is ``FileNotFoundError``; an unreadable, corrupt or mismatched
checkpoint is ``CheckpointError`` (a ``ValueError``); a save target that is not a regular
file is ``IsADirectoryError`` / ``FileExistsError`` (``OSError``s).
"""

from __future__ import annotations

import glob
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from .engine import as_numpy

__all__ = [
    "CheckpointError",
    "TensorInfo",
    "MAX_HEADER_BYTES",
    "MAX_JSON_BYTES",
    "save_state_dict",
    "load_state_dict_file",
    "read_safetensors_header",
    "read_json_file",
    "write_files_atomically",
]

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header
MAX_JSON_BYTES = 16 * 2**20  # a model description or config.json is a few kilobytes

# The dtypes a safetensors file may declare, with their sizes; only F32 and F64 load.
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip
_LOADABLE = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_SAFETENSORS_DTYPE = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable or corrupt, a dtype the engines do not
    compute in, keys or shapes that do not match the model, an invalid configuration.

    The message names the file (when there is one) and the problem; an underlying exception
    (a JSON syntax error, say) is kept as ``__cause__``.
    """


class TensorInfo(NamedTuple):
    """One entry of a safetensors header: dtype name (``"F32"``), shape, byte range."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def _open_regular(path: str | os.PathLike, what: str) -> IO[bytes]:
    """``path`` opened for binary reading, refusing anything but a regular file.

    Opened non-blocking first, so that a FIFO is refused instead of waiting forever for a
    writer; for a regular file the flag changes nothing.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {os.fspath(path)!r}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CheckpointError(f"{os.fspath(path)}: is a {_kind(mode)}, not a {what}")
    return os.fdopen(fd, "rb", buffering=0)


def _read_exactly(f: IO[bytes], n: int) -> np.ndarray:
    """Up to ``n`` bytes from ``f`` into a new uint8 array (shorter only at end of file)."""
    buffer = np.empty(n, dtype=np.uint8)
    view, got = memoryview(buffer), 0
    while got < n:
        count = f.readinto(view[got:])
        if not count:
            break
        got += count
    return buffer[:got]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"repeated keys {repeated[:5]}")
    return dict(pairs)


def _parse_json(raw: bytes, source: str) -> Any:
    """JSON text (UTF-8) parsed, refusing repeated keys; errors name ``source``."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{source}: not valid JSON ({err})") from err


def _is_count(value: Any) -> bool:
    """An int >= 0 that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor_info(name: str, entry: Any, source: str) -> TensorInfo:
    """One header entry, checked: known dtype, shape of counts, byte range of the right size."""
    where = f"{source}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where}: header entry must hold dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _ITEMSIZE:
        raise CheckpointError(f"{where}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError(f"{where}: shape {shape!r} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise CheckpointError(f"{where}: data_offsets {offsets!r} is not [start, end]")
    start, end = offsets
    nbytes = math.prod(shape) * _ITEMSIZE[dtype]  # Python ints: no overflow
    if end - start != nbytes:
        raise CheckpointError(
            f"{where}: byte range [{start}, {end}) holds {end - start} bytes, but {dtype} "
            f"of shape {tuple(shape)} needs {nbytes}"
        )
    return TensorInfo(dtype, tuple(shape), start, end)


def _check_layout(infos: dict[str, TensorInfo], data_bytes: int, source: str) -> None:
    """Tensors must tile the data section exactly: no gap, no overlap, nothing missing or
    left over (as the safetensors format requires)."""
    position = 0
    for name, info in sorted(infos.items(), key=lambda item: (item[1].start, item[1].end)):
        if info.start != position:
            problem = "overlaps the tensor before it" if info.start < position else "leaves a gap"
            raise CheckpointError(
                f"{source}: tensor {name!r} starts at byte {info.start} and {problem} "
                f"(expected byte {position}): corrupt header"
            )
        position = info.end
    if position > data_bytes:
        raise CheckpointError(
            f"{source}: truncated: the header promises {position} bytes of tensor data, the "
            f"file holds {data_bytes}"
        )
    if position < data_bytes:
        raise CheckpointError(
            f"{source}: {data_bytes - position} unexpected bytes after the last tensor "
            "(corrupt, or not a safetensors file)"
        )


def _read_header(f: IO[bytes], source: str) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """The checked header of an open safetensors file: tensors and ``__metadata__``. Leaves
    ``f`` at the first byte of tensor data."""
    size = os.fstat(f.fileno()).st_size
    if size < 8:
        raise CheckpointError(f"{source}: {size} bytes is too short for a safetensors file")
    header_bytes = int.from_bytes(f.read(8), "little")
    if header_bytes > min(MAX_HEADER_BYTES, size - 8):
        problem = "truncated, or not a safetensors file" if header_bytes <= MAX_HEADER_BYTES else (
            f"over the {MAX_HEADER_BYTES}-byte limit: not a safetensors file")
        raise CheckpointError(
            f"{source}: header length {header_bytes} but the file has {size} bytes: {problem}"
        )
    header = _parse_json(f.read(header_bytes), f"{source} (safetensors header)")
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointError(f"{source}: __metadata__ must map strings to strings")
    infos = {name: _tensor_info(name, entry, source) for name, entry in header.items()}
    _check_layout(infos, size - 8 - header_bytes, source)
    return infos, metadata


def read_safetensors_header(path: str | os.PathLike) -> dict[str, TensorInfo]:
    """Name -> :class:`TensorInfo` of every tensor in a safetensors file, without reading
    the tensors: enough to check keys, shapes and dtypes before committing to a big read."""
    with _open_regular(path, "checkpoint file") as f:
        return _read_header(f, os.fspath(path))[0]


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file (its header only)."""
    with _open_regular(path, "checkpoint file") as f:
        return _read_header(f, os.fspath(path))[1]


def _check_loadable(infos: Mapping[str, TensorInfo], source: str) -> None:
    """Refuse every dtype but float32 and float64, naming the first offending tensor."""
    bad = [(name, info.dtype) for name, info in infos.items() if info.dtype not in _LOADABLE]
    if bad:
        name, dtype = bad[0]
        others = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise CheckpointError(
            f"{source}: tensor {name!r}{others} is stored as {dtype}; dualgrad loads float32 "
            "(F32) and float64 (F64) checkpoints only. Convert it first, e.g. with torch: "
            "save_file({k: v.float() for k, v in load_file(path).items()}, new_path)"
        )


def load_state_dict_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file into name -> float32/float64 ndarray (never unpickles).

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for
    anything else wrong with it. The arrays are views into one buffer holding the file's
    tensor data (one read, no copies).
    """
    source = os.fspath(path)
    with _open_regular(path, "checkpoint file") as f:
        infos, _ = _read_header(f, source)
        _check_loadable(infos, source)
        total = max((info.end for info in infos.values()), default=0)
        data = _read_exactly(f, total)
    if data.size != total:  # the file shrank while we read it
        raise CheckpointError(f"{source}: truncated while reading ({data.size} of {total} bytes)")
    return {
        name: np.frombuffer(data, _LOADABLE[info.dtype], math.prod(info.shape), info.start)
        .reshape(info.shape)
        for name, info in infos.items()
    }


def read_json_file(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON file that must hold an object (a model config): ``FileNotFoundError`` if it is
    missing, :class:`CheckpointError` if it is too big, not JSON, or not an object."""
    source = os.fspath(path)
    with _open_regular(path, "JSON file") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise CheckpointError(f"{source}: over {max_bytes} bytes, too big for a model config")
    value = _parse_json(raw, source)
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: expected a JSON object, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly process-wide)
    os.umask(mask)
    return mask


def _save_target(path: str | os.PathLike) -> tuple[Path, int]:
    """The regular file a save to ``path`` replaces (symlinks followed) and the mode the new
    file gets: the old file's, or 0o666 minus the umask for a new one."""
    if os.fspath(path).endswith(("/", os.sep)):  # realpath would drop the slash: a file
        raise IsADirectoryError(f"{os.fspath(path)}: names a folder (it ends with a slash); "
                                f"give a file name to save to")
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise FileNotFoundError(
                f"{os.fspath(path)}: cannot save, folder {target.parent} does not exist"
            ) from None
        return target, 0o666 & ~_umask()
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{os.fspath(path)}: is a directory; give a file name to save to")
    if not stat.S_ISREG(mode):
        raise FileExistsError(
            f"{os.fspath(path)}: is a {_kind(mode)}, not a regular file; refusing to replace it"
        )
    return target, stat.S_IMODE(mode)


def _short(name: str) -> str:
    """``name`` cut to 200 bytes: the temporary file's name adds about 14, and must fit the
    file system's limit (255 bytes) whenever the target's own name does."""
    encoded = name.encode()
    return name if len(encoded) <= 200 else encoded[:200].decode(errors="ignore")


_STALE_AFTER_S = 3600.0
"""A temporary file of a save to the same target older than this was left by a process that
was killed mid-save (SIGKILL, power loss): the next save removes it."""


def _remove_stale_temporaries(target: Path) -> None:
    """Delete what killed saves to ``target`` left behind (an hour old or more, so that a
    concurrent save's own temporary file is never touched)."""
    cutoff = time.time() - _STALE_AFTER_S
    for stale in target.parent.glob(f".{glob.escape(_short(target.name))}.*.tmp"):
        try:
            if stale.is_file() and stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # gone already, or not ours to remove: the save goes on


def _stage(path: str | os.PathLike, data: bytes) -> tuple[str, Path]:
    """Write ``data`` to a new temporary file beside ``path``'s target, with the target's
    mode, flushed to disk. Returns (temporary path, target)."""
    target, mode = _save_target(path)
    _remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{_short(target.name)}.", suffix=".tmp",
                               dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp, mode)
            os.fsync(f.fileno())
    except OSError as err:  # a full disk: say which file could not be saved
        os.unlink(tmp)
        raise type(err)(err.errno, f"cannot save {target}: {err.strerror}") from None
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, target


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not possible, and not needed, everywhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_files_atomically(contents: Mapping[str | os.PathLike, bytes]) -> None:
    """Write several files so that each one is either entirely old or entirely new.

    Every file is first written in full to a temporary file in its target's folder and
    flushed; only when all of them are ready are they renamed over their targets. An error
    before that point changes nothing (the temporary files are removed).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in contents.items():
            staged.append(_stage(path, data))
        while staged:
            tmp, target = staged[0]
            os.replace(tmp, target)
            staged.pop(0)
            _fsync_folder(target.parent)
    finally:
        for tmp, _ in staged:
            os.unlink(tmp)


def save_state_dict(
    state: Mapping[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write a state dict (name -> ndarray, list or tensor) atomically to a safetensors file.

    Values are stored as float32 or float64 (anything else is a ``TypeError``, as it could
    not be loaded back).
    """
    from safetensors.numpy import save

    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save_state_dict: keys must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save_state_dict: the key '__metadata__' is reserved by the "
                             "safetensors format (the file could not be loaded); rename it")
        array = np.ascontiguousarray(as_numpy(value))
        if array.dtype not in _SAFETENSORS_DTYPE:
            raise TypeError(
                f"save_state_dict: {name!r} holds {array.dtype}; checkpoints hold float32 or "
                "float64 values"
            )
        arrays[name] = array
    write_files_atomically({path: save(arrays, metadata=metadata)})
