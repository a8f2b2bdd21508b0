"""Thread safety: Python threads calling kernels at once on their own arrays get exactly the
results of serial calls (the GIL is released around every kernel of 16K elements or more, as
these are, so the calls really overlap, each with its own OpenMP team)."""

from __future__ import annotations

import threading

import numpy as np

import nnkernels as nk
from nnkernels import losses as L
from nnkernels import optim as O

THREADS = 8
ROUNDS = 3


def _inputs(seed: int):
    rng = np.random.default_rng(seed)
    # above the parallel grains, so each call may open its own OpenMP region
    x = rng.standard_normal(70_000).astype(np.float32)
    logits = rng.standard_normal((300, 100))
    labels = rng.integers(0, 100, 300)
    params = [rng.standard_normal(150_000).astype(np.float32), rng.standard_normal((7, 5))]
    grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    return x, logits, labels, params, grads


def _work(seed: int) -> list[bytes]:
    """A fixed sequence of kernel calls on this worker's own arrays; every result as bytes."""
    x, logits, labels, params, grads = _inputs(seed)
    out = []
    for _ in range(ROUNDS):
        y = nk.gelu(x)
        out.append(y.tobytes())
        out.append(nk.tanh_backward(x, y=nk.tanh(x)).tobytes())
        out.append(nk.softmax(logits, axis=1).tobytes())
        loss, grad = L.cross_entropy_value_and_grad(logits, labels)
        out.append(np.float64(loss).tobytes() + grad.tobytes())
        out.append(np.float64(L.mse(x, y, reduction="sum")).tobytes())
        nk.sigmoid(x, out=x)  # in place, on this worker's array
        out.append(x.tobytes())
    opt = O.Adam(params, lr=1e-2, max_grad_norm=1.0)
    for _ in range(ROUNDS):
        opt.step(grads)
        out.append(np.float64(opt.last_grad_norm).tobytes())
    out.extend(p.tobytes() for p in params)
    return out


def test_threads_match_serial_calls_bitwise():
    serial = [_work(seed) for seed in range(THREADS)]
    results: list = [None] * THREADS
    errors: list = []
    start = threading.Barrier(THREADS)

    def run(i):
        try:
            start.wait()
            results[i] = _work(i)
        except BaseException as e:  # reported below; a thread's exception is otherwise lost
            errors.append(e)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors, errors
    assert not any(w.is_alive() for w in workers), "a worker thread hung"
    for i in range(THREADS):
        assert len(results[i]) == len(serial[i])
        for k, (a, b) in enumerate(zip(results[i], serial[i])):
            assert a == b, f"worker {i}, result {k} differs from the serial call"


def test_thread_setting_changes_during_calls_are_safe():
    """One thread flips the thread count while others compute: results stay exact."""
    x = np.random.default_rng(3).standard_normal(200_000)
    want = nk.mish(x).tobytes()
    stop = threading.Event()
    seen: list = []

    def flip():
        n = 1
        while not stop.is_set():
            nk.set_num_threads(n)
            n = 3 - n

    def compute():
        seen.extend(nk.mish(x).tobytes() == want for _ in range(20))

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        workers = [threading.Thread(target=compute) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=300)
    finally:
        stop.set()
        flipper.join()
        nk.set_num_threads(0)
    assert len(seen) == 80 and all(seen)
