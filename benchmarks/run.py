"""The benchmark suite: every family of nnkernels against NumPy, PyTorch CPU and numexpr.

``python benchmarks/run.py`` runs every ``benchmarks/bench_<family>.py`` (activations, losses,
optim, mlp when it is there), gating each case's result before timing it, and writes
``benchmarks/results/<host>.md`` and ``.json`` and PNG plots. ``--quick`` is a smoke run of
under a minute. See benchmarks/README.md for the options, the method and the family interface.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import report  # noqa: E402

# Families in report order; a bench_<name>.py not listed here runs after them.
ORDER = ("activations", "losses", "optim", "mlp")


@dataclass
class Family:
    """A benchmark family: its module, or why it cannot run here."""

    name: str
    module: ModuleType | None = None
    unavailable: str | None = None


def load(name: str) -> Family:
    """Import ``bench_<name>``; a missing file, a failed import (``nnkernels.nn`` absent) or a
    reason from its ``available()`` make it "not available" instead of an error."""
    if not (HERE / f"bench_{name}.py").exists():
        return Family(name, unavailable=f"benchmarks/bench_{name}.py does not exist")
    try:
        module = importlib.import_module(f"bench_{name}")
    except ImportError as e:
        return Family(name, unavailable=f"import failed: {e}")
    if not callable(getattr(module, "specs", None)):
        return Family(
            name, unavailable=f"bench_{name}.py has no specs() (see benchmarks/README.md)"
        )
    reason = getattr(module, "available", lambda: None)()
    return Family(name, None if reason else module, reason)


def discover() -> list[Family]:
    """Every family this directory holds, plus the expected ones that are missing."""
    found = [p.stem.removeprefix("bench_") for p in sorted(HERE.glob("bench_*.py"))]
    names = list(ORDER) + [n for n in found if n not in ORDER]
    return [load(n) for n in names]


def default_host() -> str:
    """A stable short name for the results files: the hostname's first label, lower-case,
    unless it looks generated (a container id); then the CPU model and core count."""
    name = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    if name and name != "localhost" and not re.fullmatch(r"[0-9a-f]{8,}", name):
        return name
    model = harness.environment([]).get("cpu", {}).get("model name", "cpu")
    words = re.sub(r"\(.*?\)|processor|\d+-core|cpu", " ", model.lower()).split()
    return "-".join(re.sub(r"[^a-z0-9]+", "", w) for w in words[:3]) + f"-{os.cpu_count()}c"


# ---- progress ---------------------------------------------------------------------------------


class Progress:
    """tqdm when installed, else a one-line counter; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.bar = total, 0, None
        self.enabled = enabled and sys.stderr.isatty()
        if self.enabled:
            tqdm = harness.optional("tqdm")
            if tqdm is not None:
                self.bar = tqdm.tqdm(total=total, unit="row", file=sys.stderr, leave=False)

    def start(self, label: str) -> None:
        """Show the row about to run."""
        if self.bar is not None:
            self.bar.set_postfix_str(label)
        elif self.enabled:
            sys.stderr.write(f"\r\033[K[{self.done + 1}/{self.total}] {label}")
            sys.stderr.flush()

    def finish(self) -> None:
        """Count a row as done."""
        self.done += 1
        if self.bar is not None:
            self.bar.update()

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            if self.enabled:
                sys.stderr.write("\r\033[K")
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\r\033[K")


# ---- running ------------------------------------------------------------------------------------


def run_spec(family: str, spec: harness.Spec, opts: harness.Options) -> dict:
    """Make one row's cases under the current thread count, then gate and time them."""
    key = {
        "family": family,
        "op": spec.op,
        "shape": spec.shape,
        "unit": spec.unit,
        "curve": spec.curve,
        **spec.key,
    }
    try:
        bench = spec.make()
    except Exception as e:  # a family that cannot build a row reports it; the others still run
        bench = harness.Bench({harness.REFERENCE: _raiser(e)})
    return harness.bench_row(
        key,
        spec.n,
        spec.dtype,
        spec.arrays,
        bench.cases,
        bench.truth,
        bench.inputs,
        opts.repeats,
        opts.min_time,
        bench.precheck,
        bench.gate,
    )


def _raiser(error: Exception):
    def fail():
        raise RuntimeError(f"making the row failed: {type(error).__name__}: {error}")

    return fail


def run_suite(
    families: list[Family],
    opts: harness.Options,
    threads: list[int],
    pattern: str = "",
    progress: bool = False,
    verbose: bool = False,
    quiet_wait: float = 0,
) -> list[dict]:
    """Every matching row of the available families at every thread count, in order."""
    regex = re.compile(pattern)
    work = [
        (f.name, spec)
        for f in families
        if f.module is not None
        for spec in f.module.specs(opts)
        if regex.search(f"{f.name}/{spec.op}")
    ]
    bar, rows = Progress(len(work) * len(threads), progress), []
    try:
        for family, spec in work:
            for t in threads:
                bar.start(f"{family}/{spec.op} {spec.shape}, {np.dtype(spec.dtype)}, {t} thr.")
                with harness.threads(t):
                    row = run_spec(family, spec, opts)
                    if quiet_wait and report.busy(row):
                        waited = harness.wait_for_quiet(quiet_wait)
                        row = dict(run_spec(family, spec, opts), waited_for_quiet=round(waited, 1))
                rows.append(row)
                bar.finish()
                if verbose:
                    bar.write(report.row_line(row))
    finally:
        bar.close()
    return rows


# ---- command line -------------------------------------------------------------------------------


def parse_args(argv=None, single: str | None = None) -> argparse.Namespace:
    def ints(s):
        return [int(float(v)) for v in s.split(",") if v]

    what = f"the {single} family" if single else "every benchmark family"
    ap = argparse.ArgumentParser(description=f"Benchmark {what} of nnkernels against its peers.")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run under a minute: float32, small sizes, 1 thread, 3 repeats of 0.5 ms "
        "(explicit options still win)",
    )
    ap.add_argument(
        "--filter",
        default="",
        help="regex searched in 'family/op': '^activations/', 'gelu', ':backward', 'Adam'",
    )
    ap.add_argument("--threads", type=ints, help="thread counts (default: 1 and all cores)")
    ap.add_argument("--dtype", help="float32,float64 (default: each family's)")
    ap.add_argument(
        "--sizes", type=ints, help="elements per call, e.g. 4096,1e6 (default: each family's)"
    )
    ap.add_argument("--repeats", type=int, help="samples per case (default 7, quick 3)")
    ap.add_argument(
        "--min-time", type=float, help="seconds per sample (default 0.002, quick 0.0005)"
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="rerun a row during which other processes kept a quarter core busy, after "
        "waiting up to SECONDS for quiet",
    )
    ap.add_argument("--host", help="results name (default: the hostname, or the CPU model)")
    ap.add_argument("--out", type=Path, default=harness.RESULTS, help="results directory")
    ap.add_argument("--no-plots", action="store_true", help="write the md and json only")
    ap.add_argument("--no-write", action="store_true", help="write nothing (CI smoke run)")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    ap.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="measure nothing: write the page and plots again from a results JSON, or from "
        "several runs as one (each row's statistics the median over the runs)",
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per row as it ends")
    a = ap.parse_args(argv)
    a.threads = a.threads or ([1] if a.quick else sorted({1, os.cpu_count() or 1}))
    a.options = harness.Options(
        quick=a.quick,
        dtypes=a.dtype.split(",") if a.dtype else None,
        sizes=a.sizes,
        repeats=a.repeats or (3 if a.quick else 7),
        min_time=a.min_time or (5e-4 if a.quick else 2e-3),
    )
    return a


