"""Module mechanics: registration, names, state dicts, checkpoints, engine conversion."""

import numpy as np
import pytest
import torch
from snn_testutil import assert_close

import shared_nn
from shared_nn import Embedding, LayerNorm, Linear, Module, ModuleList, ReLU, Sequential
from shared_nn.io import load_state_dict_file, save_state_dict
from shared_nn.models import MLP


class Block(Module):
    def __init__(self, engine=None, dtype=None):
        super().__init__(engine=engine, dtype=dtype)
        self.norm = LayerNorm(3, engine=self.engine, dtype=dtype)
        self.layers = ModuleList([Linear(3, 3, engine=self.engine, dtype=dtype) for _ in range(2)])
        self.scale = self.new_parameter(np.full(3, 2.0))

    def forward(self, x):
        for layer in self.layers:
            x = layer(self.norm(x)) * self.scale
        return x


class Tied(Module):
    def __init__(self, engine=None):
        super().__init__(engine=engine, dtype="float64")
        self.embed = Embedding(5, 3, engine=self.engine, dtype="float64")
        self.head = Linear(3, 5, bias=False, engine=self.engine, dtype="float64")
        self.head.weight = self.embed.weight  # weight tying, as GPT-2's lm_head

    def forward(self, ids):
        return self.head(self.embed(ids))


def test_parameters_have_torch_style_dotted_names():
    block = Block()
    names = [n for n, _ in block.named_parameters()]
    assert names == ["scale", "norm.weight", "norm.bias", "layers.0.weight", "layers.0.bias",
                     "layers.1.weight", "layers.1.bias"]
    torch_twin = torch.nn.Module()
    torch_twin.scale = torch.nn.Parameter(torch.ones(3))
    torch_twin.norm = torch.nn.LayerNorm(3)
    torch_twin.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])
    assert names == [n for n, _ in torch_twin.named_parameters()]
    assert [type(m).__name__ for m in block.modules()] == [
        "Block", "LayerNorm", "ModuleList", "Linear", "Linear"]
    assert [n for n, _ in block.named_children()] == ["norm", "layers"]
    assert block.num_parameters() == 3 + 6 + 2 * 12
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale"]
    visited = []
    assert block.apply(lambda m: visited.append(type(m).__name__)) is block
    assert visited == ["LayerNorm", "Linear", "Linear", "ModuleList", "Block"]  # as torch


def test_reassigning_an_attribute_moves_it_between_registries():
    block = Block()
    block.scale = None
    assert "scale" not in dict(block.named_parameters()) and block.scale is None
    block.norm = Linear(3, 3)
    assert "norm.bias" in dict(block.named_parameters())
    del block.norm
    assert not hasattr(block, "norm")


