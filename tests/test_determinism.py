"""Reductions have the same bits for 1 and 2 threads: every loss under every reduction, the
global gradient norm (alone and inside a clipped optimizer step), and a seeded MLP training run
(fused bias + activation and its bias-gradient sums, dropout masks, cross-entropy, Adam). Fixed
blocks, partial sums combined in a fixed order (parallel.hpp); dropout masks a function of (seed,
element index) only."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import losses as L
from nnkernels import nn
from nnkernels import optim as O

ROWS, CLASSES = 1500, 200  # 300K elements: several blocks per thread


def _inputs(spec, dtype):
    rng = np.random.default_rng(7)
    shape = (ROWS, CLASSES)
    if spec.targets == "labels" or spec.name == "cross_entropy":
        pred = rng.uniform(0.01, 1.0, shape)
        return pred.astype(dtype), rng.integers(0, CLASSES, ROWS)
    in_unit = spec.pred_range or spec.target_range or spec.name in ("msle", "kl_div")
    pred = rng.uniform(0.01, 0.99, shape) if in_unit else rng.standard_normal(shape)
    target = rng.uniform(0.01, 0.99, shape)
    if spec.name in ("hinge", "squared_hinge"):
        target = np.where(target > 0.5, 1.0, -1.0)
    return pred.astype(dtype), target.astype(dtype)


def _both(call):
    with nk.threads(1):
        one = call()
    with nk.threads(2):
        two = call()
    return one, two


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("spec", L.SPECS, ids=[s.name for s in L.SPECS])
def test_loss_reductions_same_bits_for_1_and_2_threads(spec, dtype):
    pred, target = _inputs(spec, dtype)
    vag = getattr(L, spec.name + "_value_and_grad")
    for reduction in spec.reductions:
        (v1, g1), (v2, g2) = _both(lambda r=reduction: vag(pred, target, reduction=r))
        assert np.all(np.isfinite(v1)), (spec.name, reduction)
        assert np.asarray(v1).tobytes() == np.asarray(v2).tobytes(), (spec.name, reduction)
        assert g1.tobytes() == g2.tobytes(), (spec.name, reduction)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_gradient_norms_same_bits_for_1_and_2_threads(dtype):
    rng = np.random.default_rng(8)
    grads = [rng.standard_normal(n).astype(dtype) for n in (1_000_003, 77, 250_000)]
    n1, n2 = _both(lambda: O.global_grad_norm(grads))
    assert n1 == n2 and np.float64(n1).tobytes() == np.float64(n2).tobytes()
    want = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads))
    assert n1 == pytest.approx(want, rel=1e-12)
    c1, c2 = _both(lambda: O.global_grad_norm(grads, clip_value=0.5))
    assert np.float64(c1).tobytes() == np.float64(c2).tobytes()

    def clipped_steps():
        params = [np.zeros_like(g) for g in grads]
        opt = O.SGD(params, lr=0.1, momentum=0.9, max_grad_norm=1.0)
        norms = [(opt.step(grads), opt.last_grad_norm)[1] for _ in range(3)]
        return norms, [p.tobytes() for p in params]

    s1, s2 = _both(clipped_steps)
    assert s1 == s2


class _Threads(nn.Callback):
    """Records the nnkernels thread count that training runs with."""

    def on_train_begin(self, model):
        self.seen = nk.get_num_threads()


def test_seeded_mlp_training_same_bits_for_1_and_2_threads():
    # Shapes above every kernel's parallel grain: batches of 512 (and 256) rows, so 256K GELU
    # and dropout elements, 128K tanh and alpha-dropout elements per batch; 167K Adam parameters.
    rng = np.random.default_rng(9)
    centers = rng.standard_normal((10, 64)) * 2
    y = rng.integers(0, 10, 1024)
    X = (centers[y] + rng.standard_normal((1024, 64))).astype(np.float32)

    def train():
        model = nn.Sequential(
            [
                nn.Dense(512, "gelu"),
                nn.Dropout(0.2),
                nn.Dense(256, "tanh"),
                nn.AlphaDropout(0.1),
                nn.Dense(10),
            ],
            lr=1e-3,
            l2=1e-4,
            threads=0,  # no one-thread limit for small work: the outer nk.threads(n) decides
            rng=5,
        )
        seen = _Threads()
        model.fit(
            X, y, epochs=3, batch_size=512, validation_split=0.25, callbacks=[seen], verbose=0
        )
        return seen.seen, model.get_weights(), model.history

    (t1, w1, h1), (t2, w2, h2) = _both(train)
    assert (t1, t2) == (1, 2)
    assert h1["loss"][-1] < h1["loss"][0] and all(np.isfinite(h1["val_loss"]))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.float64(h1[key]).tobytes() == np.float64(h2[key]).tobytes(), key
    assert len(w1) == len(w2) == 6
    for a, b in zip(w1, w2):
        assert a.tobytes() == b.tobytes()
