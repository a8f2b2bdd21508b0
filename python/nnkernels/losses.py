"""Losses with their gradient, computed in one pass over the data.

Every loss ``name`` comes as three functions:

- ``name(pred, target, *, reduction="mean", sample_weight=None, <params>)``: the loss
- ``name_grad(pred, target, *, ..., out=None)``: dL/dpred
- ``name_value_and_grad(pred, target, *, ..., out=None)``: ``(loss, grad)`` from one pass; the
  gradient is written into ``out`` when given (it may be ``pred`` itself).

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (per-element or per-row losses);
the gradient matches it (``"mean"`` divides by the count, ignored targets contribute nothing).
``sample_weight`` multiplies each element's (or row's) loss; ``"mean"`` still divides by the
count, as Keras does. The result dtype comes from pred and (probability) targets: weights are cast
to it. Defaults follow PyTorch where PyTorch has the loss, Keras otherwise.
float32 stays float32 (sums accumulate in double), float64 stays float64, integers and bools
compute in float64. The table below (``SPECS``) is the one place each loss is described; the
math is in ``cpp/include/nnkernels/losses.hpp``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _core

__all__ = ["LossSpec", "SPECS", "zero_one_loss"]  # extended below with every generated function

_POINT: dict[str, int] = _core.POINTWISE_LOSSES
_ROW: dict[str, int] = _core.ROW_LOSSES
_NO_IGNORE = -(2**62)  # an ignore_index no label can equal


@dataclass(frozen=True)
class LossSpec:
    """How one public loss maps onto a C++ kernel."""

    name: str
    formula: str
    kernel: str = ""  # C++ kernel name when it differs from `name`
    params: tuple[tuple[str, Any], ...] = ()
    # params -> (p0, p1, p2), raising ValueError/TypeError for bad values
    prepare: Callable[..., tuple] | None = None
    rowwise: bool = False
    targets: str = "values"  # "values", "labels" (class indices), "either" (labels or probs)
    axis: str = "last"  # row losses: "last" (Keras) or "torch" (axis 1, or 0 for 1-D input)
    pred_range: bool = False  # pred must lie in [0, 1]
    target_range: bool = False  # target must lie in [0, 1]
    check: Callable[[str, np.ndarray, np.ndarray], np.ndarray] | None = None  # may map target
    # (fn, params, pred, target, sample_weight) -> (target, sample_weight), after validation
    arrays: Callable | None = None
    class_weight: bool = False  # takes `weight` (one per class)
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    notes: str = ""

    @property
    def op(self) -> int:
        k = self.kernel or self.name
        return _ROW[k] if self.rowwise else _POINT[k]


# ---- parameter checks ----


def _number(fn: str, name: str, value) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array, like the NumPy scalar it holds
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"{fn}: {name} must not be NaN")
    return float(value)


def _at_least(fn: str, name: str, value, lo: float, strict: bool) -> float:
    v = _number(fn, name, value)
    if not (v > lo if strict else v >= lo):
        raise ValueError(f"{fn}: {name} must be {'>' if strict else '>='} {lo}, got {v}")
    return v


def _fraction(fn: str, name: str, value) -> float:
    v = _number(fn, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: {name} must be in [0, 1], got {v}")
    return v


def _no_params():
    return 0.0, 0.0, 0.0


def _huber(delta):
    return _at_least("huber", "delta", delta, 0.0, True), 0.0, 0.0


def _smooth_l1(beta):
    return _at_least("smooth_l1", "beta", beta, 0.0, False), 0.0, 0.0


def _mape(eps):
    return _at_least("mape", "eps", eps, 0.0, True), 0.0, 0.0


def _poisson(log_input, full, eps):
    return float(bool(log_input)), float(bool(full)), _at_least("poisson", "eps", eps, 0.0, False)


def _bce_logits(pos_weight):
    if pos_weight is None or np.ndim(pos_weight) > 0:
        return 1.0, 0.0, 0.0  # an array pos_weight goes through _bce_logits_arrays
    return _number("binary_cross_entropy_with_logits", "pos_weight", pos_weight), 0.0, 0.0


def _bce_logits_arrays(fn, params, pred, target, sw):
    """An array pos_weight (broadcast against pred, e.g. one per class on the last axis) as the
    scalar-pos_weight kernel with l = 1 + (pw - 1) t folded in: l * BCE(x, 1 - (1 - t) / l) is
    (1 - t) x + l softplus(-x), value and gradient alike."""
    pw = params["pos_weight"]
    if pw is None or np.ndim(pw) == 0:
        return target, sw
    pw = _array(fn, "pos_weight", pw)
    try:
        lw = 1 + (np.broadcast_to(pw, pred.shape) - 1.0) * target
    except ValueError:
        raise ValueError(
            f"{fn}: pos_weight has shape {pw.shape} but pred has shape {pred.shape}"
        ) from None
    # l = 0 where t = 1 and pw = 0 (a masked positive): the loss (1 - t) x is 0 there, so any
    # target with weight 0 serves. Elsewhere (a negative pos_weight) l = 0 cannot be folded.
    zero = lw == 0
    if np.any(zero & (target != 1)):
        raise ValueError(f"{fn}: 1 + (pos_weight - 1) target is 0 where target != 1")
    sw = lw if sw is None else lw * np.broadcast_to(sw, pred.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, 1.0, 1 - (1 - target) / lw), sw


def _focal(gamma, alpha):
    g = _at_least("binary_focal_loss", "gamma", gamma, 0.0, False)
    return g, _number("binary_focal_loss", "alpha", alpha), 0.0


def _kl_div(log_target):
    return float(bool(log_target)), 0.0, 0.0


def _index(fn: str, name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an integer, got {value!r}")
    return int(value)


def _cross_entropy(weight, ignore_index, label_smoothing):
    ls = _fraction("cross_entropy", "label_smoothing", label_smoothing)
    return ls, 0.0, _index("cross_entropy", "ignore_index", ignore_index)


def _nll(weight, ignore_index):
    return 0.0, 0.0, _index("nll_loss", "ignore_index", ignore_index)


def _categorical(label_smoothing, axis, eps):
    ls = _fraction("categorical_cross_entropy", "label_smoothing", label_smoothing)
    return _at_least("categorical_cross_entropy", "eps", eps, 0.0, False), ls, _NO_IGNORE


def _sparse_categorical(ignore_class, axis, eps):
    fn = "sparse_categorical_cross_entropy"
    e = _at_least(fn, "eps", eps, 0.0, False)
    return e, 0.0, _NO_IGNORE if ignore_class is None else _index(fn, "ignore_class", ignore_class)


def _cosine(axis, eps):
    return _at_least("cosine_similarity", "eps", eps, 0.0, False), 0.0, 0.0


def _axis_only(axis):
    return 0.0, 0.0, 0.0


# ---- input checks ----


def _first_position(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape))


def _check_range(fn: str, arg: str, a: np.ndarray, lo: float, hi: float, what: str):
    with np.errstate(invalid="ignore"):
        bad = (a < lo) | (a > hi)
    if bad.any():
        pos = _first_position(bad)
        raise ValueError(f"{fn}: {arg} must be {what}; {arg}{list(pos)} = {a[pos]!r}")


def _msle_check(fn, pred, target):
    for arg, a in (("pred", pred), ("target", target)):
        with np.errstate(invalid="ignore"):
            bad = a <= -1
        if bad.any():
            pos = _first_position(bad)
            raise ValueError(f"{fn}: log1p needs {arg} > -1; {arg}{list(pos)} = {a[pos]!r}")
    return target


def _signed_labels(fn, pred, target):
    """Hinge labels: +-1, or 0/1 mapped to -1/+1."""
    with np.errstate(invalid="ignore"):
        if np.all((target == 0) | (target == 1)):
            return 2 * target.astype(np.float64) - 1
        bad = ~((target == -1) | (target == 1))
    if bad.any():
        pos = _first_position(bad)
        raise ValueError(f"{fn}: labels must be -1/+1 or 0/1; target{list(pos)} = {target[pos]!r}")
    return target


SPECS: tuple[LossSpec, ...] = (
    LossSpec("mse", "(p - t)^2", notes="Mean squared error (PyTorch mse_loss)."),
    LossSpec("mae", "|p - t|", notes="Mean absolute error (PyTorch l1_loss); gradient 0 at p = t."),
    LossSpec("mbe", "t - p", notes="Mean bias error: positive when predictions are too low."),
    LossSpec(
        "huber",
        "d^2 / 2 if |d| <= delta else delta (|d| - delta / 2), d = p - t",
        params=(("delta", 1.0),),
        prepare=_huber,
    ),
    LossSpec(
        "smooth_l1",
        "d^2 / (2 beta) if |d| < beta else |d| - beta / 2, d = p - t",
        params=(("beta", 1.0),),
        prepare=_smooth_l1,
    ),
    LossSpec(
        "log_cosh",
        "log(cosh(p - t))",
        notes="Computed without cosh: no overflow for any error (Keras log_cosh).",
    ),
    LossSpec(
        "mape",
        "100 |p - t| / max(|t|, eps)",
        params=(("eps", 1e-7),),
        prepare=_mape,
        notes="Mean absolute percentage error (Keras).",
    ),
    LossSpec(
        "msle",
        "(log1p(p) - log1p(t))^2",
        check=_msle_check,
        notes="Mean squared logarithmic error; ValueError for values <= -1.",
    ),
    LossSpec(
        "poisson",
        "exp(p) - t p if log_input else p - t log(p + eps)",
        params=(("log_input", True), ("full", False), ("eps", 1e-8)),
        prepare=_poisson,
        notes="PyTorch poisson_nll_loss; full adds the Stirling term for t > 1.",
    ),
    LossSpec(
        "binary_cross_entropy",
        "-(t log p + (1 - t) log(1 - p)), logs clamped at -100",
        pred_range=True,
        target_range=True,
        notes="On probabilities, as PyTorch (gradient (p - t) / max(p (1 - p), 1e-12)).",
    ),
    LossSpec(
        "binary_cross_entropy_with_logits",
        "(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)",
        params=(("pos_weight", None),),
        prepare=_bce_logits,
        arrays=_bce_logits_arrays,
        notes="On logits x, stable for any logit; pos_weight a scalar or an array broadcast "
        "against pred (one per class on the last axis).",
    ),
    LossSpec(
        "hinge",
        "max(0, 1 - t p)",
        check=_signed_labels,
        notes="Labels +-1 or 0/1 (Keras hinge).",
    ),
    LossSpec(
        "squared_hinge",
        "max(0, 1 - t p)^2",
        check=_signed_labels,
        notes="Labels +-1 or 0/1 (Keras squared_hinge).",
    ),
    LossSpec(
        "binary_focal_loss",
        "alpha_t (1 - p_t)^gamma BCE(x, t), p = sigmoid(x)",
        params=(("gamma", 2.0), ("alpha", 0.25)),
        prepare=_focal,
        target_range=True,
        notes="On logits, as torchvision sigmoid_focal_loss; alpha < 0 disables alpha_t.",
    ),
    LossSpec(
        "kl_div",
        "t (log t - x), or exp(t) (t - x) with log_target",
        params=(("log_target", False),),
        prepare=_kl_div,
        reductions=("mean", "sum", "none", "batchmean"),
        notes="PyTorch kl_div: x are log-probabilities; batchmean divides by the batch size.",
    ),
    LossSpec(
        "cross_entropy",
        "-sum_c w_c t_c log_softmax(x)_c",
        params=(("weight", None), ("ignore_index", -100), ("label_smoothing", 0.0)),
        prepare=_cross_entropy,
        rowwise=True,
        targets="either",
        axis="torch",
        class_weight=True,
        notes="From logits (fused log-softmax), PyTorch's conventions: classes on axis 1; "
        "targets are class indices or probabilities of the input's shape.",
    ),
    LossSpec(
        "nll_loss",
        "-w_y x_y",
        params=(("weight", None), ("ignore_index", -100)),
        prepare=_nll,
        rowwise=True,
        targets="labels",
        axis="torch",
        class_weight=True,
        notes="Negative log-likelihood of log-probabilities (PyTorch nll_loss).",
    ),
    LossSpec(
        "categorical_cross_entropy",
        "-sum_c t_c log(clip(p_c / sum(p), eps, 1 - eps))",
        params=(("label_smoothing", 0.0), ("axis", -1), ("eps", 1e-7)),
        prepare=_categorical,
        rowwise=True,
        pred_range=True,
        target_range=True,
        notes="On probabilities (Keras); targets one-hot or probabilities.",
    ),
    LossSpec(
        "sparse_categorical_cross_entropy",
        "-log(clip(p_y / sum(p), eps, 1 - eps))",
        kernel="categorical_cross_entropy",
        params=(("ignore_class", None), ("axis", -1), ("eps", 1e-7)),
        prepare=_sparse_categorical,
        rowwise=True,
        targets="labels",
        pred_range=True,
        notes="On probabilities with integer labels (Keras).",
    ),
    LossSpec(
        "cosine_similarity",
        "-sum(p t) / (|p| |t|)",
        params=(("axis", -1), ("eps", 1e-12)),
        prepare=_cosine,
        rowwise=True,
        notes="Keras CosineSimilarity loss (in [-1, 1]); squared norms floored at eps.",
    ),
    LossSpec(
        "categorical_hinge",
        "max(0, max_c (1 - t_c) p_c - sum_c t_c p_c + 1)",
        params=(("axis", -1),),
        prepare=_axis_only,
        rowwise=True,
        notes="Keras categorical_hinge; one-hot targets.",
    ),
)


# ---- arrays ----


def _array(fn: str, arg: str, a) -> np.ndarray:
    if a is None:
        raise TypeError(f"{fn}: {arg} is None; expected an array of real numbers")
    a = np.asarray(a)
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:  # longdouble would lose digits
        raise TypeError(
            f"{fn}: {arg} has dtype {a.dtype}; expected float32, float64, or an integer or bool "
            "array (computed in float64)"
        )
    return a


def _result_dtype(*arrays: np.ndarray) -> np.dtype:
    for a in arrays:
        if not (a.dtype.kind == "f" and a.dtype.itemsize <= 4):
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def _check_integers(fn: str, name: str, labels: np.ndarray) -> None:
    """Class labels: TypeError for bools, ValueError for NaN or non-integers."""
    if labels.dtype.kind == "b":
        raise TypeError(f"{fn}: class labels must be integers, got dtype bool")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if bad.any():
            pos = _first_position(bad)
            raise ValueError(
                f"{fn}: class labels must be integers; {name}{list(pos)} = {labels[pos]}"
            )


def _labels(fn: str, target: np.ndarray, classes: int, ignore) -> np.ndarray:
    """Class indices as int64: ValueError for NaN or non-integers, IndexError out of range."""
    _check_integers(fn, "target", target)
    if target.dtype.kind in "uf" and target.size:  # beyond int64, the cast would wrap
        beyond = (target >= 2.0**63) | (target < -(2.0**63))
        if beyond.any():
            pos = _first_position(beyond)
            raise IndexError(
                f"{fn}: target index {target[pos]} at position {list(pos)} is out of range "
                f"for {classes} classes"
            )
    labels = np.ascontiguousarray(target, dtype=np.int64)
    if labels.size == 0 or (labels.min() >= 0 and labels.max() < classes):
        return labels  # the common case, in two reductions
    bad = ((labels < 0) | (labels >= classes)) & (labels != int(ignore))
    if bad.any():
        pos = _first_position(bad)
        raise IndexError(
            f"{fn}: target index {labels[pos]} at position {list(pos)} is out of range for "
            f"{classes} classes"
        )
    return labels


_ONES: dict[tuple, np.ndarray] = {}


def _ones(classes: int, dt: np.dtype) -> np.ndarray:
    """Read-only unit class weights, made once per (classes, dtype): np.ones per call costs
    more than a small cross-entropy kernel."""
    key = (classes, dt)
    if key not in _ONES:
        if len(_ONES) > 16:
            _ONES.clear()
        ones = np.ones(classes, dt)
        ones.flags.writeable = False
        _ONES[key] = ones
    return _ONES[key]


def _shape_error(fn: str, pred: np.ndarray, target: np.ndarray, want: str = "") -> ValueError:
    return ValueError(
        f"{fn}: pred has shape {pred.shape} but target has shape {target.shape}"
        + (f" (expected {want})" if want else "")
    )


def _checked_out(fn: str, out, shape: tuple, dt: np.dtype, inputs) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dt:
        raise TypeError(f"{fn}: out has dtype {out.dtype} but the gradient is {dt}")
    if out.shape != shape:
        raise ValueError(f"{fn}: out has shape {out.shape} but the gradient has shape {shape}")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    for a in inputs:  # exactly an input (same memory and layout) is fine: the kernel runs in place
        if a is None or not np.may_share_memory(out, a):
            continue
        same = (
            out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
            and out.shape == a.shape
            and out.strides == a.strides
        )
        if not same and np.shares_memory(out, a):
            raise ValueError(
                f"{fn}: out overlaps an input without being it; pass the input itself for in-place"
            )
    return out


def _grad_buffer(out, kernel_pred: np.ndarray, others) -> np.ndarray:
    """The C-contiguous array the kernel writes the gradient into: `out` itself when it is
    C-contiguous and touches no input other than being exactly the kernel's pred."""
    if out is None or not out.flags.c_contiguous:
        return np.empty(kernel_pred.shape, kernel_pred.dtype)
    for a in others:
        if a is not None and np.shares_memory(out, a):
            return np.empty(kernel_pred.shape, kernel_pred.dtype)
    if np.shares_memory(out, kernel_pred):
        same = out.ctypes.data == kernel_pred.ctypes.data and out.size == kernel_pred.size
        if not same:
            return np.empty(kernel_pred.shape, kernel_pred.dtype)
    return out.reshape(kernel_pred.shape)


