"""The experiments of examples/ in their reduced form: each must still show the effect it claims.

Each experiment's ``run(quick=True)`` trains on a few hundred digits for a few epochs (seeded)
and returns its numbers; the assertions are the claims of the experiment, with margins that
hold across seeds but fail when the effect disappears.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the digits data set

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    """Import examples/<name>.py (file names start with a digit: not importable by name)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mse_vs_cross_entropy():
    r = load("01_mse_vs_cross_entropy").run(quick=True)
    ce = r["sgd/softmax + cross-entropy"]["accuracy"]
    for mse in ("softmax + MSE", "sigmoid + MSE"):
        # same network, data and SGD steps: cross-entropy is far ahead after 2 epochs
        assert ce > r[f"sgd/{mse}"]["accuracy"] + 0.1, (mse, r)
    assert ce > 0.7
    assert r["adam/softmax + cross-entropy"]["accuracy"] >= r["adam/sigmoid + MSE"]["accuracy"]


def test_vanishing_gradients():
    r = load("02_vanishing_gradients").run(quick=True)
    ratio = {a: v["first_over_last"] for a, v in r.items()}
    assert ratio["sigmoid"] < 1e-3, ratio  # orders of magnitude lost over 10 layers
    assert ratio["sigmoid"] < ratio["tanh"] / 10
    for a in ("relu", "selu"):
        assert 0.1 < ratio[a] < 10, ratio  # the signal keeps its size
    for a, v in r.items():
        assert np.all(np.isfinite(v["norms"])) and min(v["norms"]) > 0, a


def test_dying_relu():
    module = load("03_dying_relu")
    r = module.run(quick=True)
    large = max(module.LEARNING_RATES)
    dead = {a: r[f"{a}@{large:g}"]["dead"] for a in ("relu", "leaky_relu", "elu")}
    assert dead["relu"] > 0.25, dead
    assert dead["relu"] > dead["leaky_relu"] + 0.05 and dead["relu"] > 3 * dead["elu"], dead
    small = min(module.LEARNING_RATES)
    assert r[f"relu@{small:g}"]["dead"] < 0.15  # at Adam's default rate few units die


def test_optimizers():
    r = load("04_optimizers").run(quick=True)
    assert len(r) == 8
    for label, c in r.items():
        assert c["loss"][-1] < 0.95 * c["loss"][0], (label, c["loss"])  # every one learns
    # momentum accelerates plain SGD at the same learning rate; Adam beats plain SGD
    assert r["momentum"]["loss"][-1] < r["SGD"]["loss"][-1]
    assert r["Nesterov"]["loss"][-1] < r["SGD"]["loss"][-1]
    assert r["Adam"]["loss"][-1] < r["SGD"]["loss"][-1]


def test_activation_gallery():
    module = load("05_activation_gallery")
    r = module.run(quick=True)
    assert len(r) >= 20 and {"relu", "gelu", "selu", "prelu", "rrelu"} <= set(r)
    for name, v in r.items():
        assert np.all(np.isfinite(v["y"])) and np.all(np.isfinite(v["dy"])), name
        assert v["max_fd_error"] < 1e-6, (name, v["max_fd_error"])
    # the check can fail: a wrong derivative (sigmoid's in place of tanh's) is caught
    x = r["tanh"]["x"]
    h = module.STEP
    fd = (module.forward("tanh", x + h) - module.forward("tanh", x - h)) / (2 * h)
    assert np.max(np.abs(module.derivative("sigmoid", x) - fd)) > 0.1


def test_regularization(tmp_path):
    r = load("06_regularization").run(quick=True, out_dir=tmp_path)
    none = r["none"]
    assert none["loss_gap"] > 0.1  # the unregularized net overfits
    assert abs(r["L2 1e-2"]["loss_gap"]) < none["loss_gap"] / 2
    # dropout keeps the net from memorizing the wrong labels: its training loss stays above
    # the validation loss (negative gap), but by less than the unregularized gap
    assert r["dropout 0.5"]["loss_gap"] < none["loss_gap"] - 0.2
    assert abs(r["dropout 0.5"]["loss_gap"]) < none["loss_gap"]
    early = r["early stopping"]
    assert early["stopped_epoch"] is not None and early["epochs_run"] < none["epochs_run"]
    assert early["val_loss"] == pytest.approx(early["min_val_loss"], rel=1e-6)
    assert "| none |" in (tmp_path / "06_regularization.md").read_text()
    if load("_common").pyplot() is not None:  # matplotlib is in the test extra
        assert (tmp_path / "06_regularization.png").stat().st_size > 1000


def test_table_without_matplotlib(tmp_path, monkeypatch, capsys):
    common = load("_common")
    monkeypatch.setattr(common, "pyplot", lambda: None)
    common.publish("t", "Title", ["a", "b"], [[1, 0.5]], plot=lambda plt: 1 / 0, out_dir=tmp_path)
    assert (tmp_path / "t.md").read_text() == "# Title\n\n| a | b |\n|---|---|\n| 1 | 0.500 |\n"
    assert not (tmp_path / "t.png").exists()
    assert "plots skipped" in capsys.readouterr().out
