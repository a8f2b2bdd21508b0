"""Every activation against tests/reference.py: accuracy bound over the whole real line on every
ISA level and dtype, layouts, dtype rules, out= contract, parameters and bad input."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnkernels as nk
from nnkernels import _core
from nnkernels.activations import SPECS

from . import reference as R
from .checks import assert_within, sensitivity, sweep

SPEC_IDS = [s.name for s in SPECS]
# Non-default parameters worth their own sweep (defaults are swept for every spec).
PARAM_CASES = [
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": -0.5}),
    ("celu", {"alpha": 2.5}),
    ("celu", {"alpha": -1.0}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("binary_step", {"threshold": 0.25}),
    ("gelu", {"approximate": "tanh"}),
    ("swish", {"beta": 1.7}),
    ("swish", {"beta": -0.3}),
    ("softplus", {"beta": 2.0, "threshold": 10.0}),
    ("softplus", {"beta": 0.3}),
    ("softplus", {"beta": 0.1}),
]
CASES = [(s.name, {}) for s in SPECS] + PARAM_CASES
CASE_IDS = [n + "".join(f"-{k}={v}" for k, v in p.items()) for n, p in CASES]


def spec_of(name):
    return next(s for s in SPECS if s.name == name)


def bound_of(name, params):
    spec = spec_of(name)
    defaults = dict(spec.params)
    defaults.update(params)
    return _core.bound(spec.kernel_name(*defaults.values()))  # the active level's


def reference_of(name, params):
    if name == "gelu" and params.get("approximate") == "tanh":
        return R.REFS["gelu_tanh"], {}
    return R.REFS[name], {k: v for k, v in params.items() if k != "approximate"}


def check_forward_and_grad(isa, name, params, x, where=""):
    ref, rp = reference_of(name, params)
    ulp, floor = bound_of(name, params)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        for fn, truth, what in (
            (getattr(nk, name), ref.f, "forward"),
            (getattr(nk, name + "_grad"), ref.df, "grad"),
        ):

            def truth_p(v, truth=truth):
                return truth(v, **rp)

            assert_within(
                fn(x, **params),
                truth_p(x64),
                x,
                x.dtype.type,
                ulp,
                floor,
                f"{name}{params} {what}{where} [{isa}]",
                sensitivity(truth_p, x64),
            )


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_forward_and_grad_within_bound(isa, dtype, name, params):
    check_forward_and_grad(isa, name, params, sweep(dtype))


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_zero_results_carry_the_sign_of_the_reference(isa, dtype, name, params):
    """The bounds compare values, and 0 == -0. A zero result must also have the sign of the
    float64 reference: f(-0) as the formula gives it (elu(-0) = -0, as in PyTorch), and a
    result that underflows the sign of the value it stands for (x Phi(x) far below 0 is -0
    on every level)."""
    ref, rp = reference_of(name, params)
    x = sweep(dtype)
    x64 = x.astype(np.float64)
    passes = [
        (getattr(nk, name), ref.f, "forward"),
        (getattr(nk, name + "_grad"), ref.df, "grad"),
    ]
    if nk.activations.kernel_of(name, **params)[2]:  # f' from y, as dy * f' with dy = 1
        backward, forward = getattr(nk, name + "_backward"), getattr(nk, name)
        passes.append(
            (
                lambda v, **p: backward(np.ones_like(v), y=forward(v, **p), **p),
                ref.df,
                "backward from y",
            )
        )
    with np.errstate(all="ignore"):
        for fn, truth, what in passes:
            got, want = fn(x, **params), truth(x64, **rp)
            # The reference's own zeros are compared only at x = +-0: an underflowed float64
            # value (silu(-800)) is a zero whose sign the formula does not decide.
            checked = (got == 0) & ((want != 0) | (x == 0)) & ~np.isnan(want)
            wrong = checked & (np.signbit(got) != np.signbit(want))
            assert not wrong.any(), (
                f"{name}{params} {what} [{isa}]: zero of the wrong sign at x = {x[wrong][:5]} "
                f"(reference {want[wrong][:5]})"
            )


# Far negative tails where the float64 reference underflows as well (so the test above cannot
# see the sign there), and the values are negative: each must come out -0.
NEGATIVE_TAILS = [
    (name, params, what, x0)
    for name, params in (
        ("gelu", {}),
        ("gelu", {"approximate": "tanh"}),
        ("silu", {}),
        ("swish", {"beta": 1.7}),
        ("mish", {}),
    )
    for what in ("forward", "grad")
    for x0 in (-1000.0, -np.inf)
]


@pytest.mark.parametrize(
    "name,params,what,x0",
    NEGATIVE_TAILS,
    ids=[f"{n}{''.join(f'-{v}' for v in p.values())}-{w}-{x}" for n, p, w, x in NEGATIVE_TAILS],
)
def test_far_negative_tails_are_negative_zero(isa, dtype, name, params, what, x0):
    fn = getattr(nk, name if what == "forward" else name + "_grad")
    got = fn(np.full(37, x0, dtype), **params)  # vector body and remainder
    assert (got == 0).all() and np.signbit(got).all(), f"{name}{params} {what}({x0}): {got[:3]}"


@pytest.mark.parametrize("name,params", PARAM_CASES, ids=CASE_IDS[len(SPECS) :])
def test_parametrized_forward_and_grad_within_bound_on_a_dense_grid(isa, name, params):
    """The sweep samples each binade; a scale parameter (softplus' beta) moves the worst cases
    between samples, so the parametrized forms also get 400,001 evenly spaced float32 inputs."""
    x = np.linspace(-40, 40, 400_001).astype(np.float32)
    check_forward_and_grad(isa, name, params, x, " on a dense grid")


@pytest.mark.parametrize("name", ["sigmoid", "bipolar_sigmoid", "tanh"])
def test_sigmoid_family_grads_on_a_dense_grid_near_their_worst(isa, name):
    """Every 61st float32 of [0.5, 3], both signs, and known worst cases: the grads
    sigma(x) sigma(-x) once came out as the product of two rounded halves, 4.8 ulp at x =
    -2.6447155 (sigmoid) and -0.9010653 (tanh), past their stated 4, between the sweep's samples
    (a review's scan of 24M floats found them)."""
    lo, hi = np.float32(0.5).view(np.int32), np.float32(3).view(np.int32)
    pos = np.arange(lo, hi, 61, dtype=np.int32).view(np.float32)
    x = np.concatenate([pos, -pos, np.float32([-2.6447155, -0.9010653, -2.071222, -2.068632])])
    check_forward_and_grad(isa, name, {}, x, " on a dense grid of [0.5, 3]")


# The float kernels computed in float on AVX-512 (GELU, gelu(tanh), mish): their hardest points.
# Every 211th float32 of [0.25, hi] of both signs; for gelu the edges a = i + 1/2 of the piecewise
# tail (the table index changes there) and their neighbours; and the worst cases of exhaustive
# scans: gelu 3.01 ulp at x = -12.0461197, gelu(tanh) 2.80 at -2.74653506 (its grad's hardest
# point -1.14121866: 9 ulp, inside the floor, before d + s was formed), mish 3.09 at -0.2256.
# mish runs to -104, where e^x is subnormal and x e^x is not (a product after e^x's rounding
# would lose its relative accuracy there).
DENSE_CASES = [
    ("gelu", {"approximate": "none"}, 15.0, [-11.9896936, -12.0461197, -12.4432344, 0.324154347]),
    ("gelu", {"approximate": "tanh"}, 15.0, [-2.74653506, -1.32812214, -1.14121866, 0.712688327]),
    ("mish", {}, 104.0, [-0.225638896, -0.193916142, -4.207057, 1.99961269, -90.0, -87.5]),
]


@pytest.mark.parametrize("name,params,hi,known", DENSE_CASES, ids=["gelu", "gelu_tanh", "mish"])
def test_float_kernels_on_a_dense_grid(isa, name, params, hi, known):
    lo, top = np.float32(0.25).view(np.int32), np.float32(hi).view(np.int32)
    pos = np.arange(lo, top, 211, dtype=np.int32).view(np.float32)
    edges = np.arange(16, dtype=np.float32) + np.float32(0.5)
    edges = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 16)])
    x = np.concatenate([pos, -pos, edges, -edges, np.float32(known)])
    check_forward_and_grad(isa, name, params, x, f" on a dense grid of [0.25, {hi}]")
    # The forwards' only zero is at 0: their tails (below 4 eps from x = -5 on, below the
    # smallest normal float further out) are held to the ulp bound alone, no absolute allowance.
    ref, rp = reference_of(name, params)
    ulp, _ = bound_of(name, params)
    with np.errstate(all="ignore"):
        want = ref.f(x.astype(np.float64), **rp)
    err = np.abs(getattr(nk, name)(x, **params) - want) / np.spacing(
        np.abs(want).astype(np.float32)
    )
    assert err.max() <= ulp, (
        f"{name}{params} forward [{isa}]: {err.max():.2f} ulp at x={x[err.argmax()]!r}"
    )


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_float32_tails_within_bound_without_allowance(isa, name, params):
    """The tolerance's absolute terms (the floor, the smallest normal) accept any value in a
    function's tail: every float32 result between the smallest normal and 2^-40 is held to the
    ulp bound alone here (no zero crossing comes that close on this grid: a grad crossing 0
    is 1e-8 away from it one float step off). Two such tails were past their bounds: silu and
    swish, 47-200 ulp where e^z was subnormal and the result not; GELU's grad off AVX-512, 3.7
    ulp (bound 2) from |x| = 13.2."""
    x = np.linspace(-400, 400, 400_001).astype(np.float32)
    ref, rp = reference_of(name, params)
    ulp, _ = bound_of(name, params)
    tiny = float(np.finfo(np.float32).tiny)
    for fn, truth, what in (
        (getattr(nk, name), ref.f, "forward"),
        (getattr(nk, name + "_grad"), ref.df, "grad"),
    ):
        with np.errstate(all="ignore"):
            want = truth(x.astype(np.float64), **rp)
        tail = (np.abs(want) >= tiny) & (np.abs(want) <= 2.0**-40)
        got = fn(x[tail], **params).astype(np.float64)
        err = np.abs(got - want[tail]) / np.spacing(np.abs(want[tail]).astype(np.float32))
        assert err.max(initial=0) <= ulp, (
            f"{name}{params} {what} [{isa}]: {err.max():.2f} ulp at x={x[tail][err.argmax()]!r}"
        )


