"""Benchmark one training epoch of an MLP: nnkernels.nn against scikit-learn's MLPClassifier,
PyTorch eager CPU and nnkernels.nn on its pure-NumPy backend.

Rows: scikit-learn's digits (1797 x 64 -> 256 relu -> 10, batch 32) and MNIST-shaped synthetic
data (60000 x 784 -> 256 relu -> 10, batch 128; labels from a random linear teacher, so they are
learnable). Every peer trains the same architecture with softmax cross-entropy and Adam
(lr 1e-3, betas (0.9, 0.999), eps 1e-8) in float32 on shuffled mini-batches; scikit-learn's L2
penalty is off (alpha=0). One sample is one epoch (``partial_fit`` for scikit-learn, the usual
zero_grad/backward/step loop for PyTorch, ``fit(epochs=1)`` for nnkernels); the peers'
epochs are interleaved (harness.measure), medians reported. The gate: after timing, each
peer's held-out accuracy must be within 0.05 of nnkernels' (same work done). Peers that are not
installed are skipped. ``python benchmarks/bench_mlp.py --help``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402
from nnkernels import nn  # noqa: E402

torch = harness.optional("torch")
sk_nn = harness.optional("sklearn.neural_network")
sk_data = harness.optional("sklearn.datasets")

LR = 1e-3


def digits():
    if sk_data is None:
        return None
    d = sk_data.load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def mnist_like(n=60000, features=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 10000, features), dtype=np.float32)
    teacher = rng.standard_normal((features, classes), dtype=np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    return X, y


def split(X, y, n_test):
    return X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]


# ---- one epoch per peer: (epoch(), accuracy(X, y)) --------------------------------------------


def nnkernels_peer(X, y, hidden, batch, backend="nnkernels"):
    model = nn.Sequential([nn.Dense(hidden, "relu"), nn.Dense(10)], lr=LR, backend=backend, rng=0)

    def epoch():
        model.fit(X, y, epochs=1, batch_size=batch, verbose=0)

    return epoch, lambda Xt, yt: float(np.mean(model.predict(Xt) == yt))


def sklearn_peer(X, y, hidden, batch):
    clf = sk_nn.MLPClassifier(
        (hidden,),
        solver="adam",
        alpha=0.0,
        batch_size=batch,
        learning_rate_init=LR,
        random_state=0,
        shuffle=True,
    )
    classes = np.arange(10)

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)

    return epoch, lambda Xt, yt: float(np.mean(clf.predict(Xt) == yt))


def torch_peer(X, y, hidden, batch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    def accuracy(Xe, ye):
        with torch.no_grad():
            return float((model(torch.from_numpy(Xe)).argmax(1).numpy() == ye).mean())

    return epoch, accuracy


def one_thread(peer):
    """The same peer on one thread (BLAS and PyTorch's intra-op pool): on 2 busy cores,
    small products often run faster without waking a second thread."""
    epoch, accuracy = peer

    def run():
        from threadpoolctl import threadpool_limits

        old = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                epoch()
        finally:
            if torch is not None:
                torch.set_num_threads(old)

    return run, accuracy


def bench(name, data, hidden, batch, repeats, peers, default_threads=True):
    X, y, Xt, yt = data
    makers = {"nnkernels": nnkernels_peer, "numpy": lambda *a: nnkernels_peer(*a, "numpy")}
    if sk_nn is not None:
        makers["sklearn"] = sklearn_peer
    if torch is not None:
        makers["torch"] = torch_peer
    makers = {k: v for k, v in makers.items() if k == "nnkernels" or k in peers}
    built = {k: make(X, y, hidden, batch) for k, make in makers.items()}
    for k in ("sklearn", "torch"):
        if k in built and harness.optional("threadpoolctl") is not None:
            built[f"{k}[1 thread]"] = one_thread(makers[k](X, y, hidden, batch))
            if not default_threads:
                del built[k]
    print(
        f"{name}: {X.shape[0]} x {X.shape[1]} -> {hidden} -> 10, batch {batch}; {', '.join(built)}",
        flush=True,
    )
    print("  (calibration and warm-up: two epochs per peer, then the timed ones)", flush=True)
    ticks = harness._cpu_ticks()
    timings = harness.measure(
        {k: epoch for k, (epoch, _) in built.items()}, repeats=repeats, min_time=0.0, budget=1e9
    )
    load = harness.other_load(ticks, harness._cpu_ticks())
    accuracy = {k: acc(Xt, yt) for k, (_, acc) in built.items()}
    row = {
        "dataset": name,
        "n": int(X.shape[0]),
        "features": int(X.shape[1]),
        "hidden": hidden,
        "batch": batch,
        "threads": nk.get_num_threads(),
        "other_load": load,
        "cases": {},
    }
    for k, t in timings.items():
        gate = "ok" if abs(accuracy[k] - accuracy["nnkernels"]) <= 0.05 else "FAIL: accuracy"
        row["cases"][k] = {"gate": gate, "accuracy": accuracy[k], **harness.asdict(t)}
    for k, c in row["cases"].items():
        ratio = c["median"] / row["cases"]["nnkernels"]["median"]
        print(
            f"  {k:<10} {c['median'] / 1e9:8.3f} s/epoch  x{ratio:5.2f}  "
            f"accuracy {c['accuracy']:.4f}  {c['gate']}",
            flush=True,
        )
    return row


def markdown(rows, env) -> str:
    lines = [
        "# MLP training: seconds per epoch",
        "",
        f"{env['date']} on {env['hostname']} ({env['cpu'].get('model name', '?')}, "
        f"{env['cpu_count']} CPUs, load average {env['loadavg']}); nnkernels "
        f"{env['nnkernels']['isa']}, {env['nnkernels']['threads']} threads; versions "
        f"{env['versions']}.",
        "",
        "Same architecture (relu hidden layer, softmax cross-entropy), Adam lr 1e-3, float32, "
        "shuffled mini-batches. Median of the interleaved epochs; x = peer time / nnkernels time "
        "(> 1: nnkernels faster); accuracy on held-out data after all timed epochs. "
        "`[1 thread]`: the peer with one BLAS / PyTorch thread (nnkernels.nn picks one thread "
        "itself for work this small). The MNIST-shaped row runs those only, unless "
        "`--all-variants`: with their default two threads on this busy 2-core machine, a probe "
        "took 57 s (PyTorch) and 22-28 s (scikit-learn) per epoch.",
        "",
    ]
    table = []
    for r in rows:
        nk_t = r["cases"]["nnkernels"]["median"]
        for k, c in r["cases"].items():
            table.append(
                [
                    f"{r['dataset']} ({r['n']}x{r['features']}->{r['hidden']}->10, "
                    f"batch {r['batch']})",
                    k,
                    c["median"] / 1e9,
                    f"{c['q1'] / 1e9:.3g}-{c['q3'] / 1e9:.3g}",
                    f"{c['median'] / nk_t:.2f}x",
                    f"{c['accuracy']:.4f}",
                    c["gate"],
                    r["other_load"],
                ]
            )
    lines.append(
        harness.markdown_table(
            ["data", "peer", "s / epoch", "IQR", "x", "accuracy", "gate", "other load"], table, 2
        )
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="digits only, 3 epochs per peer")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per peer (digits)")
    ap.add_argument("--mnist-repeats", type=int, default=3, help="timed epochs per peer")
    ap.add_argument(
        "--all-variants",
        action="store_true",
        help="MNIST-shaped row also with scikit-learn's and PyTorch's default threads (on a "
        "busy 2-core machine 10-25x slower than their one-thread runs: minutes per epoch)",
    )
    ap.add_argument("--peers", default="numpy,sklearn,torch")
    ap.add_argument("--out", default="mlp")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    peers = set(args.peers.split(","))
    rows = []
    d = digits()
    if d is not None:
        X, y = d
        order = np.random.default_rng(0).permutation(len(X))
        rows.append(
            bench(
                "digits",
                split(X[order], y[order], 360),
                256,
                32,
                3 if args.quick else args.repeats,
                peers,
            )
        )
    if not args.quick:
        rows.append(
            bench(
                "mnist-shaped",
                split(*mnist_like(), 10000),
                256,
                128,
                args.mnist_repeats,
                peers,
                default_threads=args.all_variants,
            )
        )
    env = harness.environment([nk.get_num_threads()])
    if not args.no_write and rows:
        md, js = harness.write_results(args.out, rows, env, markdown(rows, env))
        print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
