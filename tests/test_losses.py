"""Every loss against tests/reference.py on every ISA level and dtype: values and gradients for
each reduction and option, finite differences, sizes, extremal logits, determinism across thread
counts, layouts, and bad input (nothing written on error)."""

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import losses as L

from . import reference as R

RNG = np.random.default_rng(2024)


@pytest.fixture(autouse=True)
def _same_inputs_per_test():
    """Every test draws the same inputs whichever tests run before it."""
    RNG.bit_generator.state = np.random.default_rng(2024).bit_generator.state


# ---- inputs: (pred, target) in float64, before the cast to the test dtype ----


def _real(n):
    return RNG.normal(0, 3, n), RNG.normal(0, 3, n)


def _probs(n):
    return RNG.uniform(0.001, 0.999, n), RNG.uniform(0, 1, n)


def _binary_probs(n):
    return RNG.uniform(0.001, 0.999, n), (RNG.uniform(size=n) > 0.5).astype(np.float64)


def _logits_binary(n):
    return RNG.normal(0, 4, n), (RNG.uniform(size=n) > 0.5).astype(np.float64)


def _logits_soft(n):
    return RNG.normal(0, 4, n), RNG.uniform(0, 1, n)


def _signs(n):
    return RNG.normal(0, 1.5, n), np.where(RNG.uniform(size=n) > 0.5, 1.0, -1.0)


def _above_minus_one(n):
    return RNG.uniform(-0.9, 6, n), RNG.uniform(-0.9, 6, n)


def _poisson(n):
    return RNG.normal(0, 1, n), RNG.poisson(2.0, n).astype(np.float64)


def _poisson_rates(n):
    return RNG.uniform(0.05, 5, n), RNG.poisson(2.0, n).astype(np.float64)


def _kl(n):
    t = RNG.uniform(0, 1, n)
    t[::7] = 0
    return -RNG.uniform(0.01, 6, n), t


def _kl_log(n):
    return -RNG.uniform(0.01, 6, n), -RNG.uniform(0.01, 6, n)


POINT_CASES = [
    ("mse", {}, _real),
    ("mae", {}, _real),
    ("mbe", {}, _real),
    ("huber", {}, _real),
    ("huber", {"delta": 2.5}, _real),
    ("smooth_l1", {}, _real),
    ("smooth_l1", {"beta": 0.3}, _real),
    ("smooth_l1", {"beta": 0.0}, _real),
    ("log_cosh", {}, _real),
    ("mape", {}, _real),
    ("msle", {}, _above_minus_one),
    ("poisson", {}, _poisson),
    ("poisson", {"full": True}, _poisson),
    ("poisson", {"log_input": False}, _poisson_rates),
    ("binary_cross_entropy", {}, _binary_probs),
    ("binary_cross_entropy", {}, _probs),
    ("binary_cross_entropy_with_logits", {}, _logits_binary),
    ("binary_cross_entropy_with_logits", {"pos_weight": 3.0}, _logits_soft),
    ("hinge", {}, _signs),
    ("squared_hinge", {}, _signs),
    ("binary_focal_loss", {}, _logits_binary),
    ("binary_focal_loss", {"gamma": 0.0, "alpha": -1.0}, _logits_soft),
    ("binary_focal_loss", {"gamma": 1.0, "alpha": 0.6}, _logits_soft),
    ("kl_div", {}, _kl),
    ("kl_div", {"log_target": True}, _kl_log),
]


def _logits(rows, classes):
    return RNG.normal(0, 3, (rows, classes))


def _labels(rows, classes, ignore=False):
    y = RNG.integers(0, classes, rows)
    if ignore:
        y[::3] = -100
    return y


def _dist(rows, classes):
    t = RNG.uniform(0, 1, (rows, classes))
    return t / t.sum(-1, keepdims=True)


def _ce_labels(r, c):
    return _logits(r, c), _labels(r, c, ignore=True)


def _ce_probs(r, c):
    return _logits(r, c), _dist(r, c)


def _nll(r, c):
    return R._log_softmax_rows(_logits(r, c)), _labels(r, c, ignore=True)


def _cat_probs(r, c):
    return _dist(r, c), _dist(r, c)


def _cat_onehot(r, c):
    return _dist(r, c), R._onehot(_labels(r, c), c)


