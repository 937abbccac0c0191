"""Learning-rate schedulers against torch.optim.lr_scheduler: the same sequence of learning
rates, float for float, over hundreds of steps and two parameter groups."""

import json

import numpy as np
import pytest
import torch

import shared_nn
from shared_nn import optim
from shared_nn.optim import lr_scheduler as ours

T = torch.optim.lr_scheduler
STEPS = 300


def _optimizers(name="SGD"):
    """Ours and torch's optimizer of the same kind over one dummy parameter per group (lr
    0.1 and 0.03)."""
    mine = [shared_nn.tensor(np.zeros(2), requires_grad=True) for _ in range(2)]
    theirs = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    return (getattr(optim, name)([{"params": [mine[0]]}, {"params": [mine[1]], "lr": 0.03}],
                                 lr=0.1),
            getattr(torch.optim, name)([{"params": [theirs[0]]},
                                        {"params": [theirs[1]], "lr": 0.03}], lr=0.1))


SCHEDULES = {
    "step": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), "SGD"),
    "cosine": (lambda m, o: m.CosineAnnealingLR(o, T_max=37, eta_min=0.001), "SGD"),
    "cosine-restarts-past-T_max": (lambda m, o: m.CosineAnnealingLR(o, T_max=10), "Adam"),
    "linear": (lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=13),
               "SGD"),
    "linear-defaults": (lambda m, o: m.LinearLR(o), "AdamW"),
    "lambda": (lambda m, o: m.LambdaLR(o, lambda e: 0.97**e), "SGD"),
    "lambda-per-group": (lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9**e]),
                         "SGD"),
    "warmup-then-cosine": (lambda m, o: m.SequentialLR(o, [
        m.LinearLR(o, start_factor=0.01, total_iters=10), m.CosineAnnealingLR(o, T_max=50)],
        milestones=[10]), "AdamW"),
    "three-phases": (lambda m, o: m.SequentialLR(o, [
        m.LinearLR(o, start_factor=0.5, total_iters=3), m.StepLR(o, 5, 0.7),
        m.CosineAnnealingLR(o, T_max=20, eta_min=0.01)], milestones=[4, 30]), "SGD"),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_same_learning_rates_as_torch(name):
    make, kind = SCHEDULES[name]
    opt, torch_opt = _optimizers(kind)
    mine, theirs = make(ours, opt), make(T, torch_opt)
    assert mine.get_last_lr() == theirs.get_last_lr()
    seen = set()
    for step in range(STEPS):
        opt.step()
        torch_opt.step()
        mine.step()
        theirs.step()
        assert mine.get_last_lr() == theirs.get_last_lr(), f"step {step}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        seen.add(mine.get_last_lr()[0])
    assert len(seen) > 3, "the schedule never changed the learning rate: a useless test"
    assert opt.param_groups[0]["initial_lr"] == 0.1


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.filterwarnings("ignore:lr_scheduler.step")  # it steps only the schedule, on purpose
def test_state_dict_survives_json_and_resumes_the_sequence(name):
    make, kind = SCHEDULES[name]
    opt, _ = _optimizers(kind)
    sched = make(ours, opt)
    for _ in range(17):
        opt.step()
        sched.step()
    saved_sched = json.loads(json.dumps(sched.state_dict()))
    saved_opt = json.loads(json.dumps({"param_groups": opt.state_dict()["param_groups"],
                                       "state": {}}))
    expected = []
    for _ in range(30):
        sched.step()
        expected.append(sched.get_last_lr())

    fresh_opt, _ = _optimizers(kind)
    fresh = make(ours, fresh_opt)
    fresh_opt.load_state_dict(saved_opt)
    fresh.load_state_dict(saved_sched)
    resumed = []
    for _ in range(30):
        fresh.step()
        resumed.append(fresh.get_last_lr())
    assert resumed == expected


def test_callable_object_lambdas_keep_their_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate**epoch

    opt, _ = _optimizers()
    sched = ours.LambdaLR(opt, Decay(0.5))
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}] * 2  # one per parameter group
    other = ours.LambdaLR(_optimizers()[0], Decay(0.9))
    other.load_state_dict(state)
    assert other.lr_lambdas[0].rate == 0.5


def test_a_torch_optimizer_is_a_clear_type_error():
    torch_opt = _optimizers()[1]
    for make in (lambda o: ours.StepLR(o, 3), lambda o: ours.CosineAnnealingLR(o, 5),
                 lambda o: ours.LinearLR(o), lambda o: ours.LambdaLR(o, lambda e: 1.0),
                 lambda o: ours.SequentialLR(o, [], [])):
        with pytest.raises(TypeError, match=r"needs a shared_nn.optim optimizer.*torch\.optim"
                                            r".*use torch.optim.lr_scheduler"):
            make(torch_opt)
    with pytest.raises(TypeError, match="needs a shared_nn.optim optimizer.*got builtins.list"):
        ours.StepLR([], 3)


def test_bad_scheduler_arguments():
    opt, _ = _optimizers()
    other, _ = _optimizers()
    with pytest.raises(ValueError, match="step_size must be an int >= 1"):
        ours.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be an int >= 1"):
        ours.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        ours.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        ours.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="same optimizer"):
        ours.SequentialLR(opt, [ours.StepLR(opt, 2), ours.StepLR(other, 2)], [3])
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        ours.SequentialLR(opt, [ours.StepLR(opt, 2)], [3])
    with pytest.raises(KeyError, match="initial_lr"):
        ours.StepLR(_optimizers()[0], 2, last_epoch=5)


def test_a_scheduler_stepped_before_the_optimizer_warns_as_torch():
    """The common slip (``scheduler.step()`` first) skips the schedule's first value: torch
    warns, and so do we; in the right order nothing is said."""
    import warnings

    model = shared_nn.Linear(2, 2, engine="tensor")
    opt = shared_nn.optim.SGD(model.parameters(), lr=0.1)
    scheduler = shared_nn.optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\) was called before "
                                         r"optimizer.step\(\)"):
        scheduler.step()
    opt = shared_nn.optim.SGD(model.parameters(), lr=0.1)
    scheduler = shared_nn.optim.lr_scheduler.StepLR(opt, step_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        scheduler.step()
        scheduler.step()