def _class_axis(spec: LossSpec, pred: np.ndarray, params: dict) -> int:
    if spec.axis == "torch":
        return 1 if pred.ndim >= 2 else 0
    axis = params.get("axis", -1)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{spec.name}: axis must be an integer, got {axis!r}")
    if not -max(pred.ndim, 1) <= axis < max(pred.ndim, 1):
        raise np.exceptions.AxisError(int(axis), pred.ndim)
    return int(axis) % max(pred.ndim, 1)


def _classes_last(a: np.ndarray, axis: int) -> np.ndarray:
    return a if axis == a.ndim - 1 else np.moveaxis(a, axis, -1)


def _run(spec, fn, pred, target, reduction, sample_weight, params, want_grad, out):
    """Validates everything, then runs the kernel once. Returns (loss, grad or None)."""
    pred = _array(fn, "pred", pred)
    target = _array(fn, "target", target)
    if reduction not in spec.reductions:
        raise ValueError(
            f"{fn}: reduction must be one of {', '.join(map(repr, spec.reductions))}, "
            f"got {reduction!r}"
        )
    p0, p1, p2 = spec.prepare(*params.values()) if spec.prepare else _no_params()
    sw = None if sample_weight is None else _array(fn, "sample_weight", sample_weight)

    if spec.rowwise:
        if pred.ndim == 0:
            raise ValueError(f"{fn}: pred must have a class axis, got a 0-d array")
        axis = _class_axis(spec, pred, params)
        classes = pred.shape[axis]
        lead = pred.shape[:axis] + pred.shape[axis + 1 :]
        probs = spec.targets != "labels" and (
            spec.targets == "values" or (target.shape == pred.shape and target.dtype.kind == "f")
        )
        if probs and target.shape != pred.shape:
            raise _shape_error(fn, pred, target)
        if not probs and target.shape != lead:
            raise _shape_error(fn, pred, target, f"{lead} for class indices")
        if classes == 0:
            raise ValueError(f"{fn}: pred has no classes (shape {pred.shape})")
        floats = [pred, target] if probs else [pred]
        weight = params.get("weight") if spec.class_weight else None
        if weight is not None:
            weight = _array(fn, "weight", weight)
            if weight.shape != (classes,):
                raise ValueError(
                    f"{fn}: weight has shape {weight.shape} but pred has {classes} classes"
                )
        dt = _result_dtype(*floats)
        labels = None if probs else _labels(fn, target, classes, p2)
        if spec.pred_range:
            _check_range(fn, "pred", pred, 0, 1, "probabilities in [0, 1]")
        if spec.target_range and probs:
            _check_range(fn, "target", target, 0, 1, "probabilities in [0, 1]")
        if sw is not None:
            try:
                sw = np.ascontiguousarray(np.broadcast_to(sw, lead), dtype=dt).reshape(-1)
            except ValueError:
                raise ValueError(
                    f"{fn}: sample_weight has shape {sw.shape} but the losses have shape {lead}"
                ) from None
        if out is not None:
            _checked_out(fn, out, pred.shape, dt, (pred, target, weight, sample_weight))
        # Kernel layout: C-contiguous (rows, classes) with the classes last.
        moved = _classes_last(pred, axis)
        p2d = np.ascontiguousarray(moved, dtype=dt).reshape(-1, classes)
        t2d = None
        if probs:
            t2d = np.ascontiguousarray(_classes_last(target, axis), dtype=dt)
            t2d = t2d.reshape(-1, classes)
        lab = None if labels is None else labels.reshape(-1)
        cw = _ones(classes, dt) if weight is None else np.ascontiguousarray(weight, dtype=dt)
        rows = p2d.shape[0]
        if reduction == "mean":
            if lab is None:
                count = float(rows)
            elif weight is None:
                count = float(np.count_nonzero(lab != int(p2)))
            else:
                count = float(np.sum(cw[lab[lab != int(p2)]], dtype=np.float64))
        else:
            count = float(rows)
        scale = 1.0 if reduction in ("sum", "none") else (1.0 / count if count else 0.0)
        values = np.empty(lead, dt) if reduction == "none" else None
        grad = None
        if want_grad:
            kernel_out = out if axis == pred.ndim - 1 else None
            grad = _grad_buffer(kernel_out, p2d, (t2d, lab, cw, sw, target))
        total = _core.loss_rowwise(
            spec.op,
            p2d,
            t2d,
            lab,
            cw,
            sw,
            grad,
            None if values is None else values.reshape(-1),
            scale,
            p0,
            p1,
            p2,
        )
        if grad is not None:
            grad = grad.reshape(moved.shape)
            grad = grad if axis == pred.ndim - 1 else np.moveaxis(grad, -1, axis)
    else:
        if target.shape != pred.shape:
            raise _shape_error(fn, pred, target)
        if spec.pred_range:
            _check_range(fn, "pred", pred, 0, 1, "probabilities in [0, 1]")
        if spec.target_range:
            _check_range(fn, "target", target, 0, 1, "probabilities in [0, 1]")
        # Integer or bool targets (labels, counts) do not promote a float32 pred: out=pred works.
        dt = _result_dtype(pred, *([target] if target.dtype.kind == "f" else []))
        if spec.check is not None:
            target = spec.check(fn, pred, target)
        if sw is not None:
            try:
                sw = np.ascontiguousarray(np.broadcast_to(sw, pred.shape), dtype=dt)
            except ValueError:
                raise ValueError(
                    f"{fn}: sample_weight has shape {sw.shape} but pred has shape {pred.shape}"
                ) from None
        if spec.arrays is not None:
            target, sw = spec.arrays(fn, params, pred, target, sw)
            sw = None if sw is None else np.ascontiguousarray(sw, dtype=dt)
        if out is not None:
            _checked_out(fn, out, pred.shape, dt, (pred, target, sample_weight))
        pc = np.ascontiguousarray(pred, dtype=dt)
        tc = np.ascontiguousarray(target, dtype=dt)
        n = pc.size
        if reduction == "batchmean":
            count = float(pred.shape[0]) if pred.ndim else 1.0
        else:
            count = float(n)
        scale = 1.0 / count if reduction in ("mean", "batchmean") and count else 1.0
        values = np.empty(pred.shape, dt) if reduction == "none" else None
        grad = _grad_buffer(out, pc, (tc, sw, target)) if want_grad else None
        total = _core.loss_pointwise(spec.op, pc, tc, sw, grad, values, scale, p0, p1, p2)
        if grad is not None:
            grad = grad.reshape(pred.shape)

    if values is not None:  # reduction "none"
        loss = values if values.ndim else values[()]
    elif reduction == "sum":
        loss = dt.type(total)
    else:
        loss = dt.type(total / count) if count else dt.type(np.nan)
    if grad is not None and out is not None:
        if grad is not out and not (grad.base is out or np.shares_memory(grad, out)):
            np.copyto(out, grad)
        grad = out
    elif grad is not None and grad.ndim == 0:
        grad = grad[()]
    return loss, grad