def _sparse(r, c):
    return _dist(r, c), _labels(r, c)


def _cosine(r, c):
    return _logits(r, c), _logits(r, c)


W5 = np.array([0.5, 2.0, 1.0, 0.25, 3.0])
ROW_CASES = [
    ("cross_entropy", {}, _ce_labels),
    ("cross_entropy", {"weight": W5}, _ce_labels),
    ("cross_entropy", {"label_smoothing": 0.1}, _ce_labels),
    ("cross_entropy", {"weight": W5, "label_smoothing": 0.3}, _ce_labels),
    ("cross_entropy", {}, _ce_probs),
    ("cross_entropy", {"weight": W5, "label_smoothing": 0.2}, _ce_probs),
    ("nll_loss", {}, _nll),
    ("nll_loss", {"weight": W5}, _nll),
    ("categorical_cross_entropy", {}, _cat_probs),
    ("categorical_cross_entropy", {}, _cat_onehot),
    ("categorical_cross_entropy", {"label_smoothing": 0.1}, _cat_onehot),
    ("sparse_categorical_cross_entropy", {}, _sparse),
    ("cosine_similarity", {}, _cosine),
    ("categorical_hinge", {}, _cat_onehot),
]


def _ids(cases):
    def one(name, params, gen):
        opts = "".join(f"-{k}={v if np.isscalar(v) else 'w'}" for k, v in params.items())
        return f"{name}{opts}-{gen.__name__}"

    return [one(*c) for c in cases]


def _ref_params(name, params):
    drop = {"axis"}
    if name in ("cross_entropy", "nll_loss", "kl_div"):
        drop = set()
    return {k: v for k, v in params.items() if k not in drop}


def reference(name, pred, target, params, reduction):
    """(loss, grad) of the float64 reference for a reduction."""
    values, grad = R.LOSS_REFS[name](pred, target, **_ref_params(name, params))
    if reduction == "none":
        return values, grad
    total = np.sum(values)
    if reduction == "sum":
        return total, grad
    if name in ("cross_entropy", "nll_loss"):
        count = R.ce_mean_count(target, pred.shape, params.get("weight"))
    elif reduction == "batchmean":
        count = pred.shape[0]
    else:
        count = values.size
    return total / count, grad / count


# float32: within 4 eps relative, with an absolute floor of 4 eps times the array's largest
# magnitude (gradients that cancel to near 0, such as softmax - onehot); the README states it.
RTOL32 = 4 * float(np.finfo(np.float32).eps)


def assert_close(got, ref, dtype, what, scale=None):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN pattern")
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    rtol = RTOL32 if dtype == np.float32 else 1e-11
    mag = np.max(np.abs(ref[finite]), initial=0.0) if scale is None else scale
    np.testing.assert_allclose(got[finite], ref[finite], rtol=rtol, atol=rtol * mag, err_msg=what)


