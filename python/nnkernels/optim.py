"""Optimizers that update lists of NumPy arrays in place, one fused C++ pass per step.

``opt = Adam(params, lr=1e-3)`` takes a list of writeable C-contiguous float32/float64 arrays;
``opt.step(grads)`` updates every array and its state in ONE C++ call, with one parallel region
spread over all arrays. Defaults follow PyTorch's ``torch.optim``. Every hyperparameter is an
attribute (``opt.lr = 1e-4``), checked when set.

Options shared by every optimizer:

- ``weight_decay``: L2 regularization, coupled (``g += weight_decay * p``), or decoupled
  (``p *= 1 - lr * weight_decay`` before the update) with ``decoupled_weight_decay=True`` (the
  default of AdamW and Lion).
- ``l1``: L1 regularization as a *proximal* step (soft thresholding): after the update,
  ``p = sign(p) * max(|p| - lr * l1, 0)``. It sets small weights exactly to zero, which the
  subgradient ``g += l1 * sign(p)`` never does. The threshold uses the base ``lr``, not the
  per-element adaptive rate of Adam and friends.
- ``clip_value``: gradients clamped to ``[-clip_value, clip_value]``; ``max_grad_norm``: then
  scaled by ``min(1, max_grad_norm / (norm + 1e-6))``, norm the global L2 norm over all arrays
  (as ``torch.nn.utils.clip_grad_norm_``; computed in one deterministic C++ reduction). Gradient
  arrays are never modified.
- ``maximize``: ascend instead of descend.
- ``skip_nonfinite``: when any gradient element is inf/NaN, skip the whole step for all arrays
  (``step`` returns False, ``skipped_steps`` counts them). By default the step proceeds, as in
  PyTorch.

Learning-rate schedules: :class:`StepLR`, :class:`ExponentialLR`, :class:`CosineAnnealingLR`,
:class:`LinearLR` (linear warm-up), :class:`ReduceLROnPlateau`. Single-array functional forms:
``nnkernels.optim.functional`` (``adam_(param, grad, exp_avg, exp_avg_sq, step, ...)``).
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core

__all__ = [
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adamax",
    "Adadelta",
    "NAdam",
    "RAdam",
    "Lion",
    "Optimizer",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "ReduceLROnPlateau",
    "global_grad_norm",
    "functional",
]

_OPS: dict[str, int] = _core.OPTIMIZERS


# ---- hyperparameter checks: name -> (kind, bound) ------------------------------------------


def _real(name: str, v) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    v = float(v)
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def _at_least_zero(name, v):
    v = _real(name, v)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def _positive(name, v):
    v = _real(name, v)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    return v


def _unit(name, v):  # [0, 1)
    v = _real(name, v)
    if not 0 <= v < 1:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def _closed_unit(name, v):  # [0, 1]
    v = _real(name, v)
    if not 0 <= v <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {v}")
    return v


def _betas(name, v):
    try:
        b1, b2 = v
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {v!r}") from None
    return (_unit(f"{name}[0]", b1), _unit(f"{name}[1]", b2))


def _any_real(name, v):
    return _real(name, v)


def _optional_positive(name, v):
    return None if v is None else _positive(name, v)


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {v!r}")
    return bool(v)


_CHECKS = {
    "lr": _at_least_zero,
    "momentum": _at_least_zero,
    "dampening": _any_real,
    "weight_decay": _at_least_zero,
    "eps": _positive,
    "betas": _betas,
    "alpha": _unit,
    "rho": _closed_unit,
    "lr_decay": _at_least_zero,
    "initial_accumulator_value": _at_least_zero,
    "momentum_decay": _at_least_zero,
    "l1": _at_least_zero,
    "clip_value": _optional_positive,
    "max_grad_norm": _optional_positive,
}

# Options every optimizer takes, with their defaults.
_COMMON = {
    "weight_decay": 0.0,
    "decoupled_weight_decay": False,
    "l1": 0.0,
    "clip_value": None,
    "max_grad_norm": None,
    "maximize": False,
    "skip_nonfinite": False,
}


def _checked(name: str, value):
    return _CHECKS.get(name, _flag)(name, value)


def _param_list(params, what: str = "params") -> list[np.ndarray]:
    if isinstance(params, np.ndarray):
        params = [params]
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{what}[{i}] must be a numpy.ndarray, got {type(p).__name__}")
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(f"{what}[{i}] has dtype {p.dtype}; expected float32 or float64")
        if not p.flags.writeable:
            raise ValueError(f"{what}[{i}] is read-only")
        if not p.flags.c_contiguous:
            raise ValueError(f"{what}[{i}] is not C-contiguous")
    return params


# ---- the optimizers --------------------------------------------------------------------------


class Optimizer:
    """Base class: hyperparameters as checked attributes, state slots, one C++ call per step.

    A subclass names its C++ kernel (``kernel``), its defaults (``defaults``), its state slots
    (``slots(h)``, in the C++ struct's order; None for a slot not in use) and the kernel's
    hyperparameters for update ``t`` (``kernel_hyper(h, t, scalars)``).
    """

    kernel = ""
    defaults: dict[str, Any] = {}
    scalar_state: dict[str, float] = {}  # per-optimizer scalar state (NAdam's mu_product)

    def __init__(self, params, **hyper):
        h = {**self.defaults, **{k: v for k, v in _COMMON.items() if k not in self.defaults}}
        unknown = set(hyper) - set(h)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)}")
        h.update(hyper)
        object.__setattr__(self, "_hyper", {})
        for k, v in h.items():
            self._hyper[k] = _checked(k, v)
        self._check_combination(self._hyper)
        self.params = _param_list(params)
        self.state: dict[str, list[np.ndarray]] = {}
        self.scalars = dict(self.scalar_state)
        self.step_count = 0
        self.skipped_steps = 0
        self.last_grad_norm: float | None = None
        self._ensure_state()

    # hyperparameters read and written as attributes, checked on write
    def __getattr__(self, name):
        h = self.__dict__.get("_hyper")
        if h is not None and name in h:
            return h[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        h = self.__dict__.get("_hyper")
        if h is not None and name in h:
            new = {**h, name: _checked(name, value)}
            self._check_combination(new)
            h[name] = new[name]
        else:
            object.__setattr__(self, name, value)

    @property
    def hyper(self) -> dict[str, Any]:
        """A copy of the hyperparameters."""
        return dict(self._hyper)

    @staticmethod
    def _check_combination(h):
        pass

    slot_names: tuple[str, ...] = ()

    @classmethod
    def slots(cls, h) -> list[str | None]:
        return list(cls.slot_names)

    def slot_init(self, name: str) -> float:
        return 0.0

    @classmethod
    def kernel_hyper(cls, h, t: int, scalars: dict) -> dict:
        return {**_betas_hyper(h), "step": t}

    def _ensure_state(self):
        for name in self.slots(self._hyper):
            if name is not None and name not in self.state:
                fill = self.slot_init(name)
                self.state[name] = [np.full_like(p, fill) for p in self.params]

    def _slot_lists(self) -> list[list[np.ndarray]]:
        return [[] if n is None else self.state[n] for n in self.slots(self._hyper)]

    def step(self, grads) -> bool:
        """Update every parameter in place from ``grads`` (a list matching ``params``).

        Returns True when the step was applied, False when ``skip_nonfinite`` skipped it.
        """
        if isinstance(grads, np.ndarray):
            grads = [grads]
        self._ensure_state()
        h = self._hyper
        t = self.step_count + 1
        kh = {**_common_hyper(h), **self.kernel_hyper(h, t, self.scalars)}
        new_scalars = kh.pop("_scalars", None)
        applied, norm = _core.optim_step(
            _OPS[self.kernel],
            self.params,
            grads,
            self._slot_lists(),
            kh,
            h["max_grad_norm"] or 0.0,
            h["skip_nonfinite"],
            f"{type(self).__name__}.step",
        )
        self.last_grad_norm = norm
        if applied:
            self.step_count = t
            if new_scalars:
                self.scalars.update(new_scalars)
        else:
            self.skipped_steps += 1
        return applied

    def state_dict(self) -> dict:
        """Hyperparameters, step counts and copies of every state array."""
        return {
            "optimizer": type(self).__name__,
            "hyper": dict(self._hyper),
            "step_count": self.step_count,
            "skipped_steps": self.skipped_steps,
            "scalars": dict(self.scalars),
            "state": {k: [a.copy() for a in v] for k, v in self.state.items()},
        }

    def load_state_dict(self, sd: dict) -> None:
        """Restore a :meth:`state_dict` exactly. Everything is checked before anything changes."""
        if sd.get("optimizer") != type(self).__name__:
            raise ValueError(f"state_dict is for {sd.get('optimizer')}, not {type(self).__name__}")
        hyper = {k: _checked(k, v) for k, v in sd["hyper"].items()}
        if set(hyper) != set(self._hyper):
            raise ValueError("state_dict hyperparameters do not match this optimizer")
        self._check_combination(hyper)
        for name, arrays in sd["state"].items():
            if len(arrays) != len(self.params):
                raise ValueError(
                    f"state {name!r} has {len(arrays)} arrays for {len(self.params)} parameters"
                )
            for i, (a, p) in enumerate(zip(arrays, self.params)):
                a = np.asarray(a)
                if a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(
                        f"state {name!r}[{i}] has shape {a.shape} and dtype {a.dtype}; "
                        f"expected {p.shape} {p.dtype}"
                    )
        self._hyper.update(hyper)
        self.state = {
            k: [np.array(a, dtype=p.dtype, order="C") for a, p in zip(v, self.params)]
            for k, v in sd["state"].items()
        }
        self.step_count = int(sd["step_count"])
        self.skipped_steps = int(sd.get("skipped_steps", 0))
        self.scalars = dict(sd.get("scalars", {}))
        self._ensure_state()

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({len(self.params)} arrays, {opts})"


def _common_hyper(h) -> dict:
    """The kernel's share of the options every optimizer takes."""
    decoupled = h["decoupled_weight_decay"]
    wd = h["weight_decay"]
    return {
        "lr": h["lr"],
        "weight_decay": 0.0 if decoupled else wd,
        "decay": 1.0 - h["lr"] * wd if decoupled else 1.0,
        "l1": h["lr"] * h["l1"],
        "grad_scale": -1.0 if h["maximize"] else 1.0,
        "clip_value": math.inf if h["clip_value"] is None else h["clip_value"],
    }


def _betas_hyper(h) -> dict:
    b1, b2 = h["betas"]
    return {"beta1": b1, "beta2": b2, "eps": h.get("eps", 0.0)}


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening and Nesterov momentum.

    Batch, mini-batch and stochastic descent are the same step on different batches.
    ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on the first step);
    ``p -= lr * (g + momentum * buf if nesterov else buf)``. State: ``momentum_buffer``.
    """

    kernel = "sgd"
    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False}

    @staticmethod
    def _check_combination(h):
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and zero dampening")

    @classmethod
    def slots(cls, h):
        return ["momentum_buffer"] if h["momentum"] != 0 else []

    def _ensure_state(self):
        # The buffer starts as the first gradient it sees, also when momentum is switched on
        # after some steps: the kernel's "first step" counts from its creation.
        if self._hyper["momentum"] != 0 and "momentum_buffer" not in self.state:
            self.scalars["momentum_from"] = self.step_count
        super()._ensure_state()

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        return {
            "momentum": h["momentum"],
            "dampening": h["dampening"],
            "nesterov": h["nesterov"],
            "step": t - scalars.get("momentum_from", 0),
        }


class Adagrad(Optimizer):
    """Adagrad: ``sum += g^2``; ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)``.

    State: ``sum`` (starts at ``initial_accumulator_value``).
    """

    kernel = "adagrad"
    defaults = {"lr": 1e-2, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}

    slot_names = ("sum",)

    def slot_init(self, name):
        return self._hyper["initial_accumulator_value"]

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        return {"lr_decay": h["lr_decay"], "eps": h["eps"], "step": t}


class RMSprop(Optimizer):
    """RMSprop: ``v = alpha v + (1 - alpha) g^2``; centered subtracts the squared mean gradient;
    with momentum, ``buf = momentum buf + g / (sqrt(v) + eps)``, ``p -= lr buf``.

    State: ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).
    """

    kernel = "rmsprop"
    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False}

    @classmethod
    def slots(cls, h):
        return [
            "square_avg",
            "momentum_buffer" if h["momentum"] != 0 else None,
            "grad_avg" if h["centered"] else None,
        ]

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        return {
            "beta2": h["alpha"],
            "eps": h["eps"],
            "momentum": h["momentum"],
            "centered": h["centered"],
            "step": t,
        }


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad. State: ``exp_avg``, ``exp_avg_sq``,
    ``max_exp_avg_sq`` (amsgrad). Weight decay is coupled (L2) unless
    ``decoupled_weight_decay=True``, which is AdamW."""

    kernel = "adam"
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}

    @classmethod
    def slots(cls, h):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if h["amsgrad"] else [])

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        return {**_betas_hyper(h), "amsgrad": h["amsgrad"], "step": t}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay``."""

    defaults = {**Adam.defaults, "weight_decay": 1e-2, "decoupled_weight_decay": True}


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm, ``u = max(beta2 u, |g| + eps)``.

    State: ``exp_avg``, ``exp_inf``."""

    kernel = "adamax"
    defaults = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8}

    slot_names = ("exp_avg", "exp_inf")


