"""Dying ReLU: the share of hidden units that no input activates, after training with a large
learning rate, for relu, leaky_relu and elu.

A unit is *dead* when its pre-activation ``x @ W + b`` is <= 0 for every training sample. For
ReLU its output and its gradient are then 0 for every sample: no later step can revive it. Large
steps (here Adam at 30x its default learning rate) push many units there in the first epoch.
Leaky ReLU (slope 0.01) and ELU still pass a gradient for negative inputs, so a unit pushed
there keeps learning and can come back; ELU's mean-zero outputs keep most units alive from the
start. Same network, seed and batches for each activation.
"""

from __future__ import annotations

import numpy as np
from _common import digits, fit_recorded, line_panels, main, one_blas_thread, publish

from nnkernels import nn

NAME = "03_dying_relu"
ACTIVATIONS = ("relu", "leaky_relu", "elu")
LEARNING_RATES = (0.001, 0.03)
HIDDEN = (128, 128)


def dead_fraction(model: nn.Sequential, X) -> float:
    """Share of hidden units whose pre-activation is <= 0 on every row of X (forward in
    evaluation mode through the layers' public ``forward``)."""
    dead = total = 0
    h = X
    for layer in model.layers:
        if isinstance(layer, nn.Dense) and layer.activation is not None:
            w, b = layer.params
            z = h @ w + b
            dead += int(np.count_nonzero((z <= 0).all(axis=0)))
            total += z.shape[1]
        h = layer.forward(h, False).copy()
    return dead / total


def train(activation, lr, data, epochs, seed=0) -> dict[str, list[float]]:
    X, y, X_val, y_val = data
    model = nn.Sequential(
        [*(nn.Dense(u, activation) for u in HIDDEN), nn.Dense(10)],
        optimizer="adam",
        lr=lr,
        rng=seed,
    )

    def measure(m):
        return {"dead": dead_fraction(m, X), "val_accuracy": m.evaluate(X_val, y_val)["accuracy"]}

    return fit_recorded(model, X, y, measure, epochs=epochs, batch_size=32)


@one_blas_thread
def run(quick: bool = False, out_dir=None) -> dict:
    epochs = 3 if quick else 10
    data = digits(n_train=600 if quick else None)
    curves = {(a, lr): train(a, lr, data, epochs) for lr in LEARNING_RATES for a in ACTIVATIONS}
    results = {
        f"{a}@{lr:g}": {"dead": c["dead"][-1], "val_accuracy": c["val_accuracy"][-1], "curves": c}
        for (a, lr), c in curves.items()
    }
    rows = [
        [f"{lr:g}", a, c["dead"][0], c["dead"][-1], c["val_accuracy"][-1]]
        for (a, lr), c in curves.items()
    ]

    def plot(plt):
        panels = {
            f"Adam, lr {lr:g}": {a: 100 * np.array(curves[a, lr]["dead"]) for a in ACTIVATIONS}
            for lr in LEARNING_RATES
        }
        return line_panels(plt, panels, ylabel="dead hidden units (%)", marker="o")

    publish(
        NAME,
        f"Dead hidden units after {epochs} epochs of Adam on digits (hidden {HIDDEN})",
        ["lr", "activation", "dead at init", "dead after", "val accuracy"],
        rows,
        notes="Dead: pre-activation <= 0 for every training sample. Batch 32, seed 0.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
