"""kaplan_smin: Kaplan et al.'s L(N, S_min) with S_min = S / (1 + B_crit(L) / B), an implicit law solved by
unrolled Newton steps in log L."""

import itertools

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

import bayescale as bs
from bayescale.laws import curves, get_law
from bayescale.laws.curves import KAPLAN_SMIN_NEWTON_STEPS
from bayescale.runs.table import MissingColumnError, NonPositiveError

LAW = get_law("kaplan_smin")
KAPLAN = {"Nc": 6.5e13, "Sc": 2.1e3, "aN": 0.076, "aS": 0.76, "Bstar": 2e8, "aB": 0.21}


def residual(L, N, S, B, Nc, Sc, aN, aS, Bstar, aB):
    """L minus the right-hand side of L = (Nc/N)**aN + (Sc/S_min)**aS at S_min(L), relative to L."""
    S_min = S / (1 + Bstar / (B * L ** (1 / aB)))
    return (L - (Nc / N) ** aN - (Sc / S_min) ** aS) / L


# A wide grid: exponents aN 0.02-0.5, aS 0.1-2, aB 0.05-1.5 (so 1/aB up to 20 and aS/aB up to 40), with Nc,
# Sc and B* placing the size term, the step term and B_crit / B over many decades either way.
GRID = [
    dict(Nc=Nc, Sc=Sc, aN=aN, aS=aS, Bstar=Bstar, aB=aB)
    for Nc, Sc, aN, aS, Bstar, aB in itertools.product(
        (1e9, 6.5e13), (10.0, 2.1e3, 1e6), (0.02, 0.076, 0.5), (0.1, 0.76, 2.0), (1e3, 2e8, 1e13), (0.05, 0.21, 1.5))
]
N = np.geomspace(1e6, 1e12, 7)[:, None, None]
S = np.geomspace(10, 1e7, 7)[None, :, None]
B = np.geomspace(1e2, 1e10, 9)[None, None, :]


def test_registered_with_kaplans_values_and_declared_units():
    assert "kaplan_smin" in bs.laws.list_laws() and bs.laws.kaplan_smin is LAW
    assert LAW.inputs == ("N", "step", "B") and LAW.param_names == tuple(KAPLAN)
    assert LAW.example == KAPLAN
    assert LAW.min_distinct == {"N": 3, "step": 3}
    assert "tokens" in LAW.parameter("Bstar").doc and "section 5.1" in LAW.reference
    # scale constants scale with their input (the decorator checks the law is pivot invariant)
    assert {p.name: dict(p.scale) for p in LAW.parameters if p.scale} == {
        "Nc": {"N": 1.0}, "Sc": {"S": 1.0}, "Bstar": {"B": 1.0}}


@pytest.mark.parametrize("p", GRID[::7] + [KAPLAN], ids=lambda p: ",".join(f"{v:g}" for v in p.values()))
def test_solves_its_equation(p):
    L = LAW(N=N, step=S, B=B, **p)
    assert L.shape == (7, 7, 9) and np.all(np.isfinite(L)) and np.all(L > 0)
    np.testing.assert_allclose(residual(L, N, S, B, **p), 0.0, atol=1e-12)


def test_newton_converges_within_its_steps_over_a_wide_range(monkeypatch):
    """Every grid point, 8 steps (the law takes KAPLAN_SMIN_NEWTON_STEPS = 12): solved to rounding."""
    worst = {}
    for steps in (8, KAPLAN_SMIN_NEWTON_STEPS):
        monkeypatch.setattr(curves, "KAPLAN_SMIN_NEWTON_STEPS", steps)
        worst[steps] = max(float(np.max(np.abs(residual(LAW(N=N, step=S, B=B, **p), N, S, B, **p))))
                           for p in GRID)
    assert worst[8] < 1e-12 and worst[KAPLAN_SMIN_NEWTON_STEPS] < 1e-12
    # and 3 steps are not enough: the test can fail
    monkeypatch.setattr(curves, "KAPLAN_SMIN_NEWTON_STEPS", 3)
    assert max(float(np.max(np.abs(residual(LAW(N=N, step=S, B=B, **p), N, S, B, **p)))) for p in GRID) > 1e-6


def test_newton_climbs_monotonically_from_its_start():
    """On log L the iteration never overshoots: each step raises u towards the root (phi convex, start
    below the root), over log-terms of +-15 and log(B*/B) of +-60."""
    g = np.meshgrid(np.linspace(-15, 15, 31), np.linspace(-15, 15, 31), np.linspace(-60, 60, 41),
                    np.geomspace(0.02, 5, 9), np.geomspace(0.02, 3, 9), indexing="ij")
    la, lc, lr, aS, aB = (x.ravel() for x in g)
    k = 1 / aB
    u = np.maximum(la + np.logaddexp(0, lc - la), (lc + aS * lr) / (1 + aS * k))
    for _ in range(KAPLAN_SMIN_NEWTON_STEPS):
        t = lr - k * u
        z = lc + aS * np.logaddexp(0, t) - la
        new = u + (la + np.logaddexp(0, z) - u) / (1 + k * aS * bs.laws.ops.sigmoid(z) * bs.laws.ops.sigmoid(t))
        assert np.all(new >= u - 1e-12 * (1 + np.abs(u)))
        u = new
    G = la + np.logaddexp(0, lc + aS * np.logaddexp(0, lr - k * u) - la)
    assert np.max(np.abs(G - u) / (1 + np.abs(u))) < 1e-13


