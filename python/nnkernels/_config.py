"""ISA level and thread settings."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator

import numpy as np

from . import _core

_MAX_THREADS = 2**31 - 1  # the kernels' int


def _check_count(fn: str, n, least: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{fn}: n must be an integer, got {n!r}")
    if n < least:
        kind = "non-negative" if least == 0 else "positive"
        raise ValueError(f"{fn}: n must be a {kind} integer, got {n!r}")
    if n > _MAX_THREADS:
        raise ValueError(f"{fn}: n must be at most {_MAX_THREADS}, got {n!r}")


def isa() -> str:
    """The ISA level whose kernels run: ``"baseline"``, ``"avx2"`` or ``"avx512"``.

    The best level the CPU supports is picked at import; the environment variable
    ``NNKERNELS_ISA`` forces one.
    """
    return _core.isa()


def get_num_threads() -> int:
    """Threads a kernel call from this Python thread may use.

    A ``threads`` block of this Python thread wins, then ``set_num_threads``, then OpenMP's
    default; OpenMP's limit for this thread caps them all (``OMP_NUM_THREADS``, else the core
    count, lowered by threadpoolctl's ``threadpool_limits``; per OS thread, as libgomp keeps it).
    """
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the threads every kernel call may use, from any Python thread; 0 restores the default.

    A ``threads`` block in progress keeps its count for its own thread.
    """
    _check_count("set_num_threads", n, 0)
    _core.set_num_threads(int(n))


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Context manager: kernel calls from this Python thread use ``n`` threads inside the block
    (other Python threads keep their setting), the previous setting after."""
    _check_count("threads", n, 1)
    previous = _core.swap_block_threads(int(n))
    try:
        yield
    finally:
        _core.swap_block_threads(previous)


def show_config(print_out: bool = True) -> dict:
    """Report the ISA level, OpenMP threads, the cache size behind non-temporal stores, compiler
    and flags; printed and returned as a dict."""
    levels = _core.ISA_LEVELS.split(",")
    config = {
        "version": __import__("nnkernels").__version__,
        "isa": _core.isa(),
        "best_isa": _core.best_isa(),
        "isa_levels_built": levels,
        "isa_levels_supported": [lv for lv in levels if _core.isa_supported(lv)],
        "threads": _core.get_num_threads(),
        "threads_requested": _core.requested_threads() or "default",
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "last_level_cache_bytes": _core.last_level_cache_bytes(),
        "streaming_threshold_bytes": _core.streaming_threshold(),
        "openmp": _core.OPENMP,
        "compiler": _core.COMPILER,
        "flags": _core.FLAGS,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__,
    }
    if print_out:
        width = max(map(len, config))
        for key, value in config.items():
            print(f"{key:<{width}} : {value}")
    return config
