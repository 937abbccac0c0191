"""shared_nn under the engines' tensor contract: ``.grad`` is a Tensor of the parameter's
engine (optimizers and clipping read it), ``==`` compares values while tensors hash by
identity (parameters are told apart by identity), integer tensors are indices (class
targets, token ids, ``one_hot``), and the equivalence checker compares int/bool outputs
exactly. Every engine that is installed, torch's included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from snn_testutil import assert_close, to_torch, torch_state

import shared_nn
from shared_nn import Embedding, Module, Parameter, optim
from shared_nn import functional as F
from shared_nn.engine import engine_available, engine_of, get_engine
from shared_nn.models import MLP, CharRNN
from shared_nn.testing import EnginesDisagree, assert_engines_agree, gradcheck
from shared_nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm

ALL = [e for e in ("scalar", "tensor", "torch") if engine_available(e)]
all_engines = pytest.mark.parametrize("engine", ALL)

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5, amsgrad=True)),
]


def _twins(engine: str) -> tuple[Any, torch.nn.Module, np.ndarray, np.ndarray]:
    """A tanh MLP on ``engine`` and its torch.nn twin with the same float64 weights, and data."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2)).double()
    ours = MLP([3, 4, 2], activation="tanh", engine=engine, dtype="float64")
    ours.load_state_dict(torch_state(theirs))
    rng = np.random.default_rng(0)
    return ours, theirs, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


# --- .grad is a Tensor: optimizers ------------------------------------------------------------


@all_engines
def test_backward_leaves_a_tensor_of_the_parameters_engine_in_grad(engine):
    model, _, x, y = _twins(engine)
    F.mse_loss(model(x), y).backward()
    for p in model.parameters():
        assert engine_of(p.grad) == engine
        assert p.grad.shape == p.shape and p.grad.dtype == p.dtype


@all_engines
@pytest.mark.parametrize("name,options", CONFIGS, ids=str)
def test_optimizers_follow_torch_optim_with_tensor_grads(engine, name, options):
    """Ten steps from Tensor grads on every engine against torch.optim in float64."""
    ours, theirs, x, y = _twins(engine)
    opt = getattr(optim, name)(ours.parameters(), **options)
    torch_opt = getattr(torch.optim, name)(theirs.parameters(), **options)
    x_torch, y_torch = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(10):
        opt.zero_grad()
        torch_opt.zero_grad()
        loss = F.mse_loss(ours(x), y)
        ref = TF.mse_loss(theirs(x_torch), y_torch)
        loss.backward()
        ref.backward()
        assert engine_of(next(ours.parameters()).grad) == engine
        assert_close(loss.item(), ref.item(), rtol=1e-9, what=f"loss at step {step}")
        opt.step()
        torch_opt.step()
    for key, value in ours.state_dict().items():
        assert_close(value, theirs.state_dict()[key].numpy(), rtol=1e-9, what=key)


@all_engines
@pytest.mark.parametrize("name,options", CONFIGS, ids=str)
def test_a_tensor_grad_steps_bit_for_bit_as_the_same_values_given_as_an_array(
        engine, name, options):
    """The numbers of a step depend on the gradient's values only: a model whose grads come
    from backward (Tensors) and a twin whose grads are assigned as ndarrays (``p.grad =
    array``, still allowed) stay bit-identical, and a step never writes into a gradient."""
    a, _, x, y = _twins(engine)
    b, _, _, _ = _twins(engine)
    opt_a = getattr(optim, name)(a.parameters(), **options)
    opt_b = getattr(optim, name)(b.parameters(), **options)
    for _ in range(3):
        opt_a.zero_grad()
        opt_b.zero_grad()
        F.mse_loss(a(x), y).backward()
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            q.grad = np.array(p.grad.numpy())
        before = [np.array(p.grad.numpy()) for p in a.parameters()]
        opt_a.step()
        opt_b.step()
        for p, old in zip(a.parameters(), before, strict=True):
            assert np.array_equal(p.grad.numpy(), old)
    for (key, value), other in zip(a.state_dict().items(), b.state_dict().values(),
                                   strict=True):
        assert np.array_equal(value, other), key


