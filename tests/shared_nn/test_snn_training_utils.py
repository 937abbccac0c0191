"""Training utilities: gradient clipping and torch.nn.init against torch, the data loader,
zero_grad, containers and Parameter, and saving a run mid-way then resuming it exactly."""

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors import safe_open
from snn_testutil import ENGINES, assert_close, engines

import shared_nn
from shared_nn import functional as F
from shared_nn import init, optim
from shared_nn.optim import lr_scheduler
from shared_nn.utils import clip_grad_norm_, clip_grad_value_
from shared_nn.utils.data import DataLoader, TensorDataset

# --- gradient clipping ------------------------------------------------------------------------


def _grads_pair(engine, scale=3.0, dtype="float64"):
    """Three parameters with random gradients, ours and torch's (same values)."""
    rng = np.random.default_rng(0)
    shapes = [(2, 3), (3,), (1, 4)]
    grads = [rng.normal(size=s) * scale for s in shapes]
    ours = [shared_nn.tensor(np.zeros(s), requires_grad=True, dtype=dtype, engine=engine)
            for s in shapes]
    theirs = [torch.zeros(s, dtype=getattr(torch, dtype), requires_grad=True) for s in shapes]
    for p, t, g in zip(ours, theirs, grads, strict=True):
        p.grad = g
        t.grad = torch.from_numpy(g).to(t.dtype)
    return ours, theirs


@engines
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(engine, norm_type, max_norm):
    ours, theirs = _grads_pair(engine)
    before = [np.array(p.grad) for p in ours]
    norm = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert_close(float(norm), ref.item(), what="total norm")
    assert norm.item() == float(norm)  # a numpy scalar: .item() works as on torch's tensor
    for p, t in zip(ours, theirs, strict=True):
        assert_close(p.grad, t.grad.numpy(), what="clipped grad")
        assert p.grad.dtype == np.float64
    if max_norm > 1e5:  # nothing to clip: the coefficient 1 leaves grads bit-identical
        assert all(np.array_equal(p.grad, b) for p, b in zip(ours, before, strict=True))


def test_clip_grad_norm_float32_and_single_tensor_and_no_grads():
    ours, theirs = _grads_pair("tensor", dtype="float32")
    norm = clip_grad_norm_(ours[0], 0.1)
    ref = torch.nn.utils.clip_grad_norm_(theirs[0], 0.1)
    assert norm.dtype == np.float32 and ours[0].grad.dtype == np.float32
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(float(norm), ref.item(), rtol=1e-6)
    fresh = shared_nn.tensor(np.zeros(2), requires_grad=True)
    assert float(clip_grad_norm_([fresh], 1.0)) == 0.0 and fresh.grad is None


def test_clip_grad_norm_does_not_write_into_the_old_grad_array():
    (p, *_), _ = _grads_pair("tensor")
    old = p.grad
    snapshot = np.array(old)
    clip_grad_norm_([p], 0.01)
    assert np.array_equal(old, snapshot) and not np.array_equal(p.grad, snapshot)


@engines
def test_clip_grad_norm_nonfinite(engine):
    ours, theirs = _grads_pair(engine)
    bad = np.array(ours[1].grad)
    bad[0] = np.inf
    ours[1].grad = bad
    theirs[1].grad = torch.from_numpy(bad)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    norm = clip_grad_norm_(ours, 1.0)
    ref = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isinf(float(norm)) and math.isinf(ref.item())
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(t.grad.numpy()))


@engines
def test_clip_grad_value_matches_torch(engine):
    ours, theirs = _grads_pair(engine)
    clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, t in zip(ours, theirs, strict=True):
        assert np.array_equal(p.grad.numpy(), t.grad.numpy())
    assert max(np.abs(p.grad.numpy()).max() for p in ours) == 1.5


def test_clip_rejects_non_tensors():
    with pytest.raises(TypeError, match="expected engine Tensors"):
        clip_grad_norm_([np.zeros(2)], 1.0)


