"""Layers against torch.nn in float64: weights loaded from a torch module give the same
outputs, input gradients and parameter gradients (and our weights load back into torch)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from snn_testutil import (
    assert_close,
    assert_grads_match,
    engines,
    load_into_torch,
    to_torch,
    torch_state,
)

import shared_nn
from shared_nn import GELU, RNN, Embedding, LayerNorm, Linear, ReLU, Tanh

F64 = "float64"


def run_both(layer, torch_layer, x: np.ndarray, upstream_seed: int = 0):
    """Forward both layers on ``x``, backprop the same random upstream gradient; compare
    outputs, input gradients and every parameter gradient."""
    layer.zero_grad()
    torch_layer.zero_grad()
    ours_x = shared_nn.tensor(x, requires_grad=True, dtype=F64, engine=layer.engine)
    theirs_x = to_torch(x, requires_grad=True)
    ours, theirs = layer(ours_x), torch_layer(theirs_x)
    if isinstance(theirs, tuple):  # RNN: (output, h_n); weight both
        ours_list, theirs_list = list(ours), list(theirs)
    else:
        ours_list, theirs_list = [ours], [theirs]
    rng = np.random.default_rng(upstream_seed)
    ours_loss, theirs_loss = 0.0, 0.0
    for o, t in zip(ours_list, theirs_list, strict=True):
        assert_close(o.numpy(), t.detach().numpy(), what="output")
        g = rng.normal(size=tuple(t.shape))
        ours_loss = (o * shared_nn.tensor(g, dtype=F64, engine=layer.engine)).sum() + ours_loss
        theirs_loss = (t * to_torch(g)).sum() + theirs_loss
    ours_loss.backward()
    theirs_loss.backward()
    assert_close(ours_x.grad, theirs_x.grad.numpy(), what="input grad")
    assert_grads_match(layer, torch_layer)


@engines
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(engine, bias):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 4, bias=bias).double()
    ours = Linear(3, 4, bias=bias, engine=engine, dtype=F64)
    ours.load_state_dict(torch_state(theirs))
    run_both(ours, theirs, np.random.default_rng(1).normal(size=(2, 3)))
    run_both(ours.to_engine(engine), theirs, np.random.default_rng(2).normal(size=(2, 5, 3)))


@given(
    batch=st.integers(1, 4),
    fan_in=st.integers(1, 6),
    fan_out=st.integers(1, 6),
    seed=st.integers(0, 2**31),
)
def test_linear_matches_torch_any_shape(batch, fan_in, fan_out, seed):
    theirs = torch.nn.Linear(fan_in, fan_out).double()
    ours = Linear(fan_in, fan_out, engine="tensor", dtype=F64)
    ours.load_state_dict(torch_state(theirs))
    run_both(ours, theirs, np.random.default_rng(seed).normal(size=(batch, fan_in)) * 3, seed)


@engines
def test_layer_norm_matches_torch(engine):
    theirs = torch.nn.LayerNorm(5).double()
    with torch.no_grad():  # non-trivial affine parameters
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = LayerNorm(5, engine=engine, dtype=F64)
    ours.load_state_dict(torch_state(theirs))
    x = np.random.default_rng(3).normal(size=(2, 3, 5)) * 4 + 1
    for fused in (True, False):
        with shared_nn.functional.fused(fused):
            run_both(ours, theirs, x)


@engines
def test_embedding_matches_torch(engine):
    theirs = torch.nn.Embedding(7, 3).double()
    ours = Embedding(7, 3, engine=engine, dtype=F64)
    ours.load_state_dict(torch_state(theirs))
    ids = np.array([[0, 6, 2], [2, 2, 5]])
    out = ours(ids)
    ref = theirs(torch.from_numpy(ids))
    assert_close(out.numpy(), ref.detach().numpy())
    g = np.random.default_rng(0).normal(size=(2, 3, 3))
    (out * shared_nn.tensor(g, dtype=F64, engine=engine)).sum().backward()
    (ref * to_torch(g)).sum().backward()
    assert_grads_match(ours, theirs)  # repeated id 2 accumulates
    assert ours([1, 4]).shape == (2, 3)


@engines
@pytest.mark.parametrize("layer,ref", [(ReLU, torch.nn.ReLU), (Tanh, torch.nn.Tanh)])
def test_activations_match_torch(engine, layer, ref):
    run_both(layer(engine=engine), ref(), np.random.default_rng(4).normal(size=(3, 4)))


@engines
def test_gelu_is_torchs_tanh_approximation(engine):
    x = np.random.default_rng(5).normal(size=(3, 4)) * 3
    for fused in (True, False):
        with shared_nn.functional.fused(fused):
            run_both(GELU("tanh", engine=engine), torch.nn.GELU(approximate="tanh"), x)


RNN_CASES = [  # torch.nn.RNN keyword arguments
    dict(num_layers=1, batch_first=False),
    dict(num_layers=2, batch_first=True),
    dict(num_layers=2, batch_first=False, nonlinearity="relu"),
    dict(num_layers=1, batch_first=True, bias=False),
]


@engines
@pytest.mark.parametrize("options", RNN_CASES, ids=str)
def test_rnn_matches_torch(engine, options):
    torch.manual_seed(1)
    theirs = torch.nn.RNN(3, 4, **options).double()
    ours = RNN(3, 4, engine=engine, dtype=F64, **options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict(torch_state(theirs))
    x = np.random.default_rng(6).normal(size=(2, 3, 3))  # (B, T, I) or (T, B, I)
    run_both(ours, theirs, x)


@engines
def test_rnn_with_h0_and_unbatched_input(engine):
    theirs = torch.nn.RNN(2, 3, num_layers=2).double()
    ours = RNN(2, 3, num_layers=2, engine=engine, dtype=F64)
    ours.load_state_dict(torch_state(theirs))
    rng = np.random.default_rng(7)
    x, h0 = rng.normal(size=(4, 2, 2)), rng.normal(size=(2, 2, 3))
    out, h_n = ours(x, shared_nn.tensor(h0, dtype=F64, engine=engine))
    ref_out, ref_h = theirs(to_torch(x), to_torch(h0))
    assert_close(out.numpy(), ref_out.detach().numpy())
    assert_close(h_n.numpy(), ref_h.detach().numpy())
    out, h_n = ours(x[:, 0])  # unbatched (T, I)
    ref_out, ref_h = theirs(to_torch(x[:, 0]))
    assert out.shape == (4, 3) and h_n.shape == (2, 3)
    assert_close(out.numpy(), ref_out.detach().numpy())
    assert_close(h_n.numpy(), ref_h.detach().numpy())


@engines
def test_weights_load_back_into_torch(engine):
    shared_nn.manual_seed(0)
    for ours, theirs, x in [
        (Linear(3, 2, engine=engine, dtype=F64), torch.nn.Linear(3, 2), np.ones((1, 3))),
        (RNN(2, 3, engine=engine, dtype=F64), torch.nn.RNN(2, 3), np.ones((2, 1, 2))),
    ]:
        theirs = theirs.double()
        load_into_torch(theirs, ours.state_dict())
        out = ours(x)
        ref = theirs(to_torch(x))
        out, ref = (out[0], ref[0]) if isinstance(ref, tuple) else (out, ref)
        assert_close(out.numpy(), ref.detach().numpy())


# --- initialisation --------------------------------------------------------------------------


def test_default_initialisation_follows_torchs_scheme():
    shared_nn.manual_seed(0)
    layer = Linear(100, 50)
    bound = 1 / np.sqrt(100)
    w = layer.weight.numpy()
    assert w.shape == (50, 100) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert layer.weight.dtype == np.float32
    norm = LayerNorm(4)
    assert (norm.weight.numpy() == 1).all() and (norm.bias.numpy() == 0).all()
    emb = Embedding(200, 50).weight.numpy()
    assert abs(emb.std() - 1) < 0.05  # N(0, 1)
    rnn = RNN(3, 16)
    assert np.abs(rnn.weight_ih_l0.numpy()).max() <= 1 / 4


def test_one_seed_gives_bit_identical_weights_on_both_engines():
    def weights(engine, dtype):
        shared_nn.manual_seed(42)
        where = dict(engine=engine, dtype=dtype)
        layers = [RNN(2, 3, num_layers=2, **where), Linear(3, 2, **where), Embedding(4, 2, **where)]
        return [m.state_dict() for m in layers]

    scalar, tensor64 = weights("scalar", None), weights("tensor", F64)
    tensor32 = weights("tensor", None)
    for a, b, c in zip(scalar, tensor64, tensor32, strict=True):
        for key in a:
            assert a[key].dtype == b[key].dtype == np.float64 and c[key].dtype == np.float32
            assert np.array_equal(a[key], b[key]), key
            assert np.array_equal(a[key].astype(np.float32), c[key]), key  # rounded once


# --- bad input -------------------------------------------------------------------------------


def test_wrong_input_width_names_expected_and_got():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=r"in_features=3.*\(2, 4\)"):
        layer(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"normalized_shape=5.*\(2, 4\)"):
        LayerNorm(5)(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"input_size=3.*\(2, 1, 4\)"):
        RNN(3, 2)(np.zeros((2, 1, 4), dtype=np.float32))
    for engine in ("tensor", "scalar"):  # tensors of the layer's own engine and dtype
        wide = shared_nn.tensor(np.zeros((2, 4)), engine=engine, dtype="float64")
        with pytest.raises(ValueError, match=r"in_features=3.*\(2, 4\)"):
            Linear(3, 2, engine=engine, dtype=F64)(wide)
        with pytest.raises(ValueError, match=r"normalized_shape=5.*\(2, 4\)"):
            LayerNorm(5, engine=engine, dtype=F64)(wide)
        with pytest.raises(ValueError, match=r"in_features=3.*\(\)"):
            Linear(3, 2, engine=engine, dtype=F64)(wide.sum())


def test_tensor_of_the_other_engine_names_both_engines():
    x = shared_nn.tensor([[1.0, 2.0, 3.0]], engine="scalar")
    with pytest.raises(TypeError, match=r"tensor engine.*scalar engine"):
        Linear(3, 2, engine="tensor")(x)
    y = shared_nn.tensor([[1.0, 2.0, 3.0]], engine="tensor")
    with pytest.raises(TypeError, match=r"scalar engine.*tensor engine"):
        Linear(3, 2, engine="scalar")(y)


def test_dtype_mismatch_names_both_dtypes():
    x = shared_nn.tensor(np.ones((1, 3)), dtype="float32", engine="tensor")
    with pytest.raises(TypeError, match=r"float64.*float32"):
        Linear(3, 2, engine="tensor", dtype=F64)(x)


def test_rnn_rejects_bad_h0_and_rank():
    rnn = RNN(2, 3, num_layers=2)
    x = np.zeros((4, 1, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 1, 3\), got \(1, 1, 3\)"):
        rnn(x, np.zeros((1, 1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"3-D input.*\(2,\)"):
        rnn(np.zeros(2, dtype=np.float32))


def test_embedding_rejects_bad_ids():
    emb = Embedding(5, 2)
    with pytest.raises(IndexError, match=r"id 7 .*num_embeddings=5"):
        emb([1, 7])
    with pytest.raises(IndexError, match=r"id -1 "):
        emb(np.array([[0, -1]]))
    with pytest.raises(TypeError, match="integers.*float64"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="int64 tensor, got dtype float32"):
        emb(shared_nn.tensor([0.0, 1.0]))  # ids are never differentiable (torch: Long only)
    with pytest.raises(TypeError, match="int64 tensor, got dtype bool"):
        emb(shared_nn.tensor([True, False]))
    with pytest.raises(IndexError, match=r"id 5 .*num_embeddings=5"):
        emb(shared_nn.tensor([0, 5]))
    with pytest.raises(TypeError, match="one engine, got tensor and scalar"):
        emb(shared_nn.tensor([0, 1], engine="scalar"))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        GELU(approximate="exact")
    with pytest.raises(ValueError, match="num_layers must be an int >= 1"):
        RNN(2, 3, num_layers=0)
    with pytest.raises(TypeError, match="dtype must be"):
        Linear(2, 3, dtype="int32")