def test_float32_tensor_grads_keep_float32_state():
    model = MLP([3, 2], engine="tensor")
    opt = optim.Adam(model.parameters(), lr=0.1)
    F.mse_loss(model(np.ones((4, 3), dtype=np.float32)), np.zeros((4, 2))).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    opt.step()
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values()
               if isinstance(v, np.ndarray))


# --- .grad is a Tensor: clipping --------------------------------------------------------------


@all_engines
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_of_tensor_grads_matches_torch(engine, norm_type):
    ours, theirs, x, y = _twins(engine)
    F.mse_loss(ours(x), y).backward()
    TF.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    grads = [p.grad for p in ours.parameters()]
    snapshot = [np.array(g.numpy()) for g in grads]
    assert_close(float(get_total_norm(grads, norm_type)),
                 torch.nn.utils.get_total_norm([p.grad for p in theirs.parameters()],
                                               norm_type).item(), what="get_total_norm")
    norm = clip_grad_norm_(ours.parameters(), 0.05, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.05, norm_type=norm_type)
    assert_close(float(norm), ref.item(), what="total norm")
    for (name, p), t in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert engine_of(p.grad) == engine and p.grad.dtype == np.float64, name
        assert_close(p.grad.numpy(), t.grad.numpy(), what=f"clipped grad of {name}")
    for g, old in zip(grads, snapshot, strict=True):  # a new gradient, the old one untouched
        assert np.array_equal(g.numpy(), old)


@all_engines
def test_clip_grad_value_of_tensor_grads_matches_torch(engine):
    ours, theirs, x, y = _twins(engine)
    F.mse_loss(ours(x) * 50.0, y).backward()
    TF.mse_loss(theirs(torch.from_numpy(x)) * 50.0, torch.from_numpy(y)).backward()
    clip_grad_value_(ours.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.5)
    for p, t in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert engine_of(p.grad) == engine
        assert_close(p.grad.numpy(), t.grad.numpy(), what="clipped grad")


# --- == compares values: parameters are told apart by identity --------------------------------


class _Twins(Module):
    """Two distinct parameters with equal values, one of them also registered a second time
    (tied), and a child that shares the other."""

    def __init__(self, engine: str) -> None:
        super().__init__(engine=engine, dtype="float64")
        self.a = self.new_parameter(np.ones(3))
        self.b = self.new_parameter(np.ones(3))  # equal values, a different parameter
        self.a_again = self.a  # the same parameter under a second name
        self.child = Module(engine=engine, dtype="float64")
        self.child.b = self.b

    def forward(self, x: Any) -> Any:
        return x * self.a + x * self.b


@all_engines
def test_parameters_are_deduplicated_by_identity_not_by_value(engine):
    model = _Twins(engine)
    assert bool((model.a == model.b).all())  # == compares values now ...
    params = list(model.parameters())
    assert len(params) == 2 and params[0] is model.a and params[1] is model.b  # ... not here
    assert [n for n, _ in model.named_parameters()] == ["a", "b"]
    assert sorted(model.state_dict()) == ["a", "a_again", "b", "child.b"]
    assert model.num_parameters() == 6
    opt = optim.SGD(model.parameters(), lr=1.0)  # equal values are not "the same parameter"
    model(np.full(3, 2.0)).sum().backward()
    opt.step()
    assert np.array_equal(model.a.numpy(), -np.ones(3))
    assert np.array_equal(model.b.numpy(), -np.ones(3))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [model.a]}, {"params": [model.a_again]}], lr=0.1)
    optim.SGD([{"params": [model.a]}, {"params": [model.b]}], lr=0.1)  # distinct: fine


@all_engines
def test_to_engine_keeps_equal_valued_parameters_apart_and_tied_ones_tied(engine):
    target = "tensor" if engine != "tensor" else "scalar"
    moved = _Twins(engine).to_engine(target)
    assert moved.a is moved.a_again and moved.child.b is moved.b and moved.a is not moved.b
    assert len(list(moved.parameters())) == 2


