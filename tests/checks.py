"""Accuracy checks shared by the test modules: ulp distance to the float64 reference."""

from __future__ import annotations

import numpy as np


def sweep(dtype) -> np.ndarray:
    """Inputs over the whole real line: every binade of both signs, a dense grid where the
    functions bend, and the special values (+-0, subnormals, the smallest normal, the exp
    overflow thresholds, +-1e30, +-inf, NaN)."""
    fi = np.finfo(dtype)
    with np.errstate(over="ignore"):
        mags = np.geomspace(float(fi.tiny), float(fi.max), 5000)
    dense = np.linspace(-30, 30, 24001)
    special = [
        0.0,
        float(fi.smallest_subnormal),
        float(fi.smallest_subnormal) * 1000,
        float(fi.tiny),
        1e-30,
        0.5,
        1,
        3,
        6,
        20,
        87.3,
        88,
        88.72,
        89,
        104,
        709,
        710,
        746,
        1e30,
        np.inf,
    ]
    special = special + [-v for v in special] + [np.nan]
    return np.concatenate([mags, -mags, dense, special]).astype(dtype)


def tolerance(ref: np.ndarray, dtype, ulp: float, floor: float, sensitivity=None) -> np.ndarray:
    """Allowed |got - ref|: `ulp` units in the last place of the reference rounded to dtype, an
    absolute floor of `floor` epsilons (for derivatives crossing zero), and the smallest normal
    number (results in the subnormal range carry fewer bits). For float64 the reference itself
    has rounding errors amplified by the function's conditioning; `sensitivity` = |x f'(x)|
    adds that allowance (2 eps |x f'|)."""
    fi = np.finfo(dtype)
    with np.errstate(all="ignore"):
        spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    tol = ulp * spacing + floor * float(fi.eps) + float(fi.tiny)
    if sensitivity is not None:
        tol = tol + 2 * float(fi.eps) * sensitivity
    return tol


def sensitivity(fn, x64: np.ndarray) -> np.ndarray:
    """|x f'(x)| by a central difference of the reference itself."""
    h = 1e-7
    with np.errstate(all="ignore"):
        s = np.abs(fn(x64 * (1 + h)) - fn(x64 * (1 - h))) / (2 * h)
    return np.nan_to_num(s, nan=0.0, posinf=0.0)


def assert_within(got, ref, x, dtype, ulp, floor, what, sens=None):
    """got (dtype) against ref (float64): NaN exactly where the reference is NaN, infinities
    where the reference rounds to infinity, and otherwise within tolerance()."""
    got = np.asarray(got)
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    g = got.astype(np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    x = np.asarray(x)
    nan_mismatch = np.isnan(g) != np.isnan(ref)
    assert not nan_mismatch.any(), (
        f"{what}: NaN mismatch at x={x[nan_mismatch][:5]}: got {g[nan_mismatch][:5]}, "
        f"reference {ref[nan_mismatch][:5]}"
    )
    with np.errstate(all="ignore"):
        rounded = ref.astype(dtype).astype(np.float64)
        exact = (g == ref) | (g == rounded) | np.isnan(ref)
        err = np.where(exact, 0.0, np.abs(g - ref))
    tol = tolerance(ref, dtype, ulp, floor, sens if dtype == np.float64 else None)
    bad = ~exact & ~(err <= tol)
    if bad.any():
        with np.errstate(all="ignore"):
            ulps = err / np.spacing(np.abs(rounded).astype(dtype)).astype(np.float64)
        i = np.flatnonzero(bad)[np.argmax(np.nan_to_num(ulps[bad], nan=np.inf))]
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} outside {ulp} ulp (floor {floor} eps); worst "
            f"x={x[i]!r}: got {g[i]!r}, reference {ref[i]!r} ({ulps[i]:.2f} ulp)"
        )
