"""shared_nn.viz.draw_graph on small scalar-engine expressions."""

from __future__ import annotations

import sys

import pytest

from scalar_engine.value import Value
from shared_nn.viz import draw_graph, graph_of, layout_graph, naming, op_name


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


def test_a_drawing_too_big_to_render_is_refused_before_drawing():
    v = Value(0.1)
    for _ in range(450):  # a chain 451 columns wide: ~65,000 pixels at 100 dpi
        v = v.tanh()
    with pytest.raises(ValueError, match="pixels.*lower dpi"):
        draw_graph(v)
    assert draw_graph(v, dpi=40).get_figwidth() * 40 < 60_000


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
    assert f"grad {w.grad[0, 0].item():.4g}" in "".join(boxes)
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        draw_graph(w)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import matplotlib.figure  # noqa: F401 - even with the submodule already imported ...

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # ... a blocked package is reported
    out, _ = neuron()
    with pytest.raises(ImportError, match=r"draw_graph.*'matplotlib'.*dualgrad\[examples\]"):
        draw_graph(out)


# ------------------------------------------------------------------------------- op names

X, Y = 0.7, -1.3  # generic inputs: no rule matches by coincidence here

# (what the user writes, the name read back from the node, the exact name from naming())
PRIMITIVES = [
    (lambda x, y: x + y, "+", "+"),
    (lambda x, y: x + 2.0, "+ 2", "+ 2"),
    (lambda x, y: x * y, "*", "*"),
    (lambda x, y: x * 3.0, "* 3", "* 3"),
    (lambda x, y: x**2, "** 2", "** 2"),
    (lambda x, y: y**3, "** 3", "** 3"),
    (lambda x, y: x**0.5, "** 0.5", "** 0.5"),
    (lambda x, y: x**-1, "** -1", "** -1"),
    (lambda x, y: x**-2.5, "** -2.5", "** -2.5"),
    (lambda x, y: x**0, "** 0", "** 0"),
    (lambda x, y: x.exp(), "exp", "exp"),
    (lambda x, y: x.log(), "log", "log"),
    (lambda x, y: x.log1p(), "log1p", "log1p"),
    (lambda x, y: (y * 0.5).log1p(), "log1p", "log1p"),  # a negative input above -1
    (lambda x, y: x.tanh(), "tanh", "tanh"),
    (lambda x, y: x.sigmoid(), "sigmoid", "sigmoid"),
    (lambda x, y: x.sin(), "sin", "sin"),
    (lambda x, y: x.cos(), "cos", "cos"),
    (lambda x, y: x.erf(), "erf", "erf"),
    (lambda x, y: y.relu(), "relu", "relu"),
    # The two cases where different primitives store identical nodes:
    (lambda x, y: x.relu(), "relu|abs", "relu"),  # both pass a positive input through
    (lambda x, y: x.abs(), "relu|abs", "abs"),
    (lambda x, y: y.abs(), "* -1", "abs"),  # |y| = y * -1 for y < 0, and stored so
    # Composed ops are named by their last primitive:
    (lambda x, y: -x, "* -1", "* -1"),
    (lambda x, y: x - y, "+", "+"),
    (lambda x, y: x / y, "*", "*"),
    (lambda x, y: x.sqrt(), "** 0.5", "** 0.5"),
]


@pytest.mark.parametrize("build, inferred, exact", PRIMITIVES,
                         ids=[f"{i}:{p[2]}" for i, p in enumerate(PRIMITIVES)])
def test_every_primitive_is_named(build, inferred, exact):
    out = build(Value(X), Value(Y))
    assert op_name(out) == inferred  # read back from what the node stores
    with naming() as ops:
        named = build(Value(X), Value(Y))
    assert ops[named] == exact
    assert op_name(named) == inferred  # the wrappers changed nothing in the node


def test_a_leaf_has_no_op_and_special_points_list_every_match():
    assert op_name(Value(1.0)) is None
    # At 0, tanh, log1p and sin all give 0 with derivative 1, exactly what x * 1 stores:
    assert (op_name(Value(0.0).tanh()) == op_name(Value(0.0).sin())
            == op_name(Value(0.0).log1p()) == "tanh|log1p|sin|* 1")
    assert op_name(Value(0.0).abs()) == op_name(Value(0.0).relu()) == "relu|abs"
    assert op_name(Value(X) ** 1) == "* 1"  # x ** 1 stores what x * 1 stores


