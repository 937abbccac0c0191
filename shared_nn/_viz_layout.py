"""Where each box and arrow of a graph drawing goes: a small layered ("Sugiyama") layout.

1. **Columns by depth.** A computed node sits one column right of its deepest parent; a
   leaf sits just left of its first consumer, so inputs are not all stacked far left.
2. **Bends for long arrows.** An arrow that spans several columns gets a bend point in each
   column it crosses; the bend points take part in the ordering like small boxes, so long
   arrows go *between* boxes instead of through them.
3. **Order within columns: barycentres.** Sweeping left to right and back, each column is
   sorted by the mean position of its neighbours in the column before (after); the order
   with the fewest arrow crossings seen is kept.
4. **Heights: straighten, then pack.** Each box moves towards the mean height of its
   neighbours, then the column is packed back into order with a fixed gap between boxes
   (an isotonic regression), so boxes never overlap and arrows run as flat as they can.

All lengths are inches; the drawing maps one inch to one unit on both axes. Box sizes come
from the text: a monospace font, so the width is characters x advance.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Box", "EdgeShape", "GraphLayout", "compute_layout", "box_size"]

CHAR_WIDTH = 0.65  # advance of DejaVu Sans Mono, in em (0.602), plus hinting at small sizes
LINE_HEIGHT = 1.3  # a text line as matplotlib draws it (spacing 1.2, plus descent), in em
BOX_PAD = 0.35  # the round box's padding, in em (as drawn: boxstyle "round,pad=0.35")
SWEEPS = 12  # barycentre passes (each: left to right, then right to left)
STRAIGHTEN = 24  # height relaxation passes
BEND = 0.25  # arc3 radius of each of two parallel arrows (x * x): they curve apart


@dataclass
class Box:
    """One Value's box: its centre (``x``, ``y``), size and text, all in inches."""

    node: Any
    text: str
    leaf: bool
    width: float
    height: float
    x: float = 0.0
    y: float = 0.0

    def overlaps(self, other: Box, margin: float = 0.0) -> bool:
        """True when the two rectangles (grown by ``margin``) intersect."""
        return (abs(self.x - other.x) * 2 < self.width + other.width + 2 * margin
                and abs(self.y - other.y) * 2 < self.height + other.height + 2 * margin)


@dataclass
class EdgeShape:
    """One arrow: from the parent's right side through bend points to the child's left
    side (or one arc, ``bend`` != 0, for parallel arrows), with its label's place."""

    parent: Any
    child: Any
    local: float
    points: list[tuple[float, float]]
    bend: float = 0.0
    label_xy: tuple[float, float] = (0.0, 0.0)
    label_va: str = "bottom"


@dataclass
class GraphLayout:
    """Boxes and arrows of a drawing, the canvas size (inches) and the font size used."""

    boxes: list[Box]
    edges: list[EdgeShape]
    width: float
    height: float
    fontsize: float
    crossings: int = 0
    columns: int = 0
    box_of: dict[int, Box] = field(default_factory=dict)


def box_size(text: str, fontsize: float) -> tuple[float, float]:
    """Width and height (inches) of ``text`` in a padded box, monospace at ``fontsize``."""
    lines = text.split("\n")
    em = fontsize / 72.0
    width = (CHAR_WIDTH * max(map(len, lines)) + 2 * BOX_PAD) * em
    height = (LINE_HEIGHT * len(lines) + 2 * BOX_PAD) * em
    return width, height


# --------------------------------------------------------------------------------- columns


def columns_of(nodes: list[Any], edges: list[tuple[Any, Any, float]]) -> dict[int, int]:
    """Column of each node (by id): computed nodes one right of their deepest parent,
    leaves just left of their first consumer; columns renumbered without gaps."""
    parents: dict[int, list[int]] = defaultdict(list)
    children: dict[int, list[int]] = defaultdict(list)
    for parent, child, _ in edges:
        parents[id(child)].append(id(parent))
        children[id(parent)].append(id(child))
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
    for n in nodes:
        if not parents[id(n)] and children[id(n)]:
            column[id(n)] = min(column[k] for k in children[id(n)]) - 1
    rank = {c: i for i, c in enumerate(sorted(set(column.values())))}
    return {k: rank[c] for k, c in column.items()}


# ---------------------------------------------------------------- layers, bends and order


@dataclass
class _Layers:
    """Items per column (a node's id, or ``("bend", edge, column)``), the links between
    adjacent columns, and each edge's chain of items from parent to child."""

    columns: list[list[Any]]
    links: list[tuple[Any, Any]]
    chains: list[list[Any]]


