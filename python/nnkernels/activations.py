"""Activation functions, their derivatives and fused backward passes.

Every elementwise activation ``name`` comes as three functions:

- ``name(x, <params>, *, out=None)``: f(x)
- ``name_grad(x, <params>, *, out=None)``: f'(x)
- ``name_backward(dy, *, x=None, y=None, <params>, out=None)``: dy * f'(x) in one pass, from the
  input ``x`` or, where f' is a function of f, from the output ``y = name(x)``.

They behave like NumPy ufuncs: float32 stays float32, float64 stays float64, integers and
bools compute in float64; any shape and strides; ``out`` may be the input itself. Parameters and
defaults follow PyTorch. The table below (``SPECS``) is the one place each activation is
described; the math is in ``cpp/include/nnkernels/activations.hpp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import _core

__all__ = [
    "Activation",
    "available",
    "get",
    "kernel_of",
]  # extended below with every generated function

_OPS: dict[str, dict] = _core.ELEMENTWISE  # kernel name -> {id, ulp, floor, from_output}


@dataclass(frozen=True)
class Spec:
    """How one public elementwise activation maps onto a C++ kernel."""

    name: str
    formula: str
    kernel: str = ""  # C++ kernel name when it differs from `name`
    params: tuple[tuple[str, Any], ...] = ()
    # params -> (kernel, p0, p1, p2), raising ValueError for bad values
    prepare: Callable[..., tuple] | None = None
    # params -> None if the backward may use the output y, else the reason it may not
    output_form: Callable[..., str | None] | None = None
    derivative: str = ""
    notes: str = ""

    def kernel_name(self, *args) -> str:
        return self.prepare(*args)[0] if self.prepare else (self.kernel or self.name)


def _number(name: str, value) -> float:
    """A parameter as a float: TypeError for anything but a real number (bools included),
    ValueError for NaN, which would only turn outputs into NaN."""
    if type(value) is float and value == value:  # the common case, without the checks below
        return value
    boolean = isinstance(value, np.ndarray) and value.dtype.kind == "b"
    if boolean or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def _hardtanh(min_val, max_val):
    lo, hi = _number("min_val", min_val), _number("max_val", max_val)
    if not lo <= hi:
        raise ValueError(f"hardtanh: min_val ({lo}) must not exceed max_val ({hi})")
    return "hardtanh", lo, hi, 0.0


def _positive(fn: str, pname: str, kernel: str):
    def prepare(value):
        v = _number(pname, value)
        if not v > 0:
            raise ValueError(f"{fn}: {pname} must be > 0, got {v}")
        return kernel, v, 0.0, 0.0

    return prepare


def _celu(alpha):
    a = _number("alpha", alpha)
    if a == 0:
        raise ValueError(f"celu: alpha must be nonzero, got {a}")
    return ("elu" if a == 1 else "celu"), a, 0.0, 0.0  # celu(alpha=1) is elu(alpha=1)


def _one(kernel: str, pname: str):
    return lambda value: (kernel, _number(pname, value), 0.0, 0.0)


def _swish(beta):
    b = _number("beta", beta)
    return ("silu" if b == 1 else "swish"), b, 0.0, 0.0  # beta = 1 needs no rounding carried


def _gelu(approximate):
    if approximate == "none":
        return "gelu", 0.0, 0.0, 0.0
    if approximate == "tanh":
        return "gelu_tanh", 0.0, 0.0, 0.0
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _softplus(beta, threshold):
    b, t = _number("beta", beta), _number("threshold", threshold)
    if not b > 0:
        raise ValueError(f"softplus: beta must be > 0, got {b}")
    return ("softplus" if b == 1 else "softplus_beta"), b, t, 0.0


def _nonnegative(pname: str):
    def reason(value):
        return None if float(value) >= 0 else f"{pname} < 0 makes f' ambiguous from the output"

    return reason


def _not_from_output(reason: str):
    return lambda *params: reason


# softplus's outputs just above threshold / beta come from both sides of the threshold (x itself
# above it, softplus just below it), whose derivatives differ by up to e^-threshold: below 17,
# more than float32's rounding (2^-24), y does not tell f'.
SOFTPLUS_MIN_THRESHOLD_FROM_OUTPUT = 17.0


def _softplus_output_form(beta, threshold):
    if float(threshold) >= SOFTPLUS_MIN_THRESHOLD_FROM_OUTPUT:
        return None
    return (
        f"threshold={float(threshold)} < {SOFTPLUS_MIN_THRESHOLD_FROM_OUTPUT} makes f' "
        "ambiguous from the output near the threshold"
    )


SPECS: tuple[Spec, ...] = (
    Spec("identity", "x", derivative="1"),
    Spec(
        "binary_step",
        "1 if x >= threshold else 0",
        params=(("threshold", 0.0),),
        prepare=_one("binary_step", "threshold"),
        derivative="0",
    ),
    Spec("sigmoid", "1 / (1 + exp(-x))", derivative="y (1 - y)"),
    Spec(
        "bipolar_sigmoid", "(1 - exp(-x)) / (1 + exp(-x)) = tanh(x / 2)", derivative="(1 - y^2) / 2"
    ),
    Spec("tanh", "tanh(x)", derivative="1 - y^2"),
    Spec(
        "hardtanh",
        "clip(x, min_val, max_val)",
        params=(("min_val", -1.0), ("max_val", 1.0)),
        prepare=_hardtanh,
        derivative="1 inside (min_val, max_val), else 0",
    ),
    Spec("relu", "max(x, 0)", derivative="1 if x > 0 else 0"),
    Spec("relu6", "min(max(x, 0), 6)", derivative="1 inside (0, 6), else 0"),
    Spec(
        "leaky_relu",
        "x if x > 0 else negative_slope * x",
        params=(("negative_slope", 0.01),),
        prepare=_one("leaky_relu", "negative_slope"),
        output_form=_nonnegative("negative_slope"),
        derivative="1 if x > 0 else negative_slope",
    ),
    Spec(
        "elu",
        "x if x > 0 else alpha (exp(x) - 1)",
        params=(("alpha", 1.0),),
        prepare=_one("elu", "alpha"),
        output_form=_nonnegative("alpha"),
        derivative="1 if x > 0 else y + alpha",
    ),
    Spec(
        "selu",
        "scale (x if x > 0 else alpha (exp(x) - 1)), alpha = 1.6732632, scale = 1.0507010",
        derivative="scale if x > 0 else y + scale alpha",
    ),
    Spec(
        "celu",
        "max(0, x) + min(0, alpha (exp(x / alpha) - 1))",
        params=(("alpha", 1.0),),
        prepare=_celu,
        derivative="1 if x > 0 else y / alpha + 1",
    ),
    Spec(
        "gelu",
        "x Phi(x) (Phi the standard normal CDF); approximate='tanh': "
        "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        params=(("approximate", "none"),),
        prepare=_gelu,
        output_form=_not_from_output("gelu is not monotone"),
        derivative="Phi(x) + x phi(x)",
    ),
    Spec(
        "silu",
        "x sigmoid(x)",
        output_form=_not_from_output("silu is not monotone"),
        derivative="s (1 + x (1 - s)), s = sigmoid(x)",
    ),
    Spec(
        "swish",
        "x sigmoid(beta x)",
        params=(("beta", 1.0),),
        prepare=_swish,
        output_form=_not_from_output("swish is not monotone"),
        derivative="s + beta x s (1 - s), s = sigmoid(beta x)",
    ),
    Spec(
        "mish",
        "x tanh(softplus(x))",
        output_form=_not_from_output("mish is not monotone"),
        derivative="tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x)",
    ),
    Spec(
        "softplus",
        "log(1 + exp(beta x)) / beta, or x where beta x > threshold",
        params=(("beta", 1.0), ("threshold", 20.0)),
        prepare=_softplus,
        output_form=_softplus_output_form,
        derivative="sigmoid(beta x) = 1 - exp(-beta y)",
    ),
    Spec("softsign", "x / (1 + abs(x))", derivative="1 / (1 + abs(x))^2 = (1 - abs(y))^2"),
    Spec("hardsigmoid", "relu6(x + 3) / 6", derivative="1/6 inside (-3, 3), else 0"),
    Spec(
        "hardswish",
        "x relu6(x + 3) / 6",
        output_form=_not_from_output("hardswish is not monotone"),
        derivative="(2x + 3) / 6 inside (-3, 3), 0 below, 1 above",
    ),
    Spec("logsigmoid", "log(sigmoid(x)) = -softplus(-x)", derivative="sigmoid(-x) = 1 - exp(y)"),
)
_SPEC_BY_NAME = {s.name: s for s in SPECS}

for _s in SPECS:  # every spec runs on a kernel the extension has
    assert _s.kernel_name(*(v for _, v in _s.params)) in _OPS, _s.name


def _from_output_reason(spec: Spec, kernel: str, *params) -> str | None:
    """Why the backward may not use the output y with these parameters (None: it may)."""
    reason = spec.output_form(*params) if spec.output_form is not None else None
    if not reason and not _OPS[kernel]["from_output"]:
        reason = f"{spec.name}'s derivative is not a function of its output"
    return reason


# ---- generated functions ---------------------------------------------------------------------
# The public functions are generated from SPECS (like collections.namedtuple does) so that each
# has a real signature with PyTorch's defaults and costs one Python frame on top of the kernel.

_FORWARD = """
def {name}{suffix}(x, {params_sig}*, out=None):
    {prepare}
    return _unary(op, {mode}, x, out, p0, p1, p2, "{name}{suffix}")
