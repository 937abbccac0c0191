"""Random programs: small expression graphs built from protocol ops.

Single-op properties cannot catch bugs in how the engines *combine* ops: gradient
accumulation into a node with several consumers, the order of the topological sort, a
backward rule that reads a value some later op has overwritten. A :class:`Program` is a
list of :class:`Step` s; each step applies one op to earlier nodes (leaves or results), so
nodes are reused freely. The loss at the end adds ``c_i * tanh(node_i).sum()`` over *every*
node, so each node has at least one more consumer and every leaf receives a gradient.

Values stay tame by construction: products and matrix products squash one operand through
``tanh``, divisions divide by ``b*b + 1``, ``log``/``sqrt`` see ``x*x + 1``, ``exp`` sees
``tanh(x)``. shared_nn.functional's softmax, log_softmax, gelu and layer_norm are ops too, so
on the ``tensor-fused`` backend fused nodes sit inside larger graphs. ``max`` and ``relu`` are
left out: a program can create ties (``cat`` of a
node with itself) or exact zeros (``x - x``), where their derivative is a convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from . import strategies as S

Shape = tuple[int, ...]
MAX_NUMEL = 36  # keeps the scalar engine's graphs small


@dataclass(frozen=True)
class Step:
    """``nodes.append(OPS[op](E, *[nodes[i] for i in args], *params))``."""

    op: str
    args: tuple[int, ...]
    params: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(f"n{i}" for i in self.args)
        params = "".join(f", {p!r}" for p in self.params)
        return f"{self.op}({args}{params})"


@dataclass(frozen=True)
class Program:
    """Leaf shapes plus steps; calling it on a backend and leaves returns the scalar loss."""

    leaf_shapes: tuple[Shape, ...]
    steps: tuple[Step, ...]

    def __call__(self, E: Any, *leaves: Any) -> Any:
        nodes = list(leaves)
        for step in self.steps:
            nodes.append(OPS[step.op](E, *(nodes[i] for i in step.args), *step.params))
        loss = None
        for i, node in enumerate(nodes):
            term = (node.tanh() * (1.0 + 0.25 * i)).sum()
            loss = term if loss is None else loss + term
        return loss

    def __repr__(self) -> str:
        lines = [f"n{i}: leaf {s}" for i, s in enumerate(self.leaf_shapes)]
        first = len(self.leaf_shapes)
        lines += [f"n{first + j} = {step!r}" for j, step in enumerate(self.steps)]
        return "Program(\n  " + "\n  ".join(lines) + "\n)"


# --------------------------------------------------------------------------- the ops

OPS: dict[str, Callable[..., Any]] = {
    # unary, shape preserving
    "tanh": lambda E, a: a.tanh(),
    "sigmoid": lambda E, a: a.sigmoid(),
    "neg": lambda E, a: -a,
    "exp_tanh": lambda E, a: a.tanh().exp(),
    "log_sq1": lambda E, a: (a * a + 1.0).log(),
    "sqrt_sq1": lambda E, a: (a * a + 1.0).sqrt(),
    "pow": lambda E, a, p: a.tanh() ** p,
    "pow_frac": lambda E, a, p: (a.tanh() * a.tanh() + 0.5) ** p,
    "affine": lambda E, a, c: c * a + c,
    # binary, broadcasting
    "add": lambda E, a, b: a + b,
    "sub": lambda E, a, b: a - b,
    "mul": lambda E, a, b: a * b.tanh(),
    "div": lambda E, a, b: a / (b * b + 1.0),
    "rdiv": lambda E, a, c: c / (a * a + 1.0),
    "where": lambda E, a, b, mask: E.where(mask, a, b),
    # matrix products
    "matmul": lambda E, a, b: a @ b.tanh(),
    "gram": lambda E, a: a.tanh() @ (a.tanh().transpose(-1, -2) if a.ndim > 1 else a.tanh()),
    # reductions
    "sum": lambda E, a, dim, keep: a.sum(dim, keepdim=keep),
    "mean": lambda E, a, dim, keep: a.mean(dim, keepdim=keep),
    # shape
    "transpose": lambda E, a, d0, d1: a.transpose(d0, d1),
    "permute": lambda E, a, perm: a.permute(*perm),
    "flatten": lambda E, a: a.reshape(-1),
    "unsqueeze": lambda E, a, d: a.unsqueeze(d),
    "squeeze": lambda E, a: a.squeeze(),
    "gather": lambda E, a, ids: a[ids],
    "index": lambda E, a, i: a[i],
    "slice": lambda E, a, start: a[start:],
    "split": lambda E, a, size, dim, k: a.split(size, dim)[k],
    "cat": lambda E, a, b, dim: E.cat([a, b], dim),
    "stack": lambda E, a, b, dim: E.stack([a, b], dim),
    "masked_fill": lambda E, a, mask, value: a.masked_fill(mask, value),
    # shared_nn.functional (fused on the tensor-fused backend)
    "softmax": lambda E, a, dim: E.F.softmax(a, dim=dim),
    "log_softmax": lambda E, a, dim: E.F.log_softmax(a, dim=dim),
    "gelu": lambda E, a: E.F.gelu(a),
    "layer_norm": lambda E, a: E.F.layer_norm(a, a.shape[-1]),
}


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _matmul_shape(a: Shape, b: Shape) -> Shape | None:
    """torch's matmul result shape, or None when the operands do not fit."""
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a == b else None
    if len(b) == 1:
        return a[:-1] if a[-1] == b[0] else None
    if len(a) == 1:
        return b[:-2] + b[-1:] if a[0] == b[-2] else None
    if a[-1] != b[-2]:
        return None
    batch = _broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])


