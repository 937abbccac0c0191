"""Optimizers and learning-rate schedulers, as ``torch.optim`` and ``torch.optim.lr_scheduler``.

``from shared_nn.optim import SGD, Adam, AdamW`` and ``shared_nn.optim.lr_scheduler.StepLR``
(or ``CosineAnnealingLR``, ``LinearLR``, ``LambdaLR``, ``SequentialLR``) work as in torch.
"""

from . import lr_scheduler
from .optimizer import SGD, Adam, AdamW, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
