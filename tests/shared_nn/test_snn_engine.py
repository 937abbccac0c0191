"""Engine selection: default, set_engine, use_engine, DUALGRAD_ENGINE, engine= argument."""

import pytest

import shared_nn
from shared_nn import engine as engine_module
from shared_nn.layers import Linear


@pytest.fixture(autouse=True)
def clean_selection(monkeypatch):
    """Each test starts with no flag and no environment variable, and leaves none behind."""
    monkeypatch.setattr(engine_module, "_default", None)
    monkeypatch.delenv("DUALGRAD_ENGINE", raising=False)


def test_default_is_tensor():
    assert shared_nn.engine_name() == "tensor"
    assert shared_nn.get_engine().NAME == "tensor"
    assert Linear(2, 3).engine == "tensor"


def test_set_engine_switches_new_modules():
    shared_nn.set_engine("scalar")
    assert shared_nn.engine_name() == "scalar"
    layer = Linear(2, 3)
    assert layer.engine == "scalar"
    assert type(layer.weight).engine == "scalar"
    shared_nn.set_engine("tensor")
    assert Linear(2, 3).engine == "tensor"


def test_use_engine_restores_previous_even_after_error():
    with shared_nn.use_engine("scalar") as eng:
        assert eng.NAME == "scalar"
        assert Linear(2, 2).engine == "scalar"
        with shared_nn.use_engine("tensor"):
            assert Linear(2, 2).engine == "tensor"
        assert shared_nn.engine_name() == "scalar"
    assert shared_nn.engine_name() == "tensor"
    with pytest.raises(RuntimeError), shared_nn.use_engine("scalar"):
        raise RuntimeError("boom")
    assert shared_nn.engine_name() == "tensor"


def test_environment_variable_is_the_default_and_flags_override_it(monkeypatch):
    monkeypatch.setenv("DUALGRAD_ENGINE", "scalar")
    assert shared_nn.engine_name() == "scalar"
    assert Linear(1, 1).engine == "scalar"
    with shared_nn.use_engine("tensor"):
        assert Linear(1, 1).engine == "tensor"
    shared_nn.set_engine("tensor")
    assert shared_nn.engine_name() == "tensor"


def test_bad_environment_variable_names_the_variable(monkeypatch):
    monkeypatch.setenv("DUALGRAD_ENGINE", "gpu")
    with pytest.raises(ValueError, match=r"DUALGRAD_ENGINE.*'gpu'.*'scalar', 'tensor'"):
        shared_nn.engine_name()


def test_engine_argument_beats_the_flag():
    shared_nn.set_engine("scalar")
    layer = Linear(2, 3, engine="tensor")
    assert layer.engine == "tensor" and type(layer.weight).engine == "tensor"
    with shared_nn.use_engine("tensor"):
        assert Linear(2, 3, engine="scalar").engine == "scalar"


@pytest.mark.parametrize("call", [
    lambda: shared_nn.set_engine("numpy"),
    lambda: shared_nn.get_engine("numpy"),
    lambda: shared_nn.use_engine("numpy").__enter__(),
    lambda: Linear(2, 3, engine="numpy"),
])
def test_unknown_engine_is_a_value_error_listing_valid_ones(call):
    with pytest.raises(ValueError, match=r"unknown engine 'numpy'.*'scalar', 'tensor'"):
        call()
    assert shared_nn.engine_name() == "tensor"


def test_get_engine_returns_the_engine_modules():
    import scalar_engine
    import tensor_engine

    assert shared_nn.get_engine("scalar") is scalar_engine
    assert shared_nn.get_engine("tensor") is tensor_engine


def test_shared_nn_tensor_uses_the_current_engine():
    with shared_nn.use_engine("scalar"):
        assert type(shared_nn.tensor([1.0, 2.0])).engine == "scalar"
    assert type(shared_nn.tensor([1.0, 2.0])).engine == "tensor"
