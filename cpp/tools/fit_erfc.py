"""Generates the Chebyshev coefficients of the erfc tail factor used by GELU (vecmath.hpp).

With z = |x|/sqrt(2) and t = 1 / (1 + z/2), erfc(z) = t * h(t) * exp(-z^2), where h is smooth
on [t_min, 1] (t_min at z = 27, where erfc underflows in double). h is interpolated at Chebyshev
nodes in 50-digit arithmetic (mpmath). Double results evaluate the 28-term series by Clenshaw's
recurrence; float results use an 11-term interpolant on the range that matters to float
(|x| <= 14), converted to powers of u and evaluated by Horner's rule (5e-9: float needs no more).

    python cpp/tools/fit_erfc.py   # prints the C++ arrays pasted into vecmath.hpp
"""

import mpmath as mp

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


def main():
    print(f"// t_min = {mp.nstr(T_MIN, 25)}, float: {mp.nstr(T_MIN_FLOAT, 25)}")
    for name, degree in (("kErfcTailFloat", 10), ("kErfcTailDouble", 27)):
        if name == "kErfcTailFloat":
            c = to_monomial(chebyshev_interpolant(degree, T_MIN_FLOAT))
        else:
            c = chebyshev_interpolant(degree)
        body = ",\n    ".join(mp.nstr(v, 20, min_fixed=-1, max_fixed=-1) for v in c)
        print(f"constexpr double {name}[{degree + 1}] = {{\n    {body}}};")


if __name__ == "__main__":
    main()
