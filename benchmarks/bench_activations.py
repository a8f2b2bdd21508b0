"""Activations family: nnkernels against NumPy, PyTorch CPU and numexpr.

Every elementwise activation, forward (``y = f(x)`` into a preallocated ``out``) and backward
(``dx = dy f'(x)``, from the saved output y where nnkernels accepts it, else from x), plus softmax
and log-softmax over rows. PyTorch and numexpr are optional: absent peers are skipped and named in
the notes. Run through ``python benchmarks/run.py`` (``--filter '^activations/'``), or this file
alone with the same options; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

import nnkernels as nk  # noqa: E402

special = harness.optional("scipy.special")  # NumPy has no erf; SciPy's serves GELU's NumPy peer
torch = harness.optional("torch")
numexpr = harness.optional("numexpr")

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
SA = SELU_SCALE * SELU_ALPHA
GELU_C, GELU_K = math.sqrt(2 / math.pi), 0.044715
SQRT1_2, INV_SQRT_2PI = math.sqrt(0.5), 1 / math.sqrt(2 * math.pi)
FAMILY = "activations"
SIZES = (4096, 65536, 1 << 20, 1 << 24)
QUICK_SIZES = (4096, 1 << 18)
SOFTMAX_SHAPES = ((4096, 100), (4096, 1000))  # 100 classes: the per-row costs show

# Each activation runs with its default parameters; a peer may use any expression that is exact
# for those (celu with alpha = 1 is elu, swish with beta = 1 is silu). `ROWS` maps a row name to
# the nnkernels activation and keyword arguments.
ROWS = {s.name: (s.name, {}) for s in nk.activations.SPECS}
ROWS["gelu_tanh"] = ("gelu", {"approximate": "tanh"})
ROWS = dict(sorted(ROWS.items(), key=lambda kv: list(ROWS).index(kv[1][0])))


class Scratch:
    """Temporaries shaped like ``like``, made on first use and reused by every later call."""

    def __init__(self, like: np.ndarray):
        self.like, self._arrays = like, {}

    def __call__(self, i: int = 0, dtype=None) -> np.ndarray:
        key = (i, dtype)
        if key not in self._arrays:
            self._arrays[key] = np.empty(self.like.shape, dtype or self.like.dtype)
        return self._arrays[key]

    def b(self, i: int = 0) -> np.ndarray:
        """Boolean temporary ``i``."""
        return self(i, np.bool_)


# ---- NumPy: forward(x, o, s) and backward(dy, x, y, o, s), all writing into o ----------------


def _sigmoid(x, o, sign=-1.0):
    np.multiply(x, sign, out=o)
    np.exp(o, out=o)
    o += 1
    return np.reciprocal(o, out=o)


def _elu(x, o, s):  # alpha = 1: expm1(min(x, 0)) >= x where x <= 0
    np.minimum(x, 0, out=o)
    np.expm1(o, out=o)
    return np.maximum(x, o, out=o)


def _selu(x, o, s):
    t = s()
    np.minimum(x, 0, out=t)
    np.expm1(t, out=t)
    t *= SA
    np.maximum(x, 0, out=o)
    o *= SELU_SCALE
    o += t
    return o


def _gelu(x, o, s):
    np.multiply(x, SQRT1_2, out=o)
    special.erf(o, out=o)
    o += 1
    o *= x
    o *= 0.5
    return o


def _gelu_tanh(x, o, s):  # 0.5 (1 + tanh(z)) = sigmoid(2 z)
    np.multiply(x, x, out=o)
    o *= -2 * GELU_C * GELU_K
    o -= 2 * GELU_C
    o *= x
    np.exp(o, out=o)
    o += 1
    return np.divide(x, o, out=o)


def _silu(x, o, s):
    np.negative(x, out=o)
    np.exp(o, out=o)
    o += 1
    return np.divide(x, o, out=o)


def _mish_parts(x, s):
    """e = exp(min(x, 20)), n = e (e + 2), d = n + 2: tanh(softplus(x)) = n / d."""
    e, n, d = s(0), s(1), s(2)
    np.minimum(x, 20, out=e)
    np.exp(e, out=e)
    np.add(e, 2, out=n)
    n *= e
    np.add(n, 2, out=d)
    return e, n, d


def _mish(x, o, s):
    _, n, d = _mish_parts(x, s)
    np.divide(n, d, out=o)
    o *= x
    return o


def _softplus(x, o, s):  # max(x, 0) + log1p(exp(-|x|))
    t = s()
    np.abs(x, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    np.maximum(x, 0, out=o)
    o += t
    return o


def _logsigmoid(x, o, s):  # min(x, 0) - log1p(exp(-|x|))
    t = s()
    np.abs(x, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    np.minimum(x, 0, out=o)
    o -= t
    return o


def _softsign(x, o, s):
    np.abs(x, out=o)
    o += 1
    return np.divide(x, o, out=o)


def _hardsigmoid(x, o, s):
    np.multiply(x, 1 / 6, out=o)
    o += 0.5
    return np.clip(o, 0, 1, out=o)


def _hardswish(x, o, s):
    _hardsigmoid(x, o, s)
    o *= x
    return o


def _mask_times(dy, o, mask, scale=None):
    np.multiply(dy, mask, out=o)
    if scale is not None:
        o *= scale
    return o


def _inside(v, lo, hi, s):
    """Boolean temporary: lo < v < hi."""
    b, c = s.b(0), s.b(1)
    np.greater(v, lo, out=b)
    np.less(v, hi, out=c)
    b &= c
    return b


def _b_sigmoid(dy, x, y, o, s):
    np.subtract(1, y, out=o)
    o *= y
    o *= dy
    return o


def _b_one_minus_sq(dy, y, o, half=False):  # (1 - y^2) or (1 - y^2) / 2
    np.multiply(y, y, out=o)
    if half:
        o *= -0.5
        o += 0.5
    else:
        np.subtract(1, o, out=o)
    o *= dy
    return o


def _b_leaky(dy, x, y, o, s, slope=0.01):
    b = s.b()
    np.greater(y, 0, out=b)
    np.multiply(b, 1 - slope, out=o)
    o += slope
    o *= dy
    return o


def _b_elu(dy, x, y, o, s):  # alpha = 1: min(y + 1, 1)
    np.add(y, 1, out=o)
    np.minimum(o, 1, out=o)
    o *= dy
    return o


def _b_selu(dy, x, y, o, s):  # scale where y > 0, else y + scale alpha
    t, b = s(), s.b()
    np.minimum(y, 0, out=o)
    o += SA
    np.greater(y, 0, out=b)
    np.multiply(b, SA - SELU_SCALE, out=t)
    o -= t
    o *= dy
    return o


def _b_gelu(dy, x, y, o, s):  # Phi(x) + x phi(x)
    t = s()
    np.multiply(x, SQRT1_2, out=t)
    special.erf(t, out=t)
    t += 1
    t *= 0.5
    np.multiply(x, x, out=o)
    o *= -0.5
    np.exp(o, out=o)
    o *= x
    o *= INV_SQRT_2PI
    o += t
    o *= dy
    return o


def _b_gelu_tanh(dy, x, y, o, s):  # s + x s (1 - s) 2 z', s = sigmoid(2 z)
    sg, w, u = s(0), s(1), s(2)
    np.multiply(x, x, out=w)
    np.multiply(w, -2 * GELU_C * GELU_K, out=sg)
    sg -= 2 * GELU_C
    sg *= x
    np.exp(sg, out=sg)
    sg += 1
    np.reciprocal(sg, out=sg)
    w *= 6 * GELU_C * GELU_K
    w += 2 * GELU_C
    w *= x
    np.subtract(1, sg, out=u)
    u *= sg
    u *= w
    np.add(u, sg, out=o)
    o *= dy
    return o


def _b_silu(dy, x, y, o, s):  # s (1 + x (1 - s))
    t = _sigmoid(x, s())
    np.subtract(1, t, out=o)
    o *= x
    o += 1
    o *= t
    o *= dy
    return o


def _b_mish(dy, x, y, o, s):  # n / d + x (4 n + 4) / d^2 * e / (1 + e)
    e, n, d = _mish_parts(x, s)
    np.divide(n, d, out=o)
    n *= 4
    n += 4
    d *= d
    np.divide(n, d, out=n)
    np.add(e, 1, out=d)
    np.divide(e, d, out=e)
    n *= e
    n *= x
    o += n
    o *= dy
    return o


def _b_neg_expm1(v, dy, o, sign):  # -expm1(sign v) dy
    np.multiply(v, sign, out=o)
    np.expm1(o, out=o)
    o *= dy
    return np.negative(o, out=o)


def _b_softsign(dy, x, y, o, s):  # (1 - |y|)^2
    np.abs(y, out=o)
    np.subtract(1, o, out=o)
    o *= o
    o *= dy
    return o


def _b_hardswish(dy, x, y, o, s):  # 0 up to -3, x / 3 + 1/2 inside (-3, 3), 1 from 3 on
    b, c = s.b(0), s.b(1)
    np.multiply(x, 1 / 3, out=o)
    o += 0.5
    np.greater(x, -3, out=b)
    np.less(x, 3, out=c)
    b &= c
    o *= b
    np.greater_equal(x, 3, out=c)
    o += c
    o *= dy
    return o


NUMPY: dict[str, tuple[Callable, Callable]] = {
    "identity": (
        lambda x, o, s: np.copyto(o, x) or o,
        lambda dy, x, y, o, s: np.copyto(o, dy) or o,
    ),
    "binary_step": (
        lambda x, o, s: np.greater_equal(x, 0, out=o),
        lambda dy, x, y, o, s: np.multiply(dy, 0, out=o),
    ),
    "sigmoid": (lambda x, o, s: _sigmoid(x, o), _b_sigmoid),
    "bipolar_sigmoid": (
        lambda x, o, s: np.tanh(np.multiply(x, 0.5, out=o), out=o),
        lambda dy, x, y, o, s: _b_one_minus_sq(dy, y, o, half=True),
    ),
    "tanh": (lambda x, o, s: np.tanh(x, out=o), lambda dy, x, y, o, s: _b_one_minus_sq(dy, y, o)),
    "hardtanh": (
        lambda x, o, s: np.clip(x, -1, 1, out=o),
        lambda dy, x, y, o, s: _mask_times(dy, o, _inside(y, -1, 1, s)),
    ),
    "relu": (
        lambda x, o, s: np.maximum(x, 0, out=o),
        lambda dy, x, y, o, s: _mask_times(dy, o, np.greater(y, 0, out=s.b())),
    ),
    "relu6": (
        lambda x, o, s: np.clip(x, 0, 6, out=o),
        lambda dy, x, y, o, s: _mask_times(dy, o, _inside(y, 0, 6, s)),
    ),
    "leaky_relu": (lambda x, o, s: np.maximum(x, np.multiply(x, 0.01, out=o), out=o), _b_leaky),
    "elu": (_elu, _b_elu),
    "selu": (_selu, _b_selu),
    "celu": (_elu, _b_elu),
    "gelu": (_gelu, _b_gelu),
    "gelu_tanh": (_gelu_tanh, _b_gelu_tanh),
    "silu": (_silu, _b_silu),
    "swish": (_silu, _b_silu),
    "mish": (_mish, _b_mish),
    "softplus": (_softplus, lambda dy, x, y, o, s: _b_neg_expm1(y, dy, o, -1.0)),
    "softsign": (_softsign, _b_softsign),
    "hardsigmoid": (
        _hardsigmoid,
        lambda dy, x, y, o, s: _mask_times(dy, o, _inside(y, 0, 1, s), 1 / 6),
    ),
    "hardswish": (_hardswish, _b_hardswish),
    "logsigmoid": (_logsigmoid, lambda dy, x, y, o, s: _b_neg_expm1(y, dy, o, 1.0)),
}
if special is None:
    del NUMPY["gelu"]


# ---- PyTorch: (forward(t), forward(t, o), backward(g, x, y), backward(g, x, y, o)) ----------


def torch_peers() -> dict[str, tuple]:
    """PyTorch's fastest calls per activation, without autograd: ATen backward ops directly."""
    A, F = torch.ops.aten, torch.nn.functional

    def grad_in(op, *args):
        return lambda g, x, y, o: op.grad_input(g, *args_of(args, x, y), grad_input=o)

    def args_of(args, x, y):
        return [x if a == "x" else y if a == "y" else a for a in args]

    def back(op, *args):
        return (lambda g, x, y: op(g, *args_of(args, x, y))), grad_in(op, *args)

    def elu(alpha, scale, input_scale):
        return (
            (lambda t: A.elu(t, alpha, scale, input_scale)),
            (lambda t, o: A.elu.out(t, alpha, scale, input_scale, out=o)),
            *back(A.elu_backward, alpha, scale, input_scale, True, "y"),
        )

    def gelu(approximate):
        return (
            (lambda t: F.gelu(t, approximate=approximate)),
            (lambda t, o: A.gelu.out(t, approximate=approximate, out=o)),
            (lambda g, x, y: A.gelu_backward(g, x, approximate=approximate)),
            (
                lambda g, x, y, o: A.gelu_backward.grad_input(
                    g, x, approximate=approximate, grad_input=o
                )
            ),
        )

    silu = (F.silu, lambda t, o: A.silu.out(t, out=o), *back(A.silu_backward, "x"))
    peers = {
        "identity": (
            torch.clone,
            lambda t, o: o.copy_(t),
            lambda g, x, y: g.clone(),
            lambda g, x, y, o: o.copy_(g),
        ),
        "binary_step": (
            lambda t: (t >= 0).to(t.dtype),
            None,
            lambda g, x, y: torch.mul(g, 0),
            lambda g, x, y, o: torch.mul(g, 0, out=o),
        ),
        "sigmoid": (
            torch.sigmoid,
            lambda t, o: torch.sigmoid(t, out=o),
            *back(A.sigmoid_backward, "y"),
        ),
        "bipolar_sigmoid": (
            lambda t: torch.sigmoid(t).mul_(2).sub_(1),
            lambda t, o: torch.sigmoid(t, out=o).mul_(2).sub_(1),
            lambda g, x, y: A.tanh_backward(g, y).mul_(0.5),
            lambda g, x, y, o: A.tanh_backward.grad_input(g, y, grad_input=o).mul_(0.5),
        ),
        "tanh": (torch.tanh, lambda t, o: torch.tanh(t, out=o), *back(A.tanh_backward, "y")),
        "hardtanh": (
            F.hardtanh,
            lambda t, o: torch.clamp(t, -1, 1, out=o),
            *back(A.hardtanh_backward, "y", -1.0, 1.0),
        ),
        "relu": (
            torch.relu,
            lambda t, o: A.relu.out(t, out=o),
            *back(A.threshold_backward, "y", 0),
        ),
        "relu6": (
            F.relu6,
            lambda t, o: torch.clamp(t, 0, 6, out=o),
            *back(A.hardtanh_backward, "y", 0.0, 6.0),
        ),
        "leaky_relu": (
            F.leaky_relu,
            lambda t, o: A.leaky_relu.out(t, 0.01, out=o),
            *back(A.leaky_relu_backward, "y", 0.01, True),
        ),
        "elu": elu(1.0, 1.0, 1.0),
        "selu": elu(SELU_ALPHA, SELU_SCALE, 1.0),
        "celu": elu(1.0, 1.0, 1.0),  # celu(alpha) is elu(alpha, input_scale=1/alpha)
        "gelu": gelu("none"),
        "gelu_tanh": gelu("tanh"),
        "silu": silu,
        "swish": silu,
        "mish": (
            F.mish,
            lambda t, o: A.mish.out(t, out=o),
            lambda g, x, y: A.mish_backward(g, x),
            None,
        ),
        "softplus": (
            F.softplus,
            lambda t, o: A.softplus.out(t, 1.0, 20.0, out=o),
            *back(A.softplus_backward, "x", 1.0, 20.0),
        ),
        "softsign": (
            F.softsign,
            lambda t, o: torch.div(t, torch.abs(t, out=o).add_(1), out=o),
            lambda g, x, y: (1 - y.abs()).square_().mul_(g),
            lambda g, x, y, o: torch.abs(y, out=o).sub_(1).square_().mul_(g),
        ),
        "hardsigmoid": (
            F.hardsigmoid,
            lambda t, o: A.hardsigmoid.out(t, out=o),
            *back(A.hardsigmoid_backward, "x"),
        ),
        "hardswish": (
            F.hardswish,
            lambda t, o: A.hardswish.out(t, out=o),
            lambda g, x, y: A.hardswish_backward(g, x),
            lambda g, x, y, o: A.hardswish_backward.out(g, x, out=o),
        ),
        # log_sigmoid_backward needs the buffer its forward saves: made once, like autograd would
        "logsigmoid": (
            F.logsigmoid,
            lambda t, o: A.log_sigmoid.out(t, out=o),
            lambda g, x, y: A.log_sigmoid_backward(g, x, _ls_buffer(x)),
            lambda g, x, y, o: A.log_sigmoid_backward.grad_input(g, x, _ls_buffer(x), grad_input=o),
        ),
    }
    return peers


