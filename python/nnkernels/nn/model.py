"""Sequential: a stack of layers trained on NumPy arrays with a fused output loss.

The last layer yields logits (or values); the loss fuses the output nonlinearity:
``"cross_entropy"`` (softmax + cross-entropy, integer or any hashable labels),
``"binary_cross_entropy"`` (sigmoid + binary cross-entropy: binary labels with one output, or a
0/1 matrix for multi-label), or a regression loss of :mod:`nnkernels.losses` (``"mse"``,
``"mae"``, ``"huber"``, ``"smooth_l1"``, ``"log_cosh"``). One optimizer step over every parameter
array per batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import zipfile
from typing import Any

import numpy as np

from .._config import threads as nk_threads
from .backend import OPTIMIZERS
from .backend import backend as make_backend
from .layers import LAYERS, Dense, Layer, LogSoftmax, Softmax, regularizer

__all__ = ["Sequential", "Callback", "EarlyStopping", "load", "LOSSES"]

CLASSIFICATION = ("cross_entropy", "binary_cross_entropy")
REGRESSION = ("mse", "mae", "huber", "smooth_l1", "log_cosh")
LOSSES = CLASSIFICATION + REGRESSION


# ---- callbacks --------------------------------------------------------------------------------


class Callback:
    """Hooks into ``fit``; set ``model.stop_training = True`` to stop after this epoch."""

    def check(self, model, log_keys: tuple[str, ...]) -> None:
        """Called by ``fit`` before any training with the keys the epoch logs will have: raise
        here for a configuration this fit cannot satisfy, so that nothing is trained."""

    def on_train_begin(self, model) -> None:
        pass

    def on_epoch_end(self, model, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, model) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: ``"val_loss"`` (default), ``"val_accuracy"``, ``"loss"``, ...
    patience : int
        Epochs without improvement before stopping (0 acts as 1).
    min_delta : float
        The smallest change that counts as an improvement.
    mode : {'auto', 'min', 'max'}
        Whether smaller is better; ``auto``: larger for accuracies, smaller otherwise.
    restore_best_weights : bool
        At the end of training, put back the weights of the best epoch.
    """

    def __init__(
        self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False
    ):
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a str, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if (
            isinstance(patience, bool)
            or not isinstance(patience, (int, np.integer))
            or patience < 0
        ):
            raise ValueError(f"EarlyStopping: patience must be an integer >= 0, got {patience!r}")
        if not _is_real(min_delta):
            raise TypeError(f"EarlyStopping: min_delta must be a real number, got {min_delta!r}")
        if math.isnan(min_delta):
            raise ValueError("EarlyStopping: min_delta must not be NaN")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode
        self.on_train_begin(None)  # best, wait, stopped_epoch, ... readable before any fit

    def on_train_begin(self, model):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.best_weights, self.wait, self.stopped_epoch = None, None, 0, None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def check(self, model, log_keys):
        if self.monitor not in log_keys:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not produce "
                f"(it has {', '.join(log_keys)}); pass validation_data or validation_split for "
                "val_*"
            )

    def on_epoch_end(self, model, epoch, logs):
        self.check(model, tuple(logs))
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = model.get_weights()
            return
        self.wait += 1
        if self.wait >= max(1, self.patience):
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_weights is not None:
            model.set_weights(self.best_weights)


# ---- progress ---------------------------------------------------------------------------------


