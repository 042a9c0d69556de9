"""Predictive checks (issue 4 item 2): LOO-PIT (exact values, calibration, agreement with
arviz-stats), residuals, the simultaneous uniform ECDF band, and the check plots."""

from __future__ import annotations

import dataclasses
import re
import warnings

import arviz_stats
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayescale as bs
from bayescale.analysis.checks import (
    ParetoKWarning,
    PredictiveCheckError,
    loo_pit,
    pit_ecdf_inside,
    residuals,
    uniform_ecdf_band,
)
from bayescale.plots.checks import plot_loo_pit, plot_ppc, plot_prior_predictive, plot_residuals

from ..conftest import CHINCHILLA_TRUE, fake_fit, isoflop_runs

SIGMA = 0.05
BIG_DESIGN = {"budgets": np.geomspace(1e18, 1e22, 20), "factors": np.geomspace(0.2, 5.0, 10)}  # 200 runs


def law_log_loss(fit, runs=None) -> xr.DataArray:
    """log L per draw at the fit's runs, through the public prediction API: dims (chain, draw, run)."""
    runs = runs if runs is not None else fit.runs
    mean = bs.predict(fit, N=runs.N, D=runs.D)
    return np.log(mean).rename({"point": "run"}).drop_vars(["N", "D", "C"])


def with_log_lik(fit):
    """The fit with a ``log_likelihood`` group computed by hand from its own likelihood."""
    log_y = xr.DataArray(np.log(fit.runs.loss), dims="run")
    z = (log_y - law_log_loss(fit)) / fit.posterior["sigma"]
    if fit.likelihood == "student_t":
        ll = xr.apply_ufunc(stats.t.logpdf, z, fit.posterior["nu"]) - np.log(fit.posterior["sigma"])
    else:
        ll = xr.apply_ufunc(stats.norm.logpdf, z) - np.log(fit.posterior["sigma"])
    ll = ll.transpose("chain", "draw", "run").assign_coords(run=np.arange(len(fit.runs)))
    fit.idata["log_likelihood"] = xr.DataTree(xr.Dataset({"log_loss": ll}))
    return fit


def calibrated_fit(*, shift: float = 0.0, seed: int = 5, shape=(4, 250), likelihood="normal",
                   outlier: int | None = None, spread: float = 0.005, sigma: float = SIGMA,
                   design: dict | None = None):
    """A hand-built posterior around Chinchilla's values (each parameter spread by ``spread`` on the
    log scale, sigma ~ ``sigma``) and runs (200 by default) whose log losses are the law plus
    sigma * noise (shifted by ``shift`` sigma), i.e. data from the posterior's own model;
    ``outlier`` moves one run up by 8 sigma."""
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(rng.normal(0, spread, shape)) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = sigma * np.exp(rng.normal(0, 0.02, shape))
    if likelihood == "student_t":
        draws["nu"] = np.full(shape, 5.0)
    runs = isoflop_runs(params=CHINCHILLA_TRUE, noise_sd=sigma, seed=seed, **(BIG_DESIGN if design is None else design))
    df = runs.to_dataframe()
    df["loss"] *= np.exp(shift * sigma)
    if outlier is not None:
        df.loc[outlier, "loss"] *= np.exp(8 * sigma)
    df["run"] = [f"r{i:03d}" for i in range(len(df))]
    runs = bs.RunTable.from_dataframe(df[["run", "N", "D", "loss"]])
    return with_log_lik(fake_fit("chinchilla", draws, runs, likelihood=likelihood))


def ks_statistic(u: np.ndarray) -> float:
    return float(stats.kstest(u, "uniform").statistic)


@pytest.fixture(scope="module")
def calibrated():
    return calibrated_fit()


