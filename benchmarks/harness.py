"""Timing harness shared by the benchmark families (``bench_<family>.py``) and ``run.py``.

A *row* is one operation at one size, dtype and thread count. Its *cases* are named callables
without arguments, one per implementation: ``"nnkernels"`` first, then the peers; a peer may come in
variants written ``"peer[variant]"`` (``"torch[out]"``), and the peer's column shows its fastest
variant. :func:`bench_row` checks nnkernels against a float64 truth and every peer against
nnkernels before timing, then times the cases that passed together with a ``np.copyto`` roofline,
interleaved. A family describes its rows as :class:`Spec` objects (see benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import os
import platform
import socket
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

import nnkernels as nk

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "nnkernels"
COPY = "copy"
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def optional(name: str):
    """Import an optional peer library, or return None when it is absent or broken."""
    try:
        return importlib.import_module(name)
    except Exception:  # any import failure means "peer absent"
        return None


# ---- what a family provides -----------------------------------------------------------------


@dataclass
class Options:
    """The suite's options as a family sees them; ``None`` means "the family's default"."""

    quick: bool = False
    dtypes: list | None = None
    sizes: list | None = None
    repeats: int = 7
    min_time: float = 2e-3

    def pick_dtypes(self, full=("float32", "float64"), quick=("float32",)) -> list[np.dtype]:
        """The dtypes asked for, else the family's default for a quick or full run."""
        return [np.dtype(d) for d in (self.dtypes or (quick if self.quick else full))]

    def pick_sizes(self, full, quick) -> list[int]:
        """The sizes asked for, else the family's default for a quick or full run."""
        return list(self.sizes or (quick if self.quick else full))


@dataclass
class Bench:
    """What a row times, made by :attr:`Spec.make` right before it is gated and timed.

    ``cases``: ``"nnkernels"`` first, then the peers (see :func:`bench_row`); ``truth``: a float64
    evaluation nnkernels is checked against; ``inputs``: named inputs quoted where a check fails;
    ``precheck``: a check of nnkernels beyond what its case returns (a loss value), returning a
    message when it fails; ``gate``: the comparison when :func:`gate`'s tolerance does not fit
    (``within(0.05)`` for an accuracy after a training epoch).
    """

    cases: dict[str, Callable[[], Any]]
    truth: Callable[[], Any] | None = None
    inputs: dict | None = None
    precheck: Callable[[], str | None] | None = None
    gate: Callable[..., str] | None = None


@dataclass
class Spec:
    """One row of a family, described cheaply; :attr:`make` allocates its inputs.

    ``op`` is the name ``--filter`` searches (as ``family/op``) and the plots draw one curve per
    (family, op, dtype, threads) against ``n``; ``shape`` labels the size in tables;
    ``arrays`` arrays of ``n`` elements are touched per call (the roofline's bytes; 0: no
    roofline); ``unit`` is what ``n`` counts; ``key`` adds fields to the JSON row;
    ``curve=False`` keeps a row out of the throughput-against-size curves.
    """

    op: str
    shape: str
    n: int
    dtype: Any
    arrays: int
    make: Callable[[], Bench]
    unit: str = "elem"
    key: dict = field(default_factory=dict)
    curve: bool = True


def size_label(n: int) -> str:
    """4096 -> '4K', 1048576 -> '1M', 200000 -> '200000'."""
    for unit, div in (("M", 1 << 20), ("K", 1 << 10)):
        if n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


# ---- timing ---------------------------------------------------------------------------------


