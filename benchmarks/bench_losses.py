"""Benchmark nnkernels' fused losses (value and gradient in one pass) against PyTorch and NumPy.

cross_entropy value+grad at (N, C) = (4096, 10), (1024, 1000), (256, 32000) against PyTorch
cross_entropy forward + backward and a NumPy implementation; pointwise losses at 1M and 16M
against NumPy and the copy roofline (12 bytes per float32 element: pred, target, grad). Every
case is checked against nnkernels (and nnkernels against the float64 reference) before timing;
the gradient is what is compared, the loss is checked once per row. PyTorch is optional. Run
``python benchmarks/bench_losses.py --help``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402
from tests import reference as R  # noqa: E402

torch = harness.optional("torch")
L = nk.losses

CE_SHAPES = ((4096, 10), (1024, 1000), (256, 32000))
POINTWISE = ("mse", "huber", "log_cosh", "binary_cross_entropy_with_logits")
SIZES = (1 << 20, 1 << 24)


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


def check_loss(got, want, dtype, what):
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if not abs(float(got) - float(want)) <= rtol * abs(float(want)) + 1e-12:
        raise SystemExit(f"{what}: loss {got!r} but the reference says {want!r}")


def ce_row(shape, dtype, rng, a):
    N, C = shape
    z = rng.normal(0, 3, shape).astype(dtype)
    y = rng.integers(0, C, N)
    g = np.empty_like(z)
    ref_v, ref_g = R.loss_cross_entropy(z, y)
    check_loss(L.cross_entropy(z, y), ref_v.mean(), dtype, f"cross_entropy {shape}")
    cases = {
        "nnkernels": lambda: L.cross_entropy_value_and_grad(z, y, out=g)[1],
        "numpy": lambda: np_cross_entropy(z, y)[1],
    }
    if torch is not None:
        cases["torch"] = torch_cross_entropy(z, y)
    key = {"family": "losses", "op": "cross_entropy", "shape": f"{N}x{C}"}
    return harness.bench_row(
        key, N * C, dtype, 2, cases, lambda: ref_g / N, None, a.repeats, a.min_time
    )


def pointwise_row(name, n, dtype, rng, a):
    p = rng.normal(0, 2, n).astype(dtype)
    t = rng.normal(0, 2, n).astype(dtype)
    if name == "binary_cross_entropy_with_logits":
        t = (t > 0).astype(dtype)
    g = np.empty_like(p)
    fn = getattr(L, name + "_value_and_grad")
    ref_v, ref_g = R.LOSS_REFS[name](p, t)
    check_loss(getattr(L, name)(p, t), ref_v.mean(), dtype, f"{name} {n}")
    cases = {
        "nnkernels": lambda: fn(p, t, out=g)[1],
        "numpy": lambda: np_pointwise(name, p, t)[1],
    }
    if torch is not None:
        cases["torch"] = torch_pointwise(name, p, t)
    key = {"family": "losses", "op": name, "shape": str(n)}
    truth = lambda: ref_g / n  # noqa: E731
    return harness.bench_row(key, n, dtype, 3, cases, truth, None, a.repeats, a.min_time)


def summarize(row) -> str:
    ups = harness.speedups(row)
    bw = harness.bandwidth(row) / harness.copy_bandwidth(row)
    gates = {k: c["gate"] for k, c in row["cases"].items() if c["gate"] != "ok"}
    med = row["cases"]["nnkernels"].get("median", float("nan")) / 1e3
    return (
        f"{row['op']:>34} {row['shape']:>10} {row['dtype']} t={row['threads']}: "
        f"nnkernels {med:9.1f} us, {100 * bw:5.0f}% of copy; speed-up "
        + ", ".join(f"{p} {s:.2f}x" for p, s in ups.items())
        + (f"  gates: {gates}" if gates else "")
    )


def table_row(r) -> list:
    ups = harness.speedups(r)
    return [
        r["op"],
        r["shape"],
        r["dtype"],
        r["threads"],
        r["cases"]["nnkernels"]["median"] / 1e3,
        100 * harness.bandwidth(r) / harness.copy_bandwidth(r),
        ups.get("torch", float("nan")),
        ups.get("numpy", float("nan")),
    ]


def parse_args(argv=None):
    def ints(s):
        return [int(v) for v in s.split(",") if v]

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 thread, 1M only, 3 repeats of 1 ms")
    ap.add_argument("--threads", type=ints, help="thread counts (default 1 and all cores)")
    ap.add_argument("--dtype", default="float32", help="float32,float64 (default float32)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=2e-3)
    ap.add_argument("--only", default="", help="'ce' or 'pointwise' (default both)")
    ap.add_argument("--out", help="results name (default: losses-<hostname>)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    a.dtype = [np.dtype(d) for d in a.dtype.split(",")]
    if a.threads is None:
        a.threads = [1] if a.quick else sorted({1, os.cpu_count() or 1})
    a.sizes = SIZES[:1] if a.quick else SIZES
    if a.quick:
        a.repeats, a.min_time = 3, 1e-3
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    rng = np.random.default_rng(7)
    env = harness.environment(a.threads)
    rows, start = [], time.perf_counter()
    for dtype in a.dtype:
        for threads in a.threads:
            with harness.threads(threads):
                if torch is not None:
                    torch.set_num_threads(threads)
                if a.only in ("", "ce"):
                    for shape in CE_SHAPES:
                        rows.append(ce_row(shape, dtype, rng, a))
                        print(summarize(rows[-1]), flush=True)
                if a.only in ("", "pointwise"):
                    for n in a.sizes:
                        for name in POINTWISE:
                            rows.append(pointwise_row(name, n, dtype, rng, a))
                            print(summarize(rows[-1]), flush=True)
    print(f"{len(rows)} rows in {time.perf_counter() - start:.0f} s")
    if not a.no_write:
        header = ["op", "shape", "dtype", "threads", "nnkernels us", "% of copy"]
        md = harness.markdown_table(header + ["vs torch", "vs numpy"], [table_row(r) for r in rows])
        paths = harness.write_results(a.out or f"losses-{env['hostname']}", rows, env, md + "\n")
        print("wrote", *paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
