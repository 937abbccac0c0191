"""tensor_engine: a numpy autodiff engine with one graph node per tensor operation.

>>> import tensor_engine as te
>>> w = te.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = (w @ te.tensor([1.0, 1.0])).sum()
>>> loss.backward()
>>> w.grad.tolist()
[[1.0, 1.0], [1.0, 1.0]]

Tensors are float32, float64, int64 or bool, by PyTorch's rules: ``tensor([1.5])`` is the
default float dtype (float32), ``tensor([1, 2])`` int64, and ops promote as torch's do (see
``tensor_engine.tensor`` for the dtype rule). ``.grad`` is a Tensor too.
``tensor_engine.fused`` holds softmax, log_softmax, cross_entropy,
layer_norm, gelu, linear and attention as single nodes with hand-written backward rules;
``tensor_engine.kernels`` the numpy kernels both modules compute with.
"""

# The engine protocol's names (engine_api.protocol.ENGINE_NAMES) and this engine's extras,
# as tensor.py lists them.
from . import fused
from .tensor import *  # noqa: F403
from .tensor import __all__ as _tensor_names

__all__ = ["fused", *_tensor_names]
