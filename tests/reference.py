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
        # x >= 0 takes x: elu(-0) = -0 for either sign of alpha, as PyTorch (alpha expm1(-0)
        # would be +0 for alpha < 0).
        lambda x, alpha=1.0: np.where(_f64(x) >= 0, x, alpha * np.expm1(_f64(x))),
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
    return _log_softmax_rows(_f64(x), axis)


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


# ---- losses ------------------------------------------------------------------------------------
# Per-element (pointwise) or per-row (row-wise, classes on the last axis) loss values, unweighted
# and unreduced, with the gradient of each value with respect to pred: (values, grad).

LN2 = math.log(2.0)


def _sign(d):
    return np.where(np.isnan(d), np.nan, np.sign(d))


def _pos(m):
    return np.where(np.isnan(m), np.nan, np.maximum(m, 0.0))


def _xlogx(t):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, t * np.log(np.where(t == 0, 1.0, t)))


def loss_mse(p, t):
    d = _f64(p) - _f64(t)
    return d * d, 2 * d


def loss_mae(p, t):
    d = _f64(p) - _f64(t)
    return np.abs(d), _sign(d)


def loss_mbe(p, t):
    d = _f64(t) - _f64(p)
    return d, _keep_nan(d, -1.0)


def loss_huber(p, t, delta=1.0):
    d = _f64(p) - _f64(t)
    a = np.abs(d)
    return (
        np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)),
        np.where(a <= delta, d, delta * _sign(d)),
    )


def loss_smooth_l1(p, t, beta=1.0):
    d = _f64(p) - _f64(t)
    a = np.abs(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta),
            np.where(a < beta, d / beta, _sign(d)),
        )


def loss_log_cosh(p, t):
    d = _f64(p) - _f64(t)
    a = np.abs(d)
    with np.errstate(over="ignore", invalid="ignore"):
        small = np.log1p(2 * np.sinh(np.minimum(a, 1.0) / 2) ** 2)
        large = a - LN2 + np.log1p(np.exp(-2 * a))
    return np.where(a < 1, small, large), np.tanh(d)


def loss_mape(p, t, eps=1e-7):
    d = _f64(p) - _f64(t)
    den = np.maximum(np.abs(_f64(t)), eps)
    return 100 * np.abs(d) / den, 100 * _sign(d) / den


def loss_msle(p, t):
    p = _f64(p)
    d = np.log1p(p) - np.log1p(_f64(t))
    return d * d, 2 * d / (1 + p)


def loss_poisson(p, t, log_input=True, full=False, eps=1e-8):
    p, t = _f64(p), _f64(t)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if log_input:
            v, g = np.exp(p) - t * p, np.exp(p) - t
        else:
            v, g = p - t * np.log(p + eps), 1 - t / (p + eps)
        if full:
            ts = np.where(t > 1, t, 2.0)
            v = v + np.where(t > 1, ts * np.log(ts) - ts + 0.5 * np.log(2 * math.pi * ts), 0.0)
    return v, g


def loss_binary_cross_entropy(p, t):
    p, t = _f64(p), _f64(t)
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        lq = np.maximum(np.log1p(-p), -100.0)
    return -(t * lp + (1 - t) * lq), (p - t) / np.maximum(p * (1 - p), 1e-12)


def loss_binary_cross_entropy_with_logits(x, t, pos_weight=None):
    x, t = _f64(x), _f64(t)
    pw = 1.0 if pos_weight is None else pos_weight
    # -(pw t log sigma(x) + (1 - t) log sigma(-x)) and its derivative
    with np.errstate(invalid="ignore"):
        value = pw * t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
        return value, (1 - t) * sigmoid(x) - pw * t * sigmoid(-x)


def loss_hinge(p, t):
    p, t = _f64(p), _f64(t)
    m = 1 - t * p
    return _pos(m), np.where(m > 0, -t, _keep_nan(m, 0.0))


def loss_squared_hinge(p, t):
    p, t = _f64(p), _f64(t)
    h = _pos(1 - t * p)
    return h * h, -2 * t * h


def loss_binary_focal_loss(x, t, gamma=2.0, alpha=0.25):
    x, t = _f64(x), _f64(t)
    sp, sn = sigmoid(x), sigmoid(-x)
    m = t * sn + (1 - t) * sp
    with np.errstate(invalid="ignore"):
        ce = t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
    at = 1.0 if alpha < 0 else alpha * t + (1 - alpha) * (1 - t)
    with np.errstate(divide="ignore", invalid="ignore"):
        mg = m**gamma
        dm = (1 - 2 * t) * sp * sn  # (1 - p_t)'; the gamma term is 0 where ce or dm is
        gamma_term = np.where((ce == 0) | (dm == 0), 0.0, gamma * (ce / m) * dm)
        g = at * mg * (((1 - t) * sp - t * sn) + gamma_term)
    return at * ce * mg, g


