"""Draw a scalar-engine computation graph with matplotlib (no graphviz needed).

Every box is one ``Value``: its ``data`` and its ``grad``. Every arrow goes from a parent
to the node computed from it and is labelled with the *local derivative* the engine stored
for that edge, d(node)/d(parent) -- exactly the number backward multiplies by. When a
value stores the name of the operation that made it (an ``op`` attribute), the box shows
it too. Leaves (inputs and parameters) are drawn on the left, the output on the right::

    from scalar_engine import Value
    from shared_nn.viz import draw_graph

    a, b = Value(2.0), Value(-3.0)
    out = (a * b + 1.0).tanh()
    out.backward(retain_graph=True)   # keep the graph so it can still be drawn
    draw_graph(out, names={a: "a", b: "b", out: "out"}).savefig("graph.png")

Call ``backward(retain_graph=True)`` before drawing: a plain ``backward()`` releases the
graph (the parents are freed), after which only the output is left to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._optional import optional_import

__all__ = ["graph_of", "draw_graph"]

MAX_NODES = 60  # beyond this a picture stops teaching anything


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
        return root.values[0]  # the scalar engine's Tensor exposes its Value nodes
    raise TypeError(
        f"draw_graph expects a scalar_engine Value (or a one-element scalar-engine Tensor), "
        f"got {type(root).__name__}"
    )


def graph_of(root: Any) -> tuple[list[Any], list[tuple[Any, Any, float]]]:
    """All Values ``root`` depends on (``root`` included) and the edges
    ``(parent, child, local_derivative)``, found with an explicit stack (no recursion)."""
    root = _root_value(root)
    nodes: list[Any] = []
    edges: list[tuple[Any, Any, float]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        nodes.append(v)
        for parent, local in v.parents:
            edges.append((parent, v, local))
            stack.append(parent)
    return nodes, edges


def _layers(nodes: list[Any], edges: list[tuple[Any, Any, float]]) -> dict[int, int]:
    """Column of each node: 0 for leaves, else 1 + the largest column of its parents."""
    parents: dict[int, list[int]] = {id(n): [] for n in nodes}
    for parent, child, _ in edges:
        parents[id(child)].append(id(parent))
    column: dict[int, int] = {}
    for start in (id(n) for n in nodes):
        stack = [start]
        while stack:  # iterative post-order: a node is placed after all its parents
            node = stack[-1]
            pending = [p for p in parents[node] if p not in column]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            column[node] = 1 + max((column[p] for p in parents[node]), default=-1)
    return column


def _mean(xs: Any) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def draw_graph(
    root: Any,
    names: Mapping[Any, str] | None = None,
    path: str | Path | None = None,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
):
    """Draw the graph behind ``root`` and return the matplotlib Figure.

    ``names`` optionally labels some Values (``{a: "a", loss: "loss"}``); ``path`` also saves
    the figure there (PNG, SVG ... by extension). Graphs above ``max_nodes`` Values are
    refused with a ValueError: draw a smaller expression.
    """
    nodes, edges = graph_of(root)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} Values, more than max_nodes={max_nodes}; "
            "draw a smaller expression"
        )
    # matplotlib.figure, not pyplot: no GUI backend, no global state.
    Figure = optional_import("matplotlib.figure", "draw_graph").Figure

    names = {id(k): v for k, v in (names or {}).items()}
    column = _layers(nodes, edges)
    children: dict[int, list[int]] = {id(n): [] for n in nodes}
    for parent, child, _ in edges:
        children[id(parent)].append(id(child))
    for n in nodes:  # a leaf sits just left of its first consumer: short arrows
        if not n.parents and children[id(n)]:
            column[id(n)] = min(column[k] for k in children[id(n)]) - 1
    by_column: dict[int, list[Any]] = {}
    for n in nodes:
        by_column.setdefault(column[id(n)], []).append(n)
    position: dict[int, tuple[float, float]] = {}
    rank = {c: i for i, c in enumerate(sorted(by_column))}  # columns without gaps
    for c in sorted(by_column, reverse=True):  # right to left: children are placed first
        members = by_column[c]
        # Put each node level with its children (their mean height): fewer crossing arrows.
        members.sort(key=lambda n: -_mean(position[k][1] for k in children[id(n)]))
        for i, n in enumerate(members):  # each column centred vertically
            position[id(n)] = (rank[c] * 2.7, ((len(members) - 1) / 2 - i) * 1.5)
    depth = len(by_column)
    height = max(len(m) for m in by_column.values())
    fig = Figure(figsize=(1.2 + 2.0 * depth, 0.9 + 0.95 * height))
    ax = fig.subplots()
    for parent, child, local in edges:
        (x0, y0), (x1, y1) = position[id(parent)], position[id(child)]
        ax.annotate("", xy=(x1 - 0.85, y1), xytext=(x0 + 0.85, y0),
                    arrowprops=dict(arrowstyle="->", color="0.45", lw=1.0))
        ax.text(0.6 * x0 + 0.4 * x1, 0.6 * y0 + 0.4 * y1 + 0.1, f"∂={_fmt(local)}", ha="center",
                va="bottom", fontsize=7, color="tab:purple")
    for n in nodes:
        x, y = position[id(n)]
        lines = []
        op = getattr(n, "op", None) or getattr(n, "_op", None)
        label = names.get(id(n))
        if label or op:
            lines.append(" ".join(s for s in (label, f"[{op}]" if op else None) if s))
        lines.append(f"data {_fmt(n.data)}")
        lines.append(f"grad {_fmt(n.grad)}")
        leaf = not n.parents
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.35", fc="#e8f1fb" if leaf else "#fdf1e3",
                          ec="tab:blue" if leaf else "tab:orange"))
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    ax.set_title(title or f"{len(nodes)} Values: data, grad, and ∂(child)/∂(parent) on "
                 "each edge", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