"""
_ONE_OF = "pass exactly one of x= (the input) or y= (the output)"
_BACKWARD = """
def {name}_backward(dy, *, x=None, y=None, {params_kw}out=None):
    {prepare}
    if y is None:
        if x is None:
            raise TypeError("{name}_backward: " + _ONE_OF)
        return _backward(op, False, dy, x, out, p0, p1, p2, "{name}_backward")
    if x is not None:
        raise TypeError("{name}_backward: " + _ONE_OF)
    {check_y}
    return _backward(op, True, dy, y, out, p0, p1, p2, "{name}_backward")
"""
_CHECK_Y = """reason = _reason(_spec, k, {params_call})
    if reason:
        raise TypeError(f"{name}_backward: cannot use y=: {{reason}}; pass x=")"""


def _doc(spec: Spec, kind: str) -> str:
    info = _OPS[spec.kernel_name(*(v for _, v in spec.params))]
    params = "".join(
        f"{p} : float or str, default {d!r}\n    See the formula.\n" for p, d in spec.params
    )
    accuracy = (
        f"float32 within {info['ulp']:g} ulp of the float64 reference"
        + (f" (absolute floor {info['floor']:g} eps near zero crossings)" if info["floor"] else "")
        + "; float64 to the same bound."
    )
    if kind == "forward":
        head = f"{spec.name}: f(x) = {spec.formula}."
        args = "x : array_like\n    Input; integers and bools compute in float64.\n"
    elif kind == "grad":
        head = f"Derivative of {spec.name}: f'(x) = {spec.derivative}."
        args = "x : array_like\n    Input of the forward pass.\n"
    else:
        head = f"Backward pass of {spec.name}: dy * f'(x) in one pass, f'(x) = {spec.derivative}."
        args = (
            "dy : array_like\n    Upstream gradient.\n"
            "x, y : array_like, keyword-only\n    Exactly one: the forward input x, or its "
            "output y where f' is a function of the output.\n"
        )
    return (
        f"{head}\n\nParameters\n----------\n{args}{params}"
        "out : ndarray, optional\n    Result array of the exact shape and dtype; may be the "
        "input itself.\n\nReturns\n-------\nndarray\n    float32 for float32 input, else "
        f"float64. A NumPy scalar for 0-d input.\n\nNotes\n-----\n{accuracy}\n"
    )


def _make(spec: Spec) -> dict[str, Callable]:
    names = [p for p, _ in spec.params]
    params_sig = "".join(f"{p}={d!r}, " for p, d in spec.params)
    params_call = ", ".join(names)
    if spec.prepare is None:  # the kernel's id as a constant: no lookup per call
        prepare = f"op, p0, p1, p2 = {_OP_IDS[spec.kernel or spec.name]}, 0.0, 0.0, 0.0"
    else:
        prepare = f"k, p0, p1, p2 = _prepare({params_call})\n    op = _OP[k]"
    # Whether y= is allowed: decided once here unless it depends on the parameters (the
    # check is per call then, on the kernel prepare already chose: ~0.1 us, not another prepare).
    if spec.params and (spec.output_form is not None or spec.prepare is not None):
        check_y = _CHECK_Y.format(name=spec.name, params_call=params_call)
    else:
        reason = _from_output_reason(spec, spec.kernel or spec.name)
        check_y = f'raise TypeError("{spec.name}_backward: cannot use y=: {reason}; pass x=")'
        check_y = check_y if reason else ""
    namespace: dict[str, Any] = {
        "_unary": _core.unary,
        "_backward": _core.backward,
        "_OP": _OP_IDS,
        "_prepare": spec.prepare,
        "_reason": _from_output_reason,
        "_spec": spec,
        "_ONE_OF": _ONE_OF,
    }
    src = (
        _FORWARD.format(name=spec.name, suffix="", params_sig=params_sig, prepare=prepare, mode=0)
        + _FORWARD.format(
            name=spec.name, suffix="_grad", params_sig=params_sig, prepare=prepare, mode=1
        )
        + _BACKWARD.format(name=spec.name, params_kw=params_sig, prepare=prepare, check_y=check_y)
    )
    exec(compile(src, f"<nnkernels.activations:{spec.name}>", "exec"), namespace)
    made: dict[str, Callable] = {}
    for kind, suffix in (("forward", ""), ("grad", "_grad"), ("backward", "_backward")):
        fn = namespace[spec.name + suffix]
        fn.__module__ = __name__
        fn.__doc__ = _doc(spec, kind)
        made[spec.name + suffix] = fn
    return made


_OP_IDS = {name: info["id"] for name, info in _OPS.items()}
for _s in SPECS:
    for _name, _fn in _make(_s).items():
        globals()[_name] = _fn
        __all__.append(_name)
del _s, _name, _fn
_relu, _relu_backward = globals()["relu"], globals()["relu_backward"]


# ---- activations that are not elementwise (or have per-channel parameters) -------------------


def prelu(x, weight, *, out=None):
    """PReLU: f(x) = x if x > 0 else weight[c] * x, c the channel (axis 1 of x).

    Parameters
    ----------
    x : array_like
        Input; axis 1 holds the channels when ``x.ndim >= 2``.
    weight : array_like
        1-D learnable slopes: one per channel, or a single one shared by all elements (also as
        a 0-d array or a number, as PyTorch allows).
    out : ndarray, optional
        Result array of x's shape and the result dtype; may be x itself.
    """
    return _core.prelu(x, _one_dimensional(weight), out, False, "prelu")


def _one_dimensional(weight):
    """A 0-d weight (one shared slope) as the 1-D weight of length 1 the kernels take."""
    w = np.asarray(weight)
    return w.reshape(1) if w.ndim == 0 else weight


def prelu_grad(x, weight, *, out=None):
    """Derivative of PReLU with respect to x: 1 if x > 0 else weight[c]."""
    xa = _real("prelu_grad", x)
    ones = np.ones(xa.shape, dtype=xa.dtype)
    w = _one_dimensional(weight)
    return _core.prelu_backward(ones, x, w, out, False, False, "prelu_grad")[0]


def prelu_backward(dy, x, weight, *, out=None):
    """Backward pass of PReLU: ``(dx, dweight)`` in one pass.

    ``dx = dy * (1 if x > 0 else weight[c])``; ``dweight[c]`` is the sum of ``dy * x`` over the
    elements of channel c where ``x <= 0`` (summed in a fixed order: the same bits for any
    thread count), of weight's shape. PReLU needs x: its output does not tell the slope's
    contribution.
    """
    dx, dw = _core.prelu_backward(
        dy, x, _one_dimensional(weight), out, False, True, "prelu_backward"
    )
    return dx, dw.reshape(np.shape(weight))


def _rrelu_bounds(lower, upper):
    lo, hi = _number("lower", lower), _number("upper", upper)
    if not 0 <= lo <= hi:
        raise ValueError(f"rrelu: need 0 <= lower <= upper, got lower={lo}, upper={hi}")
    return lo, hi


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, *, training=False, rng=None, out=None):
    """Randomized leaky ReLU (PyTorch defaults lower=1/8, upper=1/3).

    In training, each element gets a slope drawn uniformly from [lower, upper] by ``rng`` (a
    seed or a ``numpy.random.Generator``) and the call returns ``(y, slopes)``: pass ``slopes`` to
    :func:`rrelu_backward`. In evaluation (default) the slope is ``(lower + upper) / 2`` and the
    call returns ``y``, a leaky ReLU.
    """
    lo, hi = _rrelu_bounds(lower, upper)
    if not training:
        return _core.unary(_OP_IDS["leaky_relu"], 0, x, out, (lo + hi) / 2, 0.0, 0.0, "rrelu")
    gen = np.random.default_rng(rng)
    # Drawn by the kernel call once x and out have passed its checks: it returns (y, slopes).
    return _core.prelu(
        x, lambda shape, dtype: gen.uniform(lo, hi, shape).astype(dtype), out, True, "rrelu"
    )


def rrelu_backward(dy, *, x=None, y=None, slopes=None, lower=1.0 / 8, upper=1.0 / 3, out=None):
    """Backward pass of RReLU: dy * (1 if x > 0 else slope), from x or from the output y.

    With ``slopes`` (returned by ``rrelu(..., training=True)``) each element uses its own slope;
    without, the evaluation slope ``(lower + upper) / 2``. Slopes are non-negative, so y > 0
    exactly where x > 0 and either saved tensor works.
    """
    lo, hi = _rrelu_bounds(lower, upper)
    if (x is None) == (y is None):
        raise TypeError("rrelu_backward: pass exactly one of x= (the input) or y= (the output)")
    saved = x if x is not None else y
    if slopes is None:
        return _core.backward(
            _OP_IDS["leaky_relu"],
            y is not None,
            dy,
            saved,
            out,
            (lo + hi) / 2,
            0.0,
            0.0,
            "rrelu_backward",
        )
    return _core.prelu_backward(dy, saved, slopes, out, True, False, "rrelu_backward")[0]


def _integer_axis(fn: str, axis) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an integer, got {axis!r}")
    return int(axis)


def _axis_checked(fn: str, x: np.ndarray, axis) -> int:
    """axis of x (at least 1-D: crelu and maxout change the length of that axis) in [0, ndim)."""
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension")
    axis = _integer_axis(fn, axis)
    if not -x.ndim <= axis < x.ndim:
        raise IndexError(f"{fn}: axis {axis} is out of bounds for an array of dimension {x.ndim}")
    return int(axis) % x.ndim


def _real(fn: str, x, arg: str = "x") -> np.ndarray:
    """x as a float32/float64 array under the package's dtype rules (via a cheap kernel call)."""
    xa = np.asarray(x)
    if xa.dtype.kind not in "biuf" or xa.dtype.itemsize > 8:
        raise TypeError(
            f"{fn}: {arg} has dtype {xa.dtype}; expected float32, float64, or an integer "
            "or bool array (computed in float64)"
        )
    return xa.astype(np.float32 if xa.dtype in (np.float32, np.float16) else np.float64, copy=False)