@dataclass
class Timing:
    """Per-call times in nanoseconds of one case over the samples of a row."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    loops: int
    samples: int

    @classmethod
    def of(cls, per_call: list[float], loops: int) -> Timing:
        q1, _, q3 = (
            statistics.quantiles(per_call, n=4, method="inclusive")
            if len(per_call) > 1
            else per_call * 3
        )
        ns = [
            round(v, 1) for v in (statistics.median(per_call), q1, q3, min(per_call), max(per_call))
        ]
        return cls(*ns, loops, len(per_call))


def _run(fn: Callable[[], Any], loops: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(loops):
        fn()
    return time.perf_counter_ns() - start


def _calibrate(fn: Callable[[], Any], min_ns: float) -> int:
    """Loop count so that one sample lasts at least ``min_ns`` (the runs double as warm-up).

    One call first, untimed: a first call can pay once for what later calls do not (OpenMP
    starting a team of a new size, first-touch page faults). And a single call that seems to
    fill a sample is timed twice more, the fastest counting: on 2 cores a call on 2 threads
    stalls now and then for a few ms (a thread descheduled). Either had set the loop count of
    some 1M rows to 1 (float64 hardtanh, 2 threads: one call per sample, 270 us against 100 us
    in a loop of them).
    """
    fn()
    loops = 1
    while True:
        elapsed = _run(fn, loops)
        if loops == 1 and elapsed >= min_ns:
            elapsed = min(elapsed, _run(fn, 1), _run(fn, 1))
        if elapsed >= min_ns or loops >= 1 << 22:
            return loops
        loops = min(1 << 22, max(2 * loops, int(loops * 1.2 * min_ns / max(elapsed, 1))))


def measure(
    cases: dict[str, Callable[[], Any]],
    repeats: int = 7,
    min_time: float = 2e-3,
    budget: float = 1.0,
) -> dict[str, Timing]:
    """Time the cases of one row, interleaved.

    Parameters
    ----------
    cases : dict of str to callable
        Callables without arguments; their results are discarded.
    repeats : int
        Samples per case. Each repeat runs every case once (round-robin, starting at a rotating
        position so no case always follows the same neighbour), after a warm-up.
    min_time : float
        Seconds a sample should last at least: the loop count per sample is chosen for it.
    budget : float
        Seconds of sampling after which a case sits out the remaining rounds, once it has three
        samples: a peer needing 0.5 s per call does not get seven.

    Returns
    -------
    dict of str to Timing
        Median, quartiles and extremes of the per-call time in ns, per case.
    """
    names = list(cases)
    loops = {k: _calibrate(cases[k], min_time * 1e9) for k in names}
    for k in names:  # warm-up: one full sample each, after every case has been calibrated
        _run(cases[k], loops[k])
    per_call: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            if len(per_call[k]) < 3 or sum(per_call[k]) * loops[k] < budget * 1e9:
                per_call[k].append(_run(cases[k], loops[k]) / loops[k])
    return {k: Timing.of(per_call[k], loops[k]) for k in names}


def copy_case(n: int, dtype) -> Callable[[], Any]:
    """The copy roofline: ``np.copyto`` of ``n`` elements, moving ``2 n itemsize`` bytes."""
    src = np.ones(n, dtype=dtype)
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


# ---- correctness gate -----------------------------------------------------------------------


def as_array(result) -> np.ndarray:
    """A case's result as a NumPy array (torch tensors through ``.numpy()``)."""
    if hasattr(result, "numpy") and not isinstance(result, np.ndarray):
        result = result.detach().numpy()
    return np.asarray(result)


def compare(
    got, want, dtype, inputs: dict[str, np.ndarray] | None = None, loose: bool = False
) -> str | None:
    """None when ``got`` matches ``want`` to the dtype's tolerance, else what differs where.

    The strict tolerance is ``rtol`` = 1e-5 (float32) or 1e-12 (float64) with ``atol`` = 4 eps;
    ``loose`` multiplies rtol by 100 and atol by 16. NaNs must match. The message names the
    worst element and the inputs there.
    """
    got, want = as_array(got), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if got.dtype != np.dtype(dtype):
        return f"dtype {got.dtype} != {np.dtype(dtype)}"
    g = got.astype(np.float64)
    atol, rtol = 4 * float(np.finfo(dtype).eps), RTOL[np.dtype(dtype)]
    if loose:
        atol, rtol = 16 * atol, 100 * rtol
    with np.errstate(invalid="ignore", divide="ignore"):
        if (np.abs(g - want) <= atol + rtol * np.abs(want)).all():  # the common case, fast
            return None
        err = np.abs(g - want) / (atol + rtol * np.abs(want))
    ok = (g == want) | (np.isnan(g) & np.isnan(want)) | (err <= 1)
    if ok.all():
        return None
    i = int(np.argmax(np.where(ok, -1.0, np.nan_to_num(err, nan=np.inf))))
    where = np.unravel_index(i, got.shape)
    at = ", ".join(
        f"{k}={np.asarray(v).flat[i]!r}"
        for k, v in (inputs or {}).items()
        if np.shape(v) == got.shape
    )
    return (
        f"{int((~ok).sum())} of {got.size} elements off; worst at {tuple(map(int, where))}: "
        f"got {got.flat[i]!r}, want {want.flat[i]!r} (rel. err "
        f"{abs(g.flat[i] - want.flat[i]) / max(abs(want.flat[i]), 1e-300):.2g}; {at})"
    )