# --- integer tensors are indices --------------------------------------------------------------


def _logits(engine: str, shape: tuple[int, ...]) -> tuple[Any, torch.Tensor]:
    values = np.random.default_rng(len(shape)).normal(size=shape)
    return (shared_nn.tensor(values, requires_grad=True, dtype="float64", engine=engine),
            to_torch(values, requires_grad=True))


@all_engines
@pytest.mark.parametrize("fn,torch_fn", [(F.cross_entropy, TF.cross_entropy),
                                         (F.nll_loss, TF.nll_loss)], ids=["ce", "nll"])
@pytest.mark.parametrize("shape,targets", [((3, 4), [0, 2, 1]),
                                           ((2, 3, 2), [[0, 2], [1, -100]])], ids=["2d", "3d"])
def test_int64_tensor_targets_are_class_indices_as_in_torch(engine, fn, torch_fn, shape,
                                                            targets):
    ours, theirs = _logits(engine, shape)
    target = get_engine(engine).tensor(targets)
    assert target.dtype == np.int64
    loss = fn(ours, target)
    ref = torch_fn(theirs, torch.tensor(targets))
    assert_close(loss.item(), ref.item(), what="loss")
    assert_close(loss.item(), fn(ours, np.array(targets)).item(), rtol=0, what="as an array")
    loss.backward()
    ref.backward()
    assert_close(ours.grad.numpy(), theirs.grad.numpy(), what="grad")


@all_engines
def test_cross_entropy_of_the_briefs_example_equals_torchs(engine):
    E = get_engine(engine)
    x = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0], [2.0, 2.0, -2.0]])
    ours = F.cross_entropy(E.tensor(x, dtype="float64"), E.tensor([0, 2, 1]))
    ref = TF.cross_entropy(torch.from_numpy(x), torch.tensor([0, 2, 1]))
    assert_close(ours.item(), ref.item())


@all_engines
def test_a_float_tensor_target_of_the_inputs_shape_is_class_probabilities(engine):
    ours, theirs = _logits(engine, (3, 4))
    probs = np.random.default_rng(5).dirichlet(np.ones(4), size=3)
    loss = F.cross_entropy(ours, shared_nn.tensor(probs, dtype="float64", engine=engine))
    assert_close(loss.item(), TF.cross_entropy(theirs, to_torch(probs)).item())


@all_engines
def test_token_ids_may_be_int64_tensors(engine):
    E = get_engine(engine)
    ids = np.array([[1, 4, 0], [3, 3, 2]])
    shared_nn.manual_seed(0)
    emb = Embedding(5, 2, engine=engine, dtype="float64")
    assert np.array_equal(emb(E.tensor(ids)).numpy(), emb(ids).numpy())
    assert np.array_equal(F.embedding(E.tensor(ids), emb.weight).numpy(), emb(ids).numpy())
    emb(E.tensor(ids)).sum().backward()
    counts = np.bincount(ids.reshape(-1), minlength=5)[:, None] * np.ones((1, 2))
    assert np.array_equal(emb.weight.grad.numpy(), counts)
    shared_nn.manual_seed(0)
    rnn = CharRNN(5, 3, 4, engine=engine, dtype="float64")
    assert np.array_equal(rnn(E.tensor(ids)).numpy(), rnn(ids).numpy())


@all_engines
def test_a_bool_tensor_attention_mask_is_read_as_the_bool_array(engine):
    E = get_engine(engine)
    rng = np.random.default_rng(2)
    q, k, v = (E.tensor(rng.normal(size=(2, 3, 4)), dtype="float64") for _ in range(3))
    mask = np.tril(np.ones((3, 3), dtype=bool))
    comparison = E.tensor(np.arange(3)[:, None]) >= E.tensor(np.arange(3)[None, :])
    assert comparison.dtype == np.bool_
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy()
    for as_tensor in (E.tensor(mask), comparison):
        got = F.scaled_dot_product_attention(q, k, v, attn_mask=as_tensor).numpy()
        assert np.array_equal(got, want)


