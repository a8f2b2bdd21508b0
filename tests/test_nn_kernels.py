"""The layer kernels of nnkernels.nn: fused bias + activation (every elementwise activation, both
backward forms) against tests/reference.py, deterministic bias gradients, the dropout family's
statistics and masks, and bad input that leaves every array unchanged; on every ISA level."""

import numpy as np
import pytest

import nnkernels as nk
from nnkernels.nn import functional as F

from .checks import assert_within, sensitivity
from .test_activations import CASE_IDS, CASES, bound_of, reference_of

ROWS, COLS = 37, 129  # odd sizes: vector remainders and a partial row block


def inputs(dtype, rows=ROWS, cols=COLS, seed=3):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-6, 6, (rows, cols)).astype(dtype)
    b = rng.uniform(-1, 1, cols).astype(dtype)
    dy = rng.uniform(-1, 1, (rows, cols)).astype(dtype)
    return z, b, dy


def assert_same_kernel(fused, unfused, dy, arg):
    """The fused backward runs the activation's own code: the unfused result up to FMA
    contraction, which the compiler may choose differently per loop and per build (it does
    under the sanitizers). That is 1 ulp, or, where f' crosses zero and its terms cancel, a
    few eps of |dy| (1 + |arg|) absolute."""
    eps = np.finfo(fused.dtype).eps
    diff = np.abs(fused.astype(np.float64) - unfused.astype(np.float64))
    one_ulp = np.spacing(np.abs(unfused)).astype(np.float64)
    cancel = 4 * eps * np.abs(dy.astype(np.float64)) * (1 + np.abs(arg.astype(np.float64)))
    bad = ~((diff <= np.maximum(one_ulp, cancel)) | (np.isnan(fused) & np.isnan(unfused)))
    assert not bad.any(), f"fused {fused[bad][:4]} vs unfused {unfused[bad][:4]} at {arg[bad][:4]}"


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_bias_activation_forward_and_backward(isa, dtype, name, params):
    ref, rp = reference_of(name, params)
    ulp, floor = bound_of(name, params)
    z, b, dy = inputs(dtype)
    pre = np.empty_like(z)
    y = F.bias_activation(z, b, name, pre=pre, **params)
    np.testing.assert_array_equal(pre, z + b)  # the same IEEE addition
    # the activation's own code: the unfused kernel's result (up to FMA contraction, which the
    # compiler may choose differently in a loop's vector body and its remainder)
    np.testing.assert_array_max_ulp(y, getattr(nk, name)(pre, **params), maxulp=1)
    a64 = pre.astype(np.float64)
    with np.errstate(all="ignore"):
        f, df = ref.f(a64, **rp), ref.df(a64, **rp)
        sens = sensitivity(lambda v: ref.df(v, **rp), a64) * np.abs(dy.astype(np.float64))
    flat = pre.ravel()
    what = f"{name} fused forward [{isa}]"
    assert_within(y.ravel(), f.ravel(), flat, dtype, ulp, floor, what)
    dz, db = F.bias_activation_backward(dy, x=pre, activation=name, **params)
    assert_same_kernel(dz, getattr(nk, name + "_backward")(dy, x=pre, **params), dy, pre)
    # dy * f' rounds once more than f': one extra ulp (as test_activations)
    want = (dy * df).ravel()
    what = f"{name} fused backward [{isa}]"
    assert_within(dz.ravel(), want, flat, dtype, ulp + 1, 2 * floor, what, sens.ravel())
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(db, dz.astype(np.float64).sum(axis=0), rtol=rtol, atol=rtol)
    if nk.activations.kernel_of(name, **params)[2]:
        dz_y, db_y = F.bias_activation_backward(dy, y=y, activation=name, **params)
        unfused = getattr(nk, name + "_backward")(dy, y=y, **params)
        assert_same_kernel(dz_y, unfused, dy, y)
        y64 = y.astype(np.float64)
        with np.errstate(all="ignore"):
            want = dy * ref.df_from_y(y64, **rp)
            sens = sensitivity(lambda v: ref.df_from_y(v, **rp), y64) * np.abs(
                dy.astype(np.float64)
            )
        what = f"{name} fused backward from y [{isa}]"
        assert_within(
            dz_y.ravel(), want.ravel(), y.ravel(), dtype, ulp + 1, 2 * floor, what, sens.ravel()
        )
        np.testing.assert_allclose(db_y, dz_y.astype(np.float64).sum(axis=0), rtol=rtol, atol=rtol)