@pytest.fixture(scope="module")
def curve_fit():
    """Curve fit by hand (kaplan_steps, noise='ar1'): 4 runs x 12 checkpoints."""
    law = bs.get_law("kaplan_steps")
    runs = bs.runs.simulate_curves(law, law.example, sizes=np.geomspace(1e7, 1e9, 4), steps=np.geomspace(500, 5e4, 12),
                                   sigma=0.01, tau=0.02, ell=0.5, random_seed=3)
    rng = np.random.default_rng(8)
    shape = (2, 200)
    draws = {k: v * np.exp(rng.normal(0, 0.01, shape)) for k, v in law.example.items()}
    draws.update(sigma=np.full(shape, 0.01), tau=np.full(shape, 0.02), ell=np.full(shape, 0.5))
    return fake_fit("kaplan_steps", draws, runs, noise="ar1")


# -- LOO-PIT ---------------------------------------------------------------------------------------


def test_loo_pit_is_uniform_when_data_come_from_the_model(calibrated):
    pit = loo_pit(calibrated)
    n = len(calibrated.runs)
    assert pit.dims == ("run",) and pit.sizes["run"] == n == 200
    assert pit.attrs["weights"] == "psis"
    assert list(pit["run"].values[:2]) == ["r000", "r001"]
    assert np.all((pit.values >= 0) & (pit.values <= 1))
    assert ks_statistic(pit.values) < 1.63 / np.sqrt(n)  # the KS test's 1% critical value
    assert pit_ecdf_inside(pit, uniform_ecdf_band(n))
    k = pit["pareto_k"].values
    assert np.all(np.isfinite(k)) and k.max() < 0.7


@pytest.mark.parametrize(("shift", "expected"),
                         [(1.0, stats.norm.cdf(1 / np.sqrt(2))), (-1.0, stats.norm.cdf(-1 / np.sqrt(2)))])
def test_loo_pit_mean_under_a_one_sigma_shift(shift, expected):
    """Data shifted by +-1 sigma: PIT = Phi(Z +- 1), whose mean is Phi(+-1/sqrt 2) = 0.760 / 0.240;
    a wrong sign or a wrong noise scale (sigma^2, 2 sigma...) lands far from it."""
    pit = loo_pit(calibrated_fit(shift=shift))
    assert abs(float(pit.mean()) - expected) < 0.05


