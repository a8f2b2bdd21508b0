"""MLP family: one training epoch of nnkernels.nn against scikit-learn's MLPClassifier, PyTorch
eager CPU and nnkernels.nn on its pure-NumPy backend.

Rows: scikit-learn's digits (1437 x 64 -> 256 relu -> 10, batch 32; 360 held out) and
MNIST-shaped synthetic data (60000 x 784 -> 256 relu -> 10, batch 128; labels from a random
linear teacher, so they are learnable; 10000 held out). Every implementation trains the same
architecture with softmax cross-entropy and Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
weight penalty) in the row's dtype, starting from the same weights and visiting the same
mini-batches in the same order (the data are shuffled once, not per epoch), so after one epoch
they hold the same model up to rounding. One call is one epoch: ``fit(epochs=1)`` for nnkernels,
``partial_fit`` for scikit-learn, the usual zero_grad/backward/step loop for PyTorch.

The gate: a case's first call is its first epoch, and its result is the held-out class
probabilities it then predicts (computed only when the gate asks, so timed epochs do not pay
for them). nnkernels is compared with the same epoch in float64 on the NumPy backend, the peers
with nnkernels; every probability must be within the row's tolerance (see TOLERANCE).

Run through ``python benchmarks/run.py`` (``--filter '^mlp/'``) or this file alone.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402
from nnkernels import nn  # noqa: E402

torch = harness.optional("torch")
sk_nn = harness.optional("sklearn.neural_network")
sk_data = harness.optional("sklearn.datasets")
threadpoolctl = harness.optional("threadpoolctl")

FAMILY = "mlp"
HIDDEN, CLASSES, LR = 256, 10, 1e-3
# Largest difference of a held-out class probability after the first epoch. Measured in float32
# (seed 0): nnkernels, its NumPy backend and PyTorch agree to 4e-7 on digits and 3e-6 on the
# MNIST-shaped rows, and with the float64 truth to 4e-7 on digits; scikit-learn, whose Adam adds
# eps before the bias correction of v, differs by 4e-5 on digits' 45 steps but by 0.037 after
# the 469 steps of a full MNIST-shaped epoch, where the float64 truth also drifts 0.01 from the
# float32 runs. A wrong gradient or optimizer moves them far more on digits (no output-bias
# gradient: 1.6e-3; beta2 0.99: 2.8e-3); on the MNIST-shaped rows the gate only catches gross
# errors.
TOLERANCE = {"digits": 2e-4, "mnist-shaped": 0.1}


def available() -> str | None:
    return None if sk_data is not None else "scikit-learn is not installed (it holds digits)"


# ---- data -------------------------------------------------------------------------------------


def digits(dtype):
    """(X, y, X_test, y_test): digits scaled to [0, 1], shuffled once, the last 360 held out."""
    d = sk_data.load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    X, y = (d.data[order] / 16.0).astype(dtype), d.target[order].astype(np.int64)
    return X[:-360], y[:-360], X[-360:], y[-360:]


def mnist_shaped(n, dtype, n_test=10000, features=784, seed=0):
    """Gaussian inputs labelled by the argmax of a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, features), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((features, CLASSES), dtype=np.float32), axis=1)
    X, y = X.astype(dtype, copy=False), y.astype(np.int64)
    return X[:n], y[:n], X[n:], y[n:]


# ---- the implementations: each makes an epoch() and a probabilities(X) -------------------------


class Probabilities:
    """A case's result: held-out class probabilities, computed only when the gate converts it
    (``np.asarray``); timed calls discard it unevaluated."""

    def __init__(self, predict, X):
        self.predict, self.X = predict, X

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.predict(self.X), dtype=dtype)


def built(model: nn.Sequential, features: int) -> nn.Sequential:
    """The model with its parameters made for ``features`` inputs and every class, untrained."""
    model.loss_and_grads(np.zeros((CLASSES, features)), np.arange(CLASSES))
    return model


def initial_weights(features: int) -> list[np.ndarray]:
    """nnkernels.nn's initialisation (seed 0) as float64 [W1, b1, W2, b2], W as (in, out)."""
    model = built(nn.Sequential([nn.Dense(HIDDEN, "relu"), nn.Dense(CLASSES)], rng=0), features)
    return [w.astype(np.float64) for w in model.get_weights()]


def nnkernels_model(X, y, weights, batch, threads, backend="nnkernels", dtype=None):
    """nnkernels.nn: one thread when the row has one (BLAS too), else its own choice: one
    thread for small per-batch work, the row's count above (Sequential's ``threads``)."""
    dtype = dtype or X.dtype
    model = nn.Sequential(
        [nn.Dense(HIDDEN, "relu"), nn.Dense(CLASSES)],
        lr=LR,
        backend=backend,
        dtype=dtype,
        threads=1 if threads == 1 else None,
    )
    built(model, X.shape[1]).set_weights(weights)
    X = X.astype(dtype, copy=False)

    def epoch():
        model.fit(X, y, epochs=1, batch_size=batch, shuffle=False, verbose=0)

    return epoch, lambda Xt: model.predict_proba(Xt.astype(dtype, copy=False))


def numpy_model(X, y, weights, batch, threads):
    return nnkernels_model(X, y, weights, batch, threads, backend="numpy")