def _doc(spec: LossSpec, kind: str) -> str:
    head = {
        "value": f"{spec.name} loss: {spec.formula}.",
        "grad": f"Gradient of the {spec.name} loss with respect to pred.",
        "value_and_grad": f"{spec.name} loss and its gradient, from one pass over the data.",
    }[kind]
    params = "".join(f"{k} : optional\n    Default {v!r}.\n" for k, v in spec.params)
    out = (
        "out : ndarray, optional\n    Where the gradient goes (pred's shape and result dtype); "
        "may be pred itself.\n"
        if kind != "value"
        else ""
    )
    returns = {
        "value": "loss : scalar, or ndarray for reduction='none'",
        "grad": "grad : ndarray of pred's shape",
        "value_and_grad": "(loss, grad)",
    }[kind]
    return (
        f"{head}\n\n{spec.notes}\n\nParameters\n----------\n"
        "pred : array_like\ntarget : array_like\n"
        f"reduction : {{{', '.join(map(repr, spec.reductions))}}}, default 'mean'\n"
        f"sample_weight : array_like, optional\n    Broadcast to the per-element (or per-row) "
        f"losses.\n{params}{out}\nReturns\n-------\n{returns}\n"
    )


def _make(spec: LossSpec) -> dict[str, Callable]:
    defaults = dict(spec.params)

    def collect(fn: str, kwargs: dict) -> dict:
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{fn}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        return {**defaults, **kwargs}

    def value(pred, target, *, reduction="mean", sample_weight=None, **kwargs):
        params = collect(spec.name, kwargs)
        return _run(spec, spec.name, pred, target, reduction, sample_weight, params, False, None)[0]

    def grad(pred, target, *, reduction="mean", sample_weight=None, out=None, **kwargs):
        fn = spec.name + "_grad"
        params = collect(fn, kwargs)
        return _run(spec, fn, pred, target, reduction, sample_weight, params, True, out)[1]

    def value_and_grad(pred, target, *, reduction="mean", sample_weight=None, out=None, **kwargs):
        fn = spec.name + "_value_and_grad"
        params = collect(fn, kwargs)
        return _run(spec, fn, pred, target, reduction, sample_weight, params, True, out)

    fns = {
        spec.name: value,
        spec.name + "_grad": grad,
        spec.name + "_value_and_grad": value_and_grad,
    }
    for (name, f), kind in zip(fns.items(), ("value", "grad", "value_and_grad")):
        f.__name__ = f.__qualname__ = name
        f.__doc__ = _doc(spec, kind)
        f.__module__ = __name__
    return fns


