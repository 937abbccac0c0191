"""The tensor engine's numpy kernels: what its ops compute, with no graph in sight.

Every function here takes and returns ndarrays. ``tensor.py`` records them as graph nodes and
``fused.py`` builds its one-node composites from them, so a kernel is written once whichever
op runs it:

* **matrix products** (:func:`product`, :func:`product_laid_out_like`): which of the two
  equal forms of ``a @ b`` numpy is asked for, by the operands' memory layouts;
* **gradients of broadcasts and reductions** (:func:`unbroadcast`, :func:`spread`): undo a
  broadcast by summing, copy a reduction's gradient back over the reduced axes;
* **elementwise helpers** numpy lacks or makes slow (:func:`zero_where_not_positive`,
  :func:`filled`, :func:`sign`, :func:`erf`, :func:`log_softmax`, :func:`first_below`);
* **memory** (:func:`memory_order`, :func:`can_adopt`, :func:`memory_owner`,
  :func:`array_owner`): who owns an array's bytes and in which order they lie.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# -- matrix products ----------------------------------------------------------------------

mm = np.matmul
"""``a @ b``: every matrix product the engine computes is asked of numpy through this name
(a ufunc, so the indirection costs nothing). Callers outside this module look it up here at
call time (``kernels.mm``), which lets a benchmark swap in a recorder and trace the
products, shapes and memory layouts a workload runs."""

_SMALL = 1 << 14
"""Below this many elements in a product's right operand, :func:`product` asks numpy for the
product as written (a small matrix's product costs little in any layout)."""


def columns_contiguous(x: np.ndarray) -> bool:
    """True when the matrices of ``x`` (its last two dims) are stored column by column, as a
    transposed view such as ``W.T`` is: unit stride down a column, not along a row."""
    shape, strides, step = x.shape, x.strides, x.itemsize
    return strides[-2] == step and strides[-1] != step and shape[-2] > 1 and shape[-1] > 1


def swap(x: np.ndarray) -> np.ndarray:
    """The transpose of each matrix in ``x`` (its last two dims swapped), a view."""
    return x.T if x.ndim == 2 else x.swapaxes(-1, -2)


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for operands of 2 or more dims, asked of numpy in the faster of its two
    forms: ``a @ b``, or ``(bᵀ @ aᵀ)ᵀ``, whose result is column-major (Fortran-ordered).

    Which form runs faster depends on the operands' memory layouts, and the rule here is
    measured (``benchmarks/gemm_layouts.py``): numpy's BLAS runs a product fastest when its
    right operand's rows are contiguous, and slowest when a right operand stored column by
    column is also the wide one. So when ``b`` is column-major (``W.T`` of a row-major
    weight ``W``), ``bᵀ`` (``W`` itself) goes on the left, which makes the right operand
    ``aᵀ``: row-major if ``a`` is column-major, and otherwise column-major but the narrow
    side. For ``x @ W.T`` with a batch of rows this form is the faster one on OpenBLAS, and
    kept its speed across repeated measurements where other layouts varied; a one-row ``x``
    (decoding) streams ``W`` row by row.
    """
    if b.size < _SMALL:  # layouts hardly matter; the checks would cost more than they save
        return mm(a, b)
    if columns_contiguous(b) and (columns_contiguous(a) or a.shape[-2] <= b.shape[-1]):
        if a.ndim == 2 == b.ndim:
            return mm(b.T, a.T).T
        return swap(mm(swap(b), swap(a)))
    return mm(a, b)


def product_laid_out_like(operand: np.ndarray, left: np.ndarray,
                          right: np.ndarray) -> np.ndarray:
    """``left @ right``, in the memory layout of ``operand`` (whose gradient it is).

    The weight of ``x @ W.T`` enters as a transposed (Fortran-ordered) view; computing its
    gradient as ``(rightᵀ @ leftᵀ)ᵀ`` hands back the transpose of a C-ordered array, which
    the ``.T`` node turns into a C-ordered gradient for ``W`` with no copy at all. A
    gradient in its tensor's layout also keeps the backward pass's elementwise ops on
    operands of one layout (mixed layouts make numpy's loops several times slower).
    """
    if operand.flags.fnc:
        return mm(right.T, left.T).T
    return mm(left, right)


# -- gradients of broadcasts and reductions ----------------------------------------------


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return np.asarray(grad.sum(axis=axes)).reshape(shape)


def spread(g: np.ndarray, shape: tuple, dims: tuple | None, keepdim: bool) -> np.ndarray:
    """Copy a reduction's gradient back over the reduced axes (the backward of sum)."""
    if not keepdim and dims is not None:
        g = g.reshape([1 if i in dims else n for i, n in enumerate(shape)])
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


# -- elementwise helpers ------------------------------------------------------------------

_SAME_SIZE_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def zero_where_not_positive(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.where(x <= 0, 0, g)``: relu's backward, exact for inf and NaN in ``g`` (a
    product with a 0/1 mask would turn ``inf * 0`` into NaN) and passing ``g`` where ``x``
    is NaN, as torch does. ANDing the bits of ``g`` with a mask of all ones (keep) or all
    zeros (+0.0) gives the same array faster than numpy's ``where``."""
    int_type = _SAME_SIZE_INT.get(g.dtype)
    if int_type is None or g.shape != x.shape:
        return np.where(x <= 0, 0.0, g)
    keep = np.subtract(np.less_equal(x, 0), 1, dtype=int_type)  # True - 1 = 0, False - 1 = ~0
    return np.bitwise_and(g.view(int_type), keep).view(g.dtype)


def filled(x: np.ndarray, mask: np.ndarray, value: float) -> np.ndarray:
    """``np.where(mask, value, x)`` (``mask`` broadcasts to ``x``; the dtype is ``x``'s) as a
    copy written through the mask, which is cheaper than ``np.where`` with a broadcast mask."""
    out = np.array(x, copy=True)
    np.copyto(out, value, where=mask)
    return out


def sign(x: np.ndarray) -> np.ndarray:
    """-1, 0 or 1 in ``x``'s dtype, and 0 at NaN (``np.sign`` gives NaN there; torch 0)."""
    return (x > 0).astype(x.dtype) - (x < 0)


_erf_objects = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise: numpy has none, so ``math.erf`` per element (in float64, then cast)."""
    return np.asarray(_erf_objects(x), dtype=x.dtype)


def log_softmax(x: np.ndarray, d: int) -> np.ndarray:
    """``x - log(sum(exp(x)))`` along axis ``d``, with the maximum subtracted first so that
    ``exp`` never overflows."""
    shifted = x - x.max(axis=d, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=d, keepdims=True))


def first_below(x: np.ndarray, bound: float, inclusive: bool) -> float | None:
    """The first entry of ``x`` below ``bound`` (or equal to it if ``inclusive``), or None.

    NaN entries are not reported (NaN is in every domain: it propagates), but they must not
    hide the others either: ``x.min()`` is NaN as soon as ``x`` holds one, so the full
    elementwise comparison runs whenever the one-pass ``min`` cannot vouch for ``x``.
    """
    if x.size == 0:
        return None
    low = x.min()
    if low > bound or (low == bound and not inclusive):
        return None
    bad = (x <= bound) if inclusive else (x < bound)
    return float(x[bad].flat[0]) if bad.any() else None


# -- memory -----------------------------------------------------------------------------


def memory_order(array: np.ndarray) -> str:
    """"F" for an array stored column-major only, else "C" (numpy's ``order=``)."""
    return "F" if array.flags.fnc else "C"


def can_adopt(value: np.ndarray, current: np.ndarray) -> bool:
    """Whether ``value`` can replace ``current`` as a tensor's memory as it is: it owns its
    memory (no view of someone else's), is writeable, and has ``current``'s dtype and
    layout."""
    in_layout = value.flags.f_contiguous if current.flags.fnc else value.flags.c_contiguous
    return (value.base is None and value.flags.writeable and in_layout
            and value.dtype == current.dtype)


def memory_owner(array: np.ndarray) -> Any:
    """The object that owns ``array``'s memory: the end of its chain of ``base``\\ s, which
    may be a non-array buffer (``bytes``, a memory map)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def array_owner(array: np.ndarray) -> np.ndarray:
    """The last ndarray in ``array``'s chain of views (the array whose writes it sees)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array
