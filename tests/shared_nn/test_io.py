"""shared_nn.io: reading safetensors files strictly, and saving atomically.

Reading: every kind of bad file is one CheckpointError (a ValueError) naming the file and the
problem; good files read exactly as the safetensors library reads them. Saving: atomic,
through symlinks, never over special files, with the mode a plain open() would give.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import threading

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import load_file, save_file

import shared_nn
from shared_nn import CheckpointError, Linear
from shared_nn.io import (
    load_state_dict_file,
    read_json_file,
    read_safetensors_header,
    save_state_dict,
    write_files_atomically,
)
from shared_nn.module import StateDictKeyError


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    """A safetensors file by hand: 8-byte length, JSON header, data."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def good_file(tmp_path):
    path = tmp_path / "good.safetensors"
    save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
               "b": np.array([1.5, -2.0])}, str(path))  # fmt: skip
    return path


# ------------------------------------------------------------------------------ reading


@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(
            lambda k: k != "__metadata__"
        ),
        hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0,
                   max_dims=3, min_side=0, max_side=4)),  # fmt: skip
        max_size=5,
    )
)
def test_reads_what_safetensors_writes(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    save_file(arrays, str(path))
    ours, theirs = load_state_dict_file(path), load_file(str(path))
    assert ours.keys() == theirs.keys()
    for name, array in theirs.items():
        assert ours[name].dtype == array.dtype and ours[name].shape == array.shape
        np.testing.assert_array_equal(ours[name], array)


def test_reads_files_written_by_torch(tmp_path):
    from safetensors.torch import save_file as torch_save

    tensors = {"w": torch.randn(3, 4), "d": torch.randn(5, dtype=torch.float64)}
    torch_save(tensors, str(tmp_path / "t.safetensors"))
    loaded = load_state_dict_file(tmp_path / "t.safetensors")
    for name, tensor in tensors.items():
        np.testing.assert_array_equal(loaded[name], tensor.numpy())
    info = read_safetensors_header(tmp_path / "t.safetensors")
    assert info["w"].dtype == "F32" and info["w"].shape == (3, 4)


@pytest.mark.parametrize(
    "dtype, name", [(torch.bfloat16, "BF16"), (torch.float16, "F16"), (torch.int64, "I64")]
)
def test_other_dtypes_are_named_with_the_tensor(tmp_path, dtype, name):
    from safetensors.torch import save_file as torch_save

    path = tmp_path / "half.safetensors"
    torch_save({"ok": torch.zeros(2), "layer.weight": torch.ones(2, 2).to(dtype)}, str(path))
    message = rf"half\.safetensors.*'layer\.weight'.*{name}.*float32"
    with pytest.raises(CheckpointError, match=message):
        load_state_dict_file(path)
    with pytest.raises(CheckpointError, match=name):
        Linear(2, 2).load(path)


def test_corrupt_and_truncated_files(tmp_path):
    good = good_file(tmp_path).read_bytes()
    path = tmp_path / "bad.safetensors"
    cases = {
        b"": "too short",
        good[:5]: "too short",
        good[:40]: "truncated",  # inside the header
        good[:-3]: "truncated",  # inside the data
        good + b"\0\0": "unexpected bytes after the last tensor",
        struct.pack("<Q", 2**62) + b"{}": "over the 100000000-byte limit",
        struct.pack("<Q", 4) + b"{]}x": "not valid JSON",
        struct.pack("<Q", 2) + b"[]": "not a JSON object",
        struct.pack("<Q", 500) + b"{}": "header length 500 .* truncated, or not a safetensors",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100: "not a safetensors file",
    }
    for content, message in cases.items():
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"bad\.safetensors.*{message}"):
            load_state_dict_file(path)