def loss_kl_div(x, t, log_target=False):
    x, t = _f64(x), _f64(t)
    if log_target:
        return np.exp(t) * (t - x), -np.exp(t)
    return _xlogx(t) - t * x, -t


def _log_softmax_rows(z, axis=-1):
    """z - m - log S, S = sum e^(z - m) >= 1, with log S = log1p(S - 1) and S - 1 summed from
    the terms other than the 1s: a confident row's S - 1 is tiny, and adding it to 1 first
    would leave it with an absolute error of about n 1e-16."""
    m = np.max(z, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(z - m)
        ones = np.sum(e == 1, axis=axis, keepdims=True)
        s1 = (ones - 1) + np.sum(np.where(e == 1, 0.0, e), axis=axis, keepdims=True)
        return z - m - np.log1p(s1)


def _onehot(labels, classes):
    return (np.arange(classes) == np.asarray(labels)[..., None]).astype(np.float64)


def loss_cross_entropy(z, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Rows of logits z (..., C); target labels (...) or probabilities (..., C)."""
    z = _f64(z)
    C = z.shape[-1]
    w = np.ones(C) if weight is None else _f64(weight)
    labels = np.asarray(target).shape != z.shape
    if labels:
        keep = np.asarray(target) != ignore_index
        t = _onehot(np.where(keep, target, 0), C)
        # (1 - eps) w_y onehot + eps/C w_c
        wt = (1 - label_smoothing) * t * np.sum(w * t, axis=-1, keepdims=True)
        wt = wt + label_smoothing / C * w
        wt = wt * keep[..., None]
    else:
        wt = w * ((1 - label_smoothing) * _f64(target) + label_smoothing / C)
    lsm = _log_softmax_rows(z)
    with np.errstate(invalid="ignore"):
        v = -np.sum(np.where(wt == 0, 0.0, wt * lsm), axis=-1)
        g = np.exp(lsm) * np.sum(wt, axis=-1, keepdims=True) - wt
    return v, g


def ce_mean_count(target, z_shape, weight=None, ignore_index=-100):
    """PyTorch's mean denominator: sum of w[y] over non-ignored labels, or the row count."""
    if np.asarray(target).shape == tuple(z_shape):
        return float(np.prod(z_shape[:-1]))
    y = np.asarray(target).reshape(-1)
    y = y[y != ignore_index]
    return float(len(y) if weight is None else np.sum(_f64(weight)[y]))


def loss_nll_loss(x, target, weight=None, ignore_index=-100):
    x = _f64(x)
    C = x.shape[-1]
    w = np.ones(C) if weight is None else _f64(weight)
    keep = np.asarray(target) != ignore_index
    t = _onehot(np.where(keep, target, 0), C) * keep[..., None]
    wt = t * w
    return -np.sum(wt * x, axis=-1), -wt


def loss_categorical_cross_entropy(p, t, label_smoothing=0.0, eps=1e-7):
    p = _f64(p)
    C = p.shape[-1]
    t = (1 - label_smoothing) * _f64(t) + label_smoothing / C
    S = np.sum(p, axis=-1, keepdims=True)
    q = p / S
    inside = (q >= eps) & (q <= 1 - eps)
    qc = np.clip(q, eps, 1 - eps)
    v = -np.sum(np.where(t == 0, 0.0, t * np.log(qc)), axis=-1)
    G = np.where(inside, -t / qc, 0.0)
    return v, (G - np.sum(G * q, axis=-1, keepdims=True)) / S


def loss_sparse_categorical_cross_entropy(p, labels, eps=1e-7):
    return loss_categorical_cross_entropy(p, _onehot(labels, _f64(p).shape[-1]), eps=eps)


def loss_cosine_similarity(p, t, eps=1e-12):
    p, t = _f64(p), _f64(t)
    pp = np.sum(p * p, axis=-1, keepdims=True)
    tt = np.sum(t * t, axis=-1, keepdims=True)
    na, nb = np.sqrt(np.maximum(pp, eps)), np.sqrt(np.maximum(tt, eps))
    cos = np.sum(p * t, axis=-1, keepdims=True) / (na * nb)
    g = -t / (na * nb) + np.where(pp > eps, cos / (na * na), 0.0) * p
    return -cos[..., 0], g


def loss_categorical_hinge(p, t):
    p, t = _f64(p), _f64(t)
    pos = np.sum(t * p, axis=-1)
    negs = (1 - t) * p
    j = np.argmax(negs, axis=-1)
    m = np.take_along_axis(negs, j[..., None], axis=-1)[..., 0] - pos + 1
    active = (m > 0)[..., None]
    g = np.where(active, -t + _onehot(j, p.shape[-1]) * (1 - t), 0.0)
    return np.maximum(m, 0.0), g


LOSS_REFS: dict[str, Callable] = {
    name[len("loss_") :]: fn for name, fn in list(globals().items()) if name.startswith("loss_")
}