for _spec in SPECS:
    _fns = _make(_spec)
    globals().update(_fns)
    __all__ += list(_fns)
del _spec, _fns


def _default_params(spec: LossSpec) -> tuple:
    return spec.prepare(*(d for _, d in spec.params)) if spec.prepare else _no_params()


# The output losses of nnkernels.nn with their default options: (spec, (p0, p1, p2)).
_FUSED_OUTPUT = {
    s.name: (s, _default_params(s))
    for s in SPECS
    if s.name in ("cross_entropy", "binary_cross_entropy_with_logits", "mse")
}


def _fused_output(name: str, pred: np.ndarray, target: np.ndarray, grad: np.ndarray):
    """(mean loss, gradient written into grad) of an nnkernels.nn output loss. For the trainer
    only: its arrays are right by construction (pred and grad C-contiguous (rows, outputs) of
    one float dtype, target the int64 labels it encoded or values of pred's dtype), so
    cross_entropy, BCE with logits and mse go straight to the kernel: the public function's
    checks cost about a fifth of a digits batch. The binding still range-checks labels; a target
    of another shape, and the other losses (msle's pred > -1, ...), take the public function."""
    want = pred.shape[:1] if name == "cross_entropy" else pred.shape
    if name not in _FUSED_OUTPUT or target.shape != want:  # the public function explains
        return globals()[name + "_value_and_grad"](pred, target, out=grad)
    spec, (p0, p1, p2) = _FUSED_OUTPUT[name]
    if spec.rowwise:  # labels are range-checked by the binding
        rows, classes = pred.shape
        total = _core.loss_rowwise(
            spec.op, pred, None, target, _ones(classes, pred.dtype), None, grad, None,
            1.0 / rows, p0, p1, p2,
        )  # fmt: skip
        return pred.dtype.type(total / rows), grad
    total = _core.loss_pointwise(
        spec.op, pred, target, None, grad, None, 1.0 / pred.size, p0, p1, p2
    )
    return pred.dtype.type(total / pred.size), grad


