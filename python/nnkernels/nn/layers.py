"""Layers of nnkernels.nn: forward and backward by the chain rule over (batch, features) arrays.

A layer is built once the input width is known (``build``), owns its parameters (``params``)
and their gradients (``grads``, arrays filled by ``backward``), and keeps its output and gradient
buffers between batches (one set per batch shape), so training allocates nothing per batch in
the steady state. Dense fuses its bias and activation into one kernel pass.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from .backend import Act

__all__ = [
    "Layer",
    "Dense",
    "Activation",
    "PReLU",
    "RReLU",
    "Maxout",
    "CReLU",
    "Dropout",
    "AlphaDropout",
    "Softmax",
    "LogSoftmax",
    "LAYERS",
]


class Layer:
    """Base class. Subclasses set ``config()`` (constructor arguments, for save/load)."""

    def __init__(self):
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.param_names: list[str] = []
        self.built = False
        self._buffers: dict = {}

    def build(self, in_features: int, dtype, rng: np.random.Generator, backend) -> int:
        """Create parameters for ``in_features`` inputs; return the output width."""
        self.dtype, self.rng, self.backend = np.dtype(dtype), rng, backend
        self.in_features = in_features
        self.built = True
        return self.out_features(in_features)

    def out_features(self, in_features: int) -> int:
        return in_features

    def buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A reused array of this shape (one per name and shape)."""
        key = (name, shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty(shape, self.dtype)
        return buf

    def _add_param(self, name: str, value: np.ndarray) -> None:
        self.params.append(np.ascontiguousarray(value, dtype=self.dtype))
        self.grads.append(np.zeros_like(self.params[-1]))
        self.param_names.append(name)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Fill ``grads`` and return dL/dx (None when not needed). May overwrite dy."""
        raise NotImplementedError

    def penalty(self) -> float:
        return 0.0

    # Pickling keeps parameters and settings, not the per-batch buffers and saved activations.
    _TRANSIENT = ("_x", "_saved", "_y", "_slopes", "_seed", "_active")

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}
        state["_buffers"] = {}
        return state

    def config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


# ---- Dense ------------------------------------------------------------------------------------

_HE = {
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "hardswish",
    "softplus",
    "prelu",
    "rrelu",
    "crelu",
    "maxout",
}
_LECUN = {"selu"}


def init_scheme(activation: str | None) -> str:
    """He normal for the ReLU family, LeCun normal for SELU, Glorot uniform otherwise (tanh,
    sigmoid, identity, ...)."""
    if activation in _HE:
        return "he"
    if activation in _LECUN:
        return "lecun"
    return "glorot"


def init_weights(scheme: str, fan_in: int, fan_out: int, rng, dtype) -> np.ndarray:
    if scheme == "he":
        w = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
    elif scheme == "lecun":
        w = rng.standard_normal((fan_in, fan_out)) * math.sqrt(1.0 / fan_in)
    elif scheme == "glorot":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, (fan_in, fan_out))
    else:
        raise ValueError(f"init must be 'he', 'lecun', 'glorot' or None, got {scheme!r}")
    return w.astype(dtype)


def real(owner: str, name: str, v) -> float:
    """v as a float: TypeError unless a real number (bools refused), ValueError for NaN."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}{name} must be a real number, got {v!r}")
    if math.isnan(v):
        raise ValueError(f"{owner}{name} must not be NaN")
    return float(v)


def regularizer(name: str, v) -> float | None:
    """A penalty weight: None (unset) or a finite number >= 0."""
    if v is None:
        return None
    v = real("", name, v)
    if not 0 <= v < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