# tanh runs auto-vectorized loops everywhere; sigmoid and silu run explicit vectors on AVX-512
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "silu"])
def test_bias_activation_in_place(isa, dtype, name):
    z, b, dy = inputs(dtype)
    want = getattr(nk, name)(z + b)
    y = F.bias_activation(z, b, name, out=z)
    assert y is z
    np.testing.assert_array_equal(z, want)
    backward = getattr(nk, name + "_backward")
    from_y = nk.activations.kernel_of(name)[2]
    saved = {"y": z} if from_y else {"x": z}
    want_dz = backward(dy, **saved)
    dz, db = F.bias_activation_backward(dy, activation=name, out=dy, **saved)
    assert dz is dy
    np.testing.assert_array_equal(dz, want_dz)
    # dz in place of the saved array
    _, _, dy = inputs(dtype, seed=4)
    saved_copy = z.copy()
    want_dz = backward(dy, **{k: saved_copy for k in saved})
    dz, db2 = F.bias_activation_backward(dy, activation=name, out=z, **saved)
    assert dz is z
    np.testing.assert_array_equal(dz, want_dz)
    # pre in place, output elsewhere
    z, b, _ = inputs(dtype)
    want_pre = z + b
    out = np.empty_like(z)
    F.bias_activation(z, b, name, pre=z, out=out)
    np.testing.assert_array_equal(z, want_pre)
    np.testing.assert_array_equal(out, getattr(nk, name)(want_pre))


@pytest.mark.parametrize("name", ["gelu", "silu"])  # auto-vectorized, explicit vectors
def test_bias_gradient_same_bits_for_any_thread_count(isa, dtype, name):
    z, b, dy = inputs(dtype, rows=3000, cols=100)  # 19 row blocks of 163 rows
    pre = z + b
    results = []
    for n in (1, 2):
        with nk.threads(n):
            results.append(F.bias_activation_backward(dy, x=pre, activation=name))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_bias_activation_parameters_and_from_output_rules():
    z, b, dy = inputs(np.float64)
    y = F.bias_activation(z, b, "leaky_relu", negative_slope=0.2)
    a = z + b
    np.testing.assert_array_equal(y, np.where(a > 0, a, 0.2 * a))
    with pytest.raises(TypeError, match="not a function of its output"):
        F.bias_activation_backward(dy, y=y, activation="gelu")
    with pytest.raises(ValueError, match="not an elementwise activation"):
        F.bias_activation(z, b, "softmax")
    with pytest.raises(TypeError, match="unknown parameter"):
        F.bias_activation(z, b, "relu", alpha=1.0)