def crelu(x, axis=-1, *, out=None):
    """Concatenated ReLU: ``concatenate([relu(x), relu(-x)], axis)`` (doubles that axis)."""
    xa = _real("crelu", x)
    ax = _axis_checked("crelu", xa, axis)
    shape = list(xa.shape)
    shape[ax] *= 2
    if out is None:
        out = np.empty(shape, dtype=xa.dtype)
    else:
        _check_out("crelu", out, tuple(shape), xa.dtype, x)
    first = [slice(None)] * xa.ndim
    second = list(first)
    first[ax] = slice(0, xa.shape[ax])
    second[ax] = slice(xa.shape[ax], None)
    _relu(xa, out=out[tuple(first)])
    _relu(np.negative(xa), out=out[tuple(second)])
    return out


def crelu_backward(dy, x, axis=-1, *, out=None):
    """Backward pass of CReLU: ``dy1 * (x > 0) - dy2 * (x < 0)`` for the two halves of dy."""
    xa = _real("crelu_backward", x)
    ax = _axis_checked("crelu_backward", xa, axis)
    dya = _real("crelu_backward", dy, "dy")
    want = list(xa.shape)
    want[ax] *= 2
    if dya.shape != tuple(want):
        raise ValueError(
            f"crelu_backward: dy has shape {dya.shape} but x of shape {xa.shape} "
            f"needs dy of shape {tuple(want)}"
        )
    dtype = np.result_type(xa, dya)
    if out is not None:
        _check_out("crelu_backward", out, xa.shape, dtype, x, dy)
    # out may be x itself: pos and neg are fresh arrays, complete before out is written
    n = xa.shape[ax]
    dy1, dy2 = np.split(dya.astype(dtype, copy=False), [n], axis=ax)
    pos = _relu_backward(dy1, x=xa.astype(dtype, copy=False))
    neg = _relu_backward(dy2, x=np.negative(xa, dtype=dtype))
    return np.subtract(pos, neg, out=out)


