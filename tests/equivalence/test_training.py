"""Training trajectories: the same model, data and optimizer on every backend follow the same
path, step by step.

Gradients that agree to 1e-12 are necessary but not sufficient for training to agree: the
optimizers (shared_nn.optim, numpy on ``p.grad``, written back with ``p.assign_``) must also
follow torch.optim's formulas in torch's order, and ``zero_grad`` / accumulation must behave.
Each test trains a small model for a few steps on each engine and on its torch twin (with
torch.optim) and compares the loss at every step and the final weights.

Tolerance: ``1e-9`` relative. Rounding differences of ~1e-16 are amplified a little by each
step (momentum, Adam's division by ``sqrt(v)``), so the per-op ``1e-10`` would be too strict
after several steps; a wrong update rule is off by far more than 1e-9 at the first step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from .checker import BACKENDS, WITH_FUSED, assert_close
from .modules import TorchModule, build, load_into_torch
from .test_models import TorchCharRNN, TorchRNNClassifier, torch_mlp

STEPS = 10
TRAJECTORY_RTOL = 1e-9

OPTIMIZERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    # name: (shared_nn.optim factory, torch.optim factory), same hyperparameters
    "sgd-momentum": (
        lambda optim, ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    ),
    "sgd-dampening": (
        lambda optim, ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
    ),
    "sgd-nesterov": (
        lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "adam": (
        lambda optim, ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.9), weight_decay=0.01),
        lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.9), weight_decay=0.01),
    ),
    "adamw": (
        lambda optim, ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    ),
}


def _mlp_task(rng: np.random.Generator) -> dict[str, Any]:
    """A 4-5-3 tanh MLP classifying 8 random points into 3 classes."""
    import shared_nn.models as models

    sizes = [4, 5, 3]
    x = rng.uniform(-2, 2, (8, 4))
    y = rng.integers(0, 3, 8)
    return dict(
        make=lambda **kw: models.MLP(sizes, activation="tanh", **kw),
        twin=lambda: torch_mlp(sizes, "tanh", False),
        loss=lambda E, m: E.F.cross_entropy(m(E.tensor(x)), y),
    )


def _rnn_task(rng: np.random.Generator) -> dict[str, Any]:
    """An RNN classifier on 3 sequences of length 4."""
    import shared_nn.models as models

    x = rng.uniform(-1, 1, (3, 4, 2))
    y = rng.integers(0, 2, 3)
    return dict(
        make=lambda **kw: models.RNNClassifier(2, 3, 2, **kw),
        twin=lambda: TorchRNNClassifier(2, 3, 2, 1),
        loss=lambda E, m: E.F.cross_entropy(m(E.tensor(x)), y),
    )


def _char_rnn_task(rng: np.random.Generator) -> dict[str, Any]:
    """A char-RNN language model on one random "text" of 6 ids over a vocabulary of 5."""
    import shared_nn.models as models

    text = rng.integers(0, 5, (2, 6))
    return dict(
        make=lambda **kw: models.CharRNN(5, 3, 4, **kw),
        twin=lambda: TorchCharRNN(5, 3, 4, 1),
        loss=lambda E, m: E.F.cross_entropy(m(text[:, :-1]).reshape(-1, 5),
                                             text[:, 1:].reshape(-1)),
    )


TASKS = {"mlp": _mlp_task, "rnn-classifier": _rnn_task, "char-rnn": _char_rnn_task}


def _train(backend: str, task: dict[str, Any], optimizer: str, seed: int):
    """Losses at every step and the final state_dict on one backend (or torch)."""
    import shared_nn

    if backend == "torch":
        model = build(task["make"], "tensor", seed)  # only for its initial weights
        twin = load_into_torch(task["twin"](), model.state_dict())
        opt = OPTIMIZERS[optimizer][1](twin.parameters())
        E = BACKENDS["torch"]
        wrapped = TorchModule(twin)
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = task["loss"](E, wrapped)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, {k: v.detach().numpy().copy() for k, v in twin.state_dict().items()}
    E = BACKENDS[backend]
    model = build(task["make"], E.engine, seed)
    opt = OPTIMIZERS[optimizer][0](shared_nn.optim, model.parameters())
    losses = []
    with E.active():
        for _ in range(STEPS):
            opt.zero_grad()
            loss = task["loss"](E, model)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, model.state_dict()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("task_name", list(TASKS))
def test_trajectories_agree(task_name: str, optimizer: str) -> None:
    seed = 1234
    task = TASKS[task_name](np.random.default_rng(seed))
    want_losses, want_state = _train("torch", task, optimizer, seed)
    assert want_losses[-1] < want_losses[0], "the reference did not train: a useless test"
    for backend in WITH_FUSED:
        losses, state = _train(backend, task, optimizer, seed)
        assert_close(f"{backend} {task_name}/{optimizer}: losses per step", losses,
                     want_losses, rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)
        for key, want in want_state.items():
            assert_close(f"{backend} {task_name}/{optimizer}: final {key}", state[key], want,
                         rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)


# --- schedulers, gradient clipping and dropout: 20 steps against torch -----------------------

LONG_STEPS = 20


def _schedules(lr_scheduler: Any) -> dict[str, Callable[..., Any]]:
    """name -> (optimizer factory, scheduler factory, clip max_norm or None), written once for
    either library: ``lr_scheduler`` is shared_nn's or torch's module, ``optim`` likewise."""
    return {
        "adam+cosine+clip": (
            lambda optim, ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.9)),
            lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.001),
            0.5,
        ),
        "sgd-momentum-dampening+step": (
            lambda optim, ps: optim.SGD(ps, lr=0.2, momentum=0.8, dampening=0.3,
                                        weight_decay=0.01),
            lambda opt: lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
            None,
        ),
        "adamw+warmup-cosine": (
            lambda optim, ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
            lambda opt: lr_scheduler.SequentialLR(opt, [
                lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5),
                lr_scheduler.CosineAnnealingLR(opt, T_max=15)], milestones=[5]),
            0.3,
        ),
    }


def _dropout_task(rng: np.random.Generator) -> dict[str, Any]:
    """Linear -> Tanh -> Dropout(0.3) -> Linear, trained in training mode: the masks come from
    shared_nn's generator (seeded before training) and are fed to torch's twin."""
    import shared_nn

    from .test_layers import TorchSeededDropout

    x = rng.uniform(-2, 2, (8, 4))
    y = rng.integers(0, 3, 8)
    return dict(
        make=lambda **kw: shared_nn.Sequential(
            shared_nn.Linear(4, 6, **kw), shared_nn.Tanh(), shared_nn.Dropout(0.3),
            shared_nn.Linear(6, 3, **kw)),
        twin=lambda: torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                                         TorchSeededDropout(0.3), torch.nn.Linear(6, 3)),
        loss=lambda E, m: E.F.cross_entropy(m(E.tensor(x)), y),
    )


def _train_scheduled(backend: str, task: dict[str, Any], recipe: str, seed: int):
    """Losses, learning rates and clipped norms at every step, and the final state_dict."""
    import shared_nn

    if backend == "torch":
        model = build(task["make"], "tensor", seed)  # only for its initial weights
        twin = load_into_torch(task["twin"](), model.state_dict())
        make_opt, make_sched, clip = _schedules(torch.optim.lr_scheduler)[recipe]
        opt = make_opt(torch.optim, twin.parameters())
        clip_fn, params, E, module = torch.nn.utils.clip_grad_norm_, twin.parameters, \
            BACKENDS["torch"], TorchModule(twin)
    else:
        E = BACKENDS[backend]
        module = build(task["make"], E.engine, seed)
        make_opt, make_sched, clip = _schedules(shared_nn.optim.lr_scheduler)[recipe]
        opt = make_opt(shared_nn.optim, module.parameters())
        clip_fn, params = shared_nn.utils.clip_grad_norm_, module.parameters
    sched = make_sched(opt)
    shared_nn.manual_seed(seed + 1)  # the dropout masks' stream, the same on every backend
    record: dict[str, list[float]] = {"loss": [], "lr": [], "norm": []}
    with E.active():
        for _ in range(LONG_STEPS):
            opt.zero_grad()
            loss = task["loss"](E, module)
            loss.backward()
            if clip is not None:
                record["norm"].append(float(clip_fn(params(), clip)))
            opt.step()
            sched.step()
            record["loss"].append(loss.item())
            record["lr"].append(sched.get_last_lr()[0])
    state = (module.module.state_dict() if backend == "torch" else module.state_dict())
    return record, {k: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v)
                    for k, v in state.items()}


@pytest.mark.parametrize("recipe", list(_schedules(torch.optim.lr_scheduler)))
@pytest.mark.parametrize("task_name", ["mlp", "dropout"])
def test_scheduled_clipped_trajectories_agree(task_name: str, recipe: str) -> None:
    """20 steps: the loss, the learning rate the scheduler set, the gradient norm clipping
    saw, and the final weights, on both engines (fused too) against torch."""
    seed = 4321
    make_task = _mlp_task if task_name == "mlp" else _dropout_task
    task = make_task(np.random.default_rng(seed))
    want, want_state = _train_scheduled("torch", task, recipe, seed)
    assert want["loss"][-1] < want["loss"][0], "the reference did not train: a useless test"
    assert len(set(want["lr"])) > 3, "the schedule did not change the learning rate"
    if want["norm"]:
        _, _, max_norm = _schedules(torch.optim.lr_scheduler)[recipe]
        assert max(want["norm"]) > max_norm, "clipping never clipped: a useless test"
    for backend in WITH_FUSED:
        got, state = _train_scheduled(backend, task, recipe, seed)
        for key in ("loss", "norm"):
            assert_close(f"{backend} {task_name}/{recipe}: {key} per step", got[key], want[key],
                         rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)
        assert got["lr"] == want["lr"], f"{backend} {recipe}: learning rates differ"
        for key, value in want_state.items():
            assert_close(f"{backend} {task_name}/{recipe}: final {key}", state[key], value,
                         rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)
