"""nnkernels.nn: a small, fast trainer for NumPy data on the fused kernels.

``Sequential([Dense(64, "relu"), Dropout(0.1), Dense(10)], loss="cross_entropy", rng=0)`` with
``fit``, ``evaluate``, ``predict``, ``predict_proba``, ``save`` / :func:`load`, callbacks
(:class:`EarlyStopping`). The scikit-learn estimators are in :mod:`nnkernels.nn.sklearn` (imported
only when used, so ``import nnkernels`` never imports scikit-learn). The fused kernels as
functions: :mod:`nnkernels.nn.functional`.
"""

from __future__ import annotations

from . import functional
from .layers import *  # noqa: F403
from .layers import __all__ as _layer_names
from .model import LOSSES, Callback, EarlyStopping, Sequential, load

__all__ = [*_layer_names, "Sequential", "Callback", "EarlyStopping", "load", "LOSSES", "functional"]


def __getattr__(name):
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'nnkernels.nn' has no attribute {name!r}")