# --- torch.nn.init ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (5, 2, 3), (2, 3, 2, 2)])
def test_fans_and_bounds_follow_torch(shape):
    t = torch.empty(shape)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    ours = shared_nn.tensor(np.zeros(shape), requires_grad=True, dtype="float64")
    assert init._calculate_fan_in_and_fan_out(ours) == (fan_in, fan_out)
    cases = [
        (lambda x: init.kaiming_uniform_(x), math.sqrt(6.0 / fan_in)),  # a=0, leaky_relu
        (lambda x: init.kaiming_uniform_(x, a=math.sqrt(5)), 1 / math.sqrt(fan_in)),
        (lambda x: init.kaiming_uniform_(x, mode="fan_out", nonlinearity="relu"),
         math.sqrt(6.0 / fan_out)),
        (lambda x: init.xavier_uniform_(x, gain=2.0), 2.0 * math.sqrt(6.0 / (fan_in + fan_out))),
        (lambda x: init.uniform_(x, -0.3, 0.3), 0.3),
    ]
    for fill, bound in cases:
        values = fill(ours).numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.5 * bound
    for name, param in [("leaky_relu", None), ("leaky_relu", 0.2), ("tanh", None),
                        ("relu", None), ("selu", None), ("sigmoid", None), ("linear", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_init_is_seeded_the_same_on_both_engines_and_keeps_dtype():
    results = {}
    for engine, dtype in [("scalar", None), ("tensor", "float64"), ("tensor", None)]:
        shared_nn.manual_seed(3)
        layer = shared_nn.Linear(3, 4, engine=engine, dtype=dtype)
        init.kaiming_uniform_(layer.weight)
        init.normal_(layer.bias, 1.0, 0.5)
        results[engine, dtype] = {k: v for k, v in layer.state_dict().items()}
    a, b, c = results.values()
    for key in a:
        assert np.array_equal(a[key], b[key]) and c[key].dtype == np.float32
        assert np.array_equal(a[key].astype(np.float32), c[key])
    shared_nn.manual_seed(3)
    other = init.kaiming_uniform_(shared_nn.tensor(np.zeros((4, 3)), requires_grad=True))
    assert not np.array_equal(other.numpy(), a["weight"])  # the layer's own init came first


def test_constant_fills_and_errors():
    x = shared_nn.tensor(np.zeros((2, 3)), requires_grad=True, engine="scalar")
    assert init.ones_(x) is x and (x.numpy() == 1).all()
    assert (init.zeros_(x).numpy() == 0).all()
    assert (init.constant_(x, 0.25).numpy() == 0.25).all()
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(shared_nn.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(x, mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="expected an engine Tensor"):
        init.zeros_(np.zeros(3))


# --- data -------------------------------------------------------------------------------------


def test_tensor_dataset_and_loader_batches():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    data = TensorDataset(x, y)
    assert len(data) == 10 and np.array_equal(data[3][0], x[3]) and data[3][1] == 3
    loader = DataLoader(data, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[0][1].dtype == y.dtype and np.array_equal(batches[2][1], [8, 9])
    assert len(DataLoader(data, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(data, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(data)) == 10


def test_shuffle_is_seeded_and_covers_every_sample_once():
    data = TensorDataset(np.arange(12))
    order = lambda loader: np.concatenate([b[0] for b in loader])  # noqa: E731
    first = DataLoader(data, batch_size=5, shuffle=True, seed=7)
    epoch1, epoch2 = order(first), order(first)
    assert sorted(epoch1) == list(range(12)) and not np.array_equal(epoch1, epoch2)
    again = DataLoader(data, batch_size=5, shuffle=True, seed=7)
    assert np.array_equal(order(again), epoch1) and np.array_equal(order(again), epoch2)
    assert not np.array_equal(order(DataLoader(data, batch_size=5, shuffle=True, seed=8)),
                              epoch1)
    shared_nn.manual_seed(1)
    a = order(DataLoader(data, batch_size=5, shuffle=True))  # shared_nn's generator
    shared_nn.manual_seed(1)
    assert np.array_equal(order(DataLoader(data, batch_size=5, shuffle=True)), a)
    rng = np.random.default_rng(7)
    assert np.array_equal(order(DataLoader(data, batch_size=5, shuffle=True, generator=rng)),
                          epoch1)


@engines
def test_engine_tensors_and_generic_datasets(engine):
    t = shared_nn.tensor(np.ones((3, 2)), engine=engine)
    batch = next(iter(DataLoader(TensorDataset(t, [0, 1, 2]), batch_size=2)))
    assert isinstance(batch[0], np.ndarray) and batch[0].shape == (2, 2)

    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, float(i)), "y": i * i}

    batches = list(DataLoader(Squares(), batch_size=2))
    assert batches[1]["x"].shape == (2, 2) and list(batches[1]["y"]) == [4, 9]
    assert [item["y"] for item in DataLoader(Squares(), batch_size=None)] == [0, 1, 4, 9, 16]


def test_data_errors():
    with pytest.raises(ValueError, match=r"size mismatch.*\[3, 2\]"):
        TensorDataset(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=0)
    with pytest.raises(ValueError, match="seed or a generator, not both"):
        DataLoader(TensorDataset(np.zeros(3)), seed=1, generator=np.random.default_rng())


# --- zero_grad, modes, containers, Parameter --------------------------------------------------


@engines
def test_zero_grad_set_to_none_false_fills_zeros(engine):
    model = shared_nn.models.MLP([2, 3, 1], engine=engine, dtype="float64")
    extra = shared_nn.tensor(np.ones(2), requires_grad=True, engine=engine, dtype="float64")
    opt = optim.SGD([*model.parameters(), extra], lr=0.1)
    F.mse_loss(model(np.ones((1, 2))), 0.0).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    assert extra.grad is None  # never had a gradient: stays None, as torch
    F.mse_loss(model(np.ones((1, 2))), 0.0).backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad.shape == tuple(p.shape) and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_module():
    nn = shared_nn
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.LSTM(2, 2, dropout=0.2))
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_containers_and_parameter():
    nn = shared_nn
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"] and seq[0] is seq.fc
    assert list(seq[:1].state_dict()) == ["fc.weight", "fc.bias"]
    blocks = nn.ModuleDict({"a": nn.Linear(2, 2)})
    blocks["b"] = nn.Linear(2, 1)
    assert list(blocks) == ["a", "b"] and "b" in blocks and len(blocks) == 2
    assert list(blocks.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert isinstance(blocks.pop("a"), nn.Linear) and list(blocks.keys()) == ["b"]
    with pytest.raises(KeyError, match="can't be empty or contain"):
        blocks["x.y"] = nn.ReLU()
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        blocks["forward"] = nn.ReLU()
    with pytest.raises(TypeError, match="takes Modules"):
        blocks["c"] = 3

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__(engine="scalar")
            self.scale = nn.Parameter(np.array([2.0, 3.0]))

        def forward(self, x):
            return x * self.scale

    with nn.use_engine("scalar"):
        model = Scaled()
    assert [n for n, _ in model.named_parameters()] == ["scale"]
    assert isinstance(model.scale, nn.Parameter) and model.scale.engine == "scalar"
    assert not isinstance(nn.tensor([1.0]), nn.Parameter)
    from_torch = nn.Parameter(torch.ones(2, dtype=torch.float64), engine="tensor")
    assert from_torch.dtype == np.float64 and from_torch.requires_grad
    frozen = nn.Parameter(np.ones(2), requires_grad=False)
    assert not frozen.requires_grad


@engines
def test_flatten_identity_softmax_modules(engine):
    nn = shared_nn
    x = nn.tensor(np.arange(24.0).reshape(2, 3, 4), engine=engine, dtype="float64")
    assert nn.Flatten()(x).shape == (2, 12) and nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Flatten(-2)(x).shape == (2, 12) and nn.Identity(3, foo=1)(x) is x
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(axis=1), 1.0)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        nn.LogSoftmax()(x)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        nn.Flatten(2, 1)(x)


# --- bad input: clear errors ------------------------------------------------------------------


@engines
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_wrong_hidden_state_shapes_name_both_shapes(engine, kind):
    layer = getattr(shared_nn, kind)(2, 3, num_layers=2, engine=engine)
    x = np.zeros((4, 1, 2), dtype=np.float32)
    good, bad = np.zeros((2, 1, 3), np.float32), np.zeros((1, 1, 3), np.float32)
    if kind == "LSTM":
        with pytest.raises(ValueError, match=r"h0 of shape \(2, 1, 3\), got \(1, 1, 3\)"):
            layer(x, (bad, good))
        with pytest.raises(ValueError, match=r"c0 of shape \(2, 1, 3\), got \(2, 1, 4\)"):
            layer(x, (good, np.zeros((2, 1, 4), np.float32)))
        with pytest.raises(ValueError, match=r"hx must be a tuple \(h0, c0\)"):
            layer(x, good)
    else:
        with pytest.raises(ValueError, match=r"GRU: expected h0 of shape \(2, 1, 3\), got "
                                             r"\(1, 1, 3\)"):
            layer(x, bad)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 3\), got \(2, 1, 3\)"):
        layer(np.zeros((4, 2), np.float32), (good, good) if kind == "LSTM" else good)
    with pytest.raises(ValueError, match=r"input_size=2.*\(4, 1, 5\)"):
        layer(np.zeros((4, 1, 5), np.float32))


def test_bad_layer_and_loss_arguments():
    nn = shared_nn
    for p in (-0.1, 1.0, 1.5, float("nan"), "0.5"):
        with pytest.raises(ValueError, match=r"dropout probability has to be in \[0, 1\)"):
            nn.Dropout(p)
        with pytest.raises(ValueError, match="dropout probability"):
            F.dropout(nn.tensor([1.0]), p)
    with pytest.raises(ValueError, match="dropout probability"):
        nn.LSTM(2, 3, dropout=2.0)
    with pytest.raises(NotImplementedError, match="bidirectional"):
        nn.GRU(2, 3, bidirectional=True)
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(2, 3, proj_size=2)
    x = nn.tensor(np.zeros((2, 3)))
    for eps in (-0.1, 1.1):
        with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
            F.cross_entropy(x, [0, 1], label_smoothing=eps)
        with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
            nn.CrossEntropyLoss(label_smoothing=eps)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, [0, 1], weight=np.ones(2))
    with pytest.raises(ValueError, match=r"target must have the input's shape"):
        F.binary_cross_entropy_with_logits(x, 1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="avg")


def test_dropout_eval_passes_through():
    x = shared_nn.tensor(np.ones((2, 2)), requires_grad=True)
    layer = shared_nn.Dropout(0.9).eval()
    assert layer(x) is x


# --- saving a run and resuming it exactly -----------------------------------------------------


def _run_setup(engine):
    """A dropout MLP, AdamW with warm-up + cosine, a shuffling loader: everything that
    carries state from step to step."""
    nn = shared_nn
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5, engine=engine, dtype="float64"), nn.Tanh(),
                          nn.Dropout(0.2), nn.Linear(5, 2, engine=engine, dtype="float64"))
    opt = optim.AdamW(model.parameters(), lr=0.05)
    sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, 0.2, total_iters=4),
                                            lr_scheduler.CosineAnnealingLR(opt, 16)], [4])
    rng = np.random.default_rng(5)
    data = TensorDataset(rng.normal(size=(8, 3)), rng.integers(0, 2, 8))
    loader = DataLoader(data, batch_size=4, shuffle=True, seed=11)
    return model, opt, sched, loader


