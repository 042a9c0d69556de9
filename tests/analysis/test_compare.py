"""bs.compare (PSIS-LOO ranking, Pareto-k warnings) and model-averaged predictions, on hand-built posteriors."""

import dataclasses
import warnings

import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale.analysis.compare import mix_draws, mixture_counts

from ..conftest import CHINCHILLA_TRUE, fake_fit


def with_loglik(fit, sigma_scale=1.0, shift=0.0, outlier=None):
    """Add the exact normal pointwise log-likelihood of the fit's own runs (optionally a worse model)."""
    runs = fit.runs
    mu = np.log(bs.predict(fit, N=runs.N, D=runs.D).values) + shift
    sigma = fit.posterior["sigma"].values[..., None] * sigma_scale
    y = np.log(runs.loss).copy()
    if outlier is not None:
        y[outlier] += 0.5
    ll = -0.5 * np.log(2 * np.pi * sigma**2) - (y - mu) ** 2 / (2 * sigma**2)
    tree = fit.idata.copy()
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({"log_loss": (("chain", "draw", "run"), ll)}))
    return dataclasses.replace(fit, idata=tree)


def chinchilla_like(seed, scale=0.0005, shape=(4, 250), sigma=0.02, **override):
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(rng.normal(0, scale, shape)) for k, v in {**CHINCHILLA_TRUE, **override}.items()}
    draws["sigma"] = sigma * np.exp(rng.normal(0, 0.05, shape))
    return fake_fit("chinchilla", draws)


@pytest.fixture
def two_fits():
    good = with_loglik(chinchilla_like(0))
    bad = with_loglik(chinchilla_like(1), shift=0.03)  # predicts every run 3% too high
    return good, bad


def test_compare_ranks_the_law_that_predicts_better_and_gives_it_the_weight(two_fits):
    good, bad = two_fits
    cmp = bs.compare({"bad": bad, "good": good})
    assert isinstance(cmp, bs.analysis.Comparison)
    assert cmp.best == "good" and list(cmp.table.index) == ["good", "bad"]
    assert cmp.weights["good"] > 0.95 and cmp.weights.sum() == pytest.approx(1.0)
    assert cmp.table.loc["bad", "elpd_diff"] < -10
    assert (cmp.table["n_high_k"] == 0).all()
    assert "good" in repr(cmp) and "<table" in cmp._repr_html_()


def test_compare_names_runs_with_high_pareto_k(two_fits):
    good, _ = two_fits
    wild = with_loglik(chinchilla_like(2, sigma=0.002), outlier=5)  # one run 50 sigma away
    said = r"wild: 1 run\(s\) with Pareto k > 0.67 or not computable \(5\)"
    with pytest.warns(bs.analysis.ParetoKWarning, match=said):
        cmp = bs.compare({"good": good, "wild": wild})
    assert cmp.high_k()["wild"] == [5] and cmp.table.loc["wild", "n_high_k"] == 1


def test_high_k_names_runs_by_their_string_ids(two_fits):
    """Run ids from a text column (pandas string dtype: an object array of str) are named as they are."""
    good, _ = two_fits
    df = good.runs.to_dataframe().assign(name=[f"run-{i}" for i in range(len(good.runs))])
    named = bs.RunTable.from_dataframe(df, run="name")
    wild = chinchilla_like(2, sigma=0.002)
    wild = with_loglik(dataclasses.replace(wild, runs=named), outlier=5)
    good = dataclasses.replace(good, runs=named)
    with pytest.warns(bs.analysis.ParetoKWarning, match=r"\(run-5\)"):
        cmp = bs.compare({"good": good, "wild": wild})
    assert cmp.high_k()["wild"] == ["run-5"] and type(cmp.high_k()["wild"][0]) is str


def test_compare_refuses_what_it_cannot_compare(two_fits, chinchilla_fake_fit):
    good, bad = two_fits
    with pytest.raises(bs.analysis.CompareError, match="at least two fits, got 1"):
        bs.compare({"good": good})
    with pytest.raises(bs.analysis.CompareError, match="'plain' has no pointwise log-likelihood"):
        bs.compare({"good": good, "plain": chinchilla_fake_fit})
    other = fake_fit("chinchilla", {k: good.posterior[k].values for k in good.law.param_names} |
                     {"sigma": good.posterior["sigma"].values}, runs=good.runs.filter(np.arange(len(good.runs)) > 0))
    with pytest.raises(bs.analysis.CompareError, match="different run tables"):
        bs.compare({"good": good, "other": with_loglik(other)})


def test_mixture_counts_sum_exactly():
    assert mixture_counts({"a": 0.5, "b": 0.5}, 1001) in ({"a": 501, "b": 500}, {"a": 500, "b": 501})
    c = mixture_counts({"a": 0.7, "b": 0.2, "c": 0.1}, 999)
    assert sum(c.values()) == 999 and c == {"a": 699, "b": 200, "c": 100}  # 699.3, 199.8, 99.9
    assert mixture_counts({"a": 1.0, "b": 0.0}, 10) == {"a": 10, "b": 0}


def test_weight_one_reproduces_that_fit_exactly(two_fits):
    good, bad = two_fits
    avg = bs.average({"good": good, "bad": bad}, weights={"good": 1.0})
    want = bs.loss_interval(good, N=7e10, D=1.4e12, ci_prob=0.9, ci_kind="eti")
    got = bs.loss_interval(avg, N=7e10, D=1.4e12, ci_prob=0.9, ci_kind="eti")
    np.testing.assert_allclose(got[["median", "lower", "upper"]].values, want[["median", "lower", "upper"]].values,
                               rtol=1e-12)
    assert got["C"].item() == pytest.approx(6 * 7e10 * 1.4e12)