class _Progress:
    """tqdm bar over the epochs (verbose=1, when tqdm is installed), else a line per epoch."""

    def __init__(self, epochs: int, verbose: int):
        self.verbose, self.bar = verbose, None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, leave=True)
            except ImportError:
                pass
        self.epochs = epochs

    def update(self, epoch: int, logs: dict, seconds: float):
        text = {k: f"{v:.4g}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(text, refresh=False)
            self.bar.update(1)
        elif self.verbose:
            items = " - ".join(f"{k}: {v}" for k, v in text.items())
            print(f"epoch {epoch + 1}/{self.epochs} - {seconds:.3f}s - {items}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---- input checks -----------------------------------------------------------------------------


def _is_real(v) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(
        v, (int, float, np.integer, np.floating)
    )


def _as_array(name: str, a) -> np.ndarray:
    if a is None:
        raise TypeError(f"{name} is None")
    try:
        return np.asarray(a)
    except (TypeError, ValueError):
        raise TypeError(f"{name} cannot be converted to an array (ragged?)") from None


def _check_X(X, dtype, n_features=None) -> np.ndarray:
    X = _as_array("X", X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X has dtype {X.dtype}; expected a real numeric array")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got {X.ndim}-D shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the model was fitted with {n_features} features"
        )
    with np.errstate(over="ignore"):  # values beyond float32's range: refused below
        converted = np.ascontiguousarray(X, dtype=dtype)
    # A NaN or inf makes the float64 sum non-finite; finite values overflow it only near
    # float64's range, where the exact (slower, allocating) check decides.
    if X.dtype.kind == "f" and not (
        np.isfinite(np.sum(converted, dtype=np.float64)) or np.isfinite(converted).all()
    ):
        row = int(np.flatnonzero(~np.isfinite(converted).all(axis=1))[0])
        if np.isfinite(X[row]).all():
            raise ValueError(f"X has values too large for {np.dtype(dtype)} (first at row {row})")
        raise ValueError(f"X contains NaN or infinity (first at row {row})")
    return converted


def _check_batch_size(batch_size) -> int:
    if (
        isinstance(batch_size, (bool, np.bool_))
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    return int(batch_size)


def _check_lengths(X, y):
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: {len(X)} samples but {len(y)} targets")


class Sequential:
    """A trainable stack of layers.

    Parameters
    ----------
    layers : list of Layer
        The last layer yields logits (classification) or values (regression).
    loss : str
        ``"cross_entropy"`` (default), ``"binary_cross_entropy"``, ``"mse"``, ``"mae"``,
        ``"huber"``, ``"smooth_l1"``, ``"log_cosh"``.
    optimizer : str
        ``"adam"`` (default), ``"sgd"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"``,
        ``"adamax"``, ``"nadam"``, ``"radam"``, ``"lion"`` (:mod:`nnkernels.optim`).
    lr : float
        Learning rate.
    optimizer_options : dict, optional
        Further options of the optimizer (``momentum``, ``betas``, ``weight_decay``, ...).
    l1, l2 : float
        Default weight penalties of the Dense layers: ``l1 sum|W| + l2 / 2 sum(W^2)``.
    dtype : float32 (default) or float64
    backend : {'nnkernels', 'numpy'}
        The fused C++ kernels, or plain NumPy expressions (for comparison).
    threads : int, optional
        Threads for fit, evaluate and predict: nnkernels' and BLAS's (the latter through
        threadpoolctl, when installed). By default nnkernels' per-batch kernels run on one
        thread and BLAS on one thread while the largest product per batch is below 2^22
        multiply-adds, on its default count above; 0 leaves both libraries' defaults.
    rng : int or numpy.random.Generator, optional
        All randomness (initialisation, shuffling, dropout masks) comes from it: the same seed
        gives the same weights and the same history bit for bit (with one thread).
    """

    def __init__(
        self,
        layers,
        *,
        loss="cross_entropy",
        optimizer="adam",
        lr=1e-3,
        optimizer_options=None,
        l1=0.0,
        l2=0.0,
        dtype=np.float32,
        backend="nnkernels",
        threads=None,
        rng=None,
    ):
        try:
            layers = list(layers)
        except TypeError:
            layers = []
        if not layers or not all(isinstance(la, Layer) for la in layers):
            raise TypeError("layers must be a non-empty list of nnkernels.nn layers")
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss in CLASSIFICATION and isinstance(layers[-1], (Softmax, LogSoftmax)):
            raise ValueError(
                f"the {loss} loss applies the output nonlinearity itself: end with the logits "
                f"layer, not {type(layers[-1]).__name__}"
            )
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; one of {', '.join(OPTIMIZERS)}")
        if not _is_real(lr):
            raise TypeError(f"lr must be a real number, got {lr!r}")
        if optimizer_options is not None and not isinstance(optimizer_options, dict):
            raise TypeError(f"optimizer_options must be a dict, got {optimizer_options!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
            raise TypeError(f"threads must be a non-negative integer or None, got {threads!r}")
        if threads is not None and threads < 0:
            raise ValueError(f"threads must be a non-negative integer or None, got {threads!r}")
        try:
            self.rng = np.random.default_rng(rng)
        except (TypeError, ValueError) as e:
            raise type(e)(
                f"rng must be None, a non-negative integer seed or a numpy Generator, got {rng!r}"
            ) from None
        self.backend = make_backend(backend)
        self.layers = layers
        self.loss = loss
        self.optimizer_name = optimizer.lower()
        self.lr = float(lr)
        self.optimizer_options = dict(optimizer_options or {})
        self.l1, self.l2 = regularizer("l1", l1) or 0.0, regularizer("l2", l2) or 0.0
        self.dtype = np.dtype(np.dtype(dtype).type)  # the canonical dtype object
        # What build() and training will ask of the optimizer and the backend, checked now: a
        # refusal there would leave a half-built model behind.
        OPTIMIZERS[self.optimizer_name](
            [np.zeros(1, self.dtype)], lr=self.lr, **self.optimizer_options
        )
        self.backend.check(layers, loss, self.optimizer_name, self.optimizer_options)
        self.threads = threads
        self._batch_buffers: dict = {}
        self.built = False
        self.history: dict[str, list[float]] = {}
        self.stop_training = False
        self.classes_: Any = None  # class labels (any sortable dtype) once fitted
        self.n_features_in_ = None

    # ---- structure ----

    @property
    def is_classifier(self) -> bool:
        return self.loss in CLASSIFICATION

    @property
    def params(self) -> list[np.ndarray]:
        return [p for la in self.layers for p in la.params]

    @property
    def grads(self) -> list[np.ndarray]:
        return [g for la in self.layers for g in la.grads]

    def build(self, n_features: int) -> None:
        """Create every layer's parameters for ``n_features`` inputs, and the optimizer."""
        width = n_features
        for layer in self.layers:
            rng = np.random.default_rng(self.rng.integers(0, 2**63))
            if isinstance(layer, Dense):
                width = layer.build(width, self.dtype, rng, self.backend, l1=self.l1, l2=self.l2)
            else:
                width = layer.build(width, self.dtype, rng, self.backend)
        self.out_width = width
        self.n_features_in_ = n_features
        self.optimizer = self.backend.optimizer(
            self.optimizer_name, self.params, lr=self.lr, **self.optimizer_options
        )
        self.built = True

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter array, in layer order."""
        return [p.copy() for p in self.params]

    def set_weights(self, weights) -> None:
        """Copy arrays into the parameters (shapes must match; checked before any change)."""
        self._require_fitted()
        params = self.params
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"weights must be a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(params):
            raise ValueError(f"got {len(weights)} arrays for {len(params)} parameters")
        arrays = [_as_array(f"weights[{i}]", w) for i, w in enumerate(weights)]
        for i, (w, p) in enumerate(zip(arrays, params)):
            if w.dtype.kind not in "biuf":
                raise TypeError(f"weights[{i}] has dtype {w.dtype}; expected a real numeric array")
            if w.shape != p.shape:
                raise ValueError(f"weights[{i}] has shape {w.shape}; expected {p.shape}")
        for w, p in zip(arrays, params):
            p[...] = w

    def __getstate__(self):
        return {**self.__dict__, "_batch_buffers": {}}

    def __setstate__(self, state):
        """Unpickled arrays may be read-only (joblib memory maps): take writeable copies, shared
        between the layers and the optimizer as before."""
        self.__dict__.update(state)
        copies: dict[int, np.ndarray] = {}

        def own(a):
            if isinstance(a, list):
                return [own(x) for x in a]
            if isinstance(a, dict):
                return {k: own(v) for k, v in a.items()}
            if isinstance(a, np.ndarray):
                return copies.setdefault(id(a), np.array(a))
            return a

        for layer in self.layers:
            layer.params, layer.grads = own(layer.params), own(layer.grads)
        opt = self.__dict__.get("optimizer")
        if opt is not None:
            for name, value in vars(opt).items():
                if isinstance(value, (list, dict)):
                    object.__setattr__(opt, name, own(value))

    # ---- targets ----

    def _encode(self, y, fitting: bool):
        """Targets as the loss wants them: class indices (int64), a 0/1 float matrix, or values."""
        y = np.asarray(y)
        if self.loss == "cross_entropy" or (self.loss == "binary_cross_entropy" and y.ndim == 1):
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D class labels, got shape {y.shape}")
            if y.dtype.kind in "cV":
                raise TypeError(f"y has dtype {y.dtype}; class labels must be sortable values")
            if y.dtype.kind == "f" and not np.isfinite(y).all():
                raise ValueError("y contains NaN or infinity")
            try:
                if self.classes_ is None:
                    if not fitting:
                        raise RuntimeError("the model is not fitted yet: call fit first")
                    classes = np.unique(y)
                else:
                    classes = self.classes_
                idx = np.searchsorted(classes, y)
            except TypeError as e:
                raise TypeError(f"y has class labels that cannot be sorted together: {e}") from None
            idx = np.clip(idx, 0, len(classes) - 1)
            unseen = classes[idx] != y
            if unseen.any():
                bad = np.unique(y[unseen])[:5]
                raise ValueError(
                    f"y contains labels not seen at fit time: {bad.tolist()} (known classes: "
                    f"{classes.tolist()[:20]})"
                )
            if self.loss == "binary_cross_entropy":
                if len(classes) > 2:
                    raise ValueError(
                        f"binary_cross_entropy needs 2 classes, y has {len(classes)}; use "
                        "cross_entropy"
                    )
                return classes, idx.astype(self.dtype).reshape(-1, 1)
            return classes, idx.astype(np.int64)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y has dtype {y.dtype}; expected numbers")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self.dtype)
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        if self.loss == "binary_cross_entropy" and not np.isin(y, (0, 1)).all():
            raise ValueError("multi-label binary_cross_entropy targets must be 0 or 1")
        return None, y

    def _check_width(self, classes, y_enc, n_features):
        width = n_features
        for layer in self.layers:
            width = layer.out_features(width)
        want = len(classes) if self.loss == "cross_entropy" else y_enc.shape[1]
        if width != want:
            what = "classes" if self.loss == "cross_entropy" else "target columns"
            raise ValueError(f"the last layer has {width} outputs but y has {want} {what}")

    def _prepare(self, X, y, fitting: bool):
        """Validated (X, encoded y, classes); nothing of the model changes."""
        X = _check_X(X, self.dtype, self.n_features_in_ if self.built else None)
        y_arr = _as_array("y", y)
        if y_arr.ndim == 0:
            raise ValueError(f"y must be an array of targets, got the scalar {y!r}")
        _check_lengths(X, y_arr)
        if len(X) == 0:
            raise ValueError("X has 0 samples")
        classes, y_enc = self._encode(y_arr, fitting)
        return X, y_enc, classes

    # ---- forward / backward ----

    def _forward(self, x, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def _backward(self, g) -> None:
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(g, need_dx=i > 0)

    def _penalty(self) -> float:
        return sum(la.penalty() for la in self.layers)

    def _loss_grad(self, out, target):
        grad = self.layers[-1].buffer("dloss", out.shape)
        loss, grad = self.backend.loss(self.loss, out, target, grad)
        return float(loss), grad

    def loss_and_grads(self, X, y, training: bool = False) -> tuple[float, list[np.ndarray]]:
        """The loss (with penalties) on (X, y) and its gradient for every parameter (copies),
        from one forward and one backward pass. For gradient checks and custom loops."""
        X, y_enc, classes = self._prepare(X, y, fitting=not self.built)
        if not self.built:
            self._check_width(classes, y_enc, X.shape[1])
            self.classes_ = classes
            self.build(X.shape[1])
        with self._thread_limit(len(X)):
            out = self._forward(X, training)
            loss, grad = self._loss_grad(out, y_enc)
            self._backward(grad)
        return loss + self._penalty(), [g.copy() for g in self.grads]

    # By default the matrix products carry the parallelism and nnkernels' per-batch kernels run
    # on the calling thread: OpenMP workers that spin after each kernel take the cores BLAS's
    # own threads need (MNIST-shaped, 128 x 784 x 256 per batch, 2 cores: 0.69 s per epoch all
    # on one thread, 4.1 s with both pools on two, 0.45 s with BLAS alone on two). Below this
    # many multiply-adds in the largest product per batch, BLAS runs on one thread too: its
    # barriers then cost more than they save (784 x 64 at batch 64: 0.09 s one thread, 0.22 s
    # two; 784 x 256 at batch 32: 1.02 s and 0.82 s).
    SMALL_WORK = 1 << 22

    def _thread_limit(self, batch_size: int):
        """The context fit, evaluate and predict run in: ``threads`` threads for nnkernels and
        BLAS (through threadpoolctl when it is installed), or the default rule above."""
        nk_limit = blas_limit = self.threads
        if self.threads is None:
            widths = [int(self.n_features_in_ or 0)] + [
                la.units for la in self.layers if isinstance(la, Dense)
            ]
            biggest = max(a * b for a, b in zip(widths, widths[1:])) if len(widths) > 1 else 0
            nk_limit = 1
            blas_limit = 1 if batch_size * biggest < self.SMALL_WORK else 0
        stack = contextlib.ExitStack()
        if nk_limit:
            stack.enter_context(nk_threads(nk_limit))
        if blas_limit:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                return stack
            stack.enter_context(threadpool_limits(limits=blas_limit, user_api="blas"))
        return stack

    def _batches(self, n: int, batch_size: int, order=None):
        for start in range(0, n, batch_size):
            yield (
                slice(start, min(n, start + batch_size))
                if order is None
                else order[start : start + batch_size]
            )

    def _take(self, name: str, a: np.ndarray, idx) -> np.ndarray:
        """a[idx] into a reused buffer (one per name, shape and dtype)."""
        if isinstance(idx, slice):
            return a[idx]
        key = (name, (len(idx),) + a.shape[1:], a.dtype)
        buf = self._batch_buffers.get(key)
        if buf is None:
            buf = self._batch_buffers[key] = np.empty(key[1], a.dtype)
        return np.take(a, idx, axis=0, out=buf)

    # ---- public API ----

    def fit(
        self,
        X,
        y,
        epochs=10,
        batch_size=32,
        shuffle=True,
        validation_data=None,
        validation_split=0.0,
        callbacks=(),
        verbose=1,
    ):
        """Train on (X, y).

        Parameters
        ----------
        X : array_like, shape (samples, features)
        y : array_like
            Class labels (any sortable values) for classification, values for regression.
        epochs : int
        batch_size : int or None
            Samples per gradient step: ``len(X)`` (or None) is batch gradient descent, 1 is
            stochastic gradient descent.
        shuffle : bool
            Shuffle the training samples every epoch (from the model's rng).
        validation_data : (X_val, y_val), optional
        validation_split : float
            Fraction of the samples (the last ones, before shuffling) held out for validation.
        callbacks : list of Callback
            For example :class:`EarlyStopping`.
        verbose : int
            0 silent, 1 a progress bar (tqdm, when installed), 2 a line per epoch.

        Returns
        -------
        dict
            ``history``: per-epoch lists of ``loss``, ``accuracy`` (classification) and their
            ``val_`` counterparts. Training continues from the current weights on a second call.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if not _is_real(validation_split):
            raise TypeError(f"validation_split must be a real number, got {validation_split!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose < 0:
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        callbacks = list(callbacks or ())
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks[{i}] must be an nnkernels.nn.Callback, got {type(cb).__name__}"
                )
        X, y_enc, classes = self._prepare(X, y, fitting=True)
        n = len(X)
        val = None
        if validation_split:
            n_val = int(math.floor(n * float(validation_split)))
            if n_val < 1 or n_val >= n:
                raise ValueError(
                    f"validation_split={validation_split} of {n} samples leaves no validation "
                    "or no training samples"
                )
            val = (X[n - n_val :], y_enc[n - n_val :])
            X, y_enc, n = X[: n - n_val], y_enc[: n - n_val], n - n_val
        elif validation_data is not None:
            try:
                Xv, yv = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, y_val)") from None
            Xv = _check_X(Xv, self.dtype, X.shape[1])
            yv = _as_array("y of validation_data", yv)
            _check_lengths(Xv, yv)
            if self.classes_ is None and classes is not None:
                saved, self.classes_ = self.classes_, classes
                try:
                    _, yv_enc = self._encode(yv, fitting=False)
                finally:
                    self.classes_ = saved
            else:
                _, yv_enc = self._encode(yv, fitting=False)
            val = (Xv, yv_enc)
        batch_size = min(_check_batch_size(n if batch_size is None else batch_size), n)
        self._check_width(self.classes_ if self.built else classes, y_enc, X.shape[1])
        log_keys: tuple[str, ...] = ("loss", "accuracy") if self.is_classifier else ("loss",)
        if val is not None:
            log_keys += tuple("val_" + k for k in log_keys)
        for cb in callbacks:
            cb.check(self, log_keys)
        if not self.built:
            self.classes_ = classes
            self.build(X.shape[1])

        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin(self)
        progress = _Progress(int(epochs), int(verbose))
        start_epoch = len(self.history.get("loss", []))
        with self._thread_limit(batch_size):
            self._fit_epochs(
                X, y_enc, val, int(epochs), batch_size, shuffle, callbacks, progress, start_epoch
            )
        for cb in callbacks:
            cb.on_train_end(self)
        return self.history

    def _fit_epochs(
        self, X, y_enc, val, epochs, batch_size, shuffle, callbacks, progress, start_epoch
    ):
        try:
            for epoch in range(epochs):
                t0 = time.perf_counter()
                logs = self._train_epoch(X, y_enc, batch_size, shuffle)
                if val is not None:
                    for k, v in self._evaluate_encoded(*val).items():
                        logs["val_" + k] = v
                seconds = time.perf_counter() - t0
                for k, v in logs.items():
                    self.history.setdefault(k, []).append(v)
                self.history.setdefault("epoch_time", []).append(seconds)
                progress.update(epoch, logs, seconds)  # "epoch k/epochs" of this call
                for cb in callbacks:
                    cb.on_epoch_end(self, start_epoch + epoch, logs)
                if self.stop_training:
                    break
        finally:
            progress.close()

    def _train_epoch(self, X, y_enc, batch_size, shuffle) -> dict:
        n = len(X)
        order = self.rng.permutation(n) if shuffle else None
        total, correct = 0.0, 0
        for idx in self._batches(n, batch_size, order):
            xb = self._take("xb", X, idx)
            yb = self._take("yb", y_enc, idx)
            out = self._forward(xb, True)
            if self.is_classifier:
                correct += self._correct(out, yb)
            loss, grad = self._loss_grad(out, yb)
            total += (loss + self._penalty()) * len(xb)
            self._backward(grad)
            self.optimizer.step(self.grads)
        logs = {"loss": total / n}
        if self.is_classifier:
            logs["accuracy"] = correct / (n * (1 if y_enc.ndim == 1 else y_enc.shape[1]))
        return logs

    def _correct(self, out, y_enc) -> int:
        if self.loss == "cross_entropy":
            return int(np.count_nonzero(out.argmax(axis=1) == y_enc))
        return int(np.count_nonzero((out > 0) == (y_enc > 0.5)))

    def _outputs(self, X, batch_size=1024) -> np.ndarray:
        batch_size = _check_batch_size(batch_size)
        with self._thread_limit(min(batch_size, len(X))):
            outs = [self._forward(X[s], False).copy() for s in self._batches(len(X), batch_size)]
        return np.concatenate(outs) if outs else np.empty((0, self.out_width), self.dtype)

    def _evaluate_encoded(self, X, y_enc, batch_size=1024) -> dict:
        total, correct = 0.0, 0
        for s in self._batches(len(X), batch_size):
            out = self._forward(X[s], False)
            if self.is_classifier:
                correct += self._correct(out, y_enc[s])
            loss, _ = self._loss_grad(out, y_enc[s])
            total += loss * len(out)
        logs = {"loss": total / len(X) + self._penalty()}
        if self.is_classifier:
            logs["accuracy"] = correct / (len(X) * (1 if y_enc.ndim == 1 else y_enc.shape[1]))
        return logs

    def _require_fitted(self):
        if not self.built:
            raise RuntimeError("the model is not fitted yet: call fit first")

    def evaluate(self, X, y, batch_size=1024) -> dict:
        """Loss (with penalties) and, for classifiers, accuracy on (X, y)."""
        self._require_fitted()
        batch_size = _check_batch_size(batch_size)
        X, y_enc, _ = self._prepare(X, y, fitting=False)
        with self._thread_limit(min(batch_size, len(X))):
            return self._evaluate_encoded(X, y_enc, batch_size)

    def decision_function(self, X, batch_size=1024) -> np.ndarray:
        """The last layer's outputs (logits for classifiers)."""
        self._require_fitted()
        return self._outputs(_check_X(X, self.dtype, self.n_features_in_), batch_size)

    def predict_proba(self, X, batch_size=1024) -> np.ndarray:
        """Class probabilities: softmax (cross_entropy) or sigmoid (binary: two columns)."""
        if not self.is_classifier:
            raise AttributeError("predict_proba needs a classification loss")
        logits = self.decision_function(X, batch_size).astype(np.float64)
        if self.loss == "cross_entropy":
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            return e / e.sum(axis=1, keepdims=True)
        p = 0.5 * (1 + np.tanh(0.5 * logits))
        return np.hstack([1 - p, p]) if self.classes_ is not None else p

    def predict(self, X, batch_size=1024) -> np.ndarray:
        """Class labels for classifiers, values for regression."""
        out = self.decision_function(X, batch_size)
        if self.loss == "cross_entropy":
            return self.classes_[out.argmax(axis=1)]
        if self.loss == "binary_cross_entropy":
            if self.classes_ is not None:
                return self.classes_[(out[:, 0] > 0).astype(np.int64)]
            return (out > 0).astype(np.int64)
        return out

    # ---- save / load ----

    def config(self) -> dict:
        return {
            "format": "nnkernels.nn.Sequential/1",
            "layers": [{"type": type(la).__name__, **la.config()} for la in self.layers],
            "loss": self.loss,
            "optimizer": self.optimizer_name,
            "lr": self.lr,
            "optimizer_options": self.optimizer_options,
            "l1": self.l1,
            "l2": self.l2,
            "dtype": self.dtype.name,
            "backend": self.backend.name,
            "n_features_in": self.n_features_in_,
        }

    def save(self, path) -> None:
        """Architecture, weights and classes in one ``.npz`` (no pickle)."""
        self._require_fitted()
        arrays: dict[str, Any] = {f"param_{i}": p for i, p in enumerate(self.params)}
        if self.classes_ is not None:
            if self.classes_.dtype.kind not in "biufUS":
                raise TypeError(f"cannot save class labels of dtype {self.classes_.dtype}")
            arrays["classes"] = self.classes_
        arrays["config"] = np.array(json.dumps(self.config()))
        np.savez(path, **arrays)

    def __repr__(self):
        inner = ",\n    ".join(repr(la) for la in self.layers)
        return (
            f"Sequential([\n    {inner}\n], loss={self.loss!r}, optimizer={self.optimizer_name!r})"
        )


def load(path) -> Sequential:
    """A model saved by :meth:`Sequential.save`, ready to predict or train further.

    FileNotFoundError for a missing file; ValueError naming the file for anything that is not
    an intact nnkernels.nn model file.
    """
    not_model = f"{path}: not an nnkernels.nn model file"
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{not_model} ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{not_model} (a .npy array, not an .npz archive)")
    with archive as data:
        try:
            return _from_archive(data)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{not_model} ({e})") from None


def _from_archive(data) -> Sequential:
    config = json.loads(str(data["config"]))
    if not isinstance(config, dict) or config.get("format") != "nnkernels.nn.Sequential/1":
        raise ValueError("no nnkernels.nn.Sequential/1 config")
    layers = []
    for lc in config["layers"]:
        lc = dict(lc)
        kind = lc.pop("type")
        cls = LAYERS.get(kind)
        if cls is None:
            raise ValueError(f"unknown layer type {kind!r}")
        layers.append(cls(**lc))
    model = Sequential(
        layers,
        loss=config["loss"],
        optimizer=config["optimizer"],
        lr=config["lr"],
        optimizer_options=config["optimizer_options"],
        l1=config["l1"],
        l2=config["l2"],
        dtype=config["dtype"],
        backend=config["backend"],
    )
    model.classes_ = data["classes"] if "classes" in data else None
    model.build(int(config["n_features_in"]))
    if model.loss == "cross_entropy" and model.classes_ is not None:
        model._check_width(model.classes_, None, model.n_features_in_)
    model.set_weights([data[f"param_{i}"] for i in range(len(model.params))])
    return model
