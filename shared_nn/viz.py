"""Draw a scalar-engine computation graph with matplotlib (no graphviz needed).

Every box is one ``Value``: the primitive that made it (``+``, ``*``, ``** 2``, ``tanh``
...), its ``data`` and its ``grad``. Every arrow goes from a parent to the node computed
from it and is labelled with the *local derivative* the engine stored for that edge,
d(node)/d(parent) -- exactly the number backward multiplies by. A node that uses the same
parent twice (``x * x``) gets two arrows, each with its own derivative (``x.grad`` is their
sum). Leaves (inputs and parameters) are blue, computed nodes orange; the graph reads left
to right, from the inputs to the output::

    from scalar_engine import Value
    from shared_nn.viz import draw_graph

    a, b = Value(2.0), Value(-3.0)
    out = (a * b + 1.0).tanh()
    out.backward(retain_graph=True)   # keep the graph so it can still be drawn
    draw_graph(out, names={a: "a", b: "b", out: "out"}, path="graph.png")

A plain ``backward()`` releases the graph (each node forgets its parents); drawing it
afterwards raises a ValueError that says so. Draw before ``backward()``, or pass
``retain_graph=True``.

**Op names** cost the engine nothing: a ``Value`` keeps its six slots and no name. The
name is read back from what the node stores (:func:`op_name`; a product stores its
operands' data, ``exp`` its own output ...). Where two primitives store exactly the same
thing -- relu and abs of a positive number -- the label says ``relu|abs``. For exact names,
build the graph inside ``with naming() as ops:`` and pass ``ops=ops``.

Graphs of a few hundred nodes (a small MLP, neuron by neuron) stay legible: the layout
(:func:`layout_graph`) is layered by depth, orders each column to cut arrow crossings,
routes long arrows between the boxes and shrinks the font as the graph grows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._viz_layout import GraphLayout, compute_layout
from ._viz_ops import OpNames, freed_message, naming, op_name
from .optional import optional_import

__all__ = ["graph_of", "op_name", "naming", "OpNames", "layout_graph", "draw_graph",
           "GraphLayout"]

MAX_NODES = 500  # beyond this a picture stops teaching anything (and gets huge)
TITLE_ROOM = 0.45  # inches above the graph for the title
MAX_PIXELS = 60_000  # a side; matplotlib's Agg renderer stops at 2**16


def _root_value(root: Any) -> Any:
    """The Value behind ``root``: a Value, or a one-element scalar-engine Tensor."""
    if hasattr(root, "parents") and hasattr(root, "data") and hasattr(root, "grad"):
        return root
    if getattr(type(root), "engine", None) == "scalar":
        if root.numel() != 1:
            raise ValueError(
                f"draw_graph needs a single number; got a tensor of shape {tuple(root.shape)} "
                "(draw its .sum() or one element)"
            )
        if root.dtype.kind != "f":  # int64 / bool tensors hold plain numbers, no graph
            raise TypeError(f"draw_graph needs a float tensor; an {root.dtype} tensor has no "
                            "graph")
        return root.values[0]  # the scalar engine's Tensor exposes its Value nodes
    raise TypeError(
        f"draw_graph expects a scalar_engine Value (or a one-element scalar-engine Tensor), "
        f"got {type(root).__name__}"
    )


def graph_of(root: Any) -> tuple[list[Any], list[tuple[Any, Any, float]]]:
    """All Values ``root`` depends on (``root`` included) and the edges
    ``(parent, child, local_derivative)``, found with an explicit stack (no recursion).

    A node that uses one parent twice (``x * x``) has two edges to it. A graph that a
    ``backward()`` released is refused with a ValueError (it would draw as one box)."""
    from scalar_engine.value import FREED as _FREED

    root = _root_value(root)
    nodes: list[Any] = []
    edges: list[tuple[Any, Any, float]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        if v._a is _FREED:
            raise ValueError(freed_message())
        seen.add(id(v))
        nodes.append(v)
        for parent, local in v.parents:
            edges.append((parent, v, local))
            stack.append(parent)
    return nodes, edges


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _fontsize(count: int) -> float:
    """Smaller type for bigger graphs, so that a few hundred boxes still fit a page."""
    return 8.0 if count <= 40 else 7.0 if count <= 120 else 6.0


def box_text(v: Any, name: str | None, op: str | None) -> str:
    """A box's lines: ``name = op`` (either alone, or neither), ``data ...``, ``grad ...``."""
    header = " = ".join(s for s in (name, op) if s)
    lines = [header] if header else []
    return "\n".join([*lines, f"data {_fmt(v.data)}", f"grad {_fmt(v.grad)}"])


