"""Datasets and batches, as ``torch.utils.data`` (the part every training script uses).

    from shared_nn.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:            # numpy arrays: xb[i], yb[i] belong together
        loss = F.cross_entropy(model(xb), yb)

Batches are numpy arrays (a tuple of them when the dataset's items are tuples), the form
shared_nn's layers and losses take: float inputs are converted by the layer, integer targets
stay integer arrays. Engine tensors given to ``TensorDataset`` are read out as arrays.

Shuffling draws one permutation per pass (per ``iter(loader)``) from a numpy Generator:

* ``generator=``: that Generator;
* else ``seed=``: a Generator the loader makes once from the seed, so a fresh loader with the
  same seed yields the same sequence of epochs;
* else ``shared_nn.init.generator()``, the process-wide one ``shared_nn.manual_seed`` seeds
  (as torch's loader draws from torch's global generator).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import init
from ..engine import is_tensor, rectangular

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]


class Dataset:
    """What a DataLoader reads: ``len(ds)`` and ``ds[i]`` (an array, a number, or a tuple or
    dict of them). Subclassing is optional; any object with both works."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


def _as_array(value: Any, what: str = "TensorDataset") -> np.ndarray:
    """An ndarray from an ndarray, a list, an engine Tensor or a torch tensor."""
    if is_tensor(value):
        return np.array(value.numpy(), copy=True)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return rectangular(value, what)


class TensorDataset(Dataset):
    """Arrays that share their first dimension; item ``i`` is the tuple of their rows ``i``.
    ``TensorDataset(x, y)`` with x (N, ...) and y (N,)."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        arrays = tuple(_as_array(t, f"TensorDataset: array {i}") for i, t in enumerate(tensors))
        for a in arrays:
            if a.ndim == 0:
                raise ValueError("TensorDataset: every array needs a first (sample) dimension")
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: size mismatch between arrays: first dims {sizes}")
        self.tensors = arrays

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[np.ndarray, ...]:
        """A whole batch at once (one fancy index per array instead of a stack of rows)."""
        index = np.asarray(indices, dtype=np.int64)
        return tuple(a[index] for a in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


def default_collate(items: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch: arrays and numbers -> one array with a new first
    dimension; tuples/lists -> a tuple of batches; dicts -> a dict of batches."""
    first = items[0]
    if isinstance(first, Mapping):
        return {key: default_collate([item[key] for item in items]) for key in first}
    if isinstance(first, (tuple, list)):
        sizes = {len(item) for item in items}
        if len(sizes) != 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(sizes)}")
        return tuple(default_collate(list(column)) for column in zip(*items, strict=True))
    return np.stack([_as_array(item) for item in items])


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` (``None``: one sample at a time,
    uncollated), optionally shuffled, optionally dropping a last short batch. See the module
    docstring for where the shuffle's randomness comes from."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"generator must be a numpy.random.Generator, got {type(generator).__name__}"
            )
        if seed is not None and generator is not None:
            raise ValueError("give DataLoader a seed or a generator, not both")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator if seed is None else np.random.default_rng(seed)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self.generator if self.generator is not None else init.generator()
        return rng.permutation(n)

    def _fetch(self, indices: np.ndarray) -> Any:
        many = getattr(self.dataset, "__getitems__", None)
        if many is not None and self.collate_fn is None:
            return many(indices)
        collate = self.collate_fn or default_collate
        return collate([self.dataset[int(i)] for i in indices])

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield self._fetch(indices)

    def state_dict(self) -> dict[str, Any]:
        """The state of the loader's own generator (given by ``seed=`` or ``generator=``),
        JSON-friendly; empty when it draws from shared_nn's generator (saved separately by
        ``save_training_state``). Restoring it at an epoch boundary repeats the next epochs'
        order."""
        if self.generator is None:
            return {}
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if "generator" in state:
            if self.generator is None:
                raise ValueError("this DataLoader has no generator of its own (give it seed= "
                                 "or generator=) but the saved state has one")
            self.generator.bit_generator.state = state["generator"]

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)