def _unit(fn):
    """fn without swish's beta (mish)."""
    return lambda x, beta: fn(x)


@pytest.mark.parametrize("beta", [1.0, 1.7, -0.3])
def test_swish_float64_tail_against_extended_precision(isa, beta):
    """float64 silu, swish and mish where e^z is subnormal and the result is not (z in [-745,
    -708]): the float64 reference rounds the same subnormal e^z (hundreds of ulp off), so the
    truth here is computed in x86's 80-bit long double, whose exponent reaches 1e-4951."""
    if np.finfo(np.longdouble).minexp > -16000:
        pytest.skip("long double has no wider exponent range on this platform")
    z = np.linspace(-745, -700, 4501)
    x = z / beta
    xl = x.astype(np.longdouble)
    el = np.exp(beta * xl)
    want_f = xl * el / (1 + el)
    want_df = el / (1 + el) * (1 + beta * xl / (1 + el))
    tiny = np.finfo(np.float64).tiny
    cases = [(nk.swish, want_f, "forward"), (nk.swish_grad, want_df, "grad")]
    if beta == 1.0:  # mish's x tanh(softplus x) ~ x e^x (e^x + 2) / (e^x (e^x + 2) + 2) there
        n = el * (el + 2)
        want_m = xl * n / (n + 2)
        want_dm = n / (n + 2) + xl * 4 * (n + 1) / (n + 2) ** 2 * el / (1 + el)
        cases += [(_unit(nk.mish), want_m, "mish"), (_unit(nk.mish_grad), want_dm, "mish grad")]
    for fn, want, what in cases:
        got = fn(x, beta=beta).astype(np.longdouble)
        normal = np.abs(want) >= tiny
        err = np.abs(got - want)[normal] / np.spacing(np.abs(want[normal]).astype(np.float64))
        assert err.max() <= 4, f"swish(beta={beta}) {what} [{isa}]: {float(err.max()):.1f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swish_of_the_largest_inputs_with_a_tiny_beta(isa, dtype):
    """|x| near the largest number with beta x moderate: e^r times x must not overflow before
    its scaling (the review of the tail fix found -inf where x sigma(beta x) is -1.1e37)."""
    big = float(np.finfo(dtype).max)
    for beta, x in ((1e-38 if dtype == np.float32 else 1e-308, -big), (5e-37, -2.6e38)):
        xs = np.full(37, x, dtype)
        xl = np.longdouble(xs[0])  # exp's argument to 130: float64 would lose 60 ulp there
        want = float(xl / (1 + np.exp(-np.longdouble(beta) * xl)))
        got = nk.swish(xs, beta=beta)
        assert np.all(np.isfinite(got)), f"beta={beta}, x={x}: {got[0]}"
        np.testing.assert_allclose(got, want, rtol=4 * float(np.finfo(dtype).eps))


