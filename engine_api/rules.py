"""How every engine reads its arguments, and the one message each misuse gets.

A rule takes the user's argument and either returns it in the form an engine computes with
(a dim in ``range(ndim)``, a numpy dtype, a shape with ``-1`` resolved) or raises. The
message names the op the user called and the offending value, so ``x.sum(dim=5)`` reads the
same on every engine. Types of error follow the contract: a bad value or shape is a
``ValueError``, a wrong type a ``TypeError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .dtypes import (
    _DTYPE_NAMES,
    BOOL,
    FLOAT32,
    FLOAT64,
    FLOAT_DTYPES,
    INT64,
    dtype_argument,
    get_default_dtype,
)

_CPU = ("cpu", "cpu:0")


# -- numbers and integers ---------------------------------------------------------------


def is_int(x: Any) -> bool:
    """A Python or numpy integer, bools excluded."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def is_number(x: Any) -> bool:
    """A Python or numpy real number (bools included, as torch's scalars)."""
    return isinstance(x, numbers.Real) and not isinstance(x, np.ndarray)


# -- dtypes -------------------------------------------------------------------------------


def float_dtype(dtype: Any) -> np.dtype | None:
    """A ``dtype=`` argument that must name a float dtype (float32 / float64), or None."""
    found = dtype_argument(dtype)
    if found is not None and found not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64 here, got {dtype!r}")
    return found


def inferred_dtype(data: Any) -> np.dtype:
    """The dtype ``tensor(data)`` gives without ``dtype=``, as torch infers it: bools alone
    give bool, integers (bools among them) int64, any float the default float dtype; an
    ndarray keeps bool, any integer kind becomes int64, float64 stays float64 and other floats
    become float32; an engine Tensor keeps its dtype."""
    if hasattr(type(data), "engine"):
        return data.dtype
    if isinstance(data, (np.ndarray, np.generic)):
        return array_dtype(data.dtype)
    kind = numeric_array(data).dtype.kind
    if kind == "f":
        return get_default_dtype()
    return BOOL if kind == "b" else INT64


def array_dtype(dtype: np.dtype) -> np.dtype:
    """An ndarray's dtype as one of the four (int32 counts as int64, float16 as float32)."""
    kind = dtype.kind
    if kind == "f":
        return FLOAT64 if dtype == FLOAT64 else FLOAT32
    return BOOL if kind == "b" else INT64


def _category(dtype: np.dtype) -> int:
    return 0 if dtype == BOOL else 1 if dtype.kind in "iu" else 2