def test_gpt_takes_int64_tensor_ids_and_targets():
    from shared_nn.models import GPT, GPTConfig

    config = GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8)
    shared_nn.manual_seed(0)
    model = GPT(config, engine="tensor", dtype="float64")
    ids = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    logits, loss = model(shared_nn.tensor(ids), shared_nn.tensor(np.roll(ids, -1, axis=1)))
    want_logits, want_loss = model(ids, np.roll(ids, -1, axis=1))
    assert np.array_equal(logits.numpy(), want_logits.numpy())
    assert loss.item() == want_loss.item()
    out = model.generate(shared_nn.tensor(ids), 2, temperature=0.0)
    assert np.array_equal(out, model.generate(ids, 2, temperature=0.0))
    with pytest.raises(TypeError, match="int64 tensor, got dtype float32"):
        model(shared_nn.tensor(ids.astype(np.float32)))
    with pytest.raises(TypeError, match="one engine"):
        model(shared_nn.tensor(ids, engine="scalar"))


@all_engines
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_float_only_functions_refuse_integer_input_as_torch_does(engine, fused):
    """torch: "not implemented for 'Long'"; here one RuntimeError on every engine and path."""
    x = get_engine(engine).tensor([[1, 2, 3], [4, 5, 6]])
    calls = {"softmax": lambda: F.softmax(x), "log_softmax": lambda: F.log_softmax(x),
             "cross_entropy": lambda: F.cross_entropy(x, [0, 1]),
             "nll_loss": lambda: F.nll_loss(x, [0, 1]), "mse_loss": lambda: F.mse_loss(x, x),
             "l1_loss": lambda: F.l1_loss(x, x),
             "binary_cross_entropy_with_logits":
                 lambda: F.binary_cross_entropy_with_logits(x, x)}
    with F.fused(fused):
        for name, call in calls.items():
            with pytest.raises(RuntimeError, match=rf"{name}\(\): input dtype must be float32 "
                                                   "or float64, got int64"):
                call()
    y = shared_nn.tensor(np.ones((2, 3)), dtype="float64", engine=engine)
    assert F.mse_loss(y, x).dtype == np.float64  # an int *target* is fine, as in torch


# --- one_hot ----------------------------------------------------------------------------------


@all_engines
@given(data=st.data())
def test_one_hot_matches_torch(engine, data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    classes = data.draw(st.integers(1, 6))
    values = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, classes - 1)))
    num_classes = data.draw(st.sampled_from([-1, classes, classes + 2]))
    x = get_engine(engine).tensor(values)
    if num_classes == -1 and values.size == 0:  # nothing to infer the class count from
        with pytest.raises(RuntimeError):
            TF.one_hot(torch.from_numpy(values), num_classes)
        with pytest.raises(ValueError, match="empty"):
            F.one_hot(x, num_classes)
        return
    ours = F.one_hot(x, num_classes)
    theirs = TF.one_hot(torch.from_numpy(values), num_classes)
    assert engine_of(ours) == engine and ours.dtype == np.int64 and not ours.requires_grad
    assert ours.shape == tuple(theirs.shape)
    assert np.array_equal(ours.numpy(), theirs.numpy())
    assert np.array_equal(F.one_hot(values, num_classes).numpy(), theirs.numpy())


def test_one_hot_of_an_array_or_list_is_on_the_current_engine():
    with shared_nn.use_engine("scalar"):
        out = F.one_hot([2, 0], 3)
    assert engine_of(out) == "scalar" and out.tolist() == [[0, 0, 1], [1, 0, 0]]


@all_engines
def test_one_hot_refuses_what_torch_refuses_naming_the_value(engine):
    E = get_engine(engine)
    with pytest.raises(ValueError, match="non-negative, got -2"):
        F.one_hot(E.tensor([0, -2, 1]), 3)
    with pytest.raises(ValueError, match="class value 5 is not smaller than num_classes=3"):
        F.one_hot(E.tensor([0, 5, 1]), 3)
    with pytest.raises(TypeError, match="int64"):
        F.one_hot(E.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="int64"):
        F.one_hot(E.tensor([True, False]))
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(E.tensor([0, 1]), -3)
    for bad in (np.array([0, -1]), torch.tensor([0, -1])):
        with pytest.raises((ValueError, RuntimeError)):
            TF.one_hot(torch.as_tensor(bad), 3)


