"""The compute-efficient frontier (Kaplan et al. 2020, section 6): exact on hand-built posteriors
against the closed form, the curves' lower envelope, bad input, and (slow) recovery after real fits.

For L = (Nc/N)**aN + (Dc/D)**aD along C = 6 N D, setting d L / d log N = 0 gives
aN (Nc/N)**aN = aD (Dc/D)**aD, so N***(aN+aD) = (aN/aD) Nc**aN (C/(6 Dc))**aD:
N* ~ C**(aD/(aN+aD)), and L* = (1 + aN/aD) (Nc/N*)**aN ~ C**-(aN aD/(aN+aD)).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.analysis.frontier import (
    Frontier,
    FrontierError,
    FrontierWarning,
    compute_frontier,
    lower_envelope,
)
from bayescale.analysis.predict import ExtrapolationWarning

from ..conftest import CHINCHILLA_TRUE, fake_fit

LAW = bs.get_law("kaplan_steps").on("N", "D")
TOKENS_PER_STEP = 5e5
#: kaplan_steps' example values, Sc moved from steps to tokens.
TRUTH = {"Nc": 6.5e13, "Sc": 2.1e3 * TOKENS_PER_STEP, "aN": 0.076, "aS": 0.76}
STEPS_TRUTH = {"Nc": 6.5e13, "Sc": 2.1e3, "aN": 0.076, "aS": 0.76}


def analytic(p, C):
    """N*, L*, a, alpha_C, C_c of L = (Nc/N)**aN + (Sc/D)**aS along C = 6 N D, by the closed form."""
    aN, aD, Nc, Dc = (np.asarray(p[k], dtype=float)[..., None] for k in ("aN", "aS", "Nc", "Sc"))
    log_N = (np.log(aN / aD) + aN * np.log(Nc) + aD * np.log(C / (6 * Dc))) / (aN + aD)
    log_L = np.log1p(aN / aD) + aN * (np.log(Nc) - log_N)
    a = (aD / (aN + aD))[..., 0]
    alpha = (aN * aD / (aN + aD))[..., 0]
    # log L* at C = 1, over alpha_C, is log C_c
    log_N1 = (np.log(aN / aD) + aN * np.log(Nc) + aD * np.log(1 / (6 * Dc))) / (aN + aD)
    log_C_c = (np.log1p(aN / aD) + aN * (np.log(Nc) - log_N1))[..., 0] / alpha
    return np.exp(log_N), np.exp(log_L), a, alpha, np.exp(log_C_c)


def curves(n_sizes=9, sigma=0.0, seed=0, first_step=100):
    return bs.runs.simulate_curves("kaplan_steps", STEPS_TRUTH, sizes=np.geomspace(1e7, 1e9, n_sizes),
                                   steps=np.geomspace(first_step, 1e5, 40), tokens_per_step=TOKENS_PER_STEP,
                                   sigma=sigma, random_seed=seed)


def known_draws(shape=(2, 50), spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(rng.normal(0, spread, shape)) for k, v in TRUTH.items()}
    draws["sigma"] = np.full(shape, 0.01)
    return draws


def quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return f(*args, **kwargs)


# -- from a law, exactly ------------------------------------------------------------------------


def test_law_route_matches_the_closed_form_per_draw():
    draws = known_draws()
    fit = fake_fit("kaplan_steps:N,D", draws, curves(5))
    C = np.geomspace(1e17, 1e20, 12)
    fr = quiet(compute_frontier, fit, C=C)
    assert isinstance(fr, Frontier) and fr.method == "law"
    N, L, a, alpha, C_c = analytic(draws, C)
    np.testing.assert_allclose(fr.draws["N"].transpose("chain", "draw", "budget").values, N, rtol=1e-6)
    np.testing.assert_allclose(fr.draws["loss"].transpose("chain", "draw", "budget").values, L, rtol=1e-10)
    np.testing.assert_allclose(fr.draws["a"].values, a, atol=1e-7)
    np.testing.assert_allclose(fr.draws["b"].values, 1 - a, atol=1e-7)
    np.testing.assert_allclose(fr.draws["alpha_C"].values, alpha, rtol=1e-9)
    np.testing.assert_allclose(fr.draws["C_c"].values, C_c, rtol=1e-6)
    # D = C / (6 N), and the exponents' table summarises the same draws
    np.testing.assert_allclose(fr.draws["D"].values, C / (6 * fr.draws["N"].values))
    ex = fr.exponents(0.9)
    assert ex.loc["alpha_C", "median"] == pytest.approx(np.median(alpha), rel=1e-9)
    assert ex.loc["a", "lower"] == pytest.approx(np.quantile(a, 0.05), abs=1e-7)
    assert ex.loc["alpha_C", "kaplan"] == 0.050 and ex.loc["a", "kaplan"] == 0.73
    assert set(ex.columns) == {"median", "sd", "lower", "upper", "nan_share", "kaplan"}
    # at Kaplan's exponents: a = 0.76 / 0.836, alpha_C = 0.076 * 0.76 / 0.836
    one = quiet(compute_frontier, fake_fit("kaplan_steps:N,D", {k: np.full((1, 1), v) for k, v in
                                                              {**TRUTH, "sigma": 0.01}.items()}, curves(5)), C=C)
    assert one.draws["a"].item() == pytest.approx(0.76 / 0.836, abs=1e-7)
    assert one.draws["alpha_C"].item() == pytest.approx(0.076 * 0.76 / 0.836, rel=1e-9)


def test_chinchilla_floor_exponent_is_exact():
    """L* - E = A N*^-alpha + B D*^-beta is an exact power law in C of exponent alpha beta / (alpha + beta)."""
    rng = np.random.default_rng(1)
    shape = (2, 30)
    draws = {k: v * np.exp(rng.normal(0, 0.03, shape)) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = np.full(shape, 0.01)
    fr = quiet(compute_frontier, fake_fit("chinchilla", draws), C=np.geomspace(1e18, 1e22, 8))
    al, be = draws["alpha"], draws["beta"]
    np.testing.assert_allclose(fr.draws["alpha_C_floor"].values, al * be / (al + be), rtol=1e-9)
    np.testing.assert_allclose(fr.draws["a"].values, be / (al + be), rtol=1e-9)
    np.testing.assert_allclose(fr.draws["E"].values, draws["E"])
    # with a floor, log L* against log C is not a line: alpha_C (no floor) is well below the floored one
    assert np.all(fr.draws["alpha_C"].values < fr.draws["alpha_C_floor"].values)
    assert "alpha_C_floor" in fr.exponents().index


def test_default_budgets_span_the_fits_runs_and_envelope_is_attached():
    runs = curves(5)
    fr = quiet(compute_frontier, fake_fit("kaplan_steps:N,D", known_draws(), runs), n_points=7)
    assert fr.budgets.size == 7
    assert fr.C_range == pytest.approx((runs.C.min(), runs.C.max()))
    assert fr.envelope is not None and {"C", "loss", "run", "N", "bracketed"} <= set(fr.envelope.columns)
    cv = fr.curve()
    assert list(cv["C"]) == pytest.approx(list(fr.budgets))
    assert (cv["loss_lower"] <= cv["loss_median"]).all() and (cv["loss_median"] <= cv["loss_upper"]).all()
    assert "alpha_C" in repr(fr) and "Kaplan 0.05" in repr(fr)


def test_a_law_without_an_interior_optimum_raises():
    """curve_power along C = 6 N D: L - E = A (C/6)**-alpha N**(alpha - gamma), monotone in N."""
    p = {"E": np.full((1, 20), 1.8), "A": np.full((1, 20), 1.6e5), "gamma": np.full((1, 20), 0.2),
         "alpha": np.full((1, 20), 0.35), "sigma": np.full((1, 20), 0.01)}
    fit = fake_fit("curve_power", p, curves(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FrontierError, match="no compute-efficient model size"):
            compute_frontier(fit, C=[1e18, 1e19])


# -- bad input ----------------------------------------------------------------------------------


def test_a_law_of_steps_is_refused_with_the_fix():
    draws = {k: np.full((1, 5), v) for k, v in {**STEPS_TRUTH, "sigma": 0.01}.items()}
    fit = fake_fit("kaplan_steps", draws, curves(3))
    with pytest.raises(FrontierError, match=r"on\('N', 'D'\)"):
        compute_frontier(fit)


@pytest.mark.parametrize("kwargs, match", [
    ({"ci_prob": 1.5}, "ci_prob"),
    ({"ci_prob": True}, "ci_prob"),
    ({"C": [1e18, -1.0]}, r"finite and > 0.*-1\.0"),
    ({"C": [[1e18, 1e19]]}, "flat"),
    ({"C": "lots"}, "C must be"),
    ({"C": [1e18, 1e18]}, "repeat"),
    ({"C": [1e18]}, "at least 2 budgets"),
    ({"n_points": 2}, "n_points"),
    ({"draws": 100}, r"\['draws'\].*RunTable"),
])
def test_bad_arguments_with_a_fit_name_the_problem(kwargs, match):
    fit = fake_fit("kaplan_steps:N,D", known_draws((1, 5)), curves(3))
    with pytest.raises(FrontierError, match=match):
        quiet(compute_frontier, fit, **kwargs)


def test_wrong_source_type_names_what_it_takes():
    with pytest.raises(FrontierError, match="Fit .* or a RunTable.*DataFrame"):
        compute_frontier(pd.DataFrame({"N": [1.0]}))


def test_envelope_needs_tokens_curves_and_overlap():
    steps_only = bs.runs.simulate_curves("kaplan_steps", sizes=[1e7, 1e8], steps=[1e3, 1e4], random_seed=0)
    with pytest.raises(FrontierError, match="tokens"):
        lower_envelope(steps_only)
    with pytest.raises(FrontierError, match="training curves"):
        lower_envelope(bs.load_demo_runs())
    with pytest.raises(FrontierError, match="RunTable"):
        lower_envelope(pd.DataFrame())
    apart = bs.runs.simulate_curves("kaplan_steps", sizes=[1e7, 1e10], steps=[1e3, 2e3, 4e3],
                                    tokens_per_step=1e5, random_seed=0)
    with pytest.raises(FrontierError, match="do not overlap"):
        lower_envelope(apart)
    with pytest.raises(FrontierError, match="smaller and a larger"):
        lower_envelope(curves(2))  # two sizes: the winner is always one end of the range
    with pytest.raises(FrontierError, match="n_points"):
        lower_envelope(curves(3), n_points=1)


# -- the envelope ---------------------------------------------------------------------------------


def test_envelope_is_the_lowest_run_and_traces_the_frontier():
    runs = curves(9)
    env = lower_envelope(runs, n_points=30)
    assert env["bracketed"].all() and len(env) == 30
    df = runs.to_dataframe()
    for _, row in env.iloc[::7].iterrows():  # brute force: every run that reaches C, interpolated in log-log
        best = np.inf
        for _, g in df.groupby("run"):
            if g["C"].min() <= row["C"] <= g["C"].max():
                best = min(best, np.exp(np.interp(np.log(row["C"]), np.log(g["C"]), np.log(g["loss"]))))
        assert row["loss"] == pytest.approx(best, rel=1e-12)
        assert row["D"] == pytest.approx(row["C"] / (6 * row["N"]))
    # noiseless curves of 9 sizes: the envelope's slope is the closed form's to 1%, its N slope near it
    _, _, a, alpha, _ = analytic(TRUTH, np.array([1.0]))
    slope_L = np.polyfit(np.log(env["C"]), np.log(env["loss"]), 1)[0]
    slope_N = np.polyfit(np.log(env["C"]), np.log(env["N"]), 1)[0]
    assert -slope_L == pytest.approx(float(alpha), rel=0.01)
    assert slope_N == pytest.approx(float(a), abs=0.05)
    # every winner lies on the frontier: the envelope is above the closed-form L* by under 1%
    _, L_star, *_ = analytic(TRUTH, env["C"].to_numpy())
    assert np.all(env["loss"].to_numpy() >= L_star * (1 - 1e-12))
    assert np.all(env["loss"].to_numpy() <= L_star * 1.01)


def test_untrimmed_envelope_includes_the_unbracketed_ends():
    runs = curves(5)
    env = lower_envelope(runs, n_points=40, trim=False)
    assert not env["bracketed"].all() and env["bracketed"].any()
    # at the low end the smallest run wins by default; at the high end the largest
    assert env["N"].iloc[0] == runs.N.min() and env["N"].iloc[-1] == runs.N.max()
    given = lower_envelope(runs, C=[1e18, 1e19])
    assert list(given["C"]) == pytest.approx([1e18, 1e19])


def test_curves_that_start_past_the_optimum_are_not_a_frontier():
    """Every run starts after its compute-efficient point (about step 1.1e4 here): at each C the largest
    model present wins, so no stretch of the envelope is bracketed by two winning sizes."""
    late = curves(5, first_step=3e4)
    with pytest.raises(FrontierError, match="start too late.*trim=False"):
        lower_envelope(late)
    env = lower_envelope(late, trim=False, n_points=30)
    assert not env["bracketed"].any()
    df = late.to_dataframe()
    started = [df.loc[df["C"] <= c * (1 + 1e-9), "N"].max() for c in env["C"]]  # the largest run begun by C
    np.testing.assert_array_equal(env["N"], started)


# -- recovery after real fits (slow) --------------------------------------------------------------


@pytest.mark.slow
def test_law_route_recovers_the_exponents_after_a_fit():
    runs = curves(5, sigma=0.01, seed=2).thin(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, LAW, noise="iid", likelihood="normal", draws=300, tune=300, chains=2,
                     random_seed=5, progressbar=False)
    assert fit.diagnostics()["max_r_hat"] < 1.05
    fr = quiet(compute_frontier, fit)
    _, _, a, alpha, _ = analytic(TRUTH, np.array([1.0]))
    ex = fr.exponents(0.94)
    for name, value in (("alpha_C", alpha), ("a", a), ("b", 1 - a)):
        assert ex.loc[name, "lower"] < float(value) < ex.loc[name, "upper"], (name, ex.loc[name].to_dict())
    assert ex.loc["alpha_C", "nan_share"] == 0


@pytest.mark.slow
def test_envelope_route_recovers_the_exponents_after_a_fit():
    runs = curves(9, sigma=0.003, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fr = compute_frontier(runs, draws=300, tune=300, chains=2, random_seed=1)
    assert fr.method == "envelope" and set(fr.fits) == {"power", "floor"}
    assert fr.fits["power"].diagnostics()["max_r_hat"] < 1.05
    _, _, a, alpha, _ = analytic(TRUTH, np.array([1.0]))
    ex = fr.exponents(0.94)
    assert ex.loc["alpha_C", "lower"] < float(alpha) < ex.loc["alpha_C", "upper"], ex.loc["alpha_C"].to_dict()
    assert abs(ex.loc["a", "median"] - float(a)) < 0.08  # a staircase of 9 sizes: close, not exact
    assert ex.loc["b", "median"] == pytest.approx(1 - ex.loc["a", "median"])
    assert {"alpha_C_floor", "E", "C_c_floor"} <= set(ex.index)
    assert fr.draws["loss"].dims == ("chain", "draw", "budget")
    assert fr.fits["power"].noise.structure == "iid"


@pytest.mark.slow
def test_envelope_route_warns_when_the_envelope_is_not_bracketed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        with pytest.warns(FrontierWarning, match="only 0% of the envelope"):
            fr = compute_frontier(curves(5, first_step=3e4), trim=False, draws=200, tune=200, chains=2,
                                  random_seed=1)
    assert not fr.envelope["bracketed"].any()
