"""Make `import shared_nn` mean the library, not this test folder.

pytest puts `tests/` on sys.path (tests/conftest.py has no package), so under a bare `pytest`
(which, unlike `python -m pytest`, does not add the repository root) `shared_nn` would resolve
to this folder as a namespace package before the editable install's finder is asked.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
_cached = sys.modules.get("shared_nn")
if _cached is not None and getattr(_cached, "__file__", None) is None:  # the namespace stand-in
    for name in [m for m in sys.modules if m == "shared_nn" or m.startswith("shared_nn.")]:
        del sys.modules[name]