def test_parameters_below_float32_normal_range(isa):
    """beta = 1e-38 is subnormal in float32: beta x as a float pair kept beta to 2^-22 only, so
    e^-|beta x| at |beta x| ~ 2 and huge x came out 4.5 ulp off (a review's scan). Forward and
    grad within the bound (4 ulp, and 4 eps absolute where the grad crosses 0 at beta x = -1.28)
    over 400,001 points spread evenly up to the largest float."""
    beta = 1e-38
    big = float(np.finfo(np.float32).max)
    x = np.linspace(-big, big, 400_001).astype(np.float32)
    xl = x.astype(np.longdouble)
    s = 1 / (1 + np.exp(-np.longdouble(beta) * xl))
    z = np.longdouble(beta) * xl
    for fn, want in ((nk.swish, xl * s), (nk.swish_grad, s * (1 + z * (1 - s)))):
        got = fn(x, beta=beta).astype(np.longdouble)
        ulp = np.spacing(np.abs(want.astype(np.float32))).astype(np.longdouble)
        err = np.abs(got - want) / (4 * ulp + 4 * np.finfo(np.float32).eps)
        assert err.max() <= 1, (
            f"{fn.__name__}: {float(err.max()):.2f} of the bound at x = {x[err.argmax()]}"
        )


def test_parameters_beyond_float32_range(isa):
    """beta x and x / alpha with the parameter beyond float32's range (1e39, or alpha = 1e-39):
    the float32 kernels carry it as a float pair, which must not become inf (0 * inf = NaN)."""
    x = np.array([0.0, -0.0, 1e-40, -2e-40, 3e-39], np.float32)  # results subnormal: atol 2 ulp
    x64 = x.astype(np.float64)
    cases = (
        (nk.swish, {"beta": 1e39}, lambda v: R.REFS["swish"].f(v, beta=1e39)),
        (nk.swish_grad, {"beta": 1e39}, lambda v: R.REFS["swish"].df(v, beta=1e39)),
        (nk.celu, {"alpha": 1e-39}, lambda v: R.REFS["celu"].f(v, alpha=1e-39)),
        (nk.softplus_grad, {"beta": 1e39}, lambda v: R.REFS["softplus"].df(v, beta=1e39)),
    )
    for fn, params, ref in cases:
        got = fn(x, **params)
        with np.errstate(all="ignore"):
            want = ref(x64)
        np.testing.assert_allclose(
            got, want, rtol=1e-6, atol=3e-45, err_msg=f"{fn.__name__} {params}"
        )


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_backward_within_bound(isa, dtype, name, params, rng):
    """dy * f'(x) from x, and from y where allowed (else TypeError naming the reason)."""
    ref, rp = reference_of(name, params)
    ulp, floor = bound_of(name, params)
    x = sweep(dtype)
    x64 = x.astype(np.float64)
    dy = rng.uniform(-2, 2, size=x.shape).astype(dtype)
    backward = getattr(nk, name + "_backward")
    with np.errstate(all="ignore"):
        truth = dy.astype(np.float64) * ref.df(x64, **rp)
        sens = sensitivity(lambda v: ref.df(v, **rp), x64) * np.abs(dy.astype(np.float64))
        assert_within(
            backward(dy, x=x, **params),
            truth,
            x,
            dtype,
            ulp + 1,
            2 * floor,
            f"{name}_backward(x=) [{isa}]",
            sens,
        )
        entry = nk.activations.get(name)
        allowed = entry.from_output and not (
            params.get("negative_slope", 0) < 0
            or params.get("alpha", 0) < 0
            and name == "elu"
            or params.get("threshold", 20.0) < 17
            and name == "softplus"
        )
        y = getattr(nk, name)(x, **params)
        if not allowed:
            with pytest.raises(TypeError, match="y="):
                backward(dy, y=y, **params)
            return
        y64 = y.astype(np.float64)
        truth_y = dy.astype(np.float64) * ref.df_from_y(y64, **rp)
        sens_y = sensitivity(lambda v: ref.df_from_y(v, **rp), y64) * np.abs(dy.astype(np.float64))
        assert_within(
            backward(dy, y=y, **params),
            truth_y,
            y,
            dtype,
            ulp + 1,
            2 * floor,
            f"{name}_backward(y=) [{isa}]",
            sens_y,
        )