def _train(model, opt, sched, loader, steps, start=0):
    """``steps`` steps, one epoch every two; each epoch draws its shuffle at its start."""
    batches = []
    for step in range(start, start + steps):
        if step % 2 == 0:
            batches = iter(loader)
        x, y = next(batches)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()


@engines
def test_resume_from_a_file_reproduces_the_uninterrupted_run_bit_for_bit(engine, tmp_path):
    straight = _run_setup(engine)
    _train(*straight, steps=20)

    first = _run_setup(engine)
    _train(*first, steps=10)
    path = tmp_path / "run.safetensors"
    model, opt, sched, loader = first
    shared_nn.save_training_state(path, model=model, optimizer=opt, scheduler=sched, step=10,
                                  data_loader=loader, extra={"note": "half way"})
    shared_nn.manual_seed(999)  # anything drawn in between must not matter

    resumed = _run_setup(engine)  # fresh objects, as in a new process
    info = shared_nn.load_training_state(path, model=resumed[0], optimizer=resumed[1],
                                         scheduler=resumed[2], data_loader=resumed[3])
    assert info == {"step": 10, "extra": {"note": "half way"}}
    _train(*resumed, steps=10, start=info["step"])

    want, got = straight[0].state_dict(), resumed[0].state_dict()
    for key in want:
        assert np.array_equal(want[key], got[key]), key
    assert straight[2].get_last_lr() == resumed[2].get_last_lr()
    assert not np.array_equal(want["0.weight"], _run_setup(engine)[0].state_dict()["0.weight"])


