"""Forecasts of training curves (issue 3, item 4) against exact Gaussian conditioning, no sampling."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale as bs
from bayescale.analysis import PredictionInputError, forecast_draws
from bayescale.results.fit import Fit, make_attrs

LAW = bs.get_law("kaplan_steps")
P = {"Nc": 6.5e13, "Sc": 2.1e3, "aN": 0.076, "aS": 0.76}
SIGMA, TAU, ELL = 0.02, 0.03, 0.6


def curve_fit(runs, *, shape=(4, 4000), noise="ar1") -> Fit:
    """A fit whose posterior is a point mass at known values (every draw the same)."""
    vals = {**P, "sigma": SIGMA, "tau": TAU, "ell": ELL}
    post = xr.Dataset({k: (("chain", "draw"), np.full(shape, v)) for k, v in vals.items()})
    tree = xr.DataTree.from_dict({"posterior": post})
    spec = bs.ModelSpec.build(LAW, noise=noise, runs=runs)
    priors = spec.priors
    tree.attrs.update(make_attrs(version=bs.__version__, law=LAW.name, law_spec=LAW.spec,
                                 law_source_hash=LAW.source_hash, likelihood="normal", noise=noise,
                                 priors={k: p.to_dict() for k, p in priors.items()}, pivot={},
                                 data_hash=runs.data_hash, sampler={}, random_seed=11))
    return Fit(spec=spec, runs=runs, idata=tree, pivot={"N": 1.0, "step": 1.0})


@pytest.fixture(scope="module")
def runs():
    full = bs.runs.simulate_curves(LAW, P, sizes=[1e7, 1e8, 1e9], steps=np.geomspace(500, 5e4, 12),
                                   sigma=SIGMA, tau=TAU, ell=ELL, random_seed=5)
    df = full.to_dataframe()
    return full.filter(~((df.run == "N=1e+09") & (df.step > 4000)).to_numpy())


def exact_conditional(runs, future):
    """Mean and sd of the 1e9 run's log loss at ``future`` given its checkpoints: Gaussian conditioning
    on the joint covariance tau^2 + sigma^2 exp(-|dlog t| / ell)."""
    past = runs.to_dataframe().query("run == 'N=1e+09'")
    t = np.log(np.r_[past.step.to_numpy(), future])
    cov = SIGMA**2 * np.exp(-np.abs(t[:, None] - t[None, :]) / ELL) + TAU**2
    mu = np.log(LAW(N=1e9, step=np.exp(t), **P))
    k = len(past)
    gain = cov[k:, :k] @ np.linalg.inv(cov[:k, :k])
    mean = mu[k:] + gain @ (np.log(past.loss.to_numpy()) - mu[:k])
    return mean, np.sqrt(np.diag(cov[k:, k:] - gain @ cov[:k, k:]))


def test_forecast_of_a_partial_run_is_the_exact_gaussian_conditional(runs):
    fit = curve_fit(runs)
    future = np.array([1e4, 5e4])
    mean, sd = exact_conditional(runs, future)
    draws = np.log(forecast_draws(fit, run="N=1e+09", at=future, random_seed=1).values.reshape(-1, 2))
    se = sd / np.sqrt(draws.shape[0])
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * se), (draws.mean(0), mean, se)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.03)


def test_forecast_of_a_new_run_has_offset_and_stationary_spread(runs):
    fit = curve_fit(runs)
    draws = np.log(forecast_draws(fit, N=3e9, at=[1e4, 5e4], random_seed=2).values.reshape(-1, 2))
    mu = np.log(LAW(N=3e9, step=np.array([1e4, 5e4]), **P))
    np.testing.assert_allclose(draws.mean(0), mu, atol=0.002)
    np.testing.assert_allclose(draws.std(0), np.sqrt(SIGMA**2 + TAU**2), rtol=0.03)
    rho = np.corrcoef(draws.T)[0, 1]  # offset shared, AR(1) decays over log(5)
    expected = (TAU**2 + SIGMA**2 * np.exp(-np.log(5) / ELL)) / (TAU**2 + SIGMA**2)
    assert rho == pytest.approx(expected, abs=0.03)
    marginal = bs.analysis.loss_draws(fit, kind="new_run", N=3e9, step=5e4)
    assert np.log(marginal).std().item() == pytest.approx(np.sqrt(SIGMA**2 + TAU**2), rel=0.03)


def test_forecast_inputs_are_checked(runs):
    fit = curve_fit(runs)
    with pytest.raises(PredictionInputError, match="forecasts start after it"):
        forecast_draws(fit, run="N=1e+09", at=[1000])
    with pytest.raises(PredictionInputError, match="not in this fit"):
        forecast_draws(fit, run="N=5e+09", at=[1e5])
    with pytest.raises(PredictionInputError, match="needs N="):
        forecast_draws(fit, at=[1e5])
    with pytest.raises(PredictionInputError, match="not both"):
        forecast_draws(fit, run="N=1e+09", at=[1e5], N=1e9)
    table = bs.forecast_run(fit, run="N=1e+09", at=[1e4, 5e4], ci_prob=0.8)
    assert list(table.columns) == ["run", "N", "step", "median", "lower", "upper"]
    assert (table.lower < table["median"]).all() and (table["median"] < table.upper).all()
    final = bs.RunTable.from_dataframe(pd.DataFrame({"N": [1e8, 1e9, 1e10], "D": [1e10] * 3, "loss": [3, 2.8, 2.6]}))
    with pytest.raises(PredictionInputError, match="fit to training curves"):
        forecast_draws(curve_fit(final, noise="iid"), N=1e9, at=[1e5])


def test_forecast_log_density_is_the_exact_conditional_density(runs):
    """Point mass posterior: the density of the run's later loss is the Gaussian conditional of log
    loss given its checkpoints so far (offset integrated), with the Jacobian of the log."""
    from scipy.stats import norm

    fit = curve_fit(runs, shape=(4, 8000))
    future = np.array([1e4, 5e4])
    mean, sd = exact_conditional(runs, future)
    y = np.exp(mean + np.array([0.5, -1.0]) * sd)
    expected = norm.logpdf(np.log(y), mean, sd) - np.log(y)
    got = bs.analysis.forecast_log_density(fit, y, "N=1e+09", at=future, random_seed=3)
    np.testing.assert_allclose(got, expected, atol=0.02)
    # a new run (no run=): a fresh offset and the stationary AR(1) spread, sd hypot(sigma, tau) exactly
    law = LAW(N=3e9, step=future, **P)
    y_new = law * np.exp(np.array([0.01, -0.04]))
    sd_new = np.hypot(SIGMA, TAU)
    expected_new = norm.logpdf(np.log(y_new), np.log(law), sd_new) - np.log(y_new)
    got_new = bs.analysis.forecast_log_density(fit, y_new, at=future, N=3e9, random_seed=3)
    np.testing.assert_allclose(got_new, expected_new, rtol=1e-10)