def _layers(nodes: list[Any], edges: list[tuple[Any, Any, float]],
            column: dict[int, int]) -> _Layers:
    """Every node in its column, and a bend item in each column a long edge crosses."""
    columns: list[list[Any]] = [[] for _ in range(max(column.values()) + 1)]
    for n in nodes:  # graph order (depth first from the output): a fair first order
        columns[column[id(n)]].append(id(n))
    links, chains = [], []
    for e, (parent, child, _) in enumerate(edges):
        first, last = column[id(parent)], column[id(child)]
        bends = [("bend", e, c) for c in range(first + 1, last)]
        for c, item in zip(range(first + 1, last), bends, strict=True):
            columns[c].append(item)
        chain = [id(parent), *bends, id(child)]
        links.extend(zip(chain, chain[1:], strict=False))
        chains.append(chain)
    return _Layers(columns, links, chains)


def _crossings(columns: list[list[Any]], links: list[tuple[Any, Any]]) -> int:
    """Pairs of links between the same two columns that cross (inversions, O(E log E))."""
    position = {item: i for col in columns for i, item in enumerate(col)}
    column = {item: c for c, col in enumerate(columns) for item in col}
    by_gap: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for u, v in links:
        by_gap[column[u]].append((position[u], position[v]))
    total = 0
    for pairs in by_gap.values():
        seen: list[int] = []
        for _, v in sorted(pairs):  # count earlier links that end strictly lower
            total += len(seen) - bisect.bisect_right(seen, v)
            bisect.insort(seen, v)
    return total


def _sweep(columns: list[list[Any]], neighbours: dict[Any, list[Any]],
           order: range) -> None:
    """Sort each column in ``order`` by the mean position of its neighbours in the column
    just visited (every link joins adjacent columns); an item without neighbours there
    keeps its place, scaled to that column's length."""
    for c in order:
        near_column, own = columns[c - order.step], columns[c]
        near = {item: i for i, item in enumerate(near_column)}
        scale = len(near_column) / max(1, len(own))
        keys = {}
        for i, item in enumerate(own):
            found = [near[n] for n in neighbours[item]]
            keys[item] = (sum(found) / len(found) if found else i * scale, i)
        own.sort(key=keys.__getitem__)


def order_columns(layers: _Layers) -> int:
    """Barycentre sweeps over ``layers.columns`` (in place); returns the crossings left."""
    before: dict[Any, list[Any]] = defaultdict(list)
    after: dict[Any, list[Any]] = defaultdict(list)
    for u, v in layers.links:
        after[u].append(v)
        before[v].append(u)
    best = [list(col) for col in layers.columns]
    fewest = _crossings(best, layers.links)
    n = len(layers.columns)
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        _sweep(layers.columns, before, range(1, n, 1))
        _sweep(layers.columns, after, range(n - 2, -1, -1))
        found = _crossings(layers.columns, layers.links)
        if found < fewest:
            best, fewest = [list(col) for col in layers.columns], found
    layers.columns[:] = best
    return fewest


# ----------------------------------------------------------------------------- coordinates


def _pack(desired: list[float], gaps: list[float]) -> list[float]:
    """Positions as close as possible to ``desired`` (least squares) that keep the order
    and at least ``gaps[i]`` between item i and i + 1: isotonic regression (pool adjacent
    violators) on ``desired`` minus the cumulative gaps."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [sum, count] of pooled targets
    for d, o in zip(desired, offsets, strict=True):
        blocks.append([d - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    flat = [total / count for total, count in blocks for _ in range(int(count))]
    return [w + o for w, o in zip(flat, offsets, strict=True)]


def _heights(columns: list[list[Any]], links: list[tuple[Any, Any]],
             size: dict[Any, tuple[float, float]], gap: float) -> dict[Any, float]:
    """The vertical centre of every item, downwards from 0: columns start centred, then
    each item is pulled towards its neighbours' mean and the column re-packed."""
    neighbours: dict[Any, list[Any]] = defaultdict(list)
    for u, v in links:
        neighbours[u].append(v)
        neighbours[v].append(u)
    gaps = [[(size[a][1] + size[b][1]) / 2 + gap for a, b in zip(col, col[1:], strict=False)]
            for col in columns]
    z: dict[Any, float] = {}
    for col, g in zip(columns, gaps, strict=True):
        stacked = _pack([0.0] * len(col), g)
        z.update(zip(col, stacked, strict=True))
    for step in range(STRAIGHTEN):
        visit = range(len(columns)) if step % 2 == 0 else range(len(columns) - 1, -1, -1)
        for c in visit:
            col = columns[c]
            desired = [sum(z[n] for n in neighbours[i]) / len(neighbours[i])
                       if neighbours[i] else z[i] for i in col]
            z.update(zip(col, _pack(desired, gaps[c]), strict=True))
    return z


