"""scalar_engine: the micrograd-style teaching engine of dualgrad.

Every number is a ``Value`` node that knows its parents and its local derivatives; a
``Tensor`` is an n-d container of such nodes with PyTorch's interface. Small and slow by
design (one graph node per scalar operation), but as fast as pure Python allows.

Dtypes: float tensors are float64 whatever was asked (every float is a Python float); int64
and bool tensors hold plain Python ints / bools (no ``Value``, no graph, never
``requires_grad``), and their views do not share in-place writes. Both are documented
differences from PyTorch (see ``tensor.py``).

* ``value.py``: ``Value``, the primitives (each makes one node: its value and its local
  derivative, written once for ``Value`` and ``Tensor``) and the backward pass;
* ``tensor.py``: ``Tensor``, its ops mapped over lists of Values, and the constructors;
* ``floats.py``: float math with PyTorch's answers where Python's ``math`` raises.

Argument rules, error messages, grad mode and the composed Tensor methods come from
``engine_api``, shared by every engine.

    >>> import scalar_engine as se
    >>> x = se.tensor([[1.0, 2.0]], requires_grad=True)
    >>> w = se.tensor([[3.0], [4.0]], requires_grad=True)
    >>> (x @ w).sum().backward()
    >>> x.grad
    tensor([[3., 4.]])
    >>> se.tensor([1, 2]) * 3
    tensor([3, 6], dtype=int64)
"""

from engine_api.protocol import ENGINE_NAMES

# The engine protocol's names (engine_api.protocol.ENGINE_NAMES) and this engine's extras.
from .tensor import (  # noqa: F401
    NAME,
    Tensor,
    cat,
    ones,
    set_value_budget,
    stack,
    tensor,
    value_budget,
    where,
    zeros,
)
from .value import (  # noqa: F401
    Value,
    enable_grad,
    is_grad_enabled,
    no_grad,
    nodes_created,
    reset_nodes_created,
    set_grad_enabled,
)

fused = None  # the scalar engine has no fused ops: shared_nn composes softmax & co.

__all__ = [*ENGINE_NAMES, "Value", "set_value_budget", "value_budget"]
