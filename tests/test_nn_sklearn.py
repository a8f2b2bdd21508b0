"""nnkernels.nn.sklearn: scikit-learn's estimator checks, pipelines, cross-validation,
partial_fit; and `import nnkernels` never importing scikit-learn."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nnkernels.nn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks(
    [MLPClassifier(max_iter=50, random_state=0), MLPRegressor(max_iter=50, random_state=0)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_import_nnkernels_does_not_import_sklearn():
    code = "import sys, nnkernels, nnkernels.nn; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pipeline_and_cross_val_score_on_digits():
    """In a pipeline under cross_val_score, as accurate as scikit-learn's own MLPClassifier with
    the same architecture, solver, batch size and epochs."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    scores = {}
    for cls in (MLPClassifier, SklearnMLP):
        pipe = make_pipeline(
            StandardScaler(), cls((64,), max_iter=20, random_state=0, batch_size=32)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning
            scores[cls] = cross_val_score(pipe, X, y, cv=3)
    ours, theirs = scores[MLPClassifier].mean(), scores[SklearnMLP].mean()
    assert ours > 0.8 and abs(ours - theirs) < 0.05, (ours, theirs)


def test_params_roundtrip_and_partial_fit():
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", random_state=1)
    assert clf.get_params()["activation"] == "tanh"
    clf.set_params(learning_rate_init=0.01, dropout=0.1)
    assert clf.learning_rate_init == 0.01 and clf.dropout == 0.1
    X, y = load_digits(n_class=3, return_X_y=True)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X[:10], y[:10])
    for start in range(0, 300, 50):
        clf.partial_fit(X[start : start + 50] / 16, y[start : start + 50], classes=[0, 1, 2])
    assert clf.n_iter_ == 6 and clf.score(X[300:] / 16, y[300:]) > 0.8
    with pytest.raises(ValueError, match="not seen at fit time"):
        clf.partial_fit(X[:5] / 16, np.array([0, 1, 2, 3, 0]))


def test_regressor_fits_and_early_stopping():
    X, y = make_regression(n_samples=300, n_features=6, noise=1.0, random_state=0)
    y = y / y.std()
    reg = MLPRegressor((32,), max_iter=300, learning_rate_init=0.01, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.95
    assert reg.predict(X).shape == (300,)
    stopped = MLPRegressor(
        (32,),
        max_iter=300,
        early_stopping=True,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X, y)
    assert stopped.n_iter_ < 300
    two = MLPRegressor((8,), max_iter=5, random_state=0).fit(X, np.c_[y, -y])
    assert two.predict(X).shape == (300, 2)
