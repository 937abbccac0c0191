"""Layers with torch.nn's names, parameter names, layouts and default initialisation.

Every layer takes ``engine=`` and ``dtype=`` (see ``Module``), draws its initial weights from
``shared_nn.init`` (float64, then cast) and checks its input: a wrong width is a ValueError
naming what was expected and what came; a tensor of the other engine is a TypeError naming
both engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from . import init
from .engine import get_engine, is_tensor
from .module import Module


def _check_size(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_last_dim(layer: Module, x: Any, expected: int, what: str) -> None:
    if x.ndim == 0 or x.shape[-1] != expected:
        raise ValueError(
            f"{type(layer).__name__}: expected input with last dimension {what}={expected}, "
            f"got input of shape {tuple(x.shape)}"
        )


class Linear(Module):
    """y = x @ weight.T + bias, with ``weight`` (out_features, in_features) and ``bias``
    (out_features,), both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features))."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.in_features = _check_size(in_features, "in_features", 0)
        self.out_features = _check_size(out_features, "out_features", 0)
        shape = (self.out_features, self.in_features)
        self.weight = self.new_parameter(init.fan_in_uniform(shape, self.in_features))
        self.bias = (
            self.new_parameter(init.fan_in_uniform(self.out_features, self.in_features))
            if bias
            else None
        )

    def forward(self, x: Any) -> Any:
        x = self.as_input(x)
        _check_last_dim(self, x, self.in_features, "in_features")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` (num_embeddings, embedding_dim) is the vector of
    id ``i``. Initialised from N(0, 1) as in torch. Takes integer ids (an int array or list of
    any shape) and returns a tensor of shape ids.shape + (embedding_dim,)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.num_embeddings = _check_size(num_embeddings, "num_embeddings")
        self.embedding_dim = _check_size(embedding_dim, "embedding_dim")
        self.weight = self.new_parameter(init.normal((self.num_embeddings, self.embedding_dim)))

    def forward(self, ids: Any) -> Any:
        if is_tensor(ids):
            raise TypeError(
                "Embedding takes integer ids as a numpy array or list, not a Tensor "
                "(ids are never differentiable)"
            )
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= self.num_embeddings)
        if bad.any():
            raise IndexError(
                f"Embedding: id {int(ids[bad].flat[0])} is out of range for "
                f"num_embeddings={self.num_embeddings} (valid: 0..{self.num_embeddings - 1})"
            )
        rows = self.weight[ids.reshape(-1).astype(np.int64)]
        return rows.reshape(*ids.shape, self.embedding_dim)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise the last dimension (size ``normalized_shape``) to mean 0 and variance 1,
    then scale by ``weight`` (ones) and shift by ``bias`` (zeros)."""

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        if not isinstance(normalized_shape, (int, np.integer)):
            if len(normalized_shape) != 1:
                raise ValueError(
                    f"LayerNorm normalises the last dimension only; normalized_shape must be "
                    f"an int or a 1-tuple, got {normalized_shape!r}"
                )
            normalized_shape = normalized_shape[0]
        dim = _check_size(normalized_shape, "normalized_shape")
        self.normalized_shape = (dim,)
        self.eps = float(eps)
        self.weight = self.new_parameter(init.ones(dim)) if elementwise_affine else None
        self.bias = self.new_parameter(init.zeros(dim)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Any:
        x = self.as_input(x)
        _check_last_dim(self, x, self.normalized_shape[0], "normalized_shape")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class ReLU(Module):
    """max(x, 0) elementwise. Has no parameters, so it works on either engine's tensors."""

    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Tanh(Module):
    """tanh elementwise (either engine)."""

    def forward(self, x: Any) -> Any:
        return F.tanh(x)


class GELU(Module):
    """GELU, tanh approximation (GPT-2's); ``approximate="tanh"`` is the only form offered."""

    def __init__(
        self, approximate: str = "tanh", engine: str | None = None, dtype: Any = None
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        if approximate != "tanh":
            raise ValueError(f"GELU supports approximate='tanh' only, got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class RNN(Module):
    """Elman RNN as torch.nn.RNN: for each layer k and step t,

        h_t = tanh(x_t @ weight_ih_lk.T + bias_ih_lk + h_(t-1) @ weight_hh_lk.T + bias_hh_lk)

    and layer k+1 reads layer k's outputs. Input is (T, B, input_size), or (B, T, input_size)
    with ``batch_first=True``, or unbatched (T, input_size). Returns ``(output, h_n)``: the last
    layer's h_t for every step, and every layer's last h, shaped (num_layers, B, hidden_size).
    ``h0`` (same shape as h_n) defaults to zeros. All parameters start from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), drawn in torch's order.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.num_layers = _check_size(num_layers, "num_layers")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        hidden = self.hidden_size
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else hidden
            setattr(self, f"weight_ih_l{k}", self._draw((hidden, width)))
            setattr(self, f"weight_hh_l{k}", self._draw((hidden, hidden)))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", self._draw(hidden))
                setattr(self, f"bias_hh_l{k}", self._draw(hidden))

    def _draw(self, shape: int | tuple[int, int]) -> Any:
        return self.new_parameter(init.fan_in_uniform(shape, self.hidden_size))

    def _layer(self, k: int) -> tuple[Any, Any, Any, Any]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        params = tuple(getattr(self, f"{n}_l{k}", None) for n in names)
        return params if self.bias else (params[0], params[1], None, None)

    def _check_h0(self, h0: Any, batch: int | None) -> Any:
        expected = (self.num_layers, self.hidden_size) if batch is None else (
            self.num_layers, batch, self.hidden_size)
        if h0 is None:
            return get_engine(self.engine).zeros(expected, dtype=self.dtype)
        h0 = self.as_input(h0, "h0")
        if tuple(h0.shape) != expected:
            raise ValueError(f"RNN: expected h0 of shape {expected}, got {tuple(h0.shape)}")
        return h0

    def forward(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        x = self.as_input(x)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"RNN: expected a 3-D input (or 2-D unbatched), got shape {tuple(x.shape)}"
            )
        _check_last_dim(self, x, self.input_size, "input_size")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)  # work time-major: (T, B, input_size)
        h0 = self._check_h0(h0, None if unbatched else x.shape[1])
        if unbatched:
            h0 = h0.unsqueeze(1)
        steps = x.shape[0]
        if steps == 0:
            raise ValueError(f"RNN: the input sequence is empty (shape {tuple(x.shape)})")
        last_hidden = []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer(k)
            projected = F.linear(x, w_ih, b_ih)  # every step's input term in one product
            w_hh_t = w_hh.T  # transposed once, not once per step
            h = h0[k]
            outputs = []
            for t in range(steps):
                pre = projected[t] + h @ w_hh_t
                if b_hh is not None:
                    pre = pre + b_hh
                h = pre.tanh() if self.nonlinearity == "tanh" else pre.relu()
                outputs.append(h)
            x = get_engine(self.engine).stack(outputs, dim=0)
            last_hidden.append(h)
        h_n = get_engine(self.engine).stack(last_hidden, dim=0)
        if unbatched:
            return x.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, h_n

    def extra_repr(self) -> str:
        extras = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            extras.append(f"num_layers={self.num_layers}")
        if self.nonlinearity != "tanh":
            extras.append(f"nonlinearity={self.nonlinearity!r}")
        if self.batch_first:
            extras.append("batch_first=True")
        return ", ".join(extras)