def main(argv=None, family: ModuleType | None = None) -> int:
    """Run the suite (or one family's module, when a bench_<family>.py is run as a script)."""
    if family is not None:
        families = [Family(family.FAMILY, family)]
    else:
        families = discover()
    a = parse_args(argv, family.FAMILY if family else None)
    if a.list:
        for f in families:
            if f.module is None:
                print(f"{f.name}: not available ({f.unavailable})")
                continue
            for s in f.module.specs(a.options):
                if re.search(a.filter, f"{f.name}/{s.op}"):
                    print(f"{f.name}/{s.op} {s.shape} {s.dtype}")
        return 0
    if a.from_json:
        docs = [json.loads(p.read_text()) for p in a.from_json]
        doc = docs[0] if len(docs) == 1 else harness.combine_runs(docs)
        env, rows, status, notes = doc["environment"], doc["rows"], doc["families"], doc["notes"]
        host, wall = a.host or env["host"], env["wall_seconds"]
    else:
        host = a.host or default_host()
        env = harness.environment(a.threads, host)
        start = time.perf_counter()
        rows = run_suite(
            families, a.options, a.threads, a.filter, not a.quiet, a.verbose, a.quiet_wait
        )
        wall = time.perf_counter() - start
        env["loadavg_end"] = harness.load_average()
        env["wall_seconds"] = round(wall, 1)
        status = {
            f.name: "ran" if f.module else f"not available: {f.unavailable}" for f in families
        }
        ran = {r["family"] for r in rows}
        notes = [n for f in families if f.name in ran for n in getattr(f.module, "notes", list)()]
    print(report.summary_text(rows, status, wall))
    # a wrong nnkernels result fails the command (CI's smoke run); a wrong peer is only reported
    code = int(any(r["cases"][harness.REFERENCE]["gate"].startswith("FAIL") for r in rows))
    if a.no_write:
        return code
    page = report.markdown(rows, env, status, notes)
    paths = list(harness.write_results(host, rows, env, page, a.out, families=status, notes=notes))
    plotted = None if a.no_plots else report.plots(rows, a.out, host)
    if plotted is None:
        why = "--no-plots" if a.no_plots else "matplotlib is not installed (pip install '.[bench]')"
        print(f"plots skipped: {why}")
    paths += plotted or []
    print("wrote " + ", ".join(str(p) for p in paths))
    return code


if __name__ == "__main__":
    sys.exit(main())
