"""Where :mod:`shared_nn.optional` used to live; only ``shared_nn.viz`` still imports it here.

Delete this file once ``shared_nn/viz.py`` imports ``from .optional import optional_import``.
"""

from .optional import INSTALL_HINT, optional_import

__all__ = ["INSTALL_HINT", "optional_import"]
