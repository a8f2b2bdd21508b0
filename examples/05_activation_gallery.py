"""The activation gallery: every elementwise activation and its derivative, from the kernels.

For each activation of ``nnkernels.activations`` (default parameters; PReLU with slope 0.25,
RReLU in evaluation mode) the forward ``f(x)`` and the derivative kernel ``f'(x)`` are computed
in float64 on a grid over [-6, 6], and the derivative is checked against central finite
differences of the forward. The grid is offset by half a step so that it never lands on a kink
(0, +-1, +-3, 6), where a one-sided derivative is a matter of convention.
"""

from __future__ import annotations

import numpy as np
from _common import main, publish

from nnkernels import activations

NAME = "05_activation_gallery"
PRELU_SLOPE = np.array([0.25])
STEP = 1e-5  # finite-difference step: float64 truncation and rounding errors both ~1e-10
FORMULAS = {s.name: s.derivative for s in activations.SPECS}


def names() -> list[str]:
    return [n for n in activations.available() if activations.get(n).elementwise]


def forward(name: str, x: np.ndarray) -> np.ndarray:
    entry = activations.get(name)
    return entry.forward(x, PRELU_SLOPE) if name == "prelu" else entry.forward(x)


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    """f'(x) from the derivative kernel (``<name>_grad``; RReLU has none: its backward pass
    with an upstream gradient of ones)."""
    entry = activations.get(name)
    if name == "prelu":
        return entry.grad(x, PRELU_SLOPE)
    if entry.grad is None:
        return entry.backward(np.ones_like(x), x=x)
    return entry.grad(x)


def run(quick: bool = False, out_dir=None) -> dict:
    x = np.linspace(-6, 6, 241 if quick else 1201) + (0.025 if quick else 0.005)
    results = {}
    for name in names():
        y, dy = forward(name, x), derivative(name, x)
        fd = (forward(name, x + STEP) - forward(name, x - STEP)) / (2 * STEP)
        error = float(np.max(np.abs(dy - fd) / np.maximum(1.0, np.abs(dy))))
        results[name] = {"x": x, "y": y, "dy": dy, "max_fd_error": error}
    probe = np.array([-1.5, 1.5])
    rows = [
        [
            name,
            FORMULAS.get(name, "1 if x > 0 else slope"),
            *forward(name, probe),
            *derivative(name, probe),
            r["max_fd_error"],
        ]
        for name, r in results.items()
    ]

    def plot(plt):
        cols = 6
        nrows = -(-len(results) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(2.2 * cols, 1.9 * nrows), sharex=True)
        for ax, (name, r) in zip(axes.flat, results.items()):
            ax.plot(r["x"], r["y"], lw=1.5, label="f(x)")
            ax.plot(r["x"], r["dy"], lw=1.2, ls="--", label="f'(x)")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(results) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        return fig

    publish(
        NAME,
        f"Activation gallery: {len(results)} activations, derivatives vs finite differences",
        ["activation", "f'(x)", "f(-1.5)", "f(1.5)", "f'(-1.5)", "f'(1.5)", "max err vs FD"],
        rows,
        notes=f"float64 on {len(x)} points over [-6, 6]; FD: central differences with step "
        f"{STEP:g}, error relative to max(1, |f'|). PReLU slope 0.25; RReLU in evaluation mode.",
        plot=plot,
        out_dir=out_dir,
    )
    return results


if __name__ == "__main__":
    main(run, __doc__)