def _numel(shape: Shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


# --------------------------------------------------------------------------- drawing


@st.composite
def _step(draw: st.DrawFn, shapes: list[Shape]) -> tuple[Step, Shape]:
    """Draw one applicable op with arguments from the pool; return it and its result shape."""
    n = len(shapes)
    pick = st.integers(0, n - 1)
    while True:
        op = draw(st.sampled_from(sorted(OPS)))
        i = draw(pick)
        a = shapes[i]
        out = _try(draw, op, i, a, shapes, pick)
        if out is not None and _numel(out[1]) <= MAX_NUMEL:
            return out


def _try(draw: st.DrawFn, op: str, i: int, a: Shape, shapes: list[Shape], pick: Any):
    """The step for ``op`` on node ``i`` (and a partner drawn from the pool), or None."""
    nd = len(a)
    if op in ("tanh", "sigmoid", "neg", "exp_tanh", "log_sq1", "sqrt_sq1", "gelu"):
        return Step(op, (i,)), a
    if op == "pow":
        return Step(op, (i,), (draw(st.sampled_from([2, 3])),)), a
    if op == "pow_frac":
        return Step(op, (i,), (draw(st.sampled_from([0.5, -1.5, 1.5])),)), a
    if op in ("affine", "rdiv"):
        return Step(op, (i,), (draw(S.away_from_zero()),)), a
    if op in ("add", "sub", "mul", "div", "matmul", "cat", "stack", "where"):
        if op == "matmul":  # partners that fit are rare: choose among them
            fits = [j for j, b in enumerate(shapes) if _matmul_shape(a, b) is not None]
            if not fits:
                return None
            j = draw(st.sampled_from(fits))
            return Step(op, (i, j)), _matmul_shape(a, shapes[j])
        j = draw(pick)
        b = shapes[j]
        if op in ("cat", "stack"):
            if a != b or (op == "cat" and nd == 0):
                return None
            dim = draw(S.dims(nd) if op == "cat" else st.integers(-nd - 1, nd))
            if op == "cat":
                out = list(a)
                out[dim] *= 2
                return Step(op, (i, j), (dim,)), tuple(out)
            d = dim % (nd + 1)
            return Step(op, (i, j), (dim,)), a[:d] + (2,) + a[d:]
        out = _broadcast(a, b)
        if out is None:
            return None
        if op == "where":
            mask = draw(S.masks(draw(S.broadcast_to(out))))
            return Step(op, (i, j), (mask,)), out
        return Step(op, (i, j)), out
    if op == "gram":
        if nd == 0:
            return None
        return Step(op, (i,)), (() if nd == 1 else a[:-1] + a[-2:-1])
    if nd == 0:
        return None
    if op in ("sum", "mean"):
        dim, keep = draw(S.dims(nd)), draw(st.booleans())
        d = dim % nd
        return Step(op, (i,), (dim, keep)), (a[:d] + (1,) + a[d + 1 :] if keep else
                                             a[:d] + a[d + 1 :])
    if op == "transpose":
        d0, d1 = draw(S.dims(nd)), draw(S.dims(nd))
        out = list(a)
        out[d0], out[d1] = out[d1], out[d0]
        return Step(op, (i,), (d0, d1)), tuple(out)
    if op == "permute":
        perm = draw(S.permutations(nd))
        return Step(op, (i,), (perm,)), tuple(a[p] for p in perm)
    if op == "flatten":
        return Step(op, (i,)), (_numel(a),)
    if op == "unsqueeze":
        d = draw(st.integers(-nd - 1, nd))
        d0 = d % (nd + 1)
        return Step(op, (i,), (d,)), a[:d0] + (1,) + a[d0:]
    if op == "squeeze":
        return Step(op, (i,)), tuple(s for s in a if s != 1)
    if op == "gather":
        ids = draw(S.index_arrays(a[0]))
        return Step(op, (i,), (ids,)), (len(ids),) + a[1:]
    if op == "index":
        return Step(op, (i,), (draw(st.integers(-a[0], a[0] - 1)),)), a[1:]
    if op == "slice":
        start = draw(st.integers(0, a[0] - 1))
        return Step(op, (i,), (start,)), (a[0] - start,) + a[1:]
    if op == "split":
        dim = draw(S.dims(nd))
        size = draw(st.integers(1, a[dim]))
        chunks = -(-a[dim] // size)
        k = draw(st.integers(0, chunks - 1))
        out = list(a)
        out[dim] = min(size, a[dim] - k * size)
        return Step(op, (i,), (size, dim, k)), tuple(out)
    if op in ("softmax", "log_softmax"):
        return Step(op, (i,), (draw(S.dims(nd)),)), a
    if op == "layer_norm":
        return Step(op, (i,)), a
    if op == "masked_fill":
        mask = draw(S.masks(draw(S.broadcast_to(a))))
        return Step(op, (i,), (mask, draw(S.general()))), a
    raise AssertionError(f"unknown op {op}")


@st.composite
def programs(draw: st.DrawFn, max_leaves: int = 3, max_steps: int = 8) -> Program:
    """A random program over 1..``max_leaves`` leaves with 1..``max_steps`` steps.

    Leaf shapes are derived from one base shape by :func:`strategies.broadcast_to`, so
    broadcasting binary ops find partners often.
    """
    base = draw(S.shapes(min_dims=0, max_dims=3))
    leaf_count = draw(st.integers(1, max_leaves))
    shapes: list[Shape] = [draw(S.broadcast_to(base)) for _ in range(leaf_count)]
    shapes[0] = base
    leaf_shapes = tuple(shapes)
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        step, out = draw(_step(shapes))
        steps.append(step)
        shapes.append(out)
    return Program(leaf_shapes, tuple(steps))
