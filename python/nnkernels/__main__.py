"""Command line: ``python -m nnkernels [check|demo|info|table]``.

- ``check`` (the default): build facts, then the float32 forward of the transcendental
  activations measured against a float64 NumPy evaluation over the whole real line, on every
  ISA level this CPU supports: the worst error in ulp next to the bound the library promises.
  Exits 1 if any function is outside its bound (the test suite covers every function, its
  derivative and its backward).
- ``demo``: trains an MLP (nnkernels.nn) on scikit-learn's bundled digits: per-epoch progress,
  test accuracy, and the time per epoch next to the same model (same seed) trained with the
  pure-NumPy backend. Needs scikit-learn (``pip install ".[demo]"``).
- ``info``: the build and runtime configuration (``nnkernels.show_config()``).
- ``table``: the README's table of activations and accuracy bounds, as markdown.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import numpy as np

from . import _core, activations, show_config


def _phi(x):
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    return 0.5 * erfc(-x / math.sqrt(2.0))


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# Float64 truth for the self-check: the math written independently of the kernels.
_TRUTH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "gelu": lambda x: np.where(_phi(x) == 0, 0.0, x * _phi(x)),
    "silu": lambda x: np.where(_sigmoid(x) == 0, 0.0, x * _sigmoid(x)),
    "mish": lambda x: np.where(x == -np.inf, 0.0, x * np.tanh(np.logaddexp(0, x))),
    "softplus": lambda x: np.where(x > 20, x, np.logaddexp(0, x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "logsigmoid": lambda x: -np.logaddexp(0, -x),
}


def _inputs(dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    with np.errstate(over="ignore"):
        mags = np.geomspace(float(fi.tiny), float(fi.max), 20000)
    x = np.concatenate([mags, -mags, np.linspace(-30, 30, 200001), [0.0, np.inf, -np.inf]])
    return x.astype(dtype)


def _max_ulp(got: np.ndarray, truth: np.ndarray, dtype, floor: float) -> float:
    fi = np.finfo(dtype)
    with np.errstate(all="ignore"):
        rounded = truth.astype(dtype).astype(np.float64)
        g = got.astype(np.float64)
        err = np.where((g == truth) | (g == rounded), 0.0, np.abs(g - truth))
        err = np.where(err <= floor * float(fi.eps) + float(fi.tiny), 0.0, err)
        ulps = err / np.spacing(np.abs(rounded).astype(dtype)).astype(np.float64)
    return float(np.nanmax(np.where(err == 0, 0.0, ulps)))


def check() -> int:
    show_config()
    print()
    levels = [lv for lv in _core.ISA_LEVELS.split(",") if _core.isa_supported(lv)]
    x = _inputs(np.float32)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        truth = {name: fn(x64) for name, fn in _TRUTH.items()}
    failures = 0
    print(f"float32 accuracy over {x.size} inputs spanning the real line (worst error, ulp)")
    print(f"{'function':<12}" + "".join(f"{lv:>10}" for lv in levels) + f"{'bound':>8}")
    previous = _core.isa()
    try:
        for name, want in truth.items():
            info = _core.ELEMENTWISE[name]
            row = []
            for level in levels:
                _core.select_isa(level)
                # No floor: these forwards keep relative accuracy down to their tiny tails (the
                # floor, meant for derivatives crossing zero, hid every error of gelu's tail).
                worst = _max_ulp(getattr(activations, name)(x), want, np.float32, 0.0)
                failures += worst > _core.bound(name)[0]  # this level's (bound: the largest)
                row.append(worst)
            print(f"{name:<12}" + "".join(f"{w:>10.2f}" for w in row) + f"{info['ulp']:>8g}")
        _core.select_isa(previous)
        big = np.random.default_rng(0).uniform(-8, 8, 16 << 20).astype(np.float32)
        out = np.empty_like(big)
        print(f"\nthroughput at 16M float32, {_core.get_num_threads()} threads ({previous})")
        for name in ("relu", "sigmoid", "tanh", "gelu", "silu"):
            fn = getattr(activations, name)
            fn(big, out=out)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                fn(big, out=out)
                times.append(time.perf_counter() - t)
            print(f"  {name:<10}{big.size / np.median(times) / 1e9:8.2f} Gelem/s")
    finally:
        _core.select_isa(previous)
    print("\nall within bound" if not failures else f"\n{failures} outside their bound")
    return 1 if failures else 0


def table() -> str:
    rows = [
        "| activation | f(x) | derivative | backward from y | float32 bound |",
        "|---|---|---|---|---|",
    ]
    for s in activations.SPECS:
        defaults = [v for _, v in s.params]
        info = _core.ELEMENTWISE[s.kernel_name(*defaults)]
        params = ", ".join(f"{p}={d!r}" for p, d in s.params)
        name = f"`{s.name}({'x' + (', ' + params if params else '')})`"
        bound = f"{info['ulp']:g} ulp" if info["ulp"] else "exact"
        if info["floor"]:
            bound += f" (floor {info['floor']:g} eps)"
        from_y = "yes" if activations.get(s.name).from_output else "no"
        rows.append(f"| {name} | {s.formula} | {s.derivative} | {from_y} | {bound} |")
    return "\n".join(rows)


def demo(epochs: int = 20, seed: int = 0) -> int:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print('the demo needs scikit-learn: pip install ".[demo]"', file=sys.stderr)
        return 2
    from . import nn

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 5
    test, train = order[:n_test], order[n_test:]
    print(
        f"digits: {len(train)} training and {n_test} test images of 8x8 pixels, 10 classes; "
        f"{_core.isa()}, {_core.get_num_threads()} threads\n"
    )

    def model(backend):
        return nn.Sequential(
            [nn.Dense(256, "relu"), nn.Dense(128, "relu"), nn.Dense(10)],
            loss="cross_entropy",
            optimizer="adam",
            lr=1e-3,
            backend=backend,
            rng=seed,
        )

    models = {b: model(b) for b in ("nnkernels", "numpy")}
    times: dict[str, list[float]] = {b: [] for b in models}
    print("64 -> 256 relu -> 128 relu -> 10, softmax cross-entropy, adam, batch 32; the same")
    print("model and seed with both backends, epochs interleaved so both see the same machine load")
    print(f"{'epoch':>5}{'loss':>10}{'test acc':>9}{'nnkernels ms':>14}{'numpy ms':>10}")
    for epoch in range(epochs):
        for backend, m in models.items():
            h = m.fit(
                X[train],
                y[train],
                epochs=1,
                batch_size=32,
                verbose=0,
                validation_data=(X[test], y[test]),
            )
            times[backend].append(h["epoch_time"][-1])
        h = models["nnkernels"].history
        print(
            f"{epoch + 1:>5}{h['loss'][-1]:>10.4f}{h['val_accuracy'][-1]:>9.4f}"
            f"{times['nnkernels'][-1] * 1e3:>14.1f}{times['numpy'][-1] * 1e3:>10.1f}"
        )
    print(f"\n{'backend':<12}{'test accuracy':>15}{'median ms / epoch':>19}")
    accuracy = {}
    for backend, m in models.items():
        accuracy[backend] = float(np.mean(m.predict(X[test]) == y[test]))
        median = float(np.median(times[backend])) * 1e3
        print(f"{backend:<12}{accuracy[backend]:>15.4f}{median:>19.1f}")
    ratio = float(np.median(np.array(times["numpy"]) / np.array(times["nnkernels"])))
    print(
        f"\nper epoch, nnkernels is {ratio:.2f}x as fast as the NumPy reference kernels "
        "(median of the per-epoch ratios)"
    )
    return 0 if accuracy["nnkernels"] >= 0.97 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nnkernels",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", nargs="?", default="check", choices=["check", "demo", "info", "table"]
    )
    args = parser.parse_args(argv)
    if args.command == "info":
        show_config()
        return 0
    if args.command == "demo":
        return demo()
    if args.command == "table":
        print(table())
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
