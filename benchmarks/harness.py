"""Timing harness shared by the ``bench_<family>.py`` scripts.

A *row* is one operation at one size, dtype and thread count. Its *cases* are named callables
without arguments, one per implementation: ``"nnkernels"`` first, then the peers; a peer may come in
variants written ``"peer[variant]"`` (``"torch[out]"``), and the peer's column shows its fastest
variant. :func:`bench_row` checks every case against nnkernels (and nnkernels against a float64
truth) before timing, then times the cases that passed together with a ``np.copyto`` roofline,
interleaved. :func:`write_results` writes the rows as markdown and JSON with an environment block.
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
from dataclasses import asdict, dataclass
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
    """Loop count so that one sample lasts at least ``min_ns`` (the runs double as warm-up)."""
    loops = 1
    while True:
        elapsed = _run(fn, loops)
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
        Arrays of ``n`` elements each call reads or writes (2 for ``y = f(x)`` into ``out``).
    cases : dict of str to callable
        ``cases["nnkernels"]`` is the reference the peers are checked against.
    truth : callable, optional
        A float64 evaluation nnkernels is checked against.
    inputs : dict of str to ndarray, optional
        Named inputs, quoted at the worst element when a check fails.
    repeats, min_time
        See :func:`measure`.

    Returns
    -------
    dict
        JSON-ready: the key, ``n``, ``dtype``, ``threads``, ``bytes_per_element``,
        ``other_load`` (cores other processes kept busy meanwhile: such a row is unreliable,
        above all with several threads), ``copy`` timing and per case its :func:`gate` status
        and timing.
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
    status: dict[str, str] = {}
    try:
        ref = as_array(cases[REFERENCE]()).copy()
    except Exception as e:  # reported in the row; the other rows still run
        ref, status = None, dict.fromkeys(cases, f"FAIL: nnkernels raised {type(e).__name__}: {e}")
    if ref is not None:
        status[REFERENCE] = gate(ref, truth(), dtype, inputs) if truth else "ok"
        for name, fn in cases.items():
            if name != REFERENCE:
                try:
                    status[name] = gate(fn(), ref, dtype, inputs)
                except Exception as e:  # a peer that cannot run is not fatal
                    status[name] = f"FAIL: {type(e).__name__}: {e}"
    # nnkernels is timed even when it misses the truth: the FAIL is reported beside its speed
    timed = {
        k: fn
        for k, fn in cases.items()
        if ref is not None and (k == REFERENCE or not status[k].startswith("FAIL"))
    }
    timings = measure({**timed, COPY: copy_case(n, dtype)}, repeats, min_time)
    row["other_load"] = other_load(ticks, _cpu_ticks())
    row["copy"] = asdict(timings.pop(COPY))
    for name in cases:
        row["cases"][name] = {
            "gate": status[name],
            **(asdict(timings[name]) if name in timings else {}),
        }
    return row


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
    """Effective bandwidth of a case in GB/s (bytes per element times n over the median)."""
    return row["bytes_per_element"] * row["n"] / row["cases"][case]["median"]


def copy_bandwidth(row: dict) -> float:
    """The row's copy roofline in GB/s."""
    return 2 * np.dtype(row["dtype"]).itemsize * row["n"] / row["copy"]["median"]


# ---- reporting ------------------------------------------------------------------------------


def environment(threads_used) -> dict:
    """Machine, library versions, OpenMP runtimes and load: the context the numbers need."""
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
        for m in ("numpy", "torch", "numexpr", "scipy")
    }
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
        "openmp_runtimes_loaded": omp,
        "threads": list(threads_used),
        "nnkernels": nk.show_config(print_out=False),
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


def write_results(name: str, rows: list[dict], env: dict, markdown: str) -> tuple[Path, Path]:
    """Write ``results/<name>.md`` and ``results/<name>.json``; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    md, js = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
    md.write_text(markdown)
    js.write_text(json.dumps({"environment": env, "rows": rows}, indent=1, default=str) + "\n")
    return md, js
