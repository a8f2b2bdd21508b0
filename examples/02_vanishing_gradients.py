"""Vanishing gradients: per-layer gradient norms of a 10-layer MLP on digits.

Ten Dense layers (nine hidden of 64 units, then the logits), each initialised as the library
does for its activation (Glorot for sigmoid and tanh, He for ReLU, LeCun for SELU). One forward
and backward pass over a batch (``Sequential.loss_and_grads``) gives every weight gradient; its
norm per layer shows how the error signal shrinks on its way back. Sigmoid's derivative is at
most 1/4 and its outputs are not centred, so the signal falls by orders of magnitude; tanh
(derivative 1 at 0) loses much less, ReLU with He init and SELU (self-normalising) keep it.
Medians over several seeds.
"""

from __future__ import annotations

import numpy as np
from _common import digits, main, one_blas_thread, publish

from nnkernels import nn

NAME = "02_vanishing_gradients"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "selu")
DEPTH, WIDTH = 10, 64


def layer_grad_norms(activation: str, X, y, seed: int) -> np.ndarray:
    """Frobenius norm of dL/dW for each of the DEPTH Dense layers, first to last."""
    layers = [nn.Dense(WIDTH, activation) for _ in range(DEPTH - 1)] + [nn.Dense(10)]
    model = nn.Sequential(layers, loss="cross_entropy", dtype=np.float64, rng=seed)
    _, grads = model.loss_and_grads(X, y)
    return np.array([np.linalg.norm(g) for g in grads[0::2]])  # (W, b) per layer: the W's


@one_blas_thread
def run(quick: bool = False, out_dir=None) -> dict:
    X, y, _, _ = digits(n_train=256)
    seeds = range(3 if quick else 10)
    norms = {
        a: np.median([layer_grad_norms(a, X, y, s) for s in seeds], axis=0) for a in ACTIVATIONS
    }
    results = {a: {"norms": n.tolist(), "first_over_last": n[0] / n[-1]} for a, n in norms.items()}
    rows = [[a, n[0], n[DEPTH // 2 - 1], n[-1], n[0] / n[-1]] for a, n in norms.items()]

    def plot(plt):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for a, n in norms.items():
            ax.semilogy(range(1, DEPTH + 1), n, marker="o", label=a)
        ax.set(
            xlabel="layer (1 = input side)",
            ylabel="median ||dL/dW||",
            title=f"{DEPTH}-layer MLP on digits, at initialisation",
        )
        ax.legend()
        return fig

    publish(
        NAME,
        f"Per-layer gradient norms of a {DEPTH}-layer MLP (width {WIDTH}) at initialisation",
        ["activation", "layer 1", f"layer {DEPTH // 2}", f"layer {DEPTH}", "layer 1 / layer 10"],
        rows,
        notes=f"||dL/dW|| per layer, median over {len(seeds)} seeds; batch of {len(X)} digits, "
        "cross-entropy, float64.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