def _check_out(fn, out, shape, dtype, *inputs):
    """The C++ bindings' out= rules; inputs as the caller passed them (an int or float16 x is
    converted to a fresh array that out can never overlap)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fn}: out has dtype {out.dtype} but the result is {np.dtype(dtype)}")
    if out.shape != tuple(shape):
        raise ValueError(f"{fn}: out has shape {out.shape} but the result has shape {tuple(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    for a in map(np.asarray, inputs):
        if np.shares_memory(out, a) and not _is_in_place(out, a):
            raise ValueError(
                f"{fn}: out overlaps an input without being it; pass the input itself for in-place"
            )


def _is_in_place(out: np.ndarray, a: np.ndarray) -> bool:
    """out is a itself: the same memory in the same layout (strides of length-1 axes aside)."""
    return (
        out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
        and out.shape == a.shape
        and all(n <= 1 or s == t for n, s, t in zip(a.shape, out.strides, a.strides))
    )


def _maxout_view(fn, xa, pieces, axis):
    if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)) or pieces < 1:
        raise ValueError(f"{fn}: pieces must be a positive integer, got {pieces!r}")
    ax = _axis_checked(fn, xa, axis)
    if xa.shape[ax] % pieces:
        raise ValueError(
            f"{fn}: axis {axis} has length {xa.shape[ax]}, not a multiple of pieces={pieces}"
        )
    grouped = xa.shape[:ax] + (xa.shape[ax] // pieces, int(pieces)) + xa.shape[ax + 1 :]
    return ax, xa.reshape(grouped)


def _group_argmax(grouped: np.ndarray, ax: int) -> np.ndarray:
    """Each group's arg max (the first on ties; a NaN wins), kept as an axis of length 1."""
    return np.expand_dims(np.argmax(grouped, axis=ax + 1), ax + 1)