def test_limits():
    steps = get_law("kaplan_steps")
    n, s = np.array([1e7, 1e9, 1e11]), np.array([1e3, 3e4, 1e6])
    # B >> B_crit: S_min = S, Kaplan's L(N, S)
    np.testing.assert_allclose(LAW(N=n, step=s, B=1e40, **KAPLAN),
                               steps(N=n, step=s, **{k: KAPLAN[k] for k in steps.param_names}), rtol=1e-14)
    # falls with N, with S and with B (at fixed steps, a bigger batch sees more data)
    base = LAW(N=1e9, step=1e4, B=1e6, **KAPLAN)
    assert LAW(N=2e9, step=1e4, B=1e6, **KAPLAN) < base
    assert LAW(N=1e9, step=2e4, B=1e6, **KAPLAN) < base
    assert LAW(N=1e9, step=1e4, B=2e6, **KAPLAN) < base
    # B << B_crit: S_min = S B / B_crit, so the loss depends on S and B through the tokens E = B S only
    # (to first order in B / B_crit: the gap shrinks tenfold with B)
    gap = [abs(LAW(N=1e9, step=1e6 * f, B=1e2 / f, **KAPLAN) / LAW(N=1e9, step=1e5 * f, B=1e3 / f, **KAPLAN) - 1)
           for f in (1.0, 10.0)]
    assert gap[0] < 2e-3 and gap[1] < 0.15 * gap[0]


def test_kaplan_example_by_hand():
    # N 1e9, 1e4 steps of 2**20 tokens: L solves L = (6.5e13/1e9)**0.076 + (2.1e3/S_min)**0.76; the root
    # 2.8835883880894406 is scipy's brentq on that equation (xtol 1e-15), B_crit = 2e8 / L**(1/0.21)
    L = float(LAW(N=1e9, step=1e4, B=2.0**20, **KAPLAN))
    B_crit = 2e8 / L ** (1 / 0.21)
    S_min = 1e4 / (1 + B_crit / 2.0**20)
    assert L == pytest.approx((6.5e4) ** 0.076 + (2.1e3 / S_min) ** 0.76, rel=1e-13)
    assert L == pytest.approx(2.8835883880894406, rel=1e-13)
    assert B_crit == pytest.approx(1.2908375e6, rel=1e-7)  # Kaplan's B_crit at L 2.88: about 1.3M tokens


def test_pytensor_gradient_matches_finite_differences():
    names = LAW.param_names
    n, s, b = np.geomspace(1e7, 1e10, 6), np.geomspace(1e3, 1e5, 6), np.geomspace(1e4, 1e8, 6)
    sym = {k: pt.dvector(k) for k in names}
    y = LAW(N=n, step=s, B=b, **sym)
    grad = pytensor.function(list(sym.values()), pt.grad(y.sum(), list(sym.values())))
    p = dict(KAPLAN)
    got = grad(*[np.full(n.size, p[k]) for k in names])
    for i, k in enumerate(names):
        h = 1e-6 * p[k]
        fd = (LAW(N=n, step=s, B=b, **{**p, k: p[k] + h}) - LAW(N=n, step=s, B=b, **{**p, k: p[k] - h})) / (2 * h)
        np.testing.assert_allclose(got[i], fd, rtol=1e-5, atol=1e-12 * np.abs(fd).max(), err_msg=k)
    # the implicit-function derivative in Bstar, by hand: dL/dBstar = -F_Bstar / F_L with
    # F(L) = L - a - c (1 + Bstar / (B L**k))**aS
    L = LAW(N=n, step=s, B=b, **p)
    k_, aS = 1 / p["aB"], p["aS"]
    c = (p["Sc"] / s) ** aS
    w = 1 + p["Bstar"] / (b * L**k_)
    F_B = -c * aS * w ** (aS - 1) / (b * L**k_)
    F_L = 1 - c * aS * w ** (aS - 1) * p["Bstar"] * (-k_) / (b * L ** (k_ + 1))
    np.testing.assert_allclose(got[names.index("Bstar")], -F_B / F_L, rtol=1e-9)


def test_xarray_posterior_broadcast():
    params = {k: xr.DataArray(np.full((2, 3), v), dims=("chain", "draw")) for k, v in KAPLAN.items()}
    pts = {c: xr.DataArray(v, dims="point") for c, v in
           {"N": np.geomspace(1e7, 1e9, 4), "step": np.geomspace(1e3, 1e5, 4), "B": np.geomspace(1e4, 1e8, 4)}.items()}
    out = LAW(**pts, **params)
    assert out.dims == ("chain", "draw", "point")
    np.testing.assert_allclose(out.values[1, 2], LAW(**{k: v.values for k, v in pts.items()}, **KAPLAN), rtol=1e-15)


def test_run_table_takes_a_B_column_and_checks_it():
    df = pd.DataFrame({"N": [1e7, 1e8, 1e9] * 2, "step": [1e3, 1e4, 1e5] * 2, "B": [2.0**19] * 3 + [2.0**21] * 3})
    df["D"] = df["step"] * df["B"]
    runs = bs.runs.simulate_runs(LAW, df, random_seed=0)
    assert np.array_equal(runs.column("B"), df["B"].to_numpy()) and "B" in runs.to_dataframe()
    runs.check_law(LAW)
    bad = runs.to_dataframe()
    bad.loc[4, "B"] = -1.0
    with pytest.raises(NonPositiveError, match="'B'"):
        bs.RunTable.from_dataframe(bad).check_law(LAW)
    with pytest.raises(MissingColumnError, match="'B'"):
        bs.RunTable.from_dataframe(runs.to_dataframe().drop(columns="B")).check_law(LAW)
