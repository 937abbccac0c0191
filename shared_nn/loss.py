"""Loss modules with torch.nn's names and arguments; each calls ``shared_nn.functional``.

    criterion = CrossEntropyLoss(label_smoothing=0.1)
    loss = criterion(model(x), y)

They hold no parameters, so one instance works on either engine's tensors. A class
``weight`` (or ``pos_weight``) is kept as a numpy array (a constant, as torch's buffers are in
practice). ``size_average`` and ``reduce`` are torch's deprecated flags, translated to
``reduction`` as torch does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from .engine import is_tensor
from .module import Module

__all__ = ["MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss"]


def _constant(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.array(value.numpy() if is_tensor(value) else value, dtype=np.float64, copy=True)


class _Loss(Module):
    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.reduction = F.legacy_reduction(size_average, reduce, reduction)
        F._check_reduction(self.reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    """A loss that may weigh its terms: ``weight`` is kept as a float64 numpy constant."""

    def __init__(
        self,
        weight: Any,
        size_average: bool | None,
        reduce: bool | None,
        reduction: str,
        engine: str | None,
        dtype: Any,
    ) -> None:
        super().__init__(size_average, reduce, reduction, engine, dtype)
        self.weight = _constant(weight)


class MSELoss(_Loss):
    """Mean (or sum, or none) of squared differences: ``F.mse_loss``."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean (or sum, or none) of absolute differences: ``F.l1_loss`` (needs Tensor.abs)."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.l1_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: ``F.nll_loss``."""

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction, engine, dtype)
        self.ignore_index = int(ignore_index)

    def forward(self, input: Any, target: Any) -> Any:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (class dim 1) against class indices or class
    probabilities: ``F.cross_entropy``. ``label_smoothing`` outside [0, 1] is a ValueError."""

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction, engine, dtype)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = F._check_label_smoothing(label_smoothing, "CrossEntropyLoss")

    def forward(self, input: Any, target: Any) -> Any:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCEWithLogitsLoss(_WeightedLoss):
    """Sigmoid + binary cross-entropy, computed stably: ``F.binary_cross_entropy_with_logits``."""

    def __init__(
        self,
        weight: Any = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Any = None,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction, engine, dtype)
        self.pos_weight = _constant(pos_weight)

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )
