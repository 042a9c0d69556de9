import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale.analysis import PredictionInputError

from ..conftest import fake_fit


def floor_only_fit(likelihood="normal", sigma=0.0):
    """A posterior where the law's loss is exactly E (A = B = 0), so intervals are known."""
    rng = np.random.default_rng(1)
    shape = (4, 500)
    draws = {"E": rng.uniform(1.5, 2.5, shape), "A": np.zeros(shape), "B": np.zeros(shape),
             "alpha": np.full(shape, 0.3), "beta": np.full(shape, 0.3), "sigma": np.full(shape, sigma)}
    if likelihood == "student_t":
        draws["nu"] = np.full(shape, 3.0)
    return fake_fit("chinchilla", draws, likelihood=likelihood), draws["E"]


def test_predict_dims_and_values(chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    out = bs.predict(fit, N=[1e9, 7e10], D=1.4e12)
    assert out.dims == ("chain", "draw", "point") and out.shape == (4, 250, 2)
    np.testing.assert_allclose(out.coords["C"], 6 * np.array([1e9, 7e10]) * 1.4e12)
    p = fit.posterior.isel(chain=2, draw=17)
    by_hand = float(p.E + p.A / 7e10**p.alpha + p.B / 1.4e12**p.beta)
    assert float(out.isel(chain=2, draw=17, point=1)) == pytest.approx(by_hand, rel=1e-14)


def test_eti_interval_and_median_are_exact_quantiles():
    fit, E = floor_only_fit()
    df = bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.8, ci_kind="eti")
    assert list(df.columns) == ["N", "D", "C", "median", "lower", "upper"]
    assert df["median"][0] == pytest.approx(np.median(E))
    assert df["lower"][0] == pytest.approx(np.quantile(E, 0.1))
    assert df["upper"][0] == pytest.approx(np.quantile(E, 0.9))


def test_hdi_of_uniform_has_the_right_mass():
    fit, E = floor_only_fit()
    df = bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9)
    inside = np.mean((E >= df["lower"][0]) & (E <= df["upper"][0]))
    assert inside == pytest.approx(0.9, abs=0.002)
    assert df["upper"][0] - df["lower"][0] == pytest.approx(0.9, abs=0.02)  # width of U(1.5, 2.5) mass


def test_prob_below_scalar_and_array(chinchilla_fake_fit):
    fit, E = floor_only_fit()
    assert bs.prob_below(fit, 1.8, N=7e10, D=1.4e12) == pytest.approx(np.mean(E < 1.8))
    fit = chinchilla_fake_fit
    p = bs.prob_below(fit, 2.0, N=[7e10, 1e10], D=1.4e12)
    one = [bs.prob_below(fit, 2.0, N=n, D=1.4e12) for n in (7e10, 1e10)]
    assert p.shape == (2,) and p.tolist() == one and 0.0 < one[1] < one[0] < 1.0


def test_new_run_adds_fitted_noise():
    fit, _ = floor_only_fit(sigma=0.0)
    a = bs.loss_interval(fit, N=7e10, D=1.4e12, kind="mean")
    b = bs.loss_interval(fit, N=7e10, D=1.4e12, kind="new_run")
    np.testing.assert_allclose(a[["lower", "upper"]], b[["lower", "upper"]])
    # E fixed, noise sd 0.05 on log loss: the new-run interval is the lognormal one
    shape = (4, 2000)
    draws = {"E": np.full(shape, 2.0), "A": np.zeros(shape), "B": np.zeros(shape), "alpha": np.full(shape, 0.3),
             "beta": np.full(shape, 0.3), "sigma": np.full(shape, 0.05)}
    fit = fake_fit("chinchilla", draws)
    c = bs.loss_interval(fit, N=7e10, D=1.4e12, kind="new_run", ci_kind="eti", ci_prob=0.9, random_seed=0)
    assert c["lower"][0] == pytest.approx(2.0 * np.exp(-1.6449 * 0.05), rel=3e-3)
    assert c["upper"][0] == pytest.approx(2.0 * np.exp(1.6449 * 0.05), rel=3e-3)
    again = bs.loss_interval(fit, N=7e10, D=1.4e12, kind="new_run", ci_kind="eti", ci_prob=0.9, random_seed=0)
    assert c.equals(again)