def within(atol: float) -> Callable[..., str]:
    """A gate passing when every element of the result is within ``atol`` of the wanted one."""

    def check(got, want, dtype=None, inputs=None) -> str:
        got, want = as_array(got).astype(np.float64), np.asarray(want, dtype=np.float64)
        if got.shape == want.shape and np.all(np.abs(got - want) <= atol):
            return "ok"
        return f"FAIL: {got.ravel()[:4]} not within {atol} of {want.ravel()[:4]}"

    return check


def gate(got, want, dtype, inputs=None) -> str:
    """``"ok"`` within the strict tolerance of :func:`compare`; ``"inexact: ..."`` within the
    loose one (timed, but reported); else ``"FAIL: ..."`` (not timed)."""
    strict = compare(got, want, dtype, inputs)
    if strict is None:
        return "ok"
    return "FAIL: " + strict if compare(got, want, dtype, loose=True) else "inexact: " + strict


# ---- threads --------------------------------------------------------------------------------


@contextlib.contextmanager
def threads(n: int):
    """Run nnkernels, PyTorch and numexpr (when present) with ``n`` threads; NumPy is serial."""
    torch, numexpr = sys.modules.get("torch"), sys.modules.get("numexpr")
    old_torch = torch.get_num_threads() if torch else None
    old_ne = numexpr.set_num_threads(n) if numexpr else None
    if torch:
        torch.set_num_threads(n)
    try:
        with nk.threads(n):
            yield
    finally:
        if torch:
            torch.set_num_threads(old_torch)
        if numexpr:
            numexpr.set_num_threads(old_ne)


# ---- other processes ------------------------------------------------------------------------


def _cpu_ticks() -> tuple[float, float, float] | None:
    """(busy ticks of the whole machine, ticks used by this process, wall ticks), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]  # guest time is already in user
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    t = os.times()
    return sum(v) - v[3] - v[4], (t.user + t.system) * hz, time.monotonic() * hz


def other_load(before, after) -> float | None:
    """Cores kept busy by other processes between two :func:`_cpu_ticks` snapshots."""
    if before is None or after is None or after[2] <= before[2]:
        return None
    busy, own, wall = (a - b for a, b in zip(after, before))
    return round(max(0.0, (busy - own) / wall), 2)


def wait_for_quiet(max_wait: float, threshold: float = 0.25, probe: float = 0.2) -> float:
    """Sleep while other processes keep ``threshold`` cores or more busy, for at most
    ``max_wait`` seconds; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait:
        before = _cpu_ticks()
        time.sleep(probe)
        load = other_load(before, _cpu_ticks())
        if load is None or load < threshold:
            break
    return time.monotonic() - start


# ---- one row --------------------------------------------------------------------------------


def peer_of(case: str) -> str:
    """The peer a case belongs to: ``"torch[out]"`` -> ``"torch"``."""
    return case.split("[", 1)[0]


def bench_row(
    key: dict,
    n: int,
    dtype,
    arrays: int,
    cases: dict[str, Callable[[], Any]],
    truth: Callable[[], Any] | None = None,
    inputs: dict | None = None,
    repeats: int = 7,
    min_time: float = 2e-3,
    precheck: Callable[[], str | None] | None = None,
    gate_fn: Callable[..., str] = gate,
) -> dict:
    """Gate, then time, one row.

    Parameters
    ----------
    key : dict
        What identifies the row besides size, dtype and threads (``{"op": "gelu", ...}``).
    n : int
        Elements per call: throughput is ``n / time``.
    dtype : numpy dtype
        Element type; ``arrays * itemsize`` bytes move per element.
    arrays : int
        Arrays of ``n`` elements each call reads or writes (2 for ``y = f(x)`` into ``out``);
        0 when a byte count means nothing (a training epoch): no copy roofline is timed.
    cases : dict of str to callable
        ``cases["nnkernels"]`` is the reference the peers are checked against.
    truth : callable, optional
        A float64 evaluation nnkernels is checked against.
    inputs : dict of str to ndarray, optional
        Named inputs, quoted at the worst element when a check fails.
    repeats, min_time
        See :func:`measure`.
    precheck : callable, optional
        A further check of nnkernels (a loss value); a returned message fails nnkernels.
    gate_fn : callable
        ``(got, want, dtype, inputs) -> status``: :func:`gate`, or :func:`within`.

    Returns
    -------
    dict
        JSON-ready: the key, ``n``, ``dtype``, ``threads``, ``bytes_per_element``,
        ``other_load`` (cores other processes kept busy meanwhile: such a row is unreliable,
        above all with several threads), ``copy`` timing (None without a roofline) and per case
        its :func:`gate` status and, unless it failed the gate, its timing. When nnkernels
        fails its truth, it is not timed and the peers are checked against the truth instead.
    """
    dtype = np.dtype(dtype)
    row = dict(
        key,
        n=n,
        dtype=dtype.name,
        threads=nk.get_num_threads(),
        bytes_per_element=arrays * dtype.itemsize,
        cases={},
    )
    ticks = _cpu_ticks()
    status = _gates(cases, dtype, truth, inputs, precheck, gate_fn or gate)
    timed = {k: fn for k, fn in cases.items() if not status[k].startswith("FAIL")}
    roofline = {COPY: copy_case(n, dtype)} if arrays and timed else {}
    timings = measure({**timed, **roofline}, repeats, min_time) if timed else {}
    row["other_load"] = other_load(ticks, _cpu_ticks())
    row["copy"] = asdict(timings.pop(COPY)) if COPY in timings else None
    for name in cases:
        row["cases"][name] = {
            "gate": status[name],
            **(asdict(timings[name]) if name in timings else {}),
        }
    return row


