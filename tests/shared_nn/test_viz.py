"""shared_nn.viz.draw_graph on small scalar-engine expressions."""

from __future__ import annotations

import sys

import pytest

from scalar_engine.value import Value
from shared_nn.viz import draw_graph, graph_of


def neuron():
    x1, x2, w1, w2, b = Value(2.0), Value(0.0), Value(-3.0), Value(1.0), Value(0.5)
    out = (x1 * w1 + x2 * w2 + b).tanh()
    return out, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b, "out": out}


def test_graph_of_finds_every_value_and_local_derivative():
    out, v = neuron()
    nodes, edges = graph_of(out)
    # 5 leaves + 2 products + 2 sums + tanh
    assert len(nodes) == 10
    assert len(edges) == 9
    local = {(id(p), id(c)): d for p, c, d in edges}
    product = next(c for p, c, _ in edges if p is v["x1"])
    assert local[(id(v["x1"]), id(product))] == v["w1"].data  # d(x1*w1)/dx1 = w1
    assert local[(id(v["w1"]), id(product))] == v["x1"].data


def test_draw_graph_shows_data_grad_and_derivatives(tmp_path):
    out, v = neuron()
    out.backward(retain_graph=True)
    path = tmp_path / "graph.png"
    fig = draw_graph(out, names={value: name for name, value in v.items()}, path=path)
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    texts = [t.get_text() for t in fig.axes[0].texts]
    boxes = [t for t in texts if "data" in t]
    assert len(boxes) == 10
    assert any(t.startswith("x1\n") and f"grad {v['x1'].grad:.4g}" in t for t in boxes)
    edge_labels = [t for t in texts if t.startswith("∂=")]
    assert len(edge_labels) == 9
    assert f"∂={v['w1'].data:.4g}" in edge_labels


def test_draw_graph_refuses_big_graphs_and_wrong_types():
    total = Value(0.0)
    for i in range(40):
        total = total + Value(float(i))
    with pytest.raises(ValueError, match="81 Values"):
        draw_graph(total, max_nodes=60)
    with pytest.raises(TypeError, match="Value"):
        draw_graph(3.0)


def test_draw_graph_of_a_scalar_engine_tensor(tmp_path):
    import scalar_engine as se

    w = se.tensor([[0.5, -1.0]], requires_grad=True)
    x = se.tensor([[2.0], [1.0]])
    loss = (w @ x).tanh().sum()
    loss.backward(retain_graph=True)
    nodes, _ = graph_of(loss)
    assert any(v is w.values[0] for v in nodes) and any(v is w.values[1] for v in nodes)
    fig = draw_graph(loss, path=tmp_path / "t.png")
    boxes = [t.get_text() for t in fig.axes[0].texts if "data" in t.get_text()]
    assert len(boxes) == len(nodes)
    assert f"grad {w.grad[0, 0]:.4g}" in "".join(boxes)
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        draw_graph(w)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import matplotlib.figure  # noqa: F401 - even with the submodule already imported ...

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # ... a blocked package is reported
    out, _ = neuron()
    with pytest.raises(ImportError, match=r"draw_graph.*'matplotlib'.*dualgrad\[examples\]"):
        draw_graph(out)
