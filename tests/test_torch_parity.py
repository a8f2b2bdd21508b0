"""Optional cross-check against PyTorch CPU (not a dependency: skipped when torch is absent).

The float64 reference is the truth the suite asserts; this module checks that nnkernels follows
PyTorch's conventions: defaults, values at kinks (relu'(0), hardtanh' on the bounds, ...),
thresholds and the parameterized forms.
"""

import numpy as np
import pytest

import nnkernels as nk

torch = pytest.importorskip("torch")
F = torch.nn.functional

X = np.concatenate([np.linspace(-8, 8, 1601), [-3.0, 0.0, 3.0, 6.0, -1.0, 1.0, 25.0, -25.0]])

CASES = {
    "sigmoid": (torch.sigmoid, {}),
    "tanh": (torch.tanh, {}),
    "relu": (F.relu, {}),
    "relu6": (F.relu6, {}),
    "hardtanh": (lambda t: F.hardtanh(t, -2.0, 0.5), {"min_val": -2.0, "max_val": 0.5}),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), {"negative_slope": 0.2}),
    "elu": (lambda t: F.elu(t, 0.7), {"alpha": 0.7}),
    "selu": (F.selu, {}),
    "celu": (lambda t: F.celu(t, 1.5), {"alpha": 1.5}),
    "gelu": (F.gelu, {}),
    "silu": (F.silu, {}),
    "mish": (F.mish, {}),
    "softplus": (lambda t: F.softplus(t, 2.0, 5.0), {"beta": 2.0, "threshold": 5.0}),
    "softsign": (F.softsign, {}),
    "hardsigmoid": (F.hardsigmoid, {}),
    "hardswish": (F.hardswish, {}),
    "logsigmoid": (F.logsigmoid, {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_backward_match_pytorch(name):
    fn, params = CASES[name]
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    y = fn(t)
    y.backward(torch.ones_like(t))
    np.testing.assert_allclose(
        getattr(nk, name)(X, **params), y.detach().numpy(), rtol=1e-12, atol=1e-15
    )
    rtol = 1e-7 if name == "hardsigmoid" else 1e-12  # PyTorch uses a float32 1/6 in float64
    np.testing.assert_allclose(
        getattr(nk, name + "_grad")(X, **params), t.grad.numpy(), rtol=rtol, atol=1e-15
    )


def test_gelu_tanh_matches_pytorch():
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    y = F.gelu(t, approximate="tanh")
    y.backward(torch.ones_like(t))
    np.testing.assert_allclose(
        nk.gelu(X, approximate="tanh"), y.detach().numpy(), rtol=1e-12, atol=1e-15
    )
    # PyTorch's 1 + tanh(u) cancels to 0 below x ~ -7; nnkernels keeps the ~1e-15 true value
    np.testing.assert_allclose(
        nk.gelu_grad(X, approximate="tanh"), t.grad.numpy(), rtol=1e-12, atol=1e-14
    )


def test_softmax_matches_pytorch():
    x = np.random.default_rng(0).standard_normal((5, 7))
    np.testing.assert_allclose(
        nk.softmax(x, axis=0), torch.softmax(torch.tensor(x), 0).numpy(), rtol=1e-13
    )
    np.testing.assert_allclose(
        nk.log_softmax(x), torch.log_softmax(torch.tensor(x), -1).numpy(), rtol=1e-13
    )


def test_prelu_matches_pytorch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5))
    w = np.array([0.1, -0.3, 0.25])
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    y = F.prelu(tx, tw)
    dy = rng.standard_normal(x.shape)
    y.backward(torch.tensor(dy))
    dx, dw = nk.prelu_backward(dy, x, w)
    np.testing.assert_allclose(nk.prelu(x, w), y.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-12)