def _gates(cases, dtype, truth, inputs, precheck, gate_fn) -> dict[str, str]:
    """Every case's :func:`gate` status: nnkernels against the truth, the peers against
    nnkernels (against the truth when nnkernels fails it). A case that raises fails."""

    def result(name, fn):
        try:
            return as_array(fn()).copy(), None
        except Exception as e:  # reported in the row; the other cases and rows still run
            return None, f"FAIL: {name} raised {type(e).__name__}: {e}"

    ref, error = result(REFERENCE, cases[REFERENCE])
    want = truth() if truth is not None else None
    if error is None and precheck is not None:
        error = precheck()
        error = error and f"FAIL: {error}"
    status = {REFERENCE: error or (gate_fn(ref, want, dtype, inputs) if want is not None else "ok")}
    nk_ok = not status[REFERENCE].startswith("FAIL")
    against = ref if nk_ok else want
    for name, fn in cases.items():
        if name == REFERENCE:
            continue
        got, error = result(name, fn)
        if error is None and against is None:
            error = "FAIL: nothing to check against (nnkernels failed and there is no truth)"
        status[name] = error or gate_fn(got, against, dtype, inputs)
    return status


def best(row: dict) -> dict[str, tuple[str, float]]:
    """Per peer (nnkernels included), its fastest timed case and that median in ns."""
    out: dict[str, tuple[str, float]] = {}
    for name, case in row["cases"].items():
        p = peer_of(name)
        if "median" in case and (p not in out or case["median"] < out[p][1]):
            out[p] = (name, case["median"])
    return out


def speedups(row: dict) -> dict[str, float]:
    """nnkernels' speed-up over each peer's fastest case (> 1: nnkernels is faster)."""
    b = best(row)
    if REFERENCE not in b:
        return {}
    return {p: t / b[REFERENCE][1] for p, (_, t) in b.items() if p != REFERENCE}


def bandwidth(row: dict, case: str = REFERENCE) -> float:
    """Effective bandwidth of a case in GB/s (bytes per element times n over the median);
    NaN when the case was not timed."""
    median = row["cases"][case].get("median")
    return row["bytes_per_element"] * row["n"] / median if median else float("nan")


def copy_bandwidth(row: dict) -> float:
    """The row's copy roofline in GB/s (NaN for a row without one)."""
    if not row.get("copy"):
        return float("nan")
    return 2 * np.dtype(row["dtype"]).itemsize * row["n"] / row["copy"]["median"]


def roofline(row: dict) -> float:
    """The throughput (elements per ns) a call moving the row's bytes at copy speed reaches."""
    bpe = row["bytes_per_element"]
    return copy_bandwidth(row) / bpe if bpe else float("nan")


# ---- reporting ------------------------------------------------------------------------------


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def isa_flags() -> list[str]:
    """The CPU's vector extensions that matter here, from /proc/cpuinfo."""
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16")
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                have = set(line.partition(":")[2].split())
                return [w for w in wanted if w in have]
    return []


