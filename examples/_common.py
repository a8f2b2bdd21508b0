"""Shared helpers of the experiments: data, the command line, tables and figures.

Every experiment is ``run(quick=False, out_dir=None) -> dict``: it returns its numbers, and when
``out_dir`` is given writes ``<name>.md`` (the table) and ``<name>.png`` (when matplotlib is
installed). ``main`` is the command line of each script.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from pathlib import Path
from typing import Callable

import numpy as np

from nnkernels import nn

RESULTS = Path(__file__).resolve().parent / "results"
DPI = 80


def one_blas_thread(run: Callable) -> Callable:
    """Run the experiment with BLAS on one thread (when threadpoolctl is installed).

    ``Sequential.fit`` does this itself for small products, but ``loss_and_grads`` and
    ``evaluate`` outside ``fit`` do not; on a busy 2-core machine waking BLAS workers made one
    ``loss_and_grads`` of a 10-layer, 64-wide net on 256 rows 35x slower (0.75 s vs 0.02 s).
    """

    @functools.wraps(run)
    def wrapper(*args, **kwargs):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            limit = contextlib.nullcontext()
        else:
            limit = threadpool_limits(limits=1, user_api="blas")
        with limit:
            return run(*args, **kwargs)

    return wrapper


# ---- data -------------------------------------------------------------------------------------


def digits(n_train: int | None = None, n_val: int = 400, label_noise: float = 0.0, seed: int = 0):
    """scikit-learn's bundled 8x8 digits (no download) scaled to [0, 1], split at random into
    (X_train, y_train, X_val, y_val); ``n_train`` caps the training samples, ``label_noise``
    replaces that share of the training labels by random classes (validation stays clean)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    X = (X[order] / 16.0).astype(np.float32)
    y = y[order]
    X_val, y_val, X_train, y_train = X[:n_val], y[:n_val], X[n_val:], y[n_val:]
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    if label_noise:
        rng = np.random.default_rng(seed + 1)
        noisy = rng.random(len(y_train)) < label_noise
        y_train = y_train.copy()
        y_train[noisy] = rng.integers(0, 10, np.count_nonzero(noisy))
    return X_train, y_train, X_val, y_val


def accuracy(model: nn.Sequential, X, labels) -> float:
    """Share of rows whose largest output is the label: the same measure for classifiers and for
    regression on one-hot targets."""
    return float(np.mean(model.decision_function(X).argmax(axis=1) == labels))


class Record(nn.Callback):
    """Calls ``measure(model) -> dict`` after every epoch (and once before training) and keeps the
    values in lists: curves measured the same way for every variant of an experiment."""

    def __init__(self, measure: Callable[[nn.Sequential], dict]):
        self.measure = measure
        self.curves: dict[str, list[float]] = {}

    def add(self, model) -> None:
        for key, value in self.measure(model).items():
            self.curves.setdefault(key, []).append(float(value))

    def on_epoch_end(self, model, epoch, logs):
        self.add(model)


def fit_recorded(model: nn.Sequential, X, y, measure, **fit_args) -> dict[str, list[float]]:
    """Build the model, measure it untrained (epoch 0), then ``fit`` it measuring every epoch."""
    model.fit(X, y, epochs=0, verbose=0)  # builds the weights without a step
    record = Record(measure)
    record.add(model)
    callbacks = [record, *fit_args.pop("callbacks", ())]
    model.fit(X, y, verbose=0, callbacks=callbacks, **fit_args)
    return record.curves


def epochs_to(curve, level: float) -> int | None:
    """The first epoch (0 = untrained) at which ``curve`` reaches ``level``, None if never."""
    return next((i for i, v in enumerate(curve) if v >= level), None)


# ---- output -----------------------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return f"{v:.3g}" if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4) else f"{v:.3f}"
    return str(value)


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def line_panels(plt, panels: dict, *, ylabel: str, logy=False, ylim=None, hline=None, marker=None):
    """A row of panels sharing both axes, ``{title: {label: values per epoch}}``: one line per
    label, the legend in the first panel; ``hline`` marks a target level."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3 * len(panels) + 1, 3.4), sharex=True, sharey=True, squeeze=False
    )
    for ax, (title, lines) in zip(axes[0], panels.items()):
        for label, values in lines.items():
            (ax.semilogy if logy else ax.plot)(values, marker=marker, label=label)
        if hline is not None:
            ax.axhline(hline, color="grey", lw=0.8, ls=":")
        ax.set(title=title, xlabel="epoch")
        if ylim is not None:  # set_ylim(None) would switch autoscaling off
            ax.set_ylim(ylim)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    return fig


def publish(name, title, headers, rows, *, notes="", plot=None, out_dir=None) -> str:
    """Print the table; with ``out_dir`` write ``name.md`` and, when matplotlib is installed,
    ``plot(plt) -> figure`` as ``name.png``. Returns the markdown."""
    text = f"# {title}\n\n{markdown_table(headers, rows)}\n"
    if notes:
        text += f"\n{notes.strip()}\n"
    print(text)
    if out_dir is None:
        return text
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text)
    plt = pyplot() if plot is not None else None
    if plt is None:
        print("(plots skipped: matplotlib is not installed)" if plot else "")
        return text
    fig = plot(plt)
    fig.savefig(out / f"{name}.png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out / (name + '.png')} and {out / (name + '.md')}")
    return text


def main(run: Callable, doc: str | None) -> None:
    """The command line of an experiment: ``--quick`` for the reduced run, ``--out-dir``."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run of the test suite")
    parser.add_argument("--out-dir", default=str(RESULTS), help="where the .md and .png go")
    args = parser.parse_args()
    run(quick=args.quick, out_dir=args.out_dir)
