"""shared_nn.data: digits, the MNIST IDX reader (on small files written here), pydoc text."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_nn.data import (
    load_digits,
    load_mnist,
    minibatches,
    pydoc_text,
    read_idx,
)

# --------------------------------------------------------------------------- digits


def test_digits_split_is_standardised_seeded_and_disjoint():
    split = load_digits(test_fraction=0.25, seed=3)
    assert split.x_train.dtype == np.float64 and split.y_train.dtype == np.int64
    assert split.x_train.shape[1] == 64
    assert len(split.x_train) + len(split.x_test) == 1797
    assert len(split.x_test) == round(0.25 * 1797)
    assert set(np.unique(split.y_train)) == set(range(10))
    # Standardised with the training statistics: mean 0, std 1 on non-constant pixels.
    std = split.x_train.std(axis=0)
    varying = std > 0
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(std[varying], 1.0, rtol=1e-12)
    again = load_digits(test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(split.x_test, again.x_test)
    other = load_digits(test_fraction=0.25, seed=4)
    assert not np.array_equal(split.y_test, other.y_test)
    # No image is in both halves (digits has a few duplicates, so compare index sets).
    rows_train = {r.tobytes() for r in split.x_train}
    overlap = sum(r.tobytes() in rows_train for r in split.x_test)
    assert overlap <= 5


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_digits_rejects_impossible_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=fraction)


# --------------------------------------------------------------------------- IDX / MNIST


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(directory: Path, n_train=5, n_test=3, rows=4, cols=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    parts = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in parts.items():
        data = idx_bytes(array)
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_round_trip(tmp_path, gz):
    parts = write_mnist(tmp_path, gz=gz)
    split = load_mnist(tmp_path)
    assert split.x_train.shape == (5, 12) and split.x_test.shape == (3, 12)
    assert split.x_train.dtype == np.float64 and split.y_train.dtype == np.int64
    expected = parts["train-images-idx3-ubyte"].reshape(5, 12) / 255.0
    np.testing.assert_array_equal(split.x_train, expected)
    np.testing.assert_array_equal(split.y_test, parts["t10k-labels-idx1-ubyte"])


def test_read_idx_other_types(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    path = tmp_path / "floats.idx"
    path.write_bytes(idx_bytes(array, type_code=0x0D))
    out = read_idx(path)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist(tmp_path / "nowhere")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_truncated_images_name_the_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path)


def test_trailing_bytes_are_an_error(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.*trailing"):
        load_mnist(tmp_path)


def test_truncated_header(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:6])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*header"):
        load_mnist(tmp_path)


def test_bad_magic(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x50\x4b\x03\x04" + path.read_bytes()[4:])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*magic"):
        load_mnist(tmp_path)


def test_corrupt_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz.*gzip"):
        load_mnist(tmp_path)


def test_labels_and_images_must_agree(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="4 labels for 5 images"):
        load_mnist(tmp_path)


def test_labels_must_be_digits(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 12, 3], np.uint8)))
    with pytest.raises(ValueError, match="label 12"):
        load_mnist(tmp_path)


def test_images_swapped_with_labels(tmp_path):
    write_mnist(tmp_path)
    images = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    labels = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(images)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_huge_dimensions_do_not_overflow(tmp_path):
    """Sizes are computed with Python ints. Shape (2**22, 2**22, 2**20) is 2**64 bytes, which
    int64 arithmetic wraps to 0: a file holding only the header would then "match"."""
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 0x08, 3, 2**22, 2**22, 2**20))
    assert int(np.prod([2**22, 2**22, 2**20], dtype=np.int64)) == 0  # the trap
    with pytest.raises(ValueError, match=r"huge-idx3-ubyte: header says shape .* over the limit"):
        read_idx(path)
    expected = rf"truncated: .*\({2**64 + 16} bytes\), file has 16 bytes"
    with pytest.raises(ValueError, match=expected):
        read_idx(path, max_bytes=2**80)
    path.write_bytes(struct.pack(">BBBB4I", 0, 0, 0x08, 4, *[2**32 - 1] * 4) + b"\0" * 16)
    with pytest.raises(ValueError, match="over the limit"):
        read_idx(path)


def test_size_limit(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(100, np.uint8)))
    assert read_idx(path, max_bytes=108).shape == (100,)
    with pytest.raises(ValueError, match="108 bytes, over the limit of 107"):
        read_idx(path, max_bytes=107)


def test_gzip_bomb_is_not_inflated(tmp_path, monkeypatch):
    """A header promising 16 bytes followed by 50 MB of zeros (50 kB compressed): refused,
    and never inflated beyond the promise plus one byte."""
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(16, np.uint8)) + bytes(50 * 2**20)))
    sizes = []
    original = gzip.GzipFile.read

    def spy(self, size=-1):
        sizes.append(size)
        return original(self, size)

    monkeypatch.setattr(gzip.GzipFile, "read", spy)
    with pytest.raises(ValueError, match=r"bomb-idx1-ubyte\.gz: has trailing bytes"):
        read_idx(path)
    assert sizes and all(0 <= size <= 17 for size in sizes), sizes


def test_short_gzip_and_gzip_with_garbage(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    data = idx_bytes(np.arange(10, dtype=np.uint8))
    path.write_bytes(gzip.compress(data[:-3]))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    path.write_bytes(gzip.compress(data) + b"garbage!")
    with pytest.raises(ValueError, match="not a valid gzip"):
        read_idx(path)
    path.write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(path), np.arange(10))


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe-idx1-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_idx(fifo)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"load_digits.*'scikit-learn'.*dualgrad\[examples\]"):
        load_digits()


# --------------------------------------------------------------------------- text


def test_pydoc_text_is_real_documentation():
    text = pydoc_text()
    assert len(text) > 100_000
    assert "def " in text and "lambda" in text
    assert text == pydoc_text()


def test_minibatches_cover_every_index_once():
    batches = list(minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        next(minibatches(10, 0, np.random.default_rng(0)))


def test_shared_nn_data_is_this_module_even_beside_a_data_folder():
    # shared_nn/data/ (a plain folder of model files) must never shadow shared_nn/data.py.
    import shared_nn.data

    assert shared_nn.data.__file__.endswith("data.py")