class Adadelta(Optimizer):
    """Adadelta (Zeiler): unit-correct steps from running averages of g^2 and of the steps.

    State: ``square_avg``, ``acc_delta``."""

    kernel = "adadelta"
    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6}

    slot_names = ("square_avg", "acc_delta")

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        return {"beta2": h["rho"], "eps": h["eps"], "step": t}


class NAdam(Optimizer):
    """NAdam (Dozat): Adam with Nesterov momentum and the momentum schedule
    ``mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay))``.

    State: ``exp_avg``, ``exp_avg_sq``; scalar state ``mu_product``."""

    kernel = "nadam"
    defaults = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "momentum_decay": 4e-3}
    scalar_state = {"mu_product": 1.0}

    slot_names = ("exp_avg", "exp_avg_sq")

    @classmethod
    def kernel_hyper(cls, h, t, scalars):
        b1, md = h["betas"][0], h["momentum_decay"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * md))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * md))
        prod = scalars["mu_product"] * mu
        return {
            **_betas_hyper(h),
            "step": t,
            "mu": mu,
            "mu_next": mu_next,
            "mu_product": prod,
            "mu_product_next": prod * mu_next,
            "_scalars": {"mu_product": prod},
        }


class RAdam(Optimizer):
    """RAdam (Liu et al.): Adam with the variance of the adaptive rate rectified; plain momentum
    SGD steps while that variance is intractable (the first few steps).

    State: ``exp_avg``, ``exp_avg_sq``."""

    kernel = "radam"
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}

    slot_names = ("exp_avg", "exp_avg_sq")


