"""scikit-learn estimators on nnkernels.nn: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in counterparts of scikit-learn's estimators of the same names (the same parameter names and
defaults where the meaning is the same), trained by :class:`nnkernels.nn.Sequential` on the fused
kernels. They work in pipelines, ``cross_val_score`` and grid searches. Importing this module
imports scikit-learn (an optional extra: ``pip install "nnkernels[sklearn]"``); ``import
nnkernels`` does not.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .layers import Dense, Dropout, Layer
from .model import EarlyStopping, Sequential

__all__ = ["MLPClassifier", "MLPRegressor"]


class _MLP(BaseEstimator):
    _loss = ""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        dropout=0.0,
        backend="nnkernels",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.dropout = dropout
        self.backend = backend

    # ---- building ----

    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.isscalar(sizes) else list(sizes)
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
        return [int(s) for s in sizes]

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        return max(1, min(int(self.batch_size), n))

    def _new_model(self, n_outputs: int, n_samples: int) -> Sequential:
        if self.activation == "logistic":  # scikit-learn's name
            activation = "sigmoid"
        else:
            activation = self.activation
        layers: list[Layer] = []
        for size in self._hidden():
            layers.append(Dense(size, activation))
            if self.dropout:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(n_outputs))
        if self.solver == "adam":
            options = {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}
        elif self.solver == "sgd":
            options = {"momentum": self.momentum}
        else:
            options = {}
        return Sequential(
            layers,
            loss=self._loss,
            optimizer=self.solver,
            lr=self.learning_rate_init,
            optimizer_options=options,
            # scikit-learn's penalty: alpha / 2 ||W||^2 divided by the batch's sample count
            l2=self.alpha / self._batch(n_samples),
            dtype=self._dtype,
            backend=self.backend,
            rng=self.random_state,
        )

    def _train(self, X, y, epochs: int, incremental: bool):
        model = self.model_
        callbacks, fit_kw = [], {}
        if not incremental:
            if self.early_stopping:
                rng = np.random.default_rng(self.random_state)
                order = rng.permutation(len(X))
                n_val = max(1, int(round(self.validation_fraction * len(X))))
                if n_val >= len(X):
                    raise ValueError("validation_fraction leaves no training samples")
                val, train = order[:n_val], order[n_val:]
                fit_kw["validation_data"] = (X[val], y[val])
                X, y = X[train], y[train]
                monitor = "val_accuracy" if self._loss == "cross_entropy" else "val_loss"
                callbacks.append(
                    EarlyStopping(
                        monitor, self.n_iter_no_change, self.tol, restore_best_weights=True
                    )
                )
            elif self.tol is not None and self.n_iter_no_change:
                callbacks.append(EarlyStopping("loss", self.n_iter_no_change, self.tol))
        model.fit(
            X,
            y,
            epochs=epochs,
            batch_size=self._batch(len(X)),
            shuffle=self.shuffle,
            callbacks=callbacks,
            verbose=2 if self.verbose else 0,
            **fit_kw,
        )
        self.loss_curve_ = list(model.history["loss"])
        self.n_iter_ = len(self.loss_curve_)
        self.loss_ = self.loss_curve_[-1]
        return self

    @property
    def coefs_(self):
        return [la.params[0] for la in self.model_.layers if isinstance(la, Dense)]

    @property
    def intercepts_(self):
        return [la.params[1] for la in self.model_.layers if isinstance(la, Dense)]

    _KW = {"dtype": [np.float64, np.float32], "order": "C"}

    def _validate(self, X, y, reset=True):
        multi = self._loss != "cross_entropy"
        return validate_data(self, X, y, reset=reset, multi_output=multi, **self._KW)

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, **self._KW)
        return self.model_.decision_function(X.astype(self._dtype, copy=False))


class MLPClassifier(ClassifierMixin, _MLP):
    """Multi-layer perceptron classifier (softmax cross-entropy), trained on nnkernels.

    Parameters follow ``sklearn.neural_network.MLPClassifier``: ``hidden_layer_sizes``,
    ``activation`` (any elementwise nnkernels activation; ``"logistic"`` is sigmoid),
    ``solver`` (``"adam"``, ``"sgd"`` or any :mod:`nnkernels.optim` name), ``alpha`` (L2),
    ``batch_size``, ``learning_rate_init``, ``max_iter`` (epochs), ``shuffle``, ``random_state``,
    ``tol`` and ``n_iter_no_change`` (stop when the training loss stalls), ``early_stopping``
    with ``validation_fraction`` (stop on validation accuracy, keep the best weights),
    ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``; plus ``dropout`` (after every hidden
    layer) and ``backend`` (``"nnkernels"`` or ``"numpy"``). Fitted attributes: ``classes_``,
    ``n_features_in_``, ``loss_curve_``, ``n_iter_``, ``coefs_``, ``intercepts_``, ``model_``
    (the :class:`~nnkernels.nn.Sequential`).
    """

    _loss = "cross_entropy"

    def _encode(self, y):
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if (self.classes_[idx] != y).any():
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(f"y contains labels not seen at fit time: {unseen.tolist()[:5]}")
        return idx

    def _start(self, X, y, classes):
        self._dtype = X.dtype
        self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
        self.model_ = self._new_model(max(2, len(self.classes_)), len(X))
        self.model_.classes_ = np.arange(max(2, len(self.classes_)))

    def fit(self, X, y):
        """Train from scratch for up to ``max_iter`` epochs."""
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self._start(X, y, None)
        return self._train(X, self._encode(y), self.max_iter, False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current weights; ``classes`` (every label
        that will ever appear) is required on the first call."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._start(X, y, classes)
        return self._train(X, self._encode(y), 1, True)

    def predict_proba(self, X):
        """Class probabilities, shape (samples, classes)."""
        logits = self._outputs(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, : len(self.classes_)] if len(self.classes_) == 1 else p

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample."""
        scores = self._outputs(X)[:, : len(self.classes_)]
        return self.classes_[scores.argmax(axis=1)]


class MLPRegressor(RegressorMixin, _MLP):
    """Multi-layer perceptron regressor (squared error), trained on nnkernels.

    The same parameters as :class:`MLPClassifier`; targets 1-D or 2-D. ``early_stopping`` stops on
    the validation loss.
    """

    _loss = "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train from scratch for up to ``max_iter`` epochs."""
        X, y = self._validate(X, y)
        return self._start_and_train(X, y, self.max_iter, False)

    def _start_and_train(self, X, y, epochs, incremental):
        y = np.asarray(y, dtype=np.float64)
        if not hasattr(self, "model_") or not incremental:
            self._dtype = X.dtype
            self._y_1d = y.ndim == 1
            self.model_ = self._new_model(1 if y.ndim == 1 else y.shape[1], len(X))
        return self._train(X, y.reshape(len(y), -1), epochs, incremental)

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the current weights."""
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        return self._start_and_train(X, y, 1, not first)

    def predict(self, X):
        out = self._outputs(X).astype(np.float64)
        return out[:, 0] if self._y_1d else out
