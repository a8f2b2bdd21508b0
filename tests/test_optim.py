"""nnkernels.optim against the float64 NumPy truth (tests/reference_optim.py)."""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import optim
from nnkernels.optim import functional as F

from .reference_optim import Reference

STEPS = 100
SIZES = (1, 15, 16, 17, 1000)

# (optimizer, options): every optimizer and every option, and the shared transforms.
CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9, "weight_decay": 0.01}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.01}),
    ("Adam", {"maximize": True, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True}),
    ("Adamax", {}),
    ("Adamax", {"weight_decay": 0.01}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 1.0, "rho": 0.5, "weight_decay": 0.01}),
    ("NAdam", {}),
    ("NAdam", {"weight_decay": 0.01, "decoupled_weight_decay": True, "momentum_decay": 0.01}),
    ("RAdam", {}),
    ("RAdam", {"weight_decay": 0.01}),
    ("Lion", {}),
    ("Lion", {"weight_decay": 0.1}),
    ("Adam", {"l1": 0.5}),
    ("SGD", {"momentum": 0.9, "clip_value": 0.5}),
    ("Adam", {"max_grad_norm": 1.0}),
    ("RMSprop", {"clip_value": 0.3, "max_grad_norm": 0.5}),
]


def _ident(case):
    name, opts = case
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


def _options(name, opts):
    return {"lr": 0.05, **opts}


def _problem(dtype, sizes=SIZES, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    return params, rng


def _grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


@functools.cache
def _reference(index, dtype, steps=STEPS):
    """Float64 trajectory of CASES[index], from float32/float64 inputs, cached across ISA levels."""
    name, opts = CASES[index]
    dtype = np.dtype(dtype)
    params, rng = _problem(dtype)
    ref = Reference(name, params, **_options(name, opts))
    grads = []
    for _ in range(steps):
        g = _grads(rng, params)
        grads.append(g)
        ref.step(g)
    return params, grads, [p.copy() for p in ref.p]


def _tol(dtype):
    return (2e-4, 2e-4) if np.dtype(dtype) == np.float32 else (1e-9, 1e-9)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_ident(c) for c in CASES])
def test_trajectory(index, isa, dtype):
    name, opts = CASES[index]
    start, grads, want = _reference(index, np.dtype(dtype).str)
    params = [p.copy() for p in start]
    opt = getattr(optim, name)(params, **_options(name, opts))
    for g in grads:
        assert opt.step(g)
    rtol, atol = _tol(dtype)
    for p, w in zip(params, want):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, w, rtol=rtol, atol=atol)
    assert opt.step_count == STEPS


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Lion", "NAdam"])
def test_large_and_small_arrays_in_one_call(name, isa):
    """A list mixing 1000003 elements with tiny arrays: the work list cuts across arrays."""
    opts = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}
    params, rng = _problem(np.float32, sizes=(1000003, 1, 17, 16))
    ref = Reference(name, params, **opts)
    opt = getattr(optim, name)(params, **opts)
    for _ in range(3):
        g = _grads(rng, params)
        opt.step(g)
        ref.step(g)
    for p, w in zip(params, ref.p):
        np.testing.assert_allclose(p, w, rtol=2e-5, atol=2e-5)


def test_many_arrays_match_one_by_one(isa):
    """2000 arrays in one call give the same bits as each array on its own."""
    params, rng = _problem(np.float32, sizes=[100] * 2000)
    single = [p.copy() for p in params]
    grads = _grads(rng, params)
    optim.Adam(params, lr=0.01).step(grads)
    for p, g in zip(single, grads):
        optim.Adam([p], lr=0.01).step([g])
    for a, b in zip(params, single):
        np.testing.assert_array_equal(a, b)


def test_mixed_dtypes_in_one_list():
    params = [np.ones(20, np.float32), np.ones(20, np.float64)]
    grads = [np.full(20, 0.5, np.float32), np.full(20, 0.5)]
    optim.SGD(params, lr=0.1).step(grads)
    assert params[0].dtype == np.float32
    np.testing.assert_allclose(params[0], 0.95)
    np.testing.assert_allclose(params[1], 0.95)


