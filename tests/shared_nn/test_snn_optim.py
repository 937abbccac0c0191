"""Optimizers against torch.optim: 20 steps on a small regression, step for step."""

import numpy as np
import pytest
import torch
from snn_testutil import assert_close, torch_state

import shared_nn
from shared_nn import functional as F
from shared_nn import optim
from shared_nn.models import MLP

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5, amsgrad=True)),
]


def problem(engine="tensor"):
    """A tiny tanh MLP with torch's twin holding the same float64 weights, and data."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    theirs = theirs.double()
    ours = MLP([3, 4, 2], activation="tanh", engine=engine, dtype="float64")
    ours.load_state_dict(torch_state(theirs))
    rng = np.random.default_rng(0)
    return ours, theirs, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


def train(ours, theirs, x, y, opt, torch_opt, steps):
    """Take ``steps`` steps with both; compare the loss at every step and the weights after."""
    x_ours = shared_nn.tensor(x, dtype="float64", engine=ours.engine)
    x_torch, y_torch = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(steps):
        opt.zero_grad()
        torch_opt.zero_grad()
        loss = F.mse_loss(ours(x_ours), y)
        ref = torch.nn.functional.mse_loss(theirs(x_torch), y_torch)
        loss.backward()
        ref.backward()
        assert_close(loss.item(), ref.item(), rtol=1e-9, what=f"loss at step {step}")
        opt.step()
        torch_opt.step()
    for name, value in ours.state_dict().items():
        assert_close(value, theirs.state_dict()[name].numpy(), rtol=1e-9, what=name)


@pytest.mark.parametrize("name,options", CONFIGS, ids=lambda c: str(c))
def test_matches_torch_optim_for_20_steps(name, options):
    ours, theirs, x, y = problem()
    opt = getattr(optim, name)(ours.parameters(), **options)
    torch_opt = getattr(torch.optim, name)(theirs.parameters(), **options)
    train(ours, theirs, x, y, opt, torch_opt, steps=20)


@pytest.mark.parametrize("name,options", [CONFIGS[2], CONFIGS[9]], ids=str)
def test_matches_torch_optim_on_the_scalar_engine(name, options):
    ours, theirs, x, y = problem("scalar")
    opt = getattr(optim, name)(ours.parameters(), **options)
    torch_opt = getattr(torch.optim, name)(theirs.parameters(), **options)
    train(ours, theirs, x, y, opt, torch_opt, steps=20)


def test_parameter_groups_match_torch():
    ours, theirs, x, y = problem()
    ours_params, theirs_params = list(ours.parameters()), list(theirs.parameters())
    opt = optim.AdamW([{"params": ours_params[:2]},
                       {"params": ours_params[2:], "weight_decay": 0.0, "lr": 0.01}], lr=0.05)
    torch_opt = torch.optim.AdamW([{"params": theirs_params[:2]},
                                   {"params": theirs_params[2:], "weight_decay": 0.0, "lr": 0.01}],
                                  lr=0.05)
    train(ours, theirs, x, y, opt, torch_opt, steps=5)


def test_float32_parameters_stay_float32():
    model = MLP([3, 2])
    x = np.ones((4, 3), dtype=np.float32)
    for opt in (optim.SGD(model.parameters(), lr=0.1, momentum=0.9), optim.Adam(model, lr=0.1)):
        for _ in range(2):
            opt.zero_grad()
            F.mse_loss(model(x), np.zeros((4, 2))).backward()
            opt.step()
        assert all(p.dtype == np.float32 and p.numpy().dtype == np.float32
                   for p in model.parameters())
        assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values()
                   if isinstance(v, np.ndarray))


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    model = MLP([2, 2])
    before = model.state_dict()
    opt = optim.Adam(model.parameters())
    opt.step()  # no grads yet: nothing moves
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    F.mse_loss(model(np.ones((1, 2), dtype=np.float32)), 0.0).backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_bad_settings_are_clear_errors():
    params = list(MLP([2, 2]).parameters())
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        optim.SGD(params, lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"invalid betas \(1.0, 0.999\)"):
        optim.Adam(params, betas=(1.0, 0.999))
    with pytest.raises(TypeError, match="takes engine Tensors, got ndarray"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"unknown settings \['momentum'\]"):
        optim.Adam([{"params": params, "momentum": 0.9}])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": params}, {"params": params[:1]}], lr=0.1)


@pytest.mark.parametrize("name,options", [CONFIGS[1], CONFIGS[9]], ids=str)
def test_state_dict_resumes_the_same_trajectory(name, options):
    def run(model, opt, steps):
        x = np.random.default_rng(1).normal(size=(4, 3))
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(model(x), np.zeros((4, 2))).backward()
            opt.step()

    shared_nn.manual_seed(0)
    model = MLP([3, 4, 2], dtype="float64")
    opt = getattr(optim, name)(model.parameters(), **options)
    run(model, opt, 3)
    saved_weights, saved_state = model.state_dict(), opt.state_dict()
    run(model, opt, 3)

    resumed = MLP([3, 4, 2], dtype="float64")
    resumed.load_state_dict(saved_weights)
    resumed_opt = getattr(optim, name)(resumed.parameters(), lr=123.0)
    resumed_opt.load_state_dict(saved_state)
    assert resumed_opt.param_groups[0]["lr"] == options["lr"]
    run(resumed, resumed_opt, 3)
    for key, value in model.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), key
    with pytest.raises(ValueError, match=r"groups of sizes \[4\], this optimizer \[2\]"):
        optim.SGD(list(resumed.parameters())[:2], lr=0.1).load_state_dict(saved_state)


@pytest.mark.parametrize("engine", ["scalar", "tensor"])
def test_one_tensor_as_params_is_a_type_error(engine):
    """``SGD(m.weight)`` would iterate the tensor's rows, and step() would update copies:
    torch refuses it, and so do we."""
    weight = shared_nn.Linear(3, 2, engine=engine).weight
    with pytest.raises(TypeError, match=r"params must be an iterable of Tensors.*pass \[tensor\]"):
        optim.SGD(weight, lr=0.1)
    optim.SGD([weight], lr=0.1)  # the list is fine


def _trained(out_features, make):
    model = shared_nn.Linear(3, out_features, engine="tensor")
    opt = make(model.parameters())
    F.mse_loss(model(np.ones((2, 3))), np.zeros((2, out_features))).backward()
    opt.step()
    return opt


def test_a_state_for_other_shapes_or_another_optimizer_is_refused_before_loading():
    """An SGD state over Linear(3, 2) loaded into one over Linear(3, 5) made step() fail with
    a broadcast error; an SGD state loaded into Adam set lr silently, then hit a KeyError."""
    sgd = lambda params: optim.SGD(params, lr=0.1, momentum=0.9)  # noqa: E731
    saved = _trained(2, sgd).state_dict()
    wider = _trained(5, sgd)
    before = wider.state_dict()
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(2, 3\), "
                                         r"the parameter \(5, 3\)"):
        wider.load_state_dict(saved)
    assert wider.state_dict()["param_groups"] == before["param_groups"]
    adam = _trained(2, lambda params: optim.Adam(params, lr=0.01))
    with pytest.raises(ValueError, match=r"lacks Adam's settings \['amsgrad', 'betas', 'eps'\]"):
        adam.load_state_dict(saved)
    assert adam.param_groups[0]["lr"] == 0.01
    _trained(2, sgd).load_state_dict(saved)  # the same kind over the same shapes loads