def test_student_t_new_run_is_heavier_tailed():
    fit_n, _ = floor_only_fit("normal", sigma=0.02)
    fit_t, _ = floor_only_fit("student_t", sigma=0.02)
    n = bs.analysis.loss_draws(fit_n, kind="new_run", N=1e10, D=1e11) / bs.predict(fit_n, N=1e10, D=1e11)
    t = bs.analysis.loss_draws(fit_t, kind="new_run", N=1e10, D=1e11) / bs.predict(fit_t, N=1e10, D=1e11)
    assert float(np.abs(np.log(t)).quantile(0.999)) > float(np.abs(np.log(n)).quantile(0.999))


def test_inputs_from_N_and_C(chinchilla_fake_fit):
    a = bs.loss_interval(chinchilla_fake_fit, N=7e10, C=5.88e23)
    b = bs.loss_interval(chinchilla_fake_fit, N=7e10, D=1.4e12)
    np.testing.assert_allclose(a[["median", "lower", "upper"]], b[["median", "lower", "upper"]])


def test_bad_prediction_inputs(chinchilla_fake_fit):
    with pytest.raises(PredictionInputError, match=r"missing \['D'\]"):
        bs.predict(chinchilla_fake_fit, N=1e9)
    with pytest.raises(PredictionInputError, match="N must be finite and > 0.*-1"):
        bs.predict(chinchilla_fake_fit, N=[1e9, -1.0], D=1e10)
    with pytest.raises(PredictionInputError, match=r"unknown argument\(s\) \['hdi_prob'\]"):
        bs.loss_interval(chinchilla_fake_fit, N=7e10, D=1.4e12, hdi_prob=0.5)
    with pytest.raises(PredictionInputError, match="C disagrees with 6 N D"):
        bs.predict(chinchilla_fake_fit, N=7e10, D=1.4e12, C=1.0)
    with pytest.raises(PredictionInputError, match="broadcast"):
        bs.predict(chinchilla_fake_fit, N=[1e9, 2e9], D=[1e10, 2e10, 3e10])


def test_posterior_predictive_groups(chinchilla_fake_fit):
    pp = bs.posterior_predictive(chinchilla_fake_fit, random_seed=0)
    n = len(chinchilla_fake_fit.runs)
    assert pp.posterior_predictive["log_loss"].shape == (4, 250, n)
    np.testing.assert_allclose(pp.observed_data["log_loss"], np.log(chinchilla_fake_fit.runs.loss))


def test_compare_names_the_fit_whose_loo_fails(chinchilla_fake_fit):
    import dataclasses

    rng = np.random.default_rng(0)
    n_run = len(chinchilla_fake_fit.runs)

    def with_loglik(values):
        tree = chinchilla_fake_fit.idata.copy()
        tree["log_likelihood"] = xr.DataTree(xr.Dataset({"log_loss": (("chain", "draw", "run"), values)}))
        return dataclasses.replace(chinchilla_fake_fit, idata=tree)

    good = with_loglik(rng.normal(2.0, 0.1, (4, 250, n_run)))
    stuck = with_loglik(np.full((4, 250, n_run), 2.0))  # a posterior that never moved
    with pytest.raises(bs.analysis.CompareError, match=r"PSIS-LOO failed for \['stuck'\]"):
        bs.analysis.compare({"good": good, "stuck": stuck})


# -- the law's own error beyond the data (noise="discrepancy") ------------------------------------