class Dense(Layer):
    """``y = f(x @ W + b)``: the matmul through BLAS into a reused buffer, then bias and
    activation in one fused kernel pass (every elementwise activation; None is identity).

    Parameters
    ----------
    units : int
        Output width.
    activation : str, optional
        Elementwise activation name, its parameters as keywords (``negative_slope=0.2``).
    init : {'he', 'glorot', 'lecun'}, optional
        Weight initialisation; default matched to the activation (He for the ReLU family,
        LeCun normal for SELU, Glorot uniform for tanh/sigmoid/none). Biases start at 0.
    l1, l2 : float, optional
        Penalties ``l1 * sum|W| + l2 / 2 * sum(W^2)`` on the weights (not the bias); default:
        the model's.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        *,
        init=None,
        l1=None,
        l2=None,
        **activation_params,
    ):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activation
        self.activation_params = activation_params
        self.act = Act.of(activation, **activation_params)
        self.init = init
        if init is not None:
            init_weights(init, 1, 1, np.random.default_rng(0), np.float64)  # checks the name
        self.l1 = regularizer("l1", l1)
        self.l2 = regularizer("l2", l2)

    def out_features(self, in_features):
        return self.units

    def build(self, in_features, dtype, rng, backend, l1=0.0, l2=0.0):
        out = super().build(in_features, dtype, rng, backend)
        backend.check_activation(self.act)
        scheme = self.init or init_scheme(self.activation)
        self._add_param("W", init_weights(scheme, in_features, self.units, rng, self.dtype))
        self._add_param("b", np.zeros(self.units))
        self._l1 = l1 if self.l1 is None else self.l1
        self._l2 = l2 if self.l2 is None else self.l2
        return out

    def forward(self, x, training):
        w, b = self.params
        rows = x.shape[0]
        z = self.buffer("z", (rows, self.units))
        np.matmul(x, w, out=z)
        y, self._saved = self.backend.bias_act(z, b, self.act, self.buffer("y", z.shape))
        self._x = x
        return y

    def backward(self, dy, need_dx=True):
        w, _ = self.params
        dw, db = self.grads
        dz = self.backend.bias_act_backward(dy, self._saved, self.act, db)
        np.matmul(self._x.T, dz, out=dw)
        if self._l2:
            tmp = self.buffer("reg", w.shape)
            np.multiply(w, self._l2, out=tmp)
            dw += tmp
        if self._l1:
            tmp = self.buffer("reg", w.shape)
            np.sign(w, out=tmp)
            tmp *= self._l1
            dw += tmp
        if not need_dx:
            return None
        dx = self.buffer("dx", self._x.shape)
        np.matmul(dz, w.T, out=dx)
        return dx

    def penalty(self):
        w = self.params[0].ravel()
        value = 0.0
        if self._l2:
            value += 0.5 * self._l2 * float(np.dot(w, w))
        if self._l1:
            value += self._l1 * float(np.abs(w).sum())
        return value

    def config(self):
        c = {"units": self.units, "activation": self.activation, **self.activation_params}
        for k in ("init", "l1", "l2"):
            if getattr(self, k) is not None:
                c[k] = getattr(self, k)
        return c


# ---- activation layers ------------------------------------------------------------------------


class Activation(Layer):
    """An elementwise activation by name (``Activation("gelu", approximate="tanh")``); the
    backward uses the saved output where the derivative allows, else the input."""

    def __init__(self, activation: str = "relu", **params):
        super().__init__()
        self.activation, self.activation_params = activation, params
        self.act = Act.of(activation, **params)

    def build(self, in_features, dtype, rng, backend, **_):
        out = super().build(in_features, dtype, rng, backend)
        backend.check_activation(self.act)
        return out

    def forward(self, x, training):
        y, self._saved = self.backend.act(x, self.act, self.buffer("y", x.shape))
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return self.backend.act_backward(dy, self._saved, self.act, self.buffer("dx", dy.shape))

    def config(self):
        return {"activation": self.activation, **self.activation_params}


def _named_activation(class_name: str, activation: str) -> type:
    """A layer class for one activation: ``ReLU()``, ``LeakyReLU(negative_slope=0.2)``."""

    def __init__(self, **params):
        Activation.__init__(self, activation, **params)

    def config(self):
        return dict(self.activation_params)

    doc = f"The {activation} activation as a layer (parameters as keywords)."
    return type(class_name, (Activation,), {"__init__": __init__, "config": config, "__doc__": doc})


# class name -> activation name, one per elementwise activation
NAMED_ACTIVATIONS = {
    "Identity": "identity",
    "BinaryStep": "binary_step",
    "Sigmoid": "sigmoid",
    "BipolarSigmoid": "bipolar_sigmoid",
    "Tanh": "tanh",
    "Hardtanh": "hardtanh",
    "ReLU": "relu",
    "ReLU6": "relu6",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "SELU": "selu",
    "CELU": "celu",
    "GELU": "gelu",
    "SiLU": "silu",
    "Swish": "swish",
    "Mish": "mish",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "Hardsigmoid": "hardsigmoid",
    "Hardswish": "hardswish",
    "LogSigmoid": "logsigmoid",
}
for _cls, _act in NAMED_ACTIVATIONS.items():
    globals()[_cls] = _named_activation(_cls, _act)
    __all__.append(_cls)
del _cls, _act


class PReLU(Layer):
    """PReLU with a learnable slope per feature (``shared=True``: one slope), initial 0.25."""

    def __init__(self, init: float = 0.25, shared: bool = False):
        super().__init__()
        if not isinstance(shared, (bool, np.bool_)):
            raise TypeError(f"PReLU: shared must be a bool, got {shared!r}")
        self.init, self.shared = real("PReLU: ", "init", init), bool(shared)
        if math.isinf(self.init):
            raise ValueError(f"PReLU: init must be finite, got {init!r}")

    def build(self, in_features, dtype, rng, backend, **_):
        out = super().build(in_features, dtype, rng, backend)
        self._add_param("weight", np.full(1 if self.shared else in_features, self.init))
        return out

    def forward(self, x, training):
        self._x = x
        return activations.prelu(x, self.params[0], out=self.buffer("y", x.shape))

    def backward(self, dy, need_dx=True):
        dx, dw = activations.prelu_backward(
            dy, self._x, self.params[0], out=self.buffer("dx", dy.shape)
        )
        self.grads[0][...] = dw
        return dx if need_dx else None

    def config(self):
        return {"init": self.init, "shared": self.shared}


class RReLU(Layer):
    """Randomized leaky ReLU: slopes drawn from [lower, upper] per element in training (from the
    layer's generator), the mean slope in evaluation."""

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3):
        super().__init__()
        self.lower, self.upper = real("RReLU: ", "lower", lower), real("RReLU: ", "upper", upper)
        activations.rrelu(np.zeros(1), self.lower, self.upper)  # checks the bounds

    def forward(self, x, training):
        self._x, self._slopes = x, None
        if training:
            y, self._slopes = activations.rrelu(
                x,
                self.lower,
                self.upper,
                training=True,
                rng=self.rng,
                out=self.buffer("y", x.shape),
            )
            return y
        return activations.rrelu(x, self.lower, self.upper, out=self.buffer("y", x.shape))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return activations.rrelu_backward(
            dy,
            x=self._x,
            slopes=self._slopes,
            lower=self.lower,
            upper=self.upper,
            out=self.buffer("dx", dy.shape),
        )

    def config(self):
        return {"lower": self.lower, "upper": self.upper}


