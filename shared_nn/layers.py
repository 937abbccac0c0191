"""Layers with torch.nn's names, parameter names, layouts and default initialisation.

Every layer takes ``engine=`` and ``dtype=`` (see ``Module``), draws its initial weights from
``shared_nn.init`` (float64, then cast) and checks its input: a wrong width is a ValueError
naming what was expected and what came; a tensor of the other engine is a TypeError naming
both engines.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from . import functional as F
from . import init
from .engine import _engine_of_class, get_engine
from .module import Module


def _check_size(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_last_dim(layer: Module, x: Any, expected: int, what: str) -> None:
    shape = x.shape
    if not shape or shape[-1] != expected:
        raise ValueError(
            f"{type(layer).__name__}: expected input with last dimension {what}={expected}, "
            f"got input of shape {tuple(x.shape)}"
        )


def _input_of_width(layer: Module, x: Any, expected: int, what: str) -> Any:
    """``layer.as_input(x)``, whose last dimension must be ``expected`` (named ``what``).
    A tensor of the layer's engine and dtype that fits passes with no further call: a
    decoded GPT-2 token goes through 73 of these checks."""
    if _engine_of_class.get(type(x)) == layer.engine and x.dtype == layer.dtype:
        shape = x.shape
        if shape and shape[-1] == expected:
            return x
    x = layer.as_input(x)
    _check_last_dim(layer, x, expected, what)
    return x


def weight_memory_layout(values: np.ndarray) -> np.ndarray:
    """A linear weight ``(out_features, in_features)`` as it is best stored: column by
    column (its transpose contiguous) when the layer narrows by 4x or more, as GPT-2's MLP
    projection does (3072 -> 768), else row by row. The values are the same either way;
    only the tensor engine's products notice (the other engines copy into their own).

    Backward computes ``grad @ weight``. A narrowing weight stored row by row is a short,
    wide right operand, which OpenBLAS multiplies more slowly than the same product with its
    transpose contiguous. Stored by columns, a GPT-2 block's forward + backward is faster
    and a 124M forward slightly slower, while decoding and a small GPT's training step do
    not change (``benchmarks/tensor_vs_torch.py`` times the block and
    ``benchmarks/gemm_layouts.py`` each product by layout; their figures are in
    ``docs/benchmarks.md``).
    """
    out_features, in_features = values.shape
    if in_features >= 4 * out_features:
        return np.asfortranarray(values)
    return values


class Linear(Module):
    """y = x @ weight.T + bias, with ``weight`` (out_features, in_features) and ``bias``
    (out_features,), both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)).
    The weight's memory layout follows :func:`weight_memory_layout`."""

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
        self.weight = self.new_parameter(
            weight_memory_layout(init.fan_in_uniform(shape, self.in_features)))
        self.bias = (
            self.new_parameter(init.fan_in_uniform(self.out_features, self.in_features))
            if bias
            else None
        )

    def forward(self, x: Any) -> Any:
        x = _input_of_width(self, x, self.in_features, "in_features")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` (num_embeddings, embedding_dim) is the vector of
    id ``i``. Initialised from N(0, 1) as in torch. Takes integer ids of any shape (an int64
    Tensor of the module's engine, an int array or a list) and returns a tensor of shape
    ids.shape + (embedding_dim,). Ids are never differentiable: a float Tensor is a
    TypeError, as in torch."""

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
        return F.lookup_rows(self.weight, ids, "Embedding")

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
        x = _input_of_width(self, x, self.normalized_shape[0], "normalized_shape")
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


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise (either engine)."""

    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as torch)."""

    def __init__(self, *args: Any, engine: str | None = None, dtype: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(engine=engine, dtype=dtype)

    def forward(self, x: Any) -> Any:
        return x


def _legacy_softmax_dim(ndim: int) -> int:
    """torch's choice when Softmax is built without ``dim`` (deprecated there too)."""
    return 0 if ndim in (0, 1, 3) else 1


class _SoftmaxBase(Module):
    """Softmax / LogSoftmax along ``dim``."""

    _fn = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None, engine: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.dim = dim

    def forward(self, x: Any) -> Any:
        dim = self.dim
        if dim is None:
            warnings.warn(f"Implicit dimension choice for {type(self).__name__} has been "
                          f"deprecated (as in torch); pass dim=", UserWarning, stacklevel=2)
            dim = _legacy_softmax_dim(x.ndim)
        return type(self)._fn(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along ``dim``."""

    _fn = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``dim``, computed stably."""

    _fn = staticmethod(F.log_softmax)


class Flatten(Module):
    """Merge dims ``start_dim`` .. ``end_dim`` (inclusive, negative counts from the end) into
    one: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1, engine: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Any:
        shape = tuple(x.shape)
        rank = max(len(shape), 1)
        start, end = self.start_dim % rank, self.end_dim % rank
        if not (-rank <= self.start_dim < rank and -rank <= self.end_dim < rank):
            raise ValueError(f"Flatten: dims ({self.start_dim}, {self.end_dim}) are out of "
                             f"range for an input of shape {shape}")
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for an input of shape {shape}")
        if len(shape) == 0:
            return x.reshape(1)
        merged = math.prod(shape[start:end + 1])
        return x.reshape(*shape[:start], merged, *shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class GELU(Module):
    """GELU with torch's default ``approximate="none"``: 0.5 x (1 + erf(x / sqrt(2))), which
    needs the engine's ``Tensor.erf``; ``approximate="tanh"`` is GPT-2's approximation."""

    def __init__(
        self, approximate: str = "none", engine: str | None = None, dtype: Any = None
    ) -> None:
        super().__init__(engine=engine, dtype=dtype)
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Dropout(Module):
    """In training mode (``module.train()``, the default) zero each element with probability
    ``p`` and scale the rest by 1 / (1 - p); in eval mode (``module.eval()``) pass the input
    through. ``p`` must lie in [0, 1] (torch's range; p = 1 gives zeros). The mask comes from
    shared_nn's seeded generator (see ``functional.dropout``), so one ``manual_seed`` drops
    the same elements on both engines."""

    def __init__(self, p: float = 0.5, inplace: bool = False, engine: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.p = F._check_dropout_p(p)
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


# --- recurrent layers -------------------------------------------------------------------------


class _RNNBase(Module):
    """What RNN, LSTM and GRU share: torch's parameters (per layer k: ``weight_ih_lk``
    (gates*H, input width), ``weight_hh_lk`` (gates*H, H), ``bias_ih_lk``, ``bias_hh_lk``
    (gates*H,), gates stacked in torch's order and drawn in torch's order from
    U(-1/sqrt(H), 1/sqrt(H))), input layouts (time-major (T, B, I), ``batch_first`` (B, T, I),
    unbatched (T, I)), initial-state checks, the loop over layers and steps, and dropout
    between layers (training mode only). The constructor's arguments are torch's, in torch's
    order (``proj_size`` must be 0: no projection). Subclasses set ``gates`` and ``states``
    (the names of the state tensors: h0, or h0 and c0) and write ``_cell``."""

    gates = 1
    states: tuple[str, ...] = ("h0",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        if proj_size != 0:
            raise NotImplementedError(
                f"{type(self).__name__}: proj_size is not supported yet (only 0)")
        super().__init__(engine=engine, dtype=dtype)
        self.proj_size = 0
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.num_layers = _check_size(num_layers, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = F._check_dropout_p(dropout)
        if bidirectional:
            raise NotImplementedError(f"{type(self).__name__}: bidirectional=True is not "
                                      f"supported yet")
        self.bidirectional = False
        rows, hidden = self.gates * self.hidden_size, self.hidden_size
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else hidden
            setattr(self, f"weight_ih_l{k}", self._draw((rows, width)))
            setattr(self, f"weight_hh_l{k}", self._draw((rows, hidden)))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", self._draw(rows))
                setattr(self, f"bias_hh_l{k}", self._draw(rows))

    def _draw(self, shape: int | tuple[int, int]) -> Any:
        return self.new_parameter(init.fan_in_uniform(shape, self.hidden_size))

    def _layer(self, k: int) -> tuple[Any, Any, Any, Any]:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        params = tuple(getattr(self, f"{n}_l{k}", None) for n in names)
        return params if self.bias else (params[0], params[1], None, None)

    def _cell(
        self, projected: Any, state: tuple[Any, ...], w_hh_t: Any, b_hh: Any
    ) -> tuple[Any, ...]:
        """One step: ``projected`` = x_t @ W_ih.T + b_ih (B, gates*H), the previous state
        (h, or h and c, each (B, H)), ``weight_hh.T`` and ``bias_hh`` (or None) -> the new
        state."""
        raise NotImplementedError

    def _check_state(self, value: Any, what: str, batch: int | None) -> Any:
        expected = (self.num_layers, self.hidden_size) if batch is None else (
            self.num_layers, batch, self.hidden_size)
        if value is None:
            shape = (self.num_layers, batch or 1, self.hidden_size)
            return get_engine(self.engine).zeros(shape, dtype=self.dtype)
        value = self.as_input(value, what)
        if tuple(value.shape) != expected:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {expected}, got "
                f"{tuple(value.shape)}"
            )
        return value if batch is not None else value.unsqueeze(1)

    def _initial_states(self, hx: Any, batch: int | None) -> list[Any]:
        """One (num_layers, B, H) tensor per state name; zeros where ``hx`` is None."""
        parts = (hx,) if len(self.states) == 1 else hx
        if len(self.states) > 1 and hx is not None and (
            not isinstance(hx, (tuple, list)) or len(hx) != len(self.states)
        ):
            raise ValueError(
                f"{type(self).__name__}: hx must be a tuple ({', '.join(self.states)}), got "
                f"{type(hx).__name__}"
            )
        if parts is None:
            parts = (None,) * len(self.states)
        return [self._check_state(v, name, batch)
                for v, name in zip(parts, self.states, strict=True)]

    def _time_major(self, x: Any) -> tuple[Any, bool]:
        name = type(self).__name__
        x = self.as_input(x)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected a 3-D input (or 2-D unbatched), got shape {tuple(x.shape)}"
            )
        _check_last_dim(self, x, self.input_size, "input_size")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)  # work time-major: (T, B, input_size)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (shape {tuple(x.shape)})")
        return x, unbatched

    def _run(self, x: Any, hx: Any) -> tuple[Any, list[Any], bool]:
        """The last layer's outputs (T, B, H) and each state's (num_layers, B, H) final value."""
        x, unbatched = self._time_major(x)
        initial = self._initial_states(hx, None if unbatched else x.shape[1])
        engine = get_engine(self.engine)
        finals: list[list[Any]] = [[] for _ in self.states]
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer(k)
            projected = F.linear(x, w_ih, b_ih)  # every step's input term in one product
            w_hh_t = w_hh.T  # transposed once, not once per step
            state = tuple(s[k] for s in initial)
            outputs = []
            for t in range(x.shape[0]):
                state = self._cell(projected[t], state, w_hh_t, b_hh)
                outputs.append(state[0])
            x = engine.stack(outputs, dim=0)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
            for collected, value in zip(finals, state, strict=True):
                collected.append(value)
        stacked = [engine.stack(values, dim=0) for values in finals]
        return x, stacked, unbatched

    def _output(self, x: Any, unbatched: bool) -> Any:
        if unbatched:
            return x.squeeze(1)
        return x.transpose(0, 1) if self.batch_first else x

    def extra_repr(self) -> str:
        extras = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            extras.append(f"num_layers={self.num_layers}")
        if not self.bias:
            extras.append("bias=False")
        if self.batch_first:
            extras.append("batch_first=True")
        if self.dropout:
            extras.append(f"dropout={self.dropout}")
        return ", ".join(extras)


class RNN(_RNNBase):
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
        dropout: float = 0.0,
        bidirectional: bool = False,
        engine: str | None = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, engine=engine, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _cell(
        self, projected: Any, state: tuple[Any, ...], w_hh_t: Any, b_hh: Any
    ) -> tuple[Any, ...]:
        pre = projected + state[0] @ w_hh_t
        if b_hh is not None:
            pre = pre + b_hh
        return (pre.tanh() if self.nonlinearity == "tanh" else pre.relu(),)

    def forward(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        out, (h_n,), unbatched = self._run(x, h0)
        return self._output(out, unbatched), h_n.squeeze(1) if unbatched else h_n

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        return extra + (f", nonlinearity={self.nonlinearity!r}"
                        if self.nonlinearity != "tanh" else "")


class LSTM(_RNNBase):
    """Long short-term memory as torch.nn.LSTM. Per layer and step, with torch's gate order
    (i, f, g, o) stacked in ``weight_ih_lk`` (4H, width), ``weight_hh_lk`` (4H, H) and the
    biases (4H,):

        i, f, g, o = split(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh, H)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(o) * tanh(c')

    ``forward(x, hx=None)`` with ``hx = (h_0, c_0)``, each (num_layers, B, H) (or
    (num_layers, H) unbatched), zeros by default; returns ``(output, (h_n, c_n))`` in torch's
    shapes. ``dropout`` applies between layers in training mode. torch state_dicts load 1:1.
    """

    gates = 4
    states = ("h0", "c0")

    def _cell(
        self, projected: Any, state: tuple[Any, ...], w_hh_t: Any, b_hh: Any
    ) -> tuple[Any, ...]:
        h, c = state
        gates = projected + h @ w_hh_t
        if b_hh is not None:
            gates = gates + b_hh
        i, f, g, o = gates.split(self.hidden_size, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c

    def forward(self, x: Any, hx: Any = None) -> tuple[Any, tuple[Any, Any]]:
        out, (h_n, c_n), unbatched = self._run(x, hx)
        if unbatched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._output(out, unbatched), (h_n, c_n)


class GRU(_RNNBase):
    """Gated recurrent unit as torch.nn.GRU, with torch's gate order (r, z, n):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h

    (computed as torch does, h' = (h - n) * z + n). ``forward(x, hx=None)`` with ``hx`` of
    shape (num_layers, B, H) (or (num_layers, H) unbatched); returns ``(output, h_n)``.
    """

    gates = 3

    def _cell(
        self, projected: Any, state: tuple[Any, ...], w_hh_t: Any, b_hh: Any
    ) -> tuple[Any, ...]:
        (h,) = state
        hidden = h @ w_hh_t
        if b_hh is not None:
            hidden = hidden + b_hh
        i_r, i_z, i_n = projected.split(self.hidden_size, dim=1)
        h_r, h_z, h_n = hidden.split(self.hidden_size, dim=1)
        r = (i_r + h_r).sigmoid()
        z = (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        return ((h - n) * z + n,)

    def forward(self, x: Any, hx: Any = None) -> tuple[Any, Any]:
        out, (h_n,), unbatched = self._run(x, hx)
        return self._output(out, unbatched), h_n.squeeze(1) if unbatched else h_n