def test_tensor_ops_are_named_too():
    import scalar_engine as se

    t = se.tensor([[X, Y]], requires_grad=True)
    w = se.tensor([[2.0], [3.0]], requires_grad=True)
    product = t @ w  # built directly by the tensor: x0*w0 + x1*w1
    (total,) = product.values
    assert op_name(total) == "+" and [op_name(p) for p, _ in total.parents] == ["*", "*"]
    assert [op_name(v) for v in t.tanh().values] == ["tanh", "tanh"]
    assert [op_name(v) for v in t.relu().values] == ["relu|abs", "relu"]
    assert [op_name(v) for v in t.clamp(-1.0, 0.5).values] == ["clamp", "clamp"]
    assert [op_name(v) for v in (t * 4.0).values] == ["* 4", "* 4"]
    with naming() as ops:
        relu, absolute, clamped = t.relu(), t.abs(), t.clamp(-1.0, 0.5)
        matmul = t @ w
    assert [ops[v] for v in relu.values] == ["relu", "relu"]
    assert [ops[v] for v in absolute.values] == ["abs", "abs"]
    assert [ops[v] for v in clamped.values] == ["clamp", "clamp"]
    assert matmul.values[0] not in ops  # not wrapped: op_name's rule names it
    layout = layout_graph(matmul, ops=ops)
    assert layout.box_of[id(matmul.values[0])].text.startswith("+\n")


def test_naming_is_zero_cost_outside_its_block_and_nests():
    import scalar_engine as se

    before = {m: Value.__dict__[m] for m in ("__add__", "__mul__", "tanh", "relu")}
    tensor_relu = se.Tensor.__dict__["relu"]
    with naming() as outer:
        assert Value.__dict__["__add__"] is not before["__add__"]  # wrapped while active
        with naming() as inner:
            a = Value(X).relu()
        b = Value(X).abs()
    assert inner[a] == outer[a] == "relu" and b not in inner and outer[b] == "abs"
    assert {m: Value.__dict__[m] for m in before} == before  # the originals are back
    assert se.Tensor.__dict__["relu"] is tensor_relu
    c = Value(X).relu()
    assert c not in outer and len(outer) == 2


def test_integer_tensors_have_no_graph_to_name_or_draw():
    import scalar_engine as se

    ids = se.tensor([3, -1])
    with naming() as ops:
        out = ids.clamp(0, 2)  # plain ints, no nodes: nothing to name, and nothing fails
    assert out.tolist() == [2, 0] and len(ops) == 0
    with pytest.raises(TypeError, match="needs a float tensor; an int64 tensor"):
        draw_graph(se.tensor([3]))


def test_draw_graph_prints_op_names_in_the_boxes():
    out, v = neuron()
    out.backward(retain_graph=True)
    fig = draw_graph(out, names={v["out"]: "out"})
    boxes = [t.get_text() for t in fig.axes[0].texts if "data" in t.get_text()]
    headers = sorted(b.split("\n")[0] for b in boxes if not b.startswith("data"))
    assert headers == ["*", "*", "+", "+", "out = tanh"]


# -------------------------------------------------------------------------- parallel edges


def test_x_times_x_has_two_edges_drawn_apart_each_with_its_derivative():
    x = Value(3.0)
    y = x * x
    y.backward(retain_graph=True)
    nodes, edges = graph_of(y)
    assert len(nodes) == 2
    assert [(p is x, c is y, d) for p, c, d in edges] == [(True, True, 3.0)] * 2
    assert x.grad == 6.0 == sum(d for _, _, d in edges)  # backward adds both edges
    layout = layout_graph(y)
    bends = sorted(e.bend for e in layout.edges)
    assert len(bends) == 2 and bends[0] < 0 < bends[1]  # two arcs, curving apart
    assert layout.edges[0].label_xy != layout.edges[1].label_xy
    fig = draw_graph(y)
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("∂=")]
    assert labels == ["∂=3", "∂=3"]
    assert len(fig.axes[0].patches) == 2  # two arrows


# ---------------------------------------------------------------------------- freed graphs


def test_a_graph_freed_by_backward_is_refused_with_what_to_do():
    out, _ = neuron()
    out.backward()  # releases the graph
    for call in (graph_of, draw_graph, layout_graph, op_name):
        with pytest.raises(ValueError, match=r"freed by backward\(\).*retain_graph=True.*"
                                             r"before backward\(\)"):
            call(out)


def test_a_graph_with_a_freed_part_is_refused():
    x, w = Value(2.0), Value(3.0)
    part = x * w
    part.backward()  # frees part's link to x and w
    with pytest.raises(ValueError, match="retain_graph=True"):
        draw_graph((part + 1.0).tanh())


# ---------------------------------------------------------------- a few hundred nodes: layout


def mlp_graph(sizes):
    import numpy as np

    import shared_nn as nn

    nn.manual_seed(0)
    model = nn.models.MLP(sizes, engine="scalar", dtype="float64")
    out = model(np.array([[0.5, -1.0]]))
    loss = ((out - 1.0) ** 2).sum()
    loss.backward(retain_graph=True)
    return loss


