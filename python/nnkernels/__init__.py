"""nnkernels: SIMD/OpenMP C++ kernels for neural-network building blocks over NumPy arrays.

Activations (``nnkernels.sigmoid``, ``nnkernels.gelu_backward``, ...) live at the top level and in
:mod:`nnkernels.activations`. See ``show_config()`` for the ISA level and threads in use.
"""

from __future__ import annotations

import os as _os

from . import _core

_forced_isa = _os.environ.get("NNKERNELS_ISA", "").strip()
if _forced_isa:
    try:
        _core.select_isa(_forced_isa)
    except ValueError as e:
        raise ImportError(f"NNKERNELS_ISA={_forced_isa!r}: {e}") from None

from . import activations, losses, nn, optim  # noqa: E402
from ._config import get_num_threads, isa, set_num_threads, show_config, threads  # noqa: E402
from .activations import *  # noqa: E402,F403
from .activations import __all__ as _activation_names  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "activations",
    "nn",
    "optim",
    "get_num_threads",
    "isa",
    "losses",
    "set_num_threads",
    "show_config",
    "threads",
    *_activation_names,
]
