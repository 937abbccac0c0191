"""SGD, Adam and AdamW, following torch.optim's update formulas in torch's order of operations.

An optimizer never builds graph nodes: it reads each parameter's ``grad`` (a Tensor of the
parameter's engine) as a numpy array (``p.grad.numpy()``: no copy on the tensor and torch
engines), computes the update with numpy in the parameter's dtype, and writes the new values
with ``p.assign_``, handing the new array over (``copy=False``: no pass is spent copying it).
So the same code drives every engine, and float64 runs follow PyTorch's trajectory to
rounding. A gradient assigned as an ndarray (``p.grad = array``) is read the same way.

As in torch, ``params`` is an iterable of parameters or of dicts ("parameter groups") with a
``"params"`` entry and per-group settings, e.g.
``AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-4)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..engine import is_tensor
from ..module import zero_grads


def _read_only(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """torch.lerp's formula: two forms, so that weight 0 gives start and weight 1 gives end
    exactly."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses write ``_update``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()  # a Module: a convenience torch does not offer
        if is_tensor(params):  # list() would split it into rows, and step() update copies
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"of dicts, got one Tensor; pass [tensor]")
        items = list(params)
        if not items:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        self.steps_taken = 0  # step() calls; a scheduler stepped before the first one warns
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (missing ones from the defaults)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group is a dict with a 'params' entry")
        params = group["params"]
        params = [params] if is_tensor(params) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not is_tensor(p):
                raise TypeError(
                    f"{type(self).__name__} takes engine Tensors, got {type(p).__name__}"
                )
            if id(p) in seen:
                raise ValueError("a parameter appears in more than one parameter group")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown settings {sorted(unknown)}")
        full = {**self.defaults, **group, "params": params}
        self._check_settings(full)
        self.param_groups.append(full)

    def _check_settings(self, group: dict[str, Any]) -> None:
        if group["lr"] < 0:
            raise ValueError(f"invalid learning rate {group['lr']} (must be >= 0)")
        if group.get("weight_decay", 0.0) < 0:
            raise ValueError(f"invalid weight_decay {group['weight_decay']} (must be >= 0)")

    def _params(self) -> list[Any]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch's layout: ``{"state": {index: {...}}, "param_groups":
        [{settings, "params": [index, ...]}]}``, parameters numbered in group order. Arrays are
        copies."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {
            index[key]: {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                         for k, v in values.items()}
            for key, values in self.state.items() if key in index
        }
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned, for an optimizer over the same parameters."""
        params = self._params()
        groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in groups]
        if sizes != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(
                f"optimizer state has parameter groups of sizes {sizes}, this optimizer "
                f"{[len(g['params']) for g in self.param_groups]}"
            )
        self._check_saved(state_dict, groups, params)
        for group, saved in zip(self.param_groups, groups, strict=True):
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)  # betas come back from JSON as a list
                group[key] = value
        self.state = {}
        for i, values in state_dict["state"].items():
            p = params[int(i)]
            self.state[id(p)] = {
                k: np.array(v, dtype=p.dtype, copy=True) if isinstance(v, np.ndarray) else v
                for k, v in values.items()
            }

    def _check_saved(self, state_dict: dict[str, Any], groups: list[dict[str, Any]],
                     params: list[Any]) -> None:
        """Refuse, before changing anything, a state saved by another kind of optimizer (its
        settings differ) or over parameters of other shapes (step() would fail later, or
        worse, broadcast)."""
        name = type(self).__name__
        for saved in groups:  # extra keys are fine: a scheduler adds initial_lr, torch more
            missing = set(self.defaults) - set(saved)
            if missing:
                raise ValueError(
                    f"{name}.load_state_dict: the state lacks {name}'s settings "
                    f"{sorted(missing)} (saved by another optimizer?)")
        for i, values in state_dict["state"].items():
            if not 0 <= int(i) < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but this "
                                 f"optimizer has {len(params)} parameters")
            shape = tuple(params[int(i)].shape)
            for key, value in values.items():
                if isinstance(value, np.ndarray) and value.ndim and value.shape != shape:
                    raise ValueError(
                        f"{name}.load_state_dict: {key!r} of parameter {i} has shape "
                        f"{value.shape}, the parameter {shape}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``p.grad = None`` (torch's default), or with
        ``set_to_none=False`` write zeros into the gradients that exist (None stays None)."""
        zero_grads(self._params(), set_to_none)

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        self.steps_taken += 1
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad  # read once: on some engines each read wraps the array anew
                if grad is None:
                    continue
                dtype = np.dtype(p.dtype)
                value = _read_only(np.asarray(p.numpy(), dtype=dtype))
                # the hot path: a Tensor's array, no copy (an assigned ndarray as it is)
                grad = grad if type(grad) is np.ndarray else grad.numpy()
                if grad.dtype != dtype:
                    grad = grad.astype(dtype)
                if group.get("maximize", False):
                    grad = -grad
                state = self.state.setdefault(id(p), {})
                p.assign_(self._update(value, grad, state, group), copy=False)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        """The new values of a parameter as a new array, which the parameter then keeps (so
        it must not be kept in ``state`` too). ``param`` is a read-only view of the current
        values (no copy is made for the update to scribble on)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
    (L2) weight decay, as torch.optim.SGD:

        g = grad + weight_decay * p
        b = g (first step), else momentum * b + (1 - dampening) * g
        g = g + momentum * b  (nesterov)  or  g = b  (momentum)
        p = p - lr * g
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        if momentum < 0:
            raise ValueError(f"invalid momentum {momentum} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.copy()
            else:
                buf = buf * momentum + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        update = grad * (-group["lr"])  # one new array: the same numbers as param + lr * -grad
        update += param
        return update


class Adam(Optimizer):
    """Adam (Kingma & Ba) as torch.optim.Adam, with optional L2 weight decay and AMSGrad:

        g = grad + weight_decay * p          (Adam; AdamW instead shrinks p first)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"invalid betas {betas} (each must be in [0, 1))")
        if eps < 0:
            raise ValueError(f"invalid eps {eps} (must be >= 0)")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step = float(state["step"])
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                param = param * (1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * param
        exp_avg = state["exp_avg"] = _lerp(state["exp_avg"], grad, 1 - beta1)
        exp_avg_sq = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1 - beta2) * (grad * grad)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            exp_avg_sq = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], exp_avg_sq)
        denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
        return param + (-step_size) * (exp_avg / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW: each step
    first shrinks the parameter, ``p = p * (1 - lr * weight_decay)``, then takes an Adam step
    without weight decay. Default weight_decay is 0.01, as torch's."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
