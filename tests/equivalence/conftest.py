"""Mark every test in this folder ``equivalence`` (so ``pytest -m equivalence`` selects it)."""

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the marker to the items collected from this folder (and only those)."""
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.equivalence)