def maxout(x, pieces, axis=-1, *, out=None):
    """Maxout: the maximum over groups of ``pieces`` consecutive entries along ``axis``.

    The axis length must be a multiple of ``pieces``; the result has ``length / pieces`` there.
    NaN in a group gives NaN.
    """
    xa = _real("maxout", x)
    ax, grouped = _maxout_view("maxout", xa, pieces, axis)
    shape = grouped.shape[: ax + 1] + grouped.shape[ax + 2 :]
    if out is not None:
        _check_out("maxout", out, shape, xa.dtype, x)
    # The entry at the arg max, the one the backward routes to (max(-0, +0) would be +0 where
    # the first of them, -0, gets the gradient; PyTorch gives -0 too).
    y = np.take_along_axis(grouped, _group_argmax(grouped, ax), axis=ax + 1).reshape(shape)
    if out is None:
        return y
    out[...] = y
    return out


def maxout_backward(dy, x, pieces, axis=-1, *, out=None):
    """Backward pass of maxout: dy routed to the arg max of each group (the first on ties)."""
    xa = _real("maxout_backward", x)
    ax, grouped = _maxout_view("maxout_backward", xa, pieces, axis)
    dya = _real("maxout_backward", dy, "dy")
    want = grouped.shape[: ax + 1] + grouped.shape[ax + 2 :]
    if dya.shape != want:
        raise ValueError(
            f"maxout_backward: dy has shape {dya.shape} but x of shape {xa.shape} "
            f"with pieces={pieces} needs dy of shape {want}"
        )
    dtype = np.result_type(xa, dya)
    if out is not None:
        _check_out("maxout_backward", out, xa.shape, dtype, x, dy)
    # The arg max is found before any write, and dx is a fresh array: out may be x itself.
    dx = np.zeros(grouped.shape, dtype=dtype)
    np.put_along_axis(dx, _group_argmax(grouped, ax), np.expand_dims(dya, ax + 1), axis=ax + 1)
    dx = dx.reshape(xa.shape)
    if out is None:
        return dx
    out[...] = dx
    return out