def overlapping(boxes):
    return [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a.overlaps(b)]


def test_an_mlp_neuron_by_neuron_lays_out_without_overlapping_boxes():
    layout = layout_graph(mlp_graph([2, 8, 8, 1]))
    assert 250 <= len(layout.boxes) <= 400
    assert not overlapping(layout.boxes)
    for box in layout.boxes:  # all on the canvas
        assert box.width / 2 <= box.x <= layout.width - box.width / 2
        assert box.height / 2 <= box.y <= layout.height - box.height / 2
    for edge in layout.edges:  # arrows run left to right, from box side to box side
        xs = [x for x, _ in edge.points]
        assert xs == sorted(xs)
        parent, child = layout.box_of[id(edge.parent)], layout.box_of[id(edge.child)]
        assert xs[0] == pytest.approx(parent.x + parent.width / 2)
        assert xs[-1] == pytest.approx(child.x - child.width / 2)
    assert layout.fontsize < 8  # scaled down for a big graph


def test_the_rendered_boxes_fit_the_layout_and_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    root = mlp_graph([2, 8, 8, 1])
    layout = layout_graph(root)
    fig = draw_graph(root)
    FigureCanvasAgg(fig).draw()
    by_text = {b.text: b for b in layout.boxes}
    drawn = [t for t in fig.axes[0].texts if t.get_text() in by_text]
    assert len(drawn) == len(layout.boxes)
    extents = []
    for t in drawn:
        extent = t.get_bbox_patch().get_window_extent()
        box = by_text[t.get_text()]
        assert extent.width <= box.width * fig.dpi and extent.height <= box.height * fig.dpi
        extents.append(extent)
    clashes = [(a, b) for i, a in enumerate(extents) for b in extents[i + 1:] if a.overlaps(b)]
    assert not clashes


def test_barycentre_ordering_cuts_crossings(monkeypatch):
    from shared_nn import _viz_layout

    root = mlp_graph([2, 4, 4, 1])
    swept = layout_graph(root).crossings
    monkeypatch.setattr(_viz_layout, "SWEEPS", 0)
    unswept = layout_graph(root).crossings
    assert swept < unswept
    out, _ = neuron()
    assert layout_graph(out).crossings == 0  # a tree has a drawing without crossings


def test_pack_keeps_order_and_gaps_and_stays_close():
    from shared_nn._viz_layout import _pack

    assert _pack([0.0, 5.0, 9.0], [1.0, 1.0]) == [0.0, 5.0, 9.0]  # already fine: unchanged
    assert _pack([0.0, 0.0, 0.0], [1.0, 1.0]) == [-1.0, 0.0, 1.0]  # centred on the wish
    packed = _pack([3.0, 0.0, 10.0], [2.0, 2.0])
    assert packed[1] - packed[0] == pytest.approx(2.0) and packed[2] == 10.0


# ---------------------------------------------------------------- the node stays six slots


def test_value_keeps_six_slots_and_its_bytes_per_node():
    import gc
    import tracemalloc

    import numpy as np

    import scalar_engine as se

    class SixSlots:
        __slots__ = ("a", "b", "c", "d", "e", "f")

    assert Value.__slots__ == ("data", "grad", "_a", "_da", "_b", "_db")
    assert not hasattr(Value(1.0), "__dict__")
    assert sys.getsizeof(Value(1.0)) == sys.getsizeof(SixSlots())
    with naming():  # a naming block leaves nothing behind on the class or its nodes
        Value(1.0).tanh()
    assert sys.getsizeof(Value(1.0).tanh()) == sys.getsizeof(SixSlots())
    rng = np.random.default_rng(0)
    a = se.tensor(rng.standard_normal((16, 16)), requires_grad=True)
    b = se.tensor(rng.standard_normal((16, 16)), requires_grad=True)
    se.reset_nodes_created()
    gc.collect()
    tracemalloc.start()
    graph = (a @ b).sum()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_node = held / se.nodes_created()
    # One Value and its data float: 80 + 24 = 104 bytes on CPython 3.11 (the benchmark's
    # 104 B/node); products and sums store no float of their own as derivatives.
    assert per_node < sys.getsizeof(SixSlots()) + sys.getsizeof(1.0) + 2
    del graph


def test_a_folder_as_the_path_is_refused(tmp_path):
    """``path=existing_dir`` once wrote ``existing_dir.png`` beside the folder."""
    out, _ = neuron()
    for path in (tmp_path, f"{tmp_path}/new/"):
        with pytest.raises(IsADirectoryError, match="give a file name"):
            draw_graph(out, path=path)
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()