def zero_one_loss(pred, target, *, reduction="mean", sample_weight=None):
    """Zero-one loss (value only): 1 where the predicted class differs from the target.

    Parameters
    ----------
    pred : array_like
        Predicted labels of target's shape, or scores with one more (last) axis of classes,
        whose argmax is the predicted class.
    target : array_like
        True labels.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    sample_weight : array_like, optional

    Returns
    -------
    loss : float64 scalar, or ndarray for reduction='none'
    """
    fn = "zero_one_loss"
    pred, target = _array(fn, "pred", pred), _array(fn, "target", target)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    scores = pred.shape != target.shape
    if scores and not (
        pred.ndim == target.ndim + 1 and pred.shape[:-1] == target.shape and pred.shape[-1]
    ):
        raise _shape_error(fn, pred, target)
    for name, labels in (("target", target), ("pred", pred))[: 1 if scores else 2]:
        if labels.dtype.kind != "b":  # bool labels compare as they are (as sklearn)
            _check_integers(fn, name, labels)
    sw = None if sample_weight is None else _array(fn, "sample_weight", sample_weight)
    if sw is not None:
        try:
            sw = np.broadcast_to(sw, target.shape)
        except ValueError:
            raise ValueError(
                f"{fn}: sample_weight has shape {sw.shape} but the losses have shape {target.shape}"
            ) from None
    wrong = (np.argmax(pred, axis=-1) if scores else pred) != target
    losses = wrong.astype(np.float64)
    if sw is not None:
        losses = losses * sw
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return np.float64(total)
    return np.float64(total / losses.size if losses.size else np.nan)  # as the other losses
