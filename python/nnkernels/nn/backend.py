"""The compute a model delegates: the nnkernels C++ kernels, or plain NumPy for comparison.

Both backends serve the same layer code (matrix products always go through NumPy's BLAS into
reused buffers). ``KernelBackend`` runs the fused C++ kernels; ``NumpyBackend`` writes the same
steps as the NumPy expressions a NumPy user would write (``np.maximum``, ``np.exp``, a mask from
``Generator.random``), for the demo's speed comparison and as an independent cross-check. The
NumPy backend covers the common activations, the three fused output losses and SGD/Adam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import _core, activations, losses, optim
from . import functional as F

# ---- activations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    """An elementwise activation resolved with its parameters."""

    name: str
    params: tuple  # ((name, value), ...)
    op: int
    p: tuple[float, float, float]
    from_output: bool

    @classmethod
    def of(cls, name: str | None, **params) -> Act:
        name = "identity" if name is None else name
        op, p, from_output = activations.kernel_of(name, **params)
        return cls(name, tuple(sorted(params.items())), op, p, from_output)

    @property
    def kwargs(self) -> dict:
        return dict(self.params)


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _elu_forward(x, a):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


_SELU_A, _SELU_S = 1.6732632423543772848, 1.0507009873554804934

# name -> (f(x, params), f'(x, params)) as a NumPy user writes them
_NUMPY_ACTS: dict[str, tuple[Callable, Callable]] = {
    "identity": (lambda x, k: x, lambda x, k: np.ones_like(x)),
    "relu": (lambda x, k: np.maximum(x, 0), lambda x, k: (x > 0).astype(x.dtype)),
    "leaky_relu": (
        lambda x, k: np.where(x > 0, x, k.get("negative_slope", 0.01) * x),
        lambda x, k: np.where(x > 0, 1, k.get("negative_slope", 0.01)).astype(x.dtype),
    ),
    "elu": (
        lambda x, k: _elu_forward(x, k.get("alpha", 1.0)),
        lambda x, k: np.where(x > 0, 1, k.get("alpha", 1.0) * np.exp(np.minimum(x, 0))).astype(
            x.dtype
        ),
    ),
    "selu": (
        lambda x, k: _SELU_S * _elu_forward(x, _SELU_A),
        lambda x, k: (
            _SELU_S * np.where(x > 0, 1, _SELU_A * np.exp(np.minimum(x, 0))).astype(x.dtype)
        ),
    ),
    "tanh": (lambda x, k: np.tanh(x), lambda x, k: 1 - np.tanh(x) ** 2),
    "sigmoid": (_sigmoid, lambda x, k: _sigmoid(x) * (1 - _sigmoid(x))),
    "softplus": (lambda x, k: np.logaddexp(0, x), lambda x, k: _sigmoid(x)),
    "silu": (
        lambda x, k: x * _sigmoid(x),
        lambda x, k: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
    ),
}


class KernelBackend:
    """The nnkernels C++ kernels."""

    name = "nnkernels"

    def check(self, layers, loss: str, optimizer: str, options: dict) -> None:
        """Raise ValueError for anything of a model this backend cannot run."""

    def check_activation(self, act: Act) -> None:
        pass

    def bias_act(self, z, bias, act: Act, out):
        """y = f(z + bias); returns (y, saved for the backward). z may be overwritten."""
        if act.from_output:  # in place: y saved
            _core.bias_act(act.op, z, bias, None, z, *act.p, "Dense")
            return z, z
        _core.bias_act(act.op, z, bias, z, out, *act.p, "Dense")
        return out, z

    def bias_act_backward(self, dy, saved, act: Act, dbias):
        """dz = dy f'(.) written into dy; dbias filled with its column sums."""
        _core.bias_act_backward(act.op, act.from_output, dy, saved, dy, dbias, *act.p, "Dense")
        return dy

    def act(self, x, act: Act, out):
        activations.get(act.name).forward(x, **act.kwargs, out=out)
        return out, (out if act.from_output else x)

    def act_backward(self, dy, saved, act: Act, out):
        key = "y" if act.from_output else "x"
        return activations.get(act.name).backward(dy, **{key: saved}, **act.kwargs, out=out)

    def dropout(self, x, p, seed, out, alpha=False, backward=False):
        if alpha:
            fn = F.alpha_dropout_backward if backward else F.alpha_dropout
        else:
            fn = F.dropout  # linear: its backward is itself with the same seed
        return fn(x, p, seed=seed, out=out)

    def loss(self, kind: str, logits, target, grad):
        """(mean loss, gradient written into grad) of the fused output loss."""
        name = "binary_cross_entropy_with_logits" if kind == "binary_cross_entropy" else kind
        return losses._fused_output(name, logits, target, grad)

    def optimizer(self, name: str, params, **options):
        return OPTIMIZERS[name](params, **options)