def test_bias_activation_bad_input_writes_nothing(isa):
    z, b, dy = inputs(np.float32)
    out = np.full_like(z, 7.0)
    z0 = z.copy()
    with pytest.raises(ValueError, match=r"bias has shape \(128,\); expected \(129,\)"):
        F.bias_activation(z, b[:-1], "relu", out=out)
    with pytest.raises(TypeError, match="out has dtype float64"):
        F.bias_activation(z, b, "relu", out=out.astype(np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        F.bias_activation(z, b, "relu", out=out[:-1])
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        F.bias_activation(z, b, "relu", out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        F.bias_activation(z, b, "relu", out=np.empty((COLS, ROWS), np.float32).T)
    with pytest.raises(ValueError, match="overlaps"):
        F.bias_activation(z, b, "gelu", pre=out, out=out)
    with pytest.raises(ValueError, match="2-D"):
        F.bias_activation(z[0], b, "relu")
    dz = np.full_like(dy, 5.0)
    with pytest.raises(ValueError, match="dbias has shape"):
        F.bias_activation_backward(
            dy, x=z, activation="relu", out=dz, dbias=np.empty(3, np.float32)
        )
    assert (out == 7).all() and (dz == 5).all()
    np.testing.assert_array_equal(z, z0)


# ---- dropout ----------------------------------------------------------------------------------


def test_dropout_statistics_and_scaling(isa, dtype):
    n, p = 1 << 20, 0.3
    y = F.dropout(np.ones(n, dtype), p, seed=123)
    dropped = np.count_nonzero(y == 0) / n
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[y != 0], dtype(1 / (1 - p)), rtol=0)
    # neighbouring elements are independent: P(both dropped) = p^2
    both = np.count_nonzero((y[:-1] == 0) & (y[1:] == 0)) / (n - 1)
    assert abs(both - p * p) < 5 * np.sqrt(p * p / n)
    assert np.count_nonzero(F.dropout(np.ones(n, dtype), 0.0, seed=1) == 0) == 0
    assert np.count_nonzero(F.dropout(np.ones(n, dtype), 1.0, seed=1)) == 0


def test_dropout_mask_depends_on_seed_only(isa):
    x = np.random.default_rng(0).standard_normal((513, 257)).astype(np.float32)
    with nk.threads(1):
        one = F.dropout(x, 0.5, seed=42)
    with nk.threads(2):
        two = F.dropout(x, 0.5, seed=42)
    np.testing.assert_array_equal(one, two)
    other = F.dropout(x, 0.5, seed=43)
    assert not np.array_equal(one == 0, other == 0)
    # the same seed gives the same mask on a prefix: element i depends on (seed, i) only
    np.testing.assert_array_equal(F.dropout(x.ravel()[:1000], 0.5, seed=42), one.ravel()[:1000])


def test_dropout_backward_regenerates_the_mask(isa, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 33)).astype(dtype)
    dy = rng.standard_normal((64, 33)).astype(dtype)
    y = F.dropout(x, 0.25, seed=7)
    dx = F.dropout_backward(dy, 0.25, seed=7)
    kept = y != 0
    np.testing.assert_array_equal(dx, np.where(kept, dy * dtype(1 / 0.75), 0))
    np.testing.assert_array_equal(y, np.where(kept, x * dtype(1 / 0.75), 0))
    # in place
    x2 = x.copy()
    assert F.dropout(x2, 0.25, seed=7, out=x2) is x2
    np.testing.assert_array_equal(x2, y)


def test_dropout_nan_in_nan_out(isa):
    x = np.full(4096, np.nan, np.float32)
    assert np.isnan(F.dropout(x, 0.5, seed=3)).all()


def test_alpha_dropout_keeps_mean_and_variance(isa, dtype):
    n, p = 1 << 20, 0.2
    x = np.random.default_rng(2).standard_normal(n).astype(dtype)
    y = F.alpha_dropout(x, p, seed=9)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    kept = F.dropout(np.ones(n, dtype), p, seed=9) != 0  # the same mask: same (seed, index)
    a = ((1 - p) * (1 + p * F.SELU_ALPHA_PRIME**2)) ** -0.5
    b = -a * F.SELU_ALPHA_PRIME * p
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y[kept], a * x[kept].astype(np.float64) + b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(y[~kept], a * F.SELU_ALPHA_PRIME + b, rtol=rtol)
    dy = np.ones(n, dtype)
    dx = F.alpha_dropout_backward(dy, p, seed=9)
    np.testing.assert_allclose(dx, np.where(kept, a, 0.0), rtol=rtol)


@pytest.mark.parametrize("spatial", [2, 3])
def test_channel_dropout_drops_whole_channels(isa, spatial):
    shape = (6, 16) + (5,) * spatial
    x = np.random.default_rng(4).uniform(1, 2, shape).astype(np.float32)
    fn = F.dropout2d if spatial == 2 else F.dropout3d
    y = fn(x, 0.5, seed=11)
    per_channel = (y == 0).reshape(6, 16, -1)
    assert (per_channel.all(axis=2) | ~per_channel.any(axis=2)).all()
    assert 0 < per_channel.all(axis=2).sum() < 96
    kept = ~per_channel.all(axis=2)
    np.testing.assert_array_equal(y.reshape(6, 16, -1)[kept], 2 * x.reshape(6, 16, -1)[kept])
    dy = np.ones_like(x)
    dx = F.dropout_nd_backward(dy, 0.5, seed=11, spatial=spatial)
    np.testing.assert_array_equal(dx == 0, y == 0)
    # unbatched input (C, ...) is accepted too
    assert fn(x[0], 0.5, seed=11).shape == x[0].shape
    with pytest.raises(ValueError, match="must be"):
        fn(x.reshape(6, -1), 0.5, seed=11)


def test_dropout_bad_input_writes_nothing(isa):
    x = np.ones((8, 8), np.float32)
    out = np.full_like(x, 3.0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        F.dropout(x, 1.5, seed=1, out=out)
    with pytest.raises(TypeError, match="seed must be an integer"):
        F.dropout(x, 0.5, seed=np.random.default_rng(), out=out)
    with pytest.raises(TypeError, match="out has dtype float64"):
        F.dropout(x, 0.5, seed=1, out=out.astype(np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        F.dropout(x, 0.5, seed=1, out=out[:2])
    assert (out == 3).all() and (x == 1).all()