def _cast(dtype, *arrays):
    """The test dtype for float arrays; the reference sees exactly the rounded inputs."""
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def _check(name, params, pred, target, dtype, reduction, rtol_sum=None):
    pred, target = _cast(dtype, pred, target)
    fn = getattr(L, name + "_value_and_grad")
    ref_loss, ref_grad = reference(name, pred, target, params, reduction)
    loss, grad = fn(pred, target, reduction=reduction, **params)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    assert grad.shape == pred.shape
    assert_close(loss, ref_loss, dtype, f"{name} value ({reduction})")
    assert_close(grad, ref_grad, dtype, f"{name} grad ({reduction})")
    # The single-purpose functions agree with the fused one bit for bit.
    value_only = getattr(L, name)(pred, target, reduction=reduction, **params)
    np.testing.assert_array_equal(value_only, loss)
    np.testing.assert_array_equal(
        getattr(L, name + "_grad")(pred, target, **params, reduction=reduction), grad
    )


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,params,gen", POINT_CASES, ids=_ids(POINT_CASES))
def test_pointwise_against_reference(isa, dtype, name, params, gen, reduction):
    pred, target = gen(257)
    _check(name, params, pred.reshape(257), target, dtype, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,params,gen", ROW_CASES, ids=_ids(ROW_CASES))
def test_rowwise_against_reference(isa, dtype, name, params, gen, reduction):
    pred, target = gen(37, 5)
    _check(name, params, pred, target, dtype, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_per_class_pos_weight(isa, dtype, reduction):
    x, t = _logits_soft(37 * 5)
    params = {"pos_weight": np.array([0.5, 1.0, 2.0, 3.5, 10.0])}
    _check(
        "binary_cross_entropy_with_logits",
        params,
        x.reshape(37, 5),
        t.reshape(37, 5),
        dtype,
        reduction,
    )
    with pytest.raises(ValueError, match=r"pos_weight has shape \(3,\)"):
        L.binary_cross_entropy_with_logits(x.reshape(37, 5), t.reshape(37, 5), pos_weight=[1, 2, 3])


def test_kl_div_batchmean(isa, dtype):
    x, t = _kl(60)
    _check("kl_div", {}, x.reshape(6, 10), t.reshape(6, 10), dtype, "batchmean")


# ---- the reference's gradient against finite differences ----


def _fd_grad(name, pred, target, params):
    def total(p):
        return np.sum(R.LOSS_REFS[name](p, target, **_ref_params(name, params))[0])

    h = 1e-6
    g = np.zeros_like(pred)
    for i in np.ndindex(pred.shape):
        e = np.zeros_like(pred)
        e[i] = h * max(1.0, abs(pred[i]))
        g[i] = (total(pred + e) - total(pred - e)) / (2 * e[i])
    return g


@pytest.mark.parametrize("name,params,gen", POINT_CASES, ids=_ids(POINT_CASES))
def test_pointwise_reference_grad_is_finite_difference(name, params, gen):
    pred, target = gen(23)
    ref = R.LOSS_REFS[name](pred, target, **_ref_params(name, params))[1]
    np.testing.assert_allclose(ref, _fd_grad(name, pred, target, params), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,params,gen", ROW_CASES, ids=_ids(ROW_CASES))
def test_rowwise_reference_grad_is_finite_difference(name, params, gen):
    pred, target = gen(4, 5)
    ref = R.LOSS_REFS[name](pred, target, **_ref_params(name, params))[1]
    np.testing.assert_allclose(ref, _fd_grad(name, pred, target, params), rtol=1e-5, atol=1e-6)


# ---- sizes, classes, extremes ----


@pytest.mark.parametrize("n", [1, 7, 17, 1000003])
@pytest.mark.parametrize("name", ["mse", "log_cosh", "binary_cross_entropy_with_logits"])
def test_pointwise_sizes(isa, dtype, name, n):
    gen = dict((c[0], c[2]) for c in POINT_CASES)[name]
    pred, target = gen(n)
    _check(name, {}, pred, target, dtype, "mean")


@pytest.mark.parametrize("name", ["mse", "log_cosh", "binary_cross_entropy_with_logits"])
def test_float32_sum_accuracy_on_16m(name):
    """mse sums in double; log_cosh and BCE with logits (explicit vectors) in float runs of 8."""
    pred, target = (RNG.standard_normal(16 * 2**20, dtype=np.float32) for _ in range(2))
    if name == "binary_cross_entropy_with_logits":
        target = (target > 0).astype(np.float32)
    got = getattr(L, name)(pred, target, reduction="sum")
    ref = np.sum(getattr(R, "loss_" + name)(pred.astype(np.float64), target)[0])
    assert abs(float(got) - ref) <= 1e-6 * ref


@pytest.mark.parametrize("name", ["log_cosh", "binary_cross_entropy_with_logits"])
def test_float32_mean_of_terms_near_the_maximum(isa, name):
    """Three terms of 1.5e38 pass the float maximum: a float partial sum must not overflow
    where the mean does not; infinite terms give inf, also with the gradient written into pred
    (a first version summed such a block again from pred after the gradient had replaced it)."""
    pred, target = np.full(40, -1.5e38, np.float32), np.ones(40, np.float32)
    if name == "log_cosh":
        target = -pred
    ref = np.mean(getattr(R, "loss_" + name)(pred.astype(np.float64), target)[0])
    f = getattr(L, name + "_value_and_grad")
    for in_place in (False, True):
        q = pred.copy()
        got, _ = f(q, target, out=q if in_place else None)
        assert np.isfinite(got) and abs(float(got) - ref) <= 1e-6 * ref, in_place
        q = np.array([-np.inf, 0.5], np.float32)
        got, _ = f(q, np.ones(2, np.float32), out=q if in_place else None)
        assert got == np.inf, in_place


# 33 and 47: past the short-row path, a pair of vectors and a 1- or 15-lane tail.
@pytest.mark.parametrize("rows,classes", [(7, 1), (9, 33), (5, 47), (3, 50000), (17, 1000)])
def test_cross_entropy_class_counts(isa, dtype, rows, classes):
    z = RNG.normal(0, 3, (rows, classes))
    _check("cross_entropy", {"label_smoothing": 0.1}, z, _labels(rows, classes), dtype, "mean")
    _check("cross_entropy", {}, z, _dist(rows, classes), dtype, "sum")


# 10: the short-row block path; 32: one pair of vectors; 47: a pair and a tail; 1000 and 50000:
# long sums. Other logits at -30: S - 1 below the threshold of a second sum; -17 and -5: near it
# or above it.
@pytest.mark.parametrize("classes", [10, 32, 47, 1000, 50000])
@pytest.mark.parametrize("background", [-30.0, -17.0, -5.0])
def test_confident_rows_keep_relative_accuracy(isa, dtype, classes, background):
    """A confident, correct row has loss log S = log1p(S - 1) with S - 1 tiny. Summed with the
    row's 1, each small term rounds at 2^-53 of it (about n 1e-16 in all: a 1000-class float32
    row of loss 8e-9 was 2.7e-6 relative off), so such rows sum again without their 1s
    (vm::sum_minus_one). Checked per row, relative, for cross_entropy and log_softmax (its max
    element is -log S), contiguous and strided; float32 terms are never added in float."""
    z = np.full((4, classes), background)
    z[:, 0] = 0.0
    z[0, classes // 2], z[1, 1], z[2, classes - 1], z[3, 3:9] = -17.0, -17.0, -16.0, -20.0
    (z,) = _cast(dtype, z)
    labels = np.zeros(4, np.int64)
    ref, _ = reference("cross_entropy", z, labels, {}, "none")
    assert_close(L.cross_entropy(z, labels, reduction="none"), ref, dtype, "cross_entropy", 0.0)
    assert_close(nk.log_softmax(z)[:, 0], R.log_softmax(z)[:, 0], dtype, "log_softmax", 0.0)
    strided = np.asfortranarray(z).T  # the same rows along axis 0, as a strided reduction
    assert_close(nk.log_softmax(strided, axis=0)[0], ref * -1, dtype, "log_softmax axis 0", 0.0)


def test_cross_entropy_extremal_logits(isa, dtype):
    z = RNG.normal(0, 3, (8, 6))
    z[0, 2] = 1e4  # dominant class
    z[1, :] = [1e4, -1e4, 1e4, 0, -1e4, 5]
    z[2, 3] = -np.inf  # a class that can never be chosen
    z[3, 0] = np.inf  # NaN row (inf - inf), as PyTorch
    z[4, 1] = np.nan
    z[5, :] = -1e4
    y = np.array([2, 0, 1, 0, 1, 5, 3, 4])
    for params in ({}, {"label_smoothing": 0.1}):
        for reduction in REDUCTIONS:
            _check("cross_entropy", params, z, y, dtype, reduction)
    loss, grad = L.cross_entropy_value_and_grad(z.astype(dtype), y, reduction="none")
    assert np.isfinite(loss[[0, 1, 2, 5]]).all() and np.isnan(loss[[3, 4]]).all()
    assert grad[2, 3] == 0


def test_pointwise_extremes_and_nan(isa, dtype):
    x = np.array([-1e4, -100, -30, 0, 30, 100, 1e4, np.inf, -np.inf, np.nan, np.inf, -np.inf])
    t = np.array([1, 0, 1, 0.5, 0, 1, 0, 1, 0, 1, 0.5, 0.5])
    names = ["binary_cross_entropy_with_logits", "log_cosh", "mse", "huber", "binary_focal_loss"]
    for name in names:
        _check(name, {}, x, t, dtype, "none")


# Every float32 spacing matters near the polynomial ranges: log_cosh switches form at |d| = 1 and
# log1p(e^-|x|) is one polynomial in e on [0, 1] (softplus's form, BCE with logits, focal loss).
@pytest.mark.parametrize(
    "name,params,target",
    [
        ("log_cosh", {}, 0.0),
        ("binary_cross_entropy_with_logits", {}, 1.0),
        ("binary_cross_entropy_with_logits", {"pos_weight": 3.0}, 0.3),
        ("binary_focal_loss", {}, 0.0),
    ],
)
def test_pointwise_dense_grid(isa, dtype, name, params, target):
    tiny = np.geomspace(1e-30, 1, 400)
    d = np.concatenate([np.linspace(-12, 12, 48001), tiny, -tiny, np.linspace(0.99, 1.01, 2001)])
    _check(name, params, d, np.full_like(d, target), dtype, "none")


# ---- layouts, dtypes, out= ----


def test_cross_entropy_class_axis_one_and_views(isa):
    z = RNG.normal(0, 2, (4, 5, 3))  # (N, C, d) with labels (N, d)
    y = RNG.integers(0, 5, (4, 3))
    loss, grad = L.cross_entropy_value_and_grad(z, y, reduction="none")
    ref_v, ref_g = R.loss_cross_entropy(np.moveaxis(z, 1, -1), y)
    assert_close(loss, ref_v, np.float64, "values")
    assert_close(grad, np.moveaxis(ref_g, -1, 1), np.float64, "grad")
    zt = np.ascontiguousarray(z[:, :, 0].T).T  # F-ordered (4, 5)
    np.testing.assert_array_equal(
        L.cross_entropy_grad(zt, y[:, 0]), L.cross_entropy_grad(np.ascontiguousarray(zt), y[:, 0])
    )
    rev = z[::-1, :, 0]
    np.testing.assert_array_equal(
        L.cross_entropy(rev, y[::-1, 0]), L.cross_entropy(rev.copy(), y[::-1, 0].copy())
    )


def test_out_in_place_and_strided(isa, dtype):
    p, t = (a.astype(dtype) for a in _real(64))
    ref_loss, ref_grad = L.mse_value_and_grad(p, t)
    q = p.copy()
    loss, grad = L.mse_value_and_grad(q, t, out=q)
    assert grad is q and loss == ref_loss
    np.testing.assert_array_equal(q, ref_grad)
    buf = np.zeros(128, dtype)
    out = buf[::2]
    assert L.mse_grad(p, t, out=out) is out
    np.testing.assert_array_equal(out, ref_grad)
    z, y = _ce_labels(6, 5)
    z = z.astype(dtype)
    ref = L.cross_entropy_grad(z, y)
    L.cross_entropy_value_and_grad(z, y, out=z)
    np.testing.assert_array_equal(z, ref)
    x, yy = _nll(6, 5)
    x = x.astype(dtype)
    ref = L.nll_loss_grad(x, yy)
    L.nll_loss_grad(x, yy, out=x)
    np.testing.assert_array_equal(x, ref)


@pytest.mark.parametrize("classes", [5, 33, 300])
def test_cross_entropy_in_place_every_option(isa, dtype, classes):
    """out=pred: the row sums that read z (A, B, z_y) must come before e^(z - m) overwrites it,
    for short rows (block buffer) and long ones (stored in the gradient), with ignored rows,
    class weights, label smoothing and probability targets; values and gradients equal the
    out-of-place call's bits."""
    w = RNG.uniform(0.5, 2, classes)
    z, y = _ce_labels(11, classes)
    _, t = _ce_probs(11, classes)
    z = z.astype(dtype)
    for target, kw in [
        (y, {}),
        (y, {"weight": w, "label_smoothing": 0.2}),
        (t.astype(dtype), {"weight": w, "label_smoothing": 0.1}),
    ]:
        ref_loss, ref_grad = L.cross_entropy_value_and_grad(z, target, **kw)
        q = z.copy()
        loss, grad = L.cross_entropy_value_and_grad(q, target, out=q, **kw)
        assert grad is q
        assert loss == ref_loss
        np.testing.assert_array_equal(q, ref_grad)
        assert L.cross_entropy(z, target, **kw) == ref_loss  # value only: a scratch row


def test_dtype_rules():
    p = np.arange(6)
    t = np.ones(6, np.float32)
    assert L.mse(p, t).dtype == np.float64
    assert L.mse(p.astype(np.float32), t).dtype == np.float32
    assert L.mse_grad(p.astype(np.float16), t).dtype == np.float32
    assert L.cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 2])).dtype == np.float32
    assert L.mse(1.0, 3.0) == 4.0
    # integer or bool targets (labels) keep a float32 pred in float32, so out=pred works
    p32 = np.array([0.3, -2.0, 1.5], np.float32)
    labels = np.array([1, -1, 1])
    want = R.loss_hinge(p32, labels.astype(np.float64))[1] / 3
    loss, grad = L.hinge_value_and_grad(p32, labels, out=p32)
    assert grad is p32 and loss.dtype == np.float32
    np.testing.assert_allclose(grad, want, rtol=1e-6)
    bools = np.array([True, False, True])
    assert L.binary_cross_entropy_with_logits(p32, bools).dtype == np.float32
    assert L.mse(p32, np.ones(3, np.float64)).dtype == np.float64  # a float64 target still counts


def test_sample_weight(isa, dtype):
    p, t = (a.astype(dtype) for a in _real(40))
    w = RNG.uniform(0, 2, 40).astype(dtype)
    v, g = R.loss_huber(p, t)
    loss, grad = L.huber_value_and_grad(p, t, sample_weight=w)
    assert_close(loss, np.sum(w * v) / 40, dtype, "loss")
    assert_close(grad, w * g / 40, dtype, "grad")
    z, y = _ce_labels(8, 5)
    z = z.astype(dtype)
    sw = RNG.uniform(0, 2, 8).astype(dtype)
    v, g = R.loss_cross_entropy(z, y)
    count = R.ce_mean_count(y, z.shape)
    loss, grad = L.cross_entropy_value_and_grad(z, y, sample_weight=sw)
    assert_close(loss, np.sum(sw * v) / count, dtype, "ce loss")
    assert_close(grad, sw[:, None] * g / count, dtype, "ce grad")


def test_focal_and_bce_on_confident_answers(isa, dtype):
    # softplus(x) - t x cancels for confident right answers (0 at x = 15, t = 1); the gamma term
    # of the focal gradient has (1 - p_t)^(gamma - 1) = inf there for gamma < 1, times 0.
    x = np.array([15.0, 10.0, 12.0, 16.0, -100.0, 100.0, -1000.0, 1000.0, 3.0])
    t = np.array([1.0, 0.9999, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.7])
    for params in ({"gamma": 0.0, "alpha": -1.0}, {"gamma": 0.5}, {}):
        _check("binary_focal_loss", params, x[:4], t[:4], dtype, "none")
        _check("binary_focal_loss", params, x, t, dtype, "none")
    # gamma < 1 far out: (1 - p_t)' underflows where ce (1 - p_t)^(gamma - 1) (1 - p_t)' does not
    far = np.array([55.0, 60.0]) if dtype == np.float32 else np.array([300.0, 350.0])
    _check("binary_focal_loss", {"gamma": 0.5}, far, np.ones(2), dtype, "none")
    _check("binary_cross_entropy_with_logits", {}, x[:4], t[:4], dtype, "none")


def test_bce_with_logits_pos_weight_zero_masks_positives(isa, dtype):
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    t = np.array([[1.0, 1.0], [0.0, 0.5]])
    _check(
        "binary_cross_entropy_with_logits",
        {"pos_weight": np.array([0.0, 2.0])},
        x,
        t,
        dtype,
        "none",
    )


def test_parameters_as_zero_d_arrays_and_empty_zero_one_mean():
    x, t = np.array([0.5, -2.0, 3.0]), np.array([1.0, 0.0, 0.5])
    for name, params in (("binary_cross_entropy_with_logits", "pos_weight"), ("huber", "delta")):
        fn = getattr(L, name + "_value_and_grad")
        want = fn(x, t, **{params: 3.0})
        got = fn(x, t, **{params: np.array(3.0)})
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert np.isnan(L.zero_one_loss(np.zeros(0), np.zeros(0)))
    assert L.zero_one_loss(np.array([True, False]), np.array([True, True])) == 0.5  # as sklearn
    assert np.isnan(L.mse(np.zeros(0), np.zeros(0)))


def test_hinge_zero_one_labels_and_zero_one_loss():
    p = RNG.normal(size=20)
    t01 = (RNG.uniform(size=20) > 0.5).astype(float)
    np.testing.assert_array_equal(L.hinge(p, t01), L.hinge(p, 2 * t01 - 1))
    assert L.zero_one_loss([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert L.zero_one_loss(scores, [1, 1, 1], reduction="sum") == 1
    assert not hasattr(L, "zero_one_loss_grad")


def test_all_ignored_mean_is_nan_with_zero_grad():
    loss, grad = L.cross_entropy_value_and_grad(np.ones((3, 4)), np.full(3, -100))
    assert np.isnan(loss) and not grad.any()


# ---- determinism ----


@pytest.mark.parametrize(
    "call",
    [
        lambda: L.mse_value_and_grad(*_cast(np.float32, *_real(1000003))),
        lambda: L.log_cosh_value_and_grad(*_real(300001)),
        lambda: L.cross_entropy_value_and_grad(*_cast(np.float32, *_ce_labels(2048, 300))),
        lambda: L.cross_entropy_value_and_grad(*_cast(np.float32, *_ce_probs(64, 5000))),
    ],
)
def test_same_bits_for_any_thread_count(call):
    state = RNG.bit_generator.state
    with nk.threads(1):
        loss1, grad1 = call()
    RNG.bit_generator.state = state
    with nk.threads(2):
        loss2, grad2 = call()
    assert loss1.tobytes() == loss2.tobytes()
    np.testing.assert_array_equal(grad1, grad2)


# ---- bad input: the right error, and nothing written ----


def _untouched(fn, *args, exc, match, **kw):
    out = np.full(np.shape(args[0]), 7.0)
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(exc, match=match):
        fn(*args, out=out, **kw)
    assert (out == 7).all()
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


def test_bad_input():
    z = np.zeros((3, 4))
    f = L.cross_entropy_value_and_grad
    _untouched(f, z, np.array([0, 4, 1]), exc=IndexError, match=r"index 4 at position \[1\]")
    _untouched(f, z, np.array([0, -3, 1]), exc=IndexError, match=r"index -3")
    _untouched(f, z, np.array([0.0, np.nan, 1]), exc=ValueError, match="integers")
    _untouched(f, z, np.array([0.0, 1.5, 1]), exc=ValueError, match="integers")
    _untouched(f, z, np.array([0, 1]), exc=ValueError, match=r"\(3, 4\).*\(2,\)")
    _untouched(L.nll_loss_value_and_grad, z, np.array([0, 9, 1]), exc=IndexError, match="9")
    _untouched(L.mse_grad, np.zeros(3), np.zeros(4), exc=ValueError, match=r"\(3,\).*\(4,\)")
    _untouched(
        L.binary_cross_entropy_grad,
        np.array([0.2, 1.5]),
        np.array([0.0, 1.0]),
        exc=ValueError,
        match=r"\[0, 1\].*pred\[1\]",
    )
    _untouched(
        L.categorical_cross_entropy_grad,
        np.array([[0.2, -0.1]]),
        np.array([[1.0, 0]]),
        exc=ValueError,
        match=r"\[0, 1\]",
    )
    _untouched(L.msle_grad, np.array([0.2, -1.0]), np.array([0.0, 1.0]), exc=ValueError, match="-1")
    _untouched(
        L.hinge_grad, np.array([0.2, 1.0]), np.array([0.5, 1.0]), exc=ValueError, match="labels"
    )
    _untouched(L.mse_grad, np.zeros(3), np.zeros(3, complex), exc=TypeError, match="complex")
    _untouched(
        L.mse_grad, np.zeros(3), np.zeros(3), exc=ValueError, match="reduction", reduction="avg"
    )
    with pytest.raises(TypeError, match="dtype"):
        L.mse_grad(np.zeros(3), np.zeros(3), out=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="read-only"):
        o = np.zeros(3)
        o.flags.writeable = False
        L.mse_grad(np.zeros(3), np.zeros(3), out=o)
    with pytest.raises(ValueError, match="label_smoothing"):
        L.cross_entropy(z, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        L.mse(np.zeros(3), np.zeros(3), delta=2)
    with pytest.raises(ValueError, match="batchmean"):
        L.mse(np.zeros(3), np.zeros(3), reduction="batchmean")