def test_state_dict_round_trip():
    params, rng = _problem(np.float32)
    opt = optim.NAdam(params, lr=0.01, weight_decay=0.01)
    for _ in range(5):
        opt.step(_grads(rng, params))
    sd = opt.state_dict()
    twin_params = [p.copy() for p in params]
    twin = optim.NAdam(twin_params)
    twin.load_state_dict(sd)
    assert twin.lr == 0.01 and twin.step_count == 5
    for _ in range(5):
        g = _grads(rng, params)
        opt.step(g)
        twin.step(g)
    for a, b in zip(params, twin_params):
        np.testing.assert_array_equal(a, b)
    sd2 = opt.state_dict()
    for k in sd2["state"]:
        for a, b in zip(sd2["state"][k], twin.state_dict()["state"][k]):
            np.testing.assert_array_equal(a, b)
    # a state_dict for another optimizer or other shapes is refused, nothing changes
    with pytest.raises(ValueError):
        optim.Adam(twin_params).load_state_dict(sd)
    bad = opt.state_dict()
    bad["state"]["exp_avg"][0] = np.zeros(3, np.float32)
    before = twin.state_dict()
    with pytest.raises(ValueError):
        twin.load_state_dict(bad)
    np.testing.assert_array_equal(twin.state["exp_avg"][0], before["state"]["exp_avg"][0])


def _snapshot(opt):
    return [p.copy() for p in opt.params], {k: [a.copy() for a in v] for k, v in opt.state.items()}


def _assert_unchanged(opt, snap):
    params, state = snap
    for a, b in zip(opt.params, params):
        np.testing.assert_array_equal(a, b)
    for k, v in state.items():
        for a, b in zip(opt.state[k], v):
            np.testing.assert_array_equal(a, b)


@pytest.fixture
def warm_adam():
    params, rng = _problem(np.float32, sizes=(5, 7, 9))
    opt = optim.Adam(params, lr=0.1, amsgrad=True)
    opt.step(_grads(rng, params))
    return opt, rng


def _bad_grads(opt, rng):
    good = _grads(rng, opt.params)
    f64 = [g.astype(np.float64) for g in good]
    return {
        "count": (ValueError, good[:2]),
        "shape": (ValueError, [*good[:2], np.zeros(8, np.float32)]),
        "dtype": (TypeError, [*good[:2], f64[2]]),
        "not array": (TypeError, [*good[:2], [0.0] * 9]),
    }


@pytest.mark.parametrize("case", ["count", "shape", "dtype", "not array"])
def test_bad_grads_modify_nothing(warm_adam, case):
    opt, rng = warm_adam
    snap = _snapshot(opt)
    exc, grads = _bad_grads(opt, rng)[case]
    with pytest.raises(exc):
        opt.step(grads)
    _assert_unchanged(opt, snap)
    assert opt.step_count == 1