def test_averaged_draws_come_from_each_law_by_weight():
    low = chinchilla_like(3, scale=0.001, E=1.5)
    high = chinchilla_like(4, scale=0.001, E=2.5)
    avg = bs.average({"low": low, "high": high}, weights={"low": 3, "high": 1})  # normalised to 0.75 / 0.25
    assert avg.weights == {"low": 0.75, "high": 0.25}
    d = bs.predict(avg, N=7e10, D=1.4e12)
    assert d.dims == ("chain", "draw", "point") and d.sizes["draw"] == 1000
    E_low = float(bs.predict(low, N=7e10, D=1.4e12).median())
    frac_low = float((abs(d - E_low) < 0.1).mean())
    assert frac_low == 0.75
    # the mixture's 50% interval lies inside the low law's mode; its 90% reaches the high one
    ci = bs.loss_interval(avg, N=7e10, D=1.4e12, ci_prob=0.9, ci_kind="eti").iloc[0]
    assert ci["lower"] < E_low + 0.05 and ci["upper"] > E_low + 0.9
    assert bs.prob_below(avg, E_low + 0.5, N=7e10, D=1.4e12) == 0.75


def test_comparison_goes_straight_into_loss_interval(two_fits):
    good, bad = two_fits
    cmp = bs.compare({"good": good, "bad": bad})
    direct = bs.loss_interval(cmp, N=[7e10, 1e11], D=[1.4e12, 2e12], kind="new_run")
    via = bs.loss_interval(cmp.averaged(), N=[7e10, 1e11], D=[1.4e12, 2e12], kind="new_run")
    assert list(direct.columns) == ["N", "D", "C", "median", "lower", "upper"] and len(direct) == 2
    np.testing.assert_array_equal(direct.values, via.values)  # seeded: the same draws


def test_mix_draws_refuses_nothing_but_keeps_point_coords(two_fits):
    good, bad = two_fits
    avg = bs.average({"good": good, "bad": bad}, weights={"good": 0.5, "bad": 0.5})
    per = {k: bs.predict(f, N=[1e9, 1e10], D=[2e10, 2e11]) for k, f in avg.fits.items()}
    mixed = mix_draws(avg, per)
    np.testing.assert_array_equal(mixed.coords["N"].values, [1e9, 1e10])
    assert mixed.sizes["draw"] == 1000


def test_bad_weights_are_refused(two_fits):
    good, bad = two_fits
    with pytest.raises(bs.analysis.CompareError, match=r"unknown fits \['kaplan'\]"):
        bs.average({"good": good, "bad": bad}, weights={"kaplan": 1.0})
    with pytest.raises(bs.analysis.CompareError, match="non-negative"):
        bs.average({"good": good, "bad": bad}, weights={"good": -1.0, "bad": 2.0})


# -- leave-future-out ----------------------------------------------------------------------------


def test_stacking_weights_pick_the_mixture_that_predicts_best():
    from bayescale.analysis.lfo import stacking_weights

    lpd = np.log(np.array([[0.9, 0.1], [0.8, 0.3], [0.7, 0.2]]))
    np.testing.assert_allclose(stacking_weights(lpd), [1.0, 0.0], atol=1e-6)  # the first wins on every point
    # complementary models: each best on half the points; the optimum mixes them equally
    lpd = np.log(np.array([[1.0, 0.01], [0.01, 1.0]] * 3))
    np.testing.assert_allclose(stacking_weights(lpd), [0.5, 0.5], atol=1e-4)
    assert stacking_weights(np.zeros((4, 1))).tolist() == [1.0]


@pytest.mark.slow
def test_lfo_ranks_laws_by_how_they_predict_the_next_budget():
    from ..conftest import isoflop_runs

    runs = isoflop_runs("chinchilla", CHINCHILLA_TRUE, noise_sd=0.01, seed=4)
    kw = {"draws": 300, "tune": 400, "chains": 2, "progressbar": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fits = {law: bs.fit(runs, law, random_seed=1, **kw) for law in ("chinchilla", "kaplan")}
    cmp = bs.compare(fits, method="lfo", origins=2)
    t = cmp.table
    assert cmp.method == "lfo" and cmp.best == "chinchilla" and t.index[0] == "chinchilla"
    assert t.loc["kaplan", "elpd_diff"] < 0 == t.loc["chinchilla", "elpd_diff"]
    assert t["weight"].sum() == pytest.approx(1.0) and cmp.weights["chinchilla"] > 0.9
    levels = bs.runs.design.compute_levels(runs.C)
    top2 = (runs.C >= levels[-2][0]).sum()
    pointwise = cmp.loo["pointwise"]
    assert (t["n_test"] == top2).all() and len(pointwise) == top2  # the two largest budgets, one step ahead each
    assert t.loc["chinchilla", "elpd_lfo"] == pytest.approx(pointwise["chinchilla"].sum())
    assert cmp.high_k() == {"chinchilla": [], "kaplan": []} and "leave-future-out" in repr(cmp)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.analysis.ExtrapolationWarning)  # LFO weights: no LOO warning
        bs.loss_interval(cmp, N=1e10, D=2e11)  # 0.9 decades beyond the runs: no other warning either
    with pytest.warns(bs.analysis.ExtrapolationWarning, match="method='lfo'"):
        bs.loss_interval(bs.compare(fits), N=1e10, D=2e11)
    with pytest.raises(bs.analysis.CompareError, match="compute levels"):
        bs.compare(fits, method="lfo", origins=len(levels))
    with pytest.raises(bs.analysis.CompareError, match="options of method='lfo'"):
        bs.compare(fits, origins=2)
