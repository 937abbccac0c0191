"""Random programs (see :mod:`programs`): every leaf gradient agrees on all backends."""

from __future__ import annotations

from hypothesis import given, note, settings
from hypothesis import strategies as st

from . import strategies as S
from .checker import WITH_FUSED, check
from .programs import Program, programs

# The most valuable property of the suite: four times the profile's example count.
MORE = settings(max_examples=settings.default.max_examples * 4)


@MORE
@given(program=programs(), data=st.data())
def test_random_program(program: Program, data: st.DataObject) -> None:
    leaves = [data.draw(S.arrays(shape), label=f"n{i}") for i, shape in
              enumerate(program.leaf_shapes)]
    note(repr(program))
    check(program, *leaves, backends=WITH_FUSED)
