"""The benchmark suite's machinery (benchmarks/run.py), on a tiny family made here.

No timing is asserted: what matters is that a wrong result is reported as a failure and never
timed, that a family which cannot run is skipped and named, and that the results carry the
environment the numbers need.
"""

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import nnkernels as nk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import harness  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402

N = 1000
FAST = ["--repeats", "1", "--min-time", "1e-5", "--threads", "1", "--quiet"]


def _sigmoid64(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def tiny_family() -> types.ModuleType:
    """Two rows: sigmoid with a right and a wrong peer, and a 'sigmoid' whose nnkernels case is
    deliberately wrong (tanh) while its NumPy peer is right."""
    x = np.linspace(-6, 6, N, dtype=np.float32)
    out = np.empty_like(x)

    def right():
        return harness.Bench(
            {
                "nnkernels": lambda: nk.sigmoid(x, out=out),
                "numpy": lambda: (1 / (1 + np.exp(-x))).astype(np.float32),
                "wrongpeer": lambda: np.tanh(x),
            },
            truth=lambda: _sigmoid64(x),
            inputs={"x": x},
        )

    def wrong_kernel():
        return harness.Bench(
            {
                "nnkernels": lambda: nk.tanh(x, out=out),
                "numpy": lambda: (1 / (1 + np.exp(-x))).astype(np.float32),
            },
            truth=lambda: _sigmoid64(x),
        )

    def specs(opts):
        return [
            harness.Spec("sigmoid:forward", "1000", N, np.float32, 2, right),
            harness.Spec("broken:forward", "1000", N, np.float32, 2, wrong_kernel),
        ]

    module = types.ModuleType("bench_tiny")
    module.FAMILY, module.specs = "tiny", specs
    module.notes = lambda: ["a note from the tiny family"]
    return module


@pytest.fixture(scope="module")
def rows():
    family = run.Family("tiny", tiny_family())
    opts = harness.Options(quick=True, repeats=1, min_time=1e-5)
    return {r["op"]: r for r in run.run_suite([family], opts, threads=[1])}


def test_a_wrong_kernel_is_a_failure_and_not_timed(rows):
    nk_case = rows["broken:forward"]["cases"]["nnkernels"]
    assert nk_case["gate"].startswith("FAIL")
    assert "median" not in nk_case
    # the peer is then checked against the float64 truth, passes and is timed
    peer = rows["broken:forward"]["cases"]["numpy"]
    assert peer["gate"] == "ok" and peer["median"] > 0
    assert harness.speedups(rows["broken:forward"]) == {}


def test_a_wrong_peer_is_a_failure_and_not_timed(rows):
    cases = rows["sigmoid:forward"]["cases"]
    assert cases["wrongpeer"]["gate"].startswith("FAIL")
    assert "median" not in cases["wrongpeer"]
    assert cases["nnkernels"]["gate"] == "ok" and cases["nnkernels"]["median"] > 0
    assert cases["numpy"]["gate"] == "ok" and cases["numpy"]["median"] > 0
    assert set(harness.speedups(rows["sigmoid:forward"])) == {"numpy"}
    assert rows["sigmoid:forward"]["copy"]["median"] > 0  # the roofline ran in the same row


def test_failures_are_listed(rows):
    failures = report.gate_failures(list(rows.values()))
    assert any("broken:forward" in f and "nnkernels: FAIL" in f for f in failures)
    assert any("wrongpeer: FAIL" in f for f in failures)


def test_a_loss_value_precheck_fails_nnkernels():
    x = np.ones(8, dtype=np.float32)
    row = harness.bench_row(
        {"op": "loss"},
        8,
        np.float32,
        2,
        {"nnkernels": lambda: x, "numpy": lambda: x},
        truth=lambda: x.astype(np.float64),
        repeats=1,
        min_time=1e-5,
        precheck=lambda: "loss value 1.0, the reference says 2.0",
    )
    assert row["cases"]["nnkernels"]["gate"] == "FAIL: loss value 1.0, the reference says 2.0"
    assert "median" not in row["cases"]["nnkernels"]
    assert row["cases"]["numpy"]["gate"] == "ok"  # checked against the truth instead


def test_a_family_gate_replaces_the_tolerance():
    cases = {"nnkernels": lambda: np.array([0.91]), "close": lambda: np.array([0.93])}
    cases["far"] = lambda: np.array([0.5])
    row = harness.bench_row(
        {"op": "epoch"}, 10, np.float32, 0, cases, None, None, 1, 1e-5, None, harness.within(0.05)
    )
    c = row["cases"]
    assert c["close"]["gate"] == "ok" and c["close"]["median"] > 0
    assert c["far"]["gate"].startswith("FAIL") and "median" not in c["far"]
    assert row["copy"] is None  # arrays=0: no roofline


def test_a_raising_row_is_reported(rows):
    def boom():
        raise ValueError("no inputs")

    spec = harness.Spec("boom", "1", 1, np.float32, 2, boom)
    row = run.run_spec("tiny", spec, harness.Options(repeats=1, min_time=1e-5))
    gate = row["cases"]["nnkernels"]["gate"]
    assert gate.startswith("FAIL") and "ValueError: no inputs" in gate


def test_results_hold_the_environment(tmp_path, capsys):
    args = [*FAST, "--out", str(tmp_path), "--host", "t", "--no-plots"]
    assert run.main(args, tiny_family()) == 1  # exit status 1: an nnkernels result failed
    doc = json.loads((tmp_path / "t.json").read_text())
    env = doc["environment"]
    assert env["host"] == "t"
    assert env["cpu_count"] >= 1 and "model name" in env["cpu"]
    assert env["isa"] == nk.isa()
    assert env["threads"] == [1]
    assert env["versions"]["numpy"] == np.__version__
    assert env["flags"] == nk.show_config(print_out=False)["flags"]
    assert "-O3" in env["flags"]
    assert env["compiler"] and env["wall_seconds"] >= 0
    assert doc["families"] == {"tiny": "ran"}
    assert {r["op"] for r in doc["rows"]} == {"sigmoid:forward", "broken:forward"}
    page = (tmp_path / "t.md").read_text()
    assert "## Summary" in page and "a note from the tiny family" in page
    assert "broken:forward" in page.split("## Correctness-gate results other than ok")[1]
    assert "plots skipped" in capsys.readouterr().out


def test_filter_and_no_write(tmp_path, capsys):
    args = [*FAST, "--out", str(tmp_path), "--filter", "sigmoid", "--no-write"]
    assert run.main(args, tiny_family()) == 0  # the wrong peer alone does not fail the run
    assert list(tmp_path.iterdir()) == []
    assert "1 rows in" in capsys.readouterr().out


def test_several_runs_combine_into_medians(tmp_path):
    """--from-json with several runs: every statistic is the median over the runs (min and max
    over all, samples summed), a failed gate in any run stays failed, and the page says it is
    combined."""
    paths = []
    for i in range(3):
        run.main([*FAST, "--out", str(tmp_path), "--host", f"r{i}", "--no-plots"], tiny_family())
        paths.append(tmp_path / f"r{i}.json")
    docs = [json.loads(p.read_text()) for p in paths]

    def sigmoid_row(doc):
        return next(r for r in doc["rows"] if r["op"] == "sigmoid:forward")

    for doc, t in zip(docs, (30.0, 10.0, 20.0)):  # known nnkernels times per run
        sigmoid_row(doc)["cases"]["nnkernels"].update(median=t, min=t - 1, max=t + 1)
    sigmoid_row(docs[1])["cases"]["numpy"]["gate"] = "inexact: made up"
    sigmoid_row(docs[2])["cases"]["numpy"]["gate"] = "FAIL: made up"
    for doc, p in zip(docs, paths):
        p.write_text(json.dumps(doc))
    args = ["--from-json", *map(str, paths), "--out", str(tmp_path), "--host", "all", "--no-plots"]
    run.main(args)
    combined = json.loads((tmp_path / "all.json").read_text())
    row, ours = sigmoid_row(combined), sigmoid_row(combined)["cases"]["nnkernels"]
    assert row["runs"] == 3 and len(combined["rows"]) == 2
    assert (ours["median"], ours["min"], ours["max"]) == (20.0, 9.0, 31.0)
    assert ours["samples"] == sum(sigmoid_row(d)["cases"]["nnkernels"]["samples"] for d in docs)
    assert row["cases"]["numpy"] == {"gate": "FAIL: made up"}  # the worst gate, not timed
    runs = combined["environment"]["runs"]
    assert [r["date"] for r in runs] == [d["environment"]["date"] for d in docs]
    assert "Combined from 3 runs" in (tmp_path / "all.md").read_text()
    with pytest.raises(ValueError, match="already combined"):
        harness.combine_runs([combined, docs[0]])


def test_a_family_that_cannot_import_is_not_available(tmp_path, monkeypatch):
    (tmp_path / "bench_needsnn.py").write_text("import nnkernels.no_such_module\n")
    (tmp_path / "bench_declines.py").write_text(
        "def specs(opts):\n    return []\n\ndef available():\n    return 'no data'\n"
    )
    (tmp_path / "bench_oldstyle.py").write_text("def main():\n    pass\n")
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    families = {f.name: f for f in run.discover()}
    assert families["needsnn"].module is None
    assert "nnkernels.no_such_module" in families["needsnn"].unavailable
    assert families["declines"].module is None and families["declines"].unavailable == "no data"
    assert "has no specs()" in families["oldstyle"].unavailable
    assert "bench_activations.py does not exist" in families["activations"].unavailable


def test_the_real_families_describe_their_rows():
    families = [f for f in run.discover() if f.module is not None]
    expected = {"activations", "losses", "optim"}
    if harness.optional("sklearn") is not None:  # the mlp family needs it for digits
        expected.add("mlp")
    assert expected <= {f.name for f in families}
    for f in families:
        quick = f.module.specs(harness.Options(quick=True))
        full = f.module.specs(harness.Options())
        assert 0 < len(quick) <= len(full)
        assert sum(s.n for s in quick) < sum(s.n for s in full)  # a quick run does less
        for spec in full:
            assert isinstance(spec, harness.Spec) and spec.n > 0 and spec.op


# ---- the mlp family: a training epoch is gated on its held-out probabilities --------------------


def _digits_row(bench_mlp, monkeypatch, wrong: str | None = None) -> dict:
    """The digits row, run once; ``wrong`` names a backend whose epoch skips its last batch (in
    the row's dtype: the float64 truth stays right)."""
    make = bench_mlp.nnkernels_model

    def model(X, y, weights, batch, threads, backend="nnkernels", dtype=None):
        if backend == wrong and dtype is None:
            X, y = X[:-batch], y[:-batch]
        return make(X, y, weights, batch, threads, backend, dtype)

    monkeypatch.setattr(bench_mlp, "nnkernels_model", model)
    opts = harness.Options(quick=True, repeats=1, min_time=1e-5)
    (spec,) = [s for s in bench_mlp.specs(opts) if s.op == "digits"]
    with harness.threads(1):
        return run.run_spec("mlp", spec, opts)


@pytest.fixture
def bench_mlp():
    pytest.importorskip("sklearn")
    import bench_mlp

    return bench_mlp


def test_mlp_epochs_agree_and_are_timed(bench_mlp, monkeypatch):
    row = _digits_row(bench_mlp, monkeypatch)
    assert row["unit"] == "sample" and row["n"] == 1437 and row["copy"] is None
    assert {"nnkernels", "numpy", "sklearn"} <= set(row["cases"])
    for name, case in row["cases"].items():
        assert case["gate"] == "ok", name
        assert case["median"] > 0


def test_mlp_a_wrong_peer_epoch_fails_and_is_not_timed(bench_mlp, monkeypatch):
    row = _digits_row(bench_mlp, monkeypatch, wrong="numpy")
    assert row["cases"]["numpy"]["gate"].startswith("FAIL")
    assert "median" not in row["cases"]["numpy"]
    assert row["cases"]["nnkernels"]["gate"] == "ok" and row["cases"]["sklearn"]["gate"] == "ok"


def test_mlp_a_wrong_nnkernels_epoch_fails_against_the_float64_truth(bench_mlp, monkeypatch):
    row = _digits_row(bench_mlp, monkeypatch, wrong="nnkernels")
    assert row["cases"]["nnkernels"]["gate"].startswith("FAIL")
    assert "median" not in row["cases"]["nnkernels"]
    # the peers are then checked against the truth instead, pass and are timed
    assert row["cases"]["numpy"]["gate"] == "ok" and row["cases"]["numpy"]["median"] > 0


def test_plots(rows, tmp_path):
    pytest.importorskip("matplotlib")
    paths = report.plots(list(rows.values()), tmp_path, "t")
    assert sorted(p.name for p in paths) == ["t-speedup.png", "t-tiny.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
