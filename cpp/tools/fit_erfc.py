"""Generates the Chebyshev coefficients of the erfc tail factor used by GELU (vecmath.hpp).

With z = |x|/sqrt(2) and t = 1 / (1 + z/2), erfc(z) = t * h(t) * exp(-z^2), where h is smooth
on [t_min, 1] (t_min at z = 27, where erfc underflows in double). h is interpolated at Chebyshev
nodes in 50-digit arithmetic (mpmath). Double results evaluate the 28-term series by Clenshaw's
recurrence; float results use an 11-term interpolant on the range that matters to float
(|x| <= 14), converted to powers of u and evaluated by Horner's rule (5e-9: float needs no more).

The float kernels on AVX-512 vectors use a piecewise table instead (kGaussTailFloat):
P(a) = Phi(-a) exp(a^2/2) on the 16 intervals |a - i| <= 1/2 (i = 0..15; a >= 0), a polynomial
of degree 7 in u = a - i each, looked up lane by lane with one permute per coefficient. The
coefficients are rounded to float one at a time, lowest first, the higher ones refitted
(relative least squares at 400 Chebyshev points) to what the rounding left: relative error
<= 5e-8, mostly the constant term's own rounding (half a float ulp).

    python cpp/tools/fit_erfc.py   # prints the C++ arrays pasted into vecmath.hpp
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50
Z_MAX = 27  # erfc(27) is below the smallest double
T_MIN = 1 / (1 + mp.mpf(Z_MAX) / 2)
Z_MAX_FLOAT = 14 / mp.sqrt(2)  # |x| = 14: Phi(-14) * 14 is below the smallest float
T_MIN_FLOAT = 1 / (1 + Z_MAX_FLOAT / 2)


def h(t):
    z = (1 / t - 1) * 2
    return mp.erfc(z) * mp.exp(z * z) / t


def chebyshev_interpolant(degree, t_min=T_MIN):
    n = degree + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    values = [h(t_min + (1 - t_min) * (x + 1) / 2) for x in nodes]
    coeffs = []
    for j in range(n):
        s = sum(v * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k, v in enumerate(values))
        coeffs.append(2 * s / n)
    coeffs[0] /= 2
    return coeffs


def to_monomial(coeffs):
    """Coefficients of sum c_j T_j(u) in powers of u, highest power first."""
    basis = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for _ in range(2, len(coeffs)):
        twice = [mp.mpf(0)] + [2 * v for v in basis[-1]]
        prev = basis[-2] + [mp.mpf(0)] * (len(twice) - len(basis[-2]))
        basis.append([a - b for a, b in zip(twice, prev)])
    powers = [mp.mpf(0)] * len(coeffs)
    for c, t in zip(coeffs, basis):
        for k, v in enumerate(t):
            powers[k] += c * v
    return powers[::-1]


def gauss_tail(a):
    return mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2) / 2


def piecewise_float(degree=7, intervals=16, samples=400):
    """Rows of coefficients (highest power first), one column per interval; the worst relative
    error."""
    nodes = np.cos(np.pi * (np.arange(samples) + 0.5) / samples)
    table, worst = [], 0.0
    for i in range(intervals):
        lo = 0.0 if i == 0 else -0.5  # a >= 0
        u = lo + (0.5 - lo) * (nodes + 1) / 2
        f = np.array([float(gauss_tail(mp.mpf(i) + mp.mpf(v))) for v in u])
        left, coeffs = f.copy(), []
        for j in range(degree + 1):
            basis = np.stack([u**k for k in range(j, degree + 1)], axis=1) / f[:, None]
            fit = np.linalg.lstsq(basis, left / f, rcond=None)[0]
            coeffs.append(float(np.float32(fit[0])))
            left -= coeffs[-1] * u**j
        worst = max(worst, float(np.max(np.abs(left / f))))
        table.append(coeffs)
    return [list(row) for row in zip(*table)][::-1], worst


def main():
    print(f"// t_min = {mp.nstr(T_MIN, 25)}, float: {mp.nstr(T_MIN_FLOAT, 25)}")
    for name, degree in (("kErfcTailFloat", 10), ("kErfcTailDouble", 27)):
        if name == "kErfcTailFloat":
            c = to_monomial(chebyshev_interpolant(degree, T_MIN_FLOAT))
        else:
            c = chebyshev_interpolant(degree)
        body = ",\n    ".join(mp.nstr(v, 20, min_fixed=-1, max_fixed=-1) for v in c)
        print(f"constexpr double {name}[{degree + 1}] = {{\n    {body}}};")
    rows, worst = piecewise_float()
    print(f"// piecewise float table, relative error {worst:.2g}:")
    print(f"alignas(64) constexpr float kGaussTailFloat[{len(rows)}][16] = {{")
    for row in rows:
        print("    {" + ", ".join(str(np.float32(v)) + "f" for v in row) + "},")
    print("};")


if __name__ == "__main__":
    main()
