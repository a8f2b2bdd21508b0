"""ISA dispatch, thread control, fork safety and cross-ISA agreement."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import _core

from .conftest import ISA_LEVELS


def test_isa_reports_a_supported_level():
    assert nk.isa() in ("baseline", "avx2", "avx512")
    assert _core.isa_supported(nk.isa())
    config = nk.show_config(print_out=False)
    assert config["isa"] == nk.isa()
    assert set(config["isa_levels_supported"]) <= set(config["isa_levels_built"])
    assert config["threads"] == nk.get_num_threads()
    for key in ("compiler", "flags", "openmp"):
        assert config[key]
    assert "-ffast-math" not in config["flags"] and "-Ofast" not in config["flags"]


@pytest.mark.parametrize("level", ISA_LEVELS)
def test_environment_variable_forces_the_level(level):
    code = "import nnkernels as nk; print(nk.isa())"
    env = dict(os.environ, NNKERNELS_ISA=level)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == level


def test_unknown_level_fails_at_import_with_the_choices():
    env = dict(os.environ, NNKERNELS_ISA="sse9")
    out = subprocess.run(
        [sys.executable, "-c", "import nnkernels"], env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "sse9" in out.stderr and "baseline" in out.stderr


def test_every_level_agrees_within_the_bound():
    """The same inputs on every supported level: each within the bound of the others."""
    x = np.linspace(-40, 40, 100001, dtype=np.float32)
    previous = _core.isa()
    try:
        results = {}
        for level in ISA_LEVELS:
            _core.select_isa(level)
            results[level] = {n: getattr(nk, n)(x) for n in ("sigmoid", "tanh", "gelu", "mish")}
    finally:
        _core.select_isa(previous)
    first = results[ISA_LEVELS[0]]
    for level, res in results.items():
        for name, y in res.items():
            np.testing.assert_allclose(
                y, first[name], rtol=8 * 2**-23, atol=1e-37, err_msg=f"{name} {level}"
            )


def test_thread_settings():
    default = nk.get_num_threads()
    assert default >= 1
    with nk.threads(1):
        assert nk.get_num_threads() == 1
    assert nk.get_num_threads() == default
    nk.set_num_threads(1)
    try:
        assert nk.get_num_threads() == 1
    finally:
        nk.set_num_threads(0)
    assert nk.get_num_threads() == default
    with pytest.raises(ValueError):
        nk.set_num_threads(-1)
    with pytest.raises(ValueError):
        with nk.threads(0):
            pass


def _in_another_thread(fn):
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(fn()))
    t.start()
    t.join()
    return seen[0]


def test_set_num_threads_is_global_and_threads_blocks_per_python_thread():
    default = nk.get_num_threads()
    with nk.threads(1):  # this thread's block: another Python thread keeps its setting
        assert nk.get_num_threads() == 1
        assert _in_another_thread(nk.get_num_threads) == default
    nk.set_num_threads(1)  # in every Python thread
    try:
        assert nk.get_num_threads() == 1
        assert _in_another_thread(nk.get_num_threads) == 1
        with nk.threads(default):  # a block wins in its thread over set_num_threads
            assert nk.get_num_threads() == default
        nk.set_num_threads(default + 2)  # OpenMP's limit is a ceiling
        assert nk.get_num_threads() == default
    finally:
        nk.set_num_threads(0)
    assert _in_another_thread(nk.get_num_threads) == default


def test_overlapping_threads_blocks_in_two_python_threads():
    """A enters threads(1), B threads(2), A leaves, B leaves: each block holds in its own thread
    until it ends, and nothing is left behind (a global save and restore left 1 for good)."""
    import threading

    default = nk.get_num_threads()
    step = [threading.Event() for _ in range(4)]
    seen = {}

    def a():
        with nk.threads(1):
            step[0].set()
            step[1].wait()
            seen["a"] = nk.get_num_threads()
        step[2].set()

    def b():
        step[0].wait()
        with nk.threads(2):
            step[1].set()
            step[2].wait()
            seen["b"] = nk.get_num_threads()
        step[3].set()

    workers = [threading.Thread(target=f) for f in (a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert seen == {"a": 1, "b": 2}
    assert nk.get_num_threads() == default and _in_another_thread(nk.get_num_threads) == default


def test_threadpoolctl_limits_are_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if nk.get_num_threads() < 2:
        pytest.skip("needs a machine with 2 or more cores to see a limit")
    with threadpoolctl.threadpool_limits(1):
        assert nk.get_num_threads() == 1
        # nnkernels' own settings leave the limit alone (setting OpenMP's count undid it)
        with nk.threads(2):
            assert nk.get_num_threads() == 1
        nk.set_num_threads(2)
        try:
            assert nk.get_num_threads() == 1
        finally:
            nk.set_num_threads(0)
        assert nk.get_num_threads() == 1
    assert nk.get_num_threads() >= 2


def test_import_under_a_limit_keeps_the_default():
    """Imported inside threadpool_limits(1), the default after the block is OpenMP's own, not
    the limit the import saw."""
    pytest.importorskip("threadpoolctl")
    code = """