def softmax(x, axis=-1, *, out=None):
    """Softmax along ``axis``: exp(x - max) / sum(exp(x - max)), stable for any logits."""
    return _core.softmax(x, _integer_axis("softmax", axis), out, False, "softmax")


def log_softmax(x, axis=-1, *, out=None):
    """Log-softmax along ``axis``: x - max - log(sum(exp(x - max)))."""
    return _core.softmax(x, _integer_axis("log_softmax", axis), out, True, "log_softmax")


def softmax_backward(dy, *, x=None, y=None, axis=-1, out=None):
    """Backward pass of softmax: ``y * (dy - sum(dy * y, axis))``, from y or (recomputed) x."""
    if (x is None) == (y is None):
        raise TypeError("softmax_backward: pass exactly one of x= (the input) or y= (the output)")
    from_y = y is not None
    axis = _integer_axis("softmax_backward", axis)
    return _core.softmax_backward(
        dy, y if from_y else x, from_y, axis, out, False, "softmax_backward"
    )


def log_softmax_backward(dy, *, x=None, y=None, axis=-1, out=None):
    """Backward pass of log-softmax: ``dy - exp(y) * sum(dy, axis)``, from y or x."""
    if (x is None) == (y is None):
        raise TypeError(
            "log_softmax_backward: pass exactly one of x= (the input) or y= (the output)"
        )
    from_y = y is not None
    axis = _integer_axis("log_softmax_backward", axis)
    return _core.softmax_backward(
        dy, y if from_y else x, from_y, axis, out, True, "log_softmax_backward"
    )


