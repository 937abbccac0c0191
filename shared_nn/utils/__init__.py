"""Training utilities with ``torch.nn.utils``' and ``torch.utils.data``'s names.

* ``clip_grad_norm_``, ``clip_grad_value_``, ``get_total_norm``, ``clip_grads_with_norm_``
  (``shared_nn.utils.clip_grad``): rescale or clamp ``p.grad`` before ``optimizer.step()``.
* ``shared_nn.utils.data``: ``TensorDataset`` and ``DataLoader`` over numpy arrays.
"""

from . import data
from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "data"]
