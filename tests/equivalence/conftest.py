"""Mark every test in this folder ``equivalence`` (so ``pytest -m equivalence`` selects it).

This folder is a package (it has ``__init__.py``), so its helpers import as
``equivalence.checker`` and cannot collide with other folders' modules. That makes pytest put
``tests/`` on ``sys.path``, where ``tests/tensor_engine/`` could pass for the real package;
pyproject's ``pythonpath = ["."]`` puts the repository root there too, and Python prefers a
regular package anywhere on the path over such a namespace folder.
"""

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the marker to the items collected from this folder (and only those)."""
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.equivalence)