def test_state_dict_is_a_copy_and_round_trips():
    shared_nn.manual_seed(0)
    a, b = Block(), Block()
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["scale"][:] = 99.0  # editing the copy must not touch the model
    assert (a.scale.numpy() == 2.0).all()
    b.load_state_dict(a.state_dict())
    assert all(np.array_equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_tied_weights_stay_tied_and_appear_under_both_names():
    shared_nn.manual_seed(1)
    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["embed.weight"]  # listed once
    assert list(model.state_dict()) == ["embed.weight", "head.weight"]  # as torch's state_dict
    for engine in ("scalar", "tensor"):
        copy = model.to_engine(engine)
        assert copy.head.weight is copy.embed.weight
        copy(np.array([1, 2])).sum().backward()
        assert copy.embed.weight.grad.shape == (5, 3)


def test_missing_unexpected_and_misshaped_keys_are_named():
    model = Linear(3, 2)
    good = model.state_dict()
    with pytest.raises(KeyError, match=r"missing keys \['bias'\]"):
        model.load_state_dict({"weight": good["weight"]})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        model.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\) in the checkpoint but "
                                         r"\(2, 3\) in the model"):
        model.load_state_dict({**good, "weight": np.zeros((3, 2))})
    with pytest.raises(TypeError, match="'bias' holds <U1 values"):
        model.load_state_dict({**good, "bias": np.array(["a", "b"])})
    # a failed load writes nothing
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in good.items())
    result = model.load_state_dict({"weight": np.ones((2, 3)), "other": 1}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    assert (model.weight.numpy() == 1).all()


def test_checkpoint_round_trip_through_safetensors(tmp_path):
    shared_nn.manual_seed(2)
    model = MLP([3, 4, 2], layer_norm=True, dtype="float64")
    path = tmp_path / "mlp.safetensors"
    model.save(path)
    fresh = MLP([3, 4, 2], layer_norm=True, engine="scalar")
    fresh.load(path)
    x = np.random.default_rng(0).normal(size=(2, 3))
    assert_close(fresh(x).numpy(), model(x).numpy())
    loaded = load_state_dict_file(path)
    assert loaded.keys() == model.state_dict().keys()
    assert loaded["0.weight"].dtype == np.float64


def test_checkpoint_written_by_torch_loads(tmp_path):
    from safetensors.torch import save_file

    theirs = torch.nn.Linear(3, 2)
    save_file(theirs.state_dict(), str(tmp_path / "torch.safetensors"))
    ours = Linear(3, 2)
    ours.load(tmp_path / "torch.safetensors")
    assert np.array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


def test_bad_checkpoints_are_clear_errors(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_state_dict_file(missing)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        Linear(2, 2).load(missing)
    save_state_dict({"weight": np.zeros((2, 3), dtype=np.float32)}, tmp_path / "part.safetensors")
    with pytest.raises(KeyError, match=r"missing keys \['bias'\]"):
        Linear(3, 2).load(tmp_path / "part.safetensors")
    with pytest.raises(ValueError, match=r"'weight' has shape \(2, 3\).*\(3, 3\)"):
        Linear(3, 3).load(tmp_path / "part.safetensors", strict=False)


@pytest.mark.parametrize("source,target", [("tensor", "scalar"), ("scalar", "tensor")])
def test_to_engine_copies_weights_and_leaves_the_original(source, target):
    shared_nn.manual_seed(3)
    model = Block(engine=source, dtype="float64")
    copy = model.to_engine(target)
    assert copy.engine == target and all(m.engine == target for m in copy.modules())
    assert all(type(p).engine == target for p in copy.parameters())
    assert model.engine == source and all(type(p).engine == source for p in model.parameters())
    x = np.random.default_rng(1).normal(size=(2, 3))
    assert_close(copy(x).numpy(), model(x).numpy())
    copy.zero_grad()
    copy(x).sum().backward()
    assert all(p.grad is None for p in model.parameters())  # separate parameters


def test_to_engine_keeps_the_requested_dtype():
    model = Linear(2, 2)  # tensor, float32
    there = model.to_engine("scalar")
    assert there.dtype == np.float64  # the scalar engine always computes in float64
    back = there.to_engine("tensor")
    assert back.dtype == np.float32 and back.weight.dtype == np.float32
    assert model.to_engine("tensor", dtype="float64").weight.dtype == np.float64


def test_zero_grad_train_and_eval():
    model = MLP([2, 2, 1])
    model(np.ones((1, 2), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.eval() is model and not any(m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())


def test_sequential_and_module_list():
    seq = Sequential(Linear(2, 3, engine="scalar"), ReLU(), Linear(3, 1, engine="scalar"))
    assert seq.engine == "scalar" and len(seq) == 3 and isinstance(seq[1], ReLU)
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq(np.ones((4, 2))).shape == (4, 1)
    layers = ModuleList([Linear(1, 1), Linear(1, 1)])
    assert len(layers) == 2 and len(layers[:1]) == 1 and len(list(layers)) == 2
    with pytest.raises(TypeError, match="Sequential takes Modules, got int"):
        Sequential(3)
    with pytest.raises(NotImplementedError, match="iterate over it"):
        layers(1.0)


def test_engine_mix_ups_when_building_are_type_errors():
    with pytest.raises(TypeError, match=r"scalar engine but '1' holds tensor engine tensors"):
        Sequential(Linear(2, 2, engine="scalar"), Linear(2, 2, engine="tensor"))
    model = Module(engine="tensor")
    with pytest.raises(TypeError, match=r"tensor engine but 'w' holds scalar engine"):
        model.w = shared_nn.tensor([1.0], requires_grad=True, engine="scalar")


def test_forgetting_super_init_is_explained():
    class Broken(Module):
        def __init__(self):
            self.layer = Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_repr_shows_the_tree():
    text = repr(MLP([2, 3, 1], layer_norm=True))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(1): LayerNorm((3,), eps=1e-05)" in text and text.startswith("MLP(")


def test_manual_seed_rejects_non_ints():
    with pytest.raises(TypeError, match="manual_seed expects an int, got float"):
        shared_nn.manual_seed(1.5)


def test_attributes_follow_registration_through_every_change():
    """Parameters and children are read as plain attributes (kept beside the registries for
    speed), so every way of changing a registration must change what the attribute gives."""
    layer = Linear(3, 2)
    first = layer.weight
    assert first is layer._parameters["weight"]
    layer.weight = layer.new_parameter(np.zeros((2, 3)))  # replaced: the new one is read
    assert layer.weight is layer._parameters["weight"] and layer.weight is not first
    layer.weight = None  # no longer a parameter
    assert layer.weight is None and "weight" not in layer._parameters
    del layer.bias
    assert "bias" not in layer._parameters
    with pytest.raises(AttributeError, match="bias"):
        layer.bias  # noqa: B018 - the read is the test

    parts = shared_nn.ModuleDict({"a": Linear(2, 2), "b": ReLU(), "c": ReLU()})
    del parts["a"]
    removed = parts.pop("b")
    assert isinstance(removed, ReLU) and not hasattr(parts, "a") and not hasattr(parts, "b")
    parts.clear()
    assert not hasattr(parts, "c") and len(parts) == 0
    parts["a"] = Linear(2, 3)  # a removed name can be used again, for the new child
    assert parts.a is parts["a"] and parts.a.out_features == 3

    tied = Tied(engine="tensor").to_engine("scalar")  # rebuilt parameters are the ones read
    assert tied.head.weight is tied.embed.weight is tied.embed._parameters["weight"]
    assert type(tied.head.weight).engine == "scalar"


@pytest.mark.parametrize("bad", [None, [("weight", np.zeros((2, 3)))], "weights.safetensors"])
def test_load_state_dict_wants_a_mapping(bad):
    """A list of pairs, None or a file name is named as what it is (torch: "Expected
    state_dict to be dict-like"), not a numpy or hashing error from deep inside."""
    model = shared_nn.Linear(3, 2, engine="tensor")
    with pytest.raises(TypeError, match=r"expected state_dict to be dict-like.*got "):
        model.load_state_dict(bad)


def test_ragged_lists_are_named_where_they_were_given():
    """numpy's "inhomogeneous shape" named no key or argument; each entry point now does."""
    from shared_nn.models import GPT, GPTConfig
    from shared_nn.utils.data import TensorDataset

    ragged = [[1.0, 2.0], [3.0]]
    cases = [
        (lambda: Linear(2, 2, engine="tensor").load_state_dict({"weight": ragged, "bias": [0, 0]}),
         "Linear.load_state_dict: 'weight': nested lists of different lengths"),
        (lambda: TensorDataset(np.zeros(2), ragged), "TensorDataset: array 1: nested lists"),
        (lambda: GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4),
                     engine="tensor").generate([[1, 2], [3]], 2), "idx: nested lists"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()
