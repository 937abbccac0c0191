"""Acceptance for the models: one seed gives the same weights on both engines; outputs, losses
and every gradient agree across scalar, tensor (float64) and PyTorch; a few optimizer steps
follow the same losses; torch state dicts load 1:1 both ways."""

import numpy as np
import pytest
import torch
from snn_testutil import ENGINES, assert_close, load_into_torch

import shared_nn
from shared_nn import functional as F
from shared_nn import optim
from shared_nn.models import MLP, CharRNN, RNNClassifier


class TorchRNNClassifier(torch.nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, num_layers):
        super().__init__()
        self.rnn = torch.nn.RNN(input_size, hidden_size, num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        return self.head(self.rnn(x)[1][-1])


class TorchCharRNN(torch.nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed_dim)
        self.rnn = torch.nn.RNN(embed_dim, hidden_size, num_layers, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, ids):
        return self.head(self.rnn(self.embed(ids))[0])


def mlp_case():
    rng = np.random.default_rng(10)
    x, labels = rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)
    ours = lambda engine: MLP([3, 5, 4, 3], layer_norm=True, engine=engine, dtype="float64")  # noqa: E731
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.LayerNorm(5), torch.nn.ReLU(),
        torch.nn.Linear(5, 4), torch.nn.LayerNorm(4), torch.nn.ReLU(), torch.nn.Linear(4, 3),
    )
    return ours, theirs, x, labels


def rnn_case():
    rng = np.random.default_rng(11)
    x, labels = rng.normal(size=(3, 4, 2)), rng.integers(0, 3, size=3)
    ours = lambda engine: RNNClassifier(2, 4, 3, num_layers=2, engine=engine, dtype="float64")  # noqa: E731
    return ours, TorchRNNClassifier(2, 4, 3, 2), x, labels


def char_rnn_case():
    rng = np.random.default_rng(12)
    ids = rng.integers(0, 6, size=(2, 5))
    ours = lambda engine: CharRNN(6, 3, 4, engine=engine, dtype="float64")  # noqa: E731
    return ours, TorchCharRNN(6, 3, 4, 1), ids[:, :-1], ids[:, 1:]


CASES = {"mlp": mlp_case, "rnn_classifier": rnn_case, "char_rnn": char_rnn_case}


def build_all(case, seed=0):
    """The model built from one seed on each engine, and torch's twin holding those weights."""
    make_ours, theirs, x, labels = CASES[case]()
    models = {}
    for engine in ENGINES:
        shared_nn.manual_seed(seed)
        models[engine] = make_ours(engine)
    theirs = theirs.double()
    load_into_torch(theirs, models["tensor"].state_dict())
    return models, theirs, x, labels


def torch_input(x):
    return torch.from_numpy(x) if x.dtype.kind == "i" else torch.from_numpy(x.copy())


def torch_loss(theirs, x, labels):
    logits = theirs(torch_input(x))
    return logits, torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), torch.from_numpy(labels.reshape(-1)))


def our_input(model, x):
    return x if x.dtype.kind == "i" else shared_nn.tensor(x, dtype="float64", engine=model.engine)


@pytest.mark.parametrize("case", CASES)
def test_same_seed_same_weights_on_both_engines(case):
    models, _, _, _ = build_all(case)
    scalar, tensor = models["scalar"].state_dict(), models["tensor"].state_dict()
    assert scalar.keys() == tensor.keys()
    for key in scalar:
        assert np.array_equal(scalar[key], tensor[key]), key


@pytest.mark.parametrize("case", CASES)
def test_outputs_losses_and_gradients_agree_with_torch(case):
    models, theirs, x, labels = build_all(case)
    ref_logits, ref_loss = torch_loss(theirs, x, labels)
    ref_loss.backward()
    ref_grads = {n: p.grad.numpy() for n, p in theirs.named_parameters()}
    for engine, model in models.items():
        for fused in (True, False):
            model.zero_grad()
            with F.fused(fused):
                logits = model(our_input(model, x))
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            assert_close(logits.numpy(), ref_logits.detach().numpy(), what=f"{engine} logits")
            assert_close(loss.item(), ref_loss.item(), what=f"{engine} loss")
            loss.backward()
            names = [n for n, _ in model.named_parameters()]
            assert names == list(ref_grads)
            for name, p in model.named_parameters():
                assert_close(p.grad, ref_grads[name], what=f"{engine} grad of {name}")


@pytest.mark.parametrize("case", ["mlp", "rnn_classifier"])
@pytest.mark.parametrize("opt_name,options", [
    ("SGD", dict(lr=0.2, momentum=0.9)),
    ("Adam", dict(lr=0.05)),
])
def test_five_optimizer_steps_follow_the_same_losses(case, opt_name, options):
    models, theirs, x, labels = build_all(case)
    torch_opt = getattr(torch.optim, opt_name)(theirs.parameters(), **options)
    ref = []
    for _ in range(5):
        torch_opt.zero_grad()
        loss = torch_loss(theirs, x, labels)[1]
        loss.backward()
        torch_opt.step()
        ref.append(loss.item())
    assert ref[-1] < ref[0]  # it does train
    for engine, model in models.items():
        opt = getattr(optim, opt_name)(model.parameters(), **options)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(our_input(model, x)), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert_close(losses, ref, rtol=1e-9, what=f"{engine} losses")


@pytest.mark.parametrize("case", CASES)
def test_torch_state_dict_loads_and_goes_back(case):
    make_ours, theirs, x, _ = CASES[case]()
    theirs = theirs.double()
    ours = make_ours("tensor")
    ours.load_state_dict(theirs.state_dict())  # torch tensors are accepted as they are
    ref = theirs(torch_input(x)).detach().numpy()
    assert_close(ours(our_input(ours, x)).numpy(), ref)
    for p in theirs.parameters():  # scramble torch's weights, then load ours back
        torch.nn.init.normal_(p.data)
    load_into_torch(theirs, ours.state_dict())
    assert_close(theirs(torch_input(x)).detach().numpy(), ref)


def test_mlp_structure_and_options():
    model = MLP([2, 3, 1], activation="tanh")
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        MLP([2, 1], activation="sigmoid")
    with pytest.raises(ValueError, match="at least an input and an output size"):
        MLP([2])


@pytest.mark.parametrize("engine", ENGINES)
def test_char_rnn_sampling_is_seeded(engine):
    shared_nn.manual_seed(3)
    model = CharRNN(5, 3, 4, num_layers=2, engine=engine, dtype="float64")
    a = model.sample([1, 2], 6, temperature=1.0, seed=7)
    assert a == model.sample([1, 2], 6, temperature=1.0, seed=7)
    assert len(a) == 8 and a[:2] == [1, 2] and all(0 <= i < 5 for i in a)
    greedy = model.sample([0], 4, temperature=0)
    ids = [0]
    for _ in range(4):  # greedy = repeatedly take the argmax of the full-sequence logits
        ids.append(int(np.argmax(model(np.array([ids])).numpy()[0, -1])))
    assert greedy == ids
    with pytest.raises(ValueError, match="at least one start id"):
        model.sample([], 3)


def test_char_rnn_samples_agree_across_engines():
    samples = []
    for engine in ENGINES:
        shared_nn.manual_seed(5)
        samples.append(CharRNN(6, 3, 4, engine=engine, dtype="float64").sample([2], 8, seed=1))
    assert samples[0] == samples[1]


def test_rnn_classifier_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(batch, time, input_size\), got shape \(4, 2\)"):
        RNNClassifier(2, 3, 2)(np.zeros((4, 2), dtype=np.float32))
