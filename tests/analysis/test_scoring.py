"""Scores for held-out losses, on hand-built posteriors (no sampling)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayescale as bs
from bayescale.analysis.scoring import (
    CI_PROBS,
    coverage,
    log_predictive_density,
    mixture_log_density,
    mixture_quantiles,
    msce,
    rmsle,
)

from ..conftest import fake_fit

X = np.array([1e6, 1e7, 1e8])


def curve_runs() -> bs.RunTable:
    df = pd.DataFrame({"x": np.geomspace(1e5, 1e8, 8), "loss": np.linspace(0.9, 0.4, 8)})
    return bs.RunTable.from_dataframe(df, N=None, D="x", loss="loss")


def m2_fit(sigma, *, e_inf=None, seed=0, shape=(4, 500)):
    """An m2 posterior with L(x) = e_inf + 3 x^-0.2: e_inf drawn per draw (or fixed), sigma fixed."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(0.2, 0.3, shape) if e_inf is None else np.full(shape, e_inf)
    draws = {"e_inf": e, "b": np.full(shape, 3.0), "c_neg": np.full(shape, 0.2), "sigma": np.full(shape, sigma)}
    return fake_fit("m2", draws, curve_runs())


def test_rmsle_by_hand_and_errors():
    assert rmsle([1.0, np.e], [np.e, 1.0]) == pytest.approx(1.0)
    assert rmsle(np.array([0.5]), np.array([0.5])) == 0.0
    with pytest.raises(ValueError, match="shape"):
        rmsle([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        rmsle([0.0], [1.0])


def test_log_density_of_a_point_posterior_is_the_lognormal_density():
    fit = m2_fit(0.05, e_inf=0.25)
    law = 0.25 + 3.0 * X**-0.2
    y = law * np.exp([0.0, 0.03, -0.1])
    lpd = log_predictive_density(fit, y, D=X)
    expected = stats.lognorm(s=0.05, scale=law).logpdf(y)
    np.testing.assert_allclose(lpd, expected, rtol=1e-10)
    # the density of log y is the density of y times y
    np.testing.assert_allclose(lpd + np.log(y), stats.norm(np.log(law), 0.05).logpdf(np.log(y)), rtol=1e-10)


def test_log_density_is_a_mixture_over_draws():
    fit = m2_fit(0.02)
    e = fit.posterior["e_inf"].values.ravel()
    y = np.array([0.5, 0.45, 0.38])
    lpd = log_predictive_density(fit, y, D=X)
    by_hand = [np.log(np.mean(stats.lognorm(s=0.02, scale=e + 3.0 * x**-0.2).pdf(yi)))
               for x, yi in zip(X, y, strict=True)]
    np.testing.assert_allclose(lpd, by_hand, rtol=1e-8)


def test_student_t_log_density():
    shape = (2, 100)
    draws = {"e_inf": np.full(shape, 0.25), "b": np.full(shape, 3.0), "c_neg": np.full(shape, 0.2),
             "sigma": np.full(shape, 0.05), "nu": np.full(shape, 4.0)}
    fit = fake_fit("m2", draws, curve_runs(), likelihood="student_t")
    law = 0.25 + 3.0 * X**-0.2
    y = law * np.exp([0.0, 0.2, -0.3])
    expected = stats.t(df=4.0, loc=np.log(law), scale=0.05).logpdf(np.log(y)) - np.log(y)
    np.testing.assert_allclose(log_predictive_density(fit, y, D=X), expected, rtol=1e-10)


def test_mixture_log_density_weights_and_normalisation():
    out = mixture_log_density({"a": np.log([1.0, 2.0]), "b": np.log([3.0, 4.0])}, {"a": 1.0, "b": 3.0})
    np.testing.assert_allclose(np.exp(out), [0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4])
    same = mixture_log_density({"a": np.log([1.0]), "b": np.log([5.0])}, {"a": 1.0, "b": 0.0})
    np.testing.assert_allclose(same, np.log([1.0]))
    with pytest.raises(ValueError, match="no weight"):
        mixture_log_density({"a": [0.0], "b": [0.0]}, {"a": 1.0})


def draws_of(values: np.ndarray) -> xr.DataArray:
    """(chain, draw, point) draws from a (sample, point) array, 2 chains."""
    v = np.asarray(values, dtype=float)
    return xr.DataArray(v.reshape(2, -1, v.shape[-1]), dims=("chain", "draw", "point"))


def test_quantiles_of_one_set_are_hazen_quantiles():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(400, 3))
    q = [0.005, 0.25, 0.5, 0.9]
    np.testing.assert_allclose(mixture_quantiles(draws_of(v), q), np.quantile(v, q, axis=0, method="hazen"))
    assert mixture_quantiles(draws_of(v), 0.5).shape == (3,)


def test_mixture_quantiles_follow_the_weights():
    rng = np.random.default_rng(1)
    a = draws_of(rng.uniform(0.0, 1.0, size=(4000, 1)))
    b = draws_of(rng.uniform(10.0, 11.0, size=(2000, 1)))  # a different number of draws
    # 80% of the mass on a: the median is inside a at its 62.5% point, the 90% quantile in b's middle
    med, q90 = mixture_quantiles({"a": a, "b": b}, [0.5, 0.9], weights={"a": 0.8, "b": 0.2})[:, 0]
    assert med == pytest.approx(0.625, abs=0.02)
    assert q90 == pytest.approx(10.5, abs=0.03)
    # weight 0 ignores a component; weights are normalised
    only_b = mixture_quantiles({"a": a, "b": b}, 0.5, weights={"a": 0.0, "b": 2.0})
    np.testing.assert_allclose(only_b, mixture_quantiles(b, 0.5))
    with pytest.raises(ValueError, match="weights="):
        mixture_quantiles({"a": a, "b": b}, 0.5)


def test_coverage_of_calibrated_draws_and_msce():
    rng = np.random.default_rng(2)
    n_points = 4000
    d = draws_of(rng.normal(size=(1000, n_points)))
    y = rng.normal(size=n_points)  # drawn from the predictive itself: calibrated
    cov = coverage(d, y)
    assert list(cov.index) == list(CI_PROBS)
    np.testing.assert_allclose(cov.to_numpy(), CI_PROBS, atol=0.025)
    assert msce(cov) < 2e-4
    # observations far outside every interval: coverage 0, MSCE = mean c^2
    cov0 = coverage(d, np.full(n_points, 50.0))
    assert (cov0 == 0).all()
    assert msce(cov0) == pytest.approx(np.mean(np.square(CI_PROBS)))


def test_coverage_with_new_run_draws_of_a_fit():
    fit = m2_fit(0.05, e_inf=0.25, shape=(2, 2000))
    x = np.full(3000, 1e7)
    rng = np.random.default_rng(3)
    y = (0.25 + 3.0 * x**-0.2) * np.exp(rng.normal(0.0, 0.05, x.size))
    d = bs.analysis.loss_draws(fit, kind="new_run", D=x, random_seed=4)
    cov = coverage(d, y, ci_probs=(0.5, 0.9))
    np.testing.assert_allclose(cov.to_numpy(), [0.5, 0.9], atol=0.03)
    # too narrow a predictive (sigma 0.01 against noise 0.05) under-covers
    narrow = bs.analysis.loss_draws(m2_fit(0.01, e_inf=0.25, shape=(2, 2000)), kind="new_run", D=x, random_seed=4)
    assert coverage(narrow, y, ci_probs=(0.9,)).iloc[0] < 0.35


def test_coverage_input_errors():
    d = draws_of(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="observations"):
        coverage(d, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="ci_probs"):
        coverage(d, [1.0, 2.0], ci_probs=(1.0,))
