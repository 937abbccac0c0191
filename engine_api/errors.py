"""The messages of the misuses an engine detects while it computes: mixing engines, values
outside an op's domain, and autograd misuse. Built here, once, so each reads the same on
every engine; an engine raises them, it does not word them.
"""

from __future__ import annotations

from typing import Any

BACKWARD_TWICE = (
    "Trying to backward through the graph a second time (or to use intermediate values after "
    "they were freed). Pass retain_graph=True to the first backward() if you need to backward "
    "twice.")
NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


INT_GRAD = "Only Tensors of floating point dtype can require gradients"


def engine_of(x: Any) -> str:
    """The engine a tensor belongs to ("scalar", "tensor", "torch"), or its type's name."""
    engine = getattr(type(x), "engine", None)
    if engine is not None:
        return engine
    kind = type(x)
    return "torch" if kind.__module__ == "torch" else f"{kind.__module__}.{kind.__qualname__}"


def mixing_error(op: str, engine: str, other: Any) -> TypeError:
    """``engine``'s tensor met ``other``, a tensor of another engine (or library): torch's
    device error, in spirit."""
    return TypeError(f"{op}: expected all tensors on one engine, got {engine} and "
                     f"{engine_of(other)} (convert one with .numpy() first)")


def operand_error(op: str, other: Any) -> TypeError:
    return TypeError(f"{op}: unsupported operand type for a Tensor op: {type(other).__name__}")


def domain_error(op: str, value: float, domain: str) -> ValueError:
    """``value`` lies outside where ``op`` is defined (``domain``: "> 0", ">= 0", ...)."""
    return ValueError(f"{op}: input contains {value!r}; {op} is only defined for values "
                      f"{domain}")


def negative_base_error(value: float, exponent: float, shape: tuple[int, ...]) -> ValueError:
    """``x ** c`` with a fractional ``c`` met a negative ``x`` (a complex number in Python)."""
    return ValueError(f"pow: {value} ** {exponent}: a negative base needs an integer exponent "
                      f"(tensor of shape {tuple(shape)})")


def item_error(shape: tuple[int, ...]) -> ValueError:
    return ValueError(f"item() needs a tensor with one element, got shape {tuple(shape)}")


def bool_error(shape: tuple[int, ...]) -> RuntimeError:
    return RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                        f"(shape {tuple(shape)})")


def shape_mismatch(op: str, what: str, got: tuple[int, ...], want: tuple[int, ...]
                   ) -> ValueError:
    """``what`` (a value, a grad) given to ``op`` has shape ``got``, the tensor ``want``."""
    return ValueError(f"{op}: {what} of shape {tuple(got)} does not match tensor shape "
                      f"{tuple(want)}")


def index_error(err: IndexError) -> IndexError:
    """numpy's and torch's out-of-range messages in one wording (torch's)."""
    return IndexError(str(err).replace(" for axis ", " for dimension "))


def implicit_grad_error(shape: tuple[int, ...]) -> RuntimeError:
    return RuntimeError("grad can be implicitly created only for scalar outputs "
                        f"(got shape {tuple(shape)})")


def used_by_graph_error(op: str, shape: tuple[int, ...]) -> RuntimeError:
    return RuntimeError(
        f"{op}: an in-place operation on a tensor that a recorded graph already uses "
        f"(shape {tuple(shape)}) would change that graph's history; use the out-of-place "
        "form (x = x + y) or detach() first")


def view_inplace_error(op: str, shape: tuple[int, ...]) -> RuntimeError:
    return RuntimeError(
        f"{op}: an in-place operation on a view (shape {tuple(shape)}) of a tensor that "
        "requires grad is not supported: torch would rewrite the base tensor's history too. "
        "Use the out-of-place form, or clone() the view first")


def overwritten_error(shape: tuple[int, ...]) -> RuntimeError:
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: a tensor of shape {tuple(shape)} was written after the graph "
        "read it. Do the in-place update after backward(), or use an out-of-place op.")


INDEX_DTYPE = "tensors used as indices must be long (int64) or bool tensors"
BOOL_SUB = ("sub: subtraction of two bool tensors is not supported (torch refuses it too); "
            "use ^ or logical_xor")
BOOL_NEG = "neg: negation of a bool tensor is not supported; use ~ or logical_not"
NEGATIVE_INT_POWER = "pow: integers to negative integer powers are not allowed"


def float_only_error(op: str, dtype: Any) -> RuntimeError:
    """``op`` is defined for float tensors only (torch: "could not infer output dtype")."""
    return RuntimeError(f"{op}(): input dtype must be float32 or float64, got {dtype}; "
                        f"convert with .float() or .double() first")


def bool_refused(op: str) -> TypeError:
    """``op`` (relu, abs, ...) of a bool tensor: torch refuses it too."""
    return TypeError(f"{op}: not supported for bool tensors (torch refuses too); convert with "
                     ".long() or .float() first")