# --- the equivalence checker: int and bool outputs exactly, no gradient of them ---------------


class Classify(Module):
    """Logits and the predicted class (an int64 tensor) and a bool mask."""

    def __init__(self, engine: str | None = None, dtype: Any = None, shift: int = 0) -> None:
        super().__init__(engine=engine, dtype=dtype)
        self.fc = shared_nn.Linear(3, 4, engine=self.engine, dtype=self._dtype_request)
        self.shift = shift

    def forward(self, x: Any) -> Any:
        logits = self.fc(x)
        predicted = logits.argmax(dim=-1)
        if self.engine == "scalar":
            predicted = predicted + self.shift
        return logits, predicted, logits > 0


X = np.random.default_rng(0).standard_normal((5, 3))


def test_int_and_bool_outputs_are_compared_exactly_and_never_differentiated():
    report = assert_engines_agree(Classify, X, steps=2)
    rows = {(r.quantity, r.engine): r for r in report.rows}
    for engine in report.engines[1:]:
        assert rows[("output 1", engine)].tolerance == "exact"
        assert rows[("output 2", engine)].tolerance == "exact"
        assert rows[("output 0", engine)].tolerance != "exact"
        assert ("grad of fc.weight", engine) in rows


def test_an_int_output_that_differs_is_a_disagreement_naming_the_first_entry():
    with pytest.raises(EnginesDisagree) as caught:
        assert_engines_agree(lambda **kw: Classify(shift=1, **kw), X)
    first = caught.value.report.first_failure
    assert (first.quantity, first.engine, first.tolerance) == ("output 1", "scalar", "exact")
    assert "5 of 5 values differ; first at index (0,)" in first.note


def test_a_model_with_only_integer_outputs_is_compared_without_a_loss():
    class Argmax(Classify):
        def forward(self, x: Any) -> Any:
            return self.fc(x).argmax(dim=-1)

    report = assert_engines_agree(Argmax, X)
    assert [r.quantity for r in report.rows if r.engine == "tensor"] == ["initial weights",
                                                                         "output"]
    with pytest.raises(ValueError, match="no float output"):
        assert_engines_agree(Argmax, X, steps=1)


def test_gradcheck_refuses_an_integer_output():
    with pytest.raises(TypeError, match="int64 tensor, which has no gradient"):
        gradcheck(lambda x: x.argmax(), np.ones(3))


# --- the shared generator: checkpoints restore what multinomial draws -------------------------


def test_a_restored_checkpoint_repeats_multinomial_draws(tmp_path):
    model = MLP([2, 2], engine="tensor")
    shared_nn.manual_seed(3)
    shared_nn.save_training_state(tmp_path / "run.safetensors", model=model)
    weights = shared_nn.tensor([0.1, 0.2, 0.3, 0.4])
    first = weights.multinomial(8, replacement=True).numpy()
    shared_nn.load_training_state(tmp_path / "run.safetensors", model=model)
    again = weights.multinomial(8, replacement=True).numpy()
    assert np.array_equal(first, again)


def test_parameter_of_an_int_tensor_is_refused_as_in_torch():
    with pytest.raises(RuntimeError, match="floating point"):
        Parameter(shared_nn.tensor([1, 2]))


@pytest.mark.parametrize("dtype", ["int64", "bool", np.int64, "fp64", "float16", 3])
def test_a_model_dtype_must_be_a_float_one(dtype):
    """Tensors may be int64 or bool now; parameters may not (they need gradients)."""
    with pytest.raises(TypeError, match="float32 or float64 .a model's parameters are floats"):
        shared_nn.Linear(2, 3, dtype=dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        assert_engines_agree(MLP, X, dtype=dtype)
    assert shared_nn.Linear(2, 3, engine="tensor", dtype="double").dtype == np.float64
