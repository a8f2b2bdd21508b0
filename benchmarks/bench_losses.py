"""Losses family: fused value and gradient in one pass, against PyTorch and NumPy.

cross_entropy value+grad at (N, C) = (4096, 10), (4096, 100), (1024, 1000), (256, 32000) against
PyTorch cross_entropy forward + backward and a NumPy implementation; pointwise losses at 1M and
16M against NumPy and the copy roofline (12 bytes per float32 element: pred, target, grad). Every
case is checked against nnkernels (and nnkernels against the float64 reference) before timing;
the gradient is what is compared, the loss value is checked once per row. PyTorch is optional.
Run through ``python benchmarks/run.py`` (``--filter '^losses/'``) or this file alone.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402
from tests import reference as R  # noqa: E402

torch = harness.optional("torch")
L = nk.losses

FAMILY = "losses"
CE_SHAPES = ((4096, 10), (4096, 100), (1024, 1000), (256, 32000))
POINTWISE = ("mse", "huber", "log_cosh", "binary_cross_entropy_with_logits")
SIZES = (1 << 20, 1 << 24)
QUICK_SIZES = (1 << 20,)


# ---- NumPy peers: (loss, grad) with reduction="mean" ----


def np_cross_entropy(z, y):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = np.mean(np.log(s[:, 0]) - (z[rows, y] - m[:, 0]))
    g = e / s
    g[rows, y] -= 1
    g /= len(y)
    return loss, g


def np_pointwise(name, p, t):
    n = p.size
    d = p - t
    if name == "mse":
        return np.mean(d * d), (2 / n) * d
    if name == "huber":
        a = np.abs(d)
        inside = a <= 1
        v = np.where(inside, 0.5 * d * d, a - 0.5)
        return np.mean(v), np.where(inside, d, np.sign(d)) / n
    if name == "log_cosh":
        return np.mean(np.logaddexp(d, -d) - np.log(2).astype(p.dtype)), np.tanh(d) / n
    sp = np.logaddexp(0, -p)
    return np.mean((1 - t) * p + sp), (1 / (1 + np.exp(-p)) - t) / n


# ---- torch peers ----


def torch_cross_entropy(z, y):
    zt = torch.from_numpy(z).requires_grad_(True)
    yt = torch.from_numpy(y)

    def run():
        zt.grad = None
        loss = torch.nn.functional.cross_entropy(zt, yt)
        loss.backward()
        return zt.grad

    return run


def torch_pointwise(name, p, t):
    pt = torch.from_numpy(p).requires_grad_(True)
    tt = torch.from_numpy(t)
    F = torch.nn.functional
    fn = {
        "mse": F.mse_loss,
        "huber": F.huber_loss,
        "log_cosh": lambda a, b: torch.mean(torch.log(torch.cosh(a - b))),
        "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    }[name]

    def run():
        pt.grad = None
        fn(pt, tt).backward()
        return pt.grad

    return run


def loss_check(got, want, dtype) -> str | None:
    """None when nnkernels' loss value matches the reference's, else what differs."""
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if abs(float(got) - float(want)) <= rtol * abs(float(want)) + 1e-12:
        return None
    return f"loss value {float(got)!r}, the reference says {float(want)!r}"


def ce_bench(shape, dtype) -> harness.Bench:
    N, C = shape
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, shape).astype(dtype)
    y = rng.integers(0, C, N)
    g = np.empty_like(z)
    ref_v, ref_g = R.loss_cross_entropy(z, y)
    cases = {
        "nnkernels": lambda: L.cross_entropy_value_and_grad(z, y, out=g)[1],
        "numpy": lambda: np_cross_entropy(z, y)[1],
    }
    if torch is not None:
        cases["torch"] = torch_cross_entropy(z, y)
    return harness.Bench(
        cases,
        truth=lambda: ref_g / N,
        precheck=lambda: loss_check(L.cross_entropy(z, y), ref_v.mean(), dtype),
    )


def pointwise_bench(name, n, dtype) -> harness.Bench:
    rng = np.random.default_rng(7)
    p = rng.normal(0, 2, n).astype(dtype)
    t = rng.normal(0, 2, n).astype(dtype)
    if name == "binary_cross_entropy_with_logits":
        t = (t > 0).astype(dtype)
    g = np.empty_like(p)
    fn = getattr(L, name + "_value_and_grad")
    ref_v, ref_g = R.LOSS_REFS[name](p, t)
    cases = {
        "nnkernels": lambda: fn(p, t, out=g)[1],
        "numpy": lambda: np_pointwise(name, p, t)[1],
    }
    if torch is not None:
        cases["torch"] = torch_pointwise(name, p, t)
    return harness.Bench(
        cases,
        truth=lambda: ref_g / n,
        inputs={"pred": p, "target": t},
        precheck=lambda: loss_check(getattr(L, name)(p, t), ref_v.mean(), dtype),
    )


# ---- the family interface (benchmarks/README.md) ---------------------------------------------


def specs(opts: harness.Options) -> list[harness.Spec]:
    """cross_entropy at its (N, C) shapes (one in a quick run), then the pointwise losses per
    size; float32 unless asked otherwise."""
    out = []
    key = {"pass": "value_and_grad"}
    for dtype in opts.pick_dtypes(full=("float32",)):
        for N, C in CE_SHAPES[2:3] if opts.quick else CE_SHAPES:
            out.append(
                harness.Spec(
                    "cross_entropy",
                    f"{N}x{C}",
                    N * C,
                    dtype,
                    2,
                    functools.partial(ce_bench, (N, C), dtype),
                    key=key,
                )
            )
        for n in opts.pick_sizes(SIZES, QUICK_SIZES):
            for name in POINTWISE:
                make = functools.partial(pointwise_bench, name, n, dtype)
                out.append(harness.Spec(name, harness.size_label(n), n, dtype, 3, make, key=key))
    return out


def notes() -> list[str]:
    """What the reader of the results needs to know about these peers."""
    out = [
        "Losses: the gradient (reduction='mean') is what is gated and compared; nnkernels' loss "
        "value is checked against the float64 reference once per row. cross_entropy's roofline "
        "counts logits and gradient (2 arrays), pointwise losses pred, target, gradient (3).",
    ]
    if torch is None:
        out.append("PyTorch is not installed: its loss columns are skipped.")
    else:
        out.append("PyTorch loss peers are forward + autograd backward (log_cosh as log(cosh(d))).")
    return out


if __name__ == "__main__":
    import run

    sys.exit(run.main(family=sys.modules[__name__]))