def _promote(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    """The smallest of the four dtypes that holds both (None: nothing yet)."""
    if a is None or b is None:
        return a if b is None else b
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return FLOAT64 if FLOAT64 in (a, b) else a


def _number_dtype(x: Any) -> np.dtype:
    """The dtype a Python number stands for in promotion (a float: the default float)."""
    if isinstance(x, (bool, np.bool_)):
        return BOOL
    return INT64 if is_int(x) else get_default_dtype()


def _over(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """``lower`` counts only when it is of a higher category than ``higher`` (torch's
    ``combine_categories``)."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= _category(lower):
        return higher
    return _promote(higher, lower)


def result_dtype(*operands: Any) -> np.dtype:
    """The dtype of an op between ``operands`` (engine Tensors, ndarrays, Python or numpy
    numbers), by torch's promotion: tensors with dims decide within a category (float32 with
    float64 gives float64); a 0-d tensor, then a Python number, counts only when it is of a
    higher category (bool < integer < float): ``float32 + float64 0-d`` stays float32, ``int64
    tensor * 0.5`` gives the default float dtype."""
    dimmed = zero_dim = scalars = None
    for x in operands:
        if isinstance(x, (list, tuple)):  # a constant tensor made from the list: torch's inference
            x = np.empty(np.shape(x), dtype=inferred_dtype(x))
        if hasattr(x, "shape") and not isinstance(x, np.generic):
            dtype = array_dtype(np.dtype(x.dtype))
            if len(x.shape):
                dimmed = _promote(dimmed, dtype)
            else:
                zero_dim = _promote(zero_dim, dtype)
        else:
            scalars = _promote(scalars, _number_dtype(x))
    return _over(dimmed, _over(zero_dim, scalars))


def widens(result: np.dtype, dtype: np.dtype) -> bool:
    """Whether ``result`` is of a higher category than ``dtype`` (a float result for an int
    tensor, an int result for a bool one): what an in-place op cannot write back."""
    return _category(result) > _category(dtype)


def division_dtype(dtype: np.dtype) -> np.dtype:
    """True division (``/``) of non-float operands gives the default float dtype."""
    return dtype if dtype.kind == "f" else get_default_dtype()


floating = division_dtype
"""The dtype a float function (exp, log, mean ...) computes in for input of ``dtype``: the
same rule as division."""


def names_device(arg: Any) -> bool:
    """Whether a positional argument of ``to(...)`` names a device: a ``torch.device``, or a
    string that is not a dtype's name (``"cpu"``, ``"cuda:0"``)."""
    if type(arg).__name__ == "device":
        return True
    if not isinstance(arg, str) or arg in _DTYPE_NAMES:
        return False
    try:
        np.dtype(arg)
    except TypeError:
        return True
    return False


def to_arguments(args: tuple, dtype: Any, device: Any) -> tuple[np.dtype | None, Any]:
    """``to(...)``'s arguments sorted as torch sorts them: (dtype or None, device or None).
    Positional arguments that name a device are the device; a tensor stands for its dtype
    (``to(other)``); any other is the dtype."""
    if len(args) > 2:
        raise TypeError(f"to() takes a dtype and/or a device, got {len(args)} arguments")
    for arg in args:
        if names_device(arg):
            device = arg
        elif foreign_tensor(arg):
            dtype = arg.dtype
        else:
            dtype = arg
    return dtype_argument(dtype), device


def check_cpu(device: Any) -> None:
    """The numpy engines compute on the CPU: any other device is a TypeError."""
    if device is not None and str(device) not in _CPU:
        raise TypeError(f"to(): {device!r} is neither a dtype nor the device 'cpu'")


# -- data ---------------------------------------------------------------------------------


def numeric_array(data: Any) -> np.ndarray:
    """``np.asarray(data)``, refusing ragged lists (ValueError) and non-numbers (TypeError)."""
    try:
        array = np.asarray(data)
    except ValueError as err:
        raise ValueError(f"tensor data must be a rectangular nested list of numbers: {err}"
                         ) from None
    except TypeError as err:
        raise TypeError(f"tensor data must be numeric, got {type(data).__name__}: {err}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be numeric, got dtype {array.dtype} "
                        f"from {type(data).__name__}")
    return array


def bool_mask(mask: np.ndarray, op: str) -> np.ndarray:
    """A mask given as an array: bools, or 0/1 integers read as bools; floats refused."""
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"{op}: mask must be a bool array, got dtype {mask.dtype}")
    return mask.astype(bool, copy=False)


def positive_steps(index: Any) -> None:
    """Slices in an index take positive steps only, as torch's: ``x[::-1]`` is a ValueError
    on every engine (``flip`` reverses)."""
    for part in index if type(index) is tuple else (index,):
        if type(part) is slice and part.step is not None and part.step <= 0:
            raise ValueError(f"step must be greater than zero, got {part.step} in {part} "
                             f"(reverse with flip())")


def foreign_tensor(x: Any) -> bool:
    """A tensor of another engine: something that says which ``engine`` it belongs to."""
    return hasattr(type(x), "engine")


# -- dims ---------------------------------------------------------------------------------