def test_from_output_formulas_agree_with_derivative():
    """The reference's f'(y) equals f'(x) at y = f(x) (float64, well-conditioned points)."""
    x = np.linspace(-6, 6, 1201)
    for s in SPECS:
        ref = R.REFS[s.name]
        if ref.df_from_y is None:
            assert not nk.activations.get(s.name).from_output, s.name
            continue
        np.testing.assert_allclose(
            ref.df_from_y(ref.f(x)), ref.df(x), rtol=1e-7, atol=1e-10, err_msg=s.name
        )


SMALL_LINEAR = {  # f(x) ~ c x near 0: subnormal inputs must not flush to zero
    "identity": 1,
    "relu": 1,
    "leaky_relu": 1,
    "tanh": 1,
    "bipolar_sigmoid": 0.5,
    "elu": 1,
    "selu": R.SELU_SCALE,
    "celu": 1,
    "gelu": 0.5,
    "silu": 0.5,
    "swish": 0.5,
    "mish": 0.6,
    "softsign": 1,
    "hardswish": 0.5,
    "hardtanh": 1,
    "relu6": 1,
}


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_results_do_not_depend_on_the_position_in_the_loop(isa, dtype, name, params):
    """Each element alone (the loops' remainder) gives the bits it gets inside a long array
    (their vector body), and so does each element of the array shuffled (other neighbours in
    its vector: kernels may skip a rare path for vectors without such lanes): a value does not
    change with the array's length, alignment or order, and streamed outputs
    (tests/test_streaming.py) can split a call into blocks. NaNs of either sign."""
    # and where beta x is exactly silu/swish's plain-product threshold (-80 in float32, -700 in
    # float64), or twice it: such lanes go either way with neighbours beyond it.
    plain = (-80.0 if dtype == np.float32 else -700.0) / params.get("beta", 1.0)
    x = np.concatenate([sweep(dtype)[::25], np.array([plain, 2 * plain] * 8, dtype)])
    dy = np.random.default_rng(5).uniform(-2, 2, x.shape).astype(dtype)
    shuffle = np.random.default_rng(6).permutation(x.size)
    fwd, grad, bwd = (getattr(nk, name + s) for s in ("", "_grad", "_backward"))
    with np.errstate(all="ignore"):
        for what, call in (
            ("forward", lambda s: fwd(x[s], **params)),
            ("grad", lambda s: grad(x[s], **params)),
            ("backward", lambda s: bwd(dy[s], x=x[s], **params)),
        ):
            whole = call(slice(None))
            alone = np.concatenate([call(slice(i, i + 1)) for i in range(x.size)])
            nan = np.isnan(whole)
            for other, how in ((alone, "alone"), (call(shuffle)[np.argsort(shuffle)], "shuffled")):
                assert np.array_equal(np.isnan(other), nan), (name, what, how)
                assert other[~nan].tobytes() == whole[~nan].tobytes(), (
                    name,
                    what,
                    how,
                    x[other != whole],
                )


@pytest.mark.parametrize("name", sorted(SMALL_LINEAR))
def test_subnormal_inputs_keep_their_value(isa, dtype, name):
    fi = np.finfo(dtype)
    x = np.array([fi.smallest_subnormal * 2**20, fi.tiny / 4, fi.tiny / 1024], dtype=dtype)
    got = getattr(nk, name)(x).astype(np.float64)
    want = x.astype(np.float64) * SMALL_LINEAR[name]
    np.testing.assert_allclose(got, want, rtol=0.01, atol=0, err_msg=name)
    assert (got != 0).all()


LAYOUTS = ["contiguous", "strided", "transposed", "negative", "fortran", "zero_d", "empty"]


def make_layout(kind, dtype, rng):
    base = rng.uniform(-5, 5, size=(6, 10)).astype(dtype)
    return {
        "contiguous": base,
        "strided": base[:, ::3],
        "transposed": base.T,
        "negative": base[::-1, ::-2],
        "fortran": np.asfortranarray(base),
        "zero_d": np.array(dtype(1.25)),
        "empty": np.empty((3, 0), dtype=dtype),
    }[kind]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", SPEC_IDS)
