"""MSE vs cross-entropy for classification: the same network on digits, three output losses.

softmax + cross-entropy, softmax + MSE and sigmoid + MSE on one-hot targets, trained by plain SGD
(same learning rate, seed and batches) for 5 epochs. Cross-entropy's gradient at the logits is
``p - y``: large exactly when the prediction is wrong. Through a saturated sigmoid or softmax, MSE's
gradient is multiplied by the output's derivative, which is small when the output is confidently
wrong, so learning stalls. Adam rescales every gradient, so a second run with Adam shows how much
of the gap is the gradient's size and how much its direction.
"""

from __future__ import annotations

import numpy as np
from _common import (
    accuracy,
    digits,
    epochs_to,
    fit_recorded,
    line_panels,
    main,
    one_blas_thread,
    publish,
)

from nnkernels import nn

NAME = "01_mse_vs_cross_entropy"
VARIANTS = {  # name -> (output layers, loss)
    "softmax + cross-entropy": (lambda: [nn.Dense(10)], "cross_entropy"),
    "softmax + MSE": (lambda: [nn.Dense(10), nn.Softmax()], "mse"),
    "sigmoid + MSE": (lambda: [nn.Dense(10, "sigmoid")], "mse"),
}
OPTIMIZERS = {"sgd": 0.1, "adam": 1e-3}  # name -> learning rate
TARGET = 0.9


def train(variant: str, optimizer: str, data, epochs: int, seed: int = 0) -> list[float]:
    """Validation accuracy after each epoch (index 0: untrained)."""
    X, y, X_val, y_val = data
    output, loss = VARIANTS[variant]
    model = nn.Sequential(
        [nn.Dense(64, "tanh"), *output()],
        loss=loss,
        optimizer=optimizer,
        lr=OPTIMIZERS[optimizer],
        rng=seed,
    )
    target = y if loss == "cross_entropy" else np.eye(10, dtype=np.float32)[y]
    curves = fit_recorded(
        model,
        X,
        target,
        lambda m: {"accuracy": accuracy(m, X_val, y_val)},
        epochs=epochs,
        batch_size=32,
    )
    return curves["accuracy"]


@one_blas_thread
def run(quick: bool = False, out_dir=None) -> dict:
    epochs = 2 if quick else 5
    data = digits(n_train=600 if quick else None)
    curves = {(v, o): train(v, o, data, epochs) for o in OPTIMIZERS for v in VARIANTS}
    results = {
        f"{o}/{v}": {"accuracy": c[-1], "epochs_to_90": epochs_to(c, TARGET), "curve": c}
        for (v, o), c in curves.items()
    }
    rows = [
        [o, f"{OPTIMIZERS[o]:g}", v, *curves[v, o][1:], epochs_to(curves[v, o], TARGET)]
        for (v, o) in curves
    ]

    def plot(plt):
        panels = {
            f"{o}, lr {OPTIMIZERS[o]:g}": {v: curves[v, o] for v in VARIANTS} for o in OPTIMIZERS
        }
        return line_panels(
            plt, panels, ylabel="validation accuracy", ylim=(0, 1), hline=TARGET, marker="o"
        )

    publish(
        NAME,
        f"MSE vs cross-entropy on digits ({len(data[0])} train / {len(data[2])} validation)",
        [
            "optimizer",
            "lr",
            "output + loss",
            *[f"acc ep {e}" for e in range(1, epochs + 1)],
            f"epochs to {TARGET:.0%}",
        ],
        rows,
        notes="Validation accuracy after each epoch; 64 tanh hidden units, batch 32, seed 0.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