def normalize_dim(dim: Any, ndim: int, op: str) -> int:
    """A dim in ``[0, ndim)``, negative dims counted from the end."""
    if not is_int(dim):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
                         f"(expected {-ndim} <= dim < {ndim})")
    return int(dim) % ndim


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """None (every dim) or a sorted tuple of distinct dims in ``[0, ndim)``; ``dim=()``
    means every dim, as torch's sum and mean read it. A 0-d tensor accepts dim 0 and -1 (as
    if it had one dim), and reduces over nothing: ``()``."""
    if dim is None or isinstance(dim, (tuple, list)) and len(dim) == 0:
        return None
    if ndim and not isinstance(dim, (tuple, list)):  # one dim, the usual call: no set to build
        return (normalize_dim(dim, ndim, op),)
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted({normalize_dim(d, max(ndim, 1), op) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dim {tuple(dims)} names a dimension twice")
    return out if ndim else ()


def permutation(dims: Sequence[Any], shape: tuple[int, ...], op: str = "permute"
                ) -> tuple[int, ...]:
    """``permute``'s dims: one entry per dim of ``shape``, each dim once."""
    if len(dims) != len(shape):
        raise ValueError(f"{op}: got {len(dims)} dims {tuple(dims)} for a tensor of shape {shape}")
    order = tuple(normalize_dim(d, len(shape), op) for d in dims)
    if len(set(order)) != len(order):
        raise ValueError(f"{op}: dims {tuple(dims)} repeat a dimension")
    return order


# -- shapes -------------------------------------------------------------------------------


def shape_argument(sizes: tuple, op: str) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean the shape (2, 3); entries must
    be integers."""
    if len(sizes) == 1 and (isinstance(sizes[0], (tuple, list))
                            or type(sizes[0]).__name__ == "Size"):  # torch.Size
        sizes = tuple(sizes[0])
    if not all(is_int(s) for s in sizes):
        raise TypeError(f"{op}: shape entries must be integers, got {tuple(sizes)!r}")
    return tuple(int(s) for s in sizes)


def new_shape(shape: Any, op: str) -> tuple[int, ...]:
    """``zeros``/``ones``' shape: an int or a sequence of non-negative ints."""
    out = shape_argument((shape,) if is_int(shape) else tuple(shape), op)
    if any(n < 0 for n in out):
        raise ValueError(f"{op}: negative dimension in shape {out}")
    return out


def reshaped(shape: tuple[int, ...], sizes: tuple, op: str = "reshape") -> tuple[int, ...]:
    """The shape ``reshape(*sizes)`` / ``view(*sizes)`` gives a tensor of ``shape``, with one
    ``-1`` standing for whatever size makes the count of elements fit."""
    target = shape_argument(sizes, op)
    count = math.prod(shape)
    unknown = [i for i, n in enumerate(target) if n == -1]
    known = math.prod(n for n in target if n != -1)
    fits = (len(unknown) <= 1 and all(n >= -1 for n in target)
            and (known == count if not unknown else known != 0 and count % known == 0))
    if not fits:
        raise ValueError(f"{op}: cannot reshape a tensor of shape {shape} into shape {target}")
    if unknown:
        target = target[:unknown[0]] + (count // known,) + target[unknown[0] + 1:]
    return target


def flattened_shape(shape: tuple[int, ...], start_dim: int, end_dim: int) -> tuple[int, ...]:
    """``shape`` with dims ``start_dim..end_dim`` merged (a 0-d shape counts as ``(1,)``)."""
    ndim = max(len(shape), 1)
    start = normalize_dim(start_dim, ndim, "flatten")
    end = normalize_dim(end_dim, ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(shape {shape})")
    if not shape:
        return (1,)
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


def expanded_shape(shape: tuple[int, ...], sizes: tuple) -> tuple[int, ...]:
    """The shape ``expand(*sizes)`` gives, by torch's rules.

    ``sizes`` ends with one entry per dim of ``shape``: -1 keeps the size, a size-1 dim takes
    any size, any other dim must keep its size. Extra leading entries add new dims (-1 is
    not allowed there: there is no size to keep).
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not all(is_int(s) for s in sizes):
        raise TypeError(f"expand: sizes must be integers, got {tuple(sizes)!r}")
    sizes = tuple(int(s) for s in sizes)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: sizes {sizes} have fewer dims than the shape {shape}")
    out = []
    for i, size in enumerate(sizes):
        old = shape[i - lead] if i >= lead else None
        if size == -1 and old is not None:
            size = old
        if size < 0:
            raise ValueError(f"expand: invalid size {size} at dim {i} of sizes {sizes}")
        if old is not None and old != 1 and size != old:
            raise ValueError(f"expand: size {size} at dim {i} of sizes {sizes} must match the "
                             f"existing size {old} of shape {shape} (only size-1 dims expand)")
        out.append(size)
    return tuple(out)


def broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape numpy broadcasting gives ``shapes``, else a ValueError naming them all."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise broadcast_error(op, *shapes) from None


def broadcast_error(op: str, *shapes: tuple[int, ...]) -> ValueError:
    listed = ", ".join(str(tuple(s)) for s in shapes[:-1]) + f" and {tuple(shapes[-1])}"
    return ValueError(f"{op}: shapes {listed} cannot be broadcast together")


def mask_shape(mask: tuple[int, ...], shape: tuple[int, ...], op: str) -> None:
    """A mask must broadcast to the tensor's shape without changing it."""
    try:
        fits = np.broadcast_shapes(mask, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: mask of shape {tuple(mask)} does not broadcast to tensor "
                         f"shape {tuple(shape)}")


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``a @ b`` (1-D, 2-D and batched, with broadcast batch dims) by numpy's
    rules, else a ValueError naming both shapes."""
    if not a or not b:
        raise matmul_error(a, b, "both operands need at least one dimension")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise matmul_error(a, b, f"inner sizes {a2[-1]} and {b2[-2]} differ")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise matmul_error(a, b, "batch dims do not broadcast") from None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def matmul_error(a: tuple[int, ...], b: tuple[int, ...], why: str) -> ValueError:
    return ValueError(f"matmul: shapes {tuple(a)} and {tuple(b)} cannot be multiplied ({why})")


def concatenated_shape(shapes: Sequence[tuple[int, ...]], dim: Any, op: str = "cat"
                       ) -> tuple[tuple[int, ...], int]:
    """``cat``'s result shape and normalised dim: the pieces agree except along ``dim``."""
    if not shapes:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    first = tuple(shapes[0])
    d = normalize_dim(dim, max(len(first), 1), op)
    rest = first[:d] + first[d + 1:]
    if not first or any(len(s) != len(first) or tuple(s[:d]) + tuple(s[d + 1:]) != rest
                        for s in shapes):
        raise ValueError(f"{op}: shapes {[tuple(s) for s in shapes]} must match except in "
                         f"dim {d}")
    return first[:d] + (sum(s[d] for s in shapes),) + first[d + 1:], d


def stacked_shape(shapes: Sequence[tuple[int, ...]], dim: Any, op: str = "stack"
                  ) -> tuple[tuple[int, ...], int]:
    """``stack``'s result shape and normalised dim: every piece has the same shape."""
    if not shapes:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    first = tuple(shapes[0])
    d = normalize_dim(dim, len(first) + 1, op)
    if any(tuple(s) != first for s in shapes):
        raise ValueError(f"{op}: all shapes must be equal, got {[tuple(s) for s in shapes]}")
    return first[:d] + (len(shapes),) + first[d:], d


def split_sizes(split_size_or_sections: Any, shape: tuple[int, ...], dim: Any,
                op: str = "split") -> tuple[list[int], int]:
    """``split``'s piece sizes along a normalised dim: one size (the last piece may be
    shorter), or a list of sizes that add up to the dim's length."""
    d = normalize_dim(dim, len(shape), op)
    length = shape[d]
    if is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"{op}: split size must be positive, got {size}")
        return [min(size, length - start) for start in range(0, length, size)] or [0], d
    sizes = list(split_size_or_sections)
    if not all(is_int(s) and s >= 0 for s in sizes):
        raise TypeError(f"{op}: sizes must be non-negative integers, got {sizes!r}")
    if sum(sizes) != length:
        raise ValueError(f"{op}: sizes {sizes} do not add up to {length}, the size of dim {d} "
                         f"of shape {shape}")
    return [int(s) for s in sizes], d


# -- clamp and var -----------------------------------------------------------------------


def clamp_bounds(lo: Any, hi: Any) -> tuple[float | None, float | None]:
    """``clamp``'s bounds as floats (a missing one stays None); not both missing."""
    if lo is None and hi is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    for name, bound in (("min", lo), ("max", hi)):
        if bound is not None and not is_number(bound):
            raise TypeError(f"clamp: {name} must be a number or None, got {type(bound).__name__}")
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def var_arguments(dim: Any, unbiased: bool | None, correction: Any) -> tuple[Any, float]:
    """``var``/``std``'s arguments as torch reads them: (dim, correction).

    ``x.var(False)`` passes ``unbiased`` in ``dim``'s place; ``correction`` defaults to 1
    (Bessel's) and ``unbiased=False`` means 0; ``dim=()`` means every dim.
    """
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError("var: unbiased given twice (as the first argument and by name)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var: give unbiased or correction, not both")
    if correction is None:
        correction = 1.0 if unbiased is None or unbiased else 0.0
    elif isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise TypeError(f"var: correction must be a number, got {type(correction).__name__}")
    if isinstance(dim, (tuple, list)) and not dim:
        dim = None
    return dim, float(correction)


def exponent(value: Any) -> float:
    """``x ** c`` and ``x.pow(c)`` take a number as the exponent (a tensor exponent is not
    part of the protocol)."""
    if not is_number(value):
        raise TypeError(f"Tensor ** exponent needs a Python number exponent, "
                        f"got {type(value).__name__}")
    return float(value)
