"""torch_engine: PyTorch behind dualgrad's engine protocol (the third backend).

>>> import torch_engine as pe
>>> w = pe.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> (w @ pe.tensor([1.0, 1.0])).sum().backward()
>>> w.grad.tolist()
[[1.0, 1.0], [1.0, 1.0]]

Each :class:`Tensor` wraps one ``torch.Tensor`` and speaks the protocol of
``docs/architecture.md``: the same names, argument conventions, dtypes (float32, float64,
int64, bool, ``dtype`` a numpy dtype), return types (``grad`` a Tensor, ``numpy()`` an
ndarray, comparisons bool Tensors, ``argmax`` an int64 Tensor, ``max(dim)`` the named tuple
``(values, indices)``) and exception types as ``scalar_engine`` and ``tensor_engine``. The
arithmetic, the graph and the gradients are torch's own, so a shared_nn model built with
``engine="torch"`` is computed by PyTorch itself: the reference the other two engines are
checked against (``shared_nn.testing``). Where the protocol differs from torch is listed in
:mod:`torch_engine.tensor`.

``fused`` holds torch.nn.functional's softmax, log_softmax, cross_entropy, layer_norm and
gelu, which shared_nn.functional uses while fusion is on. Grad mode is torch's (per thread).
Tensors live on the CPU unless :func:`set_device` or ``device=`` says otherwise.

PyTorch is an optional dependency of dualgrad: ``pip install "dualgrad[torch]"``.
"""

try:
    import torch as _torch  # noqa: F401 (only to fail early, with the install hint)
except ImportError as err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "torch_engine needs PyTorch, which is not installed: "
        'pip install "dualgrad[torch]"'
    ) from err

# The engine protocol's names (engine_api.protocol.ENGINE_NAMES) and this engine's extras,
# as tensor.py lists them.
from . import fused
from .tensor import *  # noqa: F403
from .tensor import __all__ as _tensor_names

__all__ = ["fused", *_tensor_names]