def test_training_state_file_is_safetensors_plus_json(tmp_path):
    model, opt, sched, loader = _run_setup("tensor")
    _train(model, opt, sched, loader, steps=2)
    path = tmp_path / "state.safetensors"
    shared_nn.save_training_state(path, model=model, optimizer=opt, scheduler=sched, step=2)
    with safe_open(str(path), framework="numpy") as handle:
        names = set(handle.keys())
        document = json.loads(handle.metadata()["training_state_json"])
    assert "model.0.weight" in names and "optimizer.state.0.exp_avg" in names
    assert document["optimizer"]["state"]["0"] == {"step": 2}
    assert document["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    assert document["scheduler"]["last_epoch"] == 2 and document["step"] == 2
    fresh_opt = _run_setup("tensor")[1]
    shared_nn.load_training_state(path, optimizer=fresh_opt)
    assert fresh_opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert not (tmp_path / "state.safetensors.tmp").exists()


def test_training_state_errors(tmp_path):
    model, opt, _, _ = _run_setup("tensor")
    path = tmp_path / "weights.safetensors"
    shared_nn.save_training_state(path, model=model)
    with pytest.raises(KeyError, match="holds no optimizer state"):
        shared_nn.load_training_state(path, optimizer=opt)
    model.save(str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="not a training-state file"):
        shared_nn.load_training_state(tmp_path / "plain.safetensors", model=model)
    with pytest.raises(FileNotFoundError):
        shared_nn.load_training_state(tmp_path / "missing.safetensors", model=model)
    with pytest.raises(TypeError, match="cannot store a ndarray as JSON"):
        shared_nn.save_training_state(path, extra={"bad": np.zeros(2)})


def test_an_optimizer_alone_round_trips_with_its_arrays_and_dtypes(tmp_path):
    """The issue's symptom was that ``optimizer.state_dict()`` (nested, with ints and
    tuples) could not be written to safetensors; here it can, and comes back equal."""
    model, opt, sched, loader = _run_setup("tensor")
    _train(model, opt, sched, loader, steps=3)
    shared_nn.save_training_state(tmp_path / "o.safetensors", optimizer=opt, save_rng=False)
    fresh = _run_setup("tensor")[1]
    shared_nn.load_training_state(tmp_path / "o.safetensors", optimizer=fresh)
    want, got = opt.state_dict(), fresh.state_dict()
    assert got["param_groups"] == want["param_groups"]
    for index, values in want["state"].items():
        assert got["state"][index]["step"] == values["step"] == 3
        for key in ("exp_avg", "exp_avg_sq"):
            assert got["state"][index][key].dtype == np.float64
            assert np.array_equal(got["state"][index][key], values[key])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_between_recurrent_layers_only_in_training(kind):
    """dropout=0.5 changes the training-mode output (seeded: the same on both engines) and
    nothing in eval mode, where the layer equals torch's."""
    x = np.random.default_rng(0).normal(size=(3, 2, 2))
    outputs = {}
    for engine in ENGINES:
        shared_nn.manual_seed(0)
        layer = getattr(shared_nn, kind)(2, 3, num_layers=2, dropout=0.5, engine=engine,
                                         dtype="float64")
        shared_nn.manual_seed(5)
        outputs[engine, "train"] = layer(x)[0].numpy()
        outputs[engine, "eval"] = layer.eval()(x)[0].numpy()
    theirs = getattr(torch.nn, kind)(2, 3, num_layers=2, dropout=0.5).double().eval()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    assert_close(outputs["tensor", "eval"], theirs(torch.from_numpy(x))[0].detach().numpy())
    assert_close(outputs["scalar", "eval"], outputs["tensor", "eval"])
    assert_close(outputs["scalar", "train"], outputs["tensor", "train"])
    assert not np.allclose(outputs["tensor", "train"], outputs["tensor", "eval"])
