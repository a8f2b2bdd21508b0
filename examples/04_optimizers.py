"""Optimizers: training-loss curves of eight optimizers on one model, data set and seed.

64 -> 64 ReLU -> 10 on digits, batch 32, the same initial weights and the same batch order for
every optimizer; each at its customary learning rate (PyTorch's default where it has one). Plain
SGD crawls, momentum and Nesterov accelerate it, the adaptive methods (Adagrad, RMSprop, Adam,
Adamax) scale each weight's step by its gradient history, Adadelta needs no learning rate but
starts slowly.
"""

from __future__ import annotations

from _common import digits, epochs_to, fit_recorded, main, one_blas_thread, publish

from nnkernels import nn

NAME = "04_optimizers"
OPTIMIZERS = {  # label -> (optimizer, lr, options)
    "SGD": ("sgd", 0.01, {}),
    "momentum": ("sgd", 0.01, {"momentum": 0.9}),
    "Nesterov": ("sgd", 0.01, {"momentum": 0.9, "nesterov": True}),
    "Adagrad": ("adagrad", 0.01, {}),
    "RMSprop": ("rmsprop", 0.001, {}),
    "Adam": ("adam", 0.001, {}),
    "Adamax": ("adamax", 0.002, {}),
    "Adadelta": ("adadelta", 1.0, {}),
}
TARGET = 0.9


def train(label, data, epochs, seed=0) -> dict[str, list[float]]:
    X, y, X_val, y_val = data
    name, lr, options = OPTIMIZERS[label]
    model = nn.Sequential(
        [nn.Dense(64, "relu"), nn.Dense(10)],
        optimizer=name,
        lr=lr,
        optimizer_options=options,
        rng=seed,
    )

    def measure(m):
        train_loss = m.evaluate(X, y)["loss"]
        return {"loss": train_loss, "val_accuracy": m.evaluate(X_val, y_val)["accuracy"]}

    return fit_recorded(model, X, y, measure, epochs=epochs, batch_size=32)


@one_blas_thread
def run(quick: bool = False, out_dir=None) -> dict:
    epochs = 3 if quick else 15
    data = digits(n_train=600 if quick else None)
    curves = {label: train(label, data, epochs) for label in OPTIMIZERS}
    results = {
        label: {**c, "epochs_to_90": epochs_to(c["val_accuracy"], TARGET)}
        for label, c in curves.items()
    }
    rows = [
        [
            label,
            f"{OPTIMIZERS[label][1]:g}",
            c["loss"][0],
            c["loss"][1],
            c["loss"][-1],
            c["val_accuracy"][-1],
            epochs_to(c["val_accuracy"], TARGET),
        ]
        for label, c in curves.items()
    ]

    def plot(plt):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for label, c in curves.items():
            axes[0].semilogy(c["loss"], label=label)
            axes[1].plot(c["val_accuracy"], label=label)
        axes[0].set(xlabel="epoch", ylabel="training loss (cross-entropy)")
        axes[1].set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
        axes[0].legend(fontsize=8, ncol=2)
        return fig

    publish(
        NAME,
        f"Optimizers on digits, 64 ReLU hidden units, {epochs} epochs",
        [
            "optimizer",
            "lr",
            "loss at init",
            "loss ep 1",
            f"loss ep {epochs}",
            "val accuracy",
            f"epochs to {TARGET:.0%}",
        ],
        rows,
        notes="Training loss measured in evaluation mode after each epoch; batch 32, seed 0 "
        "(same initial weights and batch order for all). Momentum 0.9.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
