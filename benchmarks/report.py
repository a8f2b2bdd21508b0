"""Reports of the benchmark suite: terminal lines, the markdown page and the PNG plots.

Works on the JSON-ready rows of :func:`harness.bench_row` (as ``run.py`` makes them: with
``family``, ``op``, ``shape``, ``unit`` and ``curve``), so a results JSON can be re-plotted.
"""

from __future__ import annotations

import math
from pathlib import Path

import harness

PEERS = ("numpy", "torch", "numexpr", "sklearn")
LOAD = 0.25  # cores of other work from which a row is flagged as measured on a busy machine


# ---- one row ----------------------------------------------------------------------------------


def busy(row: dict) -> float | None:
    """Cores other processes kept busy during the row, when that is enough to matter."""
    load = row.get("other_load")
    return load if load is not None and load >= LOAD else None


def row_label(r: dict, where: bool = False) -> str:
    """'activations/gelu:forward 1M', with ``where`` also ', float32, 2 threads'."""
    label = f"{r['family']}/{r['op']} {r['shape']}"
    if where:
        label += f", {r['dtype']}, {r['threads']} thread{'s' * (r['threads'] > 1)}"
    return label


def rate(r: dict, case: str = harness.REFERENCE) -> float:
    """Units per ns (G units per s) of a case's median; NaN when it was not timed."""
    median = r["cases"].get(case, {}).get("median")
    return r["n"] / median if median else float("nan")


def best_ratio(r: dict) -> tuple[str, float] | None:
    """(the fastest peer's case, peer time / nnkernels time) or None without a timed peer."""
    fastest = harness.best(r)
    ups = harness.speedups(r)
    if not ups:
        return None
    peer = min(ups, key=ups.get)
    return fastest[peer][0], ups[peer]


def row_line(r: dict) -> str:
    """One terminal line per row."""
    line = f"{row_label(r, True):58s} "
    if "median" not in r["cases"][harness.REFERENCE]:
        return line + r["cases"][harness.REFERENCE]["gate"]
    line += f"{si(rate(r) * 1e9)}{r.get('unit', 'elem')}/s"
    if r.get("copy"):
        line += f" {100 * harness.bandwidth(r) / harness.copy_bandwidth(r):4.0f}% copy"
    line += " | " + " ".join(f"{p} {u:.2f}x" for p, u in harness.speedups(r).items())
    fails = [f"{k} {c['gate'].split(':')[0]}" for k, c in r["cases"].items() if c["gate"] != "ok"]
    return line + (f" | {', '.join(fails)}" if fails else "")


def si(v: float) -> str:
    """1.23e9 -> '1.23 G', 4.5e4 -> '45 k'."""
    if not math.isfinite(v):
        return "- "
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{harness.fmt(v / scale)} {prefix}"
    return f"{harness.fmt(float(v))} "


# ---- lists ------------------------------------------------------------------------------------


def overlaps(a: dict, b: dict) -> bool:
    """Whether two timings' interquartile ranges overlap (the difference is within noise)."""
    return a["q1"] <= b["q3"] and b["q1"] <= a["q3"]


def slower_cells(rows: list[dict]) -> list[str]:
    """Every row and peer where the peer's fastest case beats nnkernels."""
    cells = []
    for r in rows:
        fastest = harness.best(r)
        for p, u in harness.speedups(r).items():
            if u < 1:
                noise = overlaps(r["cases"][harness.REFERENCE], r["cases"][fastest[p][0]])
                cells.append(
                    f"{row_label(r, True)}: {fastest[p][0]} {1 / u:.2f}× faster"
                    + (" — IQRs overlap" if noise else "")
                    + (f" — machine busy ({busy(r)} cores of other work)" if busy(r) else "")
                )
    return cells


def gate_failures(rows: list[dict]) -> list[str]:
    """Every case whose result is not within the strict tolerance (FAIL first)."""
    out = [
        f"{row_label(r, True)}: {k}: {c['gate']}"
        for r in rows
        for k, c in r["cases"].items()
        if c["gate"] != "ok"
    ]
    return sorted(out, key=lambda f: ": inexact" in f)


# ---- summary ----------------------------------------------------------------------------------


def groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows by (family, dtype, threads), in order of appearance."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault((r["family"], r["dtype"], r["threads"]), []).append(r)
    return out


def peers_in(rows: list[dict]) -> list[str]:
    """The peers that appear in the rows, in the usual order (unknown ones last)."""
    seen = {harness.peer_of(k) for r in rows for k in r["cases"]} - {harness.REFERENCE}
    return [p for p in PEERS if p in seen] + sorted(seen - set(PEERS))


def geomean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def summary_table(rows: list[dict]) -> str:
    """Per (family, dtype, threads): geometric-mean speed-up over each peer, the rows where
    nnkernels beats the best peer, and gate failures."""
    peers = peers_in(rows)
    header = ["family", "dtype", "threads", "rows"]
    header += [f"× {p} (geo-mean)" for p in peers]
    header += ["faster than best peer", "gate failures"]
    table = []
    for (family, dtype, threads), block in groups(rows).items():
        ups = [harness.speedups(r) for r in block]
        ratios = [b[1] for b in map(best_ratio, block) if b]
        fails = sum(c["gate"].startswith("FAIL") for r in block for c in r["cases"].values())
        line = [family, dtype, threads, len(block)]
        line += [_or_dash(geomean([u[p] for u in ups if p in u])) for p in peers]
        line += [f"{sum(x > 1 for x in ratios)} of {len(ratios)}", fails]
        table.append(line)
    return harness.markdown_table(header, table, left=2)


def _or_dash(v: float):
    return "-" if not math.isfinite(v) else v


def summary_text(rows: list[dict], status: dict[str, str], wall: float) -> str:
    """What the terminal shows at the end: the summary, failures and families not run."""
    out = [f"{len(rows)} rows in {wall:.0f} s", ""]
    if rows:
        out += [summary_table(rows), ""]
    out += [f"{name}: {s}" for name, s in status.items() if s != "ran"]
    fails = [f for f in gate_failures(rows) if ": inexact" not in f]
    if fails:
        out += ["", "Correctness-gate failures (not timed):", *[f"  {f}" for f in fails]]
    return "\n".join(out)


# ---- the page ---------------------------------------------------------------------------------


def markdown(rows: list[dict], env: dict, status: dict[str, str], notes: list[str]) -> str:
    """The results page: environment, summary, one table per family and configuration, then
    where nnkernels is slower and every gate result other than ok."""
    v, cpu = env["versions"], env["cpu"]
    torch_isa = f" (ISA level {env['torch_isa']})" if env.get("torch_isa") else ""
    out = [
        f"# nnkernels benchmarks: {env['host']}",
        "",
        f"{env['date']}; {cpu.get('model name', '?')}, {env['cpu_count']} cores "
        f"({' '.join(env['cpu_flags'])}); nnkernels {env['nnkernels'].get('version')} "
        f"ISA level {env['isa']}, {env['compiler']}; threads {env['threads']}; "
        + ", ".join(f"{k} {v[k] or 'absent'}{torch_isa if k == 'torch' else ''}" for k in v)
        + f"; load average {env['loadavg']} at start, {env.get('loadavg_end')} at the end; "
        f"{env.get('wall_seconds')} s. Command: `{' '.join(env['argv'])}`.",
        "",
        *runs_note(env),
        "`×peer` = peer time / nnkernels time, medians, against the peer's fastest variant "
        "(> 1: nnkernels faster); † the peer's result is only within the loose tolerance of the "
        "correctness gate; FAIL: beyond it, so not timed (listed at the end). `IQR %` = "
        "nnkernels' interquartile range over its median; `% copy` = nnkernels' effective "
        "bandwidth over `np.copyto`'s in the same row; `busy` = cores other processes kept "
        f"busy during the row (shown from {LOAD}: such rows are unreliable). "
        "See benchmarks/README.md.",
        "",
        "## Summary",
        "",
        summary_table(rows) if rows else "No rows.",
        "",
    ]
    out += [f"- {name}: {s}" for name, s in status.items() if s != "ran"]
    out += [f"- {n}" for n in notes] + [""]
    for (family, dtype, threads), block in groups(rows).items():
        out += [f"## {family}, {dtype}, {threads} thread{'s' * (threads > 1)}", ""]
        out += [family_table(block), ""]
    out += ["## Where nnkernels is slower than a peer", ""]
    out += [f"- {s}" for s in slower_cells(rows)] or ["None."]
    out += ["", "## Correctness-gate results other than ok", ""]
    out += [f"- {f}" for f in gate_failures(rows)] or ["None."]
    return "\n".join(out) + "\n"


