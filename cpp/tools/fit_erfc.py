"""Generates the Chebyshev coefficients of the erfc tail factor used by GELU (vecmath.hpp).

With z = |x|/sqrt(2) and t = 1 / (1 + z/2), erfc(z) = t * h(t) * exp(-z^2), where h is smooth
on [t_min, 1] (t_min at z = 27, where erfc underflows in double). h is interpolated at Chebyshev
nodes in 50-digit arithmetic (mpmath). Double results evaluate the 28-term series by Clenshaw's
recurrence; float results (computed in double) use the 13-term interpolant converted to powers
of u, evaluated by Horner's rule: half the operations, and 1e-9 is all float needs.

    python cpp/tools/fit_erfc.py   # prints the C++ arrays pasted into vecmath.hpp
"""

import mpmath as mp

mp.mp.dps = 50
Z_MAX = 27
T_MIN = 1 / (1 + mp.mpf(Z_MAX) / 2)


def h(t):
    z = (1 / t - 1) * 2
    return mp.erfc(z) * mp.exp(z * z) / t


def chebyshev_interpolant(degree):
    n = degree + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    values = [h(T_MIN + (1 - T_MIN) * (x + 1) / 2) for x in nodes]
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


def main():
    print(f"// t_min = {mp.nstr(T_MIN, 25)}")
    for name, degree in (("kErfcTailFloat", 12), ("kErfcTailDouble", 27)):
        c = chebyshev_interpolant(degree)
        if name == "kErfcTailFloat":
            c = to_monomial(c)
        body = ",\n    ".join(mp.nstr(v, 20, min_fixed=-1, max_fixed=-1) for v in c)
        print(f"constexpr double {name}[{degree + 1}] = {{\n    {body}}};")


if __name__ == "__main__":
    main()
