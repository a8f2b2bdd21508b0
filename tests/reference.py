"""Float64 NumPy truth for every nnkernels function, written from the formulas.

Derivatives are written by hand and checked against finite differences in test_reference.py.
Stable forms are used where the textbook form loses float64 accuracy (1 + tanh(u) for u << 0,
1 - tanh(x)^2 for large |x|), so that the reference is far more accurate than float32.
PyTorch's conventions at kinks are kept (relu'(0) = 0, hardtanh' = 0 on the bounds, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_TANH_A = 0.044715

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def sigmoid(x):
    x = _f64(x)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus_stable(x):
    return np.logaddexp(0.0, _f64(x))


def _times(x, s):
    """x * s with the limit 0 where s == 0 (x * sigmoid(x) at x = -inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(s == 0, 0.0, x * s)


def _keep_nan(x, v):
    return np.where(np.isnan(x), np.nan, v)


def sech2(x):
    """1 - tanh(x)^2 = 4 sigmoid(2x) sigmoid(-2x), with no cancellation."""
    x = _f64(x)
    return 4 * sigmoid(2 * x) * sigmoid(-2 * x)


def phi_cdf(x):
    x = _f64(x)
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def phi_pdf(x):
    x = _f64(x)
    with np.errstate(over="ignore"):
        return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Ref:
    f: Callable
    df: Callable
    df_from_y: Callable | None = None
    kinks: tuple = ()  # where f' jumps (skipped by the finite-difference check)


def _gelu_tanh_u2(x):
    return 2 * SQRT_2_OVER_PI * (x + GELU_TANH_A * x**3)


def _softplus_f(x, beta=1.0, threshold=20.0):
    x = _f64(x)
    return np.where(beta * x > threshold, x, softplus_stable(beta * x) / beta)


def _swish_df(x, beta=1.0):
    s, sm = sigmoid(beta * x), sigmoid(-beta * x)
    return _times(1 + _times(beta * x, sm), s)


def _mish_df(x):
    sp = softplus_stable(x)
    return np.tanh(sp) + _times(x, sech2(sp) * sigmoid(x))


def _hardswish_df(x):
    return _keep_nan(x, np.where(x <= -3, 0.0, np.where(x < 3, (2 * x + 3) / 6, 1.0)))


def _gelu_tanh_df(x):
    with np.errstate(over="ignore", invalid="ignore"):
        u2 = _gelu_tanh_u2(x)
        du2 = 2 * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_A * x * x)
        s, sm = sigmoid(u2), sigmoid(-u2)
        return s + _times(x * du2, s * sm)


def _step(cond, x, a, b):
    return _keep_nan(x, np.where(cond, a, b))


