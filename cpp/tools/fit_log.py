"""Generates the log polynomials Log1pUnitPoly (vecmath.hpp), LogCoshPoly and LogCoshTailPoly
(losses.hpp).

Each is fitted by mpmath's chebyfit in 50-digit arithmetic, relative to the function, so that a
float result is one multiply away from the polynomial:
- log(1 + y) = y q(y) on [0, 1] (softplus's log1p(e^-|x|), BCE with logits, focal loss):
  degree 9 in float. Double would need degree 20, where log1p's reduction costs less.
- log(cosh a) = u p(u), u = a^2, on a in [0, 1] (log-cosh near 0, where a - ln 2 + log1p(e^-2a)
  cancels): degree 7 in float, 14 in double.
- log(1 + z) = z q(z) on [0, e^-2] (log-cosh above 1, z = e^-2a, where log1p(z) is at most
  29 % of the value): degree 4 in float, 10 in double (0.2 and 0.05 eps).

    python cpp/tools/fit_log.py   # prints the C++ arrays pasted into the headers
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def log1p_over_y(y):
    return mp.log1p(y) / y if y != 0 else mp.mpf(1)


def log_cosh_over_u(u):
    return mp.log(mp.cosh(mp.sqrt(u))) / u if u != 0 else mp.mpf(1) / 2


def max_relative_error(g, coeffs, hi, samples=4001):
    """Of the polynomial against g on [0, hi]: the relative error of y q(y) and u p(u) alike,
    with the coefficients as the header stores them (exact arithmetic otherwise)."""
    return max(abs(mp.polyval(coeffs, x) / g(x) - 1) for x in mp.linspace(0, hi, samples))


def rounded(coeffs, suffix):
    """The coefficients rounded to float ("f") or double."""
    to = np.float32 if suffix == "f" else np.float64
    return [mp.mpf(float(to(float(c)))) for c in coeffs]


if __name__ == "__main__":
    for name, g, hi, fits in (
        ("Log1pUnitPoly", log1p_over_y, 1, ((9, "f"),)),
        ("LogCoshPoly", log_cosh_over_u, 1, ((7, "f"), (14, ""))),
        ("LogCoshTailPoly", log1p_over_y, mp.exp(-2), ((4, "f"), (10, ""))),
    ):
        for degree, suffix in fits:
            c, _ = mp.chebyfit(g, [0, hi], degree + 1, error=True)
            err = mp.nstr(max_relative_error(g, rounded(c, suffix), hi), 3)
            print(f"// {name}, degree {degree}: relative error {err}")
            print("{" + ", ".join(f"{mp.nstr(v, 17)}{suffix}" for v in c) + "}")