_LS_BUFFERS: dict[tuple, object] = {}


def _ls_buffer(x):
    """The buffer ``aten.log_sigmoid_forward`` saves for x (computed once per input tensor)."""
    key = (x.data_ptr(), x.numel(), x.dtype)
    if key not in _LS_BUFFERS:
        _LS_BUFFERS.clear()
        _LS_BUFFERS[key] = torch.ops.aten.log_sigmoid_forward(x)[1]
    return _LS_BUFFERS[key]


# ---- numexpr: one expression, or (temporary t, expression) -----------------------------------
# Float literals would make numexpr compute float32 in float64: constants are typed variables.

NE_CONST = {
    "h": 0.5,
    "s": 0.01,
    "c": SELU_SCALE,
    "d": SA,
    "r": 1 / 6,
    "tr": 1 / 3,
    "p": -2 * GELU_C,
    "q": -2 * GELU_C * GELU_K,
    "one": 1.0,
    "zero": 0.0,
}
_NE_GELU_T = "1 / (1 + exp(x * (p + q * x * x)))"
NUMEXPR: dict[str, tuple] = {
    "identity": ("x", "dy"),
    "binary_step": ("where(x >= 0, one, zero)", "dy * 0"),
    "sigmoid": ("1 / (1 + exp(-x))", "dy * y * (1 - y)"),
    "bipolar_sigmoid": ("tanh(h * x)", "dy * h * (1 - y * y)"),
    "tanh": ("tanh(x)", "dy * (1 - y * y)"),
    "hardtanh": ("where(x < -1, -1, where(x > 1, 1, x))", "where(abs(y) < 1, dy, 0)"),
    "relu": ("where(x > 0, x, 0)", "where(y > 0, dy, 0)"),
    "relu6": ("where(x < 0, 0, where(x > 6, 6, x))", "where((y > 0) & (y < 6), dy, 0)"),
    "leaky_relu": ("where(x > 0, x, s * x)", "where(y > 0, dy, s * dy)"),
    "elu": ("where(x > 0, x, expm1(x))", "where(y > 0, dy, dy * (y + 1))"),
    "selu": ("where(x > 0, c * x, d * expm1(x))", "where(y > 0, c * dy, dy * (y + d))"),
    "celu": ("where(x > 0, x, expm1(x))", "where(y > 0, dy, dy * (y + 1))"),
    "gelu_tanh": (
        "x * " + _NE_GELU_T,
        (_NE_GELU_T, "dy * t * (1 - x * (1 - t) * (p + 3 * q * x * x))"),
    ),
    "silu": ("x / (1 + exp(-x))", ("1 / (1 + exp(-x))", "dy * t * (1 + x * (1 - t))")),
    "swish": ("x / (1 + exp(-x))", ("1 / (1 + exp(-x))", "dy * t * (1 + x * (1 - t))")),
    "mish": (
        "x * tanh(log1p(exp(x)))",
        ("tanh(log1p(exp(x)))", "dy * (t + x * (1 - t * t) / (1 + exp(-x)))"),
    ),
    "softplus": ("where(x > 20, x, log1p(exp(x)))", "-dy * expm1(-y)"),
    "softsign": ("x / (1 + abs(x))", "dy * (1 - abs(y)) * (1 - abs(y))"),
    "hardsigmoid": (
        "where(x < -3, 0, where(x > 3, 1, x * r + h))",
        "where((y > 0) & (y < 1), r * dy, 0)",
    ),
    "hardswish": (
        "x * where(x < -3, 0, where(x > 3, 1, x * r + h))",
        "where(x <= -3, 0, where(x >= 3, dy, dy * (x * tr + h)))",
    ),
    "logsigmoid": ("where(x < 0, x, 0) - log1p(exp(-abs(x)))", "-dy * expm1(y)"),
}


