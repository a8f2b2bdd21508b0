"""Outputs written by non-temporal stores (calls whose arrays exceed twice the last-level cache)
give the same bits as plain stores (NaNs of either sign): every elementwise kernel, forward,
derivative and both backward forms, and softmax's and log_softmax's backward, on every ISA
level, for outputs that start anywhere in a cache line and end in part of a vector, on one and
two threads. The threshold is lowered so that small arrays stream."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import _core
from nnkernels.activations import SPECS

from .checks import sweep

NEVER = 2**62


@pytest.fixture
def streaming_everything():
    """Every call above 0 bytes streams; the default threshold comes back afterwards."""
    _core.set_streaming_threshold(0)
    yield
    _core.set_streaming_threshold(-1)


def _same(got, want):
    """Bit for bit, except that a NaN may differ in sign and payload (the compiler's loops give
    an element in the vector body and in the scalar remainder NaNs of either sign)."""
    nan = np.isnan(want)
    return np.array_equal(nan, np.isnan(got)) and got[~nan].tobytes() == want[~nan].tobytes()


def _calls(name, x, dy):
    fwd, grad, bwd = (getattr(nk, name + s) for s in ("", "_grad", "_backward"))
    calls = {
        "forward": lambda out: fwd(x, out=out),
        "backward(x=)": lambda out: bwd(dy, x=x, out=out),
    }
    calls["grad"] = lambda out: np.copyto(out, grad(x))  # grad has no out=: a fresh output
    if nk.activations.get(name).from_output:
        y = fwd(x)
        calls["backward(y=)"] = lambda out: bwd(dy, y=y, out=out)
    return calls


def _at(offset, n, dtype):
    """An empty array of n elements whose first one lies `offset` elements past a 64-byte
    boundary (NumPy's own buffers may start anywhere in a line)."""
    raw = np.empty(n + offset + 64, dtype)
    skip = (-raw.ctypes.data % 64) // raw.itemsize
    return raw[skip + offset : skip + offset + n]


@pytest.mark.parametrize("name", [s.name for s in SPECS])
def test_streamed_outputs_have_the_same_bits(isa, dtype, name, streaming_everything):
    rng = np.random.default_rng(3)
    values = rng.permutation(sweep(dtype))  # the whole real line with its special values
    # Two threads' chunks, many 4 KB blocks and a part vector; and sizes around one vector.
    for n, offsets in ((70_001, (0, 1, 5)), (1, (0, 3)), (15, (1,)), (16, (0, 7)), (17, (2,))):
        for offset in offsets:  # where the output's first element lies in a cache line
            x = np.resize(values, n)
            dy = rng.uniform(-2, 2, x.shape).astype(dtype)
            for what, call in _calls(name, x, dy).items():
                got, want = _at(offset, n, dtype), _at(offset, n, dtype)
                for threads in (1, 2):
                    with nk.threads(threads):
                        call(got)
                        _core.set_streaming_threshold(NEVER)
                        call(want)
                        _core.set_streaming_threshold(0)
                    assert _same(got, want), (name, what, n, offset, threads)


def test_in_place_and_fresh_outputs_under_streaming(isa, dtype, streaming_everything):
    x = np.linspace(-6, 6, 50_001, dtype=dtype)
    want = nk.sigmoid(x.copy())
    inplace = x.copy()
    assert nk.sigmoid(inplace, out=inplace) is inplace  # in place (plain stores): same values
    assert _same(inplace, want)
    _core.set_streaming_threshold(NEVER)
    assert _same(nk.sigmoid(x), want)


def test_threshold_setting_and_default():
    llc = _core.last_level_cache_bytes()
    default = _core.streaming_threshold()
    assert default == (2 * llc if llc > 0 else 2**63 - 1)
    try:
        _core.set_streaming_threshold(12345)
        assert _core.streaming_threshold() == 12345
        assert nk.show_config(print_out=False)["streaming_threshold_bytes"] == 12345
    finally:
        _core.set_streaming_threshold(-1)
    assert _core.streaming_threshold() == default


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_streamed_softmax_backward_has_the_same_bits(isa, dtype, name, streaming_everything):
    """Rows of every length class (a tail, a part line, many lines) starting anywhere."""
    rng = np.random.default_rng(4)
    fwd, bwd = getattr(nk, name), getattr(nk, name + "_backward")
    for rows, classes, offset in ((300, 1000, 0), (257, 37, 3), (40, 4099, 1), (3, 17, 5)):
        size = rows * classes
        y = fwd(rng.standard_normal((rows, classes)).astype(dtype))
        dy = rng.uniform(-2, 2, (rows, classes)).astype(dtype)
        got = _at(offset, size, dtype).reshape(rows, classes)
        want = _at(offset, size, dtype).reshape(rows, classes)
        for threads in (1, 2):
            with nk.threads(threads):
                bwd(dy, y=y, out=got)
                _core.set_streaming_threshold(NEVER)
                bwd(dy, y=y, out=want)
                _core.set_streaming_threshold(0)
            assert _same(got, want), (name, rows, classes, offset, threads)
