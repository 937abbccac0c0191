"""Real data that works without a network.

Three sources, all plain numpy so that either engine can consume them:

- :func:`load_digits` -- scikit-learn's 1797 handwritten digits (8x8 pixels), which ship
  inside the scikit-learn package. Returned standardised and split, train/test.
- :func:`load_mnist` -- the real MNIST, read from the four IDX files you downloaded
  yourself (raw or gzipped). The reader checks every header, so a truncated or corrupt
  file fails with a message naming the file instead of producing garbage images.
- :func:`pydoc_text` -- Python's own documentation (the ``pydoc_data.topics`` module that
  ships with every CPython), a few hundred kilobytes of English and code for a
  character-level language model; ``shared_nn.tokenizer.CharTokenizer``
  turns it into integer ids.

:func:`minibatches` is the small shuffling iterator the examples train with.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from .optional import optional_import

__all__ = [
    "Split",
    "load_digits",
    "load_mnist",
    "read_idx",
    "MAX_IDX_BYTES",
    "pydoc_text",
    "minibatches",
]


class Split(NamedTuple):
    """A train/test split: float64 feature arrays and int64 label arrays."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ---------------------------------------------------------------------------------------
# scikit-learn digits
# ---------------------------------------------------------------------------------------


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's handwritten digits, shuffled with ``seed`` and split.

    Features are the 64 pixel intensities (0..16) of each 8x8 image, standardised with
    the *training* mean and standard deviation (so no information leaks from the test
    set); pixels that are constant in the training set are only centred. Arrays are
    float64 with shape ``(n, 64)``; labels are int64 in ``0..9``. Reshape a row to
    ``(8, 8)`` to get the image back (row by row, as the RNN example reads it).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    datasets = optional_import("sklearn.datasets", "load_digits")
    bunch = datasets.load_digits()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0.0] = 1.0
    x = (x - mean) / std
    return Split(x[train], y[train], x[test], y[test])


# ---------------------------------------------------------------------------------------
# MNIST IDX files
# ---------------------------------------------------------------------------------------

# The IDX format: two zero bytes, a type code, the number of dimensions, then one
# big-endian uint32 per dimension, then the values in row-major order (big-endian).
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# The most bytes read_idx accepts by default (header plus data, after decompression). MNIST's
# largest file is 47 MB; the limit stops a forged header or a gzip bomb from filling memory.
MAX_IDX_BYTES = 2**31


def _open_idx(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes; a ``.gz`` file is decompressed as it is read, so
    a reader that asks for n bytes never inflates more than that."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_idx_header(f: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and header length an IDX stream declares."""
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: {len(magic)} bytes is too short for an IDX header")
    zero0, zero1, type_code, ndim = magic
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise ValueError(f"{path}: bad IDX magic number 0x{magic.hex()}")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{path}: truncated header ({4 + len(dims)} of {4 + 4 * ndim} bytes)")
    shape = struct.unpack(f">{ndim}I", dims)  # Python ints: the sizes below cannot overflow
    return shape, _IDX_TYPES[type_code], 4 + 4 * ndim


def _read_idx_payload(f: BinaryIO, path: Path, shape: tuple[int, ...], dtype: np.dtype,
                      header_len: int, max_bytes: int) -> bytes:  # fmt: skip
    """Exactly the data bytes the header promises: refuses a promise over ``max_bytes``,
    and reads at most one byte more than promised to tell "too long" from "exact"."""
    expected = header_len + math.prod(shape) * dtype.itemsize
    if expected > max_bytes:
        raise ValueError(
            f"{path}: header says shape {shape}, {expected} bytes, over the limit of "
            f"{max_bytes} bytes (read_idx's max_bytes)"
        )
    promised = expected - header_len
    if path.suffix != ".gz":  # the size on disk tells at once, before reading anything
        size = os.fstat(f.fileno()).st_size
        if size != expected:
            _wrong_length(path, shape, expected, size)
    data = f.read(promised + 1)
    if len(data) != promised:
        _wrong_length(path, shape, expected, header_len + len(data), path.suffix == ".gz")
    return data


def _wrong_length(path: Path, shape: tuple[int, ...], expected: int, got: int,
                  gz: bool = False) -> None:  # fmt: skip
    if got < expected:
        problem, size = "truncated", f"{got} bytes"
    else:
        problem = "has trailing bytes"
        size = "more (decompressed)" if gz else f"{got} bytes"
    raise ValueError(
        f"{path}: {problem}: header says shape {shape} ({expected} bytes), file has {size}"
    )


def read_idx(path: str | Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``) into an array of its declared shape.

    Raises ``FileNotFoundError`` if the file does not exist and ``ValueError`` naming
    the file if it is not a regular file, the header is not IDX, the header promises more
    than ``max_bytes`` bytes, or the data is shorter or longer than the header says. A
    ``.gz`` file is never inflated further than the header's promise plus one byte.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    try:
        with _open_idx(path) as f:
            shape, dtype, header_len = _read_idx_header(f, path)
            raw = _read_idx_payload(f, path, shape, dtype, header_len, max_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # truncated or corrupt stream
        raise ValueError(f"{path}: not a valid gzip file ({err})") from None
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    """``stem`` in ``directory``, raw or gzipped (also accepting ``-idx3`` spelt ``.idx3``)."""
    names = [stem, stem.replace("-idx", ".idx")]
    for name in names:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {directory}")


def _check_images(path: Path, images: np.ndarray) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{path}: expected uint8 images of shape (n, rows, cols), "
            f"got {images.dtype} {images.shape}"
        )


def _check_labels(path: Path, labels: np.ndarray, n_images: int) -> None:
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 labels of shape (n,), got {labels.shape}")
    if len(labels) != n_images:
        raise ValueError(f"{path}: {len(labels)} labels for {n_images} images")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{path}: label {int(labels.max())} is not a digit 0..9")


def load_mnist(directory: str | Path) -> Split:
    """Read MNIST from the four standard IDX files in ``directory``.

    Expects ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or ending in
    ``.gz``. Images become float64 rows of ``rows*cols`` pixels scaled to ``[0, 1]``;
    labels int64. Every file is validated (magic number, dimensions, length, labels
    matching images, train and test image sizes agreeing).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    paths = {key: _find_idx(directory, stem) for key, stem in _MNIST_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        _check_images(paths[f"{part}_images"], images)
        _check_labels(paths[f"{part}_labels"], labels, len(images))
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(
            f"{paths['test_images']}: image size {arrays['test_images'].shape[1:]} differs "
            f"from the training images' {arrays['train_images'].shape[1:]}"
        )

    def flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float64) / 255.0

    return Split(
        flat(arrays["train_images"]),
        arrays["train_labels"].astype(np.int64),
        flat(arrays["test_images"]),
        arrays["test_labels"].astype(np.int64),
    )


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------


def pydoc_text() -> str:
    """Python's documentation topics (``pydoc_data.topics``) as one string.

    The topics are joined in sorted order of their names, so the text is the same on
    every run of the same Python version (about 460k characters on Python 3.11).
    """
    from pydoc_data.topics import topics

    return "\n".join(topics[name] for name in sorted(topics))


# ---------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------


def minibatches(
    n: int, batch_size: int, rng: np.random.Generator, shuffle: bool = True
) -> Iterator[np.ndarray]:
    """Index arrays that cover ``range(n)`` in batches of ``batch_size`` (the last may be
    smaller), in an order drawn from ``rng`` when ``shuffle``."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