def runs_note(env: dict) -> list[str]:
    """For a page made from several runs: what its numbers are, and each run's context."""
    runs = env.get("runs")
    if not runs:
        return []
    each = "; ".join(
        f"{r['date']}, load {r['loadavg']} to {r['loadavg_end']}, {r['wall_seconds']} s"
        for r in runs
    )
    return [
        f"Combined from {len(runs)} runs ({each}): every statistic of a row is the median over "
        "the runs (min and max over all), so a burst of noise in one run does not decide a "
        "row; the environment above is the first run's, the wall time the sum.",
        "",
    ]


def family_table(block: list[dict]) -> str:
    """One table: a line per row with nnkernels' time and throughput and the ratios."""
    peers = peers_in(block)
    unit = block[0].get("unit", "elem")
    header = ["op", "shape", "nnkernels µs", f"{unit}/s", "IQR %"]
    header += [f"×{p}" for p in peers] + ["% copy", "busy"]
    table = []
    for r in block:
        c, ups, fastest = r["cases"], harness.speedups(r), harness.best(r)
        t = c[harness.REFERENCE]
        if "median" in t:
            line = [r["op"], r["shape"], t["median"] / 1e3, si(rate(r) * 1e9)]
            line.append(100 * (t["q3"] - t["q1"]) / t["median"])
        else:
            line = [r["op"], r["shape"], "FAIL", "", ""]
        for p in peers:
            if p in ups:
                mark = "†" if c[fastest[p][0]]["gate"] != "ok" else ""
                line.append(f"{harness.fmt(ups[p])}{mark}")
            else:
                line.append("FAIL" if any(harness.peer_of(k) == p for k in c) else "-")
        pct = 100 * harness.bandwidth(r) / harness.copy_bandwidth(r)
        line += [_or_dash(pct), busy(r) or ""]
        table.append(line)
    return harness.markdown_table(header, table, left=2)


# ---- plots ------------------------------------------------------------------------------------

RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
COLORS = {"nnkernels": "#d62728", "numpy": "#1f77b4", "torch": "#ff7f0e", "numexpr": "#2ca02c"}


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    matplotlib = harness.optional("matplotlib")
    if matplotlib is None:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def first_config(block: list[dict]) -> list[dict]:
    """The rows of the first (dtype, threads) of a family: what its plots show."""
    dtype, threads = block[0]["dtype"], block[0]["threads"]
    return [r for r in block if r["dtype"] == dtype and r["threads"] == threads]


def plots(rows: list[dict], out: Path, host: str) -> list[Path] | None:
    """``<host>-<family>.png`` per family (throughput against size per op, peers and the
    roofline) and ``<host>-speedup.png``; None when matplotlib is missing."""
    plt = pyplot()
    if plt is None:
        return None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    families: dict[str, list[dict]] = {}
    for r in rows:
        families.setdefault(r["family"], []).append(r)
    for family, block in families.items():
        fig = throughput_figure(plt, family, first_config(block))
        if fig is not None:
            paths.append(save(plt, fig, out / f"{host}-{family}.png"))
    if rows:
        fig = speedup_figure(plt, [first_config(b) for b in families.values()])
        paths.append(save(plt, fig, out / f"{host}-speedup.png"))
    return paths


