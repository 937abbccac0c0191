"""tensor_engine: a numpy autodiff engine with one graph node per tensor operation.

>>> import tensor_engine as te
>>> w = te.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = (w @ te.tensor([1.0, 1.0])).sum()
>>> loss.backward()
>>> w.grad.tolist()
[[1.0, 1.0], [1.0, 1.0]]

Tensors are float32 unless you ask for float64 (see ``tensor_engine.tensor`` for the
dtype rule). ``tensor_engine.fused`` holds softmax, log_softmax, cross_entropy,
layer_norm, gelu, linear and attention as single nodes with hand-written backward rules;
``tensor_engine.kernels`` the numpy kernels both modules compute with.
"""

from engine_api.protocol import ENGINE_NAMES

# The engine protocol's names (engine_api.protocol.ENGINE_NAMES) and this engine's extras.
from . import fused  # noqa: F401
from .tensor import (  # noqa: F401
    NAME,
    Tensor,
    cat,
    enable_grad,
    is_grad_enabled,
    matmul,
    no_grad,
    nodes_created,
    ones,
    reset_nodes_created,
    set_grad_enabled,
    stack,
    tensor,
    where,
    zeros,
)

__all__ = [*ENGINE_NAMES, "matmul"]