def test_bad_params_modify_nothing(warm_adam):
    opt, rng = warm_adam
    snap = _snapshot(opt)
    opt.params[2].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[2\] is read-only"):
        opt.step(_grads(rng, opt.params))
    opt.params[2].flags.writeable = True
    _assert_unchanged(opt, snap)
    kept = opt.state["exp_avg_sq"][2]
    opt.state["exp_avg_sq"][2] = np.zeros(18, np.float32)[::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step(_grads(rng, opt.params))
    opt.state["exp_avg_sq"][2] = kept
    _assert_unchanged(opt, snap)


def test_strided_gradient_is_read_correctly():
    p = np.ones(5, np.float32)
    g = np.arange(10, dtype=np.float32)[::2]
    optim.SGD([p], lr=1.0).step([g])
    np.testing.assert_array_equal(p, 1 - g)


@pytest.mark.parametrize(
    "cls, opts, exc",
    [
        (optim.Adam, {"lr": -1.0}, ValueError),
        (optim.Adam, {"betas": (1.0, 0.9)}, ValueError),
        (optim.Adam, {"betas": (0.9,)}, TypeError),
        (optim.Adam, {"eps": 0.0}, ValueError),
        (optim.Adam, {"lr": "fast"}, TypeError),
        (optim.Adam, {"amsgrad": 1}, TypeError),
        (optim.Adam, {"bogus": 1}, TypeError),
        (optim.SGD, {"nesterov": True}, ValueError),
        (optim.RMSprop, {"alpha": 1.5}, ValueError),
        (optim.Adadelta, {"rho": -0.1}, ValueError),
        (optim.Adam, {"max_grad_norm": 0.0}, ValueError),
        (optim.Adam, {"lr": math.nan}, ValueError),
    ],
)
def test_bad_hyperparameters(cls, opts, exc):
    p = np.ones(3, np.float32)
    with pytest.raises(exc):
        cls([p], **opts)
    opt = cls([p])
    name, value = next(iter(opts.items()))
    if name in opt.hyper:
        before = opt.hyper[name]
        with pytest.raises(exc):
            setattr(opt, name, value)
        assert opt.hyper[name] == before
    np.testing.assert_array_equal(p, 1)


def test_bad_param_lists():
    with pytest.raises(TypeError):
        optim.SGD([np.ones(3, np.int64)])
    with pytest.raises(ValueError, match="C-contiguous"):
        optim.SGD([np.ones((3, 4), np.float32).T])
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD([ro])
    p = np.ones(3)
    with pytest.raises(ValueError, match="shares its data"):
        optim.SGD([p, p]).step([np.ones(3), np.ones(3)])
    np.testing.assert_array_equal(p, 1)


@pytest.mark.parametrize("skip", [True, False])
def test_nonfinite_gradients(skip, isa):
    params = [np.ones(40, np.float32), np.ones(300000, np.float32)]
    opt = optim.Adam(params, lr=0.1, skip_nonfinite=skip)
    grads = [np.ones(40, np.float32), np.ones(300000, np.float32)]
    grads[1][123456] = np.inf
    grads[1][7] = np.nan
    applied = opt.step(grads)
    assert applied is (not skip)
    if skip:
        assert opt.step_count == 0 and opt.skipped_steps == 1
        assert all((p == 1).all() for p in params)
        assert math.isnan(opt.last_grad_norm)
    else:  # as PyTorch: NaN in, NaN out, the other elements step
        assert np.isnan(params[1][7]) and np.isnan(params[1][123456])
        assert (params[0] < 1).all()
    grads[1][:] = 1
    assert opt.step(grads)


def test_global_norm_is_deterministic_and_exact():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(n).astype(np.float32) for n in (1000003, 17, 5000)]
    want = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    norms = set()
    for n in (1, 2):
        with nk.threads(n):
            norms.add(optim.global_grad_norm(grads))
    assert len(norms) == 1
    assert norms.pop() == pytest.approx(want, rel=1e-12)
    assert optim.global_grad_norm([np.array([3.0, -4.0])], clip_value=3.0) == pytest.approx(
        math.sqrt(18)
    )


def test_lr_is_settable_between_steps():
    p = np.zeros(4)
    opt = optim.SGD([p], lr=1.0)
    opt.step([np.ones(4)])
    opt.lr = 0.5
    opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, -1.5)


def test_switching_on_amsgrad_allocates_state():
    p = np.zeros(4)
    opt = optim.Adam([p])
    opt.step([np.ones(4)])
    opt.amsgrad = True
    opt.step([np.ones(4)])
    assert "max_exp_avg_sq" in opt.state


def test_momentum_switched_on_later_starts_from_the_gradient():
    p = np.zeros(3)
    opt = optim.SGD([p], lr=1.0)
    opt.step([np.ones(3)])
    opt.momentum = 0.9
    opt.step([np.full(3, 2.0)])  # buf = g on its first step, as PyTorch
    np.testing.assert_array_equal(p, -3.0)
    opt.step([np.full(3, 2.0)])  # buf = 0.9 * 2 + 2
    np.testing.assert_array_equal(p, -6.8)


def test_functional_matches_class(dtype):
    rng = np.random.default_rng(3)
    p = rng.standard_normal(33).astype(dtype)
    q = p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    opt = optim.Adam([q], lr=0.01, weight_decay=0.1)
    mu_p, m2, v2 = 1.0, np.zeros_like(p), np.zeros_like(p)
    pn = p.copy()
    nadam = optim.NAdam([pn.copy()])
    for t in range(1, 4):
        g = rng.standard_normal(33).astype(dtype)
        F.adam_(p, g, m, v, step=t, lr=0.01, weight_decay=0.1)
        opt.step([g])
        mu_p = F.nadam_(pn, g, m2, v2, step=t, mu_product=mu_p)
        nadam.step([g])
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(pn, nadam.params[0])
    assert mu_p == nadam.scalars["mu_product"]
    with pytest.raises(TypeError, match="state arrays"):
        F.adam_(p, g, m, step=1)
    with pytest.raises(ValueError, match="step"):
        F.sgd_(p, g, step=0)


