"""Mark every test in this folder ``equivalence`` (so ``pytest -m equivalence`` selects it).

This folder is a package (it has ``__init__.py``, so its helpers import as
``equivalence.checker`` and cannot collide with other folders' modules), which makes pytest
put ``tests/`` on ``sys.path``. ``tests/tensor_engine/`` and ``tests/shared_nn/`` have no
``__init__.py``; without the repository root also on ``sys.path``, ``import tensor_engine``
would find those folders as empty namespace packages before the editable install's finder
runs. Python prefers a regular package anywhere on the path over a namespace portion, so
adding the root is enough (``python -m pytest`` from the root already does this).
"""

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
_ROOT = _HERE.parent.parent
if str(_ROOT) not in sys.path:
    sys.path.append(str(_ROOT))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the marker to the items collected from this folder (and only those)."""
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.equivalence)
