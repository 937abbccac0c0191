"""shared_nn: one PyTorch-shaped neural-network interface over dualgrad's two engines.

    import shared_nn as nn
    from shared_nn import functional as F

    nn.set_engine("scalar")              # or: with nn.use_engine("scalar"): ...
    nn.manual_seed(0)                    # same seed -> same weights on both engines
    with nn.no_grad(): ...               # no graph on any engine (per thread, as torch)
    with nn.profile() as prof: ...       # where the time goes, per op type; print(prof)
    model = nn.models.MLP([2, 16, 1])    # or MLP([2, 16, 1], engine="tensor")
    loss = F.mse_loss(model(x), y)
    loss.backward()

The engine can also be chosen with the environment variable DUALGRAD_ENGINE; the default is
"tensor". A third engine, "torch" (PyTorch behind the same protocol), is optional
(``pip install "dualgrad[torch]"``); ``shared_nn.testing`` and ``python -m shared_nn.check``
compare a model on every engine against it.
"""

from typing import Any

from . import functional, init, io, optim, utils
from . import functional as F
from .checkpoint import load_training_state, save_training_state
from .engine import ENGINES, engine_name, get_engine, set_engine, use_engine
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .init import manual_seed
from .io import CheckpointError, load_state_dict_file, save_state_dict
from .layers import (
    GELU,
    GRU,
    LSTM,
    RNN,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .profiling import Profile, profile

__all__ = [
    "ENGINES", "engine_name", "get_engine", "set_engine", "use_engine", "manual_seed",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "CheckpointError",
    "tensor", "Module", "Sequential", "ModuleList", "ModuleDict", "Parameter", "Linear",
    "Embedding", "LayerNorm", "ReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax",
    "Identity", "Flatten", "Dropout", "RNN", "LSTM", "GRU", "MSELoss", "L1Loss",
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "functional", "F", "init", "io",
    "optim", "utils", "models", "save_state_dict", "load_state_dict_file",
    "save_training_state", "load_training_state", "testing", "profile", "Profile",
]


def tensor(
    data: Any, requires_grad: bool = False, dtype: Any = None, engine: str | None = None
) -> Any:
    """A Tensor on ``engine`` (default: the current engine): ``get_engine(engine).tensor(...)``."""
    return get_engine(engine).tensor(data, requires_grad=requires_grad, dtype=dtype)


def __getattr__(name: str) -> Any:
    # `models` is imported on first use so that a half-written model file can never stop
    # `import shared_nn` from working; `testing` is only needed by those who check models.
    if name in ("models", "testing"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