def layout_graph(
    root: Any,
    names: Mapping[Any, str] | None = None,
    ops: OpNames | Mapping[Any, str] | None = None,
    max_nodes: int = MAX_NODES,
) -> GraphLayout:
    """Where :func:`draw_graph` puts every box and arrow (inches; ``y`` points up).

    ``names`` labels some Values (or one-element Tensors); ``ops`` (from :func:`naming`)
    gives exact op names, else :func:`op_name` reads them from the nodes. Graphs above
    ``max_nodes`` Values are refused with a ValueError."""
    nodes, edges = graph_of(root)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} Values, more than max_nodes={max_nodes}; "
            "draw a smaller expression"
        )
    labels = {id(_root_value(k)): v for k, v in (names or {}).items()}
    texts = {}
    for v in nodes:
        op = ops.get(v) if ops is not None else None
        texts[id(v)] = box_text(v, labels.get(id(v)), op or op_name(v))
    return compute_layout(nodes, edges, texts, _fontsize(len(nodes)), top=TITLE_ROOM)


def draw_graph(
    root: Any,
    names: Mapping[Any, str] | None = None,
    path: str | Path | None = None,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
    ops: OpNames | Mapping[Any, str] | None = None,
    dpi: float = 100,
):
    """Draw the graph behind ``root`` and return the matplotlib Figure.

    ``names`` optionally labels some Values (``{a: "a", loss: "loss"}``); ``ops`` gives
    exact op names (see :func:`naming`); ``path`` also saves the figure there (PNG, SVG
    ... by extension, at ``dpi``). Graphs above ``max_nodes`` Values, and graphs that
    ``backward()`` released, are refused with a ValueError.
    """
    if path is not None and (os.fspath(path).endswith(("/", os.sep)) or os.path.isdir(path)):
        raise IsADirectoryError(f"draw_graph: {os.fspath(path)} is a folder; give a file name "
                                f"(graph.png) to save the drawing to")
    layout = layout_graph(root, names, ops, max_nodes)
    width, height = layout.width * dpi, layout.height * dpi
    if max(width, height) > MAX_PIXELS:
        raise ValueError(
            f"the drawing would be {width:,.0f} x {height:,.0f} pixels, more than "
            f"{MAX_PIXELS:,} a side; draw a smaller expression or pass a lower dpi"
        )
    # matplotlib.figure, not pyplot: no GUI backend, no global state.
    Figure = optional_import("matplotlib.figure", "draw_graph").Figure
    fig = Figure(figsize=(layout.width, layout.height), dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, layout.width)
    ax.set_ylim(0.0, layout.height)
    ax.axis("off")
    _draw_edges(ax, layout)
    _draw_boxes(ax, layout)
    count = len(layout.boxes)
    fig.suptitle(title or f"{count} Values: data, grad, and ∂(child)/∂(parent) on each edge",
                 y=1.0 - 0.12 / layout.height, va="top", fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _draw_boxes(ax: Any, layout: GraphLayout) -> None:
    for box in layout.boxes:
        ax.text(box.x, box.y, box.text, ha="center", va="center", fontsize=layout.fontsize,
                family="DejaVu Sans Mono", zorder=3,
                bbox=dict(boxstyle="round,pad=0.35", fc="#e8f1fb" if box.leaf else "#fdf1e3",
                          ec="tab:blue" if box.leaf else "tab:orange", lw=0.8))


def _draw_edges(ax: Any, layout: GraphLayout) -> None:
    patches = optional_import("matplotlib.patches", "draw_graph")
    Path = optional_import("matplotlib.path", "draw_graph").Path
    style = dict(arrowstyle="-|>", mutation_scale=7 + layout.fontsize / 2, color="0.5",
                 lw=0.8, shrinkA=0.0, shrinkB=0.0, zorder=1)
    for edge in layout.edges:
        if edge.bend:
            arrow = patches.FancyArrowPatch(edge.points[0], edge.points[-1],
                                            connectionstyle=f"arc3,rad={edge.bend}", **style)
        else:
            arrow = patches.FancyArrowPatch(path=Path(edge.points), **style)
        ax.add_patch(arrow)
        ax.text(*edge.label_xy, f"∂={_fmt(edge.local)}", ha="center", va=edge.label_va,
                fontsize=layout.fontsize - 1, color="tab:purple", zorder=2,
                bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none", alpha=0.75))
