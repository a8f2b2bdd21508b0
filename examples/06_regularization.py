"""Regularization: train and validation curves without regularization, with L2, with dropout and
with early stopping.

A wide network (two hidden layers of 256 ReLU units) on 300 digits, 20% of whose training labels
are replaced by random classes (18% end up wrong; label noise makes overfitting visible on a data
set as easy as digits): unregularized, it memorizes the wrong labels, its training loss falls
towards 0 and the validation loss turns up.
L2 and dropout keep it from memorizing and narrow the train/validation gap; early stopping
watches the validation loss and stops (restoring the best weights) once it has not improved for
a few epochs. Same seed, data and batch order for every variant; losses measured in evaluation
mode after each epoch (no dropout), so train and validation are comparable.
"""

from __future__ import annotations

from _common import digits, fit_recorded, line_panels, main, one_blas_thread, publish

from nnkernels import nn

NAME = "06_regularization"
WIDTH = 256
PATIENCE = 5


def layers(dropout: float = 0.0):
    drop = [nn.Dropout(dropout)] if dropout else []
    return [nn.Dense(WIDTH, "relu"), *drop, nn.Dense(WIDTH, "relu"), *drop, nn.Dense(10)]


VARIANTS = {  # label -> (layers, model options, early stopping)
    "none": (layers, {}, False),
    "L2 1e-2": (layers, {"l2": 1e-2}, False),
    "dropout 0.5": (lambda: layers(0.5), {}, False),
    "early stopping": (layers, {}, True),
}


def train(label, data, epochs, seed=0) -> dict:
    X, y, X_val, y_val = data
    make_layers, options, early = VARIANTS[label]
    model = nn.Sequential(make_layers(), optimizer="adam", lr=1e-3, rng=seed, **options)

    def measure(m):
        tr, va = m.evaluate(X, y), m.evaluate(X_val, y_val)
        return {
            "loss": tr["loss"],
            "val_loss": va["loss"],
            "accuracy": tr["accuracy"],
            "val_accuracy": va["accuracy"],
        }

    stopper = nn.EarlyStopping(patience=PATIENCE, restore_best_weights=True)
    curves = fit_recorded(
        model,
        X,
        y,
        measure,
        epochs=epochs,
        batch_size=32,
        validation_data=(X_val, y_val),
        callbacks=[stopper] if early else [],
    )
    stopped = stopper.stopped_epoch if early else None  # 0-based; None: ran every epoch
    final = measure(model)  # after restoring the best weights, for early stopping
    return {
        "curves": curves,
        "epochs_run": len(curves["loss"]) - 1,
        "stopped_epoch": None if stopped is None else stopped + 1,
        **final,
        # The penalty is in both losses (evaluate adds it), so it cancels in the gap.
        "loss_gap": final["val_loss"] - final["loss"],
        "accuracy_gap": final["accuracy"] - final["val_accuracy"],
        "min_val_loss": min(curves["val_loss"]),
    }


@one_blas_thread
def run(quick: bool = False, out_dir=None) -> dict:
    # The quick run is the first 40 epochs of the full one (same data and seed).
    epochs = 40 if quick else 60
    data = digits(n_train=300, n_val=400, label_noise=0.2)
    results = {label: train(label, data, epochs) for label in VARIANTS}
    rows = [
        [
            label,
            r["epochs_run"],
            r["loss"],
            r["val_loss"],
            r["loss_gap"],
            r["accuracy"],
            r["val_accuracy"],
        ]
        for label, r in results.items()
    ]

    def plot(plt):
        panels = {
            label: {"train": r["curves"]["loss"], "validation": r["curves"]["val_loss"]}
            for label, r in results.items()
        }
        return line_panels(plt, panels, ylabel="cross-entropy (+ penalty)", logy=True)

    publish(
        NAME,
        f"Regularization on {len(data[0])} digits, 20% of labels randomized (validation "
        f"{len(data[2])}), "
        f"2 x {WIDTH} ReLU, Adam",
        [
            "variant",
            "epochs",
            "train loss",
            "val loss",
            "gap (val - train)",
            "train acc",
            "val acc",
        ],
        rows,
        notes=f"Losses in evaluation mode at the end (early stopping: patience {PATIENCE}, best "
        "weights restored); L2 penalty included in both losses, so it cancels in the gap.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