OPTIMIZERS = {
    "sgd": optim.SGD,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "adamax": optim.Adamax,
    "adagrad": optim.Adagrad,
    "adadelta": optim.Adadelta,
    "rmsprop": optim.RMSprop,
    "nadam": optim.NAdam,
    "radam": optim.RAdam,
    "lion": optim.Lion,
}


class _NumpySGD:
    def __init__(self, params, lr=0.01, momentum=0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, g, v in zip(self.params, grads, self.velocity):
            if self.momentum:
                v *= self.momentum
                v += g
                g = v
            p -= self.lr * g
        return True


class _NumpyAdam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return True


def _lacks(what: str, have=()) -> ValueError:
    listed = f" (it has {', '.join(sorted(have))})" if have else ""
    return ValueError(f"the numpy backend has no {what}{listed}; use backend='nnkernels'")


class NumpyBackend:
    """Plain NumPy expressions (the baseline a NumPy user would write)."""

    name = "numpy"

    _LOSSES = ("cross_entropy", "binary_cross_entropy", "mse")
    _OPTIONS = {"sgd": {"momentum"}, "adam": {"betas", "eps"}}

    def check(self, layers, loss: str, optimizer: str, options: dict) -> None:
        for layer in layers:
            if getattr(layer, "act", None) is not None:
                self.check_activation(layer.act)
            if getattr(layer, "alpha", False):
                raise _lacks("alpha dropout")
        if loss not in self._LOSSES:
            raise _lacks(f"{loss!r} loss", self._LOSSES)
        if optimizer not in self._OPTIONS:
            raise _lacks(f"{optimizer!r} optimizer", self._OPTIONS)
        unknown = set(options) - self._OPTIONS[optimizer]
        if unknown:
            raise _lacks(f"option {sorted(unknown)} for {optimizer}", self._OPTIONS[optimizer])

    def check_activation(self, act: Act) -> None:
        if act.name not in _NUMPY_ACTS:
            raise _lacks(f"{act.name!r} activation", _NUMPY_ACTS)

    def bias_act(self, z, bias, act: Act, out):
        z += bias
        return _NUMPY_ACTS[act.name][0](z, act.kwargs).astype(z.dtype, copy=False), z

    def bias_act_backward(self, dy, saved, act: Act, dbias):
        dz = dy * _NUMPY_ACTS[act.name][1](saved, act.kwargs)
        dbias[...] = dz.sum(axis=0)
        return dz

    def act(self, x, act: Act, out):
        return _NUMPY_ACTS[act.name][0](x, act.kwargs).astype(x.dtype, copy=False), x

    def act_backward(self, dy, saved, act: Act, out):
        return dy * _NUMPY_ACTS[act.name][1](saved, act.kwargs)

    def dropout(self, x, p, seed, out, alpha=False, backward=False):
        if alpha:
            raise _lacks("alpha dropout")
        keep = np.random.default_rng(seed).random(x.shape) >= p
        return x * keep / (1 - p) if p < 1 else np.zeros_like(x)

    def loss(self, kind: str, logits, target, grad):
        n = logits.shape[0]
        if kind == "cross_entropy":
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            rows = np.arange(n)
            loss = -log_p[rows, target].mean()
            g = np.exp(log_p)
            g[rows, target] -= 1
            return loss, g / n
        if kind == "binary_cross_entropy":
            loss = np.mean(np.logaddexp(0, logits) - target * logits)
            return loss, (_sigmoid(logits) - target) / logits.size
        if kind == "mse":
            d = logits - target
            return np.mean(d * d), 2 * d / d.size
        raise _lacks(f"{kind!r} loss", self._LOSSES)

    def optimizer(self, name: str, params, **options):
        if name == "adam":
            return _NumpyAdam(params, **options)
        if name == "sgd":
            return _NumpySGD(params, **options)
        raise _lacks(f"{name!r} optimizer", self._OPTIONS)


BACKENDS = {"nnkernels": KernelBackend, "numpy": NumpyBackend}


def backend(name: str):
    try:
        return BACKENDS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}") from None
