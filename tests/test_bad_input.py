"""The bad-input contract, as one table: every public function and class gets inputs it must
refuse. Each case raises the documented exception type with a message naming the problem, never
crashes, and leaves every array it was given (inputs, ``out=``, optimizer parameters and state)
bit-for-bit unchanged.

A case is ``Case(id, fn, args, kwargs, exc, match)``: ``fn(*args, **kwargs)`` must raise ``exc``
with a message matching the regex ``match``. Every ndarray found in args/kwargs (also inside lists,
tuples and dicts), the ``extra`` arrays, and for optimizer methods the optimizer's parameters,
state and counters are snapshotted before the call and compared after it.
"""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import activations as A
from nnkernels import losses as L
from nnkernels import nn
from nnkernels import optim as O
from nnkernels.nn import functional as NF
from nnkernels.nn.layers import NAMED_ACTIVATIONS
from nnkernels.optim import functional as F


@dataclass
class Case:
    id: str
    fn: Callable
    args: tuple
    kwargs: dict
    exc: type
    match: str
    extra: list = field(default_factory=list)


CASES: list[Case] = []


def case(id_, fn, *args, exc, match, extra=(), **kwargs):
    CASES.append(Case(id_, fn, args, kwargs, exc, match, list(extra)))


def arr(*shape, dtype=np.float32, seed=0, lo=-3.0, hi=3.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def readonly(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def shifted_pair(n=9, dtype=np.float32):
    """(input, out): two views of one buffer, offset by one element."""
    buf = arr(n + 1, dtype=dtype, seed=7)
    return buf[:n], buf[1:]


COMPLEX = np.ones(4, np.complex128)
OBJECT = np.array([1.0, None, 2.0, 3.0], dtype=object)
STRINGS = ["a", "b", "c", "d"]
HUGE_NDIM = np.ones((1,) * 64, np.float32)  # NumPy's maximum number of dimensions

# ---- activations: elementwise (generated from SPECS: every function gets cases) -------------

_BAD_X = [  # (label, x, match)
    ("complex", COMPLEX, r"x has dtype complex128"),
    ("object", OBJECT, r"x has dtype object"),
    ("strings", STRINGS, r"x has dtype <U1"),
    ("none", None, r"x is None"),
    ("ragged", [[1.0, 2.0], [3.0]], r"x cannot be converted to an array"),
    ("datetime", np.array(["2020-01-01"], "datetime64[D]"), r"x has dtype datetime64"),
    ("float128", np.ones(3, np.longdouble), r"x has dtype float128"),
]
for i, spec in enumerate(A.SPECS):
    fwd = getattr(A, spec.name)
    grad = getattr(A, spec.name + "_grad")
    bwd = getattr(A, spec.name + "_backward")
    label, bad, match = _BAD_X[i % len(_BAD_X)]
    case(f"{spec.name}-{label}", fwd, bad, exc=TypeError, match=f"{spec.name}: {match}")
    label, bad, match = _BAD_X[(i + 3) % len(_BAD_X)]
    case(f"{spec.name}_grad-{label}", grad, bad, exc=TypeError, match=match)
    case(
        f"{spec.name}_backward-shape",
        bwd,
        arr(3, 4),
        x=arr(4, 3),
        exc=ValueError,
        match=rf"{spec.name}_backward: dy has shape \(3, 4\) but x has shape \(4, 3\)",
    )
    case(f"{spec.name}_backward-no-saved", bwd, arr(4), exc=TypeError, match="exactly one of x=")
    case(
        f"{spec.name}_backward-dy-complex",
        bwd,
        COMPLEX,
        x=arr(4),
        exc=TypeError,
        match=r"dy has dtype complex128",
    )

# out= rules, on a few representative functions of each kind
x8, y8 = arr(8, seed=1), arr(8, seed=2)
for name in ("sigmoid", "gelu", "relu", "leaky_relu", "softplus"):
    fwd, bwd = getattr(A, name), getattr(A, name + "_backward")
    case(
        f"{name}-out-readonly", fwd, x8, out=readonly(y8), exc=ValueError, match="out is read-only"
    )
    case(
        f"{name}-out-dtype",
        fwd,
        x8,
        out=np.zeros(8),
        exc=TypeError,
        match="out has dtype float64 but the result is float32",
    )
    case(
        f"{name}-out-shape",
        fwd,
        x8,
        out=np.zeros(7, np.float32),
        exc=ValueError,
        match=r"out has shape \(7,\) but the result has shape \(8,\)",
    )
    case(f"{name}-out-list", fwd, x8, out=[0.0] * 8, exc=TypeError, match="out must be a numpy")
    xin, xout = shifted_pair()
    case(f"{name}-out-overlap", fwd, xin, out=xout, exc=ValueError, match="overlaps an input")
    xin, xout = shifted_pair()
    case(
        f"{name}_backward-out-overlap",
        bwd,
        arr(9, seed=3),
        x=xin,
        out=xout,
        exc=ValueError,
        match="overlaps an input",
    )
    case(
        f"{name}_backward-out-readonly",
        bwd,
        x8,
        x=y8,
        out=readonly(x8),
        exc=ValueError,
        match="out is read-only",
    )

# in-place through a transposed view of the input: overlapping, not the same layout
sq = arr(4, 4, seed=4)
case("tanh-out-transposed-input", A.tanh, sq, out=sq.T, exc=ValueError, match="overlaps")
case(
    "sigmoid-huge-ndim-out-shape",
    A.sigmoid,
    HUGE_NDIM,
    out=np.zeros((1,) * 63, np.float32),
    exc=ValueError,
    match=r"out has shape \(1, 1,.*\) but the result has shape",
)
case(
    "relu-zero-size-out-shape",
    A.relu,
    np.zeros((0, 3), np.float32),
    out=np.zeros((3, 0), np.float32),
    exc=ValueError,
    match=r"out has shape \(3, 0\)",
)

# parameters
case("hardtanh-min-gt-max", A.hardtanh, x8, 1.0, -1.0, exc=ValueError, match="min_val")
case("hardtanh-str", A.hardtanh, x8, "a", exc=TypeError, match="min_val must be a real number")
case("gelu-approximate", A.gelu, x8, approximate="fast", exc=ValueError, match="approximate")
case("gelu_backward-y", A.gelu_backward, x8, y=y8, exc=TypeError, match="cannot use y=")
case("silu_backward-y", A.silu_backward, x8, y=y8, exc=TypeError, match="not monotone")
case("relu_backward-x-and-y", A.relu_backward, x8, x=x8, y=y8, exc=TypeError, match="exactly one")
case("softplus-beta-0", A.softplus, x8, beta=0, exc=ValueError, match="beta must be > 0")
case("softplus-beta-nan", A.softplus_grad, x8, beta=np.nan, exc=ValueError, match="beta must not")
case("softplus-threshold-none", A.softplus, x8, threshold=None, exc=TypeError, match="threshold")
case("celu-alpha-0", A.celu, x8, alpha=0.0, exc=ValueError, match="alpha must be nonzero")
case("celu-alpha-nan", A.celu_grad, x8, alpha=np.nan, exc=ValueError, match="alpha must not")
case("elu-alpha-list", A.elu, x8, alpha=[1.0], exc=TypeError, match="alpha must be a real")
case(
    "elu_backward-y-alpha-neg",
    A.elu_backward,
    x8,
    y=y8,
    alpha=-1.0,
    exc=TypeError,
    match="alpha < 0",
)
case("leaky_relu-slope-str", A.leaky_relu, x8, "x", exc=TypeError, match="negative_slope")
case("swish-beta-str", A.swish, x8, beta="b", exc=TypeError, match="beta must be a real")
case(
    "binary_step-threshold",
    A.binary_step,
    x8,
    threshold=object(),
    exc=TypeError,
    match="threshold must be a real",
)
case("sigmoid-unknown-kw", A.sigmoid, x8, alpha=1.0, exc=TypeError, match="alpha")
# A NaN parameter would only make NaN outputs: refused, as are bools.
case("elu-alpha-nan", A.elu, x8, alpha=np.nan, exc=ValueError, match="alpha must not be NaN")
case("swish-beta-nan", A.swish, x8, beta=float("nan"), exc=ValueError, match="beta must not")
case("leaky_relu-nan", A.leaky_relu_grad, x8, np.nan, exc=ValueError, match="negative_slope")
case("binary_step-nan", A.binary_step, x8, threshold=np.nan, exc=ValueError, match="threshold")
case("hardtanh-max-nan", A.hardtanh, x8, max_val=np.nan, exc=ValueError, match="max_val")
case("elu-alpha-bool", A.elu, x8, alpha=True, exc=TypeError, match="alpha must be a real")
case("elu-alpha-0d-bool", A.elu, x8, alpha=np.array(True), exc=TypeError, match="alpha must")

# ---- activations with parameters arrays, and the non-elementwise ones --------------------
x234 = arr(2, 3, 4, seed=5)
case(
    "prelu-weight-channels",
    A.prelu,
    x234,
    arr(4),
    exc=ValueError,
    match=r"weight has 4 elements but x of shape \(2, 3, 4\) has 3 channels",
)
case("prelu-weight-2d", A.prelu, x234, arr(3, 1), exc=ValueError, match="weight must be 1-D")
case(
    "prelu-weight-empty",
    A.prelu,
    x234,
    np.zeros(0, np.float32),
    exc=ValueError,
    match="weight has 0 elements",
)
case("prelu-weight-complex", A.prelu, x234, COMPLEX[:3], exc=TypeError, match="weight has dtype")
case("prelu-x-none", A.prelu, None, arr(3), exc=TypeError, match="x is None")
case(
    "prelu-huge-ndim",
    A.prelu,
    np.ones((1, 2) + (1,) * 62, np.float32),
    arr(3),
    exc=ValueError,
    match="has 2 channels",
)
case(
    "prelu-out-readonly",
    A.prelu,
    x234,
    arr(3),
    out=readonly(x234),
    exc=ValueError,
    match="out is read-only",
)
xin, xout = shifted_pair(12)
case("prelu-out-overlap", A.prelu, xin, arr(1), out=xout, exc=ValueError, match="overlaps")
case(
    "prelu_grad-weight-channels", A.prelu_grad, x234, arr(2), exc=ValueError, match="has 3 channels"
)
case("prelu_grad-strings", A.prelu_grad, STRINGS, arr(1), exc=TypeError, match="x has dtype")
case(
    "prelu_backward-shape",
    A.prelu_backward,
    arr(2, 3),
    x234,
    arr(3),
    exc=ValueError,
    match=r"dy has shape \(2, 3\) but x has shape \(2, 3, 4\)",
)
case(
    "prelu_backward-out-dtype",
    A.prelu_backward,
    x234,
    x234,
    arr(3),
    out=np.zeros(x234.shape),
    exc=TypeError,
    match="out has dtype float64",
)
case("rrelu-bounds", A.rrelu, x8, 0.5, 0.1, exc=ValueError, match="lower <= upper")
case("rrelu-negative-lower", A.rrelu, x8, -0.1, exc=ValueError, match="0 <= lower")
case(
    "rrelu-training-complex",
    A.rrelu,
    COMPLEX,
    training=True,
    rng=0,
    exc=TypeError,
    match="x has dtype complex128",
)
case("rrelu-out-readonly", A.rrelu, x8, out=readonly(x8), exc=ValueError, match="read-only")
# The slopes are drawn only once x and out have passed: the Generator is left as it was.
xin, xout = shifted_pair()
for label, x, out, exc, match in (
    ("out-shape", x8, np.zeros(4, np.float32), ValueError, r"out has shape \(4,\)"),
    ("out-overlap", xin, xout, ValueError, "overlaps"),
    ("strings", STRINGS, None, TypeError, "x has dtype <U1"),
):
    rng = np.random.default_rng(0)
    case(
        f"rrelu-training-{label}", A.rrelu, x, training=True, rng=rng, out=out, exc=exc, match=match
    )
case(
    "rrelu_backward-slopes-shape",
    A.rrelu_backward,
    x8,
    x=x8,
    slopes=arr(7),
    exc=ValueError,
    match=r"slopes has shape \(7,\) but x has shape \(8,\)",
)
case("rrelu_backward-neither", A.rrelu_backward, x8, exc=TypeError, match="exactly one")
case(
    "rrelu_backward-bounds",
    A.rrelu_backward,
    x8,
    x=x8,
    lower=2.0,
    upper=1.0,
    exc=ValueError,
    match="lower <= upper",
)
case("crelu-0d", A.crelu, np.float32(1.0), exc=ValueError, match="at least one dimension")
case(
    "crelu_backward-0d",
    A.crelu_backward,
    arr(2),
    np.array(1.0, np.float32),
    exc=ValueError,
    match="crelu_backward: x must have at least one dimension",
)
for fn, dy, x, more in (  # dy named as the bad argument, not x
    (A.crelu_backward, COMPLEX[:4], arr(2), ()),
    (A.maxout_backward, COMPLEX[:2], arr(4), (2,)),
):
    match = f"{fn.__name__}: dy has dtype complex128"
    case(f"{fn.__name__}-dy-complex", fn, dy, x, *more, exc=TypeError, match=match)
# out against the arrays as passed, not their float conversions (an int or float16 x is copied)
for name, args, out in (  # (name, args over an int64 buffer, the out slice of its float view)
    ("crelu", lambda b: (b[:4],), slice(3, 11)),
    ("crelu_backward", lambda b: (np.ones(8), b[:4]), slice(2, 6)),
    ("maxout_backward", lambda b: (b[:4], np.ones(8), 2), slice(2, 10)),
):
    ints = np.arange(-4, 8)
    case(
        f"{name}-int-out-overlap",
        getattr(A, name),
        *args(ints),
        out=ints.view(float)[out],
        exc=ValueError,
        match="overlaps",
    )
halves = arr(16, dtype=np.float16)
case(
    "maxout-half-out-overlap",
    A.maxout,
    halves[:8],
    2,
    out=halves.view(np.float32)[1:5],
    exc=ValueError,
    match="overlaps",
)
case("crelu-axis", A.crelu, x234, axis=3, exc=IndexError, match="axis 3 is out of bounds")
case("crelu-axis-float", A.crelu, x234, axis=1.0, exc=TypeError, match="axis must be an integer")
case("crelu-object", A.crelu, OBJECT, exc=TypeError, match="x has dtype object")
case(
    "crelu-out-shape",
    A.crelu,
    x234,
    out=np.zeros((2, 3, 4), np.float32),
    exc=ValueError,
    match=r"out has shape \(2, 3, 4\) but the result has shape \(2, 3, 8\)",
)
buf24 = arr(24, seed=6)
case("crelu-out-overlap", A.crelu, buf24[:8], out=buf24[4:20], exc=ValueError, match="overlaps")
case(
    "crelu_backward-shape",
    A.crelu_backward,
    arr(2, 3, 4),
    x234,
    exc=ValueError,
    match=r"dy has shape \(2, 3, 4\) but x of shape \(2, 3, 4\) needs dy of shape \(2, 3, 8\)",
)
case(
    "crelu_backward-out-readonly",
    A.crelu_backward,
    arr(2, 3, 8),
    x234,
    out=readonly(x234),
    exc=ValueError,
    match="read-only",
)
case("maxout-pieces", A.maxout, x234, 3, exc=ValueError, match="not a multiple of pieces=3")
case("maxout-pieces-zero", A.maxout, x234, 0, exc=ValueError, match="pieces must be a positive")
case("maxout-pieces-bool", A.maxout, x234, True, exc=ValueError, match="pieces must be a positive")
case("maxout-axis", A.maxout, x234, 2, axis=-4, exc=IndexError, match="axis -4 is out of bounds")
case("maxout-complex", A.maxout, COMPLEX, 2, exc=TypeError, match="complex128")
case(
    "maxout-out-dtype",
    A.maxout,
    x234,
    2,
    out=np.zeros((2, 3, 2)),
    exc=TypeError,
    match="out has dtype float64",
)
case(
    "maxout_backward-shape",
    A.maxout_backward,
    arr(2, 3, 4),
    x234,
    2,
    exc=ValueError,
    match=r"needs dy of shape \(2, 3, 2\)",
)
# out may be x itself (see test_activations), never part of it
for fn, dy, more in ((A.maxout_backward, arr(2, 3, 2), (2,)), (A.crelu_backward, arr(2, 3, 8), ())):
    xin, xout = shifted_pair(24)
    x, out = xin.reshape(2, 3, 4), xout.reshape(2, 3, 4)
    case(f"{fn.__name__}-out-overlap", fn, dy, x, *more, out=out, exc=ValueError, match="overlaps")
case("softmax-axis", A.softmax, x234, axis=3, exc=IndexError, match="axis 3 is out of bounds")
case(
    "softmax-huge-ndim-axis",
    A.softmax,
    HUGE_NDIM,
    axis=64,
    exc=IndexError,
    match="axis 64 is out of bounds for an array of dimension 64",
)
case("softmax-strings", A.softmax, STRINGS, exc=TypeError, match="x has dtype <U1")
xin, xout = shifted_pair(12)
case("softmax-out-overlap", A.softmax, xin, out=xout, exc=ValueError, match="overlaps")
case(
    "log_softmax-out-readonly",
    A.log_softmax,
    x234,
    out=readonly(x234),
    exc=ValueError,
    match="read-only",
)
case("log_softmax-axis-str", A.log_softmax, x234, axis="1", exc=TypeError, match="axis")
case("softmax-axis-bool", A.softmax, x234, axis=True, exc=TypeError, match="axis must be an int")
case(
    "softmax_backward-axis-float",
    A.softmax_backward,
    x234,
    y=x234,
    axis=1.0,
    exc=TypeError,
    match="axis must be an integer, got 1.0",
)
case(
    "softmax_backward-shape",
    A.softmax_backward,
    arr(2, 3),
    y=x234,
    exc=ValueError,
    match=r"dy has shape \(2, 3\) but y has shape \(2, 3, 4\)",
)
case("softmax_backward-neither", A.softmax_backward, x234, exc=TypeError, match="exactly one")
case(
    "log_softmax_backward-axis",
    A.log_softmax_backward,
    x234,
    y=x234,
    axis=-5,
    exc=IndexError,
    match="axis -5",
)
# from x: out is checked against x too, not only against the y recomputed from it
for name in ("softmax_backward", "log_softmax_backward"):
    xin, xout = shifted_pair(12)
    case(
        f"{name}-x-out-overlap",
        getattr(A, name),
        arr(12),
        x=xin,
        out=xout,
        exc=ValueError,
        match=f"{name}: out overlaps an input",
    )
case(
    "log_softmax_backward-object",
    A.log_softmax_backward,
    OBJECT,
    y=x8[:4],
    exc=TypeError,
    match="dy has dtype object",
)

# registry
case("get-unknown", A.get, "swishy", exc=ValueError, match="unknown activation 'swishy'")
case("get-list", A.get, ["relu"], exc=TypeError, match="name must be a str")
case("get-none", A.get, None, exc=TypeError, match="name must be a str")
case("available-arg", A.available, "relu", exc=TypeError, match="argument")

# ---- threads ------------------------------------------------------------------------------
case("set_num_threads-negative", nk.set_num_threads, -1, exc=ValueError, match="non-negative")
case("set_num_threads-str", nk.set_num_threads, "2", exc=TypeError, match="must be an integer")
case("set_num_threads-float", nk.set_num_threads, 2.0, exc=TypeError, match="must be an integer")
case("set_num_threads-bool", nk.set_num_threads, True, exc=TypeError, match="must be an integer")
case("set_num_threads-huge", nk.set_num_threads, 2**31, exc=ValueError, match="at most 2147483647")
case("threads-zero", lambda: nk.threads(0).__enter__(), exc=ValueError, match="positive")
case("threads-none", lambda: nk.threads(None).__enter__(), exc=TypeError, match="integer")
case("get_num_threads-arg", nk.get_num_threads, 1, exc=TypeError, match="argument")
case("isa-arg", nk.isa, "avx2", exc=TypeError, match="argument")
case("show_config-args", nk.show_config, True, "x", exc=TypeError, match="positional argument")

# ---- losses (generated from SPECS: every function gets cases) -----------------------------


def loss_inputs(spec):
    """Valid (pred, target) for a loss, float32."""
    if spec.targets == "labels" or spec.name == "cross_entropy":
        return arr(4, 3, lo=0.05, hi=0.95), np.array([0, 2, 1, 2])
    lo = 0.05 if spec.pred_range or spec.target_range or spec.name == "msle" else -2.0
    pred, target = arr(4, 3, lo=lo, hi=0.95), arr(4, 3, seed=1, lo=max(lo, 0.05), hi=0.95)
    if spec.name in ("hinge", "squared_hinge"):
        target = np.sign(target - 0.5).astype(np.float32)
    return pred, target


for spec in L.SPECS:
    value = getattr(L, spec.name)
    grad = getattr(L, spec.name + "_grad")
    vag = getattr(L, spec.name + "_value_and_grad")
    pred, target = loss_inputs(spec)
    n = spec.name
    case(
        f"{n}-pred-complex",
        value,
        pred.astype(np.complex64),
        target,
        exc=TypeError,
        match=f"{n}: pred has dtype complex64",
    )
    case(f"{n}-target-none", value, pred, None, exc=TypeError, match="target is None")
    case(
        f"{n}-reduction",
        value,
        pred,
        target,
        reduction="avg",
        exc=ValueError,
        match="reduction must be one of 'mean', 'sum', 'none'.*got 'avg'",
    )
    case(
        f"{n}-unknown-kw",
        value,
        pred,
        target,
        alpha2=1,
        exc=TypeError,
        match="unexpected keyword argument 'alpha2'",
    )
    case(
        f"{n}_grad-pred-object",
        grad,
        pred.astype(object),
        target,
        exc=TypeError,
        match="pred has dtype object",
    )
    bad_t = target[:3] if target.ndim == 1 else target[:, :2]
    case(
        f"{n}_grad-shape",
        grad,
        pred,
        bad_t,
        exc=ValueError,
        match=r"pred has shape \(4, 3\) but target has shape",
    )
    case(
        f"{n}_value_and_grad-out-readonly",
        vag,
        pred,
        target,
        out=readonly(pred),
        exc=ValueError,
        match="out is read-only",
    )
    case(
        f"{n}_value_and_grad-out-dtype",
        vag,
        pred,
        target,
        out=np.zeros(pred.shape),
        exc=TypeError,
        match="out has dtype float64 but the gradient is float32",
    )
    buf = np.concatenate([pred.ravel(), [0.5]]).astype(np.float32)
    case(
        f"{n}_value_and_grad-out-overlap",
        vag,
        buf[:12].reshape(4, 3),
        target,
        out=buf[1:].reshape(4, 3),
        exc=ValueError,
        match="out overlaps an input",
    )
    case(
        f"{n}_value_and_grad-sample-weight",
        vag,
        pred,
        target,
        sample_weight=np.ones(5),
        exc=ValueError,
        match=r"sample_weight has shape \(5,\)",
    )

# labels
logits = arr(4, 3, seed=8)
for fn in (L.cross_entropy, L.nll_loss_grad, L.sparse_categorical_cross_entropy_value_and_grad):
    p = np.abs(logits) / 3 if fn is not L.cross_entropy else logits
    nm = fn.__name__
    case(
        f"{nm}-label-out-of-range",
        fn,
        p,
        np.array([0, 3, 1, 2]),
        exc=IndexError,
        match=r"target index 3 at position \[1\] is out of range for 3 classes",
    )
    case(
        f"{nm}-label-negative",
        fn,
        p,
        np.array([0, 1, -7, 2]),
        exc=IndexError,
        match=r"target index -7",
    )
    case(
        f"{nm}-label-nan",
        fn,
        p,
        np.array([0, np.nan, 1, 2]),
        exc=ValueError,
        match=r"class labels must be integers; target\[1\] = .*nan",
    )
    case(
        f"{nm}-label-fraction",
        fn,
        p,
        np.array([0, 1.5, 1, 2]),
        exc=ValueError,
        match="class labels must be integers",
    )
    case(
        f"{nm}-label-bool",
        fn,
        p,
        np.array([True, False, True, True]),
        exc=TypeError,
        match="class labels must be integers, got dtype bool",
    )
case(
    "cross_entropy-huge-label",
    L.cross_entropy_grad,
    logits,
    np.array([0, 1, 2, 2**40]),
    exc=IndexError,
    match="target index 1099511627776",
)
# Beyond int64 the cast would wrap (2^64 - 100 to -100, ignore_index): named as given.
for label, target, where in (
    ("float", np.array([0, 1e20, 1, 2]), r"1e\+20 at position \[1\]"),
    (
        "uint64",
        np.array([0, 1, 2**64 - 100, 2], np.uint64),
        r"18446744073709551516 at position \[2\]",
    ),
):
    case(
        f"cross_entropy-label-beyond-int64-{label}",
        L.cross_entropy_value_and_grad,
        logits,
        target,
        exc=IndexError,
        match="target index " + where,
    )
if np.dtype(np.longdouble).itemsize > 8:  # x86-64 Linux: 80-bit, which float64 would round
    case(
        "mse-longdouble",
        L.mse,
        np.zeros(3, np.longdouble),
        np.zeros(3),
        exc=TypeError,
        match=r"pred has dtype float(96|128)",
    )
case(
    "cross_entropy-no-classes",
    L.cross_entropy,
    np.zeros((4, 0)),
    np.zeros(4, int),
    exc=ValueError,
    match="no classes",
)
case(
    "cross_entropy-0d",
    L.cross_entropy,
    np.float64(1),
    np.int64(0),
    exc=ValueError,
    match="class axis",
)
case(
    "cross_entropy-weight-shape",
    L.cross_entropy,
    logits,
    np.array([0, 1, 2, 0]),
    weight=np.ones(4),
    exc=ValueError,
    match=r"weight has shape \(4,\) but pred has 3 classes",
)
case(
    "cross_entropy-ignore-index-float",
    L.cross_entropy,
    logits,
    np.array([0, 1, 2, 0]),
    ignore_index=1.5,
    exc=TypeError,
    match="ignore_index must be an integer",
)
case(
    "cross_entropy-label-smoothing",
    L.cross_entropy,
    logits,
    np.array([0, 1, 2, 0]),
    label_smoothing=1.5,
    exc=ValueError,
    match=r"label_smoothing must be in \[0, 1\]",
)
case(
    "categorical_cross_entropy-axis",
    L.categorical_cross_entropy,
    np.abs(logits),
    np.abs(logits),
    axis=2,
    exc=np.exceptions.AxisError,
    match="axis 2",
)
case(
    "cosine_similarity-axis-float",
    L.cosine_similarity,
    logits,
    logits,
    axis=1.0,
    exc=TypeError,
    match="axis must be an integer",
)
# value ranges and hyperparameters
case(
    "binary_cross_entropy-pred-range",
    L.binary_cross_entropy,
    np.array([0.5, 1.5]),
    np.array([0.0, 1.0]),
    exc=ValueError,
    match=r"pred must be probabilities in \[0, 1\]; pred\[1\]",
)
case(
    "binary_focal_loss-target-range",
    L.binary_focal_loss_grad,
    np.array([0.5, 1.5]),
    np.array([0.0, 2.0]),
    exc=ValueError,
    match=r"target\[1\]",
)
case(
    "msle-pred",
    L.msle_grad,
    np.array([0.2, -1.0]),
    np.zeros(2),
    exc=ValueError,
    match=r"log1p needs pred > -1; pred\[1\]",
)
case(
    "hinge-labels",
    L.hinge,
    np.zeros(2),
    np.array([0.5, 1.0]),
    exc=ValueError,
    match=r"labels must be -1/\+1 or 0/1; target\[0\]",
)
case("huber-delta", L.huber_grad, x8, y8, delta=0.0, exc=ValueError, match="delta must be > 0")
case("huber-delta-str", L.huber, x8, y8, delta="1", exc=TypeError, match="delta must be a real")
case("smooth_l1-beta", L.smooth_l1, x8, y8, beta=-1, exc=ValueError, match="beta must be >= 0")
case("mape-eps", L.mape, x8, y8, eps=0, exc=ValueError, match="eps must be > 0")
case("poisson-eps", L.poisson, x8, y8, eps=-1, exc=ValueError, match="eps must be >= 0")
case(
    "binary_focal_loss-gamma",
    L.binary_focal_loss,
    x8,
    np.abs(y8) / 3,
    gamma=-1.0,
    exc=ValueError,
    match="gamma must be >= 0",
)
case(
    "bce_with_logits-pos-weight-shape",
    L.binary_cross_entropy_with_logits,
    arr(4, 3),
    arr(4, 3, lo=0, hi=1),
    pos_weight=np.ones(4),
    exc=ValueError,
    match=r"pos_weight has shape \(4,\) but pred has shape \(4, 3\)",
)
case(
    "bce_with_logits-pos-weight-bool",
    L.binary_cross_entropy_with_logits,
    x8,
    y8,
    pos_weight=True,
    exc=TypeError,
    match="pos_weight must be a real number",
)
case(
    "bce_with_logits-pos-weight-nan",
    L.binary_cross_entropy_with_logits,
    x8,
    y8,
    pos_weight=np.nan,
    exc=ValueError,
    match="pos_weight must not be NaN",
)
case(
    "kl_div-reduction",
    L.mse,
    x8,
    y8,
    reduction="batchmean",
    exc=ValueError,
    match="got 'batchmean'",
)
case(
    "zero_one_loss-shape",
    L.zero_one_loss,
    np.zeros(3),
    np.zeros(4),
    exc=ValueError,
    match=r"pred has shape \(3,\) but target has shape \(4,\)",
)
case(
    "zero_one_loss-reduction",
    L.zero_one_loss,
    np.zeros(3),
    np.zeros(3),
    reduction=None,
    exc=ValueError,
    match="reduction",
)
case(
    "zero_one_loss-sample-weight-shape",
    L.zero_one_loss,
    np.array([0, 1, 0, 1]),
    np.array([0, 1, 2, 1]),
    sample_weight=np.ones((4, 1)),
    exc=ValueError,
    match=r"sample_weight has shape \(4, 1\) but the losses have shape \(4,\)",
)
for id_, pred, target, where in (
    ("nan-label", np.array([0.0, np.nan, 0, 1]), np.array([0, 1, 2, 1]), r"pred\[1\] = nan"),
    ("fractional-target", np.zeros((4, 3)), np.array([0, 1.5, 2, 1]), r"target\[1\] = 1.5"),
):
    case(
        f"zero_one_loss-{id_}",
        L.zero_one_loss,
        pred,
        target,
        exc=ValueError,
        match="class labels must be integers; " + where,
    )
case(
    "bce-logits-pos-weight-zero-weight",
    L.binary_cross_entropy_with_logits,
    np.zeros((2, 2)),
    np.full((2, 2), 0.5),
    pos_weight=np.array([-1.0, 2.0]),
    exc=ValueError,
    match=r"1 \+ \(pos_weight - 1\) target is 0 where target != 1",
)
case(
    "zero_one_loss-complex",
    L.zero_one_loss,
    COMPLEX,
    np.zeros(4),
    exc=TypeError,
    match="pred has dtype complex128",
)
case(
    "mse-huge-ndim-shape",
    L.mse,
    HUGE_NDIM,
    np.ones((1,) * 63, np.float32),
    exc=ValueError,
    match="pred has shape",
)

# ---- optimizers ---------------------------------------------------------------------------

OPTIMIZERS = [
    O.SGD,
    O.Adagrad,
    O.RMSprop,
    O.Adam,
    O.AdamW,
    O.Adamax,
    O.Adadelta,
    O.NAdam,
    O.RAdam,
    O.Lion,
]
# per class: options that make every state slot exist, and one bad hyperparameter
_FULL = {
    O.SGD: {"momentum": 0.9},
    O.RMSprop: {"momentum": 0.9, "centered": True},
    O.Adam: {"amsgrad": True},
}
_BAD_HYPER = {
    O.SGD: ({"momentum": -0.5}, ValueError, "momentum must be >= 0"),
    O.Adagrad: ({"lr_decay": -1}, ValueError, "lr_decay must be >= 0"),
    O.RMSprop: ({"alpha": 1.0}, ValueError, r"alpha must be in \[0, 1\)"),
    O.Adam: ({"betas": (0.9, 1.0)}, ValueError, r"betas\[1\] must be in \[0, 1\)"),
    O.AdamW: ({"betas": 0.9}, TypeError, "betas must be a pair"),
    O.Adamax: ({"eps": 0.0}, ValueError, "eps must be > 0"),
    O.Adadelta: ({"rho": 1.5}, ValueError, r"rho must be in \[0, 1\]"),
    O.NAdam: ({"momentum_decay": -1e-3}, ValueError, "momentum_decay must be >= 0"),
    O.RAdam: ({"weight_decay": np.nan}, ValueError, "weight_decay must not be NaN"),
    O.Lion: ({"amsgrad": True}, TypeError, r"unknown option\(s\) \['amsgrad'\]"),
}


def params(seed=0, dtype=np.float32):
    return [arr(3, 4, seed=seed, dtype=dtype), arr(5, seed=seed + 1, dtype=dtype)]


def stepped(cls, dtype=np.float32):
    """An optimizer after two good steps (state is non-trivial)."""
    opt = cls(params(dtype=dtype), lr=0.1, **_FULL.get(cls, {}))
    for s in (10, 11):
        opt.step(params(seed=s, dtype=dtype))
    return opt


for cls in OPTIMIZERS:
    n = cls.__name__
    hyper, exc, match = _BAD_HYPER[cls]
    case(f"{n}-hyper", cls, params(), **hyper, exc=exc, match=match)
    case(f"{n}-lr-negative", cls, params(), lr=-1e-3, exc=ValueError, match="lr must be >= 0")
    case(f"{n}-lr-str", cls, params(), lr="0.1", exc=TypeError, match="lr must be a real number")
    case(f"{n}-unknown-option", cls, params(), foo=1, exc=TypeError, match=r"\['foo'\]")
    case(
        f"{n}-params-strided",
        cls,
        [arr(4, 6)[:, ::2]],
        exc=ValueError,
        match=r"params\[0\] is not C-contiguous",
    )
    case(
        f"{n}-params-int",
        cls,
        [np.zeros(3, np.int64)],
        exc=TypeError,
        match=r"params\[0\] has dtype int64",
    )
    case(
        f"{n}-params-list",
        cls,
        [[1.0, 2.0]],
        exc=TypeError,
        match=r"params\[0\] must be a numpy.ndarray, got list",
    )
    case(
        f"{n}-params-readonly",
        cls,
        [arr(3), readonly(arr(3))],
        exc=ValueError,
        match=r"params\[1\] is read-only",
    )
    case(
        f"{n}-clip-value",
        cls,
        params(),
        clip_value=0.0,
        exc=ValueError,
        match="clip_value must be > 0",
    )
    case(
        f"{n}-maximize-str",
        cls,
        params(),
        maximize="yes",
        exc=TypeError,
        match="maximize must be a bool",
    )
    opt = stepped(cls)
    g = params(seed=20)
    case(
        f"{n}.step-grad-shape",
        opt.step,
        [g[0], g[1][:4]],
        exc=ValueError,
        match=r"grads\[1\] has shape \(4,\) but params\[1\] has shape \(5,\)",
    )
    opt = stepped(cls)
    case(
        f"{n}.step-grad-dtype",
        opt.step,
        [g[0], g[1].astype(np.float64)],
        exc=TypeError,
        match=r"grads\[1\] has dtype float64 but params\[1\] is float32",
    )
    opt = stepped(cls)
    case(
        f"{n}.step-grad-count",
        opt.step,
        g[:1],
        exc=ValueError,
        match="got 1 gradients for 2 parameters",
    )
    opt = stepped(cls)
    case(
        f"{n}.step-grad-none",
        opt.step,
        [g[0], None],
        exc=TypeError,
        match=r"grads\[1\] must be a numpy.ndarray, got NoneType",
    )
    opt = stepped(cls)
    case(
        f"{n}.step-grad-complex",
        opt.step,
        [g[0], g[1].astype(np.complex64)],
        exc=TypeError,
        match=r"grads\[1\] has dtype complex64",
    )
    opt = stepped(cls)
    opt.params[1] = arr(10, seed=3)[::2]  # swapped for a strided view after construction
    case(
        f"{n}.step-param-strided",
        opt.step,
        g,
        exc=ValueError,
        match=r"params\[1\] is not C-contiguous",
    )
    opt = stepped(cls, np.float64)
    case(
        f"{n}.step-grads-str",
        opt.step,
        "grads",
        exc=TypeError,
        match="grads must be a list of numpy arrays, got str",
    )
    opt = stepped(cls)
    sd = opt.state_dict()
    first = next(iter(sd["state"]))
    sd["state"][first][1] = np.zeros(4, np.float32)
    case(
        f"{n}.load_state_dict-shape",
        opt.load_state_dict,
        sd,
        exc=ValueError,
        match=rf"state '{first}'\[1\] has shape \(4,\)",
    )
    opt = stepped(cls)
    case(
        f"{n}.load_state_dict-other",
        opt.load_state_dict,
        {**opt.state_dict(), "optimizer": "Other"},
        exc=ValueError,
        match="state_dict is for Other",
    )
    opt = stepped(cls)
    case(
        f"{n}.lr-setter",
        setattr,
        opt,
        "lr",
        np.nan,
        exc=ValueError,
        match="lr must not be NaN",
        extra=[opt],
    )

# NaN gradients are data, not bad input (NaN in, NaN out); NaN hyperparameters are refused.
opt = stepped(O.Adam)
opt.params[1].flags.writeable = False
case(
    "Adam.step-param-readonly",
    opt.step,
    params(seed=30),
    exc=ValueError,
    match=r"params\[1\] is read-only",
)
opt = stepped(O.Adam)
opt.state["exp_avg_sq"][0] = np.zeros((4, 3), np.float32)
case(
    "Adam.step-state-shape",
    opt.step,
    params(seed=31),
    exc=ValueError,
    match=r"state 1 of params\[0\] has shape \(4, 3\)",
)
shared = params(seed=33)
opt = O.SGD([*shared, shared[0]])
case(
    "SGD.step-shared-param",
    opt.step,
    params(seed=32) + [params(seed=32)[0]],
    exc=ValueError,
    match=r"params\[2\] shares its data with params\[0\]",
)
buf20 = arr(20, seed=34)
opt = O.SGD([buf20[:10], buf20[5:15]])
case(
    "SGD.step-overlapping-params",
    opt.step,
    [arr(10), arr(10)],
    exc=ValueError,
    match=r"params\[1\] shares its data with params\[0\]",
)
opt = stepped(O.Adam)
opt.state["exp_avg"][1] = opt.params[0].reshape(-1)[:5]
case(
    "Adam.step-state-overlaps-other-param",
    opt.step,
    params(seed=35),
    exc=ValueError,
    match=r"state 0 of params\[1\] shares its data with params\[0\]",
)
case("SGD-nesterov", O.SGD, params(), nesterov=True, exc=ValueError, match="Nesterov")

# functional forms
p, gr, m, v = arr(6), arr(6, seed=1), arr(6, seed=2), np.abs(arr(6, seed=3))
case(
    "adam_-state-count",
    F.adam_,
    p,
    gr,
    m,
    step=1,
    exc=TypeError,
    match=r"expected state arrays \['exp_avg', 'exp_avg_sq'\], got 1",
)
case("adam_-step-zero", F.adam_, p, gr, m, v, step=0, exc=ValueError, match="step must be >= 1")
case(
    "adam_-state-is-param",
    F.adam_,
    p,
    gr,
    p,
    v,
    step=1,
    exc=ValueError,
    match=r"state 0 of params\[0\] shares its data with params\[0\]",
)
case("adamw_-readonly", F.adamw_, readonly(p), gr, m, v, step=1, exc=ValueError, match="read-only")
case("sgd_-strided", F.sgd_, arr(12)[::2], gr, step=1, exc=ValueError, match="not C-contiguous")
case(
    "sgd_-momentum-state",
    F.sgd_,
    p,
    gr,
    step=1,
    momentum=0.9,
    exc=TypeError,
    match="momentum_buffer",
)
case(
    "adagrad_-state-shape",
    F.adagrad_,
    p,
    gr,
    arr(5),
    step=1,
    exc=ValueError,
    match=r"state 0 of params\[0\] has shape \(5,\)",
)
case(
    "rmsprop_-state-dtype",
    F.rmsprop_,
    p,
    gr,
    m.astype(np.float64),
    step=1,
    exc=ValueError,
    match="dtype float64; expected",
)
case(
    "adamax_-grad-shape",
    F.adamax_,
    p,
    arr(5),
    m,
    v,
    step=1,
    exc=ValueError,
    match=r"grads\[0\] has shape \(5,\)",
)
case(
    "adadelta_-rho",
    F.adadelta_,
    p,
    gr,
    m,
    v,
    step=1,
    rho=-0.1,
    exc=ValueError,
    match="rho must be in",
)
case(
    "nadam_-param-int",
    F.nadam_,
    np.zeros(6, np.int32),
    gr,
    m,
    v,
    step=1,
    exc=TypeError,
    match="has dtype int32",
)
case("radam_-unknown", F.radam_, p, gr, m, v, step=1, amsgrad=True, exc=TypeError, match="amsgrad")
case("lion_-grad-none", F.lion_, p, None, m, step=1, exc=TypeError, match="got NoneType")
case(
    "global_grad_norm-strings",
    O.global_grad_norm,
    STRINGS,
    exc=TypeError,
    match=r"grads\[0\] must be a numpy.ndarray",
)
case(
    "global_grad_norm-clip",
    O.global_grad_norm,
    [x8],
    clip_value=0,
    exc=ValueError,
    match="clip_value must be > 0",
)
case(
    "global_grad_norm-int",
    O.global_grad_norm,
    [np.zeros(3, int)],
    exc=TypeError,
    match=r"grads\[0\] has dtype int64",
)

# schedules
for sched, args, exc, match in (
    (O.StepLR, (0,), ValueError, "step_size must be a positive integer"),
    (O.StepLR, (2, -0.1), ValueError, "gamma must be > 0"),
    (O.ExponentialLR, ("0.9",), TypeError, "gamma must be a real number"),
    (O.CosineAnnealingLR, (0,), ValueError, "T_max must be a positive integer"),
    (O.LinearLR, (0.0,), ValueError, "start_factor must be in"),
    (O.LinearLR, (0.5, 1.0, -1), ValueError, "total_iters must be a non-negative integer"),
    (O.ReduceLROnPlateau, ("mean",), ValueError, "mode must be 'min' or 'max'"),
    (O.ReduceLROnPlateau, ("min", 1.5), ValueError, r"factor must be in \(0, 1\)"),
):
    opt = stepped(O.SGD)
    case(f"{sched.__name__}-{args!r}", sched, opt, *args, exc=exc, match=match, extra=[opt])
case(
    "StepLR-not-an-optimizer",
    O.StepLR,
    [x8],
    2,
    exc=TypeError,
    match="optimizer must be an nnkernels.optim.Optimizer",
)

# ---- nnkernels.nn (issue 5): layers, Sequential, callbacks, load, nn.functional --------------
# Models are checked as a whole after each refusal: parameters, optimizer state, history,
# classes, generators and build state (see _state below).


def nn_data(n=30, features=5):
    rng = np.random.default_rng(40)
    X = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.integers(0, 3, n)
    y[:3] = [0, 1, 2]  # every class present
    return X, y


NX, NY = nn_data()
RY = (2 * NX[:, 0] - NX[:, 1]).astype(np.float32)  # regression targets
ROW3_NAN = np.where(np.arange(30)[:, None] == 3, np.nan, NX).astype(np.float32)
ROW5_INF = np.where(np.arange(30)[:, None] == 5, -np.inf, NX).astype(np.float32)


def fitted(loss="cross_entropy", **kw):
    """A small model after two epochs: weights, optimizer state and history are non-trivial."""
    width = 3 if loss == "cross_entropy" else 1
    layers = [nn.Dense(8, "relu"), nn.Dropout(0.2), nn.Dense(width)]
    model = nn.Sequential(layers, loss=loss, rng=1, **kw)
    model.fit(NX, NY if loss == "cross_entropy" else RY, epochs=2, batch_size=8, verbose=0)
    return model


def fresh(*layers, **kw):
    """An unfitted model (default: one hidden layer, three outputs)."""
    return nn.Sequential(list(layers) or [nn.Dense(4, "tanh"), nn.Dense(3)], rng=2, **kw)


# Sequential.fit: data problems (on a fitted model: nothing of it may change) ...
for label, args, kwargs, exc, match in (
    ("lengths", (NX[:-1], NY), {}, ValueError, "different lengths: 29 samples but 30 targets"),
    ("X-1d", (NX[:, 0], NY), {}, ValueError, r"X must be 2-D \(samples, features\), got 1-D"),
    ("X-3d", (NX[:, :, None], NY), {}, ValueError, r"got 3-D shape \(30, 5, 1\)"),
    ("X-nan", (ROW3_NAN, NY), {}, ValueError, r"X contains NaN or infinity \(first at row 3\)"),
    ("X-inf", (ROW5_INF, NY), {}, ValueError, r"NaN or infinity \(first at row 5\)"),
    ("X-overflow", (np.full((30, 5), 1e300), NY), {}, ValueError, "too large for float32"),
    ("X-features", (NX[:, :4], NY), {}, ValueError, "4 features, but the model was fitted with 5"),
    ("X-complex", (NX.astype(np.complex64), NY), {}, TypeError, "X has dtype complex64"),
    ("X-object", (NX.astype(object), NY), {}, TypeError, "X has dtype object"),
    ("X-strings", (np.full((30, 5), "a"), NY), {}, TypeError, "X has dtype <U1"),
    ("X-none", (None, NY), {}, TypeError, "X is None"),
    ("X-ragged", ([[1.0, 2.0], [3.0]], NY[:2]), {}, TypeError, "X cannot be converted"),
    ("X-empty", (NX[:0], NY[:0]), {}, ValueError, "X has 0 samples"),
    ("y-none", (NX, None), {}, TypeError, "y is None"),
    ("y-scalar", (NX, 1), {}, ValueError, "y must be an array of targets"),
    ("y-2d", (NX, NY[:, None]), {}, ValueError, r"y must be 1-D class labels, got shape \(30, 1\)"),
    ("y-nan", (NX, np.where(NY == 2, np.nan, NY)), {}, ValueError, "y contains NaN or infinity"),
    ("y-complex", (NX, NY.astype(complex)), {}, TypeError, "y has dtype complex128"),
    ("y-mixed", (NX, np.array([1, "a"] * 15, object)), {}, TypeError, "cannot be sorted"),
    ("y-unseen", (NX, np.where(NY == 2, 7, NY)), {}, ValueError, r"not seen at fit time: \[7\]"),
    ("y-strings", (NX, NY.astype(str)), {}, ValueError, r"not seen at fit time: \['0', '1', '2'\]"),
    ("epochs-negative", (NX, NY), {"epochs": -1}, ValueError, "epochs must be a non-negative"),
    ("epochs-float", (NX, NY), {"epochs": 1.5}, ValueError, "epochs must be a non-negative"),
    ("epochs-str", (NX, NY), {"epochs": "3"}, ValueError, "epochs must be"),
    ("batch-zero", (NX, NY), {"batch_size": 0}, ValueError, "batch_size must be a positive"),
    ("batch-negative", (NX, NY), {"batch_size": -1}, ValueError, "batch_size must be a positive"),
    ("batch-float", (NX, NY), {"batch_size": 2.0}, ValueError, "batch_size must be a positive"),
    ("split-one", (NX, NY), {"validation_split": 1.0}, ValueError, r"in \[0, 1\), got 1.0"),
    ("split-negative", (NX, NY), {"validation_split": -0.1}, ValueError, r"in \[0, 1\)"),
    ("split-nan", (NX, NY), {"validation_split": np.nan}, ValueError, r"in \[0, 1\), got nan"),
    ("split-str", (NX, NY), {"validation_split": "a"}, TypeError, "validation_split must be a"),
    ("split-tiny", (NX, NY), {"validation_split": 0.01}, ValueError, "leaves no validation"),
    (
        "split-and-data",
        (NX, NY),
        {"validation_split": 0.2, "validation_data": (NX, NY)},
        ValueError,
        "not both",
    ),
    ("val-triple", (NX, NY), {"validation_data": (NX, NY, NY)}, ValueError, "must be a pair"),
    (
        "val-unseen",
        (NX, NY),
        {"validation_data": (NX, NY + 5)},
        ValueError,
        r"not seen at fit time: \[5, 6, 7\]",
    ),
    (
        "val-features",
        (NX, NY),
        {"validation_data": (NX[:, :4], NY)},
        ValueError,
        "4 features, but the model was fitted with 5",
    ),
    ("val-lengths", (NX, NY), {"validation_data": (NX[:-1], NY)}, ValueError, "29 samples but 30"),
    ("val-nan", (NX, NY), {"validation_data": (ROW3_NAN, NY)}, ValueError, "row 3"),
    ("val-y-none", (NX, NY), {"validation_data": (NX, None)}, TypeError, "y of validation_data"),
    ("callbacks-int", (NX, NY), {"callbacks": [1]}, TypeError, r"callbacks\[0\] must be an nnk"),
    (
        "monitor-missing",  # raised after the first epoch before: the weights had changed
        (NX, NY),
        {"callbacks": [nn.EarlyStopping("val_loss", patience=2)]},
        ValueError,
        r"monitors 'val_loss', which this fit does not produce \(it has loss, accuracy\)",
    ),
    (
        "monitor-typo",
        (NX, NY),
        {"validation_split": 0.2, "callbacks": [nn.EarlyStopping("val_acc")]},
        ValueError,
        "it has loss, accuracy, val_loss, val_accuracy",
    ),
    ("verbose-str", (NX, NY), {"verbose": "x"}, ValueError, "verbose must be 0, 1 or 2"),
):
    model = fitted()
    kwargs.setdefault("verbose", 0)
    case(f"Sequential.fit-{label}", model.fit, *args, **kwargs, exc=exc, match=match)

# ... first fits that must leave the model unbuilt
case(
    "Sequential.fit-first-width",
    fresh(nn.Dense(4, "relu"), nn.Dense(5)).fit,
    NX,
    NY,
    verbose=0,
    exc=ValueError,
    match="the last layer has 5 outputs but y has 3 classes",
)
case(
    "Sequential.fit-first-maxout",
    fresh(nn.Dense(5), nn.Maxout(2), nn.Dense(3)).fit,
    NX,
    NY,
    verbose=0,
    exc=ValueError,
    match="Maxout: 5 input features is not a multiple of pieces=2",
)
case(
    "Sequential.fit-first-monitor",
    fresh().fit,
    NX,
    NY,
    verbose=0,
    callbacks=[nn.EarlyStopping("val_accuracy")],
    exc=ValueError,
    match="monitors 'val_accuracy'",
)
case(
    "Sequential.fit-bce-3-classes",
    fresh(nn.Dense(1), loss="binary_cross_entropy").fit,
    NX,
    NY,
    verbose=0,
    exc=ValueError,
    match="binary_cross_entropy needs 2 classes, y has 3",
)
case(
    "Sequential.fit-bce-multilabel-values",
    fresh(nn.Dense(2), loss="binary_cross_entropy").fit,
    NX,
    np.full((30, 2), 0.5),
    verbose=0,
    exc=ValueError,
    match="multi-label binary_cross_entropy targets must be 0 or 1",
)
for label, y, exc, match in (
    ("strings", RY.astype(str), TypeError, "y has dtype <U"),
    ("object", RY.astype(object), TypeError, "y has dtype object"),
    ("3d", RY[:, None, None], ValueError, r"y must be 1-D or 2-D, got shape \(30, 1, 1\)"),
    ("inf", np.where(np.arange(30) == 4, np.inf, RY), ValueError, "y contains NaN or infinity"),
    ("columns", np.stack([RY, RY], 1), ValueError, "1 outputs but y has 2 target columns"),
):
    case(f"Sequential.fit-mse-y-{label}", fitted("mse").fit, NX, y, verbose=0, exc=exc, match=match)

# evaluate, predict, loss_and_grads, set_weights, save
for label, method, args, kwargs, exc, match in (
    ("evaluate-unseen", "evaluate", (NX, NY + 1), {}, ValueError, r"not seen at fit time: \[3\]"),
    ("evaluate-lengths", "evaluate", (NX, NY[:-1]), {}, ValueError, "30 samples but 29 targets"),
    ("evaluate-y-none", "evaluate", (NX, None), {}, TypeError, "y is None"),
    ("evaluate-features", "evaluate", (NX[:, :2], NY), {}, ValueError, "2 features"),
    ("evaluate-batch", "evaluate", (NX, NY), {"batch_size": 0}, ValueError, "batch_size"),
    ("predict-features", "predict", (NX[:, :4],), {}, ValueError, "4 features, but the model"),
    ("predict-1d", "predict", (NX[0],), {}, ValueError, "X must be 2-D"),
    ("predict-nan", "predict", (ROW3_NAN,), {}, ValueError, "row 3"),
    ("predict-none", "predict", (None,), {}, TypeError, "X is None"),
    ("predict-strings", "predict", (STRINGS,), {}, TypeError, "X has dtype <U1"),
    ("predict-batch-zero", "predict", (NX,), {"batch_size": 0}, ValueError, "batch_size"),
    ("predict-batch-negative", "predict", (NX,), {"batch_size": -1}, ValueError, "batch_size"),
    ("predict_proba-complex", "predict_proba", (COMPLEX[:, None],), {}, TypeError, "complex128"),
    ("decision_function-3d", "decision_function", (NX[None],), {}, ValueError, "got 3-D"),
    ("loss_and_grads-lengths", "loss_and_grads", (NX, NY[:5]), {}, ValueError, "different"),
    ("loss_and_grads-nan", "loss_and_grads", (ROW5_INF, NY), {}, ValueError, "row 5"),
    ("set_weights-count", "set_weights", ([NX],), {}, ValueError, "got 1 arrays for 4 parameters"),
    ("set_weights-none", "set_weights", (None,), {}, TypeError, "weights must be a list"),
    ("save-no-dir", "save", ("/nonexistent-nnk-dir/m.npz",), {}, FileNotFoundError, "nonexist"),
):
    model = fitted()
    case(f"Sequential.{label}", getattr(model, method), *args, **kwargs, exc=exc, match=match)
model = fitted()
good = model.get_weights()
case(
    "Sequential.set_weights-shape",
    model.set_weights,
    [good[0], good[1], good[2].T, good[3]],
    exc=ValueError,
    match=r"weights\[2\] has shape \(3, 8\); expected \(8, 3\)",
)
model = fitted()
case(
    "Sequential.set_weights-late-dtype",  # the first arrays must not be copied in before
    model.set_weights,
    [g + 1 for g in good[:3]] + [good[3].astype(str)],
    exc=TypeError,
    match=r"weights\[3\] has dtype <U",
)
model = fitted()
case(
    "Sequential.set_weights-complex",
    model.set_weights,
    [g.astype(np.complex64) for g in good],
    exc=TypeError,
    match=r"weights\[0\] has dtype complex64",
)
for method, args in (
    ("predict", (NX,)),
    ("predict_proba", (NX,)),
    ("decision_function", (NX,)),
    ("evaluate", (NX, NY)),
    ("save", ("/tmp/never-written.npz",)),
    ("set_weights", ([],)),
):
    case(
        f"Sequential.{method}-before-fit",
        getattr(fresh(), method),
        *args,
        exc=RuntimeError,
        match="not fitted yet: call fit first",
    )
case(
    "Sequential.predict_proba-regression",
    fitted("mse").predict_proba,
    NX,
    exc=AttributeError,
    match="predict_proba needs a classification loss",
)

# Sequential(...): the configuration, all checked at construction
D3 = [nn.Dense(3)]
for label, args, kwargs, exc, match in (
    ("layers-empty", ([],), {}, TypeError, "layers must be a non-empty list"),
    ("layers-none", (None,), {}, TypeError, "layers must be a non-empty list"),
    ("layers-int", ([nn.Dense(3), 1],), {}, TypeError, "nnkernels.nn layers"),
    ("loss", (D3,), {"loss": "hinge"}, ValueError, "loss must be one of .*got 'hinge'"),
    ("loss-none", (D3,), {"loss": None}, ValueError, "loss must be one of .*got None"),
    ("softmax-last", ([nn.Dense(3), nn.Softmax()],), {}, ValueError, "not Softmax"),
    ("optimizer", (D3,), {"optimizer": "adamx"}, ValueError, "unknown optimizer 'adamx'"),
    ("optimizer-none", (D3,), {"optimizer": None}, ValueError, "unknown optimizer None"),
    ("lr-negative", (D3,), {"lr": -1e-3}, ValueError, "lr must be >= 0"),
    ("lr-nan", (D3,), {"lr": np.nan}, ValueError, "lr must not be NaN"),
    ("lr-str", (D3,), {"lr": "0.1"}, TypeError, "lr must be a real number"),
    ("options-unknown", (D3,), {"optimizer_options": {"foo": 1}}, TypeError, r"\['foo'\]"),
    ("options-int", (D3,), {"optimizer_options": 3}, TypeError, "optimizer_options must be a"),
    (
        "options-momentum",
        (D3,),
        {"optimizer": "sgd", "optimizer_options": {"momentum": -0.5}},
        ValueError,
        "momentum must be >= 0",
    ),
    ("l1-negative", (D3,), {"l1": -1.0}, ValueError, "l1 must be a finite number >= 0"),
    ("l2-nan", (D3,), {"l2": np.nan}, ValueError, "l2 must not be NaN"),
    ("l2-str", (D3,), {"l2": "x"}, TypeError, "l2 must be a real number"),
    ("dtype-int", (D3,), {"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    ("dtype-float16", (D3,), {"dtype": np.float16}, TypeError, "got float16"),
    ("backend", (D3,), {"backend": "torch"}, ValueError, "backend must be one of"),
    ("backend-list", (D3,), {"backend": ["numpy"]}, ValueError, "backend must be one of"),
    ("threads-negative", (D3,), {"threads": -1}, ValueError, "threads must be a non-negative"),
    ("threads-str", (D3,), {"threads": "2"}, TypeError, "threads must be a non-negative"),
    ("rng-str", (D3,), {"rng": "a"}, TypeError, "rng must be None, a non-negative integer"),
    ("rng-negative", (D3,), {"rng": -1}, ValueError, "rng must be None"),
    (
        "numpy-activation",
        ([nn.Dense(3, "mish")],),
        {"backend": "numpy"},
        ValueError,
        "numpy backend has no 'mish' activation",
    ),
    (
        "numpy-alpha-dropout",
        ([nn.Dense(4, "selu"), nn.AlphaDropout(0.1), nn.Dense(3)],),
        {"backend": "numpy"},
        ValueError,
        "numpy backend has no alpha dropout",
    ),
    ("numpy-loss", (D3,), {"backend": "numpy", "loss": "mae"}, ValueError, "no 'mae' loss"),
    (
        "numpy-optimizer",
        (D3,),
        {"backend": "numpy", "optimizer": "lion"},
        ValueError,
        "no 'lion' optimizer",
    ),
    (
        "numpy-option",
        (D3,),
        {"backend": "numpy", "optimizer_options": {"weight_decay": 0.1}},
        ValueError,
        r"no option \['weight_decay'\] for adam",
    ),
):
    case(f"Sequential-{label}", nn.Sequential, *args, **kwargs, exc=exc, match=match)

# layers
for cls, args, kwargs, exc, match in (
    (nn.Dense, (0,), {}, ValueError, "Dense: units must be a positive integer, got 0"),
    (nn.Dense, (-1,), {}, ValueError, "units must be a positive integer, got -1"),
    (nn.Dense, (2.0,), {}, ValueError, "units must be a positive integer, got 2.0"),
    (nn.Dense, (None,), {}, ValueError, "units must be a positive integer, got None"),
    (nn.Dense, (3, "reluu"), {}, ValueError, "'reluu' is not an elementwise activation"),
    (nn.Dense, (3, "softmax"), {}, ValueError, "'softmax' is not an elementwise activation"),
    (nn.Dense, (3, ["relu"]), {}, TypeError, "activation name must be a str, got list"),
    (nn.Dense, (3, "relu"), {"alpha": 1.0}, TypeError, r"relu: unknown parameter\(s\) \['alpha'\]"),
    (nn.Dense, (3, "leaky_relu"), {"negative_slope": "x"}, TypeError, "negative_slope must be"),
    (nn.Dense, (3, "softplus"), {"beta": 0}, ValueError, "beta must be > 0"),
    (nn.Dense, (3,), {"init": "xavier"}, ValueError, "init must be 'he', 'lecun', 'glorot'"),
    (nn.Dense, (3,), {"l1": -0.1}, ValueError, "l1 must be a finite number >= 0"),
    (nn.Dense, (3,), {"l2": np.inf}, ValueError, "l2 must be a finite number >= 0"),
    (nn.Dense, (3,), {"l2": np.nan}, ValueError, "l2 must not be NaN"),
    (nn.Dense, (3,), {"l2": "1"}, TypeError, "l2 must be a real number"),
    (nn.Activation, ("foo",), {}, ValueError, "'foo' is not an elementwise activation"),
    (nn.Activation, ("log_softmax",), {}, ValueError, "'log_softmax' is not an elementwise"),
    (nn.Activation, (3,), {}, TypeError, "activation name must be a str, got int"),
    (nn.Activation, ("relu",), {"beta": 2}, TypeError, r"unknown parameter\(s\) \['beta'\]"),
    (nn.PReLU, ("a",), {}, TypeError, "PReLU: init must be a real number"),
    (nn.PReLU, (np.nan,), {}, ValueError, "PReLU: init must not be NaN"),
    (nn.PReLU, (np.inf,), {}, ValueError, "PReLU: init must be finite"),
    (nn.PReLU, (), {"shared": "no"}, TypeError, "PReLU: shared must be a bool"),
    (nn.RReLU, (0.5, 0.1), {}, ValueError, "need 0 <= lower <= upper"),
    (nn.RReLU, (-0.5, 0.1), {}, ValueError, "need 0 <= lower <= upper"),
    (nn.RReLU, ("a",), {}, TypeError, "RReLU: lower must be a real number"),
    (nn.RReLU, (0.1, np.nan), {}, ValueError, "RReLU: upper must not be NaN"),
    (nn.Maxout, (0,), {}, ValueError, "Maxout: pieces must be a positive integer, got 0"),
    (nn.Maxout, (1.5,), {}, TypeError, "Maxout: pieces must be an integer, got 1.5"),
    (nn.Maxout, ("2",), {}, TypeError, "pieces must be an integer"),
    (nn.CReLU, (1,), {}, TypeError, "positional argument"),
    (nn.Softmax, (-1,), {}, TypeError, "positional argument"),
    (nn.LogSoftmax, (), {"axis": 0}, TypeError, "unexpected keyword argument 'axis'"),
    (nn.Layer, (3,), {}, TypeError, "positional argument"),
    (nn.Dropout, (-0.1,), {}, ValueError, r"Dropout: p must be in \[0, 1\], got -0.1"),
    (nn.Dropout, (1.0,), {}, ValueError, r"Dropout: p must be in \[0, 1\), got 1.0"),
    (nn.Dropout, (1.5,), {}, ValueError, r"p must be in \[0, 1\], got 1.5"),
    (nn.Dropout, (np.nan,), {}, ValueError, r"p must be in \[0, 1\], got nan"),
    (nn.Dropout, ("a",), {}, TypeError, "Dropout: p must be a real number"),
    (nn.Dropout, (True,), {}, TypeError, "p must be a real number, got True"),
    (nn.AlphaDropout, (1,), {}, ValueError, r"AlphaDropout: p must be in \[0, 1\), got 1"),
    (nn.AlphaDropout, (-1,), {}, ValueError, r"AlphaDropout: p must be in \[0, 1\]"),
    (nn.EarlyStopping, (), {"patience": -1}, ValueError, "patience must be an integer >= 0"),
    (nn.EarlyStopping, (), {"patience": 1.5}, ValueError, "patience must be an integer >= 0"),
    (nn.EarlyStopping, (None,), {}, TypeError, "monitor must be a str, got None"),
    (nn.EarlyStopping, (), {"mode": "up"}, ValueError, "mode must be 'auto', 'min' or 'max'"),
    (nn.EarlyStopping, (), {"min_delta": "a"}, TypeError, "min_delta must be a real number"),
    (nn.EarlyStopping, (), {"min_delta": np.nan}, ValueError, "min_delta must not be NaN"),
    (nn.Callback, (1,), {}, TypeError, "takes no arguments"),
):
    case(f"{cls.__name__}-{args!r}-{kwargs!r}", cls, *args, **kwargs, exc=exc, match=match)

# one layer class per elementwise activation: unknown keywords, positional parameters
_BAD_PARAM = {  # class -> (a bad parameter, exception, message)
    "LeakyReLU": ({"negative_slope": "x"}, TypeError, "negative_slope must be a real number"),
    "ELU": ({"alpha": [1.0]}, TypeError, "alpha must be a real number"),
    "CELU": ({"alpha": 0.0}, ValueError, "alpha must be nonzero"),
    "Hardtanh": ({"min_val": 1.0, "max_val": -1.0}, ValueError, "min_val"),
    "GELU": ({"approximate": "fast"}, ValueError, "approximate must be 'none' or 'tanh'"),
    "Softplus": ({"beta": 0}, ValueError, "beta must be > 0"),
    "Swish": ({"beta": "b"}, TypeError, "beta must be a real number"),
    "BinaryStep": ({"threshold": None}, TypeError, "threshold must be a real number"),
}
for cls_name, act_name in NAMED_ACTIVATIONS.items():
    cls = getattr(nn, cls_name)
    case(
        f"{cls_name}-unknown-keyword",
        cls,
        bogus=1.0,
        exc=TypeError,
        match=rf"{act_name}: unknown parameter\(s\) \['bogus'\]",
    )
    case(f"{cls_name}-positional", cls, 0.5, exc=TypeError, match="positional argument")
    if cls_name in _BAD_PARAM:
        kw, exc, match = _BAD_PARAM[cls_name]
        case(f"{cls_name}-bad-parameter", cls, **kw, exc=exc, match=match)

# kernel_of (the activation id and parameters the fused kernels take)
case("kernel_of-unknown", A.kernel_of, "foo", exc=ValueError, match="'foo' is not an elementwise")
case("kernel_of-none", A.kernel_of, None, exc=TypeError, match="name must be a str, got NoneType")
case("kernel_of-list", A.kernel_of, ["relu"], exc=TypeError, match="must be a str, got list")
case("kernel_of-softmax", A.kernel_of, "softmax", exc=ValueError, match="not an elementwise")
case("kernel_of-param", A.kernel_of, "relu", alpha=1, exc=TypeError, match="unknown parameter")
case("kernel_of-param-str", A.kernel_of, "elu", alpha="x", exc=TypeError, match="alpha must be")

# load: missing files and files that are not (intact) nnkernels.nn models
_DIR = Path(tempfile.mkdtemp(prefix="nnk-bad-input-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
fitted().save(_DIR / "good.npz")
_GOOD = dict(np.load(_DIR / "good.npz"))
_CONFIG = json.loads(str(_GOOD["config"]))


def _model_file(name, **changes):
    """good.npz with entries replaced (None: removed); config entries as config_<key>."""
    data, config = dict(_GOOD), copy.deepcopy(_CONFIG)
    for key, value in changes.items():
        if key.startswith("config_"):
            config[key[len("config_") :]] = value
        elif value is None:
            del data[key]
        else:
            data[key] = value
    data["config"] = np.array(json.dumps(config))
    np.savez(_DIR / name, **data)
    return _DIR / name


(_DIR / "text.npz").write_text("not a model")
(_DIR / "empty.npz").write_bytes(b"")
np.save(_DIR / "array.npy", np.zeros(3))
np.savez(_DIR / "other.npz", a=np.zeros(3))
np.savez(_DIR / "json.npz", config=np.array("{not json"))
np.savez(_DIR / "json-list.npz", config=np.array("[1, 2]"))
_BAD_LAYERS = [{**_CONFIG["layers"][0], "type": "Conv2d"}] + _CONFIG["layers"][1:]
for label, path, exc, match in (
    ("missing", _DIR / "missing.npz", FileNotFoundError, "missing.npz"),
    ("text", _DIR / "text.npz", ValueError, "text.npz: not an nnkernels.nn model file"),
    ("empty", _DIR / "empty.npz", ValueError, "empty.npz: not an nnkernels.nn model file"),
    ("npy", _DIR / "array.npy", ValueError, r"a \.npy array, not an \.npz archive"),
    ("other-npz", _DIR / "other.npz", ValueError, "not an nnkernels.nn model file .*config"),
    ("bad-json", _DIR / "json.npz", ValueError, "json.npz: not an nnkernels.nn model file"),
    ("json-list", _DIR / "json-list.npz", ValueError, "no nnkernels.nn.Sequential/1 config"),
    (
        "format",
        _model_file("format.npz", config_format="keras/2"),
        ValueError,
        "no nnkernels.nn.Sequential/1 config",
    ),
    (
        "layer-type",
        _model_file("layer.npz", config_layers=_BAD_LAYERS),
        ValueError,
        "unknown layer type 'Conv2d'",
    ),
    (
        "layer-config",
        _model_file("units.npz", config_layers=[{"type": "Dense", "units": 0}]),
        ValueError,
        "units must be a positive integer",
    ),
    (
        "loss",
        _model_file("loss.npz", config_loss="hinge"),
        ValueError,
        "not an nnkernels.nn model file .*loss must be one of",
    ),
    ("param-missing", _model_file("param.npz", param_3=None), ValueError, "param_3"),
    (
        "param-shape",
        _model_file("shape.npz", param_0=np.zeros((4, 8), np.float32)),
        ValueError,
        r"weights\[0\] has shape \(4, 8\); expected \(5, 8\)",
    ),
    ("none", None, TypeError, "expected str, bytes or os.PathLike"),
):
    case(f"load-{label}", nn.load, path, exc=exc, match=match)

# nn.functional: the fused bias + activation pair
z43, b3 = arr(4, 3, seed=41), arr(3, seed=42)
ro43 = readonly(arr(4, 3, seed=43))
for label, args, kwargs, exc, match in (
    ("bias-shape", (z43, arr(4)), {}, ValueError, r"bias has shape \(4,\); expected \(3,\)"),
    ("bias-2d", (z43, arr(1, 3)), {}, ValueError, r"bias has shape \(1, 3\); expected \(3,\)"),
    ("bias-none", (z43, None), {}, TypeError, "bias_activation: bias is None"),
    ("bias-complex", (z43, COMPLEX[:3]), {}, TypeError, "bias has dtype complex128"),
    ("z-1d", (z43[0], b3), {}, ValueError, r"z must be 2-D \(rows, cols\), got shape \(3,\)"),
    ("z-object", (OBJECT.reshape(2, 2), b3[:2]), {}, TypeError, "z has dtype object"),
    ("z-ragged", ([[1.0], [1.0, 2.0]], b3), {}, TypeError, "z cannot be converted"),
    ("out-shape", (z43, b3), {"out": arr(3, 4)}, ValueError, r"out has shape \(3, 4\)"),
    ("out-dtype", (z43, b3), {"out": np.zeros((4, 3))}, TypeError, "out has dtype float64"),
    ("out-list", (z43, b3), {"out": [0.0] * 12}, TypeError, "out must be a numpy.ndarray"),
    ("out-strided", (z43, b3), {"out": arr(4, 6)[:, ::2]}, ValueError, "out must be C-contig"),
    ("out-readonly", (z43, b3), {"out": ro43}, ValueError, "out is read-only"),
    ("out-is-bias", (z43[:1], b3), {"out": b3.reshape(1, 3)}, ValueError, "out overlaps"),
    ("pre-is-out", (z43, b3), {"out": z43, "pre": z43}, ValueError, "out overlaps"),
    ("pre-shape", (z43, b3), {"pre": arr(3)}, ValueError, r"pre has shape \(3,\)"),
    ("activation", (z43, b3, "foo"), {}, ValueError, "'foo' is not an elementwise activation"),
    ("activation-none", (z43, b3, None), {}, TypeError, "activation name must be a str"),
    ("param", (z43, b3, "relu"), {"alpha": 2}, TypeError, r"unknown parameter\(s\) \['alpha'\]"),
):
    case(f"bias_activation-{label}", NF.bias_activation, *args, **kwargs, exc=exc, match=match)
for label, args, kwargs, exc, match in (
    ("neither", (z43,), {}, TypeError, "pass exactly one of x="),
    ("both", (z43,), {"x": z43, "y": z43}, TypeError, "pass exactly one of x="),
    ("y-gelu", (z43,), {"y": z43, "activation": "gelu"}, TypeError, "not a function of its out"),
    ("dy-1d", (z43[0],), {"x": z43[0]}, ValueError, r"dy must be 2-D \(rows, cols\)"),
    ("dy-complex", (COMPLEX.reshape(2, 2),), {"x": z43}, TypeError, "dy has dtype complex128"),
    ("dy-none", (None,), {"x": z43}, TypeError, "dy is None"),
    ("x-shape", (z43,), {"x": z43.T}, ValueError, r"x has shape \(3, 4\); expected \(4, 3\)"),
    ("x-strings", (z43,), {"x": STRINGS}, TypeError, "x has dtype <U1"),
    ("dbias-shape", (z43,), {"x": z43, "dbias": arr(4)}, ValueError, r"dbias has shape \(4,\)"),
    ("dbias-str", (z43,), {"x": z43, "dbias": "yes"}, TypeError, "dbias must be a numpy.ndarray"),
    ("dbias-dtype", (z43,), {"x": z43, "dbias": np.zeros(3)}, TypeError, "dbias has dtype float6"),
    ("dbias-readonly", (z43,), {"x": z43, "dbias": ro43[0]}, ValueError, "dbias is read-only"),
    ("dbias-overlaps", (z43,), {"x": ro43, "dbias": z43[0]}, ValueError, "dbias overlaps"),
    ("out-readonly", (z43,), {"x": z43, "out": ro43}, ValueError, "out is read-only"),
    ("out-shape", (z43,), {"x": z43, "out": arr(4, 4)}, ValueError, r"out has shape \(4, 4\)"),
    ("activation", (z43,), {"x": z43, "activation": "softmax"}, ValueError, "not an elementwise"),
):
    case(
        f"bias_activation_backward-{label}",
        NF.bias_activation_backward,
        *args,
        **kwargs,
        exc=exc,
        match=match,
    )

# nn.functional: the dropout family
x43 = arr(4, 3, seed=44)
x4d = arr(2, 3, 4, 4, seed=45)
buf13 = arr(13, seed=46)
for fn in (NF.dropout, NF.dropout_backward, NF.alpha_dropout, NF.alpha_dropout_backward):
    n = fn.__name__
    for label, args, kwargs, exc, match in (
        ("p-negative", (x43, -0.1), {}, ValueError, rf"{n}: p must be in \[0, 1\], got -0.1"),
        ("p-above-1", (x43, 1.5), {}, ValueError, rf"{n}: p must be in \[0, 1\], got 1.5"),
        ("p-nan", (x43, np.nan), {}, ValueError, r"p must be in \[0, 1\], got nan"),
        ("p-str", (x43, "a"), {}, TypeError, rf"{n}: p must be a real number, got 'a'"),
        ("seed-none", (x43, 0.5), {"seed": None}, TypeError, f"{n}: seed must be an integer"),
        ("seed-float", (x43, 0.5), {"seed": 1.0}, TypeError, "seed must be an integer"),
        ("x-complex", (COMPLEX, 0.5), {}, TypeError, f"{n}: x has dtype complex128"),
        ("x-none", (None, 0.5), {}, TypeError, f"{n}: x is None"),
        ("x-ragged", ([[1.0], [1.0, 2.0]], 0.5), {}, TypeError, "x cannot be converted"),
        ("out-shape", (x43, 0.5), {"out": arr(12)}, ValueError, r"out has shape \(12,\)"),
        ("out-dtype", (x43, 0.5), {"out": np.zeros((4, 3))}, TypeError, "out has dtype float64"),
        ("out-readonly", (x43, 0.5), {"out": ro43}, ValueError, "out is read-only"),
        ("out-strided", (x43, 0.5), {"out": arr(4, 6)[:, ::2]}, ValueError, "C-contiguous"),
        ("out-overlap", (buf13[:12], 0.5), {"out": buf13[1:]}, ValueError, "out overlaps"),
        ("out-list", (x43, 0.5), {"out": [0.0] * 12}, TypeError, "out must be a numpy.ndarray"),
    ):
        kwargs.setdefault("seed", 7)
        case(f"{n}-{label}", fn, *args, **kwargs, exc=exc, match=match)
for fn, args, kwargs, exc, match in (
    (NF.dropout2d, (x43, 0.5), {}, ValueError, r"x must be 4-D \(N, C, \.\.\.\) or 3-D"),
    (NF.dropout2d, (x4d, -0.5), {}, ValueError, r"dropout2d: p must be in \[0, 1\]"),
    (NF.dropout2d, (x4d, 0.5), {"out": readonly(x4d)}, ValueError, "read-only"),
    (NF.dropout2d, (x4d, 0.5), {"seed": "1"}, TypeError, "seed must be an integer"),
    (NF.dropout3d, (x4d[0, 0], 0.5), {}, ValueError, r"x must be 5-D .* got shape \(4, 4\)"),
    (NF.dropout3d, (OBJECT, 0.5), {}, TypeError, "dropout3d: x has dtype object"),
    (NF.dropout_nd_backward, (x4d, 0.5), {"spatial": 1}, ValueError, "spatial must be 2 or 3"),
    (NF.dropout_nd_backward, (x4d, 0.5), {"spatial": "2"}, ValueError, "spatial must be 2 or 3"),
    (NF.dropout_nd_backward, (x43, 0.5), {"spatial": 2}, ValueError, "must be 4-D"),
    (NF.dropout_nd_backward, (x4d, 2.0), {"spatial": 3}, ValueError, r"p must be in \[0, 1\]"),
):
    kwargs.setdefault("seed", 7)
    case(f"{fn.__name__}-{args[1]!r}-{kwargs!r}", fn, *args, **kwargs, exc=exc, match=match)
case("dropout_threshold-str", NF.dropout_threshold, "f", "a", exc=TypeError, match="f: p must be")
case("dropout_threshold-bool", NF.dropout_threshold, "f", True, exc=TypeError, match="real number")
case("dropout_threshold-2", NF.dropout_threshold, "f", 2, exc=ValueError, match=r"in \[0, 1\]")


# ---- the checks ---------------------------------------------------------------------------


def _arrays(obj, seen):
    """Every ndarray reachable from obj through lists, tuples, dicts and optimizer objects."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for o in obj for a in _arrays(o, seen)]
    if isinstance(obj, dict):
        return [a for o in obj.values() for a in _arrays(o, seen)]
    if isinstance(obj, O.Optimizer):
        return _arrays(obj.params, seen) + _arrays(obj.state, seen)
    return []


def _owner(fn):
    return fn.__self__ if isinstance(fn, types.MethodType) else None


def _scalars(objs):
    """Counters and hyperparameters of the optimizers among objs."""
    return [
        (o.step_count, o.skipped_steps, dict(o.scalars), o.hyper)
        for o in objs
        if isinstance(o, O.Optimizer)
    ]


_NN_OBJECTS = (nn.Sequential, nn.Layer, nn.Callback)
_CACHES = ("_buffers", "_batch_buffers")  # scratch arrays reused per batch shape: not state


def _nn_objects(obj) -> list:
    """The models, layers and callbacks among obj (through lists, tuples and dicts)."""
    if isinstance(obj, _NN_OBJECTS):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [o for x in obj for o in _nn_objects(x)]
    if isinstance(obj, dict):
        return [o for x in obj.values() for o in _nn_objects(x)]
    return []


def _state(obj, seen):
    """A comparable picture of everything a model, layer or callback holds: parameters,
    optimizer state, history, classes, generators, build state, settings."""
    if isinstance(obj, np.ndarray):
        return (obj.shape, obj.dtype.str, obj.tobytes())
    if isinstance(obj, np.random.Generator):
        return repr(obj.bit_generator.state)
    if isinstance(obj, (list, tuple)):
        return [_state(o, seen) for o in obj]
    if isinstance(obj, dict):
        return {repr(k): _state(v, seen) for k, v in obj.items() if k not in _CACHES}
    if isinstance(obj, (*_NN_OBJECTS, O.Optimizer)):
        if id(obj) in seen:
            return "<seen>"
        seen.add(id(obj))
        return (type(obj).__name__, _state(vars(obj), seen))
    return repr(obj)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_and_changes_nothing(c: Case):
    roots = [c.args, c.kwargs, c.extra, _owner(c.fn)]
    watched = _arrays(roots, set())
    before = [(a.shape, a.dtype, a.strides, a.tobytes()) for a in watched]
    flags = [a.flags.writeable for a in watched]
    owners = [o for o in (*c.args, *c.extra, _owner(c.fn)) if isinstance(o, O.Optimizer)]
    scalars = copy.deepcopy(_scalars(owners))
    models = _nn_objects(roots)
    states = [_state(m, set()) for m in models]
    generators = [g for g in (*c.args, *c.kwargs.values()) if isinstance(g, np.random.Generator)]
    seeds = [_state(g, set()) for g in generators]
    with pytest.raises(c.exc, match=c.match):
        c.fn(*c.args, **c.kwargs)
    after = [(a.shape, a.dtype, a.strides, a.tobytes()) for a in watched]
    for i, (b, a) in enumerate(zip(before, after)):
        assert a == b, f"{c.id}: watched array {i} of shape {b[0]} was modified"
    assert flags == [a.flags.writeable for a in watched]
    assert _scalars(owners) == scalars, f"{c.id}: optimizer state changed"
    for m, b in zip(models, states):
        assert _state(m, set()) == b, f"{c.id}: {type(m).__name__} changed"
    assert [_state(g, set()) for g in generators] == seeds, f"{c.id}: a Generator advanced"


def _public(module, names) -> set[str]:
    return {
        n
        for n in names
        if callable(getattr(module, n)) and not isinstance(getattr(module, n), types.ModuleType)
    }


# Public names with no bad input of their own: data, types and base classes.
_NO_ARGUMENTS = {"Activation", "LossSpec", "SPECS", "Optimizer"}


def test_every_public_callable_has_cases():
    covered = {getattr(c.fn, "__name__", "") for c in CASES}
    covered |= {c.fn.__self__.__class__.__name__ for c in CASES if _owner(c.fn) is not None}
    covered |= {c.id.split("-")[0].split(".")[0] for c in CASES}
    wanted = (
        _public(nk, nk.__all__)
        | _public(A, A.__all__)
        | _public(L, L.__all__)
        | _public(O, O.__all__)
        | _public(F, F.__all__)
    ) - _NO_ARGUMENTS
    wanted |= _public(nn, nn.__all__) | _public(NF, NF.__all__)
    missing = sorted(wanted - covered)
    assert not missing, f"public callables without bad-input cases: {missing}"
    assert len(CASES) >= 150


def test_huge_ndim_and_zero_size_are_valid_inputs():
    """The edges that are not errors: 64-d and empty arrays work (and do not crash)."""
    y = nk.sigmoid(HUGE_NDIM)
    assert y.shape == HUGE_NDIM.shape and float(y.ravel()[0]) == pytest.approx(0.7310586)
    assert nk.gelu(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert nk.softmax(np.zeros((2, 0))).shape == (2, 0)
    loss, grad = L.mse_value_and_grad(np.zeros(0), np.zeros(0), reduction="sum")
    assert loss == 0 and grad.shape == (0,)
    opt = O.Adam([np.zeros(0, np.float32), np.ones(3, np.float32)])
    assert opt.step([np.zeros(0, np.float32), np.ones(3, np.float32)])


def test_object_and_string_inputs_never_reach_the_kernels(isa):
    """Every elementwise activation, under every ISA level: refused before any kernel runs."""
    for spec in A.SPECS:
        for bad in (OBJECT, STRINGS, COMPLEX):
            with pytest.raises(TypeError, match="has dtype"):
                getattr(A, spec.name)(bad)
