"""Learning-curve laws: M4 (implicit, solved by unrolled Newton steps) and curve_power."""

import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

from bayescale.laws import get_law, ops
from bayescale.laws.curves import M4_NEWTON_STEPS

M4 = get_law("m4")

# A wide grid: floors of error rates and of log-perplexities, gaps from 0.05 to 8, shapes a from
# 0.05 to 20, exponents 0.05 to 1.5, and b such that the midpoint (L = e_inf + gap / 2) falls at
# x_mid = 1e4, 1e7 or 1e10: log b = c_neg log x_mid + (a - 1) (log 2 - log gap).
GRID = [
    dict(e_inf=e_inf, gap=gap, a=a, b=float(np.exp(c_neg * np.log(x_mid) + (a - 1) * np.log(2 / gap))),
         c_neg=c_neg)
    for e_inf, gap, a, x_mid, c_neg in itertools.product(
        (0.05, 2.0), (0.05, 0.8, 8.0), (0.05, 0.6, 1.0, 3.0, 20.0), (1e4, 1e7, 1e10), (0.05, 0.4, 1.5))
]
X = np.geomspace(1e2, 1e12, 41)


def m4_sides(x, e_inf, gap, a, b, c_neg):
    """Both sides of Alabdulmohsin et al.'s M4 at the law's solution y, with e_0 = e_inf + gap."""
    y = M4(D=x, e_inf=e_inf, gap=gap, a=a, b=b, c_neg=c_neg)
    with np.errstate(divide="ignore"):
        return (y - e_inf) / (e_inf + gap - y) ** a, b * x**-c_neg, y