def test_layouts_and_in_place_match_contiguous(dtype, name, layout, rng):
    x = make_layout(layout, dtype, rng)
    fwd, grad, bwd = (getattr(nk, name + s) for s in ("", "_grad", "_backward"))
    want = fwd(np.ascontiguousarray(x))
    got = fwd(x)
    assert np.shape(got) == x.shape and np.asarray(got).dtype == dtype
    if layout == "zero_d":
        assert isinstance(got, np.generic)  # like a ufunc: a NumPy scalar for 0-d input
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(grad(x), grad(np.ascontiguousarray(x)))
    dy = np.ones_like(x)
    np.testing.assert_array_equal(
        bwd(dy, x=x), bwd(np.ascontiguousarray(dy), x=np.ascontiguousarray(x))
    )
    if x.ndim:
        out = np.full_like(x, np.nan)
        assert fwd(x, out=out) is out
        np.testing.assert_array_equal(out, want)
        inplace = x.copy() if layout != "strided" else x
        result = fwd(inplace, out=inplace)
        assert result is inplace
        np.testing.assert_array_equal(inplace, want)


@pytest.mark.parametrize("name", ["sigmoid", "gelu", "relu", "softplus"])
def test_integer_bool_and_half_inputs(name):
    fwd = getattr(nk, name)
    ints = np.arange(-3, 4)
    assert fwd(ints).dtype == np.float64
    np.testing.assert_array_equal(fwd(ints), fwd(ints.astype(np.float64)))
    assert fwd(np.array([True, False])).dtype == np.float64
    assert fwd([0.5, 1.5]).dtype == np.float64  # Python lists are float64, as in NumPy
    half = np.array([-1.5, 0.25], dtype=np.float16)
    np.testing.assert_array_equal(fwd(half), fwd(half.astype(np.float32)))
    assert isinstance(fwd(0.5), np.float64)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([1 + 2j]),
        np.array(["a"]),
        np.array([object()]),
        None,
        ["x", "y"],
        np.array([1.0], dtype=np.longdouble)
        if np.finfo(np.longdouble).bits > 64
        else np.array([1j]),
    ],
)
@pytest.mark.parametrize("name", ["sigmoid", "leaky_relu", "gelu"])
def test_unsupported_dtypes_raise_type_error(name, bad):
    with pytest.raises(TypeError, match=name):
        getattr(nk, name)(bad)
    with pytest.raises(TypeError, match=name):
        getattr(nk, name + "_backward")(np.ones(1), x=bad)


def _assert_unchanged(arrays, copies):
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", SPEC_IDS)
def test_bad_out_raises_and_writes_nothing(name, rng):
    fwd, bwd = getattr(nk, name), getattr(nk, name + "_backward")
    x = rng.standard_normal(8).astype(np.float32)
    dy = rng.standard_normal(8).astype(np.float32)
    keep = [x.copy(), dy.copy()]
    cases = [
        (np.zeros(8, np.float64), TypeError, "dtype"),
        (np.zeros(7, np.float32), ValueError, "shape"),
        ([0.0] * 8, TypeError, "ndarray"),
    ]
    readonly = np.zeros(8, np.float32)
    readonly.flags.writeable = False
    cases.append((readonly, ValueError, "read-only"))
    for out, exc, msg in cases:
        before = np.array(out, copy=True)
        with pytest.raises(exc, match=msg):
            fwd(x, out=out)
        with pytest.raises(exc, match=msg):
            bwd(dy, x=x, out=out)
        np.testing.assert_array_equal(np.asarray(out), before)
    buf = rng.standard_normal(9).astype(np.float32)
    view_in, view_out = buf[:8], buf[1:]
    before = buf.copy()
    with pytest.raises(ValueError, match="overlaps"):
        fwd(view_in, out=view_out)
    np.testing.assert_array_equal(buf, before)
    with pytest.raises(ValueError, match=r"\(8,\).*\(7,\)"):
        bwd(dy, x=x[:7])
    with pytest.raises(TypeError, match="exactly one"):
        bwd(dy)
    with pytest.raises(TypeError, match="exactly one"):
        bwd(dy, x=x, y=x)
    _assert_unchanged([x, dy], keep)


def test_parameter_validation():
    x = np.linspace(-2, 2, 5)
    with pytest.raises(ValueError, match="min_val"):
        nk.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="approximate"):
        nk.gelu(x, approximate="exact")
    with pytest.raises(ValueError, match="beta"):
        nk.softplus(x, beta=0)
    with pytest.raises(ValueError, match="alpha"):
        nk.celu(x, alpha=0)
    with pytest.raises(TypeError, match="negative_slope"):
        nk.leaky_relu(x, negative_slope="big")
    with pytest.raises(TypeError, match="y="):
        nk.leaky_relu_backward(x, y=x, negative_slope=-0.1)
    with pytest.raises(TypeError, match="not monotone"):
        nk.gelu_backward(x, y=x)


def test_defaults_follow_pytorch():
    import inspect

    sig = {s.name: dict(s.params) for s in SPECS}
    assert sig["leaky_relu"] == {"negative_slope": 0.01}
    assert sig["elu"] == {"alpha": 1.0} and sig["celu"] == {"alpha": 1.0}
    assert sig["softplus"] == {"beta": 1.0, "threshold": 20.0}
    assert sig["hardtanh"] == {"min_val": -1.0, "max_val": 1.0}
    assert sig["gelu"] == {"approximate": "none"}
    rr = inspect.signature(nk.rrelu).parameters
    assert rr["lower"].default == 1 / 8 and rr["upper"].default == 1 / 3
    assert str(inspect.signature(nk.leaky_relu)) == "(x, negative_slope=0.01, *, out=None)"


