"""Generates the polynomials of exp's reduced argument (vecmath.hpp's ExpPoly).

exp(r) = 1 + r + r^2 q(r) on |r| <= ln2/2, q(r) = (e^r - 1 - r) / r^2. q is fitted by mpmath's
chebyfit in 50-digit arithmetic (Chebyshev interpolation: within a small factor of the minimax
polynomial), in powers of r. Degree 4 (5 coefficients) gives e^r to 1e-8 relative (0.17
float ulp) and degree 10 (11 coefficients) to 2e-19, below exp's rounding errors (and
expm1's near 0, where a coarser fit shows): one and two multiply-adds fewer than the Taylor
polynomials they replace.

    python cpp/tools/fit_exp.py   # prints the C++ arrays pasted into vecmath.hpp
"""

import mpmath as mp

mp.mp.dps = 50
H = mp.log(2) / 2


def q(r):
    return (mp.expm1(r) - r) / (r * r) if r != 0 else mp.mpf(1) / 2


def interpolant(degree):
    """Coefficients of q in powers of r, highest first (mpmath's Chebyshev fit)."""
    return mp.chebyfit(q, [-H, H], degree + 1)


def max_error(coeffs, samples=4001):
    worst = mp.mpf(0)
    for i in range(samples):
        r = -H + 2 * H * i / (samples - 1)
        approx = 1 + r + r * r * mp.polyval(coeffs, r)
        worst = max(worst, abs(approx / mp.exp(r) - 1))
    return worst


if __name__ == "__main__":
    for degree, suffix in ((4, "f"), (10, "")):
        c = interpolant(degree)
        print(f"// degree {degree}: relative error of e^r {mp.nstr(max_error(c), 3)}")
        print("{" + ", ".join(f"{mp.nstr(v, 17)}{suffix}" for v in c) + "}")
