"""Bad input fails loudly, and the messages name the shapes / values involved."""

import numpy as np
import pytest

import tensor_engine as te
from tensor_engine import fused


def t(*shape):
    return te.tensor(np.zeros(shape), requires_grad=True)


@pytest.mark.parametrize("make, pattern", [
    (lambda: t(2, 3) @ t(4, 5), r"\(2, 3\) and \(4, 5\)"),
    (lambda: t(3) @ t(4), r"\(3,\) and \(4,\)"),
    (lambda: t(2, 2, 3) @ t(3, 3, 1), r"\(2, 2, 3\) and \(3, 3, 1\)"),
    (lambda: te.tensor(1.0) @ t(1), r"\(\) and \(1,\)"),
    (lambda: t(2, 3) + t(4), r"\(2, 3\) and \(4,\)"),
    (lambda: t(2, 3) - t(3, 2), r"\(2, 3\) and \(3, 2\)"),
    (lambda: t(2, 3) * t(2, 2), r"\(2, 3\) and \(2, 2\)"),
    (lambda: t(2, 3) / t(5), r"\(2, 3\) and \(5,\)"),
    (lambda: t(2, 3).reshape(4, 2), r"\(2, 3\).*\(4, 2\)"),
    (lambda: te.cat([t(2, 3), t(3, 2)]), r"\(2, 3\), \(3, 2\)"),
    (lambda: te.stack([t(2), t(3)]), r"\(2,\), \(3,\)"),
    (lambda: t(2, 3).assign_(np.zeros((3, 2))), r"\(3, 2\).*\(2, 3\)"),
    (lambda: t(2, 3).masked_fill(np.zeros((2,), bool), 0.0), r"\(2,\).*\(2, 3\)"),
    (lambda: t(2, 3).masked_fill(np.zeros((1, 2, 3), bool), 0.0), r"\(1, 2, 3\).*\(2, 3\)"),
    (lambda: te.where(np.ones(4, bool), t(3), 0.0), r"\(4,\), \(3,\)"),
    (lambda: (t(2) * 1.0).backward(np.ones(3)), r"\(3,\).*\(2,\)"),
    (lambda: t(2, 3).split([1, 1], dim=1), r"\[1, 1\].*\(2, 3\)"),
    (lambda: t(2, 3).permute(0), r"\(2, 3\)"),
    (lambda: fused.layer_norm(t(2, 3), t(4), t(3)), r"weight of shape \(4,\).*\(2, 3\)"),
    (lambda: fused.layer_norm(t(2, 3), t(3), t(2)), r"bias of shape \(2,\).*\(2, 3\)"),
    (lambda: fused.layer_norm(t(1, 3), None, t(2)), r"bias of shape \(2,\).*\(1, 3\)"),
    (lambda: fused.linear(t(2, 3), t(4, 2)), r"\(2, 3\).*\(4, 2\)"),
    (lambda: fused.linear(t(3), t(4, 3), t(3)), r"bias of shape \(3,\).*\(4, 3\)"),
])
def test_shape_errors_name_both_shapes(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("make", [
    lambda: t(2, 3).sum(2), lambda: t(2, 3).mean((0, -3)), lambda: t(2).max(1),
    lambda: t(2).argmax(-2), lambda: t(2, 3).transpose(0, 2), lambda: t(2).unsqueeze(2),
    lambda: t(2, 3).squeeze(5), lambda: te.cat([t(2)], dim=1), lambda: t(2).split(1, dim=1),
])
def test_out_of_range_dims_are_value_errors(make):
    with pytest.raises(ValueError, match="dim"):
        make()


def test_out_of_range_indices_are_index_errors():
    with pytest.raises(IndexError, match="5.*size 3"):
        t(3)[5]
    with pytest.raises(IndexError, match="-4.*size 3"):
        t(3)[[0, -4]]


def test_log_and_sqrt_domain_errors_name_the_value():
    with pytest.raises(ValueError, match=r"log.*-2\.0"):
        te.tensor([1.0, -2.0]).log()
    with pytest.raises(ValueError, match=r"log.*0\.0"):
        te.tensor([0.0]).log()
    with pytest.raises(ValueError, match=r"sqrt.*-0\.5"):
        te.tensor([[4.0, -0.5]]).sqrt()
    assert te.tensor([0.0]).sqrt().item() == 0.0


def test_backward_errors_follow_torch():
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (t(2) * 2.0).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        te.tensor([1.0]).backward()


def test_type_errors():
    with pytest.raises(TypeError, match="exponent"):
        t(2) ** t(2)
    with pytest.raises(TypeError, match="numeric"):
        te.tensor([None, 1.0])
    with pytest.raises(TypeError, match="str"):
        t(2) + "a"
    with pytest.raises(TypeError, match="bool"):
        t(2).masked_fill(np.array([1.0, 0.0]), 0.0)
    with pytest.raises(TypeError, match="expected tensor_engine Tensors"):
        te.cat([t(2), np.zeros(2)])
    with pytest.raises(TypeError, match="layer_norm: expected a tensor_engine Tensor"):
        fused.layer_norm(t(2, 3), np.ones(3), t(3))


def test_value_errors_match_the_scalar_engine():
    with pytest.raises(ValueError, match="rectangular"):
        te.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"mean over an empty dimension \(shape \(2, 0\)"):
        t(2, 0).mean(1)
    with pytest.raises(ValueError, match=r"-2\.0 \*\* 0\.5.*integer exponent"):
        te.tensor([1.0, -2.0]) ** 0.5
    assert (te.tensor([-2.0]) ** 3).item() == -8.0


def test_mixing_engines_is_a_type_error_naming_both():
    class OtherTensor:
        engine = "scalar"

    with pytest.raises(TypeError, match="mul: expected all tensors on one engine, got tensor "
                                        "and scalar"):
        t(2) * OtherTensor()
    with pytest.raises(TypeError, match="softmax: .* got tensor and scalar"):
        fused.softmax(OtherTensor())
    for op in (lambda: te.cat([t(2), OtherTensor()]), lambda: te.where([True], OtherTensor(), 0),
               lambda: t(2)[OtherTensor()], lambda: t(2) @ OtherTensor(),
               lambda: t(2).masked_fill(OtherTensor(), 0.0)):
        with pytest.raises(TypeError, match="got tensor and scalar"):
            op()


def test_item_needs_one_element():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        t(2).item()


def test_zero_dim_tensors_take_dim_0_and_minus_1_only():
    x = te.tensor(3.0, requires_grad=True)
    assert x.sum(0).item() == 3.0 and x.max(-1).values.item() == 3.0 and x.argmax(0) == 0
    assert fused.softmax(x, 0).item() == 1.0
    with pytest.raises(ValueError, match="dim 1"):
        x.sum(1)
    with pytest.raises(ValueError, match="dim -2"):
        fused.log_softmax(x, -2)
