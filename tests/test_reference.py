"""The reference is itself checked: hand-written derivatives against finite differences."""

import numpy as np
import pytest

from . import reference as R


@pytest.mark.parametrize("name", sorted(R.REFS))
def test_reference_derivative_matches_finite_differences(name):
    ref = R.REFS[name]
    x = np.linspace(-7.3, 7.1, 577)
    for kink in ref.kinks:
        x = x[np.abs(x - kink) > 1e-3]
    h = 1e-6
    fd = (ref.f(x + h) - ref.f(x - h)) / (2 * h)
    np.testing.assert_allclose(ref.df(x), fd, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize(
    "name,params",
    [
        ("leaky_relu", {"negative_slope": 0.3}),
        ("elu", {"alpha": 0.7}),
        ("celu", {"alpha": 2.5}),
        ("swish", {"beta": 1.7}),
        ("softplus", {"beta": 2.0, "threshold": 10.0}),
        ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ],
)
def test_reference_derivative_with_parameters(name, params):
    ref = R.REFS[name]
    x = np.linspace(-7.3, 7.1, 577)
    x = x[np.min(np.abs(x[:, None] - np.array([0.0, -2.0, 0.5, 5.0])), axis=1) > 1e-3]
    h = 1e-6
    fd = (ref.f(x + h, **params) - ref.f(x - h, **params)) / (2 * h)
    np.testing.assert_allclose(ref.df(x, **params), fd, rtol=1e-6, atol=1e-8)


def test_softmax_reference_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5))
    dy = rng.standard_normal((3, 5))
    h = 1e-6
    for f, b in ((R.softmax, R.softmax_backward), (R.log_softmax, R.log_softmax_backward)):
        grad = b(dy, f(x))
        for i, j in [(0, 0), (1, 3), (2, 4)]:
            e = np.zeros_like(x)
            e[i, j] = h
            fd = (np.sum(dy * f(x + e)) - np.sum(dy * f(x - e))) / (2 * h)
            assert abs(fd - grad[i, j]) < 1e-7
