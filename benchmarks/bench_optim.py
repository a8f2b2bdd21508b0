"""Benchmark nnkernels.optim steps against PyTorch (for-loop, foreach, fused) and NumPy.

One row is one optimizer step over a list of float32 arrays: 1x16M, 1x1M, 1x200k, 200x1k and
2000x100 elements. Every implementation owns its copy of the parameters and state, and before
timing each one's first step is checked against nnkernels' (harness.bench_row). Bytes per
element (the copy-roofline comparison): SGD 12, momentum/Adagrad/RMSprop/Lion 20, Adam family 28.
Uses benchmarks/harness.py. ``python benchmarks/bench_optim.py --help``.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402

torch = harness.optional("torch")

# Row name -> (nnkernels class, options, torch.optim class or None, torch has fused, bytes/elem)
OPTIMIZERS = {
    "SGD": ("SGD", {"lr": 1e-3}, "SGD", True, 12),
    "SGD-momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}, "SGD", True, 20),
    "Adagrad": ("Adagrad", {"lr": 1e-2}, "Adagrad", True, 20),
    "RMSprop": ("RMSprop", {"lr": 1e-3}, "RMSprop", False, 20),
    "Adam": ("Adam", {"lr": 1e-3}, "Adam", True, 28),
    "AdamW": ("AdamW", {"lr": 1e-3}, "AdamW", True, 28),
    "Adamax": ("Adamax", {"lr": 2e-3}, "Adamax", False, 28),
    "Adadelta": ("Adadelta", {"lr": 1.0}, "Adadelta", False, 28),
    "NAdam": ("NAdam", {"lr": 2e-3}, "NAdam", False, 28),
    "RAdam": ("RAdam", {"lr": 1e-3}, "RAdam", False, 28),
    "Lion": ("Lion", {"lr": 1e-4}, None, False, 20),
}
LAYOUTS = {
    "1x16M": (1, 1 << 24),
    "1x1M": (1, 1 << 20),
    "1x200k": (1, 200_000),
    "200x1k": (200, 1000),
    "2000x100": (2000, 100),
}


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


def cases_for(name: str, count: int, size: int, rng):
    kind, opts, tname, fused, _ = OPTIMIZERS[name]
    base = [rng.standard_normal(size).astype(np.float32) for _ in range(count)]
    grads = [rng.standard_normal(size).astype(np.float32) * 0.1 for _ in range(count)]

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
    return cases


def summarize(row) -> str:
    best = harness.best(row)
    us = best["nnkernels"][1] / 1e3
    gbs = harness.bandwidth(row)
    cells = [
        f"{row['op']:<13}{row['layout']:>9}  nnkernels {us:9.1f} us "
        f"{gbs:6.1f} GB/s ({100 * gbs / harness.copy_bandwidth(row):4.0f}% of copy)"
    ]
    for peer, (case, ns) in best.items():
        if peer != "nnkernels":
            cells.append(f"{case} {ns / 1e3:.1f} us (x{ns / best['nnkernels'][1]:.2f})")
    return "  ".join(cells)


def markdown(rows, env, notes) -> str:
    header = [
        "optimizer",
        "arrays",
        "nnkernels µs",
        "GB/s",
        "% of copy",
        "torch loop µs",
        "torch foreach µs",
        "torch fused µs",
        "NumPy µs",
        "speed-up vs best torch",
        "other load",
    ]
    out = []
    for row in rows:
        c = row["cases"]

        def us(name, c=c):
            return c[name]["median"] / 1e3 if "median" in c.get(name, {}) else "—"

        gbs = harness.bandwidth(row)
        sp = harness.speedups(row).get("torch", "—")
        out.append(
            [
                row["op"],
                row["layout"],
                us("nnkernels"),
                gbs,
                100 * gbs / harness.copy_bandwidth(row),
                us("torch[loop]"),
                us("torch[foreach]"),
                us("torch[fused]"),
                us("numpy"),
                sp,
                row["other_load"],
            ]
        )
    ratio_lines = []
    for op in dict.fromkeys(r["op"] for r in rows):
        t = {r["layout"]: r["cases"]["nnkernels"]["median"] for r in rows if r["op"] == op}
        if "200x1k" in t and "1x200k" in t:
            ratio_lines.append(
                f"- {op}: 200x1k / 1x200k = {t['200x1k'] / t['1x200k']:.2f}"
                + (
                    f", 2000x100 / 1x200k = {t['2000x100'] / t['1x200k']:.2f}"
                    if "2000x100" in t
                    else ""
                )
            )
    return "\n".join(
        [
            "# nnkernels.optim benchmark",
            "",
            f"{env['date']}, {env['cpu'].get('model name', '?')}, {env['cpu_count']} cores, "
            f"threads {env['threads']}, load {env['loadavg']}.",
            "",
            *[f"- {n}" for n in notes],
            "",
            "Medians of interleaved samples; GB/s counts the optimizer's bytes per element "
            "(SGD 12, momentum/Adagrad/RMSprop/Lion 20, Adam family 28); % of copy compares them "
            "with np.copyto of the same total size in the same run. Other load: cores kept busy "
            "by other processes meanwhile (the machine has 2); above ~0.3 a row is unreliable.",
            "",
            harness.markdown_table(header, out, left=2),
            "",
            "Many small arrays against one array of the same total size:",
            "",
            *ratio_lines,
            "",
        ]
    )


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Adam, SGD: 1x1M, 1x200k, 200x1k")
    ap.add_argument("--filter", default="", help="regex searched in 'optimizer:layout'")
    ap.add_argument("--threads", default=None, help="thread count (default: all cores)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=2e-3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    if a.quick and not a.filter:
        a.filter = r"^(Adam|SGD):(1x1M|1x200k|200x1k)$"
        a.repeats = min(a.repeats, 3)
    a.threads = int(a.threads) if a.threads else nk.get_num_threads()
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    pattern = re.compile(a.filter)
    notes = [
        "NumPy runs single-threaded; its peer exists for SGD, SGD-momentum, Adam, AdamW.",
        "torch[loop] is foreach=False, fused=False; fused exists for SGD, Adagrad, Adam(W).",
    ]
    if torch is None:
        notes.append("PyTorch is not installed: its columns are skipped.")
    rows, start, rng = [], time.perf_counter(), np.random.default_rng(0)
    with harness.threads(a.threads):
        for name, (_, _, _, _, bpe) in OPTIMIZERS.items():
            for layout, (count, size) in LAYOUTS.items():
                if not pattern.search(f"{name}:{layout}"):
                    continue
                cases = cases_for(name, count, size, rng)
                key = {"family": "optim", "op": name, "layout": layout, "tensors": count}
                row = harness.bench_row(
                    key,
                    count * size,
                    np.float32,
                    bpe // 4,
                    cases,
                    repeats=a.repeats,
                    min_time=a.min_time,
                )
                rows.append(row)
                print(summarize(row), flush=True)
                del cases
    env = harness.environment([a.threads])
    print(f"{len(rows)} rows in {time.perf_counter() - start:.0f} s")
    fails = [
        f"{r['op']} {r['layout']} {k}: {c['gate']}"
        for r in rows
        for k, c in r["cases"].items()
        if c["gate"] != "ok"
    ]
    if fails:
        print("\nCorrectness-gate results other than ok:\n  " + "\n  ".join(fails))
    if not a.no_write:
        paths = harness.write_results(
            "optim-" + (a.out or socket.gethostname()), rows, env, markdown(rows, env, notes)
        )
        print("wrote " + " and ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