def test_json_errors_keep_the_original_exception(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 4) + b"{]}x")
    with pytest.raises(CheckpointError) as info:
        load_state_dict_file(path)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "header, data, message",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
         r"'a'.*holds 4 bytes.*needs 8"),
        ({"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
         "unknown dtype 'F99'"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4,
         "not a list of sizes"),
        ({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4,
         "not a list of sizes"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4,
         r"data_offsets \[0\]"),
        ({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "must hold dtype, shape"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8,
         "overlaps"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8,
         "leaves a gap"),
        ({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, b"\0" * 4,
         "needs 4835703278458516698824704"),  # computed with Python ints, no overflow
        ({"__metadata__": {"k": 1}}, b"", "__metadata__ must map strings to strings"),
    ],
)  # fmt: skip
def test_bad_headers(tmp_path, header, data, message):
    path = tmp_path / "h.safetensors"
    path.write_bytes(safetensors_bytes(header, data))
    with pytest.raises(CheckpointError, match=message):
        load_state_dict_file(path)


def test_repeated_keys_are_refused(tmp_path):
    path = tmp_path / "dup.safetensors"
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    text = f'{{"a": {entry}, "a": {entry}}}'.encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 4)
    with pytest.raises(CheckpointError, match=r"repeated keys \['a'\]"):
        load_state_dict_file(path)


def test_missing_file_directory_and_fifo(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_state_dict_file(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_state_dict_file(tmp_path)
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def load() -> None:
        try:
            load_state_dict_file(fifo)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            result.append(err)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked instead of failing"
    assert isinstance(result[0], CheckpointError) and "FIFO" in str(result[0])


def test_module_load_names_the_file_and_keeps_key_errors(tmp_path):
    path = tmp_path / "part.safetensors"
    save_state_dict({"weight": np.zeros((2, 3), dtype=np.float32)}, path)
    with pytest.raises(StateDictKeyError, match=r"part\.safetensors: .*missing keys \['bias'\]"):
        Linear(3, 2).load(path)
    assert issubclass(StateDictKeyError, KeyError)
    assert issubclass(StateDictKeyError, CheckpointError)
    with pytest.raises(CheckpointError, match=r"part\.safetensors: .*'weight' has shape") as info:
        Linear(3, 3).load(path, strict=False)
    assert isinstance(info.value.__cause__, CheckpointError)


def test_read_json_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"c\.json: expected a JSON object, got list"):
        read_json_file(path)
    path.write_text('{"a": 1, "a": 2}')
    with pytest.raises(CheckpointError, match="repeated keys"):
        read_json_file(path)
    path.write_text('{"a": "' + "x" * 100 + '"}')
    with pytest.raises(CheckpointError, match="too big"):
        read_json_file(path, max_bytes=50)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(CheckpointError, match="not valid JSON") as info:
        read_json_file(path)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_checkpoint_error_is_exported():
    assert shared_nn.CheckpointError is CheckpointError
    assert issubclass(CheckpointError, ValueError)


# ------------------------------------------------------------------------------ saving


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_file_gets_the_usual_mode_and_a_replaced_file_keeps_its_own(tmp_path, umask_022):
    path = tmp_path / "m.safetensors"
    Linear(2, 2).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    Linear(2, 2).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.umask(0o077)
    Linear(2, 2).save(tmp_path / "private.safetensors")
    assert stat.S_IMODE((tmp_path / "private.safetensors").stat().st_mode) == 0o600


def test_save_writes_through_a_symlink(tmp_path):
    target = tmp_path / "real" / "weights.safetensors"
    target.parent.mkdir()
    Linear(2, 2).save(target)
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    model = Linear(2, 2)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(load_state_dict_file(target)["weight"], model.weight.numpy())
    assert sorted(os.listdir(tmp_path)) == ["link.safetensors", "real"]  # no temp files left
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "real" / "new.safetensors")
    model.save(dangling)  # as open(): creates the file the link points to
    assert dangling.is_symlink() and (tmp_path / "real" / "new.safetensors").is_file()


def test_save_refuses_a_directory_and_a_fifo_and_changes_nothing(tmp_path):
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        Linear(2, 2).save(folder)
    assert folder.is_dir() and not any(folder.iterdir())
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="FIFO.*not a regular file"):
        Linear(2, 2).save(fifo)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    link = tmp_path / "to-fifo"
    link.symlink_to(fifo)
    with pytest.raises(FileExistsError, match="FIFO"):
        save_state_dict({"a": np.zeros(1)}, link)
    assert sorted(os.listdir(tmp_path)) == ["folder.safetensors", "pipe.safetensors", "to-fifo"]


def test_save_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Linear(2, 2).save(tmp_path / "no" / "m.safetensors")


def test_a_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    old = Linear(2, 2)
    old.save(path)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        Linear(2, 2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # the temporary file is gone


def test_several_files_are_replaced_only_when_all_are_written(tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b"
    first.write_bytes(b"old")
    second.mkdir()  # the second target cannot be written
    with pytest.raises(IsADirectoryError):
        write_files_atomically({first: b"new", second: b"new"})
    assert first.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b"]


def test_saving_other_dtypes_is_refused(tmp_path):
    with pytest.raises(TypeError, match="'step' holds int64"):
        save_state_dict({"step": np.arange(3)}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_path_ending_in_a_slash_names_a_folder(tmp_path):
    """``save("ck/newdir/")`` once wrote a *file* named ``ck/newdir``: a trailing slash means
    a folder, which a checkpoint cannot be, whether it exists or not."""
    for path in (f"{tmp_path}/newdir/", f"{tmp_path}/"):
        with pytest.raises(IsADirectoryError, match="give a file name"):
            save_state_dict({"w": np.zeros(2)}, path)
        with pytest.raises(IsADirectoryError, match="give a file name"):
            Linear(2, 2, engine="tensor").save(path)
    assert os.listdir(tmp_path) == []


def test_the_metadata_key_is_refused_before_anything_is_written(tmp_path):
    """safetensors reserves ``__metadata__`` for its header: such a file saves but can never
    be read back, so the save refuses it."""
    path = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="'__metadata__' is reserved"):
        save_state_dict({"__metadata__": np.zeros(2), "w": np.ones(2)}, path)
    assert not path.exists()


@pytest.mark.parametrize("length", [200, 243, 255 - len(".safetensors")])
def test_long_file_names_save(tmp_path, length):
    """A name up to the file system's 255 bytes saves: the temporary file beside it gets a
    shortened name rather than one longer than the limit (OSError 36)."""
    path = tmp_path / ("a" * length + ".safetensors")
    save_state_dict({"w": np.arange(3.0)}, path)
    assert load_state_dict_file(path)["w"].tolist() == [0.0, 1.0, 2.0]
    assert os.listdir(tmp_path) == [path.name]


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "x.safetensors"
    save_state_dict({"w": np.zeros(2)}, path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"cannot save .*x\.safetensors: No space left") as info:
        save_state_dict({"w": np.ones(2)}, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["x.safetensors"]


def test_the_next_save_removes_what_a_killed_save_left_behind(tmp_path):
    """A SIGKILL between writing the temporary file and renaming it leaves ``.x.*.tmp``
    forever; the next save of the same file removes those an hour old or more, and never a
    fresh one (another process may be saving right now) or another file's."""
    path = tmp_path / "x.safetensors"
    stale = tmp_path / ".x.safetensors.abc123.tmp"
    fresh = tmp_path / ".x.safetensors.def456.tmp"
    other = tmp_path / ".y.safetensors.abc123.tmp"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"half a checkpoint")
    old = os.path.getmtime(stale) - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save_state_dict({"w": np.zeros(2)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, fresh.name, other.name])