def save(plt, fig, path: Path) -> Path:
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def throughput_figure(plt, family: str, block: list[dict]):
    """Small multiples: per op (its passes ``op:pass`` share a panel, solid then dashed),
    throughput against n for nnkernels, each peer's fastest case and the copy roofline (copy
    bandwidth / the op's bytes per element, grey)."""
    panels: dict[str, dict[str, list[dict]]] = {}
    for r in block:
        if r.get("curve", True):
            name, _, pass_ = r["op"].partition(":")
            panels.setdefault(name, {}).setdefault(pass_, []).append(r)
    if not panels:
        return None
    cols = min(6, len(panels))
    nrows = math.ceil(len(panels) / cols)
    height = 1.6 * nrows + 0.8
    fig, axes = plt.subplots(nrows, cols, figsize=(2.1 * cols, height), squeeze=False)
    handles = {}
    for ax, (name, passes) in zip(axes.flat, panels.items()):
        for style, (pass_, rs) in zip(("-", "--", ":", "-."), passes.items()):
            rs = sorted(rs, key=lambda r: r["n"])
            n = [r["n"] for r in rs]
            for peer in [harness.REFERENCE, *peers_in(rs)]:
                ys = [
                    r["n"] / harness.best(r)[peer][1] if peer in harness.best(r) else math.nan
                    for r in rs
                ]
                (line,) = ax.plot(
                    n,
                    ys,
                    ls=style,
                    marker=".",
                    ms=3,
                    color=COLORS.get(peer),
                    label=peer,
                    lw=1.8 if peer == harness.REFERENCE else 0.9,
                )
                handles.setdefault(peer, line)
            roof = [harness.roofline(r) for r in rs]
            if any(math.isfinite(v) for v in roof):
                (line,) = ax.plot(n, roof, ls=style, lw=0.8, color="0.6")
                handles.setdefault("copy roofline", line)
            if pass_:
                (line,) = ax.plot([], [], ls=style, color="k", lw=0.9)
                handles.setdefault(pass_, line)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=8, pad=2)
        ax.tick_params(labelsize=6, pad=1)
        ax.grid(alpha=0.3, lw=0.5)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    r0, unit = block[0], block[0].get("unit", "elem")
    fig.suptitle(
        f"{family}: G{unit}/s against {unit}s per call, {r0['dtype']}, {r0['threads']} "
        f"thread{'s' * (r0['threads'] > 1)} (higher is better)",
        fontsize=9,
    )
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=7)
    fig.subplots_adjust(
        left=0.05, right=0.99, top=1 - 0.45 / height, bottom=0.55 / height, wspace=0.3, hspace=0.45
    )
    return fig


def speedup_figure(plt, blocks: list[list[dict]]):
    """Per family a panel: per op, nnkernels' speed-up over the fastest peer at every shape
    (log scale, 1× line); > 1 means nnkernels is faster."""
    panels = []
    for block in blocks:
        ops: dict[str, list[tuple[str, float]]] = {}
        for r in block:
            b = best_ratio(r)
            if b:
                ops.setdefault(r["op"], []).append((r["shape"], b[1]))
        if ops:
            panels.append((block[0], ops))
    if not panels:
        fig = plt.figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no peer timed", ha="center")
        return fig
    heights = [len(ops) + 2 for _, ops in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.5, 0.15 * sum(heights) + 0.5),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    from matplotlib import ticker

    cmap = plt.get_cmap("viridis")
    for ax, (r0, ops) in zip(axes[:, 0], panels):
        shapes = list(dict.fromkeys(s for v in ops.values() for s, _ in v))
        for i, shape in enumerate(shapes):
            ys, xs = [], []
            for y, v in enumerate(ops.values()):
                xs += [u for s, u in v if s == shape]
                ys += [y for s, _ in v if s == shape]
            color = cmap(i / max(1, len(shapes) - 1))
            ax.scatter(xs, ys, s=12, color=color, label=shape, zorder=3)
        ax.axvline(1, color="k", lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.FixedLocator(RATIO_TICKS))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_yticks(range(len(ops)))
        ax.set_yticklabels(list(ops), fontsize=6)
        ax.set_ylim(len(ops) - 0.5, -0.5)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(alpha=0.3, lw=0.5, axis="x")
        ax.set_title(
            f"{r0['family']} ({r0['dtype']}, {r0['threads']} thread"
            f"{'s' * (r0['threads'] > 1)}): peer time / nnkernels time, fastest peer",
            fontsize=8,
        )
        ax.legend(
            fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), title="shape", title_fontsize=6
        )
    fig.tight_layout()
    return fig