class Lion(Optimizer):
    """Lion (Chen et al., 2023): ``p -= lr * sign(beta1 m + (1 - beta1) g)``;
    ``m = beta2 m + (1 - beta2) g``. Weight decay is decoupled. State: ``exp_avg``."""

    kernel = "lion"
    defaults = {"lr": 1e-4, "betas": (0.9, 0.99), "decoupled_weight_decay": True}

    slot_names = ("exp_avg",)


def global_grad_norm(grads: Sequence[np.ndarray], clip_value: float | None = None) -> float:
    """Global L2 norm over a list of gradient arrays (after clamping to ``clip_value``), as one
    deterministic C++ reduction: the same bits for any thread count."""
    grads = [grads] if isinstance(grads, np.ndarray) else list(grads)
    cv = math.inf if clip_value is None else _positive("clip_value", clip_value)
    return _core.grad_stats(grads, cv, "global_grad_norm")[0]


# ---- learning-rate schedules ---------------------------------------------------------------


def _check_optimizer(optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an nnkernels.optim.Optimizer, got {type(optimizer).__name__}"
        )


def _count(name: str, v, least: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < least:
        kind = "positive" if least == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer, got {v!r}")
    return int(v)


class LRScheduler:
    """Sets ``optimizer.lr`` from the number of :meth:`step` calls (epochs); closed forms."""

    def __init__(self, optimizer: Optimizer):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> float:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)
        return self.optimizer.lr

    def get_last_lr(self) -> float:
        return self.optimizer.lr


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = _count("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** epoch``."""

    def __init__(self, optimizer, gamma: float):
        super().__init__(optimizer)
        self.gamma = _positive("gamma", gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2``."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (torch's name)
        super().__init__(optimizer)
        self.T_max = _count("T_max", T_max, 1)
        self.eta_min = _at_least_zero("eta_min", eta_min)

    def lr_at(self, epoch):
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cos) / 2


class LinearLR(LRScheduler):
    """Linear warm-up: the factor goes from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays (set at construction, like PyTorch's LinearLR)."""

    def __init__(self, optimizer, start_factor=1 / 3, end_factor=1.0, total_iters: int = 5):
        super().__init__(optimizer)
        self.start = _real("start_factor", start_factor)
        if not 0 < self.start <= 1:
            raise ValueError(f"start_factor must be in (0, 1], got {self.start}")
        self.end = _closed_unit("end_factor", end_factor)
        self.total = _count("total_iters", total_iters, 0)
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch):
        frac = min(epoch, self.total) / self.total if self.total > 0 else 1.0
        return self.base_lr * (self.start + (self.end - self.start) * frac)


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when ``step(metric)`` has not improved for ``patience``
    calls (PyTorch's semantics: mode min/max, relative or absolute threshold, cooldown,
    min_lr)."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        _check_optimizer(optimizer)
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError("mode must be 'min' or 'max', threshold_mode 'rel' or 'abs'")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lr, self.eps = min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _better(self, a: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            margin = self.threshold * abs(self.best) if math.isfinite(self.best) else 0.0
        else:
            margin = self.threshold
        return sign * a < sign * self.best - margin

    def step(self, metric: float) -> float:
        metric = float(metric)
        if self._better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.optimizer.lr


# ---- functional single-array forms ---------------------------------------------------------

_FUNCTIONAL = {
    "sgd_": SGD,
    "adagrad_": Adagrad,
    "rmsprop_": RMSprop,
    "adam_": Adam,
    "adamw_": AdamW,
    "adamax_": Adamax,
    "adadelta_": Adadelta,
    "nadam_": NAdam,
    "radam_": RAdam,
    "lion_": Lion,
}


def _functional(name: str, cls: type[Optimizer]):
    def update(param, grad, *state, step: int, mu_product: float = 1.0, **hyper):
        h = {**cls.defaults, **{k: v for k, v in _COMMON.items() if k not in cls.defaults}}
        unknown = set(hyper) - set(h)
        if unknown:
            raise TypeError(f"{name}: unknown option(s) {sorted(unknown)}")
        h.update(hyper)
        h = {k: _checked(k, v) for k, v in h.items()}
        cls._check_combination(h)
        names = cls.slots(h)
        used = [n for n in names if n is not None]
        if len(state) != len(used):
            raise TypeError(f"{name}: expected state arrays {used}, got {len(state)} arrays")
        t = int(step)
        if t < 1:
            raise ValueError(f"{name}: step must be >= 1 (the index of this update), got {t}")
        it = iter(state)
        slots = [[] if n is None else [next(it)] for n in names]
        kh = {**_common_hyper(h), **cls.kernel_hyper(h, t, {"mu_product": mu_product})}
        new_scalars = kh.pop("_scalars", None) or {}
        applied, _ = _core.optim_step(
            _OPS[cls.kernel],
            [param],
            [grad],
            slots,
            kh,
            h["max_grad_norm"] or 0.0,
            h["skip_nonfinite"],
            name,
        )
        return new_scalars.get("mu_product") if applied else None

    slot_doc = ", ".join(n for n in cls.slots({**_COMMON, **cls.defaults, "momentum": 1.0}) if n)
    update.__name__ = update.__qualname__ = name
    update.__doc__ = (
        f"{cls.__name__} step on one array, in place: ``{name}(param, grad, <state>, step=t, "
        f"**options)``.\n\nState arrays in order (only those in use): {slot_doc}. ``step`` is "
        f"the 1-based index of this update. Options and defaults as :class:`{cls.__name__}`."
        + ("\nReturns the new ``mu_product`` (pass it to the next call)." if cls is NAdam else "")
    )
    return update


functional = types.ModuleType(
    __name__ + ".functional", "Single-array in-place optimizer steps (``adam_``, ``sgd_``, ...)."
)
for _name, _cls in _FUNCTIONAL.items():
    setattr(functional, _name, _functional(_name, _cls))
setattr(functional, "__all__", list(_FUNCTIONAL))  # noqa: B010 (mypy: ModuleType)
sys.modules[functional.__name__] = functional
