"""engine_api: the contract every dualgrad engine implements, written once.

dualgrad has three engines behind one interface: ``scalar_engine`` (a graph node per number),
``tensor_engine`` (a graph node per numpy array) and ``torch_engine`` (PyTorch itself, the
reference). What they share lives here, below all of them, and imports none of them:

* :mod:`engine_api.rules` - how arguments are read (dims, dtypes, shapes and ``view(-1)``,
  clamp bounds, ``var``'s correction, ``to(...)``) and the one message each misuse gets;
* :mod:`engine_api.dtypes` - the four dtypes (float32, float64, int64, bool) and the default
  float dtype; which dtype a tensor or a result gets is in ``rules`` (torch's inference and
  promotion);
* :mod:`engine_api.random` - the one seeded generator random tensor ops draw from;
* :mod:`engine_api.errors` - the messages of the misuses that an engine detects itself
  (shapes that do not broadcast or multiply, autograd misuse, values outside a domain);
* :mod:`engine_api.grad_mode` - the per-thread grad-mode switch, one instance per engine;
* :mod:`engine_api.protocol` - what an engine must provide (its primitives), as
  ``typing.Protocol`` classes;
* :mod:`engine_api.derived` - the Tensor methods composed from those primitives, written once
  for every engine (``pow``, ``view``, ``flatten``, ``to``, the in-place operators ...).

An engine implements primitives; everything derivable is written once, so the same misuse
reads the same on every engine (``tests/engine_api/test_misuse_table.py`` holds them to it).
"""

from . import dtypes, errors, random, rules
from .derived import TensorMethods
from .grad_mode import GradMode
from .protocol import ENGINE_NAMES, EngineModule, EngineTensor

__all__ = ["ENGINE_NAMES", "EngineModule", "EngineTensor", "GradMode", "TensorMethods", "dtypes",
           "errors", "random", "rules"]
