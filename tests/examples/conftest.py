"""The examples are scripts, not a package: put their folder on sys.path so tests can import
``mlp``, ``rnn``, ``compare`` and ``_cli`` and call their ``main`` functions directly."""

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