@pytest.mark.filterwarnings("ignore::bayescale.analysis.checks.ParetoKWarning")
def test_loo_pit_piles_up_near_one_when_data_are_five_sigma_high():
    pit = loo_pit(calibrated_fit(shift=5.0))
    assert float(np.median(pit)) > 0.99 and float(pit.min()) > 0.9
    assert not pit_ecdf_inside(pit, uniform_ecdf_band(pit.size))


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_loo_pit_with_one_draw_is_the_predictive_cdf(likelihood):
    """With one draw (S = 1) the PIT is exactly the predictive CDF at the observed log loss."""
    draws = {k: np.array([[v]]) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = np.array([[0.03]])
    if likelihood == "student_t":
        draws["nu"] = np.array([[4.0]])
    runs = isoflop_runs(params=CHINCHILLA_TRUE, noise_sd=0.03, seed=11)
    fit = with_log_lik(fake_fit("chinchilla", draws, runs, likelihood=likelihood))
    pit = loo_pit(fit)
    z = (np.log(runs.loss) - np.log(bs.get_law("chinchilla")(N=runs.N, D=runs.D, **CHINCHILLA_TRUE))) / 0.03
    exact = stats.t.cdf(z, 4.0) if likelihood == "student_t" else stats.norm.cdf(z)
    np.testing.assert_allclose(pit.values, exact, rtol=0, atol=1e-12)
    assert pit.attrs["weights"] == "raw importance weights" and np.all(np.isnan(pit["pareto_k"]))
    assert exact.min() < 0.2 and exact.max() > 0.8  # the check spans the CDF, not one flat corner


def test_loo_pit_with_two_draws_weights_them_by_inverse_likelihood():
    """S = 2 (too few to smooth): PIT_i = sum_s F_s(y_i) / p_s(y_i) / sum_s 1 / p_s(y_i), the
    leave-one-out weights favouring the draw that fits run i worse."""
    draws = {k: np.array([[v, v]]) for k, v in CHINCHILLA_TRUE.items()}
    draws["E"] = np.array([[1.60, 1.78]])  # two laws either side of the data
    draws["sigma"] = np.array([[0.03, 0.05]])
    runs = isoflop_runs(params=CHINCHILLA_TRUE, noise_sd=0.03, seed=12)
    fit = with_log_lik(fake_fit("chinchilla", draws, runs))
    law = bs.get_law("chinchilla")
    log_y = np.log(runs.loss)
    F, inv_p = [], []
    for E, sd in [(1.60, 0.03), (1.78, 0.05)]:
        mu = np.log(law(N=runs.N, D=runs.D, **{**CHINCHILLA_TRUE, "E": E}))
        F.append(stats.norm.cdf((log_y - mu) / sd))
        inv_p.append(1.0 / stats.norm.pdf(log_y, mu, sd))
    exact = (F[0] * inv_p[0] + F[1] * inv_p[1]) / (inv_p[0] + inv_p[1])
    np.testing.assert_allclose(loo_pit(fit).values, exact, rtol=1e-10, atol=1e-12)
    assert np.abs(exact - (F[0] + F[1]) / 2).max() > 0.1  # the weights matter here


def test_loo_pit_agrees_with_arviz_stats_on_replicated_draws():
    """arviz-stats' loo_pit counts replicated log losses (from bs.posterior_predictive) below the
    observed one, with PSIS weights of its own; averaged over 8 replications its Monte Carlo error
    is ~0.005. The posterior is wide enough (log L spread ~ sigma / 2) that dropping the LOO weights
    would move the PIT by ~0.03 on average, so the agreement tests the weights too."""
    fit = calibrated_fit(spread=0.004, sigma=0.02, design={})  # 42 isoFLOP runs
    ours = loo_pit(fit).values
    theirs = []
    for seed in range(8):
        pp = bs.posterior_predictive(fit, random_seed=seed)
        tree = xr.DataTree.from_dict({
            "posterior": fit.idata.posterior.dataset,
            "log_likelihood": fit.idata.log_likelihood.dataset,
            "posterior_predictive": pp.posterior_predictive.dataset,
            "observed_data": pp.observed_data.dataset,
        })
        theirs.append(arviz_stats.loo_pit(tree)["log_loss"].values)
    theirs = np.mean(theirs, axis=0)
    assert np.abs(theirs - ours).max() < 0.025 and np.abs(theirs - ours).mean() < 0.008
    z = (np.log(fit.runs.loss) - law_log_loss(fit)) / fit.posterior["sigma"]
    plain = xr.apply_ufunc(stats.norm.cdf, z).mean(("chain", "draw")).values  # posterior PIT, not LOO
    assert np.abs(theirs - plain).mean() > 0.015


def test_loo_pit_warns_naming_high_pareto_k_runs():
    fit = calibrated_fit(outlier=17)
    ll = fit.idata.log_likelihood.dataset["log_loss"].copy()
    # importance ratios with a Pareto(k = 1.5) tail for run r017: its weights cannot be trusted
    ratios = np.random.default_rng(0).exponential(1.5, size=ll.shape[:2])
    ll[:, :, 17] = -ratios
    fit.idata["log_likelihood"] = xr.DataTree(xr.Dataset({"log_loss": ll}))
    with pytest.warns(ParetoKWarning, match=r"1 of 200 runs have Pareto k > 0.7: r017 \(k=") as rec:
        pit = loo_pit(fit)
    assert "refit without" in str(rec[0].message)
    assert pit["pareto_k"].values[17] > 0.7 and np.delete(pit["pareto_k"].values, 17).max() < 0.7


def test_loo_pit_without_log_likelihood_says_to_refit(chinchilla_fake_fit):
    with pytest.raises(PredictiveCheckError, match=r"'log_likelihood' group.*only \['posterior'\].*bs.fit"):
        loo_pit(chinchilla_fake_fit)
    with pytest.raises(ValueError, match="log_likelihood"):  # a ValueError for callers that catch those
        plot_loo_pit(chinchilla_fake_fit)
    plt.close("all")


def test_loo_pit_of_an_iid_curve_fit_follows_the_table_order():
    """bs.fit stores a curve table's log-likelihood grouped by run, each checkpoint's row position as
    its coordinate; with checkpoints interleaved in the table, the PIT must still come back in row
    order (checked with two draws, where it is a closed form in each row's own likelihoods)."""
    law = bs.get_law("kaplan_steps")
    curves = bs.runs.simulate_curves(law, law.example, sizes=[1e7, 1e8, 1e9], steps=np.geomspace(500, 5e4, 6),
                                     sigma=0.02, random_seed=1)
    df = curves.to_dataframe().sort_values(["step", "N"], kind="stable").reset_index(drop=True)  # interleaved
    runs = bs.RunTable.from_dataframe(df, run="run", step="step")
    draws = {k: np.array([[v, v]]) for k, v in law.example.items()}
    draws["Sc"] = law.example["Sc"] * np.array([[0.9, 1.1]])
    draws["sigma"] = np.array([[0.02, 0.03]])
    fit = fake_fit("kaplan_steps", draws, runs)
    log_y = np.log(runs.loss)
    F, log_p = [], []
    for s in range(2):
        params = {k: float(v[0, s]) for k, v in draws.items() if k != "sigma"}
        mu, sd = np.log(law(N=runs.N, step=runs.column("step"), **params)), draws["sigma"][0, s]
        F.append(stats.norm.cdf((log_y - mu) / sd))
        log_p.append(stats.norm.logpdf(log_y, mu, sd))
    order = np.argsort(pd.factorize(pd.Series(runs.run_ids))[0], kind="stable")  # as the model stores it
    assert not np.array_equal(order, np.arange(len(runs)))
    ll = np.stack(log_p)[None][:, :, order]
    fit.idata["log_likelihood"] = xr.DataTree(xr.Dataset(
        {"log_loss": (("chain", "draw", "checkpoint"), ll)}, coords={"checkpoint": order}))
    w = np.exp(-np.stack(log_p))
    exact = (w * np.stack(F)).sum(0) / w.sum(0)
    pit = loo_pit(fit)
    assert pit.dims == ("checkpoint",)
    np.testing.assert_allclose(pit.values, exact, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pit["run"].values, runs.run_ids)


def test_loo_pit_refuses_ar1_curve_fits(curve_fit):
    with pytest.raises(PredictiveCheckError, match=r"noise='ar1'.*backtest"):
        loo_pit(curve_fit)


def test_missing_noise_parameter_is_named():
    draws = {k: np.full((2, 10), v) for k, v in CHINCHILLA_TRUE.items()}  # no sigma
    with pytest.raises(PredictiveCheckError, match=r"needs \['sigma'\] in the fit's 'posterior' group"):
        residuals(fake_fit("chinchilla", draws))
    with pytest.raises(PredictiveCheckError, match="sigma"):
        plot_ppc(fake_fit("chinchilla", draws))


# -- residuals -------------------------------------------------------------------------------------


def test_residuals_equal_log_y_minus_log_l_for_a_known_law():
    runs = isoflop_runs(params=CHINCHILLA_TRUE, noise_sd=0.03, seed=2)
    draws = {k: np.full((2, 50), v) for k, v in CHINCHILLA_TRUE.items()}  # every draw the same law
    draws["sigma"] = np.full((2, 50), 0.03)
    table = residuals(fake_fit("chinchilla", draws, runs))
    log_l = np.log(bs.get_law("chinchilla")(N=runs.N, D=runs.D, **CHINCHILLA_TRUE))
    np.testing.assert_allclose(table["residual"], np.log(runs.loss) - log_l, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["std_residual"], (np.log(runs.loss) - log_l) / 0.03, rtol=1e-12)
    np.testing.assert_allclose(table["law_loss"], np.exp(log_l), rtol=1e-12)
    np.testing.assert_allclose(table["log_law_lower"], log_l, atol=1e-12)
    np.testing.assert_allclose(table["log_law_upper"], log_l, atol=1e-12)
    assert list(table.columns) == ["run", "N", "D", "C", "loss", "law_loss", "log_law_lower", "log_law_upper",
                                   "residual", "std_residual"]
    np.testing.assert_array_equal(table[["N", "D", "C", "loss"]].to_numpy(),
                                  runs.to_dataframe()[["N", "D", "C", "loss"]].to_numpy())
    assert table.attrs["scale"] == pytest.approx(0.03) and table.attrs["scale_kind"] == "sigma"
    assert 0.5 < table["std_residual"].std() < 1.5  # the simulated noise, in units of sigma


def test_residuals_use_posterior_medians(chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    table = residuals(fit, ci_prob=0.9, ci_kind="eti")
    log_l = law_log_loss(fit)
    med = log_l.median(("chain", "draw")).values
    np.testing.assert_allclose(table["residual"], np.log(fit.runs.loss) - med, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["log_law_lower"], log_l.quantile(0.05, ("chain", "draw")).values, atol=1e-9)
    assert np.all(table["log_law_lower"] < np.log(table["law_loss"]))
    assert np.all(np.log(table["law_loss"]) < table["log_law_upper"])


def test_residuals_of_a_curve_fit_are_per_checkpoint(curve_fit):
    table = residuals(curve_fit)
    assert len(table) == len(curve_fit.runs) == 48
    assert list(table.columns[:3]) == ["run", "N", "step"]
    assert table.attrs["scale"] == pytest.approx(np.sqrt(0.01**2 + 0.02**2))
    law = curve_fit.law
    med = np.log(law(N=curve_fit.runs.N, step=curve_fit.runs.column("step"), **law.example))
    assert np.abs(table["residual"] - (np.log(curve_fit.runs.loss) - med)).max() < 0.02  # posterior 1% around truth


def test_residuals_with_run_effects_use_each_runs_own_curve():
    """Per-run exponents (``aS_run``, dim run): a table whose losses are exactly each run's own
    curve has zero residuals, whatever order the runs come in."""
    law = bs.get_law("kaplan_steps")
    ids = ["N=1e+07", "N=1e+08", "N=1e+09"]
    a_run = {"N=1e+07": 0.70, "N=1e+08": 0.76, "N=1e+09": 0.82}
    rows = [{"run": r, "N": float(r[2:]), "step": t,
             "loss": float(law(N=float(r[2:]), step=t, **{**law.example, "aS": a_run[r]}))}
            for t in (500.0, 2000.0, 8000.0) for r in ids]  # interleaved runs
    runs = bs.RunTable.from_dataframe(pd.DataFrame(rows), run="run", step="step")
    shape = (1, 3)
    draws = {k: np.full(shape, v) for k, v in law.example.items()}
    draws.update(sigma=np.full(shape, 0.01), aS_run_sd=np.full(shape, 0.05))
    fit = fake_fit("kaplan_steps", draws, runs, run_effects=("aS",))
    per_run = np.array([[[a_run[r] for r in reversed(ids)]] * 3])  # stored in another order than the table
    fit.idata["posterior"] = xr.DataTree(fit.idata.posterior.dataset.assign(
        aS_run=(("chain", "draw", "run"), per_run)).assign_coords(run=list(reversed(ids))))
    table = residuals(fit)
    np.testing.assert_allclose(table["residual"], 0.0, atol=1e-12)
    assert table["run"].tolist() == [r for _ in range(3) for r in ids]


# -- the band --------------------------------------------------------------------------------------


def test_uniform_ecdf_band_is_simultaneous():
    n = 30
    band = uniform_ecdf_band(n, ci_prob=0.95, random_seed=1)
    assert band.attrs["pointwise_prob"] > 0.99  # wider than a pointwise 95% band
    rng = np.random.default_rng(123)
    inside = np.mean([pit_ecdf_inside(rng.uniform(size=n), band) for _ in range(2000)])
    assert 0.93 < inside < 0.985
    skewed = np.mean([pit_ecdf_inside(rng.uniform(size=n) ** 2, band) for _ in range(200)])
    assert skewed < 0.3


# -- plots -----------------------------------------------------------------------------------------


def _observed_in_view(ax, observed):
    lo, hi = ax.get_xlim()
    return lo < observed.min() and observed.max() < hi


def test_plot_ppc(tmp_path, calibrated):
    ax = plot_ppc(calibrated, num_draws=40, random_seed=0)
    assert len(ax.lines) == 41
    obs_line = ax.lines[-1]
    log_y = np.log(calibrated.runs.loss)
    np.testing.assert_allclose(np.sort(obs_line.get_xdata()[1:]), np.sort(log_y))
    assert obs_line.get_color() == "black"
    assert ax.get_xlabel() == "log loss" and ax.get_ylabel().startswith("ECDF")
    assert ax.get_title() == "Posterior predictive check of chinchilla (normal)\n200 runs"
    assert _observed_in_view(ax, log_y)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["replicated (40 posterior predictive draws)", "observed"]
    ax.figure.savefig(tmp_path / "ppc.png", dpi=80)
    plt.close("all")


def test_plot_ppc_on_a_curve_fit(tmp_path, curve_fit):
    ax = plot_ppc(curve_fit, num_draws=30, random_seed=0)
    assert len(ax.lines) == 31
    assert ax.get_title().endswith("48 checkpoints of 4 runs, replicated as new runs")
    assert _observed_in_view(ax, np.log(curve_fit.runs.loss))
    ax.figure.savefig(tmp_path / "ppc_curves.png", dpi=80)
    plt.close("all")


def test_plot_prior_predictive_from_a_tree(tmp_path):
    runs = isoflop_runs(noise_sd=0.02)
    prior = bs.sample_prior_predictive(runs, "chinchilla", draws=200, random_seed=0)
    ax = plot_prior_predictive(prior, draws=80, random_seed=1)
    assert len(ax.lines) == 81
    lo, hi = ax.get_xlim()
    log_y = np.log(runs.loss)
    assert _observed_in_view(ax, log_y)
    assert hi - lo < 0.9 * float(np.ptp(prior.prior_predictive["log_loss"].values))  # not the wild extremes
    n_out = sum(bool(np.any((ln.get_xdata() < lo) | (ln.get_xdata() > hi))) for ln in ax.lines[:-1])
    m = re.search(r"(\d+) of 80 draws reach outside", ax.get_title())
    assert m and int(m.group(1)) == n_out > 0
    ax.figure.savefig(tmp_path / "prior_tree.png", dpi=80)
    del prior["prior_predictive"]
    with pytest.raises(PredictiveCheckError, match=r"'prior_predictive' group.*bs.sample_prior_predictive"):
        plot_prior_predictive(prior)
    plt.close("all")


def test_plot_prior_predictive_of_a_fit_sampled_in_inference(tmp_path, calibrated):
    with pytest.raises(TypeError, match=r"pass bs.sample_prior_predictive\(fit"):  # plots only draw
        plot_prior_predictive(calibrated)
    ax = plot_prior_predictive(bs.sample_prior_predictive(calibrated, draws=50, random_seed=3))
    assert len(ax.lines) == 51
    assert ax.get_title().startswith("Prior predictive check of chinchilla\n")
    assert _observed_in_view(ax, np.log(calibrated.runs.loss))
    ax.figure.savefig(tmp_path / "prior_fit.png", dpi=80)
    plt.close("all")


def test_plot_residuals(tmp_path, calibrated):
    fig = plot_residuals(calibrated)
    axes = fig.axes
    assert [a.get_xlabel() for a in axes] == ["N", "D", "C"]
    table = residuals(calibrated)
    s = table.attrs["scale"]
    for ax in axes:
        assert ax.get_xscale() == "log"
        zero = [ln for ln in ax.lines if np.allclose(ln.get_ydata(), 0.0)]
        assert len(zero) == 1
        band = ax.patches[0]  # the +-2 sigma span
        assert band.get_y() == pytest.approx(-2 * s) and band.get_height() == pytest.approx(4 * s)
        lo, hi = ax.get_ylim()
        assert lo < table["residual"].min() and table["residual"].max() < hi
    assert axes[0].get_ylabel().startswith("residual")
    assert "Residuals of chinchilla" in fig._suptitle.get_text()
    fig.savefig(tmp_path / "residuals.png", dpi=80)
    only_n = plot_residuals(calibrated, against=["N"])
    assert len(only_n.axes) == 1
    with pytest.raises(PredictiveCheckError, match=r"no column\(s\) \['step'\]"):
        plot_residuals(calibrated, against=["N", "step"])
    plt.close("all")


def test_plot_residuals_of_a_curve_fit(tmp_path, curve_fit):
    fig = plot_residuals(curve_fit)
    assert [a.get_xlabel() for a in fig.axes] == ["N", "step"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sum(lbl.startswith("N=") for lbl in labels) == 4  # one colour per run
    fig.savefig(tmp_path / "residuals_curves.png", dpi=80)
    plt.close("all")


def test_plot_loo_pit(tmp_path, calibrated):
    ax = plot_loo_pit(calibrated)
    assert len(ax.lines) == 3  # ECDF difference, zero line, PIT marks
    assert ax.get_xlim() == (0.0, 1.0)
    assert ax.get_xlabel() == "LOO-PIT value" and ax.get_ylabel() == "ECDF − uniform CDF"
    assert "inside the band" in ax.get_title()
    diff = ax.lines[0]
    assert diff.get_ydata()[0] == 0.0 and diff.get_ydata()[-1] == 0.0
    np.testing.assert_allclose(np.sort(ax.lines[2].get_xdata()), np.sort(loo_pit(calibrated).values))
    ax.figure.savefig(tmp_path / "loo_pit.png", dpi=80)
    bad = plot_loo_pit(calibrated_fit(shift=1.0))
    assert "LEAVES the band" in bad.get_title()
    assert np.max(bad.lines[0].get_ydata()) < 0.02 < -np.min(bad.lines[0].get_ydata())  # PITs too high
    bad.figure.savefig(tmp_path / "loo_pit_shifted.png", dpi=80)
    plt.close("all")


# -- real sampling ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_checks_on_a_real_fit(tmp_path):
    runs = isoflop_runs(noise_sd=0.02, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, "chinchilla", chains=2, draws=300, tune=300, random_seed=7, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParetoKWarning)  # 600 draws: a k of 0.7 now and then is fine here
        pit = loo_pit(fit)
    n = len(runs)
    assert ks_statistic(pit.values) < 1.63 / np.sqrt(n)
    assert pit_ecdf_inside(pit, uniform_ecdf_band(n))
    theirs = []
    for seed in range(8):
        pp = bs.posterior_predictive(fit, random_seed=seed)
        tree = xr.DataTree.from_dict({
            "posterior": fit.idata.posterior.dataset,
            "log_likelihood": fit.idata.log_likelihood.dataset,
            "posterior_predictive": pp.posterior_predictive.dataset,
            "observed_data": pp.observed_data.dataset,
        })
        theirs.append(arviz_stats.loo_pit(tree)["log_loss"].values)
    diff = np.mean(theirs, axis=0) - pit.values
    assert np.abs(diff).max() < 0.05 and abs(diff.mean()) < 0.01
    table = residuals(fit)
    assert isinstance(table, pd.DataFrame) and np.abs(table["std_residual"]).max() < 4
    for name, make in [("real_loo_pit", lambda: plot_loo_pit(fit).figure),
                       ("real_ppc", lambda: plot_ppc(fit).figure),
                       ("real_prior", lambda: plot_prior_predictive(bs.sample_prior_predictive(fit, random_seed=1)).figure),
                       ("real_residuals", lambda: plot_residuals(fit))]:
        make().savefig(tmp_path / f"{name}.png", dpi=80)
    plt.close("all")