finite_or_special = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(SPEC_IDS), dt=st.sampled_from([np.float32, np.float64]))
def test_property_any_shape_any_values(data, name, dt):
    x = data.draw(
        hnp.arrays(
            dt,
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
            elements=st.floats(
                allow_nan=True, allow_infinity=True, width=32 if dt == np.float32 else 64
            ),
        )
    )
    ref = R.REFS[name]
    ulp, floor = bound_of(name, {})
    with np.errstate(all="ignore"):
        got = np.asarray(getattr(nk, name)(x))
        assert got.shape == x.shape
        assert_within(
            got.ravel(),
            ref.f(x.astype(np.float64)).ravel(),
            x.ravel(),
            dt,
            ulp,
            floor,
            name,
            sensitivity(ref.f, x.astype(np.float64)).ravel(),
        )
        assert_within(
            np.asarray(getattr(nk, name + "_grad")(x)).ravel(),
            ref.df(x.astype(np.float64)).ravel(),
            x.ravel(),
            dt,
            ulp,
            floor,
            name,
            sensitivity(ref.df, x.astype(np.float64)).ravel(),
        )


# ---- non-elementwise and per-channel activations ------------------------------------------------


def test_celu_negative_alpha_backward_where_the_derivative_overflows(isa, dtype, rng):
    # alpha < 0: f' = e^(x / alpha) overflows from x / alpha = 88.7 (float32), 709.8 (float64),
    # while dy f' with a small dy does not.
    top = 88.72 if dtype == np.float32 else 709.78
    x = -np.linspace(top, top + 9, 4001).astype(dtype)
    dy = (10.0 ** -rng.uniform(0, 4, x.size)).astype(dtype)
    got = nk.celu_backward(dy, x=x, alpha=-1.0)
    # dy e^-x in float64, as (dy e^s) e^(-x - s) where e^-x itself would overflow
    s = 0.0 if dtype == np.float32 else 700.0
    with np.errstate(over="ignore"):
        want = (dy.astype(np.float64) * np.exp(s)) * np.exp(-x.astype(np.float64) - s)
    with np.errstate(over="ignore"):
        assert np.isfinite(want.astype(dtype)).sum() > 100
    ulp, floor = bound_of("celu", {"alpha": -1.0})
    assert_within(got, want, x, dtype, ulp + 1, floor, "celu_backward(alpha=-1)")
    # Elsewhere dy f' as for any activation: -0 and inf dy, a subnormal dy at moderate x.
    xs = np.array([-1.0, -2.0, -3.0, -5.0, 0.0, -0.0], dtype)
    assert np.signbit(nk.celu_backward(np.full(6, -0.0, dtype), x=xs, alpha=-1.0)).all()
    assert (nk.celu_backward(np.full(6, np.inf, dtype), x=xs, alpha=-1.0) == np.inf).all()
    tiny = np.finfo(dtype).smallest_subnormal
    got = nk.celu_backward(np.full(6, tiny, dtype), x=xs, alpha=-1.0)
    np.testing.assert_array_equal(got, (tiny * np.exp(-xs.astype(np.float64))).astype(dtype))


def test_prelu_per_channel_and_shared(isa, dtype, rng):
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    w = np.array([0.1, -0.2, 0.3], dtype=dtype)
    np.testing.assert_allclose(nk.prelu(x, w), R.prelu(x, w), rtol=1e-6)
    np.testing.assert_allclose(nk.prelu(x, w[:1]), R.prelu(x, w[:1]), rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(dtype)
    for weight in (w, w[:1]):
        dx, dw = nk.prelu_backward(dy, x, weight)
        rdx, rdw = R.prelu_backward(dy, x, weight)
        np.testing.assert_allclose(dx, rdx, rtol=1e-6)
        np.testing.assert_allclose(dw, rdw, rtol=1e-5, atol=1e-6)
        assert dw.shape == weight.shape and dw.dtype == dtype
    np.testing.assert_allclose(nk.prelu_grad(x, w), R.prelu_backward(np.ones_like(x), x, w)[0])
    # One shared slope as a 0-d array or a number, as PyTorch allows: dweight keeps its shape.
    for shared in (w[1], np.array(w[1])):
        np.testing.assert_array_equal(nk.prelu(x, shared), nk.prelu(x, w[1:2]))
        np.testing.assert_array_equal(nk.prelu_grad(x, shared), nk.prelu_grad(x, w[1:2]))
        dx, dw = nk.prelu_backward(dy, x, shared)
        np.testing.assert_array_equal(dx, nk.prelu_backward(dy, x, w[1:2])[0])
        assert dw.shape == () and dw == nk.prelu_backward(dy, x, w[1:2])[1][0]
    with pytest.raises(ValueError, match="channels"):
        nk.prelu(x, np.ones(4, dtype))


def test_prelu_backward_in_place_gives_the_same_dx_and_dweight(isa, dtype, rng):
    # out= may be dy or x itself: dweight reads both, so it must not see dx.
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    w = np.array([0.1, -0.2, 0.3], dtype=dtype)
    dx, dw = nk.prelu_backward(dy, x, w)
    for alias in ("dy", "x"):
        a, b = dy.copy(), x.copy()
        got_dx, got_dw = nk.prelu_backward(a, b, w, out=a if alias == "dy" else b)
        assert (got_dx is a) if alias == "dy" else (got_dx is b)
        np.testing.assert_array_equal(got_dx, dx, err_msg=f"out={alias}")
        np.testing.assert_array_equal(got_dw, dw, err_msg=f"out={alias}")


def test_prelu_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 2, 4))
    x[np.abs(x) < 1e-3] = 0.5
    w = np.array([0.25, -0.5])
    dy = rng.standard_normal(x.shape)
    _, dw = nk.prelu_backward(dy, x, w)
    h = 1e-6
    for c in range(2):
        e = np.zeros(2)
        e[c] = h
        fd = (np.sum(dy * nk.prelu(x, w + e)) - np.sum(dy * nk.prelu(x, w - e))) / (2 * h)
        assert abs(fd - dw[c]) < 1e-6