def sklearn_model(X, y, weights, batch, threads):
    clf = sk_nn.MLPClassifier(
        (HIDDEN,),
        solver="adam",
        alpha=0.0,
        batch_size=batch,
        learning_rate_init=LR,
        shuffle=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X[:batch], y[:batch], classes=np.arange(CLASSES))  # allocates the model
    clf.coefs_ = [weights[0].astype(X.dtype), weights[2].astype(X.dtype)]
    clf.intercepts_ = [weights[1].astype(X.dtype), weights[3].astype(X.dtype)]
    del clf._optimizer  # the next partial_fit starts a fresh Adam, as every other case does

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "maximum iterations reached": one epoch per call
            clf.partial_fit(X, y)

    return epoch, clf.predict_proba


def torch_model(X, y, weights, batch, threads):
    dtype = torch.from_numpy(X[:1]).dtype
    model = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)
    ).to(dtype)
    with torch.no_grad():
        for p, w in zip(model.parameters(), (weights[0].T, weights[1], weights[2].T, weights[3])):
            p.copy_(torch.from_numpy(np.ascontiguousarray(w)))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        for i in range(0, len(Xt), batch):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(Xt[i : i + batch]), yt[i : i + batch]).backward()
            opt.step()

    def probabilities(Xe):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(Xe)).double(), dim=1).numpy()

    return epoch, probabilities


# ---- threads ------------------------------------------------------------------------------------

_controller = None


def blas_limit(n: int):
    """A context limiting BLAS (NumPy's, scikit-learn's) to ``n`` threads: threadpoolctl's
    controller is made once, so entering costs microseconds, not a library scan."""
    global _controller
    if threadpoolctl is None:
        return contextlib.nullcontext()
    if _controller is None:
        _controller = threadpoolctl.ThreadpoolController()
    return _controller.limit(limits=n, user_api="blas")


def on_threads(epoch, n: int):
    """The epoch with BLAS and PyTorch's intra-op pool limited to ``n`` threads."""

    def run():
        old = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(n)
        try:
            with blas_limit(n):
                return epoch()
        finally:
            if torch is not None:
                torch.set_num_threads(old)

    return run


# ---- rows ---------------------------------------------------------------------------------------


def make_row(name, data, batch, dtype):
    """The cases of one row, on the thread count run.py set (``nk.get_num_threads()``)."""

    def make() -> harness.Bench:
        X, y, X_test, y_test = data(dtype)
        threads = nk.get_num_threads()
        weights = initial_weights(X.shape[1])
        models = {"nnkernels": nnkernels_model, "numpy": numpy_model}
        if sk_nn is not None:
            models["sklearn"] = sklearn_model
        if torch is not None:
            models["torch"] = torch_model
        epochs = {}
        for impl, model in models.items():
            epoch, probabilities = model(X, y, weights, batch, threads)
            epochs[impl] = on_threads(epoch, threads), probabilities
            if threads > 1 and impl in ("sklearn", "torch"):
                # small products may run faster without waking a second thread
                epoch, probabilities = model(X, y, weights, batch, threads)
                epochs[f"{impl}[1 thread]"] = on_threads(epoch, 1), probabilities
        truth_epoch, truth_probabilities = nnkernels_model(
            X, y, weights, batch, 1, backend="numpy", dtype=np.float64
        )

        def truth():
            truth_epoch()
            return truth_probabilities(X_test)

        def case(epoch, probabilities):
            def run():
                epoch()
                return Probabilities(probabilities, X_test)

            return run

        cases = {k: case(*v) for k, v in epochs.items()}
        return harness.Bench(cases, truth=truth, gate=harness.within(TOLERANCE[name]))

    return make


def specs(opts: harness.Options) -> list[harness.Spec]:
    """digits, and the MNIST-shaped data: 60000 samples, or 4096 in a quick run."""
    rows = []
    for dtype in opts.pick_dtypes(full=("float32",)):
        n = 4096 if opts.quick else 60000
        for name, samples, features, batch, data in (
            ("digits", 1437, 64, 32, digits),
            ("mnist-shaped", n, 784, 128, lambda dt, n=n: mnist_shaped(n, dt)),
        ):
            rows.append(
                harness.Spec(
                    name,
                    f"{samples}x{features} b{batch}",
                    samples,
                    dtype,
                    0,
                    make_row(name, data, batch, dtype),
                    unit="sample",
                    key={"hidden": HIDDEN, "batch": batch, "tolerance": TOLERANCE[name]},
                    curve=False,
                )
            )
    return rows


def notes() -> list[str]:
    return [
        "mlp: one call is one training epoch (sample/s = training samples per second) of "
        f"features -> {HIDDEN} relu -> {CLASSES}, softmax cross-entropy, Adam lr {LR}, from the "
        "same initial weights over the same mini-batches for every case; `numpy` is "
        "nnkernels.nn's pure-NumPy backend, `sklearn` MLPClassifier.partial_fit. The gate "
        "compares the held-out class probabilities after the first epoch (digits within "
        f"{TOLERANCE['digits']}, MNIST-shaped within {TOLERANCE['mnist-shaped']}: scikit-learn's "
        "Adam places eps differently, which adds up over 469 steps). With more than one "
        "thread, `[1 thread]` is the peer with one BLAS / PyTorch thread; nnkernels.nn runs its "
        "per-batch kernels on one thread, and BLAS on one thread below 2^22 multiply-adds "
        "per product (digits), on the row's count above (MNIST-shaped).",
    ]


if __name__ == "__main__":
    import run

    sys.exit(run.main(family=sys.modules[__name__]))
