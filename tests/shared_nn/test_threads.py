"""Global state is per thread (or per context), as in PyTorch.

One thread trains while another evaluates under ``no_grad`` and a third switches engines
and fused ops: the trainer must see none of it. With one process-wide grad-mode flag, a
trainer would record half a graph whenever the evaluator was inside ``no_grad`` (and its
optimizer would then skip the parameters whose grad stayed None).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import shared_nn as nn
import shared_nn.functional as F
from shared_nn.models import MLP


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 µs so that the three loops really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.parametrize(("engine", "steps"), [("tensor", 300), ("scalar", 200)])
def test_no_grad_and_engine_switches_in_other_threads_never_reach_the_trainer(
    engine: str, steps: int, fast_switching: None
) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (4, 1))
    nn.manual_seed(0)
    model = MLP([2, 4, 1], engine=engine, dtype="float64")
    optimizer = nn.optim.SGD(model.parameters(), lr=0.05)
    done = threading.Event()
    problems: list[str] = []
    final_modes: dict[str, bool] = {}

    def train() -> None:
        E = nn.get_engine(engine)
        for step in range(steps):
            optimizer.zero_grad()
            loss = F.mse_loss(model(E.tensor(x, dtype="float64")), E.tensor(y, dtype="float64"))
            if not loss.requires_grad:
                problems.append(f"step {step}: the loss recorded no graph")
                continue
            loss.backward()
            missing = [name for name, p in model.named_parameters() if p.grad is None]
            if missing:
                problems.append(f"step {step}: no gradient for {missing}")
            if nn.engine_name() != "tensor" or not F.is_fused():
                problems.append(f"step {step}: the trainer saw another thread's engine flags")
            optimizer.step()
        final_modes["trainer"] = nn.is_grad_enabled()
        done.set()

    def evaluate() -> None:
        E = nn.get_engine(engine)
        while not done.is_set():
            with nn.no_grad():
                model(E.tensor(x, dtype="float64"))
            with E.no_grad():
                if E.is_grad_enabled():
                    problems.append("evaluator: no_grad did not switch its own thread")
        final_modes["evaluator"] = nn.is_grad_enabled()

    def toggle() -> None:
        while not done.is_set():
            for name in nn.ENGINES:
                with nn.use_engine(name), F.fused(False):
                    if nn.engine_name() != name or F.is_fused():
                        problems.append("toggler: its own use_engine/fused did not hold")
        final_modes["toggler"] = nn.is_grad_enabled()

    threads = [threading.Thread(target=f) for f in (train, evaluate, toggle)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert problems == []
    assert final_modes == {"trainer": True, "evaluator": True, "toggler": True}
    assert nn.is_grad_enabled()


@pytest.mark.parametrize("engine", nn.ENGINES)
def test_a_new_thread_starts_with_grad_mode_on(engine: str) -> None:
    E = nn.get_engine(engine)
    seen = []
    with E.no_grad():
        worker = threading.Thread(target=lambda: seen.append(E.is_grad_enabled()))
        worker.start()
        worker.join()
        assert not E.is_grad_enabled()
    assert seen == [True]


@pytest.mark.parametrize("engine", nn.ENGINES)
def test_grad_mode_switches_restore_their_own_entry(engine: str) -> None:
    """no_grad, enable_grad and set_grad_enabled nest, decorate and restore, as torch's."""
    E = nn.get_engine(engine)

    @E.no_grad
    def recorded_inside() -> bool:
        return E.is_grad_enabled()

    assert recorded_inside() is False and E.is_grad_enabled()
    with E.no_grad():
        with E.enable_grad():
            assert E.is_grad_enabled()
        assert not E.is_grad_enabled()
    E.set_grad_enabled(False)
    assert not E.is_grad_enabled()
    E.set_grad_enabled(True)
    with E.set_grad_enabled(False):
        assert not E.is_grad_enabled()
    assert E.is_grad_enabled()
    with pytest.raises(TypeError, match="bool"):
        E.set_grad_enabled("no")


def test_shared_nn_no_grad_switches_every_engine() -> None:
    engines = [nn.get_engine(name) for name in nn.ENGINES]  # the torch engine: once imported
    with nn.no_grad():
        assert not any(engine.is_grad_enabled() for engine in engines)
        assert not nn.is_grad_enabled()
        with nn.enable_grad():
            assert all(engine.is_grad_enabled() for engine in engines)
    assert nn.is_grad_enabled()

    @nn.no_grad()
    def evaluate(model: MLP) -> bool:
        x = nn.tensor(np.ones((1, 2)), engine=model.engine, dtype=model.dtype)
        return model(x).requires_grad

    for name in nn.ENGINES:
        assert evaluate(MLP([2, 3, 1], engine=name)) is False