def environment(threads_used, host: str | None = None) -> dict:
    """Machine, ISA level, library versions, OpenMP runtimes and load: the context the
    numbers need."""
    cpu = {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k in ("model name", "cpu family", "model", "stepping", "cpu MHz") and k not in cpu:
                cpu[k] = v.strip()
    with contextlib.suppress(OSError), open("/proc/self/maps") as f:
        omp = sorted({ln.split()[-1] for ln in f if "omp" in ln.rsplit("/", 1)[-1]})
    versions = {
        m: getattr(sys.modules.get(m) or optional(m), "__version__", None)
        for m in ("numpy", "torch", "numexpr", "scipy", "sklearn")
    }
    config = nk.show_config(print_out=False)
    torch = sys.modules.get("torch") or optional("torch")
    # The ISA level PyTorch's kernels dispatch to (ATEN_CPU_CAPABILITY forces one, as
    # NNKERNELS_ISA does for nnkernels).
    capability = getattr(getattr(torch, "backends", None), "cpu", None)
    capability = getattr(capability, "get_cpu_capability", None)
    torch_isa = capability() if capability is not None else None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": host or socket.gethostname(),
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cpu_flags": isa_flags(),
        "cpu_count": os.cpu_count(),
        "isa": config.get("isa"),
        "torch_isa": torch_isa,
        "compiler": config.get("compiler"),
        "flags": config.get("flags"),
        "loadavg": load_average(),
        "python": platform.python_version(),
        "versions": versions,
        "openmp_runtimes_loaded": omp,
        "threads": list(threads_used),
        "nnkernels": config,
        "argv": sys.argv,
    }


def markdown_table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    """A GitHub markdown table: the first ``left`` columns left-aligned, the others right."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if c < left else "---:" for c in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(v) -> str:
    """Three significant digits, no exponent below 100."""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


ROW_KEY = ("family", "op", "shape", "dtype", "threads")


def _combine_stats(stats: list[dict]) -> dict:
    """One case (or the copy) over several runs: the median of each statistic over the runs
    that timed it, min and max over all of them, samples summed. The gate is the worst of the
    runs' (a FAIL, else an inexact result, else ok); a case that failed in any run is not timed."""
    out = dict(stats[0])
    gates = [s["gate"] for s in stats if "gate" in s]
    if gates:
        fails = [g for g in gates if g.startswith("FAIL")]
        out["gate"] = (fails or [g for g in gates if g != "ok"] or ["ok"])[0]
        if fails:
            return {"gate": out["gate"]}
    numeric = {k for s in stats for k, v in s.items() if isinstance(v, (int, float))}
    fold = {"min": min, "max": max, "samples": sum}
    for stat in numeric:
        values = [s[stat] for s in stats if isinstance(s.get(stat), (int, float))]
        out[stat] = fold[stat](values) if stat in fold else float(np.median(values))
    return out


def combine_runs(docs: list[dict]) -> dict:
    """Several results documents of the same suite as one: each row's statistics are medians
    over the runs, so one noisy run cannot decide a row (a shared machine's bursts come and go
    within minutes). Rows keep the first document's order; `runs` counts a row's runs, and the
    environment lists each run's date, load and wall time."""
    for doc in docs:
        if "runs" in doc["environment"]:
            raise ValueError("a results file is already combined: pass the runs it came from")
    order: dict[tuple, list[dict]] = {}
    for doc in docs:
        for row in doc["rows"]:
            order.setdefault(tuple(row[k] for k in ROW_KEY), []).append(row)
    rows = []
    for runs in order.values():
        row = dict(runs[0])
        names = dict.fromkeys(n for r in runs for n in r["cases"])
        row["cases"] = {
            n: _combine_stats([r["cases"][n] for r in runs if n in r["cases"]]) for n in names
        }
        copies = [r["copy"] for r in runs if r.get("copy")]
        row["copy"] = _combine_stats(copies) if copies else runs[0].get("copy")
        loads = [r["other_load"] for r in runs if r.get("other_load") is not None]
        row["other_load"] = max(loads) if loads else None
        row["runs"] = len(runs)
        rows.append(row)
    envs = [d["environment"] for d in docs]
    env = dict(envs[0])
    env["runs"] = [
        {k: e.get(k) for k in ("date", "loadavg", "loadavg_end", "wall_seconds", "argv")}
        for e in envs
    ]
    env["wall_seconds"] = round(sum(e.get("wall_seconds") or 0 for e in envs), 1)
    env["loadavg_end"] = envs[-1].get("loadavg_end")
    families: dict[str, str] = {}
    for d in docs:
        for name, status in d["families"].items():
            if families.get(name) != "ran":
                families[name] = status
    notes = list(dict.fromkeys(n for d in docs for n in d["notes"]))
    return {"environment": env, "families": families, "notes": notes, "rows": rows}


def write_results(
    name: str, rows: list[dict], env: dict, markdown: str, out: Path = RESULTS, **extra
) -> tuple[Path, Path]:
    """Write ``<out>/<name>.md`` and ``<out>/<name>.json`` (environment, ``extra`` fields and
    rows); return both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown)
    doc = {"environment": env, **extra, "rows": rows}
    js.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return md, js