__all__ += [
    "prelu",
    "prelu_grad",
    "prelu_backward",
    "rrelu",
    "rrelu_backward",
    "crelu",
    "crelu_backward",
    "maxout",
    "maxout_backward",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
]


# ---- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """A registry entry: the functions of one activation, for layers to call by name."""

    name: str
    forward: Callable
    backward: Callable
    grad: Callable | None = None
    params: dict = field(default_factory=dict)
    elementwise: bool = True
    from_output: bool = False  # backward accepts y= with the default parameters


def _registry() -> dict[str, Activation]:
    g = globals()
    reg = {}
    for s in SPECS:
        defaults = tuple(v for _, v in s.params)
        reg[s.name] = Activation(
            s.name,
            g[s.name],
            g[s.name + "_backward"],
            g[s.name + "_grad"],
            dict(s.params),
            True,
            _from_output_reason(s, s.kernel_name(*defaults), *defaults) is None,
        )
    reg["prelu"] = Activation("prelu", prelu, prelu_backward, prelu_grad, {}, True, False)
    reg["rrelu"] = Activation(
        "rrelu", rrelu, rrelu_backward, None, {"lower": 1 / 8, "upper": 1 / 3}, True, True
    )
    for name, fwd, bwd, params in (
        ("crelu", crelu, crelu_backward, {"axis": -1}),
        ("maxout", maxout, maxout_backward, {"axis": -1}),
        ("softmax", softmax, softmax_backward, {"axis": -1}),
        ("log_softmax", log_softmax, log_softmax_backward, {"axis": -1}),
    ):
        reg[name] = Activation(name, fwd, bwd, None, params, False, name.endswith("softmax"))
    return reg


_REGISTRY = _registry()


def kernel_of(name: str, **params) -> tuple[int, tuple[float, float, float], bool]:
    """The C++ kernel of an elementwise activation with parameters, for fused layer kernels.

    Returns ``(kernel id, (p0, p1, p2), from_output)``: from_output tells whether the backward
    may use the output y with these parameters. ValueError for an activation that is not
    elementwise (or unknown), TypeError for an unknown parameter.
    """
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a str, got {type(name).__name__}")
    spec = _SPEC_BY_NAME.get(name)
    if spec is None:
        elementwise = ", ".join(s.name for s in SPECS)
        raise ValueError(
            f"{name!r} is not an elementwise activation; fused kernels take one of: {elementwise}"
        )
    unknown = set(params) - {p for p, _ in spec.params}
    if unknown:
        raise TypeError(f"{name}: unknown parameter(s) {sorted(unknown)}")
    args = tuple(params.get(p, d) for p, d in spec.params)
    kernel, p0, p1, p2 = (
        spec.prepare(*args) if spec.prepare else (spec.kernel or spec.name, 0.0, 0.0, 0.0)
    )
    return _OP_IDS[kernel], (p0, p1, p2), _from_output_reason(spec, kernel, *args) is None


def available() -> list[str]:
    """Names of every activation, in the order of the documentation."""
    return list(_REGISTRY)


def get(name: str) -> Activation:
    """The registry entry of an activation by name (``get("gelu").forward(x)``)."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; available: {', '.join(_REGISTRY)}"
        ) from None