def compute_layout(nodes: list[Any], edges: list[tuple[Any, Any, float]],
                   texts: dict[int, str], fontsize: float, top: float = 0.45) -> GraphLayout:
    """Place ``nodes`` (boxes showing ``texts[id(node)]``) and ``edges`` (parent, child,
    local derivative); ``top`` inches are left free above for a title."""
    column = columns_of(nodes, edges)
    layers = _layers(nodes, edges, column)
    crossings = order_columns(layers)
    em = fontsize / 72.0
    bend_size = (0.0, 0.6 * LINE_HEIGHT * em)
    size = {id(n): box_size(texts[id(n)], fontsize) for n in nodes}
    size.update({item: bend_size for col in layers.columns for item in col
                 if isinstance(item, tuple)})
    z = _heights(layers.columns, layers.links, size, gap=0.8 * LINE_HEIGHT * em)
    label_room = 10 * CHAR_WIDTH * (fontsize - 1) / 72.0 + 0.3  # "∂=-0.6347" and air
    widths = [max(size[i][0] for i in col) for col in layers.columns]
    xs, x = [], 0.25
    for w in widths:
        xs.append(x + w / 2)
        x += w + label_room
    width = x - label_room + 0.25
    low, high = min(z[i] - size[i][1] / 2 for i in z), max(z[i] + size[i][1] / 2 for i in z)
    height = high - low + 0.5 + top
    place = {i: (xs[c], height - top - 0.25 - (z[i] - low))  # z grows downwards, y upwards
             for c, col in enumerate(layers.columns) for i in col}
    boxes = []
    for n in nodes:
        w, h = size[id(n)]
        boxes.append(Box(n, texts[id(n)], not n.parents, w, h, *place[id(n)]))
    box_of = {id(b.node): b for b in boxes}
    shapes = _edge_shapes(edges, layers.chains, place, box_of)
    return GraphLayout(boxes, shapes, width, height, fontsize, crossings,
                       len(layers.columns), box_of)


# ---------------------------------------------------------------------------------- arrows


def _edge_shapes(edges: list[tuple[Any, Any, float]], chains: list[list[Any]],
                 place: dict[Any, tuple[float, float]], box_of: dict[int, Box]
                 ) -> list[EdgeShape]:
    """Each edge as points from the parent's right side to the child's left side; parallel
    edges (the same parent twice, as in ``x * x``) as arcs bending apart."""
    parallel: dict[tuple[int, int], list[int]] = defaultdict(list)
    for e, (parent, child, _) in enumerate(edges):
        parallel[(id(parent), id(child))].append(e)
    shapes = []
    for e, (parent, child, local) in enumerate(edges):
        p, c = box_of[id(parent)], box_of[id(child)]
        points = [(p.x + p.width / 2, p.y), *(place[i] for i in chains[e][1:-1]),
                  (c.x - c.width / 2, c.y)]
        group = parallel[(id(parent), id(child))]
        bend = 0.0
        if len(group) > 1 and len(points) == 2:
            bend = BEND * (2 * group.index(e) - (len(group) - 1))
        shapes.append(EdgeShape(parent, child, local, points, bend))
    _place_labels(shapes)
    return shapes


def _place_labels(shapes: list[EdgeShape]) -> None:
    """Each label halfway along the arrow's last stretch (an arc: at its middle); of two
    arrows into one box the higher one's label goes above its line, the lower's below."""
    into: dict[int, list[EdgeShape]] = defaultdict(list)
    for s in shapes:
        (x0, y0), (x1, y1) = s.points[-2], s.points[-1]
        if s.bend:
            dx, dy = x1 - x0, y1 - y0  # matplotlib's arc3: control point at mid + rad*(dy,-dx)
            s.label_xy = ((x0 + x1) / 2 + s.bend * dy / 2, (y0 + y1) / 2 - s.bend * dx / 2)
            s.label_va = "bottom" if s.bend * dx < 0 else "top"
        else:
            s.label_xy = ((x0 + x1) / 2, (y0 + y1) / 2)
        into[id(s.child)].append(s)
    for group in into.values():
        straight = [s for s in group if not s.bend]
        if len(straight) == 2:
            low, high = sorted(straight, key=lambda s: s.points[-2][1])
            low.label_va, high.label_va = "top", "bottom"
