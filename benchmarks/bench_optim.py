"""Optimizers family: nnkernels.optim steps against PyTorch (for-loop, foreach, fused) and NumPy.

One row is one optimizer step over a list of arrays (float32 unless asked otherwise): 1x16M,
1x1M, 1x200k, 200x1k and 2000x100 elements (``--sizes`` replaces them by one array of each
size). Every implementation owns its copy of the parameters and state, and before timing each
one's first step is checked against nnkernels' (harness.bench_row). Bytes per element (the
copy-roofline comparison, float32): SGD 12, momentum/Adagrad/RMSprop/Lion 20, Adam family 28.
Run through ``python benchmarks/run.py`` (``--filter '^optim/'``) or this file alone.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402

torch = harness.optional("torch")

FAMILY = "optim"
# Row name -> (nnkernels class, options, torch.optim class or None, torch has fused, arrays
# touched per element: bytes per element are this times the itemsize)
OPTIMIZERS = {
    "SGD": ("SGD", {"lr": 1e-3}, "SGD", True, 3),
    "SGD-momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}, "SGD", True, 5),
    "Adagrad": ("Adagrad", {"lr": 1e-2}, "Adagrad", True, 5),
    "RMSprop": ("RMSprop", {"lr": 1e-3}, "RMSprop", False, 5),
    "Adam": ("Adam", {"lr": 1e-3}, "Adam", True, 7),
    "AdamW": ("AdamW", {"lr": 1e-3}, "AdamW", True, 7),
    "Adamax": ("Adamax", {"lr": 2e-3}, "Adamax", False, 7),
    "Adadelta": ("Adadelta", {"lr": 1.0}, "Adadelta", False, 7),
    "NAdam": ("NAdam", {"lr": 2e-3}, "NAdam", False, 7),
    "RAdam": ("RAdam", {"lr": 1e-3}, "RAdam", False, 7),
    "Lion": ("Lion", {"lr": 1e-4}, None, False, 5),
}
LAYOUTS = {
    "1x16M": (1, 1 << 24),
    "1x1M": (1, 1 << 20),
    "1x200k": (1, 200_000),
    "200x1k": (200, 1000),
    "2000x100": (2000, 100),
}
QUICK = (("SGD", "Adam"), ("1x1M", "1x200k", "200x1k"))


# ---- vectorized NumPy peers: in place, temporaries made once ---------------------------------


def numpy_step(name: str, params, grads, opts):
    """A step function for `name` over the lists, or None where there is no NumPy peer."""
    lr = opts["lr"]
    tmp = [np.empty_like(p) for p in params]
    if name == "SGD":

        def step():
            for p, g, t in zip(params, grads, tmp):
                np.multiply(g, lr, out=t)
                p -= t
    elif name == "SGD-momentum":
        bufs, first = [np.zeros_like(p) for p in params], [True]

        def step():
            for p, g, b, t in zip(params, grads, bufs, tmp):
                if first[0]:
                    np.copyto(b, g)
                else:
                    b *= opts["momentum"]
                    b += g
                np.multiply(b, lr, out=t)
                p -= t
            first[0] = False
    elif name in ("Adam", "AdamW"):
        b1, b2, eps, wd = 0.9, 0.999, 1e-8, 1e-2 if name == "AdamW" else 0.0
        ms, vs, t_ = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], [0]

        def step():
            t_[0] += 1
            t = t_[0]
            size, bc2 = lr / (1 - b1**t), np.sqrt(1 - b2**t)
            for p, g, m, v, w in zip(params, grads, ms, vs, tmp):
                if wd:
                    p *= 1 - lr * wd
                m *= b1
                m += (1 - b1) * g
                v *= b2
                np.multiply(g, g, out=w)
                w *= 1 - b2
                v += w
                np.sqrt(v, out=w)
                w /= bc2
                w += eps
                np.divide(m, w, out=w)
                w *= size
                p -= w
    else:
        return None
    return step


# ---- one row -----------------------------------------------------------------------------------


def cases_for(name: str, count: int, size: int, dtype=np.float32) -> harness.Bench:
    kind, opts, tname, fused, _ = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    base = [rng.standard_normal(size).astype(dtype) for _ in range(count)]
    grads = [(rng.standard_normal(size) * 0.1).astype(dtype) for _ in range(count)]

    def fresh():
        return [p.copy() for p in base]

    cases = {}
    ours = fresh()
    opt = getattr(nk.optim, kind)(ours, **opts)

    def nk_step():
        opt.step(grads)
        return ours[0]

    cases["nnkernels"] = nk_step
    if torch is not None and tname is not None:
        tgrads = [torch.from_numpy(g) for g in grads]
        variants = {"loop": {"foreach": False}, "foreach": {"foreach": True}}
        if fused:
            variants["fused"] = {"fused": True}
        for variant, flags in variants.items():
            tp = [torch.from_numpy(p) for p in fresh()]
            for x, g in zip(tp, tgrads):
                x.grad = g
            topt = getattr(torch.optim, tname)(tp, **opts, **flags)

            def t_step(topt=topt, tp=tp):
                with torch.no_grad():
                    topt.step()
                return tp[0].numpy()

            cases[f"torch[{variant}]"] = t_step
    np_params = fresh()
    step = numpy_step(name, np_params, grads, opts)
    if step is not None:

        def np_step(step=step, np_params=np_params):
            step()
            return np_params[0]

        cases["numpy"] = np_step
    return harness.Bench(cases)


# ---- the family interface (benchmarks/README.md) ---------------------------------------------


def specs(opts: harness.Options) -> list[harness.Spec]:
    """Every optimizer over every layout (SGD and Adam over three in a quick run); float32
    unless asked otherwise."""
    names, layouts = QUICK if opts.quick else (OPTIMIZERS, LAYOUTS)
    shapes = {k: LAYOUTS[k] for k in layouts}
    if opts.sizes:
        shapes = {f"1x{harness.size_label(n)}": (1, n) for n in opts.sizes}
    out = []
    for dtype in opts.pick_dtypes(full=("float32",)):
        for name in names:
            for label, (count, size) in shapes.items():
                out.append(
                    harness.Spec(
                        op=name,
                        shape=label,
                        n=count * size,
                        dtype=dtype,
                        arrays=OPTIMIZERS[name][4],
                        make=functools.partial(cases_for, name, count, size, dtype),
                        unit="param",
                        key={"pass": "step", "tensors": count},
                        curve=count == 1,
                    )
                )
    return out


def notes() -> list[str]:
    """What the reader of the results needs to know about these peers."""
    out = [
        "Optimizers: one step over the list of arrays (shape `200x1k` = 200 arrays of 1000); "
        "the roofline counts SGD 3 arrays, momentum/Adagrad/RMSprop/Lion 5, the Adam family 7. "
        "NumPy's peer exists for SGD, SGD-momentum, Adam, AdamW.",
    ]
    if torch is None:
        out.append("PyTorch is not installed: its optimizer columns are skipped.")
    else:
        out.append(
            "torch[loop] is foreach=False, fused=False; torch[fused] exists for SGD, Adagrad, "
            "Adam(W); the torch column shows the fastest of the three."
        )
    return out


if __name__ == "__main__":
    import run

    sys.exit(run.main(family=sys.modules[__name__]))