def test_schedulers():
    opt = optim.SGD([np.zeros(1)], lr=1.0)
    s = optim.StepLR(opt, step_size=2, gamma=0.5)
    assert [s.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt.lr = 1.0
    e = optim.ExponentialLR(opt, gamma=0.9)
    assert e.step() == pytest.approx(0.9) and e.step() == pytest.approx(0.81)
    opt.lr = 1.0
    c = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = [c.step() for _ in range(4)]
    assert lrs[1] == pytest.approx(0.55) and lrs[3] == pytest.approx(0.1)
    opt.lr = 1.0
    w = optim.LinearLR(opt, start_factor=0.25, total_iters=3)
    assert opt.lr == 0.25
    assert [w.step() for _ in range(4)] == pytest.approx([0.5, 0.75, 1.0, 1.0])
    opt.lr = 1.0
    r = optim.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for loss in (1.0, 0.5, 0.6, 0.7):
        r.step(loss)
    assert opt.lr == 0.5


# ---- optional cross-check against PyTorch (the main coverage is the NumPy truth above) ----

TORCH_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("Adamax", {"lr": 0.01}),
    ("Adadelta", {"lr": 1.0}),
    ("NAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01}),
]


@pytest.mark.parametrize("name, opts", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_torch(name, opts):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    p = rng.standard_normal(50)
    tp = torch.tensor(p.copy(), requires_grad=True)
    topt = getattr(torch.optim, name)([tp], **opts)
    opt = getattr(optim, name)([p], **opts)
    for _ in range(20):
        g = rng.standard_normal(50)
        tp.grad = torch.tensor(g)
        topt.step()
        opt.step([g])
    # torch keeps NAdam's mu_product as a float32 tensor: its rounding shows at 1e-8
    rtol = 1e-7 if name == "NAdam" else 1e-10
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", [c[0] for c in TORCH_CASES] + ["Lion"])
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    ours = getattr(optim, name).defaults
    if name == "Lion":  # not in torch.optim: the paper's defaults
        assert ours["lr"] == 1e-4 and ours["betas"] == (0.9, 0.99)
        return
    sig = inspect.signature(getattr(torch.optim, name).__init__).parameters
    for key, value in ours.items():
        if key in sig:
            theirs = sig[key].default
            theirs = tuple(theirs) if isinstance(theirs, tuple) else theirs
            assert value == theirs, key
    for key in ("weight_decay", "maximize"):
        if key in sig and key not in ours:
            assert sig[key].default in (0, False), key


def test_same_bits_for_any_thread_count():
    rng = np.random.default_rng(5)
    base = [rng.standard_normal(n).astype(np.float32) for n in (700001, 33)]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in base]
    results = []
    for n in (1, 2):
        params = [p.copy() for p in base]
        with nk.threads(n):
            opt = optim.RAdam(params, max_grad_norm=10.0)
            for _ in range(7):
                opt.step(grads)
        results.append(params)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "NAdam", "Adadelta", "Lion"])
def test_same_bits_on_every_isa_level(name):
    """Compiled without FMA contraction: every ISA level does the same IEEE operations."""
    from nnkernels import _core

    from .conftest import ISA_LEVELS

    rng = np.random.default_rng(9)
    base = [rng.standard_normal(n).astype(np.float32) for n in (1003, 17)]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in base]
    opts = {"centered": True, "momentum": 0.5} if name == "RMSprop" else {}
    previous, results = _core.isa(), []
    try:
        for level in ISA_LEVELS:
            _core.select_isa(level)
            params = [p.copy() for p in base]
            opt = getattr(optim, name)(params, lr=0.01, weight_decay=0.01, **opts)
            for _ in range(5):
                opt.step(grads)
            results.append(params)
    finally:
        _core.select_isa(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