REFS: dict[str, Ref] = {
    "identity": Ref(
        lambda x: _f64(x),
        lambda x: _keep_nan(x, np.ones_like(_f64(x))),
        lambda y: _keep_nan(y, np.ones_like(_f64(y))),
    ),
    "binary_step": Ref(
        lambda x, threshold=0.0: _step(_f64(x) >= threshold, x, 1.0, 0.0),
        lambda x, threshold=0.0: _keep_nan(x, np.zeros_like(_f64(x))),
        lambda y, threshold=0.0: _keep_nan(y, np.zeros_like(_f64(y))),
        kinks=(0.0,),
    ),
    "sigmoid": Ref(
        sigmoid, lambda x: sigmoid(x) * sigmoid(-_f64(x)), lambda y: _f64(y) * (1 - _f64(y))
    ),
    "bipolar_sigmoid": Ref(
        lambda x: np.tanh(_f64(x) / 2),
        lambda x: 2 * sigmoid(x) * sigmoid(-_f64(x)),
        lambda y: 0.5 * (1 - _f64(y)) * (1 + _f64(y)),
    ),
    "tanh": Ref(lambda x: np.tanh(_f64(x)), sech2, lambda y: (1 - _f64(y)) * (1 + _f64(y))),
    "hardtanh": Ref(
        lambda x, min_val=-1.0, max_val=1.0: np.clip(_f64(x), min_val, max_val),
        lambda x, min_val=-1.0, max_val=1.0: _step((x > min_val) & (x < max_val), x, 1.0, 0.0),
        lambda y, min_val=-1.0, max_val=1.0: _step((y > min_val) & (y < max_val), y, 1.0, 0.0),
        kinks=(-1.0, 1.0),
    ),
    "relu": Ref(
        lambda x: np.where(_f64(x) < 0, 0.0, _f64(x)),
        lambda x: _step(_f64(x) > 0, x, 1.0, 0.0),
        lambda y: _step(_f64(y) > 0, y, 1.0, 0.0),
        kinks=(0.0,),
    ),
    "relu6": Ref(
        lambda x: np.clip(_f64(x), 0, 6),
        lambda x: _step((x > 0) & (x < 6), x, 1.0, 0.0),
        lambda y: _step((y > 0) & (y < 6), y, 1.0, 0.0),
        kinks=(0.0, 6.0),
    ),
    "leaky_relu": Ref(
        lambda x, negative_slope=0.01: np.where(_f64(x) > 0, x, negative_slope * _f64(x)),
        lambda x, negative_slope=0.01: _step(_f64(x) > 0, x, 1.0, negative_slope),
        lambda y, negative_slope=0.01: _step(_f64(y) > 0, y, 1.0, negative_slope),
        kinks=(0.0,),
    ),
    "elu": Ref(
        lambda x, alpha=1.0: np.where(_f64(x) > 0, x, alpha * np.expm1(_f64(x))),
        lambda x, alpha=1.0: np.where(_f64(x) > 0, 1.0, alpha * np.exp(np.minimum(_f64(x), 0))),
        lambda y, alpha=1.0: np.where(_f64(y) > 0, 1.0, _f64(y) + alpha),
        kinks=(0.0,),
    ),
    "selu": Ref(
        lambda x: SELU_SCALE * np.where(_f64(x) > 0, x, SELU_ALPHA * np.expm1(_f64(x))),
        lambda x: np.where(
            _f64(x) > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(_f64(x), 0))
        ),
        lambda y: np.where(_f64(y) > 0, SELU_SCALE, _f64(y) + SELU_SCALE * SELU_ALPHA),
        kinks=(0.0,),
    ),
    "celu": Ref(
        lambda x, alpha=1.0: np.where(_f64(x) > 0, x, alpha * np.expm1(_f64(x) / alpha)),
        lambda x, alpha=1.0: np.where(_f64(x) > 0, 1.0, np.exp(np.minimum(_f64(x), 0) / alpha)),
        lambda y, alpha=1.0: np.where(_f64(y) > 0, 1.0, _f64(y) / alpha + 1),
        kinks=(0.0,),
    ),
    "gelu": Ref(
        lambda x: _times(_f64(x), phi_cdf(x)), lambda x: phi_cdf(x) + _times(_f64(x), phi_pdf(x))
    ),
    "gelu_tanh": Ref(lambda x: _times(_f64(x), sigmoid(_gelu_tanh_u2(_f64(x)))), _gelu_tanh_df),
    "silu": Ref(lambda x: _times(_f64(x), sigmoid(x)), lambda x: _swish_df(_f64(x))),
    "swish": Ref(
        lambda x, beta=1.0: _times(_f64(x), sigmoid(beta * _f64(x))),
        lambda x, beta=1.0: _swish_df(_f64(x), beta),
    ),
    "mish": Ref(
        lambda x: _times(_f64(x), np.tanh(softplus_stable(x))), lambda x: _mish_df(_f64(x))
    ),
    "softplus": Ref(
        _softplus_f,
        lambda x, beta=1.0, threshold=20.0: np.where(
            beta * _f64(x) > threshold, 1.0, sigmoid(beta * _f64(x))
        ),
        lambda y, beta=1.0, threshold=20.0: np.where(
            beta * _f64(y) > threshold, 1.0, -np.expm1(-beta * _f64(y))
        ),
    ),
    "softsign": Ref(
        lambda x: np.where(np.isinf(x), np.sign(_f64(x)), _f64(x) / (1 + np.abs(_f64(x)))),
        lambda x: 1 / (1 + np.abs(_f64(x))) ** 2,
        lambda y: (1 - np.abs(_f64(y))) ** 2,
    ),
    "hardsigmoid": Ref(
        lambda x: np.clip((_f64(x) + 3) / 6, 0, 1),
        lambda x: _step((x > -3) & (x < 3), x, 1 / 6, 0.0),
        lambda y: _step((y > 0) & (y < 1), y, 1 / 6, 0.0),
        kinks=(-3.0, 3.0),
    ),
    "hardswish": Ref(
        lambda x: _times(_f64(x), np.clip((_f64(x) + 3) / 6, 0, 1)),
        _hardswish_df,
        kinks=(-3.0, 3.0),
    ),
    "logsigmoid": Ref(
        lambda x: -np.logaddexp(0.0, -_f64(x)),
        lambda x: sigmoid(-_f64(x)),
        lambda y: -np.expm1(_f64(y)),
    ),
}


# ---- non-elementwise ---------------------------------------------------------------------------


def prelu(x, weight):
    x, w = _f64(x), _f64(weight)
    wb = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if (w.size > 1 and x.ndim >= 2) else w.reshape(())
    return np.where(x > 0, x, wb * x)


def prelu_backward(dy, x, weight):
    dy, x, w = _f64(dy), _f64(x), _f64(weight)
    if w.size > 1 and x.ndim >= 2:
        wb = w.reshape((1, -1) + (1,) * (x.ndim - 2))
        axes = tuple(i for i in range(x.ndim) if i != 1)
    else:
        wb, axes = w.reshape(()), tuple(range(x.ndim))
    dx = dy * np.where(x > 0, 1.0, wb)
    dw = np.sum(np.where(x > 0, 0.0, dy * x), axis=axes).reshape(w.shape)
    return dx, dw


def softmax(x, axis=-1):
    x = _f64(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = _f64(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def softmax_backward(dy, y, axis=-1):
    dy, y = _f64(dy), _f64(y)
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax_backward(dy, y, axis=-1):
    dy, y = _f64(dy), _f64(y)
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def crelu(x, axis=-1):
    x = _f64(x)
    return np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=axis)


def crelu_backward(dy, x, axis=-1):
    x = _f64(x)
    dy1, dy2 = np.split(_f64(dy), 2, axis=axis)
    return dy1 * (x > 0) - dy2 * (x < 0)


def maxout(x, pieces, axis=-1):
    x = _f64(x)
    ax = axis % x.ndim
    g = x.reshape(x.shape[:ax] + (x.shape[ax] // pieces, pieces) + x.shape[ax + 1 :])
    return g.max(axis=ax + 1)


def maxout_backward(dy, x, pieces, axis=-1):
    x = _f64(x)
    ax = axis % x.ndim
    g = x.reshape(x.shape[:ax] + (x.shape[ax] // pieces, pieces) + x.shape[ax + 1 :])
    onehot = np.arange(pieces).reshape(
        (1,) * (ax + 1) + (pieces,) + (1,) * (x.ndim - ax - 1)
    ) == np.expand_dims(g.argmax(axis=ax + 1), ax + 1)
    return (onehot * np.expand_dims(_f64(dy), ax + 1)).reshape(x.shape)