def discrepancy_fit(likelihood="normal", kappa=0.05, sigma=0.02):
    """E fixed at 2 (A = B = 0), noise sigma, the law's error kappa per decade of C beyond the runs."""
    shape = (4, 1000)
    draws = {"E": np.full(shape, 2.0), "A": np.zeros(shape), "B": np.zeros(shape), "alpha": np.full(shape, 0.3),
             "beta": np.full(shape, 0.3), "sigma": np.full(shape, sigma), "kappa": np.full(shape, kappa)}
    if likelihood == "student_t":
        draws["nu"] = np.full(shape, 4.0)
    return fake_fit("chinchilla", draws, likelihood=likelihood, noise="discrepancy")


def test_the_laws_error_grows_with_decades_beyond_the_runs_and_is_exact_for_normal_noise():
    fit = discrepancy_fit()
    c_max = fit.runs.C.max()
    inside, far = np.sqrt(c_max * fit.runs.C.min()), c_max * 100.0  # 0 and 2 decades beyond
    pred, _ = bs.analysis.predictive(fit, N=[1e9, 1e10], C=[inside, far])
    lo, hi = pred.interval(0.9)
    sd = np.array([0.02, np.hypot(0.02, 0.05 * 2.0)])
    np.testing.assert_allclose(hi - np.log(2.0), 1.6448536269514722 * sd, rtol=1e-8)
    np.testing.assert_allclose(lo - np.log(2.0), -1.6448536269514722 * sd, rtol=1e-8)
    # kind="mean": the expected loss carries the law's error (sd 0.1 at 2 decades) but not the noise
    src = bs.interval_sources(fit, ci_prob=0.9, N=[1e9, 1e10], C=[inside, far])
    np.testing.assert_allclose(src["decades_beyond"], [0.0, 2.0], atol=1e-12)
    assert src["width_params"].tolist() == [0.0, 0.0] and src["width_law"][0] == 0.0
    assert src["width_law"][1] == pytest.approx(2.0 * 2 * np.sinh(1.6448536269514722 * 0.1), rel=1e-8)
    np.testing.assert_allclose(src["width_params"] + src["width_law"] + src["width_noise"], src["width"])
    np.testing.assert_allclose(src["width"], 2.0 * (np.exp(hi) - np.exp(lo)) / 2.0, rtol=1e-8)
    iid = bs.interval_sources(floor_only_fit(sigma=0.02)[0], N=1e10, C=far)
    assert iid["width_law"][0] == 0.0 and iid["share_law"][0] == 0.0


def test_student_t_noise_plus_the_normal_law_error_matches_monte_carlo():
    fit = discrepancy_fit("student_t", kappa=0.05, sigma=0.02)
    far = fit.runs.C.max() * 100.0
    pred, _ = bs.analysis.predictive(fit, N=1e10, C=far)
    rng = np.random.default_rng(0)
    mc = 0.1 * rng.standard_normal(2_000_000) + 0.02 * rng.standard_t(4.0, 2_000_000)
    got = pred.quantiles([0.05, 0.25, 0.5, 0.95])[:, 0] - np.log(2.0)
    np.testing.assert_allclose(got, np.quantile(mc, [0.05, 0.25, 0.5, 0.95]), atol=2e-3)
    draws = bs.analysis.loss_draws(fit, kind="new_run", random_seed=1, N=1e10, C=far)
    assert draws.shape == (4, 1000, 1)  # one draw per posterior draw, the strata resampled
    assert float(np.log(draws / 2.0).std()) == pytest.approx(float(np.std(mc)), rel=0.06)


def test_predictive_quantiles_end_on_an_infinite_location():
    from bayescale.analysis import Predictive

    p = Predictive(np.array([[0.0], [np.inf]]), np.ones((2, 1)), "normal")
    lo, hi = p.interval(0.5)  # half the mass at infinity: the bisection stops instead of looping
    assert np.isfinite(lo[0]) and hi[0] == np.inf