import ctypes, ctypes.util, threadpoolctl
ctypes.CDLL(ctypes.util.find_library("gomp") or "libgomp.so.1")  # an OpenMP runtime to limit
with threadpoolctl.threadpool_limits(1):
    import nnkernels as nk
    inside = nk.get_num_threads()
print(inside, nk.get_num_threads())
"""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "2"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
@pytest.mark.parametrize("limited", [True, False])
def test_threadpoolctl_limit_makes_kernels_single_threaded(limited):
    """A fresh process runs a large kernel with and without threadpool_limits(1): under the limit
    no OpenMP worker thread is ever started (the OS thread count stays put), without it the pool
    appears. threadpoolctl must also list the OpenMP runtime nnkernels uses."""
    pytest.importorskip("threadpoolctl")
    if not limited and nk.get_num_threads() < 2:
        pytest.skip("needs a machine with 2 or more cores to see the pool")
    code = f"""
import os, numpy as np, threadpoolctl, nnkernels as nk
x = np.ones(4_000_000, np.float32)
assert any(i["user_api"] == "openmp" for i in threadpoolctl.threadpool_info())
before = len(os.listdir("/proc/self/task"))
if {limited}:
    with threadpoolctl.threadpool_limits(1):
        threads = nk.get_num_threads()
        y = nk.sigmoid(x)
else:
    threads = nk.get_num_threads()
    y = nk.sigmoid(x)
assert abs(float(y[-1]) - 0.7310586) < 1e-6
print(threads, len(os.listdir("/proc/self/task")) - before)
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    threads, started = map(int, out.stdout.split())
    if limited:
        assert (threads, started) == (1, 0)
    else:
        assert threads == 2 and started >= 1


def test_results_identical_for_any_thread_count():
    x = np.random.default_rng(0).standard_normal(1_000_003).astype(np.float32)
    with nk.threads(1):
        one = nk.gelu(x), nk.softmax(x[:1_000_000].reshape(1000, 1000))
    with nk.threads(2):
        two = nk.gelu(x), nk.softmax(x[:1_000_000].reshape(1000, 1000))
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


# The parent first uses the kernels from its main thread, or from 8 Python threads at once
# (each of which gets its own OpenMP team); either way the child must finish.
_PARENT_USE = {
    "main": "nk.sigmoid(x)",
    "threads": """
import threading
ts = [threading.Thread(target=lambda: [nk.sigmoid(x), nk.gelu(x[:100_000])]) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]""",
}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
@pytest.mark.parametrize("parent", sorted(_PARENT_USE))
def test_forked_child_runs_serial_and_finishes(parent):
    code = """
import os, numpy as np, nnkernels as nk
x = np.ones(4_000_000, np.float32)
{use}                         # the parent starts the OpenMP pool(s)
pid = os.fork()
if pid == 0:
    y = nk.sigmoid(x)              # libgomp's pool is gone in the child: must run serial
    os._exit(0 if nk.get_num_threads() == 1 and abs(float(y[0]) - 0.7310586) < 1e-6 else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    code = code.replace("{use}", _PARENT_USE[parent])
    # a hang fails the test (TimeoutExpired) instead of blocking CI
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0", out.stderr


def test_results_do_not_depend_on_alignment(isa, dtype):
    """Vector body and remainder loops round alike: an element's bits do not depend on where the
    array starts in memory (so chunking across threads cannot change them either)."""
    x = np.random.default_rng(1).uniform(-10, 10, 10007).astype(dtype)
    buf = np.empty(x.size + 16, dtype)
    for spec in nk.activations.SPECS:
        fwd, grad = getattr(nk, spec.name), getattr(nk, spec.name + "_grad")
        want = fwd(x).tobytes(), grad(x).tobytes()
        for offset in (1, 3):
            view = buf[offset : offset + x.size]
            view[:] = x
            assert (fwd(view).tobytes(), grad(view).tobytes()) == want, (spec.name, offset)