class Maxout(Layer):
    """Maxout over groups of ``pieces`` consecutive features (the width must be a multiple)."""

    def __init__(self, pieces: int = 2):
        super().__init__()
        if isinstance(pieces, (bool, np.bool_)) or not isinstance(pieces, (int, np.integer)):
            raise TypeError(f"Maxout: pieces must be an integer, got {pieces!r}")
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be a positive integer, got {pieces!r}")
        self.pieces = int(pieces)

    def out_features(self, in_features):
        if in_features % self.pieces:
            raise ValueError(
                f"Maxout: {in_features} input features is not a multiple of pieces={self.pieces}"
            )
        return in_features // self.pieces

    def forward(self, x, training):
        self._x = x
        return activations.maxout(
            x, self.pieces, out=self.buffer("y", (x.shape[0], x.shape[1] // self.pieces))
        )

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return activations.maxout_backward(
            dy, self._x, self.pieces, out=self.buffer("dx", self._x.shape)
        )

    def config(self):
        return {"pieces": self.pieces}


class CReLU(Layer):
    """Concatenated ReLU: ``[relu(x), relu(-x)]``, doubling the width."""

    def out_features(self, in_features):
        return 2 * in_features

    def forward(self, x, training):
        self._x = x
        return activations.crelu(x, out=self.buffer("y", (x.shape[0], 2 * x.shape[1])))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return activations.crelu_backward(dy, self._x, out=self.buffer("dx", self._x.shape))


class _Rowwise(Layer):
    log = False

    def forward(self, x, training):
        fn = activations.log_softmax if self.log else activations.softmax
        self._y = fn(x, out=self.buffer("y", x.shape))
        return self._y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        fn = activations.log_softmax_backward if self.log else activations.softmax_backward
        return fn(dy, y=self._y, out=self.buffer("dx", dy.shape))


class Softmax(_Rowwise):
    """Softmax over the features (not needed before the cross-entropy loss, which fuses it)."""


class LogSoftmax(_Rowwise):
    """Log-softmax over the features."""

    log = True


# ---- dropout ----------------------------------------------------------------------------------


class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` in training, identity in evaluation. Each
    batch's mask seed is drawn from the layer's generator (derived from the model's ``rng``)."""

    alpha = False

    def __init__(self, p: float = 0.5):
        super().__init__()
        from .functional import dropout_threshold

        name = type(self).__name__
        dropout_threshold(name, p)
        if p >= 1:  # the kernels allow p = 1; a layer that drops everything trains nothing
            raise ValueError(f"{name}: p must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x, training):
        self._active = training and self.p > 0
        if not self._active:
            return x
        self._seed = int(self.rng.integers(0, 2**63))
        return self.backend.dropout(x, self.p, self._seed, self.buffer("y", x.shape), self.alpha)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if not self._active:
            return dy
        return self.backend.dropout(dy, self.p, self._seed, dy, self.alpha, backward=True)

    def config(self):
        return {"p": self.p}


class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks: keeps mean 0 and variance 1 of the activations."""

    alpha = True


LAYERS = {
    cls.__name__: cls
    for cls in [
        Dense,
        Activation,
        PReLU,
        RReLU,
        Maxout,
        CReLU,
        Dropout,
        AlphaDropout,
        Softmax,
        LogSoftmax,
    ]
}
LAYERS.update({name: globals()[name] for name in NAMED_ACTIVATIONS})