def test_prelu_dweight_same_bits_for_any_thread_count(rng):
    x = rng.standard_normal((512, 3, 512)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = np.array([0.1, 0.2, 0.3], np.float32)
    with nk.threads(1):
        one = nk.prelu_backward(dy, x, w)[1]
    with nk.threads(2):
        two = nk.prelu_backward(dy, x, w)[1]
    assert one.tobytes() == two.tobytes()


def test_rrelu_training_and_eval(rng):
    x = rng.standard_normal((50, 40))
    y, slopes = nk.rrelu(x, training=True, rng=7)
    assert slopes.shape == x.shape and (slopes >= 1 / 8).all() and (slopes <= 1 / 3).all()
    np.testing.assert_allclose(y, np.where(x > 0, x, slopes * x), rtol=1e-15)
    y2, s2 = nk.rrelu(x, training=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(s2, slopes)  # the same seed gives the same slopes
    dy = rng.standard_normal(x.shape)
    want = dy * np.where(x > 0, 1.0, slopes)
    np.testing.assert_allclose(nk.rrelu_backward(dy, x=x, slopes=slopes), want, rtol=1e-15)
    np.testing.assert_allclose(nk.rrelu_backward(dy, y=y, slopes=slopes), want, rtol=1e-15)
    mid = (1 / 8 + 1 / 3) / 2
    np.testing.assert_allclose(nk.rrelu(x), np.where(x > 0, x, mid * x), rtol=1e-15)
    np.testing.assert_allclose(nk.rrelu_backward(dy, x=x), dy * np.where(x > 0, 1, mid))
    with pytest.raises(ValueError, match="lower"):
        nk.rrelu(x, lower=0.5, upper=0.1)
    assert nk.rrelu(x.astype(np.float32), training=True, rng=1)[1].dtype == np.float32


# Each non-elementwise function of a one-element x, as a 0-d array or as shape (1,).
ONE_ELEMENT = {
    "softmax": lambda x: nk.softmax(x),
    "log_softmax": lambda x: nk.log_softmax(x),
    "softmax_backward": lambda x: nk.softmax_backward(x * 3, y=nk.softmax(x)),
    "softmax_backward-x": lambda x: nk.softmax_backward(x * 3, x=x),
    "log_softmax_backward": lambda x: nk.log_softmax_backward(x * 3, y=nk.log_softmax(x)),
    "log_softmax_backward-x": lambda x: nk.log_softmax_backward(x * 3, x=x),
    "prelu": lambda x: nk.prelu(x, np.full(1, 0.25, x.dtype)),
    "prelu_grad": lambda x: nk.prelu_grad(x, np.full(1, 0.25, x.dtype)),
    "prelu_backward": lambda x: nk.prelu_backward(x * 3, x, np.full(1, 0.25, x.dtype))[0],
    "rrelu-training": lambda x: nk.rrelu(x, training=True, rng=3)[0],
    "rrelu_backward-slopes": lambda x: nk.rrelu_backward(x * 3, x=x, slopes=np.full_like(x, 0.2)),
}


@pytest.mark.parametrize("name", sorted(ONE_ELEMENT))
def test_non_elementwise_0d_input_gives_a_numpy_scalar(dtype, name):
    """As the elementwise functions do (like a ufunc): 0-d in, NumPy scalar out, not shape (1,)."""
    fn = ONE_ELEMENT[name]
    x = np.array(dtype(-1.5))
    got = fn(x)
    assert isinstance(got, np.generic) and got.dtype == dtype
    assert got == fn(x.reshape(1))[0]


def test_0d_rrelu_slopes_and_out(dtype):
    x = np.array(dtype(-1.5))
    y, slopes = nk.rrelu(x, training=True, rng=3)
    assert slopes.shape == () and slopes.dtype == dtype and y == slopes * x
    out = np.full((), np.nan, dtype)
    assert nk.log_softmax(x, out=out) is out and out == 0
    assert nk.prelu(x, np.ones(1, dtype), out=out) is out and out == x


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_crelu(axis, rng):
    x = rng.standard_normal((3, 4))
    y = nk.crelu(x, axis=axis)
    np.testing.assert_array_equal(y, R.crelu(x, axis))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(nk.crelu_backward(dy, x, axis=axis), R.crelu_backward(dy, x, axis))
    with pytest.raises(ValueError, match="dy has shape"):
        nk.crelu_backward(x, x, axis=axis)


@pytest.mark.parametrize("axis", [0, -1])
def test_maxout(axis, rng):
    x = rng.standard_normal((6, 6))
    np.testing.assert_array_equal(nk.maxout(x, 3, axis=axis), R.maxout(x, 3, axis))
    dy = rng.standard_normal(R.maxout(x, 3, axis).shape)
    np.testing.assert_array_equal(
        nk.maxout_backward(dy, x, 3, axis=axis), R.maxout_backward(dy, x, 3, axis)
    )
    with pytest.raises(ValueError, match="multiple"):
        nk.maxout(x, 4, axis=axis)
    with pytest.raises(ValueError, match="pieces"):
        nk.maxout(x, 0)
    assert np.isnan(nk.maxout(np.array([1.0, np.nan]), 2)).all()
    # The value is the entry the gradient goes to: the first of -0 and +0 (as PyTorch).
    ties = np.array([[-0.0, 0.0, 0.0, -0.0]])
    assert np.signbit(nk.maxout(ties, 2)).tolist() == [[True, False]]
    np.testing.assert_array_equal(nk.maxout_backward(np.ones((1, 2)), ties, 2), [[1, 0, 1, 0]])


@pytest.mark.parametrize(
    "shape,axis",
    [
        ((7, 13), -1),
        ((7, 13), 0),
        ((2, 3, 50000), -1),
        ((3, 47), -1),  # vector pairs, then a 15-lane tail
        ((4, 1), 1),
        ((5,), 0),
        ((2, 3, 4), 1),
    ],
)
def test_softmax_and_log_softmax(isa, dtype, shape, axis, rng):
    x = (rng.standard_normal(shape) * 30).astype(dtype)
    rtol = 5e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(nk.softmax(x, axis), R.softmax(x, axis), rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(
        nk.log_softmax(x, axis),
        R.log_softmax(x, axis),
        rtol=rtol,
        atol=1e-5 if dtype == np.float32 else 1e-12,
    )
    y, ly = nk.softmax(x, axis), nk.log_softmax(x, axis)
    dy = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_allclose(
        nk.softmax_backward(dy, y=y, axis=axis),
        R.softmax_backward(dy, y, axis),
        rtol=1e-4,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        nk.log_softmax_backward(dy, y=ly, axis=axis),
        R.log_softmax_backward(dy, ly, axis),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        nk.softmax_backward(dy, x=x, axis=axis), nk.softmax_backward(dy, y=y, axis=axis)
    )


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_in_place_gives_the_same_bits(isa, dtype, axis, rng):
    """Rows of comparable terms, where the order of the sum shows in float64's last bits."""
    x = (rng.standard_normal((8, 1000)) * 3).astype(dtype)
    for fn in (nk.softmax, nk.log_softmax):
        ref = fn(x, axis)
        # out as x itself, or as another array object over x's memory
        for view in (lambda a: a, lambda a: a[:], lambda a: a.view()):
            inplace = x.copy()
            fn(inplace, axis, out=view(inplace))
            np.testing.assert_array_equal(inplace, ref)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_backward_from_x_in_place_gives_the_same_bits(isa, dtype, axis, rng):
    """out may be x itself (y is recomputed into a fresh array first) or dy."""
    x = (rng.standard_normal((8, 1000)) * 3).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    for fn in (nk.softmax_backward, nk.log_softmax_backward):
        ref = fn(dy, x=x, axis=axis)
        for saved, grad in ((x.copy(), dy), (x, dy.copy())):
            target = grad if saved is x else saved
            assert fn(grad, x=saved, axis=axis, out=target) is target
            np.testing.assert_array_equal(target, ref)


@pytest.mark.parametrize("axis", [0, -1])
def test_crelu_and_maxout_backward_in_place_give_the_same_bits(dtype, axis, rng):
    """out=x is allowed (the result has x's shape) and gives the out-of-place bits: maxout's arg
    max is found before anything is written."""
    x = rng.standard_normal((6, 8)).astype(dtype)
    x[:2, :2] = 1.0  # ties: the first of each group wins
    dyc = rng.standard_normal(nk.crelu(x, axis).shape).astype(dtype)
    dym = rng.standard_normal(nk.maxout(x, 2, axis).shape).astype(dtype)
    for fn in (
        functools.partial(nk.crelu_backward, dyc, axis=axis),
        functools.partial(nk.maxout_backward, dym, pieces=2, axis=axis),
    ):
        ref = fn(x)
        # C order, a strided view, F order
        for inplace in (x.copy(), np.repeat(x, 2, axis=1)[:, ::2], np.asfortranarray(x)):
            assert fn(inplace, out=inplace) is inplace
            np.testing.assert_array_equal(inplace, ref)
    y = x.copy()  # maxout with one piece keeps x's shape: in place too
    assert nk.maxout(y, 1, axis, out=y) is y
    np.testing.assert_array_equal(y, x)


def test_softmax_extremes():
    x = np.array([[1e4, -1e4, 0], [np.nan, 1, 2], [-np.inf, 0, 0]], np.float32)
    y = nk.softmax(x)
    np.testing.assert_array_equal(y[0], [1, 0, 0])
    assert np.isnan(y[1]).all()
    np.testing.assert_allclose(y[2], [0, 0.5, 0.5])
    assert np.isfinite(nk.log_softmax(np.array([1e30, 0.0]))).all()
    with pytest.raises(IndexError, match="axis 2"):
        nk.softmax(np.ones((2, 2)), axis=2)


def test_registry():
    names = nk.activations.available()
    for s in SPECS:
        assert s.name in names
    for extra in ("prelu", "rrelu", "crelu", "maxout", "softmax", "log_softmax"):
        assert extra in names
    g = nk.activations.get("gelu")
    x = np.linspace(-1, 1, 5)
    np.testing.assert_array_equal(g.forward(x), nk.gelu(x))
    assert nk.activations.get("sigmoid").from_output and not g.from_output
    with pytest.raises(ValueError, match="unknown activation"):
        nk.activations.get("nope")