def numexpr_case(expr, arrays: dict, o: np.ndarray, s: Scratch) -> Callable:
    """A numexpr evaluation into ``o``; a ``(temp, expr)`` pair computes ``t`` first."""
    names = {k: o.dtype.type(v) for k, v in NE_CONST.items()}
    env = {**names, **arrays}
    if isinstance(expr, str):
        return lambda: numexpr.evaluate(expr, local_dict=env, out=o)
    first, second = expr
    t = s(3)
    env["t"] = t

    def run():
        numexpr.evaluate(first, local_dict=env, out=t)
        return numexpr.evaluate(second, local_dict=env, out=o)

    return run


# ---- rows -----------------------------------------------------------------------------------


class Inputs:
    """The arrays of one size and dtype: x in [-8, 8], dy in [-1, 1], y and out buffers."""

    def __init__(self, n_or_shape, dtype, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(-8, 8, n_or_shape).astype(dtype)
        self.dy = rng.uniform(-1, 1, n_or_shape).astype(dtype)
        self.y, self.o = np.empty_like(self.x), np.empty_like(self.x)
        self.s = Scratch(self.x)
        self.x64, self.dy64 = self.x.astype(np.float64), self.dy.astype(np.float64)
        self.o64, self.s64 = np.empty_like(self.x64), Scratch(self.x64)
        if torch is not None:
            self.t = {k: torch.from_numpy(getattr(self, k)) for k in ("x", "dy", "y", "o")}


def activation_cases(name: str, backward: bool, inp: Inputs) -> tuple[dict, Callable | None, str]:
    """Cases (nnkernels first), the float64 NumPy truth and the saved tensor ('x' or 'y')."""
    act_name, kw = ROWS[name]
    act = nk.activations.get(act_name)
    x, dy, y, o, s = inp.x, inp.dy, inp.y, inp.o, inp.s
    act.forward(x, out=y, **kw)
    saved = "y" if act.from_output else "x"
    np_f = NUMPY.get(name, (None, None))[backward]
    if backward:
        nk_case = (
            (lambda: act.backward(dy, y=y, out=o, **kw))
            if saved == "y"
            else (lambda: act.backward(dy, x=x, out=o, **kw))
        )
        cases = {"nnkernels": nk_case}
        if np_f:
            cases["numpy"] = lambda: np_f(dy, x, y, o, s)
            y64 = y.astype(np.float64)
            truth = lambda: np_f(inp.dy64, inp.x64, y64, inp.o64, inp.s64)
    else:
        cases = {"nnkernels": lambda: act.forward(x, out=o, **kw)}
        if np_f:
            cases["numpy"] = lambda: np_f(x, o, s)
            truth = lambda: np_f(inp.x64, inp.o64, inp.s64)
    if torch is not None:
        tp = torch_peers()[name]
        t = inp.t
        args = (t["dy"], t["x"], t["y"]) if backward else (t["x"],)
        plain, with_out = tp[2:] if backward else tp[:2]
        cases["torch"] = lambda: plain(*args)
        if with_out is not None:
            cases["torch[out]"] = lambda: with_out(*args, t["o"])
    if numexpr is not None and name in NUMEXPR:
        arrays = {"x": x, "dy": dy, "y": y}
        cases["numexpr"] = numexpr_case(NUMEXPR[name][backward], arrays, o, s)
    return cases, (truth if np_f else None), saved


def _np_softmax(x, o, s, log=False):
    m = np.max(x, axis=-1, keepdims=True)
    np.subtract(x, m, out=o)
    if log:
        t = np.exp(o, out=s())
        o -= np.log(np.sum(t, axis=-1, keepdims=True))
    else:
        np.exp(o, out=o)
        o /= np.sum(o, axis=-1, keepdims=True)
    return o


def _np_softmax_backward(dy, y, o, s, log=False):
    if log:  # dy - exp(y) sum(dy)
        np.exp(y, out=o)
        o *= np.sum(dy, axis=-1, keepdims=True)
        return np.subtract(dy, o, out=o)
    np.multiply(dy, y, out=o)  # y (dy - sum(dy y))
    np.subtract(dy, np.sum(o, axis=-1, keepdims=True), out=o)
    o *= y
    return o


def softmax_cases(log: bool, backward: bool, inp: Inputs) -> tuple[dict, Callable]:
    """Row-wise softmax or log-softmax cases over the last axis, forward or backward (from y)."""
    name = "log_softmax" if log else "softmax"
    act = nk.activations.get(name)
    x, dy, y, o, s = inp.x, inp.dy, inp.y, inp.o, inp.s
    act.forward(x, out=y)
    if backward:
        y64 = y.astype(np.float64)
        cases = {
            "nnkernels": lambda: act.backward(dy, y=y, out=o),
            "numpy": lambda: _np_softmax_backward(dy, y, o, s, log),
        }
        truth = lambda: _np_softmax_backward(inp.dy64, y64, inp.o64, inp.s64, log)
    else:
        cases = {
            "nnkernels": lambda: act.forward(x, out=o),
            "numpy": lambda: _np_softmax(x, o, s, log),
        }
        truth = lambda: _np_softmax(inp.x64, inp.o64, inp.s64, log)
    if torch is not None:
        A, t = torch.ops.aten, inp.t
        if backward:
            op = A._log_softmax_backward_data if log else A._softmax_backward_data
            out_kw = "out" if log else "grad_input"  # ATen names the two out= differently
            cases["torch"] = lambda: op(t["dy"], t["y"], -1, t["y"].dtype)
            cases["torch[out]"] = lambda: op.out(
                t["dy"], t["y"], -1, t["y"].dtype, **{out_kw: t["o"]}
            )
        else:
            fn, op = (torch.log_softmax, A._log_softmax) if log else (torch.softmax, A._softmax)
            cases["torch"] = lambda: fn(t["x"], -1)
            cases["torch[out]"] = lambda: op.out(t["x"], -1, False, out=t["o"])
    return cases, truth


# ---- the family interface (benchmarks/README.md) ---------------------------------------------


@functools.lru_cache(maxsize=1)
def inputs(shape, dtype) -> Inputs:
    """The inputs of the latest shape and dtype: rows run in that order, so each is made once."""
    return Inputs(shape, dtype)


def make(name: str, pass_: str, shape, dtype) -> harness.Bench:
    """The cases, truth and inputs of one row."""
    inp, backward = inputs(shape, np.dtype(dtype)), pass_ == "backward"
    if name.endswith("softmax"):
        cases, truth = softmax_cases(name == "log_softmax", backward, inp)
    else:
        cases, truth, _ = activation_cases(name, backward, inp)
    named = {"x": inp.x, "dy": inp.dy, "y": inp.y} if backward else {"x": inp.x}
    return harness.Bench(cases, truth, named)


def specs(opts: harness.Options) -> list[harness.Spec]:
    """Every activation forward and backward per dtype and size, then softmax over rows."""
    out = []
    for dtype in opts.pick_dtypes():
        work = [((n,), name) for n in opts.pick_sizes(SIZES, QUICK_SIZES) for name in ROWS]
        work += [(shape, name) for shape in SOFTMAX_SHAPES for name in ("softmax", "log_softmax")]
        for shape, name in work:
            act = nk.activations.get(ROWS[name][0] if name in ROWS else name)
            for pass_ in ("forward", "backward"):
                backward = pass_ == "backward"
                saved = ("y" if act.from_output else "x") if backward else None
                out.append(
                    harness.Spec(
                        op=f"{name}:{pass_}",
                        shape="x".join(harness.size_label(d) for d in shape),
                        n=math.prod(shape),
                        dtype=dtype,
                        arrays=3 if backward else 2,
                        make=functools.partial(make, name, pass_, shape, dtype),
                        key={"pass": pass_, "saved": saved},
                        curve=len(shape) == 1,
                    )
                )
    return out


def notes() -> list[str]:
    """What the reader of the results needs to know about these peers."""
    out = []
    if torch is None:
        out.append("PyTorch is not installed: its columns are skipped.")
    else:
        out.append(
            "PyTorch peers call ATen ops directly (no autograd), on tensors made once "
            "with torch.from_numpy; `torch[out]` writes into a preallocated tensor. "
            "No torch out= variant for binary_step forward and mish backward; "
            "logsigmoid backward gets the buffer of log_sigmoid_forward, made once."
        )
    if numexpr is None:
        out.append("numexpr is not installed: its columns are skipped.")
    else:
        out.append("numexpr cannot express erf: no numexpr peer for gelu (approximate='none').")
    if special is None:
        out.append("SciPy is not installed: no NumPy peer (erf) for gelu.")
    out.append(
        "Backward passes use the saved output y where nnkernels accepts it (JSON field "
        "`saved`), else x. NumPy runs single-threaded whatever the thread count."
    )
    return out


if __name__ == "__main__":
    import run

    sys.exit(run.main(family=sys.modules[__name__]))