# -- the ops it relies on ----------------------------------------------------------------------
def test_softplus_and_sigmoid_on_every_input_kind():
    x = np.array([-800.0, -40.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(ops.softplus(x[2:5]), np.log1p(np.exp(x[2:5])), rtol=1e-15)
        np.testing.assert_allclose(ops.sigmoid(x[2:5]), 1 / (1 + np.exp(-x[2:5])), rtol=1e-15)
    assert ops.softplus(800.0) == 800.0 and ops.softplus(-800.0) == 0.0  # no overflow
    assert ops.sigmoid(800.0) == 1.0 and ops.sigmoid(-40.0) == pytest.approx(np.exp(-40.0), rel=1e-15)
    da = xr.DataArray(x.reshape(1, -1), dims=("chain", "point"))
    for f in (ops.softplus, ops.sigmoid):
        out = f(da)
        assert out.dims == ("chain", "point")
        sym = pt.dvector("x")
        got = pytensor.function([sym], f(sym))(x)
        np.testing.assert_allclose(got, f(x), rtol=1e-14)


# -- m4 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", GRID, ids=lambda p: ",".join(f"{v:g}" for v in p.values()))
def test_m4_solves_its_equation(p):
    lhs, rhs, y = m4_sides(X, **p)
    # y - e_inf and e_0 - y lose digits to cancellation as y nears either end (relative error
    # ~1e-16 y / (y - e_inf)): check the equation where both keep 12 digits; the solve itself is
    # checked everywhere on the scale it is done, below
    d, r = y - p["e_inf"], p["e_inf"] + p["gap"] - y
    ok = (d > 1e-4 * y) & (r > 1e-4 * max(1.0, p["a"]) * y)
    assert ok.sum() >= 5
    np.testing.assert_allclose(lhs[ok], rhs[ok], rtol=1e-10)
    assert np.all((d >= 0) & (r >= 0))
    # on the scale the law solves, log s - a log(1 - s) = K, to rounding everywhere
    K = np.log(p["b"]) - p["c_neg"] * np.log(X) + (p["a"] - 1) * np.log(p["gap"])
    u = _solve_u(K, p["a"])
    g = u + (p["a"] - 1) * np.logaddexp(0, u)
    np.testing.assert_allclose(g, K, rtol=1e-12, atol=1e-12 * (1 + np.abs(K).max()))


def _solve_u(K, a, steps=M4_NEWTON_STEPS):
    u = K + (1 / a - 1) * (K + np.abs(K)) / 2
    for _ in range(steps):
        u = u - (u + (a - 1) * ops.softplus(u) - K) / (ops.sigmoid(-u) + a * ops.sigmoid(u))
    return u


def test_m4_newton_converges_well_within_its_steps():
    # a from 1e-3 to 1e3 (the LogNormal(0, 1) prior's +-7 sigma) and any right-hand side
    a = np.geomspace(1e-3, 1e3, 121)[:, None]
    K = np.concatenate([np.linspace(-300, 300, 1201), np.linspace(-5, 5, 401)])[None, :]
    for steps in (10, M4_NEWTON_STEPS):
        u = _solve_u(K, a, steps)
        resid = np.abs(u + (a - 1) * np.logaddexp(0, u) - K) / (1 + np.abs(K) / np.minimum(a, 1))
        assert resid.max() < 1e-13, steps


def test_m4_pytensor_gradient_matches_the_implicit_derivative():
    names = M4.param_names
    x = np.geomspace(1e3, 1e11, 9)
    # one parameter value per point, so the gradient of sum(y) holds each point's derivative
    sym = {k: pt.dvector(k) for k in names}
    y = M4(D=x, **sym)
    grad = pytensor.function(list(sym.values()), pt.grad(y.sum(), list(sym.values())))

    def jac(*values):
        return grad(*[np.full_like(x, v) for v in values])

    for p in ({"e_inf": 0.15, "gap": 0.8, "a": 0.6, "b": 100.0, "c_neg": 0.3},
              {"e_inf": 2.0, "gap": 6.0, "a": 2.5, "b": 3e3, "c_neg": 0.5},
              {"e_inf": 0.05, "gap": 0.3, "a": 0.08, "b": 1.0, "c_neg": 0.1}):
        got = dict(zip(names, jac(*[p[k] for k in names]), strict=True))
        # implicit function theorem on F(y, theta) = log(y - e_inf) - a log(e_0 - y) - log b + c_neg log x
        y0 = M4(D=x, **p)
        e0 = p["e_inf"] + p["gap"]
        d, r = y0 - p["e_inf"], e0 - y0
        dF_dy = 1 / d + p["a"] / r
        dF = {"e_inf": -1 / d - p["a"] / r, "gap": -p["a"] / r, "a": -np.log(r), "b": -1 / p["b"] * np.ones_like(x),
              "c_neg": np.log(x)}
        for k in names:
            np.testing.assert_allclose(got[k], -dF[k] / dF_dy, rtol=1e-6, err_msg=k)
        # and a central finite difference, on the natural scale
        for k in names:
            h = 1e-6 * p[k]
            fd = (M4(D=x, **{**p, k: p[k] + h}) - M4(D=x, **{**p, k: p[k] - h})) / (2 * h)
            np.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-9 * np.abs(fd).max(), err_msg=k)


def test_m4_limits():
    p = {"e_inf": 0.15, "gap": 0.8, "a": 0.6, "b": 100.0, "c_neg": 0.3}
    assert M4(D=1e-30, **p) == pytest.approx(0.95, rel=1e-12)  # e_0 as x -> 0
    assert M4(D=1e60, **p) == pytest.approx(0.15, rel=1e-12)  # e_inf as x -> infinity
    x = np.geomspace(1e-10, 1e30, 200)
    assert np.all(np.diff(M4(D=x, **p)) < 0)  # falls monotonically
    # far past the transition the excess over e_inf is a power law in x with exponent -c_neg
    slope = np.diff(np.log(M4(D=np.array([1e25, 1e26]), **p) - 0.15)) / np.log(10)
    assert slope[0] == pytest.approx(-0.3, abs=1e-6)


def test_m4_with_small_a_is_m2_capped_at_e_0():
    m2 = get_law("m2")
    p = {"e_inf": 0.15, "gap": 0.8, "b": 100.0, "c_neg": 0.3}
    x = np.geomspace(1e7, 1e14, 50)  # M2's excess b x^-c_neg from 0.79 down to 6e-3 of the gap
    excess2 = m2(D=x, e_inf=0.15, b=100.0, c_neg=0.3) - 0.15
    assert excess2.max() < 0.8 and excess2.min() < 0.01 * 0.8
    for a in (1e-2, 1e-4):
        excess4 = M4(D=x, a=a, **p) - 0.15
        # log(excess4) - log(excess2) = a log(e_0 - y) exactly, so small in a
        np.testing.assert_allclose(np.log(excess4 / excess2), a * np.log(0.95 - 0.15 - excess4), rtol=1e-8)
        y4, y2 = excess4 + 0.15, excess2 + 0.15
        assert np.abs(y4 / y2 - 1).max() < 6 * a  # a |log(e_0 - y)| < 6 a over this range


def test_m4_example_is_an_image_classification_error_curve():
    y = M4(D=np.array([1e4, 1e6, 1e8, 1e10, 1e12]), **M4.example)
    assert 0.94 < y[0] < 0.95 and y[2] < 0.5 and 0.2 < y[-1] < 0.201 and np.all(np.diff(y) < 0)
    assert M4.min_distinct == {"D": 5} and M4.inputs == ("D",)


# -- curve_power --------------------------------------------------------------------------------
def test_curve_power_form_and_inputs():
    law = get_law("curve_power")
    assert law.inputs == ("N", "D") and law.min_distinct == {"N": 2, "D": 4}
    p = {"E": 1.8, "A": 2e4, "gamma": 0.2, "alpha": 0.3}
    assert law(N=1e9, D=1e10, **p) == pytest.approx(1.8 + 2e4 * 1e9**-0.2 * 1e10**-0.3, rel=1e-14)
    steps = law.on("N", "step")
    assert steps.inputs == ("N", "step") and steps.min_distinct == {"N": 2, "step": 4}
    assert steps(N=1e9, step=1e10, **p) == law(N=1e9, D=1e10, **p)
    # the amplitude at fixed t falls as N^-gamma
    ex = law.example
    excess = law(N=np.array([1e8, 1e10]), D=1e10, **ex) - ex["E"]
    assert np.log(excess[0] / excess[1]) / np.log(100) == pytest.approx(ex["gamma"], rel=1e-12)
